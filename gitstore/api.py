"""One function per user verb: what the CLI, the hooks and Python code call.

Each function takes a :class:`Context` (the repository, its configuration and
the cache) and returns typed results; nothing here prints. The CLI renders the
results; ``--json`` is rendered from the same objects.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from . import config as cfg
from . import manifest as mf
from .cache import Cache, check_size
from .errors import (
    CheckoutConflictError,
    GitstoreError,
    IntegrityError,
    ManifestError,
    ObjectNotFoundError,
    PathError,
    RevisionError,
)
from .gitrepo import GitRepo
from .once import once
from .progress import count
from .workspace import PathStatus, TrackResult, Workspace

if TYPE_CHECKING:
    from .checkout import CheckoutResult


def __getattr__(name: str) -> Any:
    """``CheckoutResult`` (exported) on first use: track and status never load the checkout module."""
    if name == "CheckoutResult":
        from .checkout import CheckoutResult

        return CheckoutResult
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Context:
    """The repository a command runs in, with its merged config and cache."""

    def __init__(self, path: Path | str = ".", *, overrides: dict[str, Any] | None = None):
        self.repo = GitRepo.discover(path)
        self.cwd = Path(path).absolute() if path != "." else Path.cwd()
        self.config = cfg.load(self.repo.root, self.repo.common_dir, overrides=overrides)
        self.upstream_asked = False  # remotes.use_upstream: at most once

    @once
    def cache(self) -> Cache:
        _refuse_cache_over(self.config.cache_dir, self.repo.root)
        cache = Cache(self.config.cache_dir, self.config.link)
        repo = self.repo
        cache.register_repo(repo.common_dir, repo.root if repo.git_dir == repo.common_dir else None)
        return cache

    @once
    def workspace(self) -> Workspace:
        ws = Workspace(self.repo, self.cache, jobs=self.config.jobs)
        if ws.cache_inside is not None:  # a relative cache.dir: never inside a tracked path
            for m in self.repo.worktree_manifests():
                problem = ws.store_problem(mf.tracked_path(m))
                if problem is not None:
                    from .errors import UsageError

                    raise UsageError(problem, hint="then run the command again")
        return ws


def _refuse_cache_over(root: Path, worktree: Path | None) -> None:
    """A cache folder must be gitstore's own: never the home folder, nor one that holds
    the work tree (``cache.dir: .`` or ``..``), whose own files its gc would judge."""
    from .errors import UsageError

    real = os.path.realpath(root)
    why = None
    if real == os.path.realpath(os.path.expanduser("~")) or real == "/":
        why = "is your home folder" if real != "/" else "is the root folder"
    elif worktree is not None:
        top = os.path.realpath(worktree)
        if top == real or top.startswith(real.rstrip("/") + "/"):
            why = "holds this work tree"
    if why is not None:
        raise UsageError(
            f"the cache folder {root} {why}: gitstore needs a folder of its own",
            hint="set cache.dir (or GITSTORE_CACHE_DIR) to a new folder, such as"
            " ~/.cache/gitstore, the default",
        )


# -- init --------------------------------------------------------------------
def init(ctx: Context) -> list[str]:
    """Set up the repository: committed config, state folder. Idempotent."""
    root = ctx.repo.require_worktree()
    done = []
    committed = cfg.committed_config_path(root)
    if not committed.exists() and not ctx.repo.not_checked_out():  # else it is in HEAD
        committed.parent.mkdir(parents=True, exist_ok=True)
        committed.write_text("gitstore: 1\n")
        ctx.repo.stage([committed.relative_to(root).as_posix()])
        done.append(f"wrote {committed.relative_to(root).as_posix()}")
    ctx.repo.state_dir.mkdir(parents=True, exist_ok=True)
    from .hooks import install

    installed = install(ctx.repo)  # also marks *.gitstore in .gitattributes, on bytes
    if installed.attributes:
        done.append("marked *.gitstore in .gitattributes")
    if installed.framework:
        done.append(
            "the pre-commit framework runs gitstore's hooks here: installed none of its own"
        )
    for name in installed.chained:
        done.append(f"kept your {name} hook: it runs first (saved as {name}.gitstore-chained)")
    for name in installed.calls:
        done.append(f"left your {name} hook as it is: it runs `gitstore hook {name}` itself")
    if installed.installed:
        done.append(f"installed git hooks in {installed.hooks_dir}")
    return done


# -- track / untrack / status -------------------------------------------------
def track(ctx: Context, paths: Sequence[str]) -> list[TrackResult]:
    return ctx.workspace.track(paths, ctx.cwd)


def untrack(ctx: Context, paths: Sequence[str]) -> list[str]:
    return ctx.workspace.untrack(paths, ctx.cwd)


def status(ctx: Context, paths: Sequence[str] = ()) -> list[PathStatus]:
    ws = ctx.workspace
    only = tracked_rels(ws, paths, ctx.cwd)
    for o in only:  # a mistyped name inside a tracked folder: refused, as checkout refuses it
        around = _manifests_around(ws, o)
        if around:
            try:
                _require_entry(ctx, o, around, None)
            except ManifestError:
                pass  # an unreadable manifest: status reports it as invalid
    return ws.status(only)


def _manifests_around(ws: Workspace, rel: str) -> dict[str, bytes]:
    """{manifest: bytes} of the work tree's manifests of the folders above ``rel``."""
    parts = rel.split("/")
    out = {}
    for i in range(1, len(parts)):
        mpath = mf.manifest_path("/".join(parts[:i]))
        try:
            out[mpath] = (ws.root / mpath).read_bytes()
        except OSError:
            continue
    return out


def tracked_rels(ws: Workspace, user_paths: Sequence[str], cwd: Path) -> list[str]:
    """The repository-relative paths of PATH arguments; none (every tracked path) when one of
    them is the repository's root (``.`` at the top, as git's pathspec)."""
    rels = [_tracked_rel(ws, p, cwd) for p in user_paths]
    return [] if "" in rels else rels


def _tracked_rel(ws: Workspace, user_path: str, cwd: Path) -> str:
    rel = ws.relpath(user_path, cwd, whole=True)
    return mf.tracked_path(rel) if rel.endswith(mf.SUFFIX) else rel


# -- revisions ---------------------------------------------------------------
def split_args(ctx: Context, args: Sequence[str], max_revs: int = 1) -> tuple[list[str], list[str]]:
    return ctx.repo.split_revs_and_paths(args, max_revs=max_revs)


def manifests_at(ctx: Context, rev: str | None) -> dict[str, bytes]:
    """{manifest path: bytes} at a revision, or in the working tree when rev is None."""
    if rev is None:
        root = ctx.repo.require_worktree()
        out = {}
        for m in ctx.repo.worktree_manifests():
            try:
                if (root / m).stat().st_size > mf.MAX_MANIFEST_BYTES:
                    raise ManifestError(
                        f"{m} is larger than {mf.MAX_MANIFEST_BYTES} bytes; refused"
                    )
                out[m] = (root / m).read_bytes()
            except FileNotFoundError:
                continue
        return out
    return {m: data for m, (data, _blob) in manifests_with_blobs_at(ctx, rev).items()}


def manifests_with_blobs_at(ctx: Context, rev: str) -> dict[str, tuple[bytes, str]]:
    """{manifest path: (bytes, git blob id)} at a revision."""
    commit = ctx.repo.resolve(rev)
    return {
        m: (ctx.repo.read_blob(blob), blob) for m, blob in ctx.repo.list_manifests(commit).items()
    }


def parsed_manifests_at(ctx: Context, rev: str | None) -> dict[str, mf.Manifest]:
    if rev is None:
        return {m: mf.parse(d, m) for m, d in manifests_at(ctx, None).items()}
    commit = ctx.repo.resolve(rev)
    return {
        m: mf.parse_cached(ctx.repo.read_blob(blob), blob, m)
        for m, blob in ctx.repo.list_manifests(commit).items()
    }


# -- checkout ----------------------------------------------------------------
def checkout(
    ctx: Context,
    rev: str | None = None,
    paths: Sequence[str] = (),
    *,
    force: bool = False,
    link: str | Sequence[str] | None = None,
    marked: Iterable[str] = (),
) -> CheckoutResult:
    """``marked``: tracked paths this command marked unfinished already (pull's early writes)."""
    ws = ctx.workspace
    only = tracked_rels(ws, paths, ctx.cwd)
    from .pending import refuse_if_brought

    refuse_if_brought(ctx.repo.state_dir, only)
    blobs: dict[str, str] = {}
    if rev is None:
        manifests = manifests_at(ctx, None)
    else:
        at = manifests_with_blobs_at(ctx, rev)
        # as `gitstore checkout` without REV and the hooks: a manifest the sparse
        # checkout leaves out is git's to leave out (named paths are the user's choice)
        outside = set() if only else ctx.repo.outside_sparse(sorted(at))
        manifests = {m: data for m, (data, _blob) in at.items() if m not in outside}
        blobs = {m: blob for m, (_data, blob) in at.items() if m not in outside}
    nested = mf.nesting_error(manifests)  # before anything is written: neither is whole
    if nested is not None:
        raise nested
    if only:
        unknown = [
            o for o in only if not any(mf.overlaps(mf.tracked_path(m), o) for m in manifests)
        ]
        if unknown:
            raise unknown_path(ctx, unknown[0], rev)
        for o in only:
            _require_entry(ctx, o, manifests, rev)
    if rev is not None:
        _refuse_nesting_with_worktree(ws, rev, manifests, only)
    from .checkout import Checkout

    link = cfg.parse_link(link) if link is not None else None
    run = Checkout(ws, force=force, link=link)
    run.marks.adopt(marked)
    result = run.run(manifests, write_manifests=rev is not None, only=only, blobs=blobs)
    if rev is not None:
        result.manifests_outside_sparse = sorted(outside)
    from .cleanrecord import Reached, RebaseTouched

    whole = [m for m in manifests if not only or mf.tracked_path(m) in only]
    whole = [m for m in whole if m not in result.manifests_kept]
    # a part brought to another manifest: the path is in line with no manifest's bytes now
    parts = [
        m
        for m in manifests
        if m not in whole and any(mf.overlaps(mf.tracked_path(m), o) for o in only)
    ]
    Reached.mark(ws.repo.state_dir, dict.fromkeys(parts))
    Reached.note(ws, whole, result)
    RebaseTouched.note(ctx.repo, list(manifests))  # at a rebase's stop, or its exec line
    return result


def _refuse_nesting_with_worktree(
    ws: Workspace, rev: str, manifests: dict[str, bytes], only: Sequence[str]
) -> None:
    """Refuse a ``checkout REV`` that would write a manifest nesting with one the work tree keeps.

    REV's ``d/sub.gitstore`` written where the work tree tracks ``d`` lands in
    an ignored, tracked folder, and the next commit records it as a file of
    ``d`` (QA F6); REV's ``d.gitstore`` beside the work tree's
    ``d/sub.gitstore`` takes ``d/sub``'s files. A revision's manifest named
    only in part (``checkout REV d/sub/x`` of REV's ``d/sub``) counts too: its
    files are written where the work tree's ``d`` governs them. The work tree
    is listed only when a path check says a pair could nest, so the usual
    checkout runs no more git than before.
    """
    writing = {
        m for m in manifests if not only or any(mf.overlaps(o, mf.tracked_path(m)) for o in only)
    }
    if not writing or not _could_nest(ws.root, writing):
        return
    from .checkout import BroughtManifests

    # one an earlier `checkout REV` brought goes first (`checkout tA` then `checkout tB`)
    staying = (
        set(ws.manifest_paths()) - writing - BroughtManifests(ws).going(manifests, only).keys()
    )
    error = mf.checkout_nesting_error(writing, staying, rev)
    if error is not None:
        raise error


def _could_nest(root: Path, writing: set[str]) -> bool:
    """Whether the work tree may hold a manifest nesting with one of ``writing``, by stat alone.

    Outside: a manifest of a folder above one written. Inside: a folder the
    work tree holds but does not track itself (one it tracks is ignored, so
    no manifest in it counts as the work tree's).
    """
    above = {
        "/".join(parts[:i])
        for parts in (mf.tracked_path(m).split("/") for m in writing)
        for i in range(1, len(parts))
    }
    if any(os.path.lexists(root / mf.manifest_path(a)) for a in above):
        return True
    return any(
        not os.path.lexists(root / m) and os.path.isdir(root / mf.tracked_path(m)) for m in writing
    )


def _require_entry(ctx: Context, path: str, manifests: dict[str, bytes], rev: str | None) -> None:
    """A path inside a tracked folder must name a file or folder of its manifest, or be on disk.

    As git's "pathspec did not match": a mistyped name inside a tracked
    folder would otherwise do nothing and say it did. A path on disk that
    the manifest lacks is fine (checkout deletes it).
    """
    for mpath, data in manifests.items():
        rel = mf.tracked_path(mpath)
        if not path.startswith(rel + "/"):
            continue
        root = ctx.repo.root
        if root is not None and os.path.lexists(root / path):
            return
        sub = path[len(rel) + 1 :]
        line = b"\n- {path: " + sub.encode()  # the canonical line of it or of a file below it
        at = data.find(line)
        while at >= 0:  # whole names only: data/a is neither data/a.txt nor data/ab/
            if data[at + len(line) : at + len(line) + 1] in (b",", b"/"):
                return
            at = data.find(line, at + 1)
        if mf.has_conflict_markers(data):
            return  # the checkout names the conflict
        manifest = mf.parse(data, mpath)
        if any(e.path == sub or e.path.startswith(sub + "/") for e in manifest.entries):
            return
        where = f"at {rev}" if rev else "in the working tree"
        raise PathError(f"{path} is not a file or folder of the tracked path {rel} {where}")


def arg_for(ctx: Context, rel: str) -> str:
    """A repository-relative path as the user would type it here: from the current folder, quoted."""
    import shlex

    root = ctx.repo.root
    if root is not None:
        rel = os.path.relpath(os.path.join(os.path.realpath(root), rel), os.path.realpath(ctx.cwd))
    return shlex.quote(rel)


def differ_from_head(ctx: Context, mpaths: Sequence[str]) -> list[str]:
    """Those of the work tree's manifests ``mpaths`` whose bytes are not HEAD's."""
    from .gitrepo import blob_id_of

    head = ctx.repo.head()
    if head is None:
        return []  # no HEAD to differ from, nor to return to
    at_head = ctx.repo.list_manifests(head)
    root = ctx.repo.require_worktree()
    out = []
    for m in mpaths:
        try:
            blob = blob_id_of((root / m).read_bytes())
        except OSError:
            continue
        if at_head.get(m) != blob:
            out.append(m)
    return out


def unknown_path(ctx: Context, path: str, rev: str | None) -> PathError:
    """The error for a PATH argument that names no tracked path (at ``rev``, or in the work tree).

    A word that is not on disk either was most likely a revision with a
    typo: the message leads with that, as ``gitstore diff``'s does.
    """
    where = f"at {rev}" if rev else "in the working tree"
    root = ctx.repo.root
    if rev is None and ctx.repo.outside_sparse_checkout(mf.manifest_path(path.rstrip("/"))):
        from .workspace import outside_sparse_error

        return outside_sparse_error(path, path.rstrip("/"))
    if rev is None and (root is None or not (root / path).exists()):
        try:
            ctx.repo.resolve(path)
        except GitstoreError as exc:
            if "not a commit" in exc.message:  # a tag of a tree or a blob: git knows it
                return PathError(
                    f"{path} is not a tracked path {where}, and as a revision it"
                    f" {exc.message.removeprefix(f'revision {path!r} ')}"
                )
            hint = exc.message if "shallow" in exc.message else None  # why not, when git can say
            return PathError(
                f"{path} is not a tracked path {where}, nor a revision git knows", hint=hint
            )
    return PathError(f"{path} is not a tracked path {where}")


def invalid_manifests_error(invalid: Sequence[ManifestError]) -> ManifestError:
    """One line for the manifests a command on every path could not read and left out."""
    more = f" (and {count(len(invalid) - 1, 'more invalid manifest')})" if len(invalid) > 1 else ""
    return ManifestError(
        f"{invalid[0].message}{more}",
        hint=invalid[0].hint
        or "the other paths were done; mend it, or rename a file of yours that only ends in"
        " .gitstore",
    )


def raise_for_checkout(result: CheckoutResult) -> None:
    """Turn refused files and missing objects into the exit-3 error the CLI reports, and
    manifests left out as unreadable into an exit-1 one."""
    if result.changed and len(result.changed) == len(result.conflicts):
        shown = ", ".join(result.changed[:5]) + (" ..." if len(result.changed) > 5 else "")
        raise CheckoutConflictError(
            f"left {count(len(result.changed), 'file')} alone that {'was' if len(result.changed) == 1 else 'were'} saved while checkout ran: {shown}",
            paths=result.changed,
            hint="look at them, then run the checkout again (`--force` overwrites them)",
        )
    if result.conflicts:
        shown = ", ".join(result.conflicts[:5]) + (" ..." if len(result.conflicts) > 5 else "")
        raise CheckoutConflictError(
            f"left {count(len(result.conflicts), 'file')} alone whose content is not in the cache: {shown}",
            paths=result.conflicts,
            hint=f"track {'it' if len(result.conflicts) == 1 else 'them'} first, or run"
            " `gitstore checkout --force` to overwrite",
        )
    if result.missing:
        from .errors import TransferError

        oid, paths = next(iter(result.missing.items()))
        raise TransferError(
            f"{count(len(result.missing), 'object', 'is')} not in the cache, e.g. {oid} for {paths[0]}",
            failed=list(result.missing),
            hint="run `gitstore fetch` (or `gitstore pull`) to download them",
        )
    if result.invalid:
        raise invalid_manifests_error(result.invalid)


# -- ls / cat ----------------------------------------------------------------
class TrackedFile(NamedTuple):
    """One file ``ls`` lists (a named tuple: see :class:`gitstore.manifest.Entry`)."""

    path: str
    oid: str
    size: int
    manifest: str
    exec: bool = False

    def to_json(self) -> dict[str, object]:
        return {"path": self.path, "oid": self.oid, "size": self.size, "manifest": self.manifest}


def ls(ctx: Context, rev: str | None = None) -> list[TrackedFile]:
    out = []
    manifests = parsed_manifests_at(ctx, rev)
    nested = mf.nesting_error(manifests)  # else the files inside both are listed twice
    if nested is not None:
        raise nested
    for mpath, manifest in sorted(manifests.items()):
        rel = mf.tracked_path(mpath)
        for e in manifest.entries:
            path = rel + "/" + e.path if manifest.kind == "dir" else rel
            out.append(TrackedFile(path, e.oid, e.size, mpath, e.exec))
    return out


def find_file(ctx: Context, path: str, rev: str | None) -> TrackedFile:
    """The tracked file at ``path`` (repository-relative) at a revision."""
    manifests = manifests_at(ctx, rev)
    parts = path.split("/")
    for i in range(len(parts), 0, -1):
        mpath = mf.manifest_path("/".join(parts[:i]))
        if mpath in manifests:
            manifest = mf.parse(manifests[mpath], mpath)
            inner = "/".join(parts[i:])
            if manifest.kind == "file":
                if inner:
                    break
                e = manifest.entries[0]
            else:
                found = manifest.by_path().get(inner)
                if found is None:
                    kind = "folder" if inner == "" else "file"
                    raise PathError(
                        f"{path} is a tracked {kind}, not a file"
                        if not inner
                        else f"{path} is not in {mpath}"
                    )
                e = found
            return TrackedFile(path, e.oid, e.size, mpath, e.exec)
    where = f"at {rev}" if rev else "in the working tree"
    raise PathError(f"{path} is not a tracked file {where}")


def open_object(ctx: Context, oid: str) -> BinaryIO:
    try:
        return ctx.cache.store.open(oid)
    except ObjectNotFoundError:
        raise ObjectNotFoundError(
            f"object {oid} is not in the cache", oid=oid, hint="run `gitstore fetch` to download it"
        ) from None


def cat(ctx: Context, path: str, rev: str | None = None) -> Iterator[bytes]:
    ws = ctx.workspace
    rel = ws.relpath(path, ctx.cwd)
    if rel.endswith(mf.SUFFIX) and rel != mf.SUFFIX:  # X.gitstore means X, as in the Python API
        rel = mf.tracked_path(rel)
    tracked = find_file(ctx, rel, rev)
    with open_object(ctx, tracked.oid) as f:
        with contextlib.suppress(AttributeError, OSError):  # a store's stream has no size
            check_size(tracked.oid, os.fstat(f.fileno()).st_size, tracked.size)
        while True:
            block = f.read(1 << 20)
            if not block:
                break
            yield block


def ensure_state(ctx: Context) -> None:
    ctx.repo.state_dir.mkdir(parents=True, exist_ok=True)


__all__ = [
    "CheckoutResult",
    "Context",
    "IntegrityError",
    "RevisionError",
    "TrackedFile",
    "cat",
    "checkout",
    "init",
    "ls",
    "status",
    "track",
    "untrack",
]
