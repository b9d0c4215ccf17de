"""Checkout: make tracked paths exactly equal to their manifests.

Every manifest is parsed and validated before anything is written. For each
tracked path the plan is: files to write (absent, or whose content or
executable bit differs), files to delete (not in the manifest), and conflicts
(a file that would be replaced or deleted whose content is not in the cache:
left alone and named, unless ``force``). Writes go to a temporary name beside
the destination and are renamed into place. No write ever leaves the tracked
path: every folder on the way is checked with ``lstat`` and a symlink where a
folder should be is never followed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shlex
import stat as statmod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from . import faults, gitignore
from . import manifest as mf
from .cache import DestinationChanged, tmp_name
from .errors import GitstoreError, ManifestError, ObjectNotFoundError, PathError
from .pending import Marks
from .pending import load as load_marks
from .records import Record
from .stores.local import replace_with
from .workspace import TMP_SUFFIX, ScannedFile, Walked, Workspace, is_exec, map_in_batches

if TYPE_CHECKING:
    from .hookdelta import Delta

# Hard links are one system call a file: threads only fight over the GIL
# (on W2, 8 threads cost more CPU time than 2, and 2 more than 1). Where
# links cannot work (the cache on another filesystem) files are copied, on
# the usual threads.
LINK_JOBS = 1
LAZY_STATS_BELOW = 1 << 20  # with lazy_stats, files this small are not recorded
# a delta checkout re-reads what it wrote before recording the folder clean,
# only when every file it wrote is smaller than this
VOUCH_HASH_BELOW = 1 << 20
STAGING = "checkout-staging"  # in the clone's state folder: see Checkout._staging


_DIR = mf.Manifest("dir", ())  # what _write_manifest needs of a manifest: its kind


def _unchanged(then: os.stat_result | None, now: os.stat_result) -> bool:
    """Whether ``now`` is the file ``then`` was: inode, size, mtime and ctime.

    ``then`` is the lstat a write (or chmod) left, taken of the file written,
    never of a later edit; or, for a file the delta found already right, the
    lstat of the walk the old record vouched for. The ctime catches an edit
    that put the mtime back (``cp -p``, ``rsync -t``, ``touch -r``).
    """
    return then is not None and (
        then.st_ino,
        then.st_size,
        then.st_mtime_ns,
        then.st_ctime_ns,
    ) == (now.st_ino, now.st_size, now.st_mtime_ns, now.st_ctime_ns)


def _holds(path: str, oid: str, st: os.stat_result) -> bool:
    """Whether the file at ``path``, which lstats as ``st``, holds ``oid`` (and still lstats so)."""
    from .hashing import hash_file

    try:
        got = hash_file(path)[0]
        return got == oid and _unchanged(st, os.lstat(path))
    except OSError:
        return False


def _files_stated(data: bytes) -> int:
    """The ``files:`` count in a manifest's header (the quick path checked it is there)."""
    for line in data[:4096].split(b"\n", 6)[:6]:
        if line.startswith(b"files: ") and line[7:].isdigit():
            return int(line[7:])
    return 0


PREMARK_ABOVE = 8  # tracked paths in one checkout: marked together (pending.Marks.premark)


class CheckoutResult(Record):
    """What a checkout did; every list starts empty."""

    __slots__ = (
        "written",
        "deleted",
        "conflicts",
        "changed",
        "missing",
        "manifests_written",
        "manifests_kept",
        "manifests_removed",
        "manifests_not_at_rev",
        "manifests_outside_sparse",
        "unchanged",
        "invalid",
        "superseded",
    )

    def __init__(self) -> None:
        self.written: list[str] = []
        self.deleted: list[str] = []
        self.conflicts: list[str] = []
        self.changed: list[str] = []  # of the conflicts: saved while it ran
        self.missing: dict[str, list[str]] = {}  # oid -> paths needing it
        self.manifests_written: list[str] = []
        # manifests left as they were: only part of their tracked path was checked out at REV
        self.manifests_kept: list[str] = []
        # manifests an earlier ``checkout REV`` brought in that REV does not have: removed
        self.manifests_removed: list[str] = []
        # manifests in the work tree that REV does not have (nor brought): left as they are,
        # as `git checkout REV -- .` leaves the files REV lacks
        self.manifests_not_at_rev: list[str] = []
        # manifests at REV that git's index holds outside the sparse checkout's patterns
        self.manifests_outside_sparse: list[str] = []
        self.unchanged = 0
        # checking out every path: the manifests that could not be read, each one line
        # (skipped, so that one bad file does not stop the others)
        self.invalid: list[ManifestError] = []
        # a hook's manifests that changed in the work tree after it read them (a
        # second git command): left to whatever changed them, nothing written
        self.superseded: list[str] = []

    def merge(self, other: CheckoutResult) -> None:
        self.written += other.written
        self.deleted += other.deleted
        self.conflicts += other.conflicts
        self.changed += other.changed
        for oid, paths in other.missing.items():
            self.missing.setdefault(oid, []).extend(paths)
        self.manifests_written += other.manifests_written
        self.manifests_kept += other.manifests_kept
        self.manifests_removed += other.manifests_removed
        self.manifests_not_at_rev += other.manifests_not_at_rev
        self.manifests_outside_sparse += other.manifests_outside_sparse
        self.unchanged += other.unchanged
        self.invalid += other.invalid
        self.superseded += other.superseded


class _Plan(Record):
    __slots__ = (
        "rel",
        "manifest",
        "write",
        "chmod",
        "delete",
        "replaces_kind",
        "expect",
        "fresh",
        "partial",
        "rest_absent",
    )

    def __init__(self, rel: str, manifest: mf.Manifest, *, partial: bool = False) -> None:
        self.rel = rel
        self.manifest = manifest
        self.write: list[tuple[str, mf.Entry]] = []  # (repo path, entry)
        self.chmod: list[tuple[str, mf.Entry]] = []
        self.delete: list[str] = []
        self.replaces_kind = False  # a folder for a file, or a file for a folder
        # the lstat of each file to be replaced, as seen when the plan was made
        self.expect: dict[str, os.stat_result] = {}
        # the files to write where the plan saw nothing (all of them: None)
        self.fresh: set[str] | None = set()
        # restricted to part of the path (`checkout PATH/FILE`): the rest is unknown
        self.partial = partial
        # ... and some of the rest is not on disk (a `pull PATH/FILE` in a fresh clone)
        self.rest_absent = False


def entry_key(rel: str, manifest: mf.Manifest, entry: mf.Entry) -> str:
    return rel + "/" + entry.path if manifest.kind == "dir" else rel


def safe_parent(
    ws: Workspace, repo_path: str, *, create: bool, created: list[Path] | None = None
) -> None:
    """Make sure every folder above ``repo_path`` is a real folder inside the work tree.

    Folders made (with ``create``) are appended to ``created`` when given.
    """
    parts = repo_path.split("/")[:-1]
    root = str(ws.root)
    rel = ""
    for part in parts:  # strings, not Paths: this runs for every file a checkout writes
        rel = f"{rel}/{part}" if rel else part
        current = f"{root}/{rel}"
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            if not create:
                return
            os.mkdir(current)
            if created is not None:
                created.append(Path(current))
            continue
        if statmod.S_ISLNK(st.st_mode):
            raise PathError(f"{rel} is a symlink where a folder is expected; not following it")
        if not statmod.S_ISDIR(st.st_mode):
            raise PathError(f"{rel} is a file where a folder is expected")


def _admissible(
    ws: Workspace, manifests: dict[str, bytes], only: Sequence[str], result: CheckoutResult
) -> dict[str, bytes]:
    """``manifests`` without those describing a path gitstore never writes (``.git``,
    ``.gitignore``...: :func:`manifest.tracked_path_problem`), each named in
    ``result.invalid``; an error when a path asked for lies in one."""
    out = {}
    for mpath, data in manifests.items():
        rel = mf.tracked_path(mpath)
        problem = mf.tracked_path_problem(rel) or ws.store_problem(rel)
        if problem is None:
            out[mpath] = data
        elif any(mf.overlaps(o, rel) for o in only):
            raise ManifestError(f"{mpath}: {problem}")
        elif not only:
            result.invalid.append(ManifestError(f"{mpath}: {problem}"))
    return out


class Checkout:
    def __init__(
        self,
        ws: Workspace,
        *,
        force: bool = False,
        link: Sequence[str] | None = None,
        lazy_stats: bool = False,
    ):
        """``lazy_stats``: when every file written is small, leave the stat cache alone.

        Loading a big stat cache costs more than hashing a few small files
        again; their old entries no longer match (new inode and ctime), so the
        next status or track hashes them and records them then. The
        post-checkout hook's delta uses this.
        """
        self.ws = ws
        self.force = force
        self.link = tuple(link) if link else None
        # --link without symlink over a symlink checkout: the links are made files
        self.relink = self.link is not None and "symlink" not in self.link
        self.lazy_stats = lazy_stats
        # copies and reflinks leave nothing depending on the cache (Cache.lock)
        self.copies_only = set(self.link or ws.cache.link) <= {"copy", "reflink"}
        # paths part-way through are marked, so that pre-commit never records them
        self.marks = Marks(ws.repo.state_dir)
        self._walked: dict[str, Walked] = {}  # the walks the quick path made and declined
        self._vouched: dict[str, Walked] = {}  # the walks the quick path made and took
        self._ignored_first: set[str] = set()  # tracked paths _ignore_first listed
        self._ignore_added: set[str] = set()  # ... and those whose .gitignore line it added
        # the lstat each write left (taken of the file written, never of a later edit)
        self._wrote: dict[str, os.stat_result | None] = {}
        self._unfinished: set[str] = set()  # marked part-way when this run began
        self._excluded = False  # gitstore's temporary files are in info/exclude

    def run(
        self,
        manifests: dict[str, bytes],
        write_manifests: bool,
        only: Sequence[str] = (),
        blobs: dict[str, str] | None = None,
        *,
        as_read: bool = False,
    ) -> CheckoutResult:
        """``manifests`` maps manifest paths to their bytes (already chosen by revision).

        ``blobs``: their git blob ids, when known (a revision's manifests).
        ``as_read``: ``manifests`` are the work tree's as the caller (a hook) read
        them before the lock: one that changed since is left (``result.superseded``).
        """
        result = CheckoutResult()
        settled: dict[str, Delta] = {}
        with self.ws.lock(), self.ws.cache_lock(reading=self.copies_only):
            if as_read:
                result.superseded = superseded(self.ws.root, manifests)
                manifests = {m: d for m, d in manifests.items() if m not in result.superseded}
            # everything is validated (or vouched for) before anything is written
            every = manifests
            manifests = _admissible(self.ws, manifests, only, result)
            quick = self._quick(manifests, only, blobs or {})
            parsed = self._parse(manifests, only, quick, result)
            _remove_leftover(f"{self.ws.repo.state_dir}/{STAGING}")  # a killed checkout's
            brought = BroughtManifests(self.ws) if write_manifests else None
            if brought is not None:
                brought.remove_absent(every, only, result)
                gone = set(result.manifests_removed)
                result.manifests_not_at_rev = [
                    m
                    for m in self.ws.manifest_paths()
                    if m not in every
                    and m not in gone
                    and (not only or any(mf.overlaps(o, mf.tracked_path(m)) for o in only))
                ]
            if parsed:
                # objects written now are seen in the cache at this gc generation
                self.ws.statcache.use_generation(self.ws.cache.generation())
            else:  # only small deltas: as the post-checkout hook, leave the stat cache alone
                self.lazy_stats = True
            skipped = {m for m in manifests if m not in quick and m not in parsed}
            rels = [mf.tracked_path(m) for m in manifests if m not in skipped]
            if only:
                rels = [r for r in rels if any(mf.overlaps(o, r) for o in only)]
            if len(rels) > PREMARK_ABOVE:  # one durable write, not one a path
                self.marks.premark(rels)
            # paths a killed run left part-way may hold its half-written temporary files
            self._unfinished = set(load_marks(self.ws.repo.state_dir)).intersection(rels)
            if brought is not None:
                self._ignore_first(manifests, only, quick, parsed, brought)
            for mpath in sorted(manifests):
                rel = mf.tracked_path(mpath)
                sub = [o for o in only if mf.overlaps(o, rel)]
                if only and not sub or mpath in skipped:
                    continue
                if mpath in quick:
                    if brought is not None:
                        self._write_manifest(mpath, manifests[mpath], _DIR, result, brought)
                    done = self._apply_quick(rel, quick[mpath], _files_stated(manifests[mpath]))
                    if not (done.conflicts or done.missing or done.changed):
                        settled[mpath] = quick[mpath]
                    result.merge(done)
                    continue
                manifest = parsed[mpath]
                restrict = [o for o in sub if o.startswith(rel + "/")]
                if brought is not None and not restrict:
                    self._write_manifest(mpath, manifests[mpath], manifest, result, brought)
                elif write_manifests and _differs(self.ws.root / mpath, manifests[mpath]):
                    result.manifests_kept.append(mpath)
                plan = self._plan(rel, manifest, restrict, result)
                self._apply(plan, result)
                if manifest.kind == "dir" and not manifest.entries and not restrict:
                    safe_parent(self.ws, rel + "/-", create=True)  # an empty folder is data too
            if self.ws.statcache_loaded:
                self.ws.statcache.save()
            if brought is not None:
                brought.save()
            self.marks.finish()
            if settled:
                self._vouch(settled, manifests)
        return result

    def _vouch(self, settled: dict[str, Delta], manifests: dict[str, bytes]) -> None:
        """Record the folders a delta brought exactly to their new manifest as clean.

        The record of the old manifest vouched for every file the delta left;
        the written ones are looked at again once the racy window has passed
        (a write in the same clock tick as the look could hide behind it), so
        the next status, commit or checkout need not compare them all. Files
        are listed in the old walk's order, the new ones last: where a later
        walk lists them otherwise, the signatures differ and the full
        comparison runs, as without a record.
        """
        import time

        from .cleanrecord import RACY_NS, CleanRecord, signature_of_stats

        # the written files are looked at once the racy window has passed; with nothing
        # written or deleted (a checkout with nothing to do) there is nothing to wait out,
        # and the record's own rule still drops files changed this close to its clock
        if any(write or delete for write, delete, _kept in settled.values()):
            time.sleep(RACY_NS / 1e9)
        clean = CleanRecord.load(self.ws.repo.state_dir)  # its clock starts after the writes
        record = dict(clean.entries)
        for mpath, (write, delete, _kept) in settled.items():
            walked = self._vouched.get(mpath)
            if walked is None or walked.targets:
                continue
            base = walked.base
            rel = mf.tracked_path(mpath)
            if any(e.size >= VOUCH_HASH_BELOW for e in write):
                continue  # too big to read again: the next comparison goes through the stat cache
            fresh = {e.path for e in write}
            gone = set(delete) - fresh
            try:
                now = {path: os.lstat(base + path) for path in fresh}
            except OSError:
                continue
            before = dict(zip(walked.rels, walked.sts, strict=True))
            if not all(
                _unchanged(self._wrote.get(f"{rel}/{p}", before.get(p)), st)
                for p, st in now.items()
            ):
                continue  # edited since it was written (or looked at): the next comparison sees it
            # an edit in the same clock tick as the write leaves the same lstat:
            # what was written is read once more (small files only, see above)
            if not all(_holds(base + e.path, e.oid, now[e.path]) for e in write):
                continue
            rels, sts = [], []
            for r, st in zip(walked.rels, walked.sts, strict=True):
                if r in gone:
                    continue
                rels.append(r)
                sts.append(now.pop(r, st))  # a replaced file keeps its place in the folder
            rels += list(now)  # new names: last (a later walk may list them elsewhere)
            sts += list(now.values())
            record[mpath] = signature_of_stats(manifests[mpath], rels, sts)
        clean.save(record)

    def _parse(
        self,
        manifests: dict[str, bytes],
        only: Sequence[str],
        quick: dict[str, Delta],
        result: CheckoutResult,
    ) -> dict[str, mf.Manifest]:
        """The manifests to check out in full, parsed; all are read before anything is written.

        With paths named, only the manifests holding them are read, and one that
        cannot be is an error. Checking out every path, one that cannot be read
        (a user's own file that only ends in ``.gitstore``, a damaged manifest)
        is named in ``result.invalid`` and left out: the others are checked out.
        """
        parsed: dict[str, mf.Manifest] = {}
        for mpath, data in manifests.items():
            if mpath in quick:
                continue
            if only and not any(mf.overlaps(o, mf.tracked_path(mpath)) for o in only):
                continue
            try:
                parsed[mpath] = mf.parse(data, mpath)
            except ManifestError as exc:
                if only:
                    raise
                result.invalid.append(exc)
        return parsed

    def _quick(
        self, manifests: dict[str, bytes], only: Sequence[str], blobs: dict[str, str]
    ) -> dict[str, Delta]:
        """The manifests whose change can be applied as a delta (:func:`hookdelta.clean_delta`).

        Only whole tracked folders, without ``--link`` (which may have to turn
        every file into another kind), and not part-way through an earlier
        checkout or hook. The walks made on the way are kept for the plans of
        the others.
        """
        from . import hookdelta
        from . import pending as marks_file
        from .cleanrecord import CleanRecord, Stamps

        if self.link is not None:
            return {}
        clean = CleanRecord.load(self.ws.repo.state_dir)
        stamps = Stamps.load(self.ws.repo.state_dir)  # a quick re-track's: no signature
        vouched = clean.entries.keys() | stamps.entries.keys()
        marked = marks_file.load(self.ws.repo.state_dir) if vouched else {}
        quick: dict[str, Delta] = {}
        for mpath, data in manifests.items():
            rel = mf.tracked_path(mpath)
            if mpath not in vouched or rel in marked:
                continue
            if any(o.startswith(rel + "/") for o in only):
                continue  # part of the folder: the plan restricts it
            if only and not any(mf.overlaps(o, rel) for o in only):
                continue
            delta, walked = hookdelta.clean_delta(
                self.ws, mpath, data, blobs.get(mpath), clean, stamps
            )
            if delta is not None:
                quick[mpath] = delta
                if walked is not None and walked.base == f"{self.ws.root / rel}/":
                    self._vouched[mpath] = walked
            elif walked is not None and walked.base == f"{self.ws.root / rel}/":
                self._walked[rel] = walked
        return quick

    def _apply_quick(self, rel: str, delta: Delta, files: int) -> CheckoutResult:
        from . import hookdelta

        done = hookdelta.apply_locked(self, {mf.manifest_path(rel): delta})
        done.unchanged += max(0, files - len(delta[0]))  # the lines both manifests share
        return done

    def _write_manifest(
        self,
        mpath: str,
        data: bytes,
        manifest: mf.Manifest,
        result: CheckoutResult,
        brought: BroughtManifests,
    ) -> None:
        full = self.ws.root / mpath
        safe_parent(self.ws, mpath, create=True)
        try:
            if full.read_bytes() == data:
                return
            existed = True
        except FileNotFoundError:
            existed = False
        rel = mf.tracked_path(mpath)
        self.marks.changing(rel)  # the files follow the manifest
        replace_with(full, data, tmp=full.with_name(tmp_name(full.name)))
        if rel not in self._ignored_first:  # a manifest that _ignore_first found unchanged
            self._ignore_added.update(
                gitignore.add_many(self.ws.root, [(rel, manifest.kind == "dir")])
            )
        if not existed:
            brought.note(mpath, data, rel in self._ignore_added)
        result.manifests_written.append(mpath)

    def _ignore_first(
        self,
        manifests: dict[str, bytes],
        only: Sequence[str],
        quick: dict[str, Delta],
        parsed: dict[str, mf.Manifest],
        brought: BroughtManifests | None = None,
    ) -> None:
        """The .gitignore lines of every manifest this checkout will write, in one write
        of the file before any of them (one rewrite a manifest grew as N² with many)."""
        items = []
        for mpath, data in manifests.items():
            rel = mf.tracked_path(mpath)
            if only and not any(mf.overlaps(o, rel) for o in only):
                continue
            if mpath not in quick and mpath not in parsed:
                continue  # could not be read: left as it is
            if mpath not in quick and any(o.startswith(rel + "/") for o in only):
                continue  # written only in part: its manifest is left as it is
            if not _differs(self.ws.root / mpath, data):
                continue
            kind = "dir" if mpath in quick else parsed[mpath].kind
            items.append((rel, kind == "dir"))
        self._ignored_first = {rel for rel, _ in items}
        self._ignore_added = gitignore.add_many(self.ws.root, items) if items else set()
        if brought is not None and items:
            # recorded before the first manifest is written: a checkout killed part-way
            # leaves nothing that the way back cannot take away
            for rel, _is_dir in items:
                mpath = mf.manifest_path(rel)
                if not os.path.lexists(self.ws.root / mpath):
                    brought.note(mpath, manifests[mpath], rel in self._ignore_added)
            brought.save()

    def _plan(
        self, rel: str, manifest: mf.Manifest, restrict: list[str], result: CheckoutResult
    ) -> _Plan:
        ws = self.ws
        safe_parent(ws, rel, create=False)
        plan = _Plan(rel, manifest, partial=bool(restrict))
        if not restrict and self._kind_changed(plan, result):
            return plan
        if manifest.kind == "dir":
            safe_parent(ws, rel + "/x", create=False)  # rel itself: no symlink followed
        current: dict[str, ScannedFile] = {}
        walked = self._walked.pop(rel, None)
        found = (
            walked.files()
            if walked is not None and manifest.kind == "dir"
            else ws.current_files(rel, manifest.kind)
        )
        for f in found:
            key = rel + "/" + f.relpath if manifest.kind == "dir" and f.relpath else rel
            current[key] = f
        if manifest.kind == "dir":
            prefix = rel + "/"
            wanted = {prefix + e.path: e for e in manifest.entries}
        else:
            wanted = {entry_key(rel, manifest, e): e for e in manifest.entries}
        if restrict:

            def keep(k: str) -> bool:
                return any(k == r or k.startswith(r + "/") for r in restrict)

            plan.rest_absent = any(k not in current for k in wanted if not keep(k))
            wanted = {k: e for k, e in wanted.items() if keep(k)}
            current = {k: f for k, f in current.items() if keep(k)}
        if not current:  # an empty folder: everything is written, nothing to compare
            plan.write = list(wanted.items())
            plan.fresh = None
            return plan
        pending = []
        for key, entry in wanted.items():
            here = current.get(key)
            oid = ws.oid_of(key, here) if here is not None else None
            relink = here is not None and statmod.S_ISLNK(here.st.st_mode) and self.relink
            if here is not None and oid == entry.oid and not relink:
                # a symlink into the cache has no executable bit of its own
                # (and a chmod would change the object's)
                if statmod.S_ISLNK(here.st.st_mode) or is_exec(here.st) == entry.exec:
                    result.unchanged += 1
                else:
                    plan.chmod.append((key, entry))
                continue
            pending.append((key, entry, here, oid))
        # Only a file to be replaced needs its object checked now (a missing
        # object is reported rather than a conflict). Where nothing is, the
        # write finds a missing object itself: no stat per file beforehand.
        have = ws.cache.exists({e.oid for _key, e, there, _oid in pending if there is not None})
        for key, entry, there, oid in pending:
            if there is not None:
                if entry.oid not in have:
                    result.missing.setdefault(entry.oid, []).append(key)
                    continue
                if not self._replaceable(oid):
                    result.conflicts.append(key)
                    continue
                if not statmod.S_ISLNK(there.st.st_mode):
                    plan.expect[key] = there.st
            else:
                plan.fresh.add(key)  # type: ignore[union-attr]
            plan.write.append((key, entry))
        for key, f in current.items():
            if key in wanted:
                continue
            if self._replaceable(ws.oid_of(key, f)) or statmod.S_ISLNK(f.st.st_mode) and self.force:
                plan.delete.append(key)
            else:
                result.conflicts.append(key)
        return plan

    def _kind_changed(self, plan: _Plan, result: CheckoutResult) -> bool:
        """A folder where the manifest has a file, or a file where it has a folder: replace it.

        As git does, when everything there is in the cache (or with ``force``);
        otherwise what is not is named as a conflict and the path is left alone.
        True when the plan is made (nothing more to compare).
        """
        ws, rel, manifest = self.ws, plan.rel, plan.manifest
        try:
            st = os.lstat(ws.root / rel)
        except (FileNotFoundError, NotADirectoryError):
            return False
        if statmod.S_ISDIR(st.st_mode) and manifest.kind == "file":
            found = [(rel + "/" + f.relpath, f) for f in ws.current_files(rel, "dir")]
        elif statmod.S_ISREG(st.st_mode) and manifest.kind == "dir":
            found = [(rel, ScannedFile("", str(ws.root / rel), st))]
        else:
            return False
        blocked = [k for k, f in found if not self._replaceable(ws.oid_of(k, f))]
        if blocked:
            result.conflicts += blocked
            return True
        plan.delete = [k for k, _f in found]
        prefix = rel + "/" if manifest.kind == "dir" else ""
        plan.write = [(prefix + e.path if prefix else rel, e) for e in manifest.entries]
        plan.replaces_kind = True
        return True

    def _replaceable(self, oid: str | None) -> bool:
        return self.force or (oid is not None and self.ws.cache.has(oid))

    def _apply(self, plan: _Plan, result: CheckoutResult) -> None:
        rel = plan.rel
        if plan.write and not self._excluded:
            gitignore.exclude_temporaries(self.ws.repo.common_dir)
            self._excluded = True
        if rel in self._unfinished:  # its folders were checked by _plan (safe_parent)
            _remove_half_written(self.ws.root, rel)
        try:
            self._apply_plan(plan, result)
        except OSError as exc:  # a full disk, a file-size limit, a read-only work tree
            where = f" ({exc.filename})" if exc.filename else ""
            raise GitstoreError(
                f"checkout of {rel} stopped: {exc.strerror or exc}{where}",
                hint="every file is whole; once that is fixed, `gitstore checkout"
                f" {shlex.quote(rel)}` (from the repository's top) finishes it",
            ) from exc
        below = rel + "/"
        complete = not any(
            k == rel or k.startswith(below) for keys in result.missing.values() for k in keys
        )
        if complete:  # a part says nothing of the rest of the path
            (self.marks.part_done if plan.partial else self.marks.done)(rel)
        if plan.rest_absent:  # not "removed": a commit must not record the rest as deleted
            self.marks.leave_partial(rel)
        elif plan.partial and complete:  # the last part brought: nothing of it is absent now
            self.marks.partial_filled(rel)

    def _apply_plan(self, plan: _Plan, result: CheckoutResult) -> None:
        ws = self.ws
        root = ws.root
        stats = not self.lazy_stats or any(
            e.size >= LAZY_STATS_BELOW for _k, e in (*plan.write, *plan.chmod)
        )
        for key in plan.delete:
            (root / key).unlink(missing_ok=True)
            if stats:
                ws.statcache.forget(key)  # else a stale entry: nothing lstats as it any more
            result.deleted.append(key)
        if plan.delete and plan.manifest.kind == "dir":
            _prune_empty(root / plan.rel, {str(Path(root / k).parent) for k in plan.delete})
        if plan.manifest.kind == "file":
            target = root / plan.rel
            if target.is_dir() and not target.is_symlink() and plan.write:
                if plan.replaces_kind:  # every file below is deleted: its empty folders go too
                    for folder, _dirs, _files in os.walk(target, topdown=False):
                        with contextlib.suppress(OSError):
                            os.rmdir(folder)
                else:
                    _prune_empty(target, {str(target)})
        made: set[str] = set()
        created: list[Path] = []  # folders made here: removed again if left empty
        root_s = str(root)
        where = mf.manifest_path(plan.rel)
        cache = ws.cache
        link_first = (self.link or cache.link)[:1] == ("hardlink",)
        if plan.delete or plan.write or plan.chmod:
            self.marks.changing(plan.rel)

        expect = plan.expect
        fresh = plan.fresh
        if (
            fresh is None
            and plan.manifest.kind == "dir"
            and not link_first
            and plan.write
            and not plan.delete
            and not plan.chmod
            and self._write_staged(plan, result, stats)
        ):
            return

        def write(
            item: tuple[str, mf.Entry],
        ) -> tuple[str, os.stat_result | None | Literal[False, "changed"]]:
            """(key, lstat of the new file for the stat cache, None for none), or (key, why not):
            False when the object is missing, "changed" when the file it was to replace changed."""
            key, entry = item
            parent = key.rsplit("/", 1)[0] if "/" in key else ""
            if parent not in made:
                safe_parent(ws, key, create=True, created=created)
                made.add(parent)
            dest = f"{root_s}/{key}"
            faults.workspace_write()
            try:
                if fresh is None or key in fresh:
                    if link_first:
                        st = cache.link_new(entry.oid, dest, entry.exec)
                        if st is not None:
                            return key, st
                    else:
                        new = cache.copy_new(entry.oid, dest, entry.exec, self.link, entry.size)
                        if new is not False:
                            return key, new
                # the lstat for the stat cache is taken in the worker, and only
                # of the file written: never of an edit made right after it
                return key, cache.materialise(
                    entry.oid, dest, entry.exec, self.link, expect=expect.get(key), size=entry.size
                )
            except ObjectNotFoundError:
                return key, False
            except DestinationChanged:
                return key, "changed"
            except IsADirectoryError as exc:
                raise PathError(f"{key} is a folder where the manifest {where} has a file") from exc

        writes = plan.write
        if writes and not link_first:  # whether reflinks work here: known before the first file
            cache.copies_in(root_s, self.link, writes[0][1].oid)
        jobs = _copy_jobs(ws.jobs, writes)
        parallel = jobs > 1
        if parallel:
            # folders first, serially: creation order matters and is cheap
            for key, _ in writes:
                parent = key.rsplit("/", 1)[0] if "/" in key else ""
                if parent not in made:
                    safe_parent(ws, key, create=True, created=created)
                    made.add(parent)
        links = link_first and _same_device(cache.root, root)
        if links:
            jobs = min(jobs, LINK_JOBS)
        outcome = map_in_batches(write, writes, jobs)
        written: list[tuple[str, os.stat_result | None]] = []
        entries: list[mf.Entry] = []
        for (key, st), (_key, entry) in zip(outcome, writes, strict=True):
            if st is False:
                result.missing.setdefault(entry.oid, []).append(key)
            elif st == "changed":  # saved while the copy ran: left alone, as a conflict
                result.conflicts.append(key)
                result.changed.append(key)
            else:
                written.append((key, st))
                entries.append(entry)
        if len(written) < len(writes):
            _prune_created(created)
        done = [key for key, _st in written]
        for key, entry in plan.chmod:
            self._chmod(key, entry)
            done.append(key)
        chmodded = [(key, _lstat(f"{root_s}/{key}")) for key, _entry in plan.chmod]
        result.written += done
        self._wrote.update(written + chmodded)
        if not stats:
            return
        regular = statmod.S_ISREG
        ws.statcache.record_many(  # just written from the cache: the objects are there
            (
                (key, st, entry.oid)
                for (key, st), entry in zip(
                    written + chmodded, entries + [e for _k, e in plan.chmod], strict=True
                )
                if st is not None and regular(st.st_mode)
            ),
            present=True,
        )

    def _staging(self) -> str:
        """Where :meth:`_write_staged` fills a folder: inside the clone's state folder.

        Out of the work tree, so that git never sees it (``git add -A`` after
        a crash would commit the payload) and no name of the user's is taken.
        """
        state = self.ws.repo.state_dir
        state.mkdir(parents=True, exist_ok=True)
        return f"{state}/{STAGING}"

    def _write_staged(self, plan: _Plan, result: CheckoutResult, stats: bool) -> bool:
        """Fill a tracked folder that does not exist yet out of sight, then rename it into place.

        A fresh clone's or an emptied work tree's checkout: every file is
        created directly in a folder inside the clone's state folder
        (``.git/gitstore/checkout-staging``, when on the same filesystem as
        the target) and the folder is renamed into place once written. The files never need names of their own to appear whole
        (the folder appears whole, or not at all), which saves a temporary
        name and a rename a file: on 20,000 small files about half of a
        checkout's time. Nothing can edit a file nobody can see, so no
        check for edits either. A crash leaves the staging folder, which the
        next checkout removes (under the work tree's lock).
        False, with nothing done, when the folder exists or the link modes
        would not copy; False too, after undoing its work, when something
        appeared at the target meanwhile: the caller then writes file by file.
        """
        ws = self.ws
        rel = plan.rel
        safe_parent(ws, rel, create=True)
        target = f"{ws.root}/{rel}"
        head = os.path.dirname(target)
        probe = plan.write[0][1].oid
        if os.path.lexists(target) or not ws.cache.copies_in(head, self.link, probe):
            return False
        staging = self._staging()
        try:
            if os.stat(os.path.dirname(staging)).st_dev != os.stat(head).st_dev:
                return False  # a rename cannot bring it over: file by file
        except OSError:
            return False
        _remove_leftover(staging)
        os.mkdir(staging)
        cut = len(rel)
        cache = ws.cache
        writes = plan.write
        try:
            folders = {key[cut:].rsplit("/", 1)[0] for key, _e in writes}
            for folder in sorted(folders):
                if folder:
                    os.makedirs(staging + folder, exist_ok=True)

            def write(item: tuple[str, mf.Entry]) -> os.stat_result | None:
                key, entry = item
                faults.workspace_write()
                try:
                    return cache.copy_into_new_folder(
                        entry.oid, staging + key[cut:], entry.exec, entry.size
                    )
                except ObjectNotFoundError:
                    return None

            outcome = map_in_batches(write, writes, _copy_jobs(ws.jobs, writes))
            written = [(item, st) for item, st in zip(writes, outcome, strict=True) if st]
            if len(written) < len(writes):  # objects missing: no empty folders left for them
                for folder, _dirs, _files in os.walk(staging, topdown=False):
                    with contextlib.suppress(OSError):
                        os.rmdir(folder)
            if os.path.lexists(staging):
                os.rename(staging, target)
        except OSError as exc:
            _remove_leftover(staging)
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                return False  # something appeared at the target: file by file, which says what
            raise
        except BaseException:
            _remove_leftover(staging)
            raise
        for (key, entry), st in zip(writes, outcome, strict=True):
            if st is None:
                result.missing.setdefault(entry.oid, []).append(key)
        result.written += [key for (key, _e), _st in written]
        if stats:
            ws.statcache.record_many(
                ((key, st, entry.oid) for (key, entry), st in written), present=True
            )
        return True

    def _chmod(self, key: str, entry: mf.Entry) -> None:
        dest = self.ws.root / key
        st = os.lstat(dest)
        if st.st_nlink > 1 or statmod.S_ISLNK(st.st_mode):
            # a link into the cache: never change the object's mode
            self.ws.cache.materialise(entry.oid, dest, entry.exec, ("copy",))
            return
        mode = st.st_mode & 0o777
        os.chmod(dest, (mode | 0o111 & (mode >> 2 | 0o100)) if entry.exec else mode & ~0o111)


def _differs(path: Path, data: bytes) -> bool:
    """Whether the file at ``path`` does not hold ``data`` (absent counts as different)."""
    try:
        return path.read_bytes() != data
    except OSError:
        return True


def superseded(root: Path, read: Mapping[str, bytes]) -> list[str]:
    """Those of the manifests ``read`` (path -> bytes as read) whose work-tree bytes
    are not those any more: git (a second command) or gitstore wrote them since."""
    out = []
    for mpath, data in read.items():
        try:
            now = (root / mpath).read_bytes()
        except OSError:
            now = None
        if now != data:
            out.append(mpath)
    return out


def _copy_jobs(jobs: int, writes: list[tuple[str, mf.Entry]]) -> int:
    """How many threads to write ``writes`` on.

    Threads pay off for many files or many bytes; for a branch switch of a
    hundred small files starting them costs more than the copies. For small
    files the work is system calls and the Python between them, which holds
    the GIL: more threads than cores only fight over it (W2, 20,000 files of
    4 KiB on 2 cores: 2 threads 1.8 s, 8 threads 2.7 s). Many bytes are
    waits on the disk, where more threads help.
    """
    if jobs <= 1 or len(writes) < 2:
        return 1
    total = sum(e.size for _, e in writes)
    if total >= 64 << 20 and total >= len(writes) << 20:  # 1 MiB a file or more
        return jobs
    if len(writes) < 512 and total < 64 << 20:
        return 1
    return min(jobs, max(2, os.cpu_count() or 1))


def _same_device(a: Path, b: Path) -> bool:
    try:
        return os.stat(a).st_dev == os.stat(b).st_dev
    except OSError:
        return False


def _remove_leftover(staging: str) -> None:
    """Remove the staging folder a killed checkout left in the clone's state folder."""
    try:
        st = os.lstat(staging)
    except FileNotFoundError:
        return
    if statmod.S_ISDIR(st.st_mode):
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
    else:
        os.unlink(staging)


def _remove_half_written(root: Path, rel: str) -> None:
    """Remove the temporary files (``.NAME.gitstore-tmp``) of files of ``rel`` that a
    checkout or pull killed while copying left: a big file's can be gigabytes, and one
    beside a tracked file is offered by `git status` (QA pass 11). Only for paths marked
    part-way, so the usual checkout looks for none."""
    path = f"{root}/{rel}"
    head, name = os.path.split(path)
    found = [os.path.join(head, tmp_name(name))]
    try:
        is_folder = statmod.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        is_folder = False
    if is_folder:
        for folder, _dirs, files in os.walk(path):  # symlinked folders are not entered
            found += [f"{folder}/{f}" for f in files if f[:1] == "." and f.endswith(TMP_SUFFIX)]
    for tmp in found:
        with contextlib.suppress(OSError):
            if statmod.S_ISREG(os.lstat(tmp).st_mode):
                os.unlink(tmp)


def _prune_created(created: list[Path]) -> None:
    """Remove the folders this checkout made that stayed empty (their objects were missing)."""
    for folder in reversed(created):
        try:
            os.rmdir(folder)
        except OSError:
            pass


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _prune_empty(top: Path, folders: set[str]) -> None:
    """Remove folders left empty by deletions, bottom up, never above ``top``."""
    top = Path(os.path.normpath(top))
    for folder in sorted(folders, key=len, reverse=True):
        current = Path(os.path.normpath(folder))  # "a/../../b" must not pass for inside ``top``
        while True:
            if current != top and top not in current.parents:
                break
            try:
                os.rmdir(current)
            except OSError:
                break
            if current == top:
                break
            current = current.parent


class BroughtManifests:
    """Manifests that a ``checkout REV`` created where the work tree had none.

    ``gitstore checkout HEAD~3`` writes HEAD~3's manifests into the work tree,
    including those of paths untracked since; ``gitstore checkout HEAD`` must
    then take those away again, or the return leaves an untracked manifest
    (and a .gitignore line) behind. A manifest is removed only while it is
    exactly the bytes checkout wrote and git's index does not hold it (the
    user has not adopted it with ``git add``). The files of its path go with
    it when the checkout brought them too (the path held none before), they
    are still exactly what it lists and the cache holds them (as git removes a
    commit's files when it leaves it); otherwise they stay, as ``untrack``
    leaves them. Kept in the clone's state folder.
    """

    FILE = "checkout-brought"
    MAGIC = "gitstore-checkout-brought-1"

    def __init__(self, ws: Workspace):
        from .stores.local import read_tagged_map

        self.ws = ws
        self.path = ws.repo.state_dir / self.FILE
        self.entries: dict[str, tuple[str, bool] | tuple[str, bool, bool]] = (
            read_tagged_map(self.path, self.MAGIC) or {}
        )
        self._saved = dict(self.entries)

    def note(self, mpath: str, data: bytes, ignore_line_added: bool) -> None:
        """Record a manifest this checkout creates (before it writes its files)."""
        from .hashing import hash_bytes

        digest = hash_bytes(data)
        known = self.entries.get(mpath)
        # whether the path held no files when the manifest was brought: only then are
        # its files the checkout's own, to take away with it
        empty = (
            known[2]
            if isinstance(known, tuple) and len(known) == 3 and known[0] == digest
            else not os.path.lexists(self.ws.root / mf.tracked_path(mpath))
        )
        self.entries[mpath] = (digest, ignore_line_added, empty)

    def _absent(self, manifests: dict[str, bytes], only: Sequence[str]) -> list[str]:
        """The noted manifests that the revision checked out lacks, among the paths asked."""
        return [
            mpath
            for mpath in sorted(self.entries)
            if mpath not in manifests
            and (not only or any(mf.overlaps(o, mf.tracked_path(mpath)) for o in only))
        ]

    def going(self, manifests: dict[str, bytes], only: Sequence[str]) -> dict[str, bytes]:
        """{manifest: bytes} of what :meth:`remove_absent` takes away: brought by an earlier
        checkout, absent at the revision, unchanged since and not staged (else the user's)."""
        from .hashing import hash_bytes

        found: dict[str, bytes] = {}
        for mpath in self._absent(manifests, only):
            record = self.entries[mpath]
            try:
                data = (self.ws.root / mpath).read_bytes()
            except OSError:
                continue
            if (
                isinstance(record, tuple)
                and len(record) in (2, 3)
                and hash_bytes(data) == record[0]
            ):
                found[mpath] = data
        if found:
            staged = set(self.ws.repo.ls_files(["*" + mf.SUFFIX]))
            found = {m: data for m, data in found.items() if m not in staged}
        return found

    def remove_absent(
        self, manifests: dict[str, bytes], only: Sequence[str], result: CheckoutResult
    ) -> None:
        """Remove what an earlier checkout brought and the revision now checked out lacks."""
        if not self.entries:
            return
        root = self.ws.root
        going = self.going(manifests, only)
        lines: list[str] = []  # the .gitignore lines to take away, in one write at the end
        try:
            for mpath in self._absent(manifests, only):
                record = self.entries.pop(mpath)
                rel = mf.tracked_path(mpath)
                data = going.get(mpath)
                if data is None:  # changed or staged since: the user's now
                    if not os.path.lexists(root / mpath):  # noted, never written (killed first)
                        if isinstance(record, tuple) and len(record) in (2, 3) and record[1]:
                            lines.append(rel)
                    continue
                assert isinstance(record, tuple)
                if len(record) == 3 and record[2]:  # the files are the checkout's own
                    result.deleted += self._remove_payload(mpath, data)
                (root / mpath).unlink()
                if record[1]:
                    lines.append(rel)
                result.manifests_removed.append(mpath)
        finally:
            gitignore.remove_many(root, lines)

    def _remove_payload(self, mpath: str, data: bytes) -> list[str]:
        """The files a checkout brought with a manifest (the path held none before),
        removed with it if they are still exactly what it lists and the cache holds every
        one of them (as git removes the files of a commit it leaves); else left, as
        ``untrack`` leaves them. Without this, the return left them untracked beside a
        ``.gitignore`` that no longer names them, one ``git add -A`` away from git."""
        try:
            status = self.ws.status_of(mpath, data=data)
            manifest = self.ws.parse_manifest(mpath, data)
        except GitstoreError:
            return []
        if status.state != "unchanged" or manifest is None:
            return []
        oids = {e.oid for e in manifest.entries}
        if oids - self.ws.cache.exists(oids):
            return []
        rel = mf.tracked_path(mpath)
        target = self.ws.root / rel
        if manifest.kind == "dir":
            import shutil

            files = [f"{rel}/{e.path}" for e in manifest.entries]
            shutil.rmtree(target, ignore_errors=True)
        else:
            files = [rel]
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
        return files

    def save(self) -> None:
        if self.entries == self._saved:
            return
        from .stores.local import write_tagged_map

        write_tagged_map(self.path, self.MAGIC, self.entries)  # lost: the manifest stays
        self._saved = dict(self.entries)
