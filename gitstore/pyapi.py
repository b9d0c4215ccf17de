"""The Python API: tracked files at any revision, for training code and notebooks.

``open``, ``read`` and ``get`` find a tracked file (or folder) at a revision —
the working tree's manifest when ``rev`` is None — by reading one manifest,
at that commit through git or from the working tree's manifest file, so they
work in a clone whose workspace was never checked out. Bytes come from the
cache; an object that is not there is fetched from the remotes first, and
hashed on the way in. :class:`Repo` offers the same verbs as the CLI and
returns typed objects (the CLI's ``--json`` is rendered from the same ones).
Paths are relative to the repository root, or absolute inside it. Errors are
the :mod:`gitstore.errors` exceptions, with the CLI's messages.

A tracked folder given to :func:`get` is materialised once, read-only, under
the cache's ``views/<id>/<folder name>/`` where ``id`` is the BLAKE3 of the
manifest bytes (and the sub-folder asked for). ``views/<id>/.gitstore-view``
records the last use; its mtime is refreshed by every ``get``, and ``gc``
keeps a view whose marker is younger than its grace period, or that a
running process got (it holds a shared ``flock`` on the marker).
"""

from __future__ import annotations

import bisect
import collections
import json
import os
import posixpath
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from . import manifest as mf
from .cache import check_size
from .errors import ObjectNotFoundError, PathError, TransferError
from .progress import count

if TYPE_CHECKING:
    from .api import Context, TrackedFile
    from .cache import Cache
    from .checkout import CheckoutResult
    from .history import Diff, LogEntry
    from .workspace import PathStatus

__all__ = ["Repo", "Tracked", "get", "normalise_path", "open", "read"]

VIEWS = "views"
VIEW_MARKER = ".gitstore-view"
FETCH_LOCK = "fetch.lock"


@dataclass(frozen=True)
class Tracked:
    """What a path names at a revision: a file (``entries`` of one) or a folder."""

    path: str  # repository-relative, as asked
    manifest: str  # the manifest path
    manifest_data: bytes
    kind: str  # "file" or "dir" (a tracked folder or a folder inside one)
    entries: tuple[mf.Entry, ...]  # for a folder: paths relative to ``path``

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries)


class Repo:
    """A gitstore repository: ``Repo(".")`` discovers it from a folder inside it."""

    def __init__(self, path: str | os.PathLike[str] = ".") -> None:
        # What api.Context does, without importing api (and with it checkout,
        # workspace and their dependencies): reading needs only git, the config
        # and the cache. The other verbs use the full Context, made on first use.
        from . import config as cfg
        from .gitrepo import GitRepo

        # absolute: a chdir later (or a worker unpickling it elsewhere) must not move it
        self._path = Path(_path_arg(path, "repo")).absolute()
        self._repo = GitRepo.discover(self._path)
        self._config = cfg.load(self._repo.root, self._repo.common_dir)
        self._full: Context | None = None
        self._light_cache: Cache | None = None
        self._memo: collections.OrderedDict[tuple[str | None, str], Any] = collections.OrderedDict()
        self._absent: collections.OrderedDict[tuple[str, str], bool] = collections.OrderedDict()

    @property
    def root(self) -> Path | None:
        """The work tree's root (None for a bare repository)."""
        return self._repo.root

    @property
    def context(self) -> Context:
        """The :class:`gitstore.api.Context` of this repository (made on first use)."""
        if self._full is None:
            from .api import Context

            self._full = Context(self._path)
        return self._full

    @property
    def _cache(self) -> Cache:
        if self._full is not None:
            return self._full.cache
        if self._light_cache is None:
            from .cache import Cache

            cache = Cache(self._config.cache_dir, self._config.link)
            cache.register_repo(self._repo.common_dir)
            self._light_cache = cache
        return self._light_cache

    def __repr__(self) -> str:
        return f"gitstore.Repo({str(self.root or self._repo.git_dir)!r})"

    def __reduce__(self) -> tuple[type[Repo], tuple[str]]:
        # pickled as its folder and opened again: a DataLoader's workers
        # under spawn (macOS, Windows, CUDA) get a Repo of their own
        return (Repo, (str(self._path),))

    # -- paths -------------------------------------------------------------
    def relpath(self, path: str | os.PathLike[str]) -> str:
        """A repository-relative path; absolute paths must lie inside the work tree."""
        text = _path_arg(path)
        if os.path.isabs(text):
            root = self._repo.root
            if root is None:
                raise PathError(f"{text} is absolute, but the repository is bare")
            real = os.path.realpath(text)
            base = os.path.realpath(root)
            if real != base and not real.startswith(base + os.sep):
                raise PathError(f"{text} is outside the repository {root}")
            text = os.path.relpath(real, base)
        return normalise_path(text)

    # -- reading -----------------------------------------------------------
    def locate(self, path: str | os.PathLike[str], rev: str | None = None) -> Tracked:
        """The tracked file or folder at ``path`` at ``rev`` (None: the working tree)."""
        rel = self.relpath(path)
        repo = self._repo
        rev = _rev_arg(rev)
        commit = repo.resolve(rev) if rev is not None else None
        parts = rel.split("/")
        # from the top: tracked paths do not nest, so the first manifest found
        # is the one, and a training loop's misses (data.gitstore found, then
        # data/cats.gitstore never looked for) stay few and remembered
        for i in range(1, len(parts) + 1):
            mpath = mf.manifest_path("/".join(parts[:i]))
            data, key = self._manifest_bytes(mpath, commit)
            if data is None:
                continue
            manifest = mf.parse_cached(data, key, mpath)
            inner = "/".join(parts[i:])
            if not inner:
                entries = manifest.entries
                return Tracked(rel, mpath, data, manifest.kind, entries)
            if manifest.kind == "dir":
                found = _find(manifest.entries, inner)
                if isinstance(found, mf.Entry):
                    return Tracked(rel, mpath, data, "file", (found,))
                if found:
                    cut = len(inner) + 1
                    below = tuple(
                        mf.Entry(e.path[cut:], e.oid, e.size, e.exec, e.extra) for e in found
                    )
                    return Tracked(rel, mpath, data, "dir", below)
            raise PathError(f"{rel} is not in {mpath}{_where(rev)}")
        hint = None
        root = self._repo.root
        if root is not None and os.path.realpath(os.getcwd()) != os.path.realpath(root):
            hint = f"paths are relative to the repository root ({root}), not the current folder"
        raise PathError(f"{rel} is not a tracked file or folder{_where(rev)}", hint=hint)

    def _manifest_bytes(self, mpath: str, commit: str | None) -> tuple[bytes | None, str]:
        """A manifest's bytes at ``commit`` (None: the working tree's) and a key naming them.

        A training loop reads many files through one manifest: what a commit
        holds never changes, so it is remembered; the working tree's file is
        read again only when its lstat changed (or it is too recent to judge
        by lstat, as git's racy rule has it).
        """
        memo = self._memo
        if commit is not None:
            if (commit, mpath) in self._absent:
                return None, ""
            found = memo.get((commit, mpath))
            if found is None:
                repo = self._repo
                blob = repo.blob_id(commit, mpath)
                if blob is None:
                    _remember(self._absent, (commit, mpath), True, ABSENT_SIZE)
                    return None, ""
                found = (repo.read_blob(blob), blob)
                _remember(memo, (commit, mpath), found)
            return found
        root = self._repo.require_worktree()
        full = root / mpath
        try:
            st = os.stat(full)
            seen = memo.get((None, mpath))
            sig = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            if seen is not None and seen[2] == sig:
                return seen[0], seen[1]
            data = full.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None, ""
        except OSError as exc:
            raise PathError(f"cannot read {mpath}: {exc.strerror}") from exc
        if mf.has_conflict_markers(data):
            from .errors import ManifestError

            raise ManifestError(
                f"{mpath} has merge conflict markers", hint="resolve the conflict first"
            )
        from .hashing import hash_bytes

        key = "worktree:" + hash_bytes(data)
        if max(st.st_mtime_ns, st.st_ctime_ns) < time.time_ns() - RACY_NS:
            _remember(memo, (None, mpath), (data, key, sig))
        return data, key

    def _file(self, path: str | os.PathLike[str], rev: str | None) -> mf.Entry:
        tracked = self.locate(path, rev)
        if tracked.kind != "file":
            top = mf.tracked_path(tracked.manifest)
            raise PathError(
                f"{tracked.path} is a tracked folder, not a file"
                if tracked.path == top
                else f"{tracked.path} is a folder inside the tracked folder {top}, not a file",
                hint="use gitstore.get() for a folder",
            )
        return tracked.entries[0]

    def ensure_objects(self, oids: Sequence[str]) -> None:
        """Make sure these objects are in the cache, fetching what is missing."""
        cache = self._cache
        missing = sorted(set(oids) - cache.exists(set(oids)))
        if not missing:
            return
        from .locks import FileLock
        from .transfer import fetch_objects

        # one fetch at a time into this cache from the API: a DataLoader's
        # workers on a cold cache ask for the same objects at once, and each
        # would download them all; the next one finds them there
        cache.require_registered()  # before waiting on a lock it might not even open
        with FileLock(
            cache.root / FETCH_LOCK,
            f"cache {cache.root} (its {FETCH_LOCK})",
            timeout=float("inf"),
            store=cache.store,
        ):
            missing = [oid for oid in missing if not cache.has(oid)]
            failed = dict(fetch_objects(self.context, missing).failed) if missing else {}
        still = [oid for oid in missing if oid in failed or not cache.has(oid)]
        if not still:
            return
        reason = failed.get(still[0], "not found in any remote")
        if len(still) == 1:
            raise ObjectNotFoundError(
                reason
                if still[0] in reason
                else f"object {still[0]} could not be fetched: {reason}",
                oid=still[0],
                hint="check `gitstore remote list` and that the data was pushed",
            )
        raise TransferError(
            f"{count(len(still), 'object')} could not be fetched, e.g. {still[0]}: {reason}",
            failed=still,
            hint="check `gitstore remote list` and that the data was pushed",
        )

    def open(
        self, path: str | os.PathLike[str], rev: str | None = None, mode: str = "rb"
    ) -> BinaryIO:
        """A binary file object of a tracked file at ``rev``."""
        if mode != "rb":
            raise ValueError(f"gitstore files open read-only in binary mode ('rb'), not {mode!r}")
        entry = self._file(path, rev)
        self.ensure_objects([entry.oid])
        f = self._cache.store.open(entry.oid)
        try:
            check_size(entry.oid, os.fstat(f.fileno()).st_size, entry.size)
        except BaseException:
            f.close()
            raise
        return f

    def read(self, path: str | os.PathLike[str], rev: str | None = None) -> bytes:
        """The bytes of a tracked file at ``rev``."""
        with self.open(path, rev) as f:
            return f.read()

    def get(self, path: str | os.PathLike[str], rev: str | None = None) -> Path:
        """A read-only local path with exactly the bytes of ``path`` at ``rev``."""
        tracked = self.locate(path, rev)
        cache = self._cache
        if tracked.kind == "file":
            entry = tracked.entries[0]
            self.ensure_objects([entry.oid])
            found = cache.path(entry.oid)
            check_size(entry.oid, found.stat().st_size, entry.size)
            return found
        return self._view(tracked)

    def _view(self, tracked: Tracked) -> Path:
        from .hashing import hash_bytes

        cache = self._cache
        inner = tracked.path[len(mf.tracked_path(tracked.manifest)) :].lstrip("/")
        view_id = hash_bytes(tracked.manifest_data + b"\0" + inner.encode())[:40]
        folder = cache.root / VIEWS / view_id
        name = tracked.path.rsplit("/", 1)[-1]
        # under the cache lock: gc (exclusive) is not deleting the view meanwhile;
        # handing out a view that exists writes nothing, and the pin keeps it
        with cache.lock(reading=True):
            if (folder / VIEW_MARKER).is_file():
                _mark(folder / VIEW_MARKER, tracked, cache)
                _pin(folder / VIEW_MARKER)
                return folder / name
        self.ensure_objects(sorted({e.oid for e in tracked.entries}))
        with cache.lock():
            cache.store.make_dirs(cache.root / VIEWS)  # a group's, in a cache it shares
            tmp = cache.root / VIEWS / f".tmp-{os.urandom(16).hex()}"
            try:
                _build_view(cache, tmp / name, tracked.entries)
                _mark(tmp / VIEW_MARKER, tracked, cache)
                try:
                    os.rename(tmp, folder)
                except OSError:  # another process made the same view first
                    if not (folder / VIEW_MARKER).is_file():
                        raise
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
            _pin(folder / VIEW_MARKER)
        return folder / name

    # -- the other verbs -----------------------------------------------------
    def ls(self, rev: str | None = None) -> list[TrackedFile]:
        from . import api

        return api.ls(self.context, _rev_arg(rev))

    def diff(
        self,
        a: str | None = None,
        b: str | None = None,
        paths: Sequence[str | os.PathLike[str]] = (),
    ) -> Diff:
        from . import history

        a, b = _rev_arg(a, "a"), _rev_arg(b, "b")
        return history.diff(self.context, a, b, [self.relpath(p) for p in _paths_arg(paths)])

    def log(
        self,
        path: str | os.PathLike[str],
        n: int | None = None,
        all_parents: bool = False,
        rev: str | None = None,
    ) -> list[LogEntry]:
        from . import history

        if n is not None and (not isinstance(n, int) or isinstance(n, bool)):
            raise TypeError(f"gitstore: n must be a positive int or None, not {n!r}")
        if n is not None and n < 1:
            raise ValueError(f"gitstore: n must be a positive int or None, not {n!r}")
        rel = self.relpath(path)
        return history.log(self.context, rel, rev=_rev_arg(rev), n=n, all_parents=all_parents)

    def status(self, paths: Sequence[str | os.PathLike[str]] = ()) -> list[PathStatus]:
        ws = self.context.workspace
        return ws.status([self.relpath(p) for p in _paths_arg(paths)])

    def checkout(
        self,
        rev: str | None = None,
        paths: Sequence[str | os.PathLike[str]] = (),
        *,
        force: bool = False,
        check: bool = True,
    ) -> CheckoutResult:
        """Materialise tracked paths at ``rev``; with ``check``, refused or missing files raise."""
        from . import api

        root = self._repo.require_worktree()
        absolute = [str(root / self.relpath(p)) for p in _paths_arg(paths)]
        result = api.checkout(self.context, _rev_arg(rev), absolute, force=force)
        if check:
            api.raise_for_checkout(result)
        return result


# -- arguments -----------------------------------------------------------------------
# Training code passes what it has: Path objects, sometimes bytes, sometimes a
# mistake. A wrong type is a TypeError that says which argument and what it
# takes, raised here rather than from deep inside pathlib or git.
def _path_arg(value: object, what: str = "path") -> str:
    if isinstance(value, str | os.PathLike | bytes):
        text = os.fspath(value)
        text = os.fsdecode(text) if isinstance(text, bytes) else text
        if "\0" in text:
            raise PathError(f"{text!r}: a path cannot hold a NUL character")
        return text
    raise TypeError(f"gitstore: {what} must be a str or os.PathLike, not {type(value).__name__}")


def _paths_arg(value: object) -> list[str]:
    """``paths=``: a sequence of paths, or one path (never taken letter by letter)."""
    if isinstance(value, str | os.PathLike | bytes):
        return [_path_arg(value)]
    if not isinstance(value, Sequence | set | frozenset):
        raise TypeError(f"gitstore: paths must be a list of paths, not {type(value).__name__}")
    return [_path_arg(v) for v in value]


def _rev_arg(value: object, what: str = "rev") -> str | None:
    if value is None or isinstance(value, str):
        if value is not None and "\0" in value:
            raise PathError(f"{value!r}: a revision cannot hold a NUL character")
        return value
    raise TypeError(
        f"gitstore: {what} must be a str (a commit, branch, tag or date form) or None,"
        f" not {type(value).__name__}"
    )


# -- paths and entries (history uses these too) ---------------------------------------
def normalise_path(path: str) -> str:
    """A repository-relative path as typed (``./a/b/``, ``a/b.gitstore``) -> ``a/b``."""
    rel = path.replace("\\", "/")
    while rel.startswith("./"):
        rel = rel[2:]
    rel = rel.strip("/")
    if "/.." in "/" + rel:  # data/../data/x: as the absolute form of it would resolve
        rel = posixpath.normpath(rel)
    if rel.endswith(mf.SUFFIX) and rel != mf.SUFFIX:
        rel = mf.tracked_path(rel)
    if rel in ("", ".") or rel == ".." or rel.startswith("../") or "/../" in rel:
        raise PathError(f"{path} is not a path inside the repository")
    return rel


MEMO_SIZE = 8  # manifests a Repo remembers (a few revisions of a few tracked paths)
ABSENT_SIZE = 1024  # manifests known not to be at a commit
RACY_NS = 2_000_000_000  # a manifest changed this recently is read again next time


_memo_lock = threading.Lock()  # training code reads from many threads


def _remember(
    memo: collections.OrderedDict[Any, Any], key: object, value: object, size: int = 0
) -> None:
    with _memo_lock:
        memo[key] = value
        memo.move_to_end(key)
        while len(memo) > (size or MEMO_SIZE):
            memo.popitem(last=False)


_paths_of: collections.OrderedDict[int, tuple[tuple[mf.Entry, ...], list[str]]] = (
    collections.OrderedDict()
)


def _find(entries: tuple[mf.Entry, ...], inner: str) -> mf.Entry | tuple[mf.Entry, ...] | None:
    """The entry at ``inner``, or the entries below the folder ``inner``, or None."""
    known = _paths_of.get(id(entries))
    if known is not None and known[0] is entries:
        paths = known[1]
    else:
        paths = [e.path for e in entries]  # sorted by path
        _remember(_paths_of, id(entries), (entries, paths))
    i = bisect.bisect_left(paths, inner)
    if i < len(paths) and paths[i] == inner:
        return entries[i]
    lo = bisect.bisect_left(paths, inner + "/")
    hi = bisect.bisect_left(paths, inner + "0")  # "0" sorts right after "/"
    return entries[lo:hi] if hi > lo else None


def _where(rev: str | None) -> str:
    return f" at {rev}" if rev else " in the working tree"


def _build_view(cache: object, top: Path, entries: Sequence[mf.Entry]) -> None:
    """Files of ``entries`` under ``top``: hard links to the cache, else copies; read-only."""
    from .cache import Cache

    assert isinstance(cache, Cache)
    made: set[Path] = set()
    for e in entries:
        dest = top / e.path
        if dest.parent not in made:
            cache.store.make_dirs(dest.parent)
            made.add(dest.parent)
        cache.materialise(e.oid, dest, e.exec, ("hardlink", "reflink", "copy"))
        st = os.lstat(dest)
        if st.st_nlink == 1:  # not a hard link into the cache: make it read-only
            os.chmod(dest, 0o555 if e.exec else 0o444)


# view marker -> descriptor holding a shared flock on it, oldest first
_pinned: collections.OrderedDict[str, int] = collections.OrderedDict()
MAX_PINNED = 64  # descriptors are few (ulimit -n is often 1024): the oldest pins go


def _pin(marker: Path) -> None:
    """Hold a shared ``flock`` on a view's marker for as long as this process runs.

    ``gc`` deletes an unused view only when it can lock the marker
    exclusively: a training job that got a view days ago and still reads
    it keeps it, whatever the grace period; the kernel drops the lock when
    the process ends (its forked workers share it while they run). The
    last ``MAX_PINNED`` views a process got are held.
    """
    import fcntl

    key = str(marker)
    with _pin_lock:
        if key in _pinned:
            _pinned.move_to_end(key)
            return
        while len(_pinned) >= MAX_PINNED:  # its grace period still keeps it
            os.close(_pinned.popitem(last=False)[1])
        try:
            fd = os.open(marker, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return  # the grace period still keeps it
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return
        _pinned[key] = fd


_pin_lock = threading.Lock()


def _mark(marker: Path, tracked: Tracked, cache: Cache) -> None:
    """Write (or refresh) the view's marker: its mtime is the last use. In a cache a
    group shares, it is readable by the group, whose gc locks it to see it unused."""
    if marker.exists():
        try:
            os.utime(marker)
            return
        except OSError:
            pass
    record = {"manifest": tracked.manifest, "path": tracked.path, "created": time.time()}
    try:
        marker.write_text(json.dumps(record) + "\n")
        if cache.store.shared:
            fd = os.open(marker, os.O_RDONLY)
            try:
                cache.store.adopt(fd)
            finally:
                os.close(fd)
    except OSError:
        if not marker.exists():
            raise
        # a cache on a read-only mount: nobody collects it through this mount either


# -- module-level shortcuts ----------------------------------------------------------
def open(
    path: str | os.PathLike[str],
    rev: str | None = None,
    repo: str | os.PathLike[str] = ".",
    mode: str = "rb",
) -> BinaryIO:
    """A binary file object of tracked file ``path`` at ``rev`` (None: the working tree)."""
    if mode != "rb":
        raise ValueError(f"gitstore files open read-only in binary mode ('rb'), not {mode!r}")
    return Repo(repo).open(path, rev)


def read(
    path: str | os.PathLike[str], rev: str | None = None, repo: str | os.PathLike[str] = "."
) -> bytes:
    """The bytes of tracked file ``path`` at ``rev``."""
    return Repo(repo).read(path, rev)


def get(
    path: str | os.PathLike[str], rev: str | None = None, repo: str | os.PathLike[str] = "."
) -> Path:
    """A read-only local path holding ``path`` at ``rev``: a cache object, or a folder view."""
    return Repo(repo).get(path, rev)
