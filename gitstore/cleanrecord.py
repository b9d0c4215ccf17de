"""Clean records: a tracked path that lstats as it did when it last matched its manifest.

status and the pre-commit hook compare every tracked path with its manifest;
most of the time none has changed. Parsing a 100,000-entry manifest and
looking up every file in the stat cache costs far more than the lstat of
every file that any comparison needs anyway, so a path whose manifest and
files lstat exactly as they did when a full comparison last found them
unchanged is reported unchanged from that record alone.
"""

from __future__ import annotations

import contextlib
import marshal
import operator
import os
import stat as statmod
import time
from collections.abc import Iterable, Mapping, Sequence
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING

from . import manifest as mf
from . import prefind
from .hashing import hash_bytes
from .statcache import COARSE_STEP_NS, WHOLE_SECOND_NS, latest
from .stores.local import read_tagged_map, write_tagged_map

if TYPE_CHECKING:
    from .checkout import CheckoutResult
    from .gitrepo import GitRepo
    from .workspace import ScannedFile, Walked, Workspace

# the manifest's bytes (digest), the file count, the files' lstat rows (digest),
# and the newest mtime or ctime among the files
Signature = tuple[str, int, str, int]
RACY_NS = 50_000_000  # a file changed this close to a scan is not vouched for


_MODE, _SIZE, _MTIME, _CTIME, _INO = (
    operator.attrgetter(f"st_{name}") for name in ("mode", "size", "mtime_ns", "ctime_ns", "ino")
)


def signature_of(data: bytes, files: Sequence[ScannedFile]) -> Signature:
    """The signature of a manifest holding ``data`` and of its tracked path's ``files``.

    The manifest is taken by content: it is small next to its files, and a
    manifest that ``track`` has just written is then as good as an old one
    (its own mtime is always too recent for the racy rule).
    """
    targets = []
    for f in files:
        if statmod.S_ISLNK(f.st.st_mode):
            with contextlib.suppress(OSError):
                targets.append((f.relpath, os.stat(f.abspath)))
    return signature_of_stats(data, [f.relpath for f in files], [f.st for f in files], targets)


def signature_of_stats(
    data: bytes,
    rels: Sequence[str],
    sts: Sequence[os.stat_result],
    targets: Sequence[tuple[str, os.stat_result]] = (),
) -> Signature:
    """:func:`signature_of` from a walk's lists (the rows are built in C, by ``map``).

    ``targets``: the stat of each symlink's target, so that a write through a
    symlink checkout's link changes the signature too.
    """
    if targets:
        rels = [*rels, *(">" + r for r, _st in targets)]
        sts = [*sts, *(st for _r, st in targets)]
    rows = list(
        zip(
            rels,
            map(_MODE, sts),
            map(_SIZE, sts),
            map(_MTIME, sts),
            map(_CTIME, sts),
            map(_INO, sts),
            strict=True,
        )
    )
    mtimes, ctimes = list(map(_MTIME, sts)), list(map(_CTIME, sts))
    newest = max(max(mtimes, default=0), max(ctimes, default=0))
    step = repeat(COARSE_STEP_NS)
    if not (all(map(operator.mod, mtimes, step)) and all(map(operator.mod, ctimes, step))):
        # a coarse timestamp among them (a whole-second filesystem): any of them may
        # stand for a time up to two seconds later than it says (statcache.latest)
        newest = latest(newest - newest % WHOLE_SECOND_NS)
    # marshal format 2 has no back-references: 4x faster to write (3 ms, not
    # 13 ms, for 20,000 rows), and as deterministic
    return hash_bytes(data), len(rows), hash_bytes(marshal.dumps(rows, 2)), newest


def manifest_bytes(root: Path, mpath: str) -> bytes | None:
    """A manifest's bytes on disk; None when unreadable or too big (the comparison reports it)."""
    try:
        if os.stat(root / mpath).st_size > mf.MAX_MANIFEST_BYTES:
            return None
        return (root / mpath).read_bytes()
    except OSError:
        return None


class CleanRecord:
    """What each tracked path looked like (lstat of every file) when it last matched its manifest.

    pre-commit re-reads every tracked path's files through the stat cache;
    most commits change none of them. A path whose files (names, sizes,
    modes, mtimes, ctimes, inodes) lstat exactly as they did when a full
    comparison (or ``track``, which hashed them) found them matching a
    manifest with the same bytes is unchanged: it is not re-parsed nor
    looked up file by file. Only signatures whose files are older than the
    scan by ``RACY_NS`` are recorded, so that a write in the same clock tick
    as the scan can never hide behind an equal signature. It is only a
    cache: a corrupt or missing file means a full comparison.
    """

    FILE = "precommit-clean"
    # -3 digested rows in marshal format 4; -2 took the manifest by lstat; -1 held
    # blake2b digests (hashlib's import costs start-up)
    MAGIC = "gitstore-clean-4"

    def __init__(self, path: Path, entries: dict[str, Signature]):
        self.path = path
        self.entries = entries
        self.started_ns = time.time_ns()  # create the record before scanning

    @classmethod
    def load(cls, state_dir: Path) -> CleanRecord:
        path = state_dir / cls.FILE
        return cls(path, read_tagged_map(path, cls.MAGIC) or {})

    def look(
        self, ws: Workspace, mpath: str, data: bytes | None = None
    ) -> tuple[Signature | None, Walked | None, bytes | None]:
        """The signature of a manifest and every file of its tracked path, the walk and the bytes.

        The walk lists what ``Workspace.current_files`` lists, so a comparison
        that follows can use its files instead of scanning the folder again:
        the record then vouches for exactly what was compared.
        """
        from .workspace import Walked, walk

        if data is None:
            data = manifest_bytes(ws.root, mpath)
            if data is None:
                return None, None, None
        rel = mf.tracked_path(mpath)
        full = str(ws.root / rel)
        try:
            st = os.lstat(full)
        except OSError:
            return None, None, data
        if statmod.S_ISDIR(st.st_mode):
            found = walk(full, strict=False, display=rel)
        else:
            targets = []
            if statmod.S_ISLNK(st.st_mode):  # a symlink checkout's file: its object's stat too
                with contextlib.suppress(OSError):
                    targets.append(("", os.stat(full)))
            found = Walked(full, [""], [st], targets)
        return signature_of_stats(data, found.rels, found.sts, found.targets), found, data

    def matches(self, mpath: str, sig: Signature | None) -> bool:
        return sig is not None and self.entries.get(mpath) == sig

    def files_unchanged(self, mpath: str, sig: Signature | None) -> bool:
        """The files lstat as when they last matched ``mpath``, whose bytes differ now."""
        old = self.entries.get(mpath)
        return sig is not None and old is not None and old[1:] == sig[1:] and old[0] != sig[0]

    def save(self, entries: Mapping[str, Signature | None]) -> None:
        keep = {
            m: sig
            for m, sig in entries.items()
            if sig is not None and sig[3] < self.started_ns - RACY_NS
        }
        if keep == self.entries:
            return
        write_tagged_map(self.path, self.MAGIC, keep)
        self.entries = keep


class TrackChanges:
    """Which objects ``track`` brought into each manifest since the versions it started from.

    pre-commit must find every object a commit introduces in the cache. A
    staged manifest that ``track`` wrote from HEAD's version of it differs
    from HEAD only in the entries track changed, so the objects of those
    entries are all the commit brings; the others were checked when HEAD's
    commit was made (as pre-push, which uploads what new commits introduce).
    Looking up 20,000 objects costs ~70 ms and parsing the manifest to list
    them ~80 ms, against nothing for a handful of changed entries.

    A record holds, per manifest path, the git blob id of the bytes track
    wrote and, for each of the last few versions it started from (blob ids
    too), {oid: file path} of the entries changed since: two tracks between
    commits, or a commit between two tracks, still find HEAD's version among
    them. It is used only when the staged blob is the one track wrote and
    HEAD's blob is one of the bases (both come from one ``git diff --cached
    --raw``: pre-commit hashes nothing); anything else (a checkout of another
    revision, a merge, a hand edit) falls back to looking up every object.
    Only a cache: a missing or corrupt file means the full check.
    """

    FILE = "track-changes"
    MAGIC = "gitstore-track-changes-2"  # -1 keyed the written bytes by BLAKE3
    BASES = 4  # versions remembered per manifest
    MAX_OBJECTS = 100_000  # beyond this, keeping the list costs more than the full check

    def __init__(self, path: Path):
        self.path = path
        entries = read_tagged_map(path, self.MAGIC) or {}
        self.entries: dict[str, tuple[str, list[tuple[str, dict[str, str]]]]] = {
            m: rec for m, rec in entries.items() if _well_formed(rec)
        }
        self._dirty = False

    @classmethod
    def load(cls, state_dir: Path) -> TrackChanges:
        return cls(state_dir / cls.FILE)

    def note(
        self, mpath: str, old: bytes | None, new: bytes, changed: Mapping[str, str] | None
    ) -> None:
        """``track`` rewrote ``mpath`` from ``old`` to ``new``, bringing the objects ``changed``.

        ``changed`` None means unknown: the record is dropped.
        """
        if old == new:
            return
        bases: list[tuple[str, dict[str, str]]] = []
        if old is not None and changed is not None:
            from .gitrepo import blob_id_of

            old_blob = blob_id_of(old)
            before = self.entries.get(mpath)
            if before is not None and before[0] == old_blob:
                bases = [(base, {**objects, **changed}) for base, objects in before[1]]
            bases.append((old_blob, dict(changed)))
            bases = [b for b in bases[-self.BASES :] if len(b[1]) <= self.MAX_OBJECTS]
        if bases:
            from .gitrepo import blob_id_of

            self.entries[mpath] = (blob_id_of(new), bases)
        elif self.entries.pop(mpath, None) is None:
            return
        self._dirty = True

    def introduced(self, mpath: str, staged_blob: str, head_blob: str) -> dict[str, str] | None:
        """{oid: file path} that the staged blob of ``mpath`` brings over HEAD's ``head_blob``.

        None when this record cannot tell (then every object is looked up).
        """
        record = self.entries.get(mpath)
        if record is None or record[0] != staged_blob:
            return None
        for base, objects in record[1]:
            if base == head_blob:
                return objects
        return None

    def save(self) -> None:
        if not self._dirty:
            return
        write_tagged_map(self.path, self.MAGIC, self.entries)
        self._dirty = False


def _well_formed(record: object) -> bool:
    """A TrackChanges record as ``note`` writes it (the file is only a cache: trust nothing)."""
    if not (isinstance(record, tuple) and len(record) == 2 and isinstance(record[0], str)):
        return False
    bases = record[1]
    return isinstance(bases, list) and all(
        isinstance(b, tuple) and len(b) == 2 and isinstance(b[0], str) and isinstance(b[1], dict)
        for b in bases
    )


class Reached:
    """The manifest each tracked path was last brought whole in line with, by its bytes.

    git rewrites a manifest without its files (a stash pop, ``git checkout
    REV -- X.gitstore``, a revert, a merge and its ``--abort``, a switch with
    the hooks off); pre-commit then refuses a commit whose refresh would undo
    that change (``hookrun._undoing``), unless the files are known to have
    reached these very bytes since: git never writes payload files, so when
    the manifest holds the bytes that ``track`` last wrote for the path or a
    checkout (a hook's, ``gitstore checkout``, ``pull``, ``resolve``) last
    materialised it whole to, whatever differs on disk is the user's edit.
    Without it, a file the user deleted after a switch (or after a merge
    aborted, which made git write the same manifest again) was taken for one
    the manifest's change never reached, and the commit refused. Only a
    cache: a missing or corrupt file means nothing is vouched for.
    """

    FILE = "reached"
    MAGIC = "gitstore-reached-3"  # -2 and -1 knew the manifest file by inode and mtime

    def __init__(self, path: Path):
        self.path = path
        found = read_tagged_map(path, self.MAGIC) or {}
        self.records: dict[str, str] = {m: r for m, r in found.items() if isinstance(r, str)}

    @classmethod
    def load(cls, state_dir: Path) -> Reached:
        return cls(state_dir / cls.FILE)

    def left(self, mpath: str, data: bytes) -> bool:
        """Whether ``data`` are the bytes the tracked path of ``mpath`` was last brought in line with."""
        return self.records.get(mpath) == hash_bytes(data)

    @classmethod
    def mark(cls, state_dir: Path, manifests: Mapping[str, bytes | None]) -> None:
        """Record each manifest's bytes as its path's (None: the path was not brought whole)."""
        if not manifests:
            return
        record = cls.load(state_dir)
        before = dict(record.records)
        for mpath, data in manifests.items():
            if data is None:
                record.records.pop(mpath, None)
            else:
                record.records[mpath] = hash_bytes(data)
        if record.records != before:
            write_tagged_map(record.path, cls.MAGIC, record.records)

    @classmethod
    def note(
        cls,
        ws: Workspace,
        mpaths: Sequence[str],
        result: CheckoutResult,
        as_read: Mapping[str, bytes] | None = None,
    ) -> None:
        """:meth:`mark` those of ``mpaths`` whose tracked path ``result`` left whole.

        A path with an object missing, a file left alone (its content not in
        the cache), or an invalid manifest is not brought whole. ``as_read``:
        the manifests' bytes the files were brought to (else read now).
        """
        left_out = [k for keys in result.missing.values() for k in keys]
        left_out += list(result.conflicts)
        invalid = {e.message.split(":", 1)[0] for e in result.invalid}
        found: dict[str, bytes | None] = {}
        for mpath in mpaths:
            rel = mf.tracked_path(mpath)
            if mpath in invalid or any(k == rel or k.startswith(rel + "/") for k in left_out):
                found[mpath] = None
                continue
            if as_read is not None and mpath in as_read:
                found[mpath] = as_read[mpath]
                continue
            try:
                found[mpath] = (ws.root / mpath).read_bytes()
            except OSError:
                continue
        cls.mark(ws.repo.state_dir, found)


class RebaseTouched:
    """Manifests whose paths a checkout materialised while a rebase was in progress.

    The hooks bring nothing during a rebase: its post-rewrite moves the work
    tree from the tip it started from to the new one, writing only the entries
    that differ between the two. A checkout at a stop (``gitstore resolve``,
    ``gitstore checkout`` in an ``exec`` line) leaves that stop's data
    instead, which that delta never looks at: post-rewrite brings each path
    noted here whole to the new tip, and forgets the list.
    """

    FILE = "rebase-touched"
    MAGIC = "gitstore-rebase-touched-1"

    @classmethod
    def note(cls, repo: GitRepo, mpaths: Sequence[str], starting: bool = False) -> None:
        """``starting``: the apply backend's checkout of its new base, made before its
        rebase folder exists (if it then picks nothing, the next rebase's end brings
        these paths whole: only some work more)."""
        if not mpaths:
            return
        if not starting and (not repo.is_rebase_in_progress() or repo.rebase_picks_nothing()):
            return  # (nothing to pick: no post-rewrite will come)
        path = repo.state_dir / cls.FILE
        found = read_tagged_map(path, cls.MAGIC) or {}
        if any(m not in found for m in mpaths):
            write_tagged_map(path, cls.MAGIC, {**found, **dict.fromkeys(mpaths, True)})

    @classmethod
    def take(cls, state_dir: Path) -> list[str]:
        path = state_dir / cls.FILE
        found = read_tagged_map(path, cls.MAGIC) or {}
        path.unlink(missing_ok=True)
        return sorted(m for m in found if isinstance(m, str))


class Provisional:
    """Paths the hooks brought for manifests a stopped merge, cherry-pick, revert or ``git am``
    added (not at HEAD), each with the HEAD it was brought on.

    Abandoning that operation (``--abort``, ``--skip``, ``reset --hard``, a forced
    checkout) takes the manifest and its ``.gitignore`` line away and leaves the files
    neither tracked nor ignored: those files go, and only those. A path the user
    tracked and later stopped tracking by hand is never in this record, so no later
    command takes its files for an abandoned operation's. Entries noted on another
    HEAD are dropped at the next note: the operation ended one way or the other.

    Two other kinds of entry (:data:`JOINED`, :data:`REMOVED`) carry a third item:
    a path the operation brought into a folder that was there already (the folder
    is the user's: abandoning names what is left rather than deleting it), and a
    path whose manifest the operation took away (abandoning brings it back, as the
    manifest comes back).
    """

    FILE = "provisional"
    MAGIC = "gitstore-provisional-2"
    JOINED = "joined"
    REMOVED = "removed"

    @classmethod
    def note(
        cls, state_dir: Path, head: str, mpaths: Sequence[str], stopped: bool, kind: str = ""
    ) -> None:
        """``stopped``: the operation stopped at a conflict (else it ran with
        ``--no-commit`` or ``-n``, and nothing but git's own abandoning counts);
        ``kind``: "" for a path it added, else :data:`JOINED` or :data:`REMOVED`."""
        path = state_dir / cls.FILE
        found = read_tagged_map(path, cls.MAGIC) or {}
        keep = {m: v for m, v in found.items() if isinstance(v, tuple) and v[0] == head}
        keep.update(dict.fromkeys(mpaths, (head, stopped, kind) if kind else (head, stopped)))
        if keep != found:
            write_tagged_map(path, cls.MAGIC, keep)

    @classmethod
    def of_kind(cls, state_dir: Path, head: str | None, kind: str) -> list[str]:
        """The manifests noted on ``head`` as ``kind`` (:data:`JOINED`, :data:`REMOVED`)."""
        found = read_tagged_map(state_dir / cls.FILE, cls.MAGIC) or {}
        return sorted(
            m
            for m, v in found.items()
            if isinstance(m, str)
            and isinstance(v, tuple)
            and len(v) == 3
            and v[::2] == (head, kind)
        )

    @classmethod
    def on(cls, state_dir: Path, head: str | None) -> dict[str, bool]:
        """{manifest: whether its operation stopped at a conflict} of those noted on ``head``."""
        found = read_tagged_map(state_dir / cls.FILE, cls.MAGIC) or {}
        return {
            m: bool(v[1])
            for m, v in found.items()
            if isinstance(m, str) and isinstance(v, tuple) and len(v) == 2 and v[0] == head
        }

    @classmethod
    def forget_kind(cls, state_dir: Path, kind: str) -> None:
        """Drop every entry of ``kind``, on any HEAD: the operation is over."""
        path = state_dir / cls.FILE
        found = read_tagged_map(path, cls.MAGIC) or {}
        keep = {m: v for m, v in found.items() if not (isinstance(v, tuple) and v[2:3] == (kind,))}
        if keep != found:
            write_tagged_map(path, cls.MAGIC, keep)

    @classmethod
    def forget(cls, state_dir: Path, mpaths: Iterable[str]) -> None:
        path = state_dir / cls.FILE
        found = read_tagged_map(path, cls.MAGIC) or {}
        keep = {m: h for m, h in found.items() if m not in set(mpaths)}
        if keep != found:
            write_tagged_map(path, cls.MAGIC, keep)


# a stamp: (BLAKE3 of the manifest's bytes, T, st_dev, (boot id, wall clock,
# time since boot) then, the cache's gc generation when track made it or "")
_StampRecord = tuple[str, int, int, tuple[str, int, int], str]


class Stamps:
    """Tracked paths known to match a manifest as of a time: nothing under them changed since.

    The kernel sets a file's ctime on every change to it (a write, a
    truncate, a chmod, a rename, a link or unlink), and a folder's on every
    name added to it, removed or renamed; nobody can set a ctime by hand.
    So when a walk that began at time T found a tracked path in line with a
    manifest, and no file or folder under that path has a ctime at or after
    T, the path still matches that manifest: the pre-commit hook and status
    then need no lstat of each file from Python, only one ``find -newerct``
    (GNU findutils) over the paths, which does the same lstats in C in about
    half the time.

    T is read off the filesystem's own clock (the time a write to a file in
    the state folder was given), so that a file server's clock is compared
    with itself; ``find`` also lists mtimes at or after T, for a filesystem
    that keeps no ctime. A record is kept only for paths whose files all
    sit on that same filesystem, with no symlink among them (a write through
    a link changes its target, not the link). Only a cache: anything missing,
    corrupt, on another system than Linux, or any error from ``find`` means
    the full comparison.
    """

    FILE = "clean-stamps"
    MAGIC = "gitstore-clean-stamps-1"
    BATCH = 400  # paths per find

    def __init__(self, state_dir: Path):
        self.path = state_dir / self.FILE
        self.state_dir = state_dir
        found = read_tagged_map(self.path, self.MAGIC) or {}
        # mpath -> (BLAKE3 of the manifest's bytes, T in ns, st_dev, the machine's clocks
        # then, and the cache's gc generation when track wrote it, else "")
        self.entries: dict[str, _StampRecord] = {
            m: r for m, r in found.items() if _well_formed_stamp(r)
        }
        self.clock: tuple[int, int, tuple[str, int, int]] | None = None
        self._dirty = False

    @classmethod
    def load(cls, state_dir: Path) -> Stamps:
        return cls(state_dir)

    def start(self) -> None:
        """Read T off the filesystem's clock: call it before the walks that :meth:`vouch` for.

        ``gitstore track`` read it already, before its ``find`` (prefind).
        """
        if not _FIND_USABLE:
            return
        self.clock = prefind.clock(str(self.state_dir)) or prefind.read_clock(str(self.state_dir))

    def vouch(
        self, mpath: str, data: bytes, sts: Sequence[os.stat_result], generation: str | None = None
    ) -> None:
        """A walk begun after :meth:`start` found ``mpath``'s path, lstat as ``sts``, in line with ``data``."""
        if self.clock is None:
            return
        t, dev, clocks = self.clock
        if any(st.st_dev != dev or statmod.S_ISLNK(st.st_mode) for st in sts):
            self.forget(mpath)
            return
        new = (hash_bytes(data), t, dev, clocks, generation or "")
        if self.entries.get(mpath) != new:
            self.entries[mpath] = new
            self._dirty = True

    def records(self, mpath: str, data: bytes) -> bool:
        """Whether there is a stamp for ``mpath`` holding ``data`` (not whether it still holds)."""
        record = self.entries.get(mpath)
        return record is not None and record[0] == hash_bytes(data)

    def forget(self, mpath: str) -> None:
        if self.entries.pop(mpath, None) is not None:
            self._dirty = True

    def still(
        self, root: Path, manifests: Mapping[str, bytes], *, behind: bool = False
    ) -> set[str]:
        """Those of ``manifests`` (path -> bytes now) whose tracked path nothing changed under since its stamp.

        ``behind``: those whose stamp is for other bytes than these instead:
        the files are still exactly those of an earlier manifest, which git
        changed since without them (``CleanRecord.files_unchanged``).
        """
        groups: dict[int, list[str]] = {}
        now = prefind.machine_clocks()
        for mpath, data in manifests.items():
            record = self.entries.get(mpath)
            if (
                record is None
                or (record[0] == hash_bytes(data)) == behind
                or not _steady_since(record[3], now)
            ):
                continue
            groups.setdefault(record[1], []).append(mpath)
        if not groups or not _FIND_USABLE:
            return set()
        out: set[str] = set()
        for t, mpaths in groups.items():
            for i in range(0, len(mpaths), self.BATCH):
                out |= _untouched_since(
                    root, mpaths[i : i + self.BATCH], t, self.entries, self.state_dir
                )
        return out

    def changed_under(
        self, root: Path, mpath: str, data: bytes, generation: str | None
    ) -> list[str] | None:
        """What changed under ``mpath``'s tracked folder since track's stamp, relative to it.

        A changed folder stands for everything in it; "" is the folder itself.
        None when the stamp cannot tell: no record for these manifest bytes
        made by ``track`` at the cache's gc ``generation`` (so that every
        object the manifest names is still in the cache: only gc deletes
        objects), another filesystem than :meth:`start`'s clock, or ``find``
        failing.
        """
        record = self.entries.get(mpath)
        if (
            record is None
            or not generation
            or record[4] != generation
            or self.clock is None
            or record[2] != self.clock[1]
            or record[0] != hash_bytes(data)
            or not _steady_since(record[3], prefind.machine_clocks())
        ):
            return None
        rel = mf.tracked_path(mpath)
        try:
            st = os.lstat(root / rel)
        except OSError:
            return None
        if st.st_dev != record[2] or not statmod.S_ISDIR(st.st_mode):
            return None
        found = prefind.take(str(self.state_dir), record[1], rel)  # track's, begun early
        if found is None:
            found = _find_changed(root, [rel], record[1])
        if found is None:
            return None
        return [p[len(rel) + 1 :] for p in found]

    def save(self) -> None:
        if self._dirty:
            write_tagged_map(self.path, self.MAGIC, self.entries)
            self._dirty = False


def _well_formed_stamp(r: object) -> bool:
    return (
        isinstance(r, tuple)
        and len(r) == 5
        and isinstance(r[4], str)
        and isinstance(r[0], str)
        and isinstance(r[1], int)
        and isinstance(r[2], int)
        and isinstance(r[3], tuple)
        and len(r[3]) == 3
        and isinstance(r[3][0], str)
        and isinstance(r[3][1], int)
        and isinstance(r[3][2], int)
    )


def _steady_since(then: tuple[str, int, int], now: tuple[str, int, int] | None) -> bool:
    """Whether the wall clock went on as the time since boot did since ``then`` (same boot).

    A clock set back after a stamp could give a later change a ctime before
    it; such a stamp is not trusted. The allowance covers a clock being
    slewed (at most 500 ppm) and the two readings' spread.
    """
    if now is None or now[0] != then[0]:
        return False
    boot = now[2] - then[2]
    return now[1] - then[1] >= boot - 10_000_000 - boot // 1000


_FIND_USABLE = os.name == "posix" and os.uname().sysname == "Linux"


def _untouched_since(
    root: Path,
    mpaths: Sequence[str],
    t: int,
    entries: Mapping[str, _StampRecord],
    state_dir: Path | None = None,
) -> set[str]:
    """Those of ``mpaths`` whose tracked path (there, on its recorded filesystem) has no ctime at or after ``t``."""
    rels: dict[str, str] = {}
    for mpath in mpaths:
        rel = mf.tracked_path(mpath)
        try:
            st = os.lstat(root / rel)
        except OSError:
            continue
        if st.st_dev != entries[mpath][2] or statmod.S_ISLNK(st.st_mode):
            continue
        rels[rel] = mpath
    if not rels:
        return set()
    changed = None
    if state_dir is not None:  # the hook started it already (gitstore.prefind)
        changed = prefind.result(str(state_dir), t, list(rels))
    if changed is None:
        # one path: its first change answers (a folder just edited is not walked twice)
        changed = _find_changed(root, list(rels), t, first=len(rels) == 1)
    if changed is None:
        return set()
    clean = dict(rels)
    for path in changed:
        while path and clean:  # the tracked path it is in: itself or an ancestor
            if clean.pop(path, None) is not None:
                break
            path = path.rpartition("/")[0]
    return set(clean.values())


def _find_changed(
    root: Path, rels: Sequence[str], t: int, *, first: bool = False
) -> list[str] | None:
    """Every file or folder under ``rels`` (relative to ``root``) whose ctime is at or after ``t``.

    A changed folder is listed, not what is in it; ``first``: only the first
    change found. None when ``find`` fails (a path gone, a folder that cannot
    be read, no GNU find).
    """
    import subprocess

    try:
        done = subprocess.run(
            prefind.find_argv(rels, t, first=first), cwd=root, capture_output=True, check=False
        )
    except OSError:
        return None
    if done.returncode != 0 or done.stderr:
        return None
    return prefind.parse(done.stdout)
