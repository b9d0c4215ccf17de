"""Garbage collection: delete the objects that nothing needs, in the cache or a remote.

An object is *needed* (kept) when any of these names it:

- a manifest in the working tree or the index of any registered repository
  (and of each of its linked worktrees);
- a manifest in any commit reachable from any branch, tag, remote-tracking ref,
  stash, worktree HEAD or reflog entry of any registered repository — every
  ancestor, not only first parents;
- a view the Python API handed out under ``<cache>/views/<id>/`` that was used
  within the grace period (views older than that are deleted);

and an object younger than the grace period (its mtime; ``Cache.ingest``
refreshes it whenever it finds the object already present) is never deleted.
Manifests are gathered once per distinct git blob: history is walked commit by
commit and only the manifests a commit changed relative to its first parent
are read, so a long history costs one tree diff per commit.

The cache's collector holds ``gc.lock`` exclusively while it computes the kept
set and deletes; writers (track, checkout, fetch) hold it shared, so an object
can never be deleted between being found in the cache and being named by a
manifest. A manifest that does not parse protects every oid-shaped string in
it. A registered repository whose git folder is gone is dropped with a note;
one that exists but cannot be read stops the collection (deleting would be a
guess).

On a remote, see :mod:`gitstore.gc_remote`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat as statmod
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import manifest as mf
from .errors import GitstoreError, ManifestError, UsageError
from .gitrepo import GitRepo
from .layout import is_oid

if TYPE_CHECKING:
    from .api import Context
    from .cache import Cache

DEFAULT_GRACE = 24 * 3600.0
VIEW_MARKER = ".gitstore-view"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_OID_BYTES = re.compile(rb"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")


def parse_duration(text: str) -> float:
    """Seconds in ``0``, ``90m``, ``24h``, ``7d``, ``2w`` or ``45s`` (bare numbers are seconds)."""
    match = _DURATION.match(text)
    if not match:
        raise UsageError(f"'{text}' is not a duration; use e.g. 0, 90m, 24h or 7d")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


@dataclass
class GcResult:
    """What a collection deleted (or would delete, with ``dry_run``)."""

    dry_run: bool
    grace: float
    deleted: list[tuple[str, int]] = field(default_factory=list)  # (oid, size)
    kept_needed: int = 0
    kept_young: int = 0
    tmp_deleted: list[str] = field(default_factory=list)
    views_deleted: list[str] = field(default_factory=list)
    repos: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    remote: str | None = None

    @property
    def freed(self) -> int:
        return sum(size for _, size in self.deleted)

    def to_json(self) -> dict[str, Any]:
        return {
            "remote": self.remote,
            "dry_run": self.dry_run,
            "grace_seconds": self.grace,
            "deleted": [{"oid": o, "size": s} for o, s in self.deleted],
            "freed_bytes": self.freed,
            "kept_needed": self.kept_needed,
            "kept_young": self.kept_young,
            "tmp_deleted": self.tmp_deleted,
            "views_deleted": self.views_deleted,
            "repositories": self.repos,
            "notes": self.notes,
        }


# -- what a repository needs --------------------------------------------------
def oids_in_manifest(data: bytes, source: str, blob_id: str | None = None) -> set[str]:
    """Every oid a manifest names; a manifest that does not parse protects every oid-shaped string."""
    if not mf.has_conflict_markers(data):
        try:
            parsed = mf.parse_cached(data, blob_id, source) if blob_id else mf.parse(data, source)
            return {e.oid for e in parsed.entries}
        except ManifestError:
            pass
    return {m.decode("ascii") for m in _OID_BYTES.findall(data)}


def worktrees(repo: GitRepo) -> list[GitRepo]:
    """The repository's main worktree (when known) and every linked worktree."""
    out: dict[Path, GitRepo] = {}
    if repo.root is not None:
        out[repo.root.resolve()] = GitRepo(repo.git_dir, repo.root, repo.common_dir)
    common = repo.common_dir
    main = common.parent.resolve()
    # a git dir named .git sits in its work tree (an index may be missing: a
    # work tree without one still holds manifests that need their objects)
    if common.name == ".git" and main not in out:
        out[main] = GitRepo(common, common.parent, common)
    listed = common / "worktrees"
    if listed.is_dir():
        for admin in sorted(listed.iterdir()):
            try:
                dotgit = Path(admin.joinpath("gitdir").read_text("utf-8").strip())
            except OSError:
                continue
            root = dotgit.parent
            if root.is_dir() and root.resolve() not in out:
                out[root.resolve()] = GitRepo(admin, root, common)
    return list(out.values())


def history_blobs(repo: GitRepo) -> set[str]:
    """Blob ids of every manifest in every commit reachable from any ref or reflog."""
    blobs: set[str] = set()
    seen: set[str] = set()
    present: dict[str, bool] = {}

    def has(sha: str) -> bool:
        if sha not in present:
            try:
                repo.commit_info(sha)
                present[sha] = True
            except (GitstoreError, KeyError, ValueError):
                present[sha] = False  # beyond a shallow clone's boundary
        return present[sha]

    stack = sorted(repo.all_ref_commits())
    while stack:
        sha = stack.pop()
        if sha in seen:
            continue
        seen.add(sha)
        parents = repo.commit_info(sha).parents
        base = parents[0] if parents and has(parents[0]) else None
        for _path, _old, new in repo.changed_manifests(base, sha):
            if new is not None:
                blobs.add(new)
        stack.extend(p for p in parents if p not in seen and has(p))
    return blobs


def repository_needs(repo: GitRepo, notes: list[str] | None = None) -> set[str]:
    """Every oid one repository still needs (working trees, indexes, history)."""
    needed: set[str] = set()
    blobs = history_blobs(repo)
    for wt in worktrees(repo):
        root = wt.require_worktree()
        blobs |= set(wt.index_manifests().values())
        for mpath in wt.worktree_manifests():
            try:
                data = (root / mpath).read_bytes()
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                continue
            needed |= oids_in_manifest(data, mpath)
    if not worktrees(repo) and notes is not None:
        notes.append(
            f"{repo.common_dir}: no work tree found; only its refs and history protect objects"
        )
    for blob in sorted(blobs):
        needed |= oids_in_manifest(repo.read_blob(blob), f"blob {blob}", blob)
    return needed


# -- views ----------------------------------------------------------------------
def _view_last_used(marker: Path) -> float:
    """A view marker's last use: its ``last_used`` (epoch or ISO 8601), else its mtime."""
    try:
        raw = json.loads(marker.read_text("utf-8"))
        value = raw.get("last_used") if isinstance(raw, dict) else raw
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            from datetime import datetime

            return datetime.fromisoformat(value).timestamp()
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    return marker.stat().st_mtime


def view_needs(view: Path) -> set[str]:
    """Oids a live view relies on: ``oids`` in its marker, and symlinks into the cache."""
    out: set[str] = set()
    try:
        raw = json.loads((view / VIEW_MARKER).read_text("utf-8"))
        if isinstance(raw, dict) and isinstance(raw.get("oids"), list):
            out |= {o for o in raw["oids"] if is_oid(o)}
    except (OSError, ValueError):
        pass
    for folder, dirs, files in os.walk(view):
        for name in files + dirs:
            full = os.path.join(folder, name)
            if os.path.islink(full):
                target = os.path.basename(os.readlink(full))
                if is_oid(target):
                    out.add(target)
    return out


def _rmtree(path: Path) -> None:
    def unprotect(func: Callable[..., Any], target: str, _exc: Any) -> None:
        os.chmod(os.path.dirname(target), 0o755)
        func(target)

    shutil.rmtree(path, onerror=unprotect)  # noqa: B028 - onexc is 3.12+


def sweep_views(cache: Cache, grace: float, now: float, result: GcResult) -> set[str]:
    """Keep views used within ``grace``; delete older ones. Returns the oids live views need."""
    needed: set[str] = set()
    folder = cache.root / "views"
    if not folder.is_dir():
        return needed
    for view in sorted(folder.iterdir()):
        marker = view / VIEW_MARKER
        if not view.is_dir() or view.is_symlink():
            continue
        used = _view_last_used(marker) if marker.exists() else view.stat().st_mtime
        if now - used < grace:
            needed |= view_needs(view)
            continue
        result.views_deleted.append(view.name)
        if not result.dry_run:
            _rmtree(view)
    return needed


# -- the cache ------------------------------------------------------------------
def registered_repositories(
    ctx: Context, result: GcResult, forget_missing: bool = False
) -> list[GitRepo]:
    """This repository and every other one registered as using the cache.

    A registered repository that is not where it was may have been moved (a
    moved one re-registers at its next gitstore command, see
    ``Cache.register_repo``), be on a disk that is not mounted, or be gone:
    its uncommitted and unpushed objects are only in this cache, so nothing
    is deleted until it is back or ``forget_missing`` says it is gone for good.
    """
    repos = [ctx.repo]
    mine = ctx.repo.common_dir.resolve()
    missing = []
    for marker, common in ctx.cache.registered_repos():
        if common.resolve() == mine:
            continue
        if not (common / "HEAD").exists() or not (common / "objects").is_dir():
            if not forget_missing:
                missing.append(common)
                continue
            result.notes.append(f"dropped {common}: the repository no longer exists")
            if not result.dry_run:
                marker.unlink(missing_ok=True)
            continue
        repos.append(GitRepo(common, None, common))
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise GitstoreError(
            f"the repository {missing[0]}{more}, which uses this cache, is not there"
            " (moved, on a disk not mounted, or deleted?); nothing was deleted",
            hint="if it moved, run any gitstore command in its new place; if it is gone"
            " for good, `gitstore gc --forget-missing`",
        )
    return repos


def needed_by_all(ctx: Context, result: GcResult, forget_missing: bool = False) -> set[str]:
    needed: set[str] = set()
    for repo in registered_repositories(ctx, result, forget_missing):
        result.repos.append(str(repo.common_dir))
        try:
            needed |= repository_needs(repo, result.notes)
        except Exception as exc:  # whatever git or dulwich make of it: delete nothing
            why = exc.message if isinstance(exc, GitstoreError) else f"{type(exc).__name__}: {exc}"
            raise GitstoreError(
                f"cannot read the repository {repo.common_dir}, which uses this cache: {why};"
                " nothing was deleted",
                hint="repair it, or remove its line from <cache>/repos/ if it is gone for good",
            ) from exc
    return needed


def _sweep_tmp(cache: Cache, grace: float, now: float, result: GcResult) -> None:
    tmp_dir = cache.store.tmp_dir
    if not tmp_dir.is_dir():
        return
    for entry in os.scandir(tmp_dir):
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        if statmod.S_ISREG(st.st_mode) and now - st.st_mtime >= grace:
            result.tmp_deleted.append(entry.name)
            if not result.dry_run:
                os.unlink(entry.path)


def collect(
    ctx: Context,
    *,
    grace: float = DEFAULT_GRACE,
    dry_run: bool = False,
    on_delete: Callable[[str, int], None] | None = None,
    forget_missing: bool = False,
) -> GcResult:
    """Delete every cache object nothing needs and older than ``grace`` seconds."""
    cache = ctx.cache
    result = GcResult(dry_run=dry_run, grace=grace)
    lock = cache.lock(exclusive=True)
    with lock:
        now = time.time()
        needed = needed_by_all(ctx, result, forget_missing)
        needed |= sweep_views(cache, grace, now, result)
        bumped = False
        for oid in cache.store.list():
            if oid in needed:
                result.kept_needed += 1
                continue
            path = cache.path(oid)
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            if now - st.st_mtime < grace:
                result.kept_young += 1
                continue
            result.deleted.append((oid, st.st_size))
            if not dry_run:
                if not bumped:
                    # before the first deletion: stat caches stop vouching for objects
                    cache.new_generation()
                    bumped = True
                path.unlink(missing_ok=True)
                _prune(path.parent, cache.root)
            if on_delete is not None:
                on_delete(oid, st.st_size)
        _sweep_tmp(cache, grace, now, result)
    return result


def _prune(folder: Path, root: Path) -> None:
    for _ in range(2):  # objects/ab/cd -> objects/ab
        if folder == root:
            return
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
