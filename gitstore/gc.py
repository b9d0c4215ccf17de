"""Garbage collection: delete the objects that nothing needs, in the cache or a remote.

An object is *needed* (kept) when any of these names it:

- a manifest in the working tree or the index of any registered repository
  (and of each of its linked worktrees); the work tree is found as git finds
  it (``core.worktree``, else the folder of a ``.git`` dir), and each index is
  read even when its work tree is not found (see :func:`main_work_trees`);
- a manifest in any commit reachable from any branch, tag, remote-tracking ref,
  stash, worktree HEAD, per-worktree ref (``refs/worktree/*``, ``refs/bisect/*``
  of any linked worktree) or reflog entry of any registered repository — every
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

import contextlib
import json
import os
import re
import shutil
import stat as statmod
import subprocess
import time
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import manifest as mf
from .errors import GitstoreError, ManifestError, RevisionError, UsageError
from .gitrepo import MANIFEST_SUFFIX, GitRepo
from .layout import is_oid

if TYPE_CHECKING:
    from .api import Context
    from .cache import Cache
    from .stores.local import LocalStore

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


class OidUnion:
    """Every oid that any of many manifests names, each distinct line read once.

    The versions of a manifest in history differ in a few lines each: a walk
    that needs only the union of what they name (gc, in the cache and on a
    remote) reads a version's lines that no earlier manifest had, with one
    search for 64-hex runs, instead of parsing every version in full (for
    20,000 entries ~3 ms a version against ~45 ms, and no parsed entries held).

    What it gathers is a superset of what :func:`oids_in_manifest` returns: an
    oid-shaped path or unknown key protects that object too, which errs on the
    side of keeping. It is not a subset only when an oid could be spelled other
    than literally in the bytes, which YAML allows only with escapes in
    double-quoted scalars (``"\\x61..."``, a line ending in a backslash): a
    manifest with a backslash is read by :func:`oids_in_manifest` instead.
    """

    def __init__(self) -> None:
        self.oids: set[str] = set()
        self._lines: set[bytes] = set()

    def add(self, data: bytes, source: str, blob_id: str | None = None) -> None:
        if b"\\" in data:
            self.oids |= oids_in_manifest(data, source, blob_id)
            return
        seen = self._lines
        new = [line for line in data.split(b"\n") if line not in seen]
        if new:
            seen.update(new)
            self.oids.update(m.decode("ascii") for m in _OID_BYTES.findall(b"\n".join(new)))


def _git(
    git_dir: Path, work_tree: Path | None, *args: str, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    """``git ARGS`` on exactly this git dir and work tree, never on one found from a folder.

    Without a work tree the git dir stands in for one (reading an index or a config
    file needs none), so a ``core.worktree`` that is not there does not stop git.
    """
    tree = work_tree if work_tree is not None else git_dir
    options = (f"--git-dir={git_dir}", f"--work-tree={tree}")
    return GitRepo(git_dir, work_tree).git(*options, *args, check=check)


def _core_config(git_dir: Path, want_bare: bool) -> dict[str, str]:
    """``core.worktree`` and ``core.bare`` from the git dir's own config file, read as git
    reads them to set a repository up (no includes, no user config; the last value wins)."""
    config = git_dir / "config"
    try:
        text = config.read_bytes().lower()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return {}
    if b"worktree" not in text and not (want_bare and b"bare" in text):
        return {}  # a plain clone's .git costs no git process
    regexp = r"^core\.(worktree|bare)$"
    proc = _git(
        git_dir, None, "config", "--file", str(config), "-z", "--get-regexp", regexp, check=False
    )
    if proc.returncode == 1:
        return {}
    if proc.returncode != 0:
        lines = os.fsdecode(proc.stderr).strip().splitlines()
        raise GitstoreError(f"git cannot read {config}: {lines[0] if lines else 'no message'}")
    out: dict[str, str] = {}
    for record in os.fsdecode(proc.stdout).split("\0"):
        key, newline, value = record.partition("\n")
        if key:
            out[key.lower()] = value if newline else "true"
    return out


def main_work_trees(common: Path) -> tuple[list[Path], str | None]:
    """The work tree of the git dir ``common`` (the folders that exist), and why it was
    not found (None when it was, or when the repository is bare).

    As git finds it: ``core.worktree`` (relative to the git dir) when set; the folder
    holding a git dir named ``.git`` is kept too. Any other git dir without
    ``core.worktree`` (``--separate-git-dir``, a ``GIT_DIR`` one) does not say where its
    work tree is.
    """
    core = _core_config(common, want_bare=common.name != ".git")
    found: list[Path] = []
    why: str | None = None
    if core.get("core.worktree"):
        configured = Path(os.path.realpath(common / core["core.worktree"]))
        if configured.is_dir():
            found.append(configured)
        else:
            why = f"its work tree {configured} (core.worktree) is not there"
    if common.name == ".git" and common.parent.is_dir():
        found.append(common.parent)
    bare = core.get("core.bare", "false").lower() in ("true", "yes", "on", "1")
    if why is None and not found and not bare:
        why = (
            "its work tree is unknown (a separate git dir?"
            f" `git --git-dir={common} config core.worktree PATH` names it)"
        )
    return found, why


def _linked_admin_dirs(common: Path) -> list[Path]:
    listed = common / "worktrees"
    return sorted(d for d in listed.iterdir() if d.is_dir()) if listed.is_dir() else []


def _linked_root(admin: Path) -> Path | None:
    """The folder of a linked worktree, from its ``gitdir`` file (relative to ``admin``)."""
    try:
        text = admin.joinpath("gitdir").read_text("utf-8").strip()
    except OSError:
        return None
    return Path(os.path.realpath(admin / text)).parent if text else None


def _find_worktrees(repo: GitRepo) -> tuple[list[GitRepo], list[str], list[Path]]:
    """The work trees that exist, one line for each git dir whose work tree was not found,
    and the linked worktrees (``git worktree add``) among those."""
    out: dict[Path, GitRepo] = {}
    missing: list[str] = []
    lost: list[Path] = []
    common = repo.common_dir
    if repo.root is not None:
        out[repo.root.resolve()] = GitRepo(repo.git_dir, repo.root, common)
    # a work tree may have no index: it still holds manifests that need their objects
    mains, why = main_work_trees(common)
    for main in mains:
        out.setdefault(main.resolve(), GitRepo(common, main, common))
    if why is not None and not (repo.root is not None and repo.git_dir == common):
        missing.append(f"{common}: {why}")
    for admin in _linked_admin_dirs(common):
        linked = _linked_root(admin)
        if linked is not None and linked.is_dir():
            out.setdefault(linked.resolve(), GitRepo(admin, linked, common))
        elif linked is not None and (admin / "index").is_file():
            missing.append(f"{admin}: its work tree {linked} is not there")
            lost.append(linked)
    return list(out.values()), missing, lost


def worktrees(repo: GitRepo) -> list[GitRepo]:
    """The repository's main work tree (when found) and every linked worktree that exists."""
    return _find_worktrees(repo)[0]


def index_blobs(git_dir: Path) -> set[str]:
    """Blob ids of every manifest in the index of ``git_dir``, conflicted stages too.

    The index lives in the git dir, so it is read whether or not its work tree is found.
    """
    if not (git_dir / "index").is_file():
        return set()
    out = _git(git_dir, None, "ls-files", "-s", "-z", "--", "*" + MANIFEST_SUFFIX).stdout
    blobs = set()
    for record in out.split(b"\0"):
        meta, tab, path = record.partition(b"\t")
        if tab and path.endswith(MANIFEST_SUFFIX.encode()):
            blobs.add(meta.split(b" ")[1].decode("ascii"))
    return blobs


def work_tree_manifests(wt: GitRepo) -> list[str]:
    """Every ``*.gitstore`` in ``wt``'s work tree, staged or not (ignored ones excepted)."""
    root = wt.require_worktree()
    args = ("ls-files", "-z", "-c", "-o", "--exclude-standard", "--", "*" + MANIFEST_SUFFIX)
    found = _git(wt.git_dir, root, *args).stdout.split(b"\0")
    return sorted({os.fsdecode(p) for p in found if p.endswith(MANIFEST_SUFFIX.encode())})


def history_blobs(repo: GitRepo) -> dict[str, None]:
    """Blob ids of every manifest in every commit reachable from any ref or reflog, in
    the order the walk met them (git's delta-base cache reads them fastest so)."""
    blobs: dict[str, None] = {}
    seen: set[str] = set()
    present: dict[str, bool] = {}

    def has(sha: str) -> bool:
        if sha not in present:
            # absent: pruned by git gc with the reflog that named it, or beyond a
            # shallow boundary. Never fetched: a partial clone has every commit.
            present[sha] = repo.has_object(sha)
            if present[sha]:
                try:
                    repo.commit_info(sha)
                except (GitstoreError, KeyError, ValueError):
                    present[sha] = False
        return present[sha]

    commits: list[tuple[str, list[str]]] = []
    stack = sorted(repo.all_ref_commits())
    while stack:
        sha = stack.pop()
        if sha in seen:
            continue
        seen.add(sha)
        parents = list(repo.commit_info(sha).parents)
        commits.append((sha, parents))
        stack.extend(p for p in parents if p not in seen and has(p))
    # a partial clone (--filter=tree:0) lacks the trees: one fetch for all of them
    repo.prefetch_trees(sha for sha, _ in commits)
    for sha, parents in commits:
        base = parents[0] if parents and has(parents[0]) else None
        for _path, _old, new in repo.changed_manifests(base, sha):
            if new is not None:
                blobs[new] = None
    return blobs


class WorktreeMissing(GitstoreError):
    """A linked worktree is not where git says: gc deletes nothing."""


def repository_needs(
    repo: GitRepo,
    notes: list[str] | None = None,
    forget_missing: bool = False,
    into: OidUnion | None = None,
) -> set[str]:
    """Every oid one repository still needs (work trees, indexes, history), gathered
    into ``into`` (a new union when None) and returned with what it held already.

    Every index is read, that of a git dir whose work tree is not found too; what
    is only on disk in such a work tree is unknown, and a note says so. A linked
    worktree (``git worktree add``) that is not where git says stops everything,
    as a registered repository that is not there does (moved by hand, on a disk
    not mounted: its manifests that are on disk only would lose their objects),
    unless ``forget_missing``.
    """
    needed = OidUnion() if into is None else into
    common = repo.common_dir
    trees, missing, lost = _find_worktrees(repo)
    if lost and not forget_missing:
        more = f" (and {len(lost) - 1} more)" if len(lost) > 1 else ""
        locked = [
            a for a in _linked_admin_dirs(common) if (a / "locked").exists()
        ]  # `git worktree lock`: prune leaves it; unlock first if it is gone for good
        raise WorktreeMissing(
            f"the linked worktree {lost[0]}{more} of {common} is not there (moved,"
            " on a disk not mounted, or deleted?); nothing was deleted",
            hint=(
                "it is locked (`git worktree lock`): if it is gone for good, `git worktree"
                " unlock` it first; "
                if locked
                else ""
            )
            + "if it was deleted, `git worktree prune`; if it moved, `git worktree repair"
            " PATH` with its new place; if it is only away, wait, or `gitstore gc"
            " --forget-missing` to protect only its index, refs and history",
        )
    blobs = history_blobs(repo)
    for wt in trees:
        root = wt.require_worktree()
        for mpath in work_tree_manifests(wt):
            try:
                data = (root / mpath).read_bytes()
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                continue
            needed.add(data, mpath)
    for git_dir in dict.fromkeys([common, repo.git_dir, *_linked_admin_dirs(common)]):
        blobs.update(dict.fromkeys(sorted(index_blobs(git_dir))))
    if notes is not None:
        notes.extend(
            f"{where}; only its index, refs and history protect objects" for where in missing
        )
    for blob, data in repo.iter_blobs(list(blobs)):
        needed.add(data, f"blob {blob}", blob)
    return needed.oids


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


def drop_views_linking(
    cache: Cache, inodes: set[tuple[int, int]], copies: AbstractSet[tuple[str, int]] = frozenset()
) -> tuple[list[str], dict[str, str]]:
    """Delete every view holding a file that is one of ``inodes``: (deleted, {view: why not}).

    ``copies``: (BLAKE3, size) of the bad bytes; a view's copy of an object (an
    executable file cannot be a hard link to a read-only object) of one of
    those sizes is hashed, and its view deleted when it holds those bytes.

    ``verify --repair`` calls this for the corrupt objects it moved aside: a
    view is hard links to objects, so it still held their bad bytes, and the
    next ``get`` would have handed them out. A dropped view is built again,
    from the repaired objects, at its next use. Each is renamed away first,
    so that a concurrent ``get`` sees it whole or not at all.
    """
    folder = cache.root / "views"
    dropped: list[str] = []
    failed: dict[str, str] = {}
    if not folder.is_dir():
        return dropped, failed
    for view in sorted(folder.iterdir()):
        if view.name.startswith(".") or not view.is_dir() or view.is_symlink():
            continue
        if not any(_holds_bad(path, st, inodes, copies) for path, st in _lstats(view)):
            continue
        try:
            _drop_view(view)
        except OSError as exc:
            failed[str(view)] = f"cannot delete this view of the corrupt bytes: {exc.strerror}"
            continue
        dropped.append(view.name)
    return dropped, failed


def _lstats(top: Path) -> Iterator[tuple[str, os.stat_result]]:
    for folder, _dirs, files in os.walk(top):
        for name in files:
            path = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                yield path, os.lstat(path)


def _holds_bad(
    path: str,
    st: os.stat_result,
    inodes: set[tuple[int, int]],
    copies: AbstractSet[tuple[str, int]],
) -> bool:
    if (st.st_dev, st.st_ino) in inodes:
        return True
    if st.st_nlink != 1 or not statmod.S_ISREG(st.st_mode):
        return False
    if not any(size == st.st_size for _digest, size in copies):
        return False
    from .hashing import hash_file

    try:
        digest = hash_file(path)[0]
    except GitstoreError:
        return False
    return (digest, st.st_size) in copies


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
        with _unless_in_use(marker) as free:
            if not free:  # a running process got it (see pyapi._pin): still read
                needed |= view_needs(view)
                continue
            result.views_deleted.append(view.name)
            if not result.dry_run:
                with contextlib.suppress(OSError):  # what is left is swept next time
                    _drop_view(view)
    return needed


def _drop_view(view: Path) -> None:
    """Rename a view away, then delete it: a reader sees it whole or not at all."""
    doomed = view.parent / f".tmp-drop-{os.urandom(8).hex()}"
    os.rename(view, doomed)
    _rmtree(doomed)


@contextlib.contextmanager
def _unless_in_use(marker: Path) -> Iterator[bool]:
    """Lock a view's marker exclusively while it is deleted; False when a process holds it."""
    import fcntl

    try:
        fd = os.open(marker, os.O_RDONLY)
    except OSError:
        yield True  # no marker: no process can hold it
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


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
    from .cache import registered_token, registered_work_tree, repository_token, same_inode

    repos = [ctx.repo]
    mine = ctx.repo.common_dir.resolve()
    missing: list[tuple[Path, bool]] = []  # (git dir, another repository is there)
    seen: set[Path] = set()
    for marker, common, identity in ctx.cache.registered_identities():
        gone = not _present(common / "HEAD") or not _present(common / "objects", folder=True)
        if not gone and identity:
            try:
                st = os.stat(common)
                # another repository at its path (``mv a a-old; git init a``), unless
                # the same one came back (a copy restored in place: its token)
                gone = not same_inode(identity, f"{st.st_dev}:{st.st_ino}")
                token = registered_token(marker)
                if gone and token and token == repository_token(common):
                    gone = False
            except PermissionError:
                pass  # another user's, private to them: read, it stops the collection
            except OSError:
                gone = True
        if not gone and common.resolve() == mine:
            continue
        if gone:
            if not forget_missing:
                if all(common != path for path, _there in missing):  # (its older marker too)
                    missing.append((common, _present(common / "HEAD")))
                continue
            why = (
                "another repository is there now"
                if _present(common / "HEAD")
                else "the repository no longer exists"
            )
            verb = "would drop" if result.dry_run else "dropped"
            result.notes.append(f"{verb} {common}: {why}")
            if not result.dry_run:
                marker.unlink(missing_ok=True)
            continue
        if common.resolve() not in seen:
            seen.add(common.resolve())
            tree = registered_work_tree(marker)  # GIT_WORK_TREE with a bare git dir
            repos.append(
                GitRepo(common, tree if tree and _present(tree, folder=True) else None, common)
            )
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise GitstoreError(
            f"the repository {missing[0][0]}{more}, which uses this cache, is not there"
            + (
                " (another repository is there now: it was moved or deleted?)"
                if missing[0][1]
                else " (moved, on a disk not mounted, or deleted?)"
            )
            + "; nothing was deleted",
            hint="if it moved, run any gitstore command in its new place; if it is gone"
            " for good, `gitstore gc --forget-missing`",
        )
    return repos


def _present(path: Path, folder: bool = False) -> bool:
    """Whether ``path`` is there; one that cannot be looked at (another user's) is.

    Such a repository is then read, fails, and stops the collection with a
    line naming it: deleting what it may need is never the answer.
    """
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return True
    return statmod.S_ISDIR(st.st_mode) if folder else True


def needed_by_all(ctx: Context, result: GcResult, forget_missing: bool = False) -> set[str]:
    needed = OidUnion()  # clones of one dataset share most lines
    for repo in registered_repositories(ctx, result, forget_missing):
        result.repos.append(str(repo.common_dir))
        try:
            repository_needs(repo, result.notes, forget_missing, needed)
        except WorktreeMissing:
            raise
        except Exception as exc:  # whatever git or dulwich make of it: delete nothing
            why = exc.message if isinstance(exc, GitstoreError) else f"{type(exc).__name__}: {exc}"
            raise GitstoreError(
                f"cannot read the repository {repo.common_dir}, which uses this cache: {why};"
                " nothing was deleted",
                # a partial clone whose git remote is away says when to run again
                hint=exc.hint
                if isinstance(exc, RevisionError) and exc.hint
                else "repair it, or remove its line from <cache>/repos/ if it is gone for good",
            ) from exc
    return needed.oids


# the names gitstore gives what it writes in the cache's tmp/ (cache.py, transfer.py,
# maintenance.py, partial.py, stores/local.py): gc removes nothing else there
TMP_NAMES = re.compile(
    r"(?:fetch-)?[0-9a-f]{16}-[0-9]+|(?:repair-)?[0-9a-f]{32}|partial-[0-9a-f]{64}(?:\.ranges)?"
)


def _sweep_tmp(cache: Cache, grace: float, now: float, result: GcResult) -> None:
    from .cache import sweep_dead_writers

    # what writers that died left, at once (their lock is free); the rest after grace
    result.tmp_deleted += sweep_dead_writers(str(cache.root), result.dry_run)
    result.tmp_deleted += cache.store.sweep_hidden_folders(now - grace, result.dry_run)
    tmp_dir = cache.store.tmp_dir
    if not tmp_dir.is_dir():
        return
    for entry in os.scandir(tmp_dir):
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        # anything but a folder: a symlink or a FIFO planted at a partial file's
        # name is never used (gitstore/partial.py), and never removed otherwise
        if not TMP_NAMES.fullmatch(entry.name):
            continue  # not gitstore's: a cache.dir set to a folder of the user's own
        if not statmod.S_ISDIR(st.st_mode) and now - st.st_mtime >= grace:
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
                try:
                    path.unlink(missing_ok=True)
                except OSError as exc:
                    raise _stopped(cache.store, oid, exc, len(result.deleted) - 1) from exc
                _prune(path.parent, cache.root)
            if on_delete is not None:
                on_delete(oid, st.st_size)
        _sweep_tmp(cache, grace, now, result)
    return result


def _stopped(store: LocalStore, oid: str, exc: OSError, before: int) -> GitstoreError:
    """The error of a collection that could not delete ``oid``, ``before`` objects in."""
    from .progress import count

    error = store.write_error(f"cannot delete object {oid} from {store.url}", exc)
    done = f"{count(before, 'object')} deleted before it" if before else "nothing deleted"
    error.message += f" ({done}; what is left is collected by the next gc)"
    return error


def _prune(folder: Path, root: Path) -> None:
    for _ in range(2):  # objects/ab/cd -> objects/ab
        if folder == root:
            return
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
