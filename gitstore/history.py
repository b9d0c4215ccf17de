"""History: what changed between two versions of the tracked paths, and when a path changed.

:func:`diff` compares two sides — a commit, or the working tree (the payload
files on disk, hashed through the stat cache, or the working tree's manifest
for a tracked path that is not materialised) — and returns a :class:`Diff`:
per tracked path, the files added, removed, modified and renamed, with the
change words of DESIGN.md. Between two commits only the manifests whose blob
ids differ are read. :func:`log` walks history from a commit and returns a
:class:`LogEntry` for every commit where a tracked file or folder (or a file or
folder inside a tracked folder) changed, comparing manifest blob ids first and
parsing a manifest only when they differ. Nothing here prints; ``cli_history``
renders these objects, ``--json`` included.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import stat as statmod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from . import manifest as mf
from . import manifestdiff as md
from .errors import ManifestError, PathError, RevisionError
from .pyapi import _find, normalise_path

_HEX40 = re.compile(r"[0-9a-f]{40}")

if TYPE_CHECKING:
    from .api import Context
    from .gitrepo import CommitInfo, GitRepo
    from .workspace import ScannedFile, Workspace

__all__ = ["Diff", "LogEntry", "PathChanges", "diff", "log", "normalise_path"]

WORKTREE = "working tree"
_SIZE_RE = re.compile(rb"^size: (0|[1-9][0-9]*)$", re.MULTILINE)


# -- results ------------------------------------------------------------------
@dataclass(frozen=True)
class PathChanges:
    """The changes below one tracked path; ``old_kind``/``new_kind`` None when absent."""

    path: str
    old_kind: str | None
    new_kind: str | None
    changes: md.Changes

    @property
    def state(self) -> str:
        """``added`` or ``removed`` (the tracked path as a whole), else ``modified``."""
        if self.old_kind is None:
            return "added"
        return "removed" if self.new_kind is None else "modified"

    @property
    def byte_delta(self) -> int:
        c = self.changes
        return (
            sum(a.size for a in c.added)
            - sum(r.size for r in c.removed)
            + sum(m.new_size - m.old_size for m in c.modified)
        )


@dataclass(frozen=True)
class Diff:
    """Every change between ``old`` and ``new`` (commit shas; ``new`` None: the working tree)."""

    old: str | None
    new: str | None
    old_label: str
    new_label: str
    paths: tuple[PathChanges, ...]

    def _merged(self, name: str) -> list[Any]:
        out = [item for p in self.paths for item in getattr(p.changes, name)]
        out.sort(key=lambda item: item.path)
        return out

    @property
    def added(self) -> list[md.Added]:
        return self._merged("added")

    @property
    def removed(self) -> list[md.Removed]:
        return self._merged("removed")

    @property
    def modified(self) -> list[md.Modified]:
        return self._merged("modified")

    @property
    def renamed(self) -> list[md.Renamed]:
        return self._merged("renamed")

    def __bool__(self) -> bool:
        return bool(self.paths)

    def to_json(self) -> dict[str, list[dict[str, Any]]]:
        return {
            "added": [{"path": a.path, "oid": a.oid, "size": a.size} for a in self.added],
            "removed": [{"path": r.path, "oid": r.oid, "size": r.size} for r in self.removed],
            "modified": [
                {
                    "path": m.path,
                    "old_oid": m.old_oid,
                    "new_oid": m.new_oid,
                    "old_size": m.old_size,
                    "new_size": m.new_size,
                    "old_exec": m.old_exec,
                    "new_exec": m.new_exec,
                }
                for m in self.modified
            ],
            "renamed": [
                {"old_path": r.old_path, "path": r.path, "oid": r.oid, "size": r.size}
                for r in self.renamed
            ],
        }


@dataclass(frozen=True)
class _CommitRow:
    """What every log line says of its commit."""

    commit: str
    date: str
    author: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "date": self.date,
            "author": self.author,
            "message": self.message,
        }


@dataclass(frozen=True)
class LogEntry(_CommitRow):
    """One commit where the path changed; ``oid`` None for a folder or a removed path."""

    oid: str | None
    size: int
    removed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "oid": self.oid, "size": self.size}


@dataclass(frozen=True)
class DataLogEntry(_CommitRow):
    """One commit that changed tracked data: the tracked paths whose manifests it changed."""

    paths: list[str]

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "paths": self.paths}


# -- paths ----------------------------------------------------------------------
def _relation(tracked: str, path: str) -> str | None:
    """How a user path relates to a tracked path: equal, inside, contains, or None."""
    if path == tracked:
        return "equal"
    if path.startswith(tracked + "/"):
        return "inside"
    if tracked.startswith(path + "/"):
        return "contains"
    return None


# -- the two sides of a diff ------------------------------------------------------
Keyed = tuple[str, dict[str, mf.Entry] | tuple[mf.Entry, ...], str]  # kind, entries, prefix


def _keyed(rel: str, manifest: mf.Manifest) -> Keyed:
    if manifest.kind == "dir":
        return "dir", manifest.entries, rel + "/"
    return "file", {"": manifest.entries[0]}, rel


class _CommitSide:
    def __init__(self, repo: GitRepo, commit: str | None) -> None:
        self.repo, self.commit = repo, commit

    def manifests(self) -> dict[str, str]:
        return {} if self.commit is None else self.repo.list_manifests(self.commit)

    def read(self, mpath: str, blob: str) -> tuple[mf.Manifest, bytes]:
        data = self.repo.read_blob(blob)
        where = f"{mpath} at {self.commit[:12]}" if self.commit else mpath
        return mf.parse_cached(data, blob, where), data

    def keyed(self, mpath: str, blob: str | None) -> Keyed | None:
        if blob is None:
            return None
        return _keyed(mf.tracked_path(mpath), self.read(mpath, blob)[0])


class _WorktreeSide:
    """The working tree: files on disk through the stat cache, else the manifest file."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def manifests(self) -> dict[str, str]:
        return {m: WORKTREE for m in self.ws.manifest_paths()}

    def keyed(self, mpath: str, _key: str | None) -> Keyed | None:
        if _key is None:
            return None
        ws = self.ws
        manifest = ws.read_manifest(mpath)
        if manifest is None:
            raise ManifestError(
                f"{mpath} has merge conflict markers",
                hint="resolve the conflict, then run it again",
            )
        rel = mf.tracked_path(mpath)
        found = ws.current_files(rel, manifest.kind)
        current = [f for f in found if _regular(f)]
        # a symlink checkout's links stand for their objects (as in status):
        # the bytes behind each, which a write through the link changes
        links = self._links(rel, manifest, found)
        if not current and not links:
            return _keyed(rel, manifest)
        if manifest.kind == "file" and (current or links)[0].relpath == "":
            if links:
                return "file", {"": links[0].entry}, rel
            (oid,) = self._oids(rel, current)
            f = current[0]
            entry = mf.Entry(manifest.entries[0].path, oid, f.st.st_size, _is_exec(f))
            return "file", {"": entry}, rel
        oids = self._oids(rel + "/", current)
        entries = {
            f.relpath: mf.Entry(f.relpath, oid, f.st.st_size, _is_exec(f))
            for f, oid in zip(current, oids, strict=True)
        }
        entries.update((link.relpath, link.entry) for link in links)
        return "dir", entries, rel + "/"

    def _links(self, rel: str, manifest: mf.Manifest, found: list[ScannedFile]) -> list[_Link]:
        ws = self.ws
        out = []
        execs: dict[str, bool] | None = None
        for f in found:
            if not statmod.S_ISLNK(f.st.st_mode):
                continue
            key = f"{rel}/{f.relpath}" if f.relpath else rel
            oid = ws.oid_of(key, f)
            if oid is None:
                continue  # not into the cache: not data (status and track say so)
            if execs is None:
                execs = {e.path: e.exec for e in manifest.entries}
            name = f.relpath or manifest.entries[0].path
            size = os.stat(f.abspath).st_size
            out.append(_Link(f.relpath, mf.Entry(name, oid, size, execs.get(name, False))))
        return out

    def _oids(self, prefix: str, files: list[ScannedFile]) -> list[str]:
        sc = self.ws.statcache
        keys = [prefix + f.relpath if f.relpath else prefix for f in files]
        found = [sc.lookup(key, f.st) for key, f in zip(keys, files, strict=True)]
        todo = [i for i, oid in enumerate(found) if oid is None]

        def one(i: int) -> str:
            return sc.oid_of(keys[i], _abspath(files[i]), files[i].st)

        if len(todo) < 64 or self.ws.jobs <= 1:
            for i in todo:
                found[i] = one(i)
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=self.ws.jobs) as pool:
                for i, oid in zip(todo, pool.map(one, todo), strict=True):
                    found[i] = oid
        return [oid or "" for oid in found]


class _Link(NamedTuple):
    relpath: str
    entry: mf.Entry


def _regular(f: ScannedFile) -> bool:
    return statmod.S_ISREG(f.st.st_mode)


def _is_exec(f: ScannedFile) -> bool:
    return bool(f.st.st_mode & 0o100)


def _abspath(f: ScannedFile) -> Path:
    return Path(f.abspath)


# -- diff -------------------------------------------------------------------------
def diff(
    ctx: Context, a: str | None = None, b: str | None = None, paths: Sequence[str] = ()
) -> Diff:
    """Changes from revision ``a`` (default HEAD) to ``b`` (default: the working tree).

    ``paths`` are repository-relative; they restrict the diff to the tracked
    paths they name, contain or lie inside. A path that is tracked on neither
    side is a :class:`PathError`.
    """
    repo = ctx.repo
    old_commit = repo.resolve(a) if a is not None else repo.head()
    if a is None and old_commit is None:
        old_label = "(nothing)"
    else:
        old_label = a or "HEAD"
    only = [normalise_path(p) for p in paths]
    old_side = _CommitSide(repo, old_commit)
    pairs: list[tuple[str, str | None, str | None]]
    if b is not None:
        new_commit: str | None = repo.resolve(b)
        new_side: _CommitSide | _WorktreeSide = _CommitSide(repo, new_commit)
        assert new_commit is not None
        pairs = repo.changed_manifests(old_commit, new_commit)
    else:
        new_commit = None
        ws = ctx.workspace
        new_side = _WorktreeSide(ws)
        before, after = old_side.manifests(), new_side.manifests()
        pairs = [(m, before.get(m), after.get(m)) for m in sorted(before.keys() | after.keys())]
    if only:
        pairs = [p for p in pairs if any(_relation(mf.tracked_path(p[0]), o) for o in only)]
    out = []
    for mpath, old_key, new_key in pairs:
        rel = mf.tracked_path(mpath)
        old_kind: str | None
        new_kind: str | None
        if isinstance(new_side, _CommitSide) and old_key is not None and new_key is not None:
            changes, old_kind, new_kind = _diff_commits(old_side, new_side, mpath, old_key, new_key)
        else:
            old = old_side.keyed(mpath, old_key)
            new = new_side.keyed(mpath, new_key)
            changes = _diff_keyed(old, new)
            old_kind, new_kind = old and old[0], new and new[0]
        restrict = [o for o in only if _relation(rel, o) == "inside"]
        if restrict and not any(_relation(rel, o) in ("equal", "contains") for o in only):
            changes = _restrict(changes, restrict)
        if changes:
            out.append(PathChanges(rel, old_kind, new_kind, changes))
    if b is None:
        ctx.workspace.statcache.save()
    if only and not out:
        _check_known(ctx, only, old_commit, new_commit, b is None)
    return Diff(old_commit, new_commit, old_label, b or WORKTREE, tuple(out))


def _diff_commits(
    old_side: _CommitSide, new_side: _CommitSide, mpath: str, old_blob: str, new_blob: str
) -> tuple[md.Changes, str, str]:
    """A tracked path present at both commits: folders compare their manifests' lines first."""
    rel = mf.tracked_path(mpath)
    old, old_data = old_side.read(mpath, old_blob)
    new, new_data = new_side.read(mpath, new_blob)
    if old.kind == new.kind == "dir":
        changes = md.diff_manifests(old, new, old_data, new_data, prefix=rel + "/")
    else:
        changes = _diff_keyed(_keyed(rel, old), _keyed(rel, new))
    return changes, old.kind, new.kind


def _diff_keyed(old: Keyed | None, new: Keyed | None) -> md.Changes:
    if old is not None and new is not None and old[0] == new[0]:
        return md.diff_entries(old[1], new[1], prefix=new[2])
    gone = md.diff_entries(old[1], (), prefix=old[2]) if old else None
    came = md.diff_entries((), new[1], prefix=new[2]) if new else None
    return md.Changes(came.added if came else [], gone.removed if gone else [], [], [])


def _under_any(path: str, prefixes: Sequence[str]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def _restrict(changes: md.Changes, prefixes: Sequence[str]) -> md.Changes:
    return md.Changes(
        [c for c in changes.added if _under_any(c.path, prefixes)],
        [c for c in changes.removed if _under_any(c.path, prefixes)],
        [c for c in changes.modified if _under_any(c.path, prefixes)],
        [
            c
            for c in changes.renamed
            if _under_any(c.path, prefixes) or _under_any(c.old_path, prefixes)
        ],
    )


def _check_known(
    ctx: Context, only: Sequence[str], old: str | None, new: str | None, worktree: bool
) -> None:
    """Raise PathError for a path that is tracked on neither side."""
    repo = ctx.repo
    for path in only:
        if old is not None and _tracked_at(repo, old, path):
            continue
        if new is not None and _tracked_at(repo, new, path):
            continue
        if worktree and any(_in_worktree(ctx, m, path) for m in ctx.workspace.manifest_paths()):
            continue
        revision_like = "/" not in path or any(c in path for c in "~^@")  # origin/main~2
        if revision_like and repo.try_resolve(path) is None:
            shallow = repo.shallow() and any(c in path for c in "~^@")
            raise PathError(
                f"'{path}' is neither a known revision nor a tracked path"
                + (" (this clone is shallow: its history stops early)" if shallow else ""),
                hint="`git fetch --unshallow` brings the rest of the history"
                if shallow
                else "`git log --oneline` lists revisions, `gitstore ls` tracked files",
            )
        raise PathError(f"{path} is not a tracked path on either side of the diff")


def _tracked_at(repo: GitRepo, commit: str, path: str) -> bool:
    """Whether ``path`` is a tracked path at ``commit``, holds one, or names files inside one."""
    covering = _covering(repo, commit, path)
    if covering is None:
        return bool(repo.list_manifests(commit, under=[path]))
    mpath, blob = covering
    try:
        data = repo.read_blob(blob)
        return _names(mf.parse_cached(data, blob, mpath), mf.tracked_path(mpath), path)
    except ManifestError:
        return True  # the diff itself names the manifest and what is wrong with it


def _in_worktree(ctx: Context, manifest: str, path: str) -> bool:
    """Whether ``path`` is, holds or is inside the tracked path of the working tree's ``manifest``:
    inside, a file or folder on disk, or an entry of the manifest."""
    tracked = mf.tracked_path(manifest)
    relation = _relation(tracked, path)
    if relation != "inside":
        return relation is not None
    root = ctx.repo.require_worktree()
    if os.path.lexists(root / path):
        return True
    try:
        return _names(mf.parse((root / manifest).read_bytes(), manifest), tracked, path)
    except (OSError, ManifestError):
        return True  # the diff itself says what is wrong


def _names(manifest: mf.Manifest, tracked: str, path: str) -> bool:
    """Whether ``manifest`` (of ``tracked``) lists ``path``, or files under it."""
    if path == tracked:
        return True
    return manifest.kind == "dir" and _find(manifest.entries, path[len(tracked) + 1 :]) is not None


def _covering(repo: GitRepo, commit: str, path: str) -> tuple[str, str] | None:
    """(manifest path, blob) of the tracked path equal to or above ``path`` at ``commit``."""
    parts = path.split("/")
    for i in range(len(parts), 0, -1):
        mpath = mf.manifest_path("/".join(parts[:i]))
        blob = repo.blob_id(commit, mpath)
        if blob is not None:
            return mpath, blob
    return None


# -- log ----------------------------------------------------------------------------
def _signature(
    found: mf.Entry | Sequence[mf.Entry] | None,
) -> tuple[Any, str | None, int] | None:
    """(signature, oid, size) of the entry, or entries below a folder, found for a path."""
    if found is None:
        return None
    if isinstance(found, mf.Entry):
        return ("file", found.oid, found.exec), found.oid, found.size
    sig = tuple((e.path, e.oid, e.exec) for e in found)
    return ("dir", sig), None, sum(e.size for e in found)


@dataclass
class _Logger:
    repo: GitRepo
    path: str
    states: dict[str, tuple[str, str] | None] = field(default_factory=dict)
    values: dict[tuple[str, str], tuple[Any, str | None, int] | None] = field(default_factory=dict)
    # consecutive versions share most lines: each read once, every version checked in full
    reader: mf.VersionReader = field(default_factory=mf.VersionReader)

    def state(self, commit: str) -> tuple[str, str] | None:
        if commit not in self.states:
            self.states[commit] = _covering(self.repo, commit, self.path)
        return self.states[commit]

    def value(self, commit: str) -> tuple[Any, str | None, int] | None:
        """(signature, oid, size) of the path at ``commit``, None when absent."""
        state = self.state(commit)
        if state is None:
            return None
        if state not in self.values:
            self.values[state] = self._value(*state, commit)
        return self.values[state]

    def _value(self, mpath: str, blob: str, commit: str) -> tuple[Any, str | None, int] | None:
        data = self.repo.read_blob(blob)
        rel = mf.tracked_path(mpath)
        where = f"{mpath} at {commit[:12]}"  # an error names the commit: history may hold bad ones
        if rel == self.path and (b"\nkind: dir\n" in data[:400]):
            match = _SIZE_RE.search(data, 0, 400)
            size = int(match.group(1)) if match else mf.parse_cached(data, blob, where).size
            return ("dir", blob), None, size
        manifest = self.reader.parse(data, where)
        if rel == self.path:
            if manifest.kind == "dir":
                return ("dir", blob), None, manifest.size
            entry = manifest.entries[0]
        else:
            if manifest.kind != "dir":
                return None
            return _signature(_find(manifest.entries, self.path[len(rel) + 1 :]))
        return ("file", entry.oid, entry.exec), entry.oid, entry.size

    def changed(self, commit: str, parent: str | None) -> bool:
        if parent is not None and self.state(commit) == self.state(parent):
            return False
        now = self.value(commit)
        was = None if parent is None else self.value(parent)
        return (now and now[0]) != (was and was[0])


def log(
    ctx: Context,
    path: str,
    *,
    rev: str | None = None,
    n: int | None = None,
    all_parents: bool = False,
) -> list[LogEntry]:
    """Commits where ``path`` (repository-relative) changed, newest first.

    First parents only by default (a merge is compared with its first
    parent); with ``all_parents`` every ancestor is visited and a merge is
    listed only when the path differs from every one of its parents. A commit
    that removed the path is listed with ``oid`` None, ``size`` 0 and
    ``removed`` True.
    """
    return list(iter_log(ctx, path, rev=rev, n=n, all_parents=all_parents))


def iter_log(
    ctx: Context,
    path: str,
    *,
    rev: str | None = None,
    n: int | None = None,
    all_parents: bool = False,
) -> Iterator[LogEntry]:
    repo = ctx.repo
    rel = normalise_path(path)
    start = repo.resolve(rev or "HEAD")
    logger = _Logger(repo, rel)
    count, seen = 0, False
    for info in _prefetched(logger, repo.walk(start, first_parent=not all_parents)):
        if n is not None and count >= n:
            return
        now = logger.value(info.sha)
        seen = seen or now is not None
        parents = info.parents[:1] if not all_parents else info.parents
        if parents:
            changed = all(logger.changed(info.sha, p) for p in parents)
        else:
            changed = now is not None
        if not changed:
            continue
        seen = True
        count += 1
        oid, size = (now[1], now[2]) if now is not None else (None, 0)
        yield LogEntry(
            info.sha, info.date, info.author, info.subject, oid, size, removed=now is None
        )
    if not seen:
        raise PathError(
            f"{rel} is not tracked in the history of {rev or 'HEAD'}",
            hint="`gitstore ls` lists the tracked files",
        )


def _prefetched(logger: _Logger, walk: Iterator[CommitInfo]) -> Iterator[CommitInfo]:
    """The walk, unchanged; in a partial clone (``git clone --filter``) the trees and the
    manifest versions of each next stretch of it are fetched in two batches first, not
    one commit at a time (a lazy fetch per object is a round trip to the git remote)."""
    if not logger.repo.promisor_remotes():
        yield from walk
        return
    size = 16
    while True:
        chunk = list(itertools.islice(walk, size))
        if not chunk:
            return
        commits = {info.sha for info in chunk} | {p for info in chunk for p in info.parents}
        with contextlib.suppress(RevisionError):  # offline: what is here still reads
            logger.repo.prefetch_trees(c for c in commits if logger.repo.has_object(c))
            states = (logger.state(c) for c in commits if logger.repo.has_object(c))
            logger.repo.fetch_missing({state[1] for state in states if state is not None})
        yield from chunk
        size = min(size * 4, 1024)


def data_log(
    ctx: Context,
    *,
    rev: str | None = None,
    n: int | None = None,
    all_parents: bool = False,
    under: str | None = None,
) -> list[DataLogEntry]:
    """Commits that changed any manifest, newest first, as ``git log -- '*.gitstore'`` finds them.

    ``under``: only the manifests in that folder (repository-relative), at any depth.

    First parents only by default, as :func:`log`. One git process: its
    history walk with a pathspec is far cheaper than listing every commit's
    manifests.
    """
    if rev is None and ctx.repo.head() is None:
        return []  # no commits yet
    start = ctx.repo.resolve(rev or "HEAD")
    args = ["log", "-z", "--format=%H%x00%cI%x00%an <%ae>%x00%s", "--name-only", "--no-renames"]
    # a merge lists what it changed against its first parent (with every
    # parent walked, git would otherwise list no file for it)
    args.append("--first-parent" if not all_parents else "--diff-merges=first-parent")
    if n is not None:
        args.append(f"--max-count={n}")
    if n is None and ctx.repo.promisor_remotes():
        # a partial clone made with --filter=tree:0: git log would fetch each
        # commit's trees on its own, one round trip to the git remote apiece
        first = ["--first-parent"] if not all_parents else []
        walked = ctx.repo.git("rev-list", *first, start).stdout.decode("ascii").split()
        ctx.repo.prefetch_trees(walked)
    spec = "*" + mf.SUFFIX
    if under is not None:  # the folder's name taken literally, whatever it holds
        spec = ":(top,glob)" + re.sub(r"([*?\[\]\\])", r"\\\1", under) + "/**/" + spec
    tokens = ctx.repo.git(*args, start, "--", spec).stdout.split(b"\0")
    out: list[DataLogEntry] = []
    i = 0
    while i + 3 < len(tokens):
        sha, date, author, subject = (t.decode("utf-8", "replace") for t in tokens[i : i + 4])
        sha = sha.lstrip("\n")
        i += 4
        paths = []
        while i < len(tokens) and tokens[i].lstrip(b"\n").endswith(mf.SUFFIX.encode()):
            paths.append(mf.tracked_path(os.fsdecode(tokens[i].lstrip(b"\n"))))
            i += 1
        if _HEX40.fullmatch(sha) and paths:
            out.append(DataLogEntry(sha, date, author, subject, sorted(set(paths))))
    return out


# -- rendering (pure text; the CLI writes it) -------------------------------------
def human_size(n: int, signed: bool = False) -> str:
    sign = ("+" if n > 0 else "-" if n < 0 else "±") if signed else ("-" if n < 0 else "")
    value = float(abs(n))
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            text = f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
            return sign + text
        value /= 1024
    raise AssertionError("unreachable")


def change_lines(d: Diff) -> Iterator[tuple[str, tuple[str, ...], str]]:
    """(change word, paths, detail) of every changed file, sorted by path.

    ``paths`` is (old path, new path) for a rename, else (path,).
    """
    items: list[tuple[str, str, tuple[str, ...], str]] = []
    for p in d.paths:
        c = p.changes
        items += [(a.path, "added", (a.path,), human_size(a.size)) for a in c.added]
        items += [(r.path, "removed", (r.path,), human_size(r.size)) for r in c.removed]
        items += [(m.path, "modified", (m.path,), _modified_detail(m)) for m in c.modified]
        items += [(r.path, "renamed", (r.old_path, r.path), "") for r in c.renamed]
    items.sort()
    for _, word, paths, detail in items:
        yield word, paths, detail


def _modified_detail(m: md.Modified) -> str:
    parts = []
    if m.old_oid != m.new_oid or m.old_size != m.new_size:
        parts.append(f"{human_size(m.old_size)} -> {human_size(m.new_size)}")
    if m.old_exec != m.new_exec:
        parts.append(f"exec {str(m.old_exec).lower()} -> {str(m.new_exec).lower()}")
    return ", ".join(parts)


def _counts(p: PathChanges) -> tuple[int, int, int, int]:
    c = p.changes
    return len(c.added), len(c.removed), len(c.modified), len(c.renamed)


def format_text(d: Diff) -> str:
    lines = [
        f"{word:<9} {' -> '.join(map(mf.one_line, paths))}" + (f" ({detail})" if detail else "")
        for word, paths, detail in change_lines(d)
    ]
    return "\n".join(lines) + "\n" if lines else ""


def format_stat(d: Diff) -> str:
    """One line per tracked path, then a summary, like ``git diff --stat``."""
    if not d.paths:
        return ""
    width = max(len(mf.one_line(p.path)) for p in d.paths)
    lines = []
    totals = [0, 0, 0, 0]
    delta = 0
    for p in d.paths:
        counts = _counts(p)
        totals = [t + c for t, c in zip(totals, counts, strict=True)]
        delta += p.byte_delta
        note = f" ({p.state})" if p.state != "modified" else ""
        lines.append(
            f" {mf.one_line(p.path):<{width}} | {sum(counts):>6} "
            f"+{counts[0]} -{counts[1]} ~{counts[2]} >{counts[3]} "
            f"{human_size(p.byte_delta, signed=True)}{note}"
        )
    n = len(d.paths)
    lines.append(
        f" {n} tracked path{'s' if n != 1 else ''} changed, {totals[0]} added, {totals[1]} removed,"
        f" {totals[2]} modified, {totals[3]} renamed, {human_size(delta, signed=True)}"
    )
    return "\n".join(lines) + "\n"


def _md_code(text: str, *, cell: bool = True) -> str:
    """``text`` as an inline code span that is safe inside a table cell (``cell``: ``|``
    escaped, which GitHub shows as it is outside a table) or a list item.

    Control characters (a carriage return is a line ending to CommonMark) are
    escaped as the text output quotes them, so no name starts a new list item.
    """
    text = mf.one_line(text)
    if cell:
        text = text.replace("|", "\\|")
    if "`" not in text:
        return f"`{text}`"
    return f"`` {text} ``"


def format_markdown(d: Diff, limit: int = 1000) -> str:
    """A summary table per tracked path and a collapsible list of changed files.

    The list shows at most ``limit`` files and says how many more there are.
    """
    title = f"### gitstore diff {_md_code(d.old_label)} → {_md_code(d.new_label)}\n\n"
    if not d.paths:
        return title + "No changes to tracked data.\n"
    out = [title, "| tracked path | added | removed | modified | renamed | size change |\n"]
    out.append("| --- | ---: | ---: | ---: | ---: | ---: |\n")
    totals = [0, 0, 0, 0]
    delta = 0
    for p in d.paths:
        counts = _counts(p)
        totals = [t + c for t, c in zip(totals, counts, strict=True)]
        delta += p.byte_delta
        note = f" ({p.state})" if p.state != "modified" else ""
        cells = " | ".join(f"{c:,}" for c in counts)
        out.append(f"| {_md_code(p.path)}{note} | {cells} | {human_size(p.byte_delta, True)} |\n")
    if len(d.paths) > 1:
        cells = " | ".join(f"**{c:,}**" for c in totals)
        out.append(f"| **total** | {cells} | **{human_size(delta, True)}** |\n")
    changed = sum(totals)
    out.append(f"\n<details><summary>{changed:,} changed file{'s' if changed != 1 else ''}")
    out.append("</summary>\n\n")
    for i, (word, paths, detail) in enumerate(change_lines(d)):
        if i >= limit:
            out.append(f"- … and {changed - limit:,} more\n")
            break
        shown = " → ".join(_md_code(path, cell=False) for path in paths)
        out.append(f"- {word} {shown}" + (f" ({detail})" if detail else "") + "\n")
    out.append("\n</details>\n")
    return "".join(out)
