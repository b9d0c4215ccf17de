"""Where an object lives inside a store: pure functions, no I/O.

Every store, the cache included, keeps object ``oid`` at
``objects/<oid[0:2]>/<oid[2:4]>/<oid>`` under its root, so a remote can be
seeded by copying a cache and a published cache can be served by any static
file server. Temporary files live under ``tmp/`` of the same store.
"""

from __future__ import annotations

import re

OBJECTS = "objects"
TMP = "tmp"
OID_LEN = 64
_OID_RE = re.compile(r"[0-9a-f]{64}")


def is_oid(value: object) -> bool:
    """True for 64 lower-case hex characters, the name of a BLAKE3-256 digest."""
    return isinstance(value, str) and _OID_RE.fullmatch(value) is not None


def object_key(oid: str) -> str:
    """``objects/ab/cd/abcd...``; raises ValueError for anything but an oid."""
    if not is_oid(oid):
        raise ValueError(f"not an oid: {oid!r}")
    return f"{OBJECTS}/{oid[0:2]}/{oid[2:4]}/{oid}"


def oid_from_key(key: str) -> str | None:
    """The oid of an object key, or None when ``key`` is not one."""
    parts = key.split("/")
    if len(parts) != 4 or parts[0] != OBJECTS:
        return None
    oid = parts[3]
    if not is_oid(oid) or parts[1] != oid[0:2] or parts[2] != oid[2:4]:
        return None
    return oid


def commit_prefix(commit: str) -> str:
    """``commits/a/b/c/<rest>``: the folder of a published commit."""
    return f"commits/{commit[0]}/{commit[1]}/{commit[2]}/{commit[3:]}"
