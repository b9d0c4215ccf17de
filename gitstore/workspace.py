"""The workspace: turns files into manifests (track) and compares them (status).

Checkout, the other direction, lives in ``checkout.py``. Both use the stat
cache so that unchanged files are never hashed twice, and both read a tracked
folder with ``os.scandir`` without following symlinks. A tracked path is a
file or folder inside the work tree; its manifest sits beside it
(``data/images`` -> ``data/images.gitstore``).
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import operator
import os
import shlex
import stat as statmod
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Generic, NamedTuple, TypeVar

from . import gitignore
from . import manifest as mf
from . import pending as marks_file
from .cache import Cache, tmp_name
from .cleanrecord import (
    CleanRecord,
    Reached,
    Signature,
    Stamps,
    TrackChanges,
    manifest_bytes,
    signature_of,
)
from .errors import GitstoreError, ManifestError, PathError
from .gitrepo import GitRepo
from .hashing import hash_bytes
from .locks import FileLock, lock_timeout
from .once import once
from .records import Record
from .statcache import StatCache
from .stores.local import read_tagged_map, replace_with, write_tagged_map

TMP_SUFFIX = ".gitstore-tmp"
T = TypeVar("T")
R = TypeVar("R")


BIG_FILE = 256 << 10  # files at least this big are worth a thread of their own
SPLIT_SMALL = 1000  # this many small files are worth a second thread


def map_files(fn: Callable[[T], R], items: Sequence[T], sizes: Sequence[int], jobs: int) -> list[R]:
    """``[fn(x) for x in items]`` where each item reads or writes a file of ``sizes[i]`` bytes.

    A small file is all system calls, and every one of them hands the GIL
    over: on 8 threads, tracking 20,000 files of 4 KiB spent 4.1 s in the
    kernel (futex storms) against 1.5 s serially on this 2-core machine. Two
    threads are another matter: most of a small file's time is the kernel's
    (allocating inodes for the object and its folder), which runs outside the
    GIL, so many small files are split in two halves, one on the calling
    thread and one on a second thread. Big files, whose hashing and copying
    run outside the GIL too, go to up to ``jobs`` threads (no more than the
    CPUs) at the same time.
    """
    cpus = os.cpu_count() or 1
    workers = min(jobs, max(2, cpus))
    big = [i for i, size in enumerate(sizes) if size >= BIG_FILE]
    small = [i for i, size in enumerate(sizes) if size < BIG_FILE]
    split = cpus >= 2 and len(small) >= SPLIT_SMALL
    if workers <= 1 or (len(big) < 2 and not split):
        return [fn(x) for x in items]
    from concurrent.futures import ThreadPoolExecutor

    out: list[R | None] = [None] * len(items)

    def run(indices: list[int]) -> None:
        for i in indices:
            out[i] = fn(items[i])

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = []
        if split:
            half = len(small) // 2
            futures.append(pool.submit(run, small[half:]))
            small = small[:half]
        futures += [pool.submit(run, [i]) for i in big]
        run(small)
        for future in futures:
            future.result()
    return out  # type: ignore[return-value]


def map_in_batches(fn: Callable[[T], R], items: Sequence[T], jobs: int) -> list[R]:
    """``[fn(x) for x in items]`` on ``jobs`` threads, in order, a batch per task.

    ThreadPoolExecutor.map ignores ``chunksize`` and makes one future per
    item, which costs about as much as hashing a 4 KiB file; batches of up to
    256 items keep that overhead off the per-file path.
    """
    if len(items) < 64 or jobs <= 1:
        return [fn(x) for x in items]
    from concurrent.futures import ThreadPoolExecutor  # 4 ms of start-up a no-op status skips

    size = max(1, min(256, len(items) // (jobs * 4)))
    batches = [items[i : i + size] for i in range(0, len(items), size)]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return [r for batch in pool.map(lambda b: [fn(x) for x in b], batches) for r in batch]


class ScannedFile(NamedTuple):
    """A file found on disk (a tuple: made for every file of a scan, cheaply)."""

    relpath: str  # relative to the tracked path ("" for a tracked file)
    abspath: str
    st: os.stat_result


class TrackResult(Record):
    __slots__ = ("path", "manifest", "kind", "files", "size", "changed", "adopted")

    def __init__(
        self,
        path: str,
        manifest: str,
        kind: str,
        files: int,
        size: int,
        changed: bool,
        adopted: bool = False,
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.kind = kind
        self.files = files
        self.size = size
        self.changed = changed
        self.adopted = adopted


class PathStatus(Record):
    __slots__ = ("path", "state", "manifest", "added", "modified", "removed", "error", "behind")

    def __init__(
        self,
        path: str,
        state: str,
        manifest: str,
        *,
        modified: list[str] | None = None,
        error: str | None = None,
    ) -> None:
        self.path = path
        # unchanged | modified | not_materialised | missing_objects | conflicted | invalid
        self.state = state
        self.manifest = manifest
        self.added: list[str] = []
        self.modified: list[str] = [] if modified is None else modified
        self.removed: list[str] = []
        self.error = error  # why an invalid manifest could not be read
        # modified only because the manifest changed: the files are as when they last matched it
        self.behind = False

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "path": self.path,
            "state": self.state,
            "added": self.added,
            "modified": self.modified,
            "removed": self.removed,
        }
        if self.error is not None:
            out["error"] = self.error
        return out


OWN_FILES = mf.OWN_FILES


def shown(name: str) -> str:
    """A path as it can be printed on one line: bytes that are not UTF-8 and control
    characters as escapes (``\\xff``, ``\\n``)."""
    text = os.fsencode(name).decode("utf-8", "backslashreplace")
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


class Walked:
    """What :func:`walk` found: each file's path relative to the tracked path and its lstat.

    Kept as two flat lists so that a walk whose only use is a signature (the
    pre-commit hook and a no-op status, most of the time) never builds a
    :class:`ScannedFile` per file; :meth:`files` builds them when needed.
    """

    __slots__ = ("base", "rels", "sts", "targets", "_files")

    def __init__(
        self,
        base: str,
        rels: list[str],
        sts: list[os.stat_result],
        targets: list[tuple[str, os.stat_result]] | None = None,
    ):
        self.base = base  # prefix of every absolute path: the folder and "/", or the file
        self.rels = rels
        self.sts = sts
        # each symlink's target's stat (a symlink checkout's files are edited there)
        self.targets = targets or []
        self._files: list[ScannedFile] | None = None

    def files(self) -> list[ScannedFile]:
        if self._files is None:
            new, base = tuple.__new__, self.base
            self._files = [
                new(ScannedFile, (r, base + r, st))
                for r, st in zip(self.rels, self.sts, strict=True)
            ]
        return self._files


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def _lstat_of(entry: os.DirEntry[str]) -> os.stat_result | None:
    """The entry's lstat; None when it was removed after its folder was read (an
    editor's swap file, a job's temporary file): the walk lists what is there."""
    try:
        return entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return None


def _readlink(name: str, fd: int) -> str:
    try:
        return os.readlink(name, dir_fd=fd)
    except OSError:
        return ""  # gone or replaced since: not a link into the cache


def walk(abspath: str, *, strict: bool, display: str, links_into: str | None = None) -> Walked:
    """Every regular file below the folder ``abspath``, depth first, without following symlinks.

    ``strict`` (track) refuses symlinks, special files and names that are not
    UTF-8; otherwise symlinks are listed (callers treat them as foreign files)
    and special files are left out. Files named ``.*<TMP_SUFFIX>`` (a
    checkout's temporary files) are never listed. ``links_into``: symlinks
    whose target starts with it (the cache's objects, as ``checkout --link
    symlink`` makes them) are listed even when ``strict``.
    """
    rels: list[str] = []
    sts: list[os.stat_result] = []
    targets: list[tuple[str, os.stat_result]] = []
    add_rel, add_st = rels.append, sts.append
    is_reg = statmod.S_ISREG
    stack = [("", abspath)]
    while stack:
        prefix, folder = stack.pop()
        try:
            # scandir of a descriptor: each lstat is then relative to the
            # folder (fstatat), not a walk of the whole path again by the kernel
            fd = os.open(folder, _DIR_FLAGS)
        except (NotADirectoryError, FileNotFoundError):
            continue
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                raise PathError(
                    f"{display}/{prefix[:-1]}: the path is longer than this system allows"
                ) from None
            if exc.errno in (errno.EACCES, errno.EPERM):
                where = f"{display}/{prefix[:-1]}" if prefix else display
                raise PathError(f"{where}: cannot read the folder: {exc.strerror}") from None
            if exc.errno != errno.ELOOP:
                raise
            if strict:  # a folder replaced by a symlink while the walk went on
                raise PathError(
                    f"{display}/{prefix[:-1]}: symlinks cannot be tracked (gitstore manifest v1)"
                ) from None
            continue
        try:
            it = os.scandir(fd)
            with it:
                for entry in it:
                    name = entry.name
                    if strict and not name.isascii() and not is_utf8(name):
                        shown = os.fsencode(name).decode("utf-8", "backslashreplace")
                        raise PathError(
                            f"{display}/{prefix}{shown}: file names that are not valid UTF-8 cannot be tracked"
                        )
                    # the common case first: a regular file (by the folder's own
                    # record of its type), then one lstat
                    if entry.is_file(follow_symlinks=False):
                        if name[0] == "." and name.endswith(TMP_SUFFIX):
                            continue
                        st = _lstat_of(entry)
                        if st is None:
                            continue  # gone since the folder was read: not there
                        if is_reg(st.st_mode):
                            add_rel(prefix + name)
                            add_st(st)
                            continue
                        # replaced by something else since the folder was read: as below
                    elif entry.is_dir(follow_symlinks=False):
                        stack.append((prefix + name + "/", folder + "/" + name))
                        continue
                    rel = prefix + name
                    if entry.is_symlink():
                        st = _lstat_of(entry)
                        if st is None:
                            continue
                        if strict and not (
                            links_into and _readlink(name, fd).startswith(links_into)
                        ):
                            raise PathError(
                                f"{display}/{rel}: symlinks cannot be tracked (gitstore manifest v1)"
                            )
                        add_rel(rel)
                        add_st(st)
                        with contextlib.suppress(OSError):  # a dangling link has no target
                            targets.append((rel, os.stat(name, dir_fd=fd)))
                    elif name[0] == "." and name.endswith(TMP_SUFFIX):
                        continue
                    else:
                        st = _lstat_of(entry)
                        if st is None:
                            continue
                        if is_reg(st.st_mode):
                            add_rel(rel)
                            add_st(st)
                        elif strict:
                            raise PathError(f"{display}/{rel}: only regular files can be tracked")
        finally:
            os.close(fd)
    return Walked(abspath + "/", rels, sts, targets)


def scan(
    abspath: str, *, strict: bool, display: str, links_into: str | None = None
) -> list[ScannedFile]:
    """:func:`walk`, as one :class:`ScannedFile` per file."""
    return walk(abspath, strict=strict, display=display, links_into=links_into).files()


class Background(Generic[R]):
    """``fn()`` on a thread of its own; :meth:`result` waits for it (and re-raises)."""

    def __init__(self, fn: Callable[[], R]):
        import threading

        self._fn = fn
        self._value: R | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:  # handed to the caller of result()
            self._error = exc

    def result(self) -> R:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


Row = tuple[str, str, int, bool]  # a manifest entry's path, oid, size, exec
_first = operator.itemgetter(0)
_HEAD_LINES = 6  # HEADER, gitstore, kind, size, files, "entries:"


_QUICK_MAX = 2_000  # changed files or folders beyond which a re-track reads everything


class _LinePaths(Sequence[str]):
    """The paths of a manifest's entry lines, each read off its line when asked (bisect)."""

    def __init__(self, body: list[str], quoted: dict[int, str]):
        self._body = body
        self._quoted = quoted  # the paths of the lines that quote them

    def __len__(self) -> int:
        return len(self._body)

    def __getitem__(self, i):  # type: ignore[no-untyped-def]
        if i in self._quoted:
            return self._quoted[i]
        return self._body[i][9:].partition(", blake3: ")[0]  # "- {path: " is 9


class _Quick(NamedTuple):
    """What :meth:`Workspace._quick_scan` found: the old manifest, by line, and the files to read."""

    old: bytes
    head: list[str]  # the header lines
    body: list[str]  # one line an entry
    paths: _LinePaths  # each entry line's path
    drop: set[int]  # the entries under a changed file or folder
    files: list[ScannedFile]  # the files under them now
    walked: bool  # a changed folder was read: not every file in ``files`` changed


class TrackMemo:
    """Digests of the manifests ``track`` wrote: bytes with one of them are canonical output.

    ``track`` rewrites a folder's manifest after a few files changed; building
    and dumping 20,000 entries again costs more than the rest of a re-track.
    A manifest whose bytes are exactly ones ``manifest.dump`` produced for
    track (no unknown keys, entries sorted, one line each) can instead be
    patched line by line (:func:`splice`). Only a cache: a stale or missing
    record means a full rebuild.
    """

    FILE = "track-memo"
    # -2 kept the digest alone; -1 kept blake2b digests (hashlib's import costs start-up)
    MAGIC = "gitstore-track-memo-3"

    def __init__(self, path: Path):
        self.path = path
        found = read_tagged_map(path, self.MAGIC) or {}
        # mpath -> (digest of the bytes, (inode, mtime_ns) of the file track left)
        self.records: dict[str, tuple[str, tuple[int, int]]] = {
            m: r for m, r in found.items() if isinstance(r, tuple) and len(r) == 2
        }
        self._dirty = False

    @staticmethod
    def digest(data: bytes) -> str:
        return hash_bytes(data)

    def wrote(self, mpath: str, data: bytes) -> bool:
        record = self.records.get(mpath)
        return record is not None and record[0] == self.digest(data)

    def left(self, mpath: str, st: os.stat_result) -> bool:
        """Whether the manifest file is still the one track left (not rewritten since, by git)."""
        record = self.records.get(mpath)
        return record is not None and record[1] == (st.st_ino, st.st_mtime_ns)

    def record(self, mpath: str, data: bytes, st: os.stat_result) -> None:
        new = (self.digest(data), (st.st_ino, st.st_mtime_ns))
        if self.records.get(mpath) == new:
            return
        self.records[mpath] = new
        self._dirty = True

    def save(self) -> None:
        """Write the records once, after every manifest of a ``track`` (one per path was N²)."""
        if self._dirty:
            write_tagged_map(self.path, self.MAGIC, self.records)
            self._dirty = False


_REREADS = 5  # a manifest that fails to parse and changes meanwhile: read again this often


def _refuse_conflicted_gitignore(root: Path) -> None:
    """track and untrack stage .gitignore: never with a merge's conflict markers in it, nor
    a symbolic link, which git does not read (2.32 and later) and writing would replace."""
    if os.path.islink(root / ".gitignore"):
        raise PathError(
            ".gitignore is a symbolic link: git does not read a .gitignore that is one, so"
            " the paths gitstore lists there would not be ignored",
            hint="put a file holding its lines in place of the link, then run the command again",
        )
    if gitignore.conflicted(root):
        raise PathError(
            ".gitignore has merge conflict markers: staged with gitstore's line, the conflict"
            " would pass for resolved",
            hint="resolve .gitignore first (`git add .gitignore` once it is), then run the"
            " command again",
        )


def splice(old: bytes, rows: list[Row], redo: list[int] | None = None) -> bytes | None:
    """The manifest for ``rows`` made from ``old`` (canonical, see TrackMemo) by changing lines.

    A line of ``old`` is kept when it is, character for character, the plain
    form of the new entry at its position; every other line is written by
    ``manifest.build`` + ``dump`` (so new entries are validated). The plain
    form matching proves the kept line canonical: for a path without ',' that
    does not start with '"', the text up to ", blake3: " is the path itself,
    and dump writes a path (or an oid) plain or double-quoted, the same way
    for the same text. None when too much changed
    (or the shape differs): then the caller rebuilds it whole. ``redo``, when
    given, receives the indices of the rows whose lines were rewritten.
    """
    try:
        lines = old.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        return None
    count = len(rows)
    if (
        len(lines) != _HEAD_LINES + count + 1
        or lines[-1] != ""
        or lines[0] + "\n" != mf.HEADER
        or lines[1] != f"gitstore: {mf.VERSION}"
        or lines[_HEAD_LINES - 1] != "entries:"
        or lines[2] != "kind: dir"
        or lines[4] != f"files: {count}"
        or not lines[3].startswith("size: ")
    ):
        return None
    if redo is None:
        redo = []
    at = _HEAD_LINES
    for index, (path, oid, size, exe) in enumerate(rows):
        tail = ", exec: true}" if exe else "}"
        was = lines[at + index]
        if (
            (
                was != f"- {{path: {path}, blake3: {oid}, size: {size}{tail}"
                # an oid that YAML could read as a number is written quoted
                and was != f'- {{path: {path}, blake3: "{oid}", size: {size}{tail}'
            )
            or ("," in path or path[:1] == '"')
        ):
            redo.append(index)
    if len(redo) > max(64, count // 8):
        return None
    if redo:
        fresh = mf.dump(mf.build("dir", [mf.Entry(*rows[i]) for i in redo])).decode("utf-8")
        new_lines = fresh.split("\n")[_HEAD_LINES:-1]
        if len(new_lines) != len(redo):
            return None
        for index, line in zip(redo, new_lines, strict=True):
            lines[at + index] = line
    lines[3] = f"size: {sum(row[2] for row in rows)}"
    return "\n".join(lines).encode("utf-8")


def _extras_of(
    old: bytes | None, source: str
) -> tuple[tuple[tuple[str, Any], ...], dict[str, tuple[tuple[str, Any], ...]]]:
    """The unknown keys of a manifest being rewritten: (top-level, {entry path: keys}).

    DESIGN.md: unknown extra keys are preserved on rewrite (forward
    compatibility). A manifest that cannot be read has none worth keeping.
    """
    manifest = _parsed_or_none(old, source)
    if manifest is None:
        return (), {}
    return manifest.extra, {e.path: e.extra for e in manifest.entries if e.extra}


def _display_for(rel: str, kind: str) -> Callable[[str], str]:
    """How an entry of the manifest of ``rel`` is named to the user (from the repository root)."""
    if kind == "dir":
        return lambda path: rel + "/" + path
    return lambda _path: rel


def _head_of(path: Path) -> bytes:
    """The bytes of a file, up to the manifest size limit; empty when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read(mf.MAX_MANIFEST_BYTES + 1)
    except OSError:
        return b""


def nesting_lines(mpaths: Sequence[str]) -> dict[str, str]:
    """{manifest: error} for each of ``mpaths`` that tracks a path inside another's, or
    holds another's (a merge can bring both: :func:`gitstore.manifest.nesting_error`)."""
    tracked = {mf.tracked_path(m) for m in mpaths}
    out: dict[str, str] = {}
    for m in mpaths:
        parts = mf.tracked_path(m).split("/")
        for i in range(1, len(parts)):
            outer = mf.manifest_path("/".join(parts[:i]))
            if outer[: -len(mf.SUFFIX)] in tracked:
                error = mf.nesting_error([m, outer])
                assert error is not None
                line = f"{error.message}; {error.hint}"
                out.setdefault(m, line)
                out.setdefault(outer, line)
    return out


def _refuse_newer_version(data: bytes, source: str) -> None:
    """NewerVersionError when ``data`` is a manifest of a version this gitstore does not know.

    Any other unreadable manifest is rewritten by ``track`` from the files
    (its unknown keys are lost with it); a newer version's is refused, before
    anything is written, as every reader refuses it.
    """
    try:
        mf.parse_cached(data, "blake3:" + hash_bytes(data), source)  # _track_one reads it again
    except mf.NewerVersionError:
        raise
    except ManifestError:
        pass


def _parsed_or_none(data: bytes | None, source: str) -> mf.Manifest | None:
    if data is None:
        return None
    try:
        return mf.parse_cached(data, "blake3:" + hash_bytes(data), source)
    except ManifestError:
        return None


def is_exec(st: os.stat_result) -> bool:
    return bool(st.st_mode & 0o100)


class Workspace:
    def __init__(self, repo: GitRepo, cache: Cache, jobs: int = 8):
        self.repo = repo
        self.root = repo.require_worktree()
        self.cache = cache
        self.jobs = jobs
        self._statcache: StatCache | None = None
        self._generation: str | None = None  # the cache's gc generation, read under its lock
        self._memo: TrackMemo | None = None
        self._changes: TrackChanges | None = None
        # track's rewrites, for TrackChanges.note: (manifest, old bytes, new bytes, objects brought)
        self._notes: list[tuple[str, bytes | None, bytes, dict[str, str] | None]] = []

    @once
    def cache_inside(self) -> str | None:
        """The cache's folder relative to the work tree when it lies inside it (a
        relative ``cache.dir``), else None."""
        root = os.path.realpath(self.root)
        cache = os.path.realpath(self.cache.root)
        if cache != root and not cache.startswith(root.rstrip("/") + "/"):
            return None
        rel = os.path.relpath(cache, root).replace(os.sep, "/")
        if rel != "." and not rel.startswith(".git/"):  # else `git add -A` commits the cache
            gitignore.exclude(self.repo.common_dir, gitignore.entry_for(rel, True))
        return rel

    def store_problem(self, rel: str) -> str | None:
        """Why gitstore never tracks, checks out or deletes within ``rel``: the cache is
        inside it (its objects would be taken for data, and deleted as such)."""
        inside = self.cache_inside
        if inside is None or not (inside == "." or mf.overlaps(inside, rel)):
            return None
        where = (
            f"is inside {rel}"
            if inside == "." or inside == rel or inside.startswith(rel + "/")
            else f"holds the tracked path {rel}"
        )
        return (
            f"the cache ({self.cache.root}) {where}: set cache.dir to a folder"
            " outside every tracked path"
        )

    @property
    def statcache_loaded(self) -> bool:
        return self._statcache is not None

    @property
    def statcache(self) -> StatCache:
        if self._statcache is None:
            loaded = StatCache(self.repo.state_dir / "statcache")
            if self._generation is not None:  # track's, read under the cache lock
                loaded.use_generation(self._generation)
            self._statcache = loaded
        return self._statcache

    def lock(self) -> FileLock:
        from . import prefind

        path = self.repo.state_dir / "workspace.lock"
        held = prefind.held_lock(str(path))  # `gitstore track` took it before its imports
        return FileLock(
            path,
            f"repository {self.root}",
            timeout=lock_timeout(),
            held=held,
            on_release=prefind.released if held is not None else None,
        )

    # -- paths ---------------------------------------------------------------
    def relpath(self, user_path: str, cwd: Path | None = None, *, whole: bool = False) -> str:
        """A repository-relative '/' path for a path the user typed; PathError if outside.

        ``whole``: the repository's root (``.`` at the top) is ``""``, for the
        commands that read or materialise (as git's pathspec ``.``, every
        tracked path); else it is refused, as ``track .`` is.
        """
        base = Path(cwd or os.getcwd())
        full = os.path.abspath(base / user_path)
        parent, name = os.path.split(full)
        real_parent = os.path.realpath(parent)
        root = os.path.realpath(self.root)
        joined = os.path.join(real_parent, name) if name else real_parent
        rel = os.path.relpath(joined, root)
        if rel == "." and whole:
            return ""
        if rel == ".":
            raise PathError(
                f"{shown(user_path)} is the repository's root {self.root}; name the files or folders in it"
            )
        if rel.startswith(".." + os.sep) or rel == ".." or os.path.isabs(rel):
            raise PathError(f"{user_path} is outside the repository {self.root}")
        rel = rel.replace(os.sep, "/")
        if not is_utf8(rel):  # no manifest can name it, and git's paths here are UTF-8
            raise PathError(
                f"{shown(user_path)}: file names that are not valid UTF-8 cannot be tracked"
            )
        if rel == ".git" or rel.startswith(".git/"):
            raise PathError(f"{user_path} is inside .git")
        if rel == mf.SUFFIX:  # a manifest's name with nothing before it: no path's manifest
            raise PathError(
                f"{shown(user_path)} is gitstore's own configuration folder, never a tracked path"
            )
        self._refuse_symlinked_parent(user_path, parent, root)
        self._refuse_nested_repository(user_path, rel)
        return rel

    def _refuse_nested_repository(self, user_path: str, rel: str) -> None:
        """PathError when a folder on the way to ``rel`` (or ``rel``) is another git work tree.

        A submodule's files are its own repository's: git refuses to stage
        them here ("is in submodule"), which would come after the manifest and
        ``.gitignore`` were written.
        """
        parts = rel.split("/")
        for depth in range(1, len(parts) + 1):
            folder = "/".join(parts[:depth])
            if os.path.lexists(self.root / folder / ".git"):
                raise PathError(
                    f"{user_path} is inside {folder}, a submodule or another git repository",
                    hint=f"run gitstore there: `cd {shlex.quote(folder)}` (from the repository's top)",
                )

    def _refuse_symlinked_parent(self, user_path: str, parent: str, root: str) -> None:
        """PathError when a folder of the repository on the way to a named path is a symlink.

        ``rl/r`` with ``rl -> real`` would otherwise be taken as ``real/r``;
        git refuses such a path ("beyond a symbolic link") and so does gitstore.
        """
        for top in dict.fromkeys((str(self.root), root)):
            if parent == top or parent.startswith(top + os.sep):
                at = top
                for part in parent[len(top) :].split(os.sep):
                    if not part:
                        continue
                    at = os.path.join(at, part)
                    if os.path.islink(at):
                        raise PathError(
                            f"{shown(user_path)} is beyond a symbolic link ({shown(os.path.relpath(at, top))});"
                            " name the path it points to"
                        )
                return

    def manifest_paths(self) -> list[str]:
        """Every manifest on disk (git also lists committed ones deleted from the work tree)."""
        root = self.root
        return [m for m in self.repo.worktree_manifests() if os.path.lexists(root / m)]

    def check_nesting(self, rel: str, manifests: Sequence[str]) -> None:
        """Refuse ``rel`` inside a tracked path or around one (``manifests``: sorted)."""
        parts = rel.split("/")
        for i in range(1, len(parts)):
            ancestor = "/".join(parts[:i])
            if os.path.isfile(self.root / mf.manifest_path(ancestor)):
                raise PathError(
                    f"{rel} is inside the tracked path {ancestor}",
                    hint=f"`gitstore track {shlex.quote(ancestor)}` (from the repository's top)"
                    " records every change inside it",
                )
        below = rel + "/"
        # ``manifests`` is sorted: the ones below ``rel`` are one run of it
        start = bisect.bisect_left(manifests, below)
        end = bisect.bisect_left(manifests, rel + "0")  # "0" follows "/"
        inner = [mf.tracked_path(m) for m in manifests[start:end]]
        if inner:
            more = f" (and {len(inner) - 1} more)" if len(inner) > 1 else ""
            raise PathError(
                f"{rel} contains the tracked path {inner[0]}{more}",
                hint=f"`gitstore untrack {' '.join(shlex.quote(i) for i in inner[:10])}` (from the"
                f" repository's top) first to track {rel} as one (the files stay)",
            )

    # -- track ---------------------------------------------------------------
    def _git_tracks(self, rels: Sequence[str]) -> list[bool]:
        """For each path, whether git's index holds it or files below it."""
        files = sorted(self.repo.ls_files([f":(literal){rel}" for rel in rels])) if rels else []
        exact = set(files)

        def holds(rel: str) -> bool:
            # by "rel/", not "rel": "rel-x" sorts between "rel" and "rel/a"
            i = bisect.bisect_left(files, rel + "/")
            return rel in exact or (i < len(files) and files[i].startswith(rel + "/"))

        return [holds(rel) for rel in rels]

    def track(self, user_paths: Sequence[str], cwd: Path | None = None) -> list[TrackResult]:
        """Track paths; every one is checked, folders included, before anything is written."""
        rels: list[str] = []
        seen: set[str] = set()
        given = [self.relpath(p, cwd) for p in user_paths]
        asked = set(given)
        for p, rel in zip(user_paths, given, strict=True):
            if rel.endswith(mf.SUFFIX) and mf.tracked_path(rel) in asked:
                continue  # `track d/*` names d/x and d/x.gitstore: both mean d/x
            named = shown(p)
            if not is_utf8(rel):
                raise PathError(f"{named}: file names that are not valid UTF-8 cannot be tracked")
            if len(os.fsencode(rel.rsplit("/", 1)[-1] + mf.SUFFIX)) > 255:
                raise PathError(
                    f"{named}: the name is too long to track: its manifest's name"
                    f" ({mf.SUFFIX} added) would pass the 255-byte limit"
                )
            if "\n" in rel or "\r" in rel:
                raise PathError(
                    f"{named}: a name with a line break cannot be tracked (.gitignore cannot list it)"
                )
            if mf.is_own_file(rel):
                raise PathError(
                    f"{named} is git's or gitstore's own configuration; it cannot be tracked"
                )
            if rel.endswith(mf.SUFFIX):
                if _parsed_or_none(_head_of(self.root / rel), rel) is None:
                    raise PathError(
                        f"{named} cannot be tracked: gitstore takes every file whose name ends"
                        f" in {mf.SUFFIX} for a manifest",
                        hint="rename it (or track the folder that holds it)",
                    )
                raise PathError(
                    f"{named} is a gitstore manifest; track the path it describes instead"
                )
            try:
                mode = os.lstat(self.root / rel).st_mode
            except FileNotFoundError:
                glob = any(c in rel for c in "*?[")
                raise PathError(
                    f"{named} does not exist",
                    hint="gitstore tracks paths, not patterns: let the shell expand it"
                    " (unquoted), or track the folder that holds the files"
                    if glob
                    else None,
                ) from None
            problem = self.store_problem(rel)
            if problem is not None:
                raise PathError(f"{named}: {problem}")
            if statmod.S_ISLNK(mode) and self.cache.oid_of_link(str(self.root / rel)) is None:
                raise PathError(
                    f"{named} is a symlink; symlinks cannot be tracked (gitstore manifest v1)"
                )
            if not (statmod.S_ISDIR(mode) or statmod.S_ISREG(mode)):
                raise PathError(f"{named}: only regular files and folders can be tracked")
            mrel = mf.manifest_path(rel)
            try:
                now = (self.root / mrel).read_bytes()
            except OSError:
                now = b""
            # bytes that track wrote hold no conflict markers (no entry line starts with one)
            ours = self.track_memo.wrote(mrel, now)
            if now and not ours:
                _refuse_newer_version(now, mrel)
            conflicted = not ours and mf.has_conflict_markers(now)
            if conflicted:  # the files on disk hold neither side's whole change
                raise PathError(
                    f"{mf.manifest_path(rel)} has merge conflict markers: tracking the files on"
                    " disk would drop the changes the merge brought",
                    hint=f"settle it first: `gitstore resolve {rel} --ours|--theirs|--union`",
                )
            if rel not in seen:
                rels.append(rel)
                seen.add(rel)
        for rel in rels:  # by its ancestors: one set lookup each, not every pair
            parts = rel.split("/")
            for i in range(1, len(parts)):
                if (outer := "/".join(parts[:i])) in seen:
                    tracked = (self.root / mf.manifest_path(rel)).exists()
                    raise PathError(
                        f"{rel} is inside {outer}: track one or the other",
                        hint=f"`gitstore untrack {rel}` keeps its files, then"
                        f" `gitstore track {outer}` takes them in"
                        if tracked
                        else f"`gitstore track {outer}` alone takes in {rel} too",
                    )
        _refuse_conflicted_gitignore(self.root)
        if not os.path.lexists(self.root / ".gitignore") and self.repo.outside_sparse_checkout(
            ".gitignore"
        ):  # a new one would lack the team's lines, and git would refuse to stage it
            raise PathError(
                ".gitignore is outside the sparse checkout's patterns: gitstore adds each"
                " tracked path to it",
                hint="`git sparse-checkout add /.gitignore`, then run the command again",
            )
        # Which paths git already tracks files under (to adopt them) is asked
        # in the background, in one git process for every path: it runs
        # while the folders are read.
        # a path a hook is still bringing holds files it has not replaced yet
        marks_file.refuse_if_brought(self.repo.state_dir, rels)
        tracked_by_git = Background(lambda: self._git_tracks(rels))
        manifests = sorted(self.manifest_paths())
        for rel in rels:
            self.check_nesting(rel, manifests)
        with self.lock(), self.cache_lock():
            # read under the cache lock: gc cannot delete objects while it is held
            self._generation = self.cache.generation()
            if self._statcache is not None:  # else when first used (a quick re-track may not)
                self._statcache.use_generation(self._generation)
            clean = CleanRecord.load(self.repo.state_dir)  # before the scans (racy rule)
            stamps = Stamps.load(self.repo.state_dir)
            stamps.start()  # before the scans: they vouch as of now
            # any refusal comes here; a folder with a stamp is read from what changed since
            scanned = [self._quick_scan(rel, stamps) or self._scan_for_track(rel) for rel in rels]
            git_tracks = tracked_by_git.result()
            adopt = [rel for rel, yes in zip(rels, git_tracks, strict=True) if yes]
            refusal = self.repo.rm_cached_refusal(adopt, recursive=True)
            if refusal is not None:
                raise PathError(
                    f"cannot take {', '.join(adopt)} out of git's index: {refusal}",
                    hint="commit or unstage the staged changes (`git restore --staged PATH`), then track again",
                )
            written: dict[str, tuple[bytes, list[ScannedFile]]] = {}
            results = [
                self._track_one(rel, s, written) for rel, s in zip(rels, scanned, strict=True)
            ]
            listed = [(r.path, r.kind == "dir") for r in results]
            try:
                added = gitignore.add_many(self.root, listed)
            except OSError as exc:
                raise GitstoreError(
                    f"cannot write .gitignore: {exc.strerror}",
                    hint="the manifests are written but .gitignore does not list every path yet:"
                    f" run `gitstore track {' '.join(shown(r) for r in rels)}` again once it can be written",
                ) from exc
            if adopt:
                self.repo.rm_cached(adopt, recursive=True)
                for r in results:
                    r.adopted = r.path in adopt
            stage = [r.manifest for r in results]
            new_lines = [item for item in listed if item[0] in added]  # written just now

            def stage_all() -> None:
                # asked beside the `git add`, which stages the manifests alone: git's
                # answer for .gitignore is the same before and after it
                differs = (
                    None
                    if new_lines
                    else Background(lambda: self.repo.differs_from_index(".gitignore"))
                )
                self.repo.stage(stage)
                # only gitstore's lines: the user's own edits stay unstaged; and a line
                # on disk but not staged (an earlier track whose `git add` failed) too
                if differs is None or differs.result():
                    gitignore.stage_lines(self.repo, self.root, listed)

            # git add (~45 ms for a 20,000-entry manifest, mostly git deflating
            # it) runs while the records are computed and saved
            staging = Background(stage_all)
            try:
                quick = {
                    r.manifest
                    for r, q in zip(results, scanned, strict=True)
                    if isinstance(q, _Quick)
                }
                vouched = {
                    m: signature_of(data, files)
                    for m, (data, files) in written.items()
                    if m not in quick  # the files of what changed only
                }
                for note in self._notes:
                    self.track_changes.note(*note)
                self._notes.clear()
                if self._statcache is not None:
                    self._statcache.save()
                clean.save({m: sig for m, sig in clean.entries.items() if m not in quick} | vouched)
                for m, (data, files) in written.items():
                    # a quick one: the files not read again are as the old stamp vouched
                    stamps.vouch(m, data, [f.st for f in files], self._generation)
                stamps.save()
                self.track_changes.save()
                self.track_memo.save()
                Reached.mark(self.repo.state_dir, {m: data for m, (data, _f) in written.items()})
            finally:
                try:
                    staging.result()
                except GitstoreError as exc:
                    exc.hint = (
                        "the manifests and .gitignore are written but not staged: run"
                        f" `gitstore track {' '.join(shown(r) for r in rels)}` again once git can"
                        " write its index and objects"
                    )
                    raise
        return results

    def cache_lock(self, reading: bool = False) -> FileLock:
        return self.cache.lock(reading=reading)

    def _scan_for_track(self, rel: str) -> tuple[str, list[ScannedFile]]:
        """(kind, files) of a path to track; PathError for anything a manifest cannot hold."""
        abspath = self.root / rel
        if not abspath.is_dir():
            files = [ScannedFile("", str(abspath), os.lstat(abspath))]
            problem = mf.validate_entry_path(rel.rsplit("/", 1)[-1])
            if problem is not None:
                raise PathError(f"{rel}: the name {problem}; it cannot be tracked")
            return "file", files
        files = scan(str(abspath), strict=True, display=rel, links_into=self.cache.links_prefix)
        bad = mf.first_invalid_path(f.relpath for f in files)
        if bad is not None:
            raise PathError(f"{rel}/{shown(bad[0])}: the path {bad[1]}; it cannot be tracked")
        return "dir", files

    def _quick_scan(self, rel: str, stamps: Stamps) -> _Quick | None:
        """A folder's re-track from its manifest and what changed under it since its stamp.

        Only for a manifest that ``track`` wrote itself (canonical, one plain
        line an entry) and that a stamp vouches for (:class:`Stamps`): the
        files under no changed folder are then exactly its entries, and only
        the changed files and folders are read again. None for anything else:
        the full scan decides, and says what is wrong.
        """
        mrel = mf.manifest_path(rel)
        old = manifest_bytes(self.root, mrel)
        if old is None or not self.track_memo.wrote(mrel, old):
            return None
        changed = stamps.changed_under(self.root, mrel, old, self._generation)
        if changed is None or "" in changed or len(changed) > _QUICK_MAX:
            return None
        try:
            lines = old.decode("utf-8").split("\n")
        except UnicodeDecodeError:
            return None
        if (
            len(lines) < _HEAD_LINES + 2
            or lines[2] != "kind: dir"
            or lines[_HEAD_LINES - 1] != "entries:"  # not "entries: []"
            or lines[-1] != ""
        ):
            return None
        body = lines[_HEAD_LINES:-1]
        if lines[4] != f"files: {len(body)}" or not lines[3].startswith("size: "):
            return None
        quoted: dict[int, str] = {}  # a quoted path's text is not the path
        if b'- {path: "' in old:
            for i, line in enumerate(body):
                if line[9:10] == '"':
                    found_path = mf.line_path(line)
                    if found_path is None:
                        return None
                    quoted[i] = found_path
        paths = _LinePaths(body, quoted)
        drop: set[int] = set()
        files: list[ScannedFile] = []
        walked = False
        base = f"{self.root / rel}/"
        for c in changed:
            if not c.isascii() and not is_utf8(c):
                return None
            i = bisect.bisect_left(paths, c)
            if i < len(paths) and paths[i] == c:
                drop.add(i)
            i = bisect.bisect_left(paths, c + "/")
            while i < len(paths) and paths[i].startswith(c + "/"):
                drop.add(i)
                i += 1
            try:
                st = os.lstat(base + c)
            except FileNotFoundError:
                continue  # gone: its entries are dropped
            except OSError:
                return None
            if statmod.S_ISDIR(st.st_mode):
                walked = True
                try:
                    found = walk(
                        base + c,
                        strict=True,
                        display=f"{rel}/{c}",
                        links_into=self.cache.links_prefix,
                    )
                except PathError:
                    return None  # the full scan says what is wrong
                files += [
                    ScannedFile(f"{c}/{r}", found.base + r, fst)
                    for r, fst in zip(found.rels, found.sts, strict=True)
                ]
            elif statmod.S_ISREG(st.st_mode):
                name = c.rpartition("/")[2]
                if not (name[0] == "." and name.endswith(TMP_SUFFIX)):
                    files.append(ScannedFile(c, base + c, st))
            else:
                return None  # a symlink or a special file: the full scan says what
        if any(statmod.S_ISLNK(f.st.st_mode) for f in files):
            return None
        if mf.first_invalid_path(f.relpath for f in files) is not None:
            return None
        return _Quick(old, lines[:_HEAD_LINES], body, paths, drop, files, walked)

    def _track_quick(
        self, rel: str, q: _Quick, written: dict[str, tuple[bytes, list[ScannedFile]]]
    ) -> TrackResult:
        """:meth:`_track_one` for a :meth:`_quick_scan`: the changed lines patched into the old ones."""
        if q.walked:  # a changed folder's other files: the stat cache knows them
            rows = self._entries_for(q.files, rel + "/", "dir", rel, q.old)
        else:
            rows = self._ingest_all(q.files, rel, q.old)
        shown_as = _display_for(rel, "dir")
        gone = {}
        removed = 0
        for i in q.drop:
            line = q.body[i]
            oid = line.rpartition(", blake3: ")[2].partition(", size: ")[0].strip('"')
            gone[q.paths[i]] = oid
            removed += int(line.rpartition(", size: ")[2].partition(",")[0].rstrip("}"))
        fresh: list[str] = []
        if rows:
            dumped = mf.dump(mf.build("dir", [mf.Entry(*row) for row in rows])).decode("utf-8")
            fresh = dumped.split("\n")[_HEAD_LINES:-1]
            if len(fresh) != len(rows):  # not one line an entry: the full way
                return self._track_one(rel, self._scan_for_track(rel), written)
        # each new line goes before the first old one whose path sorts at or after it
        body, paths, drop = q.body, q.paths, q.drop
        before: dict[int, list[str]] = {}
        for row, line in zip(rows, fresh, strict=True):
            at = bisect.bisect_left(paths, row[0])
            if at < len(paths) and at not in drop and paths[at] == row[0]:
                # an entry for that path kept: not as expected, the full way
                return self._track_one(rel, self._scan_for_track(rel), written)
            before.setdefault(at, []).append(line)
        lines: list[str] = []
        start = 0
        for at in sorted(drop.union(before)):
            lines += body[start:at]
            lines += before.get(at, ())
            start = at + 1 if at in drop else at
        lines += body[start:]
        count = len(lines)
        if not count:  # nothing left (written "entries: []"): the full way
            return self._track_one(rel, self._scan_for_track(rel), written)
        size = int(q.head[3][6:]) - removed + sum(row[2] for row in rows)
        head = [*q.head[:3], f"size: {size}", f"files: {count}", *q.head[5:]]
        data = "\n".join([*head, *lines, ""]).encode("utf-8")
        brought = {row[1]: shown_as(row[0]) for row in rows if gone.get(row[0]) != row[1]}
        return self._write_tracked(
            rel, "dir", q.old, data, True, brought, q.files, written, count, size
        )

    def _track_one(
        self,
        rel: str,
        scanned: tuple[str, list[ScannedFile]] | _Quick,
        written: dict[str, tuple[bytes, list[ScannedFile]]],
    ) -> TrackResult:
        """Track one path; ``written`` gets its manifest's bytes and the files just hashed."""
        if isinstance(scanned, _Quick):
            return self._track_quick(rel, scanned, written)
        kind, files = scanned
        prefix = rel + "/" if kind == "dir" else rel
        mrel = mf.manifest_path(rel)
        mpath = self.root / mrel
        try:
            old: bytes | None = mpath.read_bytes()
        except FileNotFoundError:
            old = None
        rows = self._entries_for(files, prefix, kind, rel, old)
        memo = self.track_memo
        data = None
        shown_as = _display_for(rel, kind)
        brought: dict[str, str] | None = None  # {oid: path} of the entries that changed
        if kind == "dir" and old is not None and memo.wrote(mrel, old):
            redo: list[int] = []
            data = splice(old, rows, redo)
            brought = {rows[i][1]: shown_as(rows[i][0]) for i in redo}
        plain = True  # the bytes are track's own canonical output (no unknown keys kept)
        if data is None:
            extra, kept = _extras_of(old, mrel)
            plain = not (extra or kept)
            entries = [mf.Entry(*row, kept.get(row[0], ())) for row in rows]
            data = mf.dump(mf.build(kind, entries, extra))
            before = _parsed_or_none(old, mrel)
            if before is None:
                brought = None
            else:
                had = {(e.path, e.oid) for e in before.entries}
                brought = {r[1]: shown_as(r[0]) for r in rows if (r[0], r[1]) not in had}
        size = sum(row[2] for row in rows)
        return self._write_tracked(
            rel, kind, old, data, plain, brought, files, written, len(rows), size
        )

    def _write_tracked(
        self,
        rel: str,
        kind: str,
        old: bytes | None,
        data: bytes,
        plain: bool,
        brought: dict[str, str] | None,
        files: list[ScannedFile],
        written: dict[str, tuple[bytes, list[ScannedFile]]],
        count: int,
        size: int,
    ) -> TrackResult:
        """Write a tracked path's new manifest (once its objects are synced) and the records of it."""
        mrel = mf.manifest_path(rel)
        mpath = self.root / mrel
        memo = self.track_memo
        changed = data != old
        self.cache.sync()
        if changed:
            gitignore.exclude_temporaries(self.repo.common_dir)  # the temporary name below
            try:
                replace_with(mpath, data, tmp=mpath.with_name(tmp_name(mpath.name)))
            except OSError as exc:
                raise GitstoreError(
                    f"cannot write {shown(mrel)}: {exc.strerror}",
                    hint="nothing of it changed; run the command again once it can be written",
                ) from exc
        if plain:  # splice() may patch only such bytes
            memo.record(mrel, data, os.lstat(mpath))
        # for the record of what it brought: noted (two SHA-1s of it) while git stages it
        self._notes.append((mrel, old, data, brought))
        written[mrel] = (data, files)
        return TrackResult(rel, mrel, kind, count, size, changed)

    @property
    def track_changes(self) -> TrackChanges:
        if self._changes is None:
            self._changes = TrackChanges.load(self.repo.state_dir)
        return self._changes

    @property
    def track_memo(self) -> TrackMemo:
        if self._memo is None:
            self._memo = TrackMemo(self.repo.state_dir / TrackMemo.FILE)
        return self._memo

    def _entries_for(
        self, files: list[ScannedFile], prefix: str, kind: str, rel: str, old: bytes | None = None
    ) -> list[Row]:
        """(path, oid, size, exec) of every file, sorted by path, objects in the cache.

        A symlink into the cache (``checkout --link symlink``) stands for its
        object: its oid is the object's name, and its executable bit, which a
        link cannot carry, is the entry's in the manifest ``old`` replaces.
        """
        statcache = self.statcache
        cache = self.cache
        name = rel.rsplit("/", 1)[-1]
        if any(statmod.S_ISLNK(f.st.st_mode) for f in files):
            return self._entries_with_links(files, prefix, kind, rel, old)

        def ingest(f: ScannedFile) -> Row:
            oid, size, st = cache.ingest(f.abspath)
            key = prefix + f.relpath if f.relpath else prefix
            statcache.record(key, st, oid, present=True)
            return (f.relpath or name, oid, size, is_exec(st))

        # Files the stat cache knows (and whose object is cached) cost a lookup:
        # done inline, since a thread pool costs more than that. The object of
        # such a file needs no stat when the stat cache saw it in the cache at
        # the cache's current gc generation (gc changes it before deleting).
        # Only the rest are hashed and copied, on the pool.
        generation = self._generation
        seen_all = generation is not None and generation == statcache.generation
        unverified = statcache.unverified
        lookup = statcache.lookup
        entries: list[Row | None] = []
        todo: list[ScannedFile] = []
        slots: list[int] = []
        for f in files:
            st = f.st
            key = prefix + f.relpath if f.relpath else prefix
            oid = lookup(key, st)
            if oid is not None:
                if seen_all and key not in unverified:
                    entries.append((f.relpath or name, oid, st.st_size, bool(st.st_mode & 0o100)))
                    continue
                if cache.has(oid):
                    if seen_all:
                        statcache.mark_present(key)
                    entries.append((f.relpath or name, oid, st.st_size, bool(st.st_mode & 0o100)))
                    continue
            slots.append(len(entries))
            entries.append(None)
            todo.append(f)
        sizes = [f.st.st_size for f in todo]
        for slot, entry in zip(slots, map_files(ingest, todo, sizes, self.jobs), strict=True):
            entries[slot] = entry
        linked = [
            (f, entries[slot]) for f, slot in zip(todo, slots, strict=True) if f.st.st_nlink > 1
        ]
        if linked and old is not None:
            self._edited_through_links(rel, old, linked)
        rows = [e for e in entries if e is not None]
        rows.sort(key=_first)
        return rows

    def _ingest_all(self, files: list[ScannedFile], rel: str, old: bytes) -> list[Row]:
        """:meth:`_entries_for` of files changed since anything hashed them, without the stat cache.

        A quick re-track's files changed since its stamp (their ctime says
        so), so the stat cache, keyed on the ctime too, cannot know them:
        loading it (~15 ms for 20,000 entries) would buy nothing. They are
        hashed and stored; the next full comparison hashes them once more.
        """
        cache = self.cache

        def ingest(f: ScannedFile) -> Row:
            oid, size, st = cache.ingest(f.abspath)
            return (f.relpath, oid, size, is_exec(st))

        rows = map_files(ingest, files, [f.st.st_size for f in files], self.jobs)
        linked = [(f, row) for f, row in zip(files, rows, strict=True) if f.st.st_nlink > 1]
        if linked:
            self._edited_through_links(rel, old, list(linked))
        rows.sort(key=_first)
        return rows

    def _edited_through_links(
        self, rel: str, old: bytes, linked: list[tuple[ScannedFile, Row | None]]
    ) -> None:
        """Take out of the cache the objects that files hard-linked to them changed in place.

        A hard-link checkout (``cache.link: hardlink``) shares each file's inode
        with its cache object; the files are read-only, but root, or a chmod,
        can still edit one in place, and the edit changes the cached object
        too, which then no longer holds the bytes its name says. The new bytes
        have just been cached under their own name; the damaged object is
        removed, so that nothing hands it out as the old version, and a fetch
        brings the old version back from a remote that has it.
        """
        previous = _parsed_or_none(old, mf.manifest_path(rel))
        if previous is None:
            return
        was = {e.path: e.oid for e in previous.entries}
        for f, row in linked:
            if row is None or was.get(row[0]) in (None, row[1]):
                continue
            old_oid = was[row[0]]
            path = self.cache.path(old_oid)
            try:
                st = os.stat(path)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) != (f.st.st_dev, f.st.st_ino):
                continue
            try:
                os.unlink(path)
            except OSError:
                continue
            where = f"{rel}/{f.relpath}" if f.relpath else rel
            sys.stderr.write(
                f"gitstore: warning: {where} is a hard link into the cache that was edited in"
                f" place (cache.link hardlink), which damaged the cached copy of its previous"
                f" version ({old_oid[:12]}) and every file linked to it, in this and other"
                " work trees; that copy is removed: if it was pushed, `gitstore fetch REV`"
                " brings it back, if not, that version is lost\n"
            )

    def _entries_with_links(
        self, files: list[ScannedFile], prefix: str, kind: str, rel: str, old: bytes | None
    ) -> list[Row]:
        before = _parsed_or_none(old, mf.manifest_path(rel))
        was = {e.path: e for e in before.entries} if before is not None else {}
        name = rel.rsplit("/", 1)[-1]
        links = [f for f in files if statmod.S_ISLNK(f.st.st_mode)]
        rows = self._entries_for([f for f in files if f not in links], prefix, kind, rel)
        for f in links:
            path = f.relpath or name
            oid = self.cache.oid_of_link(f.abspath)
            shown = f"{prefix}{f.relpath}" if f.relpath else rel
            if oid is None:
                raise PathError(
                    f"{shown}: a symlink into the cache whose object is gone;"
                    " check it out again or replace it with the file"
                )
            if self._oid_through_link(shown, f) != oid:
                raise PathError(
                    f"{shown} is a symlink into the cache, and its object {oid} was written"
                    " through it: the cache no longer holds that version",
                    hint=f'keep your bytes as a file (cp --remove-destination "$(readlink {shown})"'
                    f" {shown}), then run `gitstore verify --repair` and track again",
                )
            entry = was.get(path)
            exec_ = entry.exec if entry is not None and entry.oid == oid else False
            rows.append((path, oid, os.stat(f.abspath).st_size, exec_))
        rows.sort(key=_first)
        return rows

    # -- untrack -------------------------------------------------------------
    def untrack(self, user_paths: Sequence[str], cwd: Path | None = None) -> list[str]:
        named: dict[str, str] = {}  # tracked path -> as the user named it ("d" and "d.gitstore")
        for p in user_paths:
            rel = self.relpath(p, cwd)
            if rel.endswith(mf.SUFFIX):
                rel = mf.tracked_path(rel)
            if not (self.root / mf.manifest_path(rel)).exists():
                parts = rel.split("/")
                above = next(
                    (
                        "/".join(parts[:i])
                        for i in range(len(parts) - 1, 0, -1)
                        if (self.root / mf.manifest_path("/".join(parts[:i]))).is_file()
                    ),
                    None,
                )
                if above is not None:
                    raise PathError(
                        f"{p} is inside the tracked folder {above}, which is untracked as a whole",
                        hint=f"`gitstore untrack {shlex.quote(above)}` (from the repository's top)",
                    )
                if self.repo.outside_sparse_checkout(mf.manifest_path(rel)):
                    raise outside_sparse_error(p, rel)
                raise PathError(f"{p} is not tracked by gitstore")
            named.setdefault(rel, p)
        rels = list(named)
        mpaths = [mf.manifest_path(r) for r in rels]
        in_git = set(self.repo.ls_files([f":(literal){m}" for m in mpaths]))  # one git process
        for mpath in mpaths:
            self._require_manifest(mpath, mpath in in_git)
        _refuse_conflicted_gitignore(self.root)
        with self.lock():
            for rel in rels:
                self._unlink_from_cache(rel)
            # git first: when it cannot (an index.lock left behind), nothing has changed
            self.repo.rm_cached(mpaths)
            for rel, mpath in zip(rels, mpaths, strict=True):
                (self.root / mpath).unlink()
                self.statcache.forget_under(rel)
            gitignore.remove_many(self.root, rels)
            from .cleanrecord import Reached

            # no longer gitstore's: a hook must neither take them for a path in
            # place nor remove their files as a manifest gone (docs/hooks.md)
            Reached.mark(self.repo.state_dir, dict.fromkeys(mpaths))
            if (self.root / ".gitignore").exists() or self.repo.ls_files([".gitignore"]):
                try:
                    # only the lines taken out: the user's own edits stay unstaged
                    gitignore.stage_lines(self.repo, self.root, (), rels)
                except GitstoreError as exc:
                    raise GitstoreError(
                        f"untracked {', '.join(shown(r) for r in rels)}, but .gitignore could"
                        f" not be staged: {exc.message}",
                        hint="once that is fixed, run `git add .gitignore`",
                    ) from exc
            self.statcache.save()
        return rels

    def _require_manifest(self, mpath: str, in_git: bool) -> None:
        """PathError unless ``mpath`` is a manifest: untrack deletes it, and a file of the
        user's that only has the suffix (never in git, nor in the cache) would be lost."""
        if in_git:
            return  # its bytes are in git
        try:
            with open(self.root / mpath, "rb") as f:
                data = f.read(mf.MAX_MANIFEST_BYTES + 1)
        except OSError as exc:
            raise PathError(f"cannot read {mpath}: {exc.strerror}") from None
        if mf.has_conflict_markers(data):
            return  # a manifest mid-merge
        try:
            mf.parse(data, mpath)
        except ManifestError:
            raise PathError(
                f"{shown(mpath)} is not a gitstore manifest: untrack deletes only manifests,"
                " and this file is yours",
                hint="rename it: gitstore takes every file whose name ends in .gitstore for a manifest",
            ) from None

    def _unlink_from_cache(self, rel: str) -> None:
        """Replace the symlinks into the cache below ``rel`` by copies: untracked files are the user's.

        A symlink checkout's files are links to cache objects; once no
        manifest names those objects, gc may delete them, and the files with them.
        """
        abspath = self.root / rel
        files = (
            self.current_files(rel, "dir")
            if abspath.is_dir() and not abspath.is_symlink()
            else self.current_files(rel, "file")
        )
        links = [f for f in files if statmod.S_ISLNK(f.st.st_mode)]
        if not links:
            return
        manifest = _parsed_or_none(
            (self.root / mf.manifest_path(rel)).read_bytes(), mf.manifest_path(rel)
        )
        execs = {e.path: e.exec for e in manifest.entries} if manifest is not None else {}
        for f in links:
            oid = self.cache.oid_of_link(f.abspath)
            if oid is not None:
                name = f.relpath or rel.rsplit("/", 1)[-1]
                self.cache.materialise(oid, f.abspath, execs.get(name, False), ("copy",))

    # -- status --------------------------------------------------------------
    def read_manifest(self, mpath: str) -> mf.Manifest | None:
        """The working tree's manifest, or None when it holds conflict markers."""
        full = self.root / mpath
        try:
            if full.stat().st_size > mf.MAX_MANIFEST_BYTES:
                raise ManifestError(
                    f"{mpath} is larger than {mf.MAX_MANIFEST_BYTES} bytes; refused"
                )
            data = full.read_bytes()
        except OSError as exc:
            raise ManifestError(f"cannot read {mpath}: {exc.strerror}") from exc
        return self.parse_manifest(mpath, data)

    def parse_manifest(self, mpath: str, data: bytes) -> mf.Manifest | None:
        """The manifest ``mpath`` holding ``data``, or None when it has conflict markers.

        Parsed through the manifest module's bounded cache, keyed by the
        bytes' BLAKE3 digest: pre-commit compares a path with its manifest and
        then checks the same bytes as the staged manifest.
        """
        if len(data) > mf.MAX_MANIFEST_BYTES:
            raise ManifestError(f"{mpath} is larger than {mf.MAX_MANIFEST_BYTES} bytes; refused")
        if mf.has_conflict_markers(data):
            return None
        # git writes a manifest in place (a switch, a pull): read in the middle of that,
        # it is cut short. Bytes that change while we look were git's, not the
        # manifest's: read again (a manifest that stays invalid is reported)
        for _ in range(_REREADS):
            try:
                return mf.parse_cached(data, "blake3:" + hash_bytes(data), mpath)
            except ManifestError as exc:
                time.sleep(0.05)
                try:
                    again = (self.root / mpath).read_bytes()
                except OSError:
                    raise exc from None
                if again == data:
                    raise
                data = again
                if mf.has_conflict_markers(data):
                    return None
        return mf.parse_cached(data, "blake3:" + hash_bytes(data), mpath)

    def current_files(self, rel: str, kind: str) -> list[ScannedFile]:
        """What is on disk for a tracked path (symlinks included, as foreign files)."""
        abspath = self.root / rel
        if kind == "file":
            try:
                st = os.lstat(abspath)
            except (FileNotFoundError, NotADirectoryError):
                return []
            if statmod.S_ISDIR(st.st_mode):
                return [
                    ScannedFile(f.relpath, f.abspath, f.st)
                    for f in scan(str(abspath), strict=False, display=rel)
                ]
            return [ScannedFile("", str(abspath), st)]
        if os.path.islink(abspath) or os.path.isfile(abspath):
            return [ScannedFile("", str(abspath), os.lstat(abspath))]
        return scan(str(abspath), strict=False, display=rel)

    def oid_of(self, key: str, f: ScannedFile) -> str | None:
        """The oid of a workspace file through the stat cache; a symlink's only when into the cache."""
        if statmod.S_ISLNK(f.st.st_mode):
            return self._oid_through_link(key, f)
        oid = self.statcache.lookup(key, f.st)  # the common case, without building a Path
        if oid is not None:
            return oid
        return self.statcache.oid_of(key, Path(f.abspath), f.st)

    def _oid_through_link(self, key: str, f: ScannedFile) -> str | None:
        """A symlink into the cache: the oid of its object's bytes (through the stat cache,
        by the object's stat), which differs from the object's name when someone wrote
        through the link; None for any other symlink."""
        named = self.cache.oid_of_link(f.abspath)
        if named is None:
            return None
        target = Path(os.readlink(f.abspath))
        return self.statcache.oid_of(key, target, os.stat(target))

    def status(self, only: Sequence[str] = ()) -> list[PathStatus]:
        clean = CleanRecord.load(self.repo.state_dir)
        record: dict[str, Signature | None] = dict(clean.entries)
        stamps = Stamps.load(self.repo.state_dir)
        stamps.start()  # before any walk
        mpaths = [
            m
            for m in self.manifest_paths()
            if not only or any(mf.overlaps(mf.tracked_path(m), o) for o in only)
        ]
        clash = nesting_lines(mpaths)
        read = {m: manifest_bytes(self.root, m) for m in mpaths if m not in clash}
        still = stamps.still(self.root, {m: d for m, d in read.items() if d is not None})
        out = []
        for mpath in mpaths:
            rel = mf.tracked_path(mpath)
            if mpath in clash:  # neither can say what the files inside both should be
                out.append(PathStatus(rel, "invalid", mpath, error=clash[mpath]))
                record[mpath] = None
                continue
            if mpath in still:
                out.append(PathStatus(rel, "unchanged", mpath))
                continue
            sig, found, data = clean.look(self, mpath, read[mpath])
            if clean.matches(mpath, sig):
                out.append(PathStatus(rel, "unchanged", mpath))
                if found is not None and data is not None:
                    stamps.vouch(mpath, data, found.sts)
                continue
            try:
                result = self.status_of(mpath, None if found is None else found.files(), data)
            except ManifestError as exc:  # one bad file must not hide every other path
                result = PathStatus(rel, "invalid", mpath, error=exc.message)
            result.behind = result.state == "modified" and (
                clean.files_unchanged(mpath, sig)
                or (
                    data is not None
                    and mpath in stamps.still(self.root, {mpath: data}, behind=True)
                )
            )
            out.append(result)
            if result.behind:  # keep what they matched: the next commit must see it too
                continue
            record[mpath] = sig if result.state == "unchanged" else None
            if result.state == "unchanged" and found is not None and data is not None:
                stamps.vouch(mpath, data, found.sts)
            else:
                stamps.forget(mpath)
        if self._statcache is not None:
            self.statcache.save()
        clean.save(record)
        stamps.save()
        for o in only:
            if not any(mf.overlaps(s.path, o) for s in out):
                raise PathError(f"{o} is not a tracked path (nor inside or above one)")
        return out

    def status_of(
        self, mpath: str, current: list[ScannedFile] | None = None, data: bytes | None = None
    ) -> PathStatus:
        """Compare a tracked path with its manifest; ``current`` and ``data``: if just read.

        ``current`` is what :meth:`current_files` would list and ``data`` the
        manifest's bytes (``CleanRecord.look`` gives both), so that one scan
        and one read serve both the clean record and this comparison.
        """
        rel = mf.tracked_path(mpath)
        problem = mf.tracked_path_problem(rel) or self.store_problem(rel)
        if problem is not None:  # never compared, so never refreshed by a commit
            raise ManifestError(f"{mpath}: {problem}")
        manifest = self.read_manifest(mpath) if data is None else self.parse_manifest(mpath, data)
        if manifest is None:
            return PathStatus(rel, "conflicted", mpath)
        if current is None:
            current = self.current_files(rel, manifest.kind)
        if not current and not manifest.entries and manifest.kind == "dir":
            there = os.path.isdir(self.root / rel) and not os.path.islink(self.root / rel)
            return PathStatus(rel, "unchanged" if there else "not_materialised", mpath)
        if not current:
            needed = {e.oid for e in manifest.entries}
            missing = needed - self.cache.exists(needed)
            return PathStatus(rel, "missing_objects" if missing else "not_materialised", mpath)
        if manifest.kind == "file" and current[0].relpath:  # a folder where a file is expected
            return PathStatus(rel, "modified", mpath, modified=[rel])
        result = PathStatus(rel, "unchanged", mpath)
        want = manifest.by_path()
        prefix = rel + "/" if manifest.kind == "dir" else ""
        seen = set()
        for f in self._hash_all(current, rel, manifest.kind):
            scanned, oid = f
            name = scanned.relpath if manifest.kind == "dir" else manifest.entries[0].path
            shown = prefix + scanned.relpath if manifest.kind == "dir" else rel
            if scanned.relpath == "" and manifest.kind == "dir":
                shown, name = rel, ""
            entry = want.get(name)
            if entry is None:
                result.added.append(shown)
                continue
            seen.add(name)
            linked = statmod.S_ISLNK(scanned.st.st_mode)  # no executable bit of its own
            if (
                oid != entry.oid
                or not linked
                and (is_exec(scanned.st) != entry.exec or scanned.st.st_size != entry.size)
            ):  # a size the manifest got wrong (edited by hand): `track` writes the right one
                result.modified.append(shown)
        for name in want:
            if name not in seen:
                result.removed.append(prefix + name if manifest.kind == "dir" else rel)
        if result.added or result.modified or result.removed:
            result.state = "modified"
            result.added.sort()
            result.modified.sort()
            result.removed.sort()
        return result

    def _hash_all(
        self, files: list[ScannedFile], rel: str, kind: str
    ) -> list[tuple[ScannedFile, str | None]]:
        def key(f: ScannedFile) -> str:
            return rel + "/" + f.relpath if kind == "dir" and f.relpath else rel

        sc = self.statcache
        todo = []
        out: list[tuple[ScannedFile, str | None]] = []
        for f in files:
            if statmod.S_ISLNK(f.st.st_mode):
                out.append((f, self._oid_through_link(key(f), f)))
                continue
            oid = sc.lookup(key(f), f.st)
            if oid is None:
                todo.append(f)
            else:
                out.append((f, oid))
        if todo:
            sizes = [f.st.st_size for f in todo]
            oids = map_files(lambda f: self.oid_of(key(f), f), todo, sizes, self.jobs)
            out += list(zip(todo, oids, strict=True))
        return out


def outside_sparse_error(shown: str, rel: str) -> PathError:
    """The error for a tracked path whose manifest a sparse checkout leaves out."""
    return PathError(
        f"{shown} is tracked, but its manifest {mf.manifest_path(rel)} is outside the sparse checkout",
        hint=f"`git sparse-checkout add {shlex.quote(os.path.dirname(rel) or mf.manifest_path(rel))}`,"
        " then run this again",
    )
