"""Verify and repair: re-hash stored objects and put good copies back.

:func:`verify` re-hashes every object of the cache (or, with ``remote``, of a
remote, streaming each object through the hasher without a local copy) and
reports every object whose bytes do not match its name (an error) and every
object the working tree's manifests need that the store lacks (a note, an
error with ``complete``). With ``repair``, a bad or missing cache object is
replaced from the first remote (in fetch order) that has a good copy — the
bytes are hashed on the way in, as for fetch, so a bad remote copy is refused
— and a bad object in a remote is replaced from a good copy in the cache
(a bad or missing cache copy is repaired first, as above).
Repairs hold the cache lock shared, like every other writer of the cache.
"""

from __future__ import annotations

import contextlib
import os
import stat as statmod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import faults
from .errors import GitstoreError, IntegrityError, ObjectNotFoundError, StoreError
from .hashing import copy_and_hash, hash_file, new_hasher
from .progress import NullProgress, Progress, count

if TYPE_CHECKING:
    from .api import Context
    from .stores.base import Store

CHUNK = 1 << 20


@dataclass
class VerifyReport:
    where: str  # "cache" or "remote 'NAME'"
    checked: int = 0
    corrupt: list[str] = field(default_factory=list)
    missing: dict[str, list[str]] = field(default_factory=dict)  # oid -> working-tree paths
    unreadable: dict[str, str] = field(default_factory=dict)  # oid -> reason
    repaired: dict[str, str] = field(default_factory=dict)  # oid -> where the good copy came from
    unrepaired: dict[str, str] = field(default_factory=dict)  # oid -> why not
    moved_aside: dict[str, str] = field(default_factory=dict)  # oid -> where its bad bytes went
    links_kept: list[str] = field(default_factory=list)  # links to them made files of their bytes
    views_dropped: list[str] = field(default_factory=list)  # API views that linked them
    found: dict[str, tuple[str, int]] = field(default_factory=dict)  # corrupt oid -> (hash, size)
    complete: bool = False
    paths: dict[str, str] = field(default_factory=dict)  # oid -> a working-tree path naming it

    def errors(self) -> list[str]:
        """Oids still in error: corrupt or unreadable, and missing with ``complete``."""
        bad = [o for o in self.corrupt + sorted(self.unreadable) if o not in self.repaired]
        if self.complete:
            bad += [o for o in self.missing if o not in self.repaired]
        return bad

    def to_json(self) -> dict[str, Any]:
        return {
            "where": self.where,
            "checked": self.checked,
            "corrupt": self.corrupt,
            "missing": self.missing,
            "unreadable": self.unreadable,
            "repaired": self.repaired,
            "unrepaired": self.unrepaired,
            "moved_aside": self.moved_aside,
            "links_kept": self.links_kept,
            "views_dropped": self.views_dropped,
            "errors": self.errors(),
        }


def stream_hash(store: Store, oid: str) -> str:
    """BLAKE3 of an object streamed from ``store``; no local copy is written."""
    hasher = new_hasher()
    with store.open(oid) as stream:
        while True:
            block = stream.read(CHUNK)
            if not block:
                break
            hasher.update(block)
    return str(hasher.hexdigest())


def _needed_by_worktree(ctx: Context) -> dict[str, list[str]]:
    from .api import ls

    needed: dict[str, list[str]] = {}
    if ctx.repo.root is not None:
        for f in ls(ctx, None):
            needed.setdefault(f.oid, []).append(f.path)
    return needed


def _check_all(
    oids: list[str], check: Any, jobs: int, progress: Progress, what: str
) -> list[tuple[str, str | None, str | None]]:
    """Run ``check(oid) -> (actual oid | None, error | None)`` over every oid in a pool."""
    progress.start(what, len(oids))

    def one(oid: str) -> tuple[str, str | None, str | None]:
        try:
            actual, error = check(oid)
        finally:
            progress.advance(0)
        return oid, actual, error

    try:
        with ThreadPoolExecutor(max_workers=max(2, jobs)) as pool:
            return list(pool.map(one, oids))
    finally:
        progress.done()


def verify(
    ctx: Context,
    *,
    remote: str | None = None,
    repair: bool = False,
    complete: bool = False,
    progress: Progress | None = None,
) -> VerifyReport:
    """Re-hash the cache (or the remote ``remote``); see the module docstring."""
    progress = progress or NullProgress()
    jobs = ctx.config.jobs
    if remote is not None:
        from .remotes import open_remote

        name, store = open_remote(ctx, remote, for_write=repair)
        report = VerifyReport(f"remote '{name}'", complete=complete)

        def check_remote(oid: str) -> tuple[str | None, str | None]:
            try:
                return stream_hash(store, oid), None
            except ObjectNotFoundError:
                return None, None  # deleted since it was listed (a gc): not an error
            except GitstoreError as exc:
                return None, exc.message

        results = _check_all(sorted(store.list()), check_remote, jobs, progress, f"verify {name}")
        needed = _needed_by_worktree(ctx)
        have = store.exists(needed)
    else:
        cache = ctx.cache
        report = VerifyReport("cache", complete=complete)

        def check_cache(oid: str) -> tuple[str | None, str | None]:
            try:
                if not statmod.S_ISREG(os.lstat(cache.path(oid)).st_mode):
                    return "", None  # a symlink or a folder in its place: corrupt, moved aside
                return hash_file(cache.path(oid))[0], None
            except FileNotFoundError:
                return None, None  # deleted since it was listed (a gc): not an error
            except (GitstoreError, OSError) as exc:
                if not os.path.lexists(cache.path(oid)):
                    return None, None
                return None, exc.message if isinstance(exc, GitstoreError) else str(exc)

        listed = sorted(cache.store.list())
        faults.verify_pause()
        results = _check_all(listed, check_cache, jobs, progress, "verify cache")
        needed = _needed_by_worktree(ctx)
        have = cache.exists(needed)
    results = [r for r in results if r[1] is not None or r[2] is not None]  # not vanished
    report.checked = len(results)
    for oid, actual, error in results:
        if error is not None:
            report.unreadable[oid] = error
        elif actual != oid:
            report.corrupt.append(oid)
            if actual and remote is None:
                with contextlib.suppress(OSError):
                    report.found[oid] = (actual, os.lstat(cache.path(oid)).st_size)
    report.missing = {o: p for o, p in sorted(needed.items()) if o not in have}
    report.paths = {o: p[0] for o, p in needed.items() if p}
    if repair:
        if remote is None:
            _repair_cache(ctx, report, needed)
        else:
            _repair_remote(ctx, store, report, needed)
    return report


def _repair_cache(ctx: Context, report: VerifyReport, needed: dict[str, list[str]]) -> None:
    from .remotes import fetch_order, open_remote

    todo = report.corrupt + sorted(report.unreadable) + list(report.missing)
    if not todo:
        return
    cache = ctx.cache
    with ctx.workspace.cache_lock():
        # a corrupt object's bytes are never thrown away: they may be an edit
        # made through a symlink checkout's link, which status shows
        execs = _execs(ctx) if report.corrupt else {}
        inodes = set()
        for oid in report.corrupt:
            inode = _inode(cache.path(oid))
            _move_aside(ctx, report, oid, needed.get(oid, []), execs)
            if oid in report.moved_aside and inode is not None:
                inodes.add(inode)
        if inodes:  # the Python API's views hard-link objects (or copy them): the bad bytes too
            from .gc import drop_views_linking

            copies = {found for oid, found in report.found.items() if oid in report.moved_aside}
            report.views_dropped, left = drop_views_linking(cache, inodes, copies)
            report.unrepaired.update(left)
        todo = [o for o in todo if o not in report.unrepaired]
        for oid in todo:
            where = _repair_from_workspace(ctx, oid, needed.get(oid, []))
            if where is not None:
                report.repaired[oid] = where
        cache.sync()
    todo = [o for o in todo if o not in report.repaired]
    if not todo:
        return
    stores: list[tuple[str, Store]] = []
    for name in fetch_order(ctx):
        try:
            stores.append(open_remote(ctx, name))
        except GitstoreError as exc:
            report.unrepaired.setdefault("*", f"remote '{name}': {exc.message}")
    with ctx.workspace.cache_lock():
        for oid in todo:
            reasons = []
            for name, store in stores:
                try:
                    _fetch_verified(cache, store, oid)
                except GitstoreError as exc:
                    reasons.append(f"remote '{name}': {exc.message}")
                    continue
                report.repaired[oid] = f"the remote '{name}'"
                break
            else:
                report.unrepaired[oid] = "; ".join(reasons) or (
                    "no work tree file has its content and no remote is configured"
                )
        cache.sync()


def _inode(path: os.PathLike[str]) -> tuple[int, int] | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _execs(ctx: Context) -> dict[str, bool]:
    """The executable bit of every file the working tree's manifests list, by path."""
    from .api import ls

    return {f.path: f.exec for f in ls(ctx, None)} if ctx.repo.root is not None else {}


def _move_aside(
    ctx: Context, report: VerifyReport, oid: str, paths: list[str], execs: dict[str, bool]
) -> None:
    """Take a corrupt object out of the cache, into ``<cache>/bad/``, before any repair.

    As ``git annex fsck`` does: the cache no longer hands out bytes that are
    not what their name says (until a good copy turns up, the files that
    need it are missing it), and the bytes are kept for the user to look at.
    A symlink checkout's link to the object becomes a file holding those
    bytes first (they may be the user's own edit, made through the link), so
    the work tree shows exactly what it showed before. One that cannot be
    moved is left alone, and not repaired (unrepaired, with the reason).
    """
    cache = ctx.cache
    root = ctx.repo.root
    for rel in paths:
        if root is None:
            break
        full = os.path.join(root, rel)
        if cache.oid_of_link(full) != oid:
            continue
        try:
            cache.materialise(oid, full, execs.get(rel, False), ("copy",))
        except (OSError, GitstoreError) as exc:
            report.unrepaired[oid] = f"left as it is: cannot replace the link {rel}: {exc}"
            return
        report.links_kept.append(rel)
    try:
        report.moved_aside[oid] = str(cache.move_aside(oid))
    except OSError as exc:
        report.unrepaired[oid] = f"left as it is: cannot move it aside: {exc.strerror}"


def _repair_from_workspace(ctx: Context, oid: str, paths: list[str]) -> str | None:
    """Copy a work tree file that hashes to ``oid`` back into the cache; where it came from."""
    root = ctx.repo.root
    if root is None:
        return None
    cache = ctx.cache
    for rel in paths:
        full = root / rel
        try:
            if not full.is_file() or full.is_symlink():
                continue
            tmp, fd = cache.store.new_tmp()
            try:
                try:
                    # the bytes copied are the bytes hashed (a sparse file stays sparse)
                    copied = copy_and_hash(full, fd)[0]
                finally:
                    os.close(fd)
                if copied != oid:  # another file, or changed since
                    continue
                cache.adopt_verified(tmp, oid)
            finally:
                tmp.unlink(missing_ok=True)
        except (OSError, GitstoreError):
            continue
        return f"the work tree's {rel}"
    return None


def _fetch_verified(cache: Any, store: Store, oid: str) -> None:
    """Download ``oid`` into the cache's tmp folder (hashed on the way), then put it in place."""
    cache.store.make_dirs(cache.store.tmp_dir)
    tmp = cache.store.tmp_dir / f"repair-{os.urandom(16).hex()}"
    try:
        store.get(oid, tmp)  # raises IntegrityError, naming the store, on a bad copy
        cache.adopt_verified(tmp, oid)  # rename over a corrupt object, if any
    except OSError as exc:
        raise StoreError(f"cannot write object {oid} to the cache: {exc.strerror}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def _repair_remote(
    ctx: Context, store: Store, report: VerifyReport, needed: dict[str, list[str]]
) -> None:
    """Put the cache's good copy of every bad object of the remote back in the remote.

    Where the cache's copy is missing or corrupt too, the cache is repaired
    first, as `gitstore verify --repair` does (from a work tree file with the
    same bytes, else another remote's good copy): without that, the hint to
    run `--repair` again went round in a loop.
    """
    cache = ctx.cache
    todo = report.corrupt + sorted(report.unreadable) + list(report.missing)
    fix = VerifyReport("cache")
    for oid in todo:
        if not cache.has(oid):
            fix.missing[oid] = needed.get(oid, [])
            continue
        actual = hash_file(cache.path(oid))[0]
        if actual != oid:
            fix.corrupt.append(oid)
            with contextlib.suppress(OSError):
                fix.found[oid] = (actual, os.lstat(cache.path(oid)).st_size)
    if (fix.corrupt or fix.missing) and ctx.repo.root is not None:  # (its lock: a work tree's)
        _repair_cache(ctx, fix, needed)
        report.moved_aside.update(fix.moved_aside)
        report.links_kept += fix.links_kept
        report.views_dropped += fix.views_dropped
    for oid in todo:
        if oid in fix.corrupt or oid in fix.missing:
            if oid not in fix.repaired:
                had = "is corrupt too" if oid in fix.corrupt else "has no copy"
                why = fix.unrepaired.get(oid) or fix.unrepaired.get("*")
                report.unrepaired[oid] = f"the cache's copy {had}" + (f", and {why}" if why else "")
                continue
        try:
            store.delete(oid)
            store.put(oid, cache.path(oid))
        except GitstoreError as exc:
            report.unrepaired[oid] = exc.message
            continue
        came = fix.repaired.get(oid)
        report.repaired[oid] = f"the cache (put back there from {came})" if came else "the cache"


def raise_for_verify(report: VerifyReport) -> None:
    """The error the CLI exits with while any error remains."""
    errors = report.errors()
    if not errors:
        return
    corrupt = [o for o in report.corrupt if o not in report.repaired]
    if corrupt:
        tried = report.repaired or report.unrepaired or report.moved_aside
        raise IntegrityError(
            f"{count(len(corrupt), 'object')} in the {report.where} {'does' if len(corrupt) == 1 else 'do'} not match {'its name' if len(corrupt) == 1 else 'their names'}, e.g. {corrupt[0]}",
            hint=None
            if tried
            else "run the same `gitstore verify` with `--repair`: it keeps the bad bytes aside and"
            " puts a good copy back from the cache or a remote",
        )
    missing = [o for o in errors if o in report.missing]
    if not missing:
        raise IntegrityError(
            f"{count(len(errors), 'object')} in the {report.where}"
            f" {'is' if len(errors) == 1 else 'are'} unreadable, e.g. {errors[0]}:"
            f" {report.unreadable[errors[0]]}",
            hint="run `gitstore verify --repair`",
        )
    raise IntegrityError(
        f"{count(len(errors), 'object')} needed by the working tree {'is' if len(errors) == 1 else 'are'} missing from or unreadable in the"
        f" {report.where}, e.g. {errors[0]}",
        hint="run `gitstore fetch`, or `gitstore verify --repair`",
    )
