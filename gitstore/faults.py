"""Fault injection for the reliability tests: one switch, off unless set.

``GITSTORE_FAULT=enospc:N`` makes the N-th object write of this process (and
every later one: a full disk stays full) fail with ``OSError(ENOSPC)``. An
"object write" is writing an object's bytes into the cache (track's ingest),
moving a downloaded object into the cache (fetch, verify --repair) or writing
an object into a folder store (push to a folder remote). The error takes the
same path a real full disk would: the temporary file is removed and the
command fails with one line naming the store.

This is a test-only switch (tests/reliability uses it where it cannot mount a
small tmpfs); it costs one environment lookup per object write when unset.
"""

from __future__ import annotations

import errno
import os
import threading

ENV = "GITSTORE_FAULT"
_lock = threading.Lock()
_writes = 0


def object_write(where: object = "") -> None:
    """Count one object write; raise the configured fault when its turn has come."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    kind, _, number = spec.partition(":")
    if kind != "enospc":
        return
    try:
        limit = int(number or "1")
    except ValueError:
        return
    global _writes
    with _lock:
        _writes += 1
        count = _writes
    if count >= limit:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(where))
