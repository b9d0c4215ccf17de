"""The post-checkout fast path: write only the entries that changed between two manifests.

A branch switch usually changes a few entries of a large manifest. When the
work tree matched the old manifest (the last checkout finished), the files of
the entries whose line is the same in both manifests are already right, so
only the lines that differ are read, and only their files are looked at and
written: no parse of the whole manifest, no scan of the whole tracked folder,
no hashing of the others. Anything out of the ordinary (a manifest not
written canonically, a change of kind or of top-level keys, a large share of
entries changed, an invalid entry) declines, and the caller falls back to a
full :class:`~gitstore.checkout.Checkout` of the manifest, which validates
and reports as usual.

Entry lines are compared as bytes: the canonical form writes one entry a line
(path, blake3, size, exec), so equal lines mean equal entries. The changed
lines are read with the manifest module's own canonical-line reader and each
entry is validated as a full parse would.
"""

from __future__ import annotations

import os
import stat as statmod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from . import manifest as mf
from .errors import GitstoreError

if TYPE_CHECKING:
    from .checkout import CheckoutResult
    from .gitrepo import GitRepo
    from .workspace import Workspace

__all__ = [
    "Delta",
    "apply_deltas",
    "changed_manifests",
    "entry_delta",
    "looks_materialised",
    "read_blobs",
]

Delta = tuple[list[mf.Entry], list[str], int]  # entries to write, paths to delete, entries kept
HEADER = 6  # comment, gitstore, kind, size, files, entries
REGULAR = (b"100644", b"100755")
ZERO = "0" * 40


def changed_manifests(
    repo: GitRepo, old: str, new: str
) -> list[tuple[str, str | None, str | None]]:
    """(path, old blob, new blob) of each manifest that differs between two commits (git diff-tree)."""
    out = repo.git(
        "diff-tree",
        "-r",
        "-z",
        "--no-renames",
        "--no-commit-id",
        old,
        new,
        "--",
        "*" + mf.SUFFIX,
    ).stdout
    fields = out.split(b"\0")
    changes = []
    for i in range(0, len(fields) - 1, 2):
        meta, raw = fields[i], fields[i + 1]
        parts = meta.lstrip(b":").split(b" ")
        if len(parts) < 5:
            continue
        path = os.fsdecode(raw)
        if not path.endswith(mf.SUFFIX):
            continue
        a = parts[2].decode() if parts[0] in REGULAR and parts[2] != ZERO.encode() else None
        b = parts[3].decode() if parts[1] in REGULAR and parts[3] != ZERO.encode() else None
        if a != b:
            changes.append((path, a, b))
    return sorted(changes)


def read_blobs(repo: GitRepo, blobs: Sequence[str]) -> dict[str, bytes]:
    """{blob id: bytes} with one ``git cat-file --batch``; blobs it cannot read are left out."""
    if not blobs:
        return {}
    out = repo.git("cat-file", "--batch", input="".join(b + "\n" for b in blobs).encode()).stdout
    found: dict[str, bytes] = {}
    pos = 0
    for blob in blobs:
        end = out.find(b"\n", pos)
        if end < 0:
            break
        head = out[pos:end].split(b" ")
        pos = end + 1
        if len(head) != 3 or head[1] != b"blob":
            continue  # "<id> missing" and other kinds have no body
        size = int(head[2])
        found[blob] = out[pos : pos + size]
        pos += size + 1
    return found


def _split(data: bytes) -> tuple[list[bytes], bytes] | None:
    """(entry lines, everything else but the counts) of a canonical manifest, or None."""
    head = data.split(b"\n", HEADER)
    if len(head) <= HEADER or head[1] != b"gitstore: 1" or head[5] != b"entries:":
        return None
    start = len(data) - len(head[HEADER])
    if not data.startswith(b"- ", start):
        return [], head[2] + b"\n" + data[start:]
    last = data.rfind(b"\n- ", start - 1)  # the last line that starts with "- "
    end = data.find(b"\n", last + 1)
    stop = len(data) if end < 0 else end
    return data[start:stop].split(b"\n"), head[2] + b"\n" + data[stop:]


def _entries(lines: list[bytes]) -> list[mf.Entry] | None:
    if not lines:
        return []
    try:
        block = b"\n".join(lines).decode("utf-8") + "\n"
    except UnicodeDecodeError:
        return None
    entries = mf._fast_entries(block)  # the canonical-line reader parse() uses
    if entries is None or len(entries) != len(lines):
        return None
    return entries


def entry_delta(old: bytes, new: bytes) -> Delta | None:
    """What changed from ``old`` to ``new`` (two manifests of kind dir), or None to decline."""
    a, b = _split(old), _split(new)
    if a is None or b is None or a[1] != b[1] or not a[1].startswith(b"kind: dir\n"):
        return None
    old_lines, new_lines = a[0], b[0]
    before, after = set(old_lines), set(new_lines)
    added = [line for line in new_lines if line not in before]
    gone = [line for line in old_lines if line not in after]
    if len(added) + len(gone) > max(256, len(new_lines) // 4):
        return None  # a large change: the full checkout is as cheap
    write, lost = _entries(added), _entries(gone)
    if write is None or lost is None:
        return None
    for entry in write:
        if mf.validate_entry_path(entry.path) is not None or mf._entry_problem(entry) is not None:
            return None  # the full parse names the problem
    paths = {e.path for e in write}
    if len(paths) != len(write):
        return None
    return write, [e.path for e in lost if e.path not in paths], len(new_lines) - len(added)


def looks_materialised(ws: Workspace, rel: str, kept: int) -> bool:
    """Whether the kept entries' files were there: the stat cache knows at least as many below ``rel``.

    A tracked path never materialised here (a clone made without the hooks)
    has no stat cache entries, and needs the full checkout.
    """
    if not os.path.isdir(ws.root / rel) or os.path.islink(ws.root / rel):
        return False
    below = rel + "/"
    return sum(1 for key in ws.statcache.entries if key.startswith(below)) >= kept


def apply_deltas(ws: Workspace, deltas: Mapping[str, Delta], force: bool = False) -> CheckoutResult:
    """Write and delete the files of each tracked path's delta, as Checkout would decide."""
    from .checkout import Checkout, CheckoutResult, _Plan, safe_parent
    from .workspace import ScannedFile, is_exec

    result = CheckoutResult()
    checkout = Checkout(ws, force=force)
    stub = mf.Manifest("dir", ())
    root = str(ws.root)

    def current(key: str) -> ScannedFile | None:
        safe_parent(ws, key, create=False)  # never look through a symlinked folder
        try:
            st = os.lstat(f"{root}/{key}")
        except (FileNotFoundError, NotADirectoryError):
            return None
        if statmod.S_ISDIR(st.st_mode):
            raise GitstoreError(f"{key} is a folder where a manifest has a file")
        return ScannedFile("", f"{root}/{key}", st)

    def replaceable(key: str, f: ScannedFile) -> bool:
        if force:
            return True
        oid = ws.oid_of(key, f)  # None for a symlink
        return oid is not None and ws.cache.has(oid)

    with ws.lock(), ws.cache_lock():
        for mpath, (write, delete, _kept) in sorted(deltas.items()):
            rel = mf.tracked_path(mpath)
            plan = _Plan(rel, stub)
            have = ws.cache.exists({e.oid for e in write})
            for entry in write:
                key = f"{rel}/{entry.path}"
                f = current(key)
                if f is not None and not statmod.S_ISLNK(f.st.st_mode):
                    if ws.oid_of(key, f) == entry.oid:
                        if is_exec(f.st) == entry.exec:
                            result.unchanged += 1
                        else:
                            plan.chmod.append((key, entry))
                        continue
                if entry.oid not in have:
                    result.missing.setdefault(entry.oid, []).append(key)
                    continue
                if f is not None and not replaceable(key, f):
                    result.conflicts.append(key)
                    continue
                plan.write.append((key, entry))
            for path in delete:
                key = f"{rel}/{path}"
                f = current(key)
                if f is None:
                    continue
                if replaceable(key, f):
                    plan.delete.append(key)
                else:
                    result.conflicts.append(key)
            checkout._apply(plan, result)
        ws.statcache.save()
    return result
