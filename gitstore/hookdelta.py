"""The post-checkout fast path: write only the entries that changed between two manifests.

A branch switch usually changes a few entries of a large manifest. When the
work tree matched the old manifest (the last checkout finished), the files of
the entries whose line is the same in both manifests are already right, so
only the lines that differ are read, and only their files are looked at and
written: no parse of the whole manifest, no scan of the whole tracked folder,
no hashing of the others.

One ``git diff-tree -p -U1`` names the manifests that changed between the two
commits and gives, for each, the lines that differ (the canonical form writes
one entry a line, so a changed line is a changed entry) with one line of
context around each change. Anything out of the ordinary (a manifest in the
work tree that is not the new commit's blob, one not written canonically, a
change of kind or of any header line but the counts, a large share of entries
changed, an invalid entry) declines, and the caller falls back to a full
:class:`~gitstore.checkout.Checkout` of the manifest, which validates and
reports as usual. The changed lines are read with the manifest module's own
canonical-line reader and each entry is validated as a full parse would.
"""

from __future__ import annotations

import os
import re
import stat as statmod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from . import manifest as mf
from . import prefind
from .errors import ManifestError
from .gitrepo import blob_id_of
from .records import Record

if TYPE_CHECKING:
    from .checkout import Checkout, CheckoutResult
    from .cleanrecord import CleanRecord, Stamps
    from .gitrepo import GitRepo
    from .workspace import Walked, Workspace

__all__ = [
    "Change",
    "Delta",
    "apply_deltas",
    "apply_locked",
    "clean_delta",
    "looks_materialised",
    "patch_delta",
    "read_changes",
]

Delta = tuple[
    list[mf.Entry], list[str], list[str]
]  # entries to write, paths to delete, kept paths seen
HEADER = 6  # comment, gitstore, kind, size, files, entries
COUNTS = (b"size: ", b"files: ")
REGULAR = (b"100644", b"100755")
ZERO = "0" * 40
HASH_BELOW = 1 << 20  # a file this small is hashed rather than looked up in the stat cache
# (and, written, is not recorded there: see Checkout's lazy_stats)
MAX_CHANGED = 50_000  # entry lines; more and the full checkout is as cheap
# the patch :func:`_read_patch` reads: one line of context, no driver, full ids
PATCH_OPTIONS = prefind.PATCH_OPTIONS
_HUNK_RE = re.compile(rb"@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


class Change(Record):
    """A manifest that differs between two commits, with its changed lines when git gave them."""

    __slots__ = (
        "path",
        "old",
        "new",
        "removed",
        "added",
        "context",
        "counts_removed",
        "counts_added",
        "readable",
    )

    def __init__(self, path: str, old: str | None, new: str | None) -> None:
        self.path = path
        self.old = old  # blob ids; None when absent (or not a regular file) on that side
        self.new = new
        self.removed: list[bytes] = []  # changed lines, without the diff's prefix
        self.added: list[bytes] = []
        self.context: list[bytes] = []
        # the header's count lines that changed (b"size: 12"), as the old and the new side have them
        self.counts_removed: list[bytes] = []
        self.counts_added: list[bytes] = []
        self.readable = False  # the lines above are the whole difference, all of them entry lines

    def as_tuple(self) -> tuple[str, str | None, str | None]:
        return self.path, self.old, self.new


def read_changes(repo: GitRepo, old: str, new: str) -> list[Change]:
    """Each manifest that differs between two commits, with its changed lines: one git call."""
    out = prefind.diff_result(old, new)  # the hook started it before its imports
    if out is None:
        out = repo.git(*prefind.diff_tree_args(old, new)).stdout
    changes: list[Change] = []
    pos = 0
    while out.startswith(b":", pos):
        meta_end = out.index(b"\0", pos)
        path_end = out.index(b"\0", meta_end + 1)
        parts = out[pos + 1 : meta_end].split(b" ")
        raw = out[meta_end + 1 : path_end]
        pos = path_end + 1
        path = os.fsdecode(raw)
        if len(parts) < 5 or not path.endswith(mf.SUFFIX):
            continue
        a = parts[2].decode() if parts[0] in REGULAR and parts[2] != ZERO.encode() else None
        b = parts[3].decode() if parts[1] in REGULAR and parts[3] != ZERO.encode() else None
        changes.append(Change(path, a, b))
    patches = out[pos + 1 :].split(b"\ndiff --git ") if out.startswith(b"\0", pos) else []
    if len(patches) == len(changes):  # else (a change of type) the lines stay unread
        for change, patch in zip(changes, patches, strict=True):
            if change.old and change.new and change.old != change.new:
                _read_patch(change, patch)
    changes = [c for c in changes if c.old != c.new]
    return sorted(changes, key=lambda c: c.path)


def _read_patch(change: Change, patch: bytes) -> None:
    """Fill ``change``'s lines from its patch; readable only if every changed line is an entry."""
    lines = patch.split(b"\n")
    i = next((n for n, line in enumerate(lines) if line.startswith(b"@@ ")), len(lines))
    old_no = 0
    for line in lines[i:]:
        if line.startswith(b"@@ "):
            m = _HUNK_RE.match(line)
            if m is None:
                return
            old_no = int(m.group(1))  # the first line of the hunk's old side
            if line[3:5] == b"-0":  # "@@ -0,0": an insertion after line 0
                old_no = 1
            continue
        tag, text = line[:1], line[1:]
        if not line or tag == b"\\":
            continue  # the split's last piece, "\\ No newline at end of file"
        is_entry = text.startswith(b"- ")
        if not is_entry and not (old_no <= HEADER and (tag == b" " or text.startswith(COUNTS))):
            return  # a change to a header line other than the counts, or not canonical
        if tag == b" ":
            if is_entry:
                change.context.append(text)
            old_no += 1
        elif tag == b"-":
            (change.removed if is_entry else change.counts_removed).append(text)
            old_no += 1
        elif tag == b"+":
            (change.added if is_entry else change.counts_added).append(text)
        else:
            return
    change.readable = True


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


def patch_delta(change: Change, data: bytes) -> Delta | None:
    """What to write and delete for ``change``, whose new manifest in the work tree is ``data``; None to decline."""
    if not change.readable or change.new is None or blob_id_of(data) != change.new:
        return None
    head = data[:4096].split(b"\n", HEADER)
    if len(head) <= HEADER or head[1] != b"gitstore: 1" or head[2] != b"kind: dir":
        return None
    size, files = _count(head[3], b"size: "), _count(head[4], b"files: ")
    if size is None or files is None:
        return None
    if len(change.added) + len(change.removed) > min(MAX_CHANGED, max(256, files // 4)):
        return None  # a large change: the full checkout is as cheap
    write, lost, kept = _entries(change.added), _entries(change.removed), _entries(change.context)
    if write is None or lost is None or kept is None:
        return None
    for entry in write:
        if mf.validate_entry_path(entry.path) is not None or mf._entry_problem(entry) is not None:
            return None  # the full parse names the problem
    # the old side's lines are looked at and deleted too: they come from a
    # manifest no one may have parsed (a commit made with --no-verify)
    if mf.first_invalid_path([e.path for e in lost] + [e.path for e in kept]) is not None:
        return None
    paths = {e.path for e in write}
    if len(paths) != len(write):
        return None
    gone = {e.path for e in lost}
    if any(a in gone for p in paths for a in _ancestors(p)) or any(
        a in paths for p in gone for a in _ancestors(p)
    ):
        return None  # a file becomes a folder or the reverse: the full checkout orders it
    old = _old_counts(change, size, files)
    if old is None or (
        sum(e.size for e in write) - sum(e.size for e in lost) != size - old[0]
        or len(write) - len(lost) != files - old[1]
    ):
        return None  # totals that the entries do not add up to: the full parse says so
    return write, [p for p in gone if p not in paths], [e.path for e in kept]


def _count(line: bytes, key: bytes) -> int | None:
    """The number of a header line ``key`` + digits, else None."""
    if not line.startswith(key) or not line[len(key) :].isdigit():
        return None
    return int(line[len(key) :])


def _old_counts(change: Change, size: int, files: int) -> tuple[int, int] | None:
    """(size, files) of the old manifest: the new one's but for the count lines the diff changed."""
    new = {b"size: ": size, b"files: ": files}
    old = dict(new)
    for lines, side in ((change.counts_removed, old), (change.counts_added, None)):
        for line in lines:
            key = b"size: " if line.startswith(b"size: ") else b"files: "
            value = _count(line, key)
            if value is None or (side is None and value != new[key]):
                return None  # an added count line is the new header's, or the diff is odd
            if side is not None:
                side[key] = value
    return old[b"size: "], old[b"files: "]


def _ancestors(path: str) -> list[str]:
    """The folders above ``path``, inside the tracked folder: ``a/b/c`` -> ``a``, ``a/b``."""
    out, at = [], path.find("/")
    while at != -1:
        out.append(path[:at])
        at = path.find("/", at + 1)
    return out


def clean_delta(
    ws: Workspace,
    mpath: str,
    data: bytes,
    blob: str | None,
    clean: CleanRecord,
    stamps: Stamps | None = None,
) -> tuple[Delta | None, Walked | None]:
    """The delta from the work tree's manifest to ``data`` (``checkout REV``), when it is safe.

    Safe means the clean record vouches that the tracked path lstats exactly
    as when it last matched the manifest now in the work tree, or a stamp
    that nothing under it changed since it did (:class:`Stamps`) (so the files
    of the lines both manifests share are right, and nothing else is there),
    and git's diff of the two blobs is readable line by line
    (:func:`patch_delta`). Also returns the walk made for the record (or
    None), so that a caller falling back to the full checkout need not walk
    the folder again. ``blob``: git's id of ``data``, when known; ``stamps``:
    the stamps, when the caller has loaded them for every manifest.
    """
    from .cleanrecord import Stamps
    from .hashing import hash_bytes

    recorded = clean.entries.get(mpath)
    try:
        current = (ws.root / mpath).read_bytes()
    except OSError:
        return None, None
    if stamps is None:
        stamps = Stamps.load(ws.repo.state_dir)
    stamped = stamps.records(mpath, current)
    if not stamped and (recorded is None or recorded[0] != hash_bytes(current)):
        return None, None  # known before any walk: nothing vouches for this manifest
    sig, found, _ = clean.look(ws, mpath, current)
    # a stamp (track's, which records no signature) vouches as well; its find
    # comes after the walk, so that no change made between the two is in it
    if not clean.matches(mpath, sig) and not (
        stamped and found is not None and stamps.still(ws.root, {mpath: current})
    ):
        return None, found
    if current == data:
        return ([], [], []), found
    old = blob_id_of(current)
    new = blob or blob_id_of(data)
    proc = ws.repo.git("diff", *PATCH_OPTIONS, old, new, check=False)
    if proc.returncode != 0:  # the work tree's manifest was never given to git: no blob
        return None, found
    change = Change(mpath, old, new)
    _read_patch(change, proc.stdout)
    return patch_delta(change, data), found


def looks_materialised(ws: Workspace, rel: str, kept: Sequence[str]) -> bool:
    """Whether the tracked folder was materialised: it is there, and so are the kept entries seen.

    The kept entries are the context lines git gave around each change, so
    every change has a neighbour to vouch for it. A tracked path never
    materialised here (a clone made without the hooks) needs the full checkout.
    """
    base = ws.root / rel
    if not os.path.isdir(base) or os.path.islink(base):
        return False
    prefix = f"{base}/"
    for path in kept:
        try:
            if not statmod.S_ISREG(os.lstat(prefix + path).st_mode):
                return False
        except OSError:
            return False
    return True


def apply_deltas(
    ws: Workspace,
    deltas: Mapping[str, Delta],
    force: bool = False,
    as_read: Mapping[str, bytes] | None = None,
) -> CheckoutResult:
    """Write and delete the files of each tracked path's delta, as Checkout would decide.

    ``as_read``: the work tree's manifests as the caller (a hook) read them for
    the deltas; a delta whose manifest changed since is left (``superseded``).
    """
    from .checkout import Checkout, superseded

    checkout = Checkout(ws, force=force, lazy_stats=True)
    with ws.lock(), ws.cache_lock(reading=checkout.copies_only):
        gone = superseded(ws.root, {m: as_read[m] for m in deltas}) if as_read is not None else []
        result = apply_locked(checkout, {m: d for m, d in deltas.items() if m not in gone})
        result.superseded += gone
        if ws.statcache_loaded:
            ws.statcache.save()
        checkout.marks.finish()
    return result


def apply_locked(checkout: Checkout, deltas: Mapping[str, Delta]) -> CheckoutResult:
    """:func:`apply_deltas` for a caller that holds the workspace's and the cache's locks."""
    from .checkout import CheckoutResult, _Plan, safe_parent
    from .hashing import hash_file
    from .workspace import ScannedFile, is_exec

    ws, force = checkout.ws, checkout.force
    result = CheckoutResult()
    for mpath in deltas:  # as Checkout.run refuses them: never written to, even in part
        problem = mf.tracked_path_problem(mf.tracked_path(mpath)) or ws.store_problem(
            mf.tracked_path(mpath)
        )
        if problem is not None:
            raise ManifestError(f"{mpath}: {problem}")
    stub = mf.Manifest("dir", ())
    root = str(ws.root)

    checked: set[str] = set()

    def current(key: str) -> ScannedFile | None:
        parent = key.rpartition("/")[0]
        if parent not in checked:
            safe_parent(ws, key, create=False)  # never look through a symlinked folder
            checked.add(parent)
        try:
            st = os.lstat(f"{root}/{key}")
        except (FileNotFoundError, NotADirectoryError):
            return None
        return ScannedFile("", f"{root}/{key}", st)

    def in_the_way(key: str, f: ScannedFile | None) -> bool:
        """A folder where the manifest has a file: named, left alone, the rest goes on."""
        if f is None or not statmod.S_ISDIR(f.st.st_mode):
            return False
        result.conflicts.append(key)
        return True

    known: dict[str, str | None] = {}

    def oid_of(key: str, f: ScannedFile) -> str | None:
        if key in known:
            return known[key]
        if statmod.S_ISREG(f.st.st_mode) and f.st.st_size < HASH_BELOW:
            oid: str | None = hash_file(f.abspath)[0]  # cheaper than loading the stat cache
        else:
            oid = ws.oid_of(key, f)  # None for a symlink
        known[key] = oid
        return oid

    def replaceable(key: str, f: ScannedFile) -> bool:
        if force:
            return True
        oid = oid_of(key, f)
        return oid is not None and ws.cache.has(oid)

    for mpath, (write, delete, _kept) in sorted(deltas.items()):
        rel = mf.tracked_path(mpath)
        plan = _Plan(rel, stub)
        have = ws.cache.exists({e.oid for e in write})
        for entry in write:
            key = f"{rel}/{entry.path}"
            f = current(key)
            if in_the_way(key, f):
                continue
            if f is not None and not statmod.S_ISLNK(f.st.st_mode):
                if oid_of(key, f) == entry.oid:
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
            if f is None:  # linked into place only where nothing appeared meanwhile
                plan.fresh.add(key)  # type: ignore[union-attr]
            elif not statmod.S_ISLNK(f.st.st_mode):
                plan.expect[key] = f.st
            plan.write.append((key, entry))
        for path in delete:
            key = f"{rel}/{path}"
            f = current(key)
            if f is None or in_the_way(key, f):
                continue
            if replaceable(key, f):
                plan.delete.append(key)
            else:
                result.conflicts.append(key)
        checkout._apply(plan, result)
    return result
