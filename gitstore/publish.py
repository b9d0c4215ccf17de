"""Publishing history: a point-in-time, read-only mirror of a branch in a remote.

:func:`publish` walks the first-parent commits of a branch from the watermark
kept in the remote's per-branch document to the branch head, oldest first.
For each commit that adds, changes or removes manifests it writes one entry
per touched manifest under ``commits/`` (see :mod:`gitstore.published` for
the layout) and copies every object those manifests name into the remote,
from the cache or, failing that, from the configured remotes. An object found
nowhere makes the entry ``incomplete``; it does not stop the walk.

Commits are published in batches (``batch_size``, default 200): the entries
and objects of a batch are written, the store is synced once, and then the
per-branch document (watermark and commit list) is advanced with ONE
conditional write against the version read at the start. A publisher killed
at any moment re-does at most the batch it was in; two publishers never both
advance the document: the loser gets :class:`PreconditionFailed` (exit 4).
Before its first conditional write to a store in this process, publish
probes that the store really honours conditional writes, and refuses
otherwise.

:func:`install_server_hook` writes the ``post-receive`` hook of a bare
mirror, which publishes every pushed branch.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import config as cfg
from .errors import (
    GitstoreError,
    IntegrityError,
    PreconditionFailed,
    RevisionError,
    StoreError,
    UsageError,
)
from .gitrepo import GitRepo
from .hashing import hash_file
from .once import once
from .published import (
    BranchDocument,
    PublishedCommit,
    branch_key,
    entry_key,
    entry_tail,
    read_entry,
    removed_entry,
)

if TYPE_CHECKING:
    from .cache import Cache
    from .gitrepo import CommitInfo
    from .stores.base import Store
    from .stores.local import LocalStore

__all__ = ["PublishContext", "PublishResult", "install_server_hook", "open_target", "publish"]

log = logging.getLogger(__name__)

DEFAULT_BATCH = 200
HOOK_MARK = "# gitstore post-receive hook"
_probed: set[str] = set()


class PublishContext:
    """The repository, its config and (lazily) its cache; light enough for a quick no-op run.

    Shaped like :class:`gitstore.api.Context` (``repo``, ``config``, ``cache``,
    ``cwd``), without importing the workspace layers.
    """

    def __init__(self, path: Path | str = ".") -> None:
        self.repo = GitRepo.discover(path)
        self.cwd = Path(path).absolute()
        self.config = cfg.load(self.repo.root, self.repo.common_dir)

    @once
    def cache(self) -> Cache:
        from .cache import Cache

        cache = Cache(self.config.cache_dir, self.config.link)
        cache.register_repo(self.repo.common_dir)
        return cache


def open_target(ctx: Any, remote: str | None) -> tuple[str, Store]:
    """(name, writable store) for the publish remote: a configured remote or a URL/folder."""
    name = remote or ctx.config.default_remote
    if not name:
        raise UsageError(
            "no remote given and no default remote configured",
            hint="run `gitstore publish REMOTE`",
        )
    if name in ctx.config.remotes:
        from .remotes import open_remote

        return open_remote(ctx, name, for_write=True)
    from .remotes import make_folder
    from .stores.registry import open_store

    if "/" in name or ":" in name or os.path.isdir(name):
        store = open_store(name)
        make_folder(store)  # named on the command line: made if new, like cp's target
        return name, store
    raise StoreError(
        f"unknown remote '{name}'",
        hint="run `gitstore remote add NAME URL`, or give a folder or URL",
    )


@dataclass
class PublishResult:
    remote: str
    branch: str
    watermark: str | None
    published: list[PublishedCommit] = field(default_factory=list)
    upgraded: list[PublishedCommit] = field(default_factory=list)
    missing: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # oid -> (commit, path)
    objects_copied: int = 0
    # published commits no longer on the branch (its history was rewritten): dropped
    withdrawn: list[str] = field(default_factory=list)
    # missing ones whose cache copy is damaged (not its bytes, a symlink, a folder)
    damaged: set[str] = field(default_factory=set)

    @property
    def up_to_date(self) -> bool:
        return not self.published and not self.upgraded

    def to_json(self) -> dict[str, Any]:
        return {
            "remote": self.remote,
            "branch": self.branch,
            "watermark": self.watermark,
            "published": [c.to_json() for c in self.published],
            "upgraded": [c.to_json() for c in self.upgraded],
            "objects_copied": self.objects_copied,
            "withdrawn": self.withdrawn,
            "missing": {
                oid: [{"commit": c, "manifest": p} for c, p in where]
                for oid, where in sorted(self.missing.items())
            },
        }


def _unwrap(store: Store) -> Store:
    inner = getattr(store, "inner", None)
    return _unwrap(inner) if inner is not None else store


def ensure_conditional_writes(store: Store) -> None:
    """Probe once per store and process; UnsupportedError where writes are not conditional."""
    if store.url in _probed:
        return
    store.probe_conditional_writes()
    _probed.add(store.url)


class _Publisher:
    def __init__(self, ctx: Any, name: str, store: Store, result: PublishResult) -> None:
        self.ctx = ctx
        self.repo: GitRepo = ctx.repo
        self.name = name
        self.store = store
        self.local = _unwrap(store)
        self.result = result
        self.known: set[str] = set()  # oids known to be in the remote
        self.wrote_objects = False
        self.made_dirs: set[Path] = set()
        self.jobs = int(getattr(ctx.config, "jobs", 8))
        self.reader: Any = None  # a manifest.VersionReader, made at the first manifest

    # -- objects ---------------------------------------------------------------
    def ensure_objects(self, oids: set[str]) -> set[str]:
        """Copy into the remote what it lacks; the oids found in no store."""
        todo = oids - self.known
        if not todo:
            return set()
        cache = self.ctx.cache
        if _is_local(self.local):  # a folder's put skips what it has: no separate lookup
            need, absent = todo, todo - cache.exists(todo)
            if absent:
                self.known |= self.store.exists(absent)
                absent -= self.known
        else:
            self.known |= self.store.exists(todo)
            need = todo - self.known
            if not need:
                return set()
            absent = need - cache.exists(need)
        if absent:
            absent -= self.fetch(absent)
        copy = sorted(need - absent)
        if copy:
            damaged = self._put_all(copy, cache)
            if damaged:
                # a cache object that no longer hashes to its name: a good copy
                # from a remote replaces it, else the entry is incomplete
                repaired = self._repair(damaged)
                if repaired:
                    self._put_all(sorted(repaired), cache)
                absent |= damaged - repaired
                self.result.damaged |= damaged - repaired
                copy = [o for o in copy if o not in absent]
            self.known.update(copy)
            self.result.objects_copied += len(copy)
            self.wrote_objects = True
        return set(absent)

    def _put_all(self, oids: list[str], cache: Cache) -> set[str]:
        """Copy (or link) cached objects to the target; the oids whose cached bytes are damaged."""
        damaged: set[str] = set()

        def put(oid: str) -> None:
            try:
                cache.check_object(oid)
                self.store.put(oid, cache.path(oid))
            except IntegrityError:
                damaged.add(oid)

        if _is_local(self.local):
            for oid in oids:
                if not self._link(oid, cache):
                    put(oid)
            return damaged
        if len(oids) == 1 or self.jobs <= 1:
            for oid in oids:
                put(oid)
            return damaged
        with ThreadPoolExecutor(min(self.jobs, len(oids))) as pool:
            for future in [pool.submit(put, oid) for oid in oids]:
                future.result()
        return damaged

    def _repair(self, oids: set[str]) -> set[str]:
        """Replace damaged cache objects with verified copies from the remotes; those replaced."""
        from .maintenance import _fetch_verified
        from .remotes import fetch_order, open_remote

        repaired: set[str] = set()
        stores = []
        for name in fetch_order(self.ctx):
            try:
                stores.append(open_remote(self.ctx, name)[1])
            except GitstoreError:
                continue
        for oid in sorted(oids):
            for store in stores:
                try:
                    _fetch_verified(self.ctx.cache, store, oid)
                except GitstoreError:
                    continue
                repaired.add(oid)
                break
        return repaired

    def _link(self, oid: str, cache: Cache) -> bool:
        """Hard-link a cached object into a folder remote on the same filesystem, as
        ``git clone --local`` does: both copies are read-only and verified on the way
        into the cache. False when linking is not possible (then the bytes are copied)."""
        from .stores import sharing

        local = self.local
        dest = local.object_path(oid)  # type: ignore[attr-defined]
        if dest.parent not in self.made_dirs:
            try:
                local.make_dirs(dest.parent)  # type: ignore[attr-defined]
            except OSError:
                return False
            self.made_dirs.add(dest.parent)
        source = cache.path(oid)
        try:
            mode = os.stat(source).st_mode & 0o777
            if sharing.file_mode(local.shared, mode) != mode:  # type: ignore[attr-defined]
                return False  # a teammate could not read it (the cache's user has umask 077)
            if hash_file(source)[0] != oid:  # a link would publish damaged bytes
                return False  # put() checks again and reports it
            os.link(source, dest)
        except FileExistsError:
            return True
        except (OSError, GitstoreError):
            return False
        return True

    def fetch(self, oids: set[str]) -> set[str]:
        """Fetch into the cache from the configured remotes; the oids that arrived."""
        if not self.ctx.config.remotes:
            return set()
        from .transfer import fetch_objects

        try:
            outcome = fetch_objects(self.ctx, sorted(oids))
        except GitstoreError as exc:
            failed = set(getattr(exc, "failed", oids))
            return oids - failed
        return oids - set(getattr(outcome, "failed", ()))

    # -- entries ---------------------------------------------------------------
    def write_entry(self, key: str, data: bytes, *, downgrade_check: bool = False) -> None:
        if downgrade_check:
            current = self.store.read_document(key)
            if current is not None and b"\nstatus: ok\n" in current.data:
                return  # another publisher had every object: never downgrade
        if _is_local(self.local):
            _write_unsynced(self.local, key, data, self.made_dirs)  # type: ignore[arg-type]
        else:
            self.store.put_document(key, data)

    def publish_commit(self, info: CommitInfo) -> PublishedCommit | None:
        parent = info.parents[0] if info.parents else None
        changes = self.repo.changed_manifests(parent, info.sha)
        if not changes:
            return None
        published = PublishedCommit(info.sha, info.date, [p for p, _, _ in changes])
        for path, _old, blob in changes:
            if blob is None:
                published.removed.append(path)
                self.write_entry(entry_key(info.sha, path), removed_entry(info.sha, info.date))
                continue
            missing = self.publish_manifest(info.sha, info.date, path, blob)
            if missing:
                published.incomplete.append(path)
        return published

    def publish_manifest(self, commit: str, date: str, path: str, blob: str) -> set[str]:
        from .manifest import VersionReader

        if self.reader is None:  # consecutive commits' versions share most lines
            self.reader = VersionReader()
        data = self.repo.read_blob(blob)
        manifest = self.reader.parse(data, f"{path} at commit {commit[:12]}")
        missing = self.ensure_objects({e.oid for e in manifest.entries})
        for oid in sorted(missing):
            self.result.missing.setdefault(oid, []).append((commit, path))
        body = data if data.endswith(b"\n") else data + b"\n"
        status = "incomplete" if missing else "ok"
        entry = body + entry_tail(commit, date, status, sorted(missing))
        self.write_entry(entry_key(commit, path), entry, downgrade_check=bool(missing))
        return missing

    def retry(self, published: PublishedCommit) -> bool:
        """Re-publish the incomplete manifests of a commit; True when any became ok."""
        still = []
        for path in published.incomplete:
            blob = (
                self.repo.blob_id(published.commit, path) if self._has(published.commit) else None
            )
            if blob is not None:
                missing = self.publish_manifest(published.commit, published.date, path, blob)
            else:  # the commit is gone from git: the published entry still names the objects
                missing = self._retry_from_entry(published, path)
            if missing:
                still.append(path)
        changed = still != published.incomplete
        published.incomplete = still
        return changed

    def _retry_from_entry(self, published: PublishedCommit, path: str) -> set[str]:
        key = entry_key(published.commit, path)
        raw = self.store.read_document(key)
        entry = read_entry(self.store, published.commit, path)
        if raw is None or entry is None or entry.manifest is None:
            return {"?"}
        missing = self.ensure_objects({e.oid for e in entry.manifest.entries})
        if not missing:
            body = raw.data.split(b"\ncommit: ", 1)[0] + b"\n"
            self.write_entry(key, body + entry_tail(published.commit, published.date, "ok"))
        return missing

    def _has(self, sha: str) -> bool:
        try:
            self.repo.commit_info(sha)
        except RevisionError:
            return False
        return True

    def sync(self) -> None:
        if self.wrote_objects or _is_local(self.local):
            sync = getattr(self.local, "sync", None)
            if sync is not None:
                sync()
            self.wrote_objects = False


def _is_local(store: Store) -> bool:
    from .stores.local import LocalStore

    return isinstance(store, LocalStore)


def _write_unsynced(store: LocalStore, key: str, data: bytes, made: set[Path]) -> None:
    """An entry in a folder store: temporary file and rename, synced later in one batch."""
    from .stores.local import replace_with

    path = Path(store.root).joinpath(*key.split("/"))
    try:
        if path.parent not in made:
            store.make_dirs(path.parent)
            made.add(path.parent)
        replace_with(path, data, shared=store.shared)
    except OSError as exc:
        raise store.write_error(f"cannot write {key} in {store.url}", exc) from exc


def publish(
    ctx: Any,
    remote: str | None = None,
    *,
    branch: str | None = None,
    since: str | None = None,
    retry_incomplete: bool = False,
    batch_size: int = DEFAULT_BATCH,
    on_commit: Callable[[PublishedCommit], None] | None = None,
    store: Store | None = None,
) -> PublishResult:
    """Publish BRANCH's new first-parent commits to REMOTE; see the module docstring."""
    repo: GitRepo = ctx.repo
    if branch is None:
        branch = _git_line(repo, "symbolic-ref", "-q", "--short", "HEAD")
        if branch is None:
            raise UsageError("HEAD is detached: say which branch to publish", hint="give --branch")
    head = _git_line(repo, "rev-parse", "-q", "--verify", f"refs/heads/{branch}^{{commit}}")
    if head is None:
        if _git_line(repo, "rev-parse", "-q", "--verify", f"refs/tags/{branch}") is not None:
            raise RevisionError(
                f"'{branch}' is a tag: publish publishes a branch's history",
                hint=f"publish the branch that holds it (`git branch --contains {branch}`)",
            )
        remote_ref = _git_line(repo, "rev-parse", "-q", "--verify", f"refs/remotes/{branch}")
        if remote_ref is not None and "/" in branch:
            local = branch.split("/", 1)[1]
            exists = _git_line(repo, "rev-parse", "-q", "--verify", f"refs/heads/{local}")
            raise RevisionError(
                f"'{branch}' is a remote-tracking branch, not a branch of this clone",
                hint=f"bring {local} up to it (`git merge --ff-only {branch}` on {local}), then `--branch {local}`"
                if exists
                else f"make it one first: `git branch {local} {branch}`, then `--branch {local}`",
            )
        raise RevisionError(
            f"unknown branch '{branch}'",
            hint="name a local branch (`git branch --list`)",
        )
    if store is None:
        name, store = open_target(ctx, remote)
    else:
        name = remote or store.url
    raw = store.read_document(branch_key(branch))
    if raw is not None and not retry_incomplete and _watermark_of(raw.data) == head:
        return PublishResult(name, branch, head)  # nothing new: no YAML parsed, no dulwich
    doc = (
        BranchDocument(branch=branch)
        if raw is None
        else BranchDocument.parse(raw.data, raw.version, f"{branch_key(branch)} in {store.url}")
    )
    result = PublishResult(name, branch, doc.watermark)
    start = doc.watermark or (repo.resolve(since) if since else None)
    if doc.watermark is not None and not _known(repo, doc.watermark):
        raise RevisionError(
            f"the watermark {doc.watermark[:12]} of branch '{branch}' in {store.url} is not in"
            " this repository",
            hint="fetch the branch first",
        )
    rewritten = False
    if doc.watermark is not None and start != head and not _is_ancestor(repo, doc.watermark, head):
        # the branch's history was rewritten (reset, force-push): published
        # commits that are no longer on it must not answer for its new commits
        on_branch = set((_git_line(repo, "rev-list", "--first-parent", head) or "").split())
        keep = 0
        while keep < len(doc.commits) and doc.commits[keep].commit in on_branch:
            keep += 1
        result.withdrawn = [c.commit for c in doc.commits[keep:]]
        doc.commits = doc.commits[:keep]
        doc.watermark = doc.commits[-1].commit if doc.commits else None
        start = doc.watermark or (repo.resolve(since) if since else None)
        rewritten = True
    if (
        start == head
        and not rewritten
        and not (retry_incomplete and any(c.incomplete for c in doc.commits))
    ):
        return result
    walked = (
        []
        if start == head
        else list(repo.walk(head, first_parent=True, stop_at=[start] if start else []))
    )
    walked.reverse()
    # a tree:0 partial clone: the commits' trees in one fetch, not one a commit
    repo.prefetch_trees([info.sha for info in walked])
    publisher = _Publisher(ctx, name, store, result)
    dirty = rewritten
    if retry_incomplete:
        for published in doc.commits:
            if published.incomplete and publisher.retry(published):
                result.upgraded.append(published)
                dirty = True
    step = max(1, batch_size)
    batches = [walked[i : i + step] for i in range(0, len(walked), step)] or [[]]
    for batch in batches:
        fresh = []
        for info in batch:
            new = publisher.publish_commit(info)
            if new is not None:
                fresh.append(new)
        if not batch and not dirty:
            break
        publisher.sync()
        doc.commits.extend(fresh)
        if batch:
            doc.watermark = batch[-1].sha
        _advance(store, doc)
        dirty = False
        result.published.extend(fresh)
        result.watermark = doc.watermark
        if on_commit is not None:
            for published in fresh:
                on_commit(published)
    return result


def _is_ancestor(repo: GitRepo, ancestor: str, commit: str) -> bool:
    return repo.git("merge-base", "--is-ancestor", ancestor, commit, check=False).returncode == 0


def _git_line(repo: GitRepo, *args: str) -> str | None:
    """One line from the git binary (cheaper than opening the repository for a no-op run)."""
    proc = repo.git(*args, check=False)
    out = proc.stdout.decode("utf-8", "replace").strip()
    return out if proc.returncode == 0 and out else None


_WATERMARK = re.compile(rb"^watermark: ([0-9a-f]{40})$", re.MULTILINE)


def _watermark_of(data: bytes) -> str | None:
    match = _WATERMARK.search(data, 0, 4096)
    return match.group(1).decode() if match else None


def _known(repo: GitRepo, sha: str) -> bool:
    try:
        repo.commit_info(sha)
    except (RevisionError, GitstoreError):
        return False
    return True


def _advance(store: Store, doc: BranchDocument) -> None:
    """One conditional write of the per-branch document; PreconditionFailed when it lost."""
    ensure_conditional_writes(store)
    key = branch_key(doc.branch)
    data = doc.dump()
    try:
        if doc.version is None:
            doc.version = store.put_document(key, data, if_absent=True)
        else:
            doc.version = store.put_document(key, data, if_version=doc.version)
    except PreconditionFailed as exc:
        raise PreconditionFailed(
            f"another publisher advanced {key} in {store.url} first; nothing was lost",
            hint="run publish again: it continues from the new watermark",
        ) from exc


# -- the post-receive hook of a bare mirror --------------------------------------

_HOOK = """#!/bin/sh
{mark}: publishes each pushed branch.
# Publishes to `git config gitstore.publishRemote` (else the default remote).
# Installed by `gitstore install --server`; an earlier hook runs first.
here=$(dirname "$0")
input=$(cat)
if [ -x "$here/post-receive.pre-gitstore" ]; then
    printf '%s\\n' "$input" | "$here/post-receive.pre-gitstore" "$@"
fi
if command -v gitstore >/dev/null 2>&1; then
    set -- gitstore
else
    set -- {python} -m gitstore
fi
remote=$(git config --get gitstore.publishRemote)
printf '%s\\n' "$input" | while read -r old new ref; do
    case "$ref" in refs/heads/*) ;; *) continue ;; esac
    [ "$new" = 0000000000000000000000000000000000000000 ] && continue
    "$@" publish $remote --branch "${{ref#refs/heads/}}" || echo "gitstore: publishing ${{ref#refs/heads/}} failed" >&2
done
exit 0
"""


def install_server_hook(repo: GitRepo, remote: str | None = None) -> Path:
    """Write the ``post-receive`` hook that publishes pushed branches; returns its path.

    An existing hook that is not gitstore's is kept as
    ``post-receive.pre-gitstore`` and run first with the same input. With
    ``remote``, ``gitstore.publishRemote`` is set in the repository's git config.
    """
    import shlex

    hooks = repo.hooks_dir()
    hooks.mkdir(parents=True, exist_ok=True)
    path = hooks / "post-receive"
    if path.exists() and HOOK_MARK not in path.read_text("utf-8", "replace"):
        kept = hooks / "post-receive.pre-gitstore"
        if kept.exists():
            raise GitstoreError(f"{kept} already exists; move one of the hooks away first")
        os.replace(path, kept)
    text = _HOOK.format(mark=HOOK_MARK, python=shlex.quote(sys.executable))
    tmp = path.with_name(f".post-receive.{os.urandom(4).hex()}")
    tmp.write_text(text)
    tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    os.replace(tmp, path)
    if remote is not None:
        repo.config_set("gitstore.publishRemote", remote)
    return path
