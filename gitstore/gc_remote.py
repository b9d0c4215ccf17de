"""Garbage collection on a remote: careful, because other clones push there.

``gc --remote NAME`` deletes an object only when all of these hold:

- no manifest of this repository names it (working tree, index, and every
  commit reachable from any ref, stash or reflog — as for the cache), nor any
  commit that a ref of a git remote points at and this clone has, reachable
  from its refs or not (a branch deleted and restored on the server);
- every ref of every git remote (``git ls-remote``: branches, tags, and
  ``refs/changes/*``, ``refs/pull/*``, ``refs/merge-requests/*`` and the like)
  is at a commit this clone has; else nothing is deleted;
- no published entry (``commits/...`` documents written by ``publish``) names it;
- it is older than the grace period by the store's own clock (``stat`` mtime;
  an object whose age the store cannot tell is kept), and older than the last
  time this clone heard from its git remotes (fetch, pull, clone or push; an
  hour of slack for the clocks), since other clones may have pushed it for a
  commit this clone has not fetched yet;
- a ``--dry-run`` listed it first: the dry run saves its list in the clone's
  state (``.git/gitstore/gc/remote-NAME.json``) and ``--yes`` deletes only what
  that list named and is still a candidate now;
- the remote is used by this repository alone: every collection, and every
  push that uploads something, records ``users/<repository id>.yaml`` in the remote (see
  :func:`repository_id`: a push to a git remote other than ``origin`` names
  that one), and a remote that names other repositories is refused unless
  ``--shared-ok``.

Before its first delete a collection announces itself in ``gc/collected``
(:class:`_Announced`: running, with a heartbeat, then done); a push that
overlaps it waits for it and asks the store about everything it needs before
git sends its refs (``transfer._after_collection``; docs/remotes.md lists the
interleavings this closes and the one it does not).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from . import faults
from .errors import (
    GitstoreError,
    ObjectNotFoundError,
    ReadOnlyStoreError,
    StoreAuthError,
    StoreError,
    StoreUnavailableError,
    UnsupportedError,
    UsageError,
)
from .gc import DEFAULT_GRACE, GcResult, OidUnion, repository_needs
from .progress import count

if TYPE_CHECKING:
    from .api import Context
    from .gitrepo import GitRepo
    from .stores.base import Store

log = logging.getLogger(__name__)

PLAN_MAX_AGE = 24 * 3600.0
USERS = "users/"
RECHECK_EVERY = 2.0  # seconds between two asks of the git remotes while deleting
RECORDED = "recorded-users"  # in the state folder: "<id> <store url>" a line
CLOCK_SLACK = 3600.0  # the store's clock against this machine's
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://(.*)", re.DOTALL)
_SCP = re.compile(r"(?:[^@/]*@)?([^/:]+):(.*)", re.DOTALL)  # [user@]host:path, as git reads it


# -- which repository -----------------------------------------------------------
def normalise_url(url: str, base: Path) -> str:
    """One spelling of a git remote URL, so that every clone of a repository names it alike.

    A network URL becomes ``host/path``: scheme, user, password and port
    dropped, the host lower-cased (``https://Host/org/repo``,
    ``git@host:org/repo.git`` and ``ssh://git@host/org/repo/`` are one). A
    local one (a path, relative to ``base``, or ``file://``) becomes its real
    absolute path. A trailing ``/`` and ``.git`` go in both cases.
    """
    url = url.strip()
    scheme = _SCHEME.fullmatch(url)
    scp = None if scheme or os.path.isabs(url) else _SCP.fullmatch(url)
    if scp and (os.name == "nt" and len(scp.group(1)) == 1):
        scp = None  # C:\path on Windows
    if scheme and scheme.group(1).lower() != "file":
        netloc, _, path = scheme.group(2).partition("/")
        host = netloc.rpartition("@")[2]
        host = host[: host.find("]") + 1] if host.startswith("[") else host.partition(":")[0]
        return _strip_git(f"{host.lower()}/{path.lstrip('/')}")
    if scp:
        return _strip_git(f"{scp.group(1).lower()}/{scp.group(2).lstrip('/')}")
    if not url:
        return ""
    path = scheme.group(2) if scheme else url
    return _strip_git(os.path.realpath(base / path))


def _strip_git(text: str) -> str:
    return text.rstrip("/").removesuffix(".git").rstrip("/") or text


def _url_base(repo: GitRepo) -> Path:
    """Where a relative ``origin`` path is read from: the main work tree, the same for every worktree."""
    common = repo.common_dir
    if common.name == ".git":
        return common.parent
    if repo.root is not None and repo.git_dir == common:
        return repo.root
    return common


def _first_commit(repo: GitRepo) -> str:
    """The root of the default branch's first-parent history ("" in a repository without commits).

    The default branch is the one ``origin/HEAD`` names, else ``init.defaultBranch``,
    ``main`` or ``master`` (origin's or local), else HEAD, else the oldest root of
    any branch: an orphan branch (``gh-pages``) or an unborn HEAD does not change it.
    """
    names = dict.fromkeys(n for n in (repo.config_get("init.defaultBranch"), "main", "master") if n)
    candidates = ["refs/remotes/origin/HEAD", *(f"refs/remotes/origin/{n}" for n in names)]
    candidates += [*(f"refs/heads/{n}" for n in names), "HEAD"]
    for rev in candidates:
        with contextlib.suppress(GitstoreError):
            sha = repo.try_resolve(rev)
            if sha is not None:
                out = repo.git("rev-list", "--first-parent", "--max-parents=0", sha, "--")
                return out.stdout.decode("ascii").split()[-1]
    roots = repo.git("rev-list", "--max-parents=0", "--branches", "--", check=False).stdout.split()
    return roots[-1].decode("ascii") if roots else ""


def repository_id(ctx: Context, pushed_to: str | None = None) -> tuple[str, str, str]:
    """(id, first commit, origin URL): the id names this repository in a remote's ``users/``.

    It hashes the root commit of the default branch (:func:`_first_commit`)
    and the ``origin`` URL (after ``insteadOf``) in one spelling
    (:func:`normalise_url`): clones of one repository share it, however their
    ``origin`` was spelled and whichever branch they are on. A record written
    before ids were normalised is recognised by its ``first_commit`` and
    ``origin`` (:func:`other_users`).

    ``pushed_to``: the URL of the git remote a push goes to, when it is not
    ``origin`` (a fork): the commits land there, so that repository is the
    one whose branches need the objects, and it is recorded in place of
    ``origin``. The collections of clones that do not list it as a git remote
    then see another repository, and refuse.
    """
    repo = ctx.repo
    if pushed_to:
        raw = pushed_to
    else:
        proc = repo.git("remote", "get-url", "origin", check=False)
        raw = proc.stdout.decode("utf-8", "replace").strip() if proc.returncode == 0 else ""
        raw = raw or repo.config_get("remote.origin.url") or ""
    origin = normalise_url(raw, _url_base(repo))
    first = _first_commit(repo)
    digest = hashlib.sha256(f"{first}\n{origin}".encode()).hexdigest()[:24]
    return digest, first, origin


def other_users(
    store: Store,
    mine: str,
    first: str = "",
    origin: str = "",
    also: set[str] | frozenset[str] = frozenset(),
) -> list[str]:
    """Ids of the other repositories ``users/`` names; an older record of this one is not
    "other", nor one in ``also`` (see :func:`git_remote_ids`)."""
    try:
        keys = list(store.list_documents(USERS))
    except UnsupportedError:
        return []
    ids = {k[len(USERS) :].removesuffix(".yaml") for k in keys if k.endswith(".yaml")}
    ids -= {mine, *also}
    return sorted(rid for rid in ids if not _same_repository(store, rid, first, origin))


def git_remote_ids(ctx: Context, first: str) -> set[str]:
    """The ids a push from this clone to any of its git remotes records (fetch and push URLs).

    A collection lists every ref of every git remote of this clone and keeps
    what they name: a record of pushes to one of them is this collection's
    business, not another repository's.
    """
    repo = ctx.repo
    out: set[str] = set()
    base = _url_base(repo)
    for remote in repo.git("remote").stdout.decode("utf-8", "replace").split():
        for extra in ((), ("--push",)):
            proc = repo.git("remote", "get-url", *extra, "--all", remote, check=False)
            for raw in proc.stdout.decode("utf-8", "replace").splitlines():
                if raw.strip():
                    url = normalise_url(raw, base)
                    out.add(hashlib.sha256(f"{first}\n{url}".encode()).hexdigest()[:24])
    return out


def _same_repository(store: Store, rid: str, first: str, origin: str) -> bool:
    """Whether ``users/<rid>.yaml`` names this repository under another id.

    A record written with the older, literal-URL id; or one a shallow clone
    (CI) wrote when it pushed, whose first commit is where its history was cut:
    a clone of the same ``origin`` is this repository, and the refs of that
    origin are heeded anyway.
    """
    if not first:
        return False
    try:
        doc = store.read_document(f"{USERS}{rid}.yaml")
        data: Any = yaml.safe_load(doc.data) if doc is not None else None
    except (GitstoreError, yaml.YAMLError):
        return False
    if not isinstance(data, dict):
        return False
    theirs = normalise_url(str(data.get("origin") or ""), Path(str(data.get("path") or "/")))
    if data.get("shallow") is True:  # its first commit is where its history was cut
        return bool(origin) and theirs == origin
    return data.get("first_commit") == first and theirs == origin


def record_user(ctx: Context, store: Store, ident: tuple[str, str, str] | None = None) -> None:
    """Write ``users/<id>.yaml`` naming this repository (``ident``: its :func:`repository_id`)."""
    rid, first, origin = ident or repository_id(ctx)
    doc: dict[str, str | bool] = {
        "repository": rid,
        "first_commit": first,
        "origin": origin,
        "path": str(ctx.repo.root or ctx.repo.common_dir),
        "seen": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if ctx.repo.shallow():
        doc["shallow"] = True
    store.put_document(f"{USERS}{rid}.yaml", yaml.safe_dump(doc, sort_keys=False).encode())


def note_user(ctx: Context, store: Store, pushed_to: str | None = None) -> None:
    """Record this repository in the remote's ``users/`` unless it is there already.

    Push calls this whenever its commits name objects, before uploading any:
    also when the store has them all already (another repository that shares
    the store uploaded them), since that repository's ``gc --remote`` must
    know this one needs them. The clone remembers which stores hold its record
    (``.git/gitstore/recorded-users``), so later pushes ask the store nothing.

    ``pushed_to``: the URL of the git remote pushed to, when not ``origin``
    (:func:`repository_id`).

    Never fails: a store that holds no documents, is read-only or cannot be
    reached goes unrecorded, with a debug line.
    """
    try:
        from .transfer import store_identity

        ident = repository_id(ctx, pushed_to)
        mark = f"{ident[0]} {store_identity(store)}"  # another S3 service is another store
        marks = ctx.repo.common_state_dir / RECORDED
        if mark in _lines(marks):
            return
        if store.read_document(f"{USERS}{ident[0]}.yaml") is None:
            record_user(ctx, store, ident)
        marks.parent.mkdir(parents=True, exist_ok=True)
        with open(marks, "a", encoding="utf-8") as f:
            f.write(mark + "\n")
    except Exception as exc:  # a push never fails for this
        log.debug("gitstore: this repository is not recorded in %s/users/: %s", store.url, exc)


def _lines(path: Path) -> set[str]:
    try:
        return set(path.read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError):
        return set()


def published_needs(store: Store) -> set[str]:
    """Every oid a published entry (``commits/...``) names."""
    out = OidUnion()  # consecutive commits' entries share most lines
    try:
        keys = list(store.list_documents("commits/"))
    except UnsupportedError:
        return out.oids
    for key in keys:
        doc = store.read_document(key)
        if doc is not None:
            out.add(doc.data, key)
    return out.oids


# -- what the git remotes have ---------------------------------------------------
def _ls_remotes(ctx: Context, done: str = "nothing was deleted") -> list[tuple[str, str, str]]:
    """(sha, git remote, ref) of every ref of every git remote, peeled tags (``ref^{}``) too.

    ``done``: what the error says was deleted so far (a re-check while deleting).
    """
    repo = ctx.repo
    listed: list[tuple[str, str, str]] = []
    for remote in repo.git("remote").stdout.decode().split():
        proc = repo.git("ls-remote", remote, check=False)
        if proc.returncode != 0:
            lines = proc.stderr.decode("utf-8", "replace").strip().splitlines() or ["failed"]
            why = next((x for x in lines if x.startswith("fatal:")), lines[0])
            raise GitstoreError(
                f"cannot list the git remote '{remote}' ({why}): gc --remote must know every"
                f" ref that may name the store's objects; {done}",
                hint="run it again when the git remote can be reached",
            )
        for line in proc.stdout.decode("utf-8", "replace").splitlines():
            sha, _, ref = line.partition("\t")
            if ref:
                listed.append((sha.strip(), remote, ref))
    return listed


def remote_tips(
    ctx: Context, listed: list[tuple[str, str, str]] | None = None
) -> tuple[list[tuple[str, str]], set[str]]:
    """(git remote, ref) of every ref at an object this clone lacks, and the commits it has.

    Asked of the git remotes themselves (``git ls-remote``, every ref, not only
    branches and tags): a clone that fetched one branch, or only pushed, knows
    nothing of the others, nor of review refs (``refs/changes/*``,
    ``refs/pull/*``), whose commits may name objects in the store. The commits
    it has are roots of the history walk whether a local ref reaches them or
    not. A git remote that cannot be listed stops the collection. ``listed``:
    what :func:`_ls_remotes` gave, when the caller asked already.
    """
    listed = _ls_remotes(ctx) if listed is None else listed
    if not listed:
        return [], set()
    # only what is here: in a partial clone git would fetch each one it lacks, with its
    # whole history's trees, one round trip apiece (and GIT_NO_LAZY_FETCH is git 2.45's)
    shas = sorted({sha for sha, _, _ in listed if ctx.repo.has_object(sha)})
    check = ctx.repo.git(
        "cat-file", "--batch-check", input="".join(f"{s}\n" for s in shas).encode()
    )
    kinds = dict(line.split()[:2] for line in check.stdout.decode().splitlines() if line.strip())
    lacking = [
        (remote, ref)
        for sha, remote, ref in listed
        if kinds.get(sha, "missing") == "missing" and not ref.endswith("^{}")
    ]
    lacking.sort(key=lambda item: item[1] == "HEAD")  # the branch it names says more
    return lacking, {sha for sha, kind in kinds.items() if kind == "commit"}


def _fetch_hint(lacking: list[tuple[str, str]]) -> str:
    remotes = dict.fromkeys(remote for remote, _ in lacking)
    every = " and ".join(f"`git fetch {r} '+refs/*:refs/remotes-all/{r}/*'`" for r in remotes)
    if all(ref == "HEAD" or ref.startswith(("refs/heads/", "refs/tags/")) for _, ref in lacking):
        return f"run `git fetch --all --tags` first (or {every}, which fetches every ref)"
    return f"run {every} first: it fetches every ref of the git remote, review refs too"


def tip_needs(repo: GitRepo, tips: set[str]) -> set[str]:
    """Every oid the history of ``tips`` names beyond what this clone's refs and reflogs reach.

    ``repository_needs`` walks from the clone's refs; a commit a git remote's
    ref points at may be reachable from none of them (a branch deleted on the
    server and pruned here, then restored; a clone using alternates). Those
    commits and their ancestors the refs do not reach are read here.
    """
    roots = repo.all_ref_commits()
    extra = sorted(tips - roots)
    if not extra:
        return set()
    feed = "".join(f"{sha}\n" for sha in extra) + "".join(f"^{sha}\n" for sha in sorted(roots))
    out = repo.git("rev-list", "--parents", "--stdin", input=feed.encode()).stdout.decode("ascii")
    blobs: set[str] = set()
    lines = [line.split() for line in out.splitlines() if line.strip()]
    repo.prefetch_trees(sha for sha, *_ in lines)  # a partial clone: in one fetch
    for sha, *parents in lines:
        for _path, _old, new in repo.changed_manifests(parents[0] if parents else None, sha):
            if new is not None:
                blobs.add(new)
    needed = OidUnion()
    for blob, data in repo.iter_blobs(sorted(blobs)):
        needed.add(data, f"blob {blob}", blob)
    return needed.oids


def last_heard(ctx: Context) -> float | None:
    """When this clone's view of its git remotes was last brought up to date; None without remotes.

    The newest of ``FETCH_HEAD`` (every fetch and pull writes it) and the
    reflogs of the remote-tracking refs (clone, fetch and push append to
    them); 0 when none exists. ``packed-refs`` is not used: ``git pack-refs``
    and branch deletions rewrite it without hearing from any remote.
    """
    if not ctx.repo.git("remote").stdout.split():
        return None
    common = Path(ctx.repo.common_dir)
    times = [0.0]
    with contextlib.suppress(OSError):
        times.append((common / "FETCH_HEAD").stat().st_mtime)
    for path in (common / "logs" / "refs" / "remotes").rglob("*"):
        with contextlib.suppress(OSError):
            times.append(path.stat().st_mtime)
    return max(times)


def _plan_path(ctx: Context, name: str) -> Path:
    return ctx.repo.state_dir / "gc" / f"remote-{name}.json"


def collect_remote(
    ctx: Context,
    name: str,
    *,
    grace: float = DEFAULT_GRACE,
    dry_run: bool = False,
    yes: bool = False,
    shared_ok: bool = False,
) -> GcResult:
    """Delete (with ``yes``) or list (``dry_run``) the remote's objects nothing needs."""
    from .remotes import open_remote

    if not dry_run and not yes:
        raise UsageError(
            f"gc on a remote deletes data other clones may rely on: run `gitstore gc --remote {name}"
            " --dry-run` first, then again with --yes"
        )
    if ctx.repo.shallow():
        raise GitstoreError(
            "this clone is shallow (git clone --depth): it cannot tell which objects of the"
            f" remote '{name}' older commits need; nothing was deleted",
            hint="run `git fetch --unshallow` first, or collect the remote from a full clone",
        )
    refs_before = _ls_remotes(ctx)
    unfetched, tips = remote_tips(ctx, refs_before)
    if unfetched:
        remote, ref = unfetched[0]
        more = f" (and {len(unfetched) - 1} more)" if len(unfetched) > 1 else ""
        raise GitstoreError(
            f"the git remote '{remote}' has {ref} at a commit this clone has not fetched{more}:"
            f" its data may be in remote '{name}'; nothing was deleted",
            hint=_fetch_hint(unfetched),
        )
    name, store = open_remote(ctx, name, for_write=not dry_run)
    result = GcResult(dry_run=dry_run, grace=grace, remote=name)
    rid, first, origin = ident = repository_id(ctx)
    try:
        record_user(ctx, store, ident)
    except (ReadOnlyStoreError, UnsupportedError):
        if not dry_run:
            raise
        result.notes.append(f"remote '{name}' does not hold documents; its users are not recorded")
    except StoreError as exc:
        if isinstance(exc, (StoreUnavailableError, StoreAuthError)):
            raise
        # a remote whose disk is full is when a collection is wanted most; the
        # record is for other clones' collections, and this one loses nothing
        result.notes.append(f"this repository could not be recorded in users/: {exc.message}")
    others = other_users(store, rid, first, origin, git_remote_ids(ctx, first))
    if others and not shared_ok:
        raise GitstoreError(
            f"remote '{name}' is also used by {len(others)} other repositor"
            f"{'y' if len(others) == 1 else 'ies'} ({', '.join(others[:3])}); refusing to collect it",
            hint="run with --shared-ok only if every repository using it has pushed and published",
        )
    needed = repository_needs(ctx.repo, result.notes) | tip_needs(ctx.repo, tips)
    needed |= published_needs(store)
    result.repos.append(str(ctx.repo.common_dir))
    now = time.time()
    # an object pushed after this clone last heard from its git remotes may
    # be named by a commit it has not fetched: only older ones are judged
    heard = last_heard(ctx)
    cutoff = min(now - grace, heard - CLOCK_SLACK) if heard is not None else now - grace
    unheard = 0
    candidates: dict[str, int] = {}
    for oid in store.list():
        if oid in needed:
            result.kept_needed += 1
            continue
        st = store.stat(oid)
        if st.mtime is None or st.mtime > cutoff:
            result.kept_young += 1
            unheard += st.mtime is not None and now - st.mtime >= grace
            continue
        candidates[oid] = st.size
    if unheard:
        when = datetime.fromtimestamp(heard or 0, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        result.notes.append(
            f"kept {count(unheard, 'object')} pushed after, or less than an hour before, this clone"
            f" last fetched ({when if heard else 'never'}): other clones' commits may name them;"
            " run `git fetch --all` first to have them judged"
        )
    # what killed uploads left behind is no object of anyone's: swept at once
    result.tmp_deleted = [*store.sweep_leftovers(now - grace, dry_run=dry_run)]
    plan = _plan_path(ctx, name)
    if dry_run:
        plan.parent.mkdir(parents=True, exist_ok=True)
        plan.write_text(
            json.dumps({"remote": name, "url": store.url, "time": now, "oids": sorted(candidates)})
        )
        result.deleted = sorted(candidates.items())
        return result
    shown = _read_plan(plan, name, store.url, now)
    # listing and judging a store takes a while: a teammate's push in between
    # may have named an object that was already there (nothing was uploaded,
    # so its age does not protect it); the git remotes are asked again
    # (and again every few seconds while deleting)
    _stop_if_moved(ctx, refs_before, name, result)
    marked = _Announced(store, result) if any(oid in shown for oid in candidates) else None
    try:
        if marked is not None:
            # a push whose refs landed while the collection was announced is seen now
            _stop_if_moved(ctx, refs_before, name, result)
        faults.gc_pause()
        renewed = _delete(ctx, store, name, candidates, shown, cutoff, refs_before, result, marked)
    finally:
        if marked is not None:
            marked.done()
    if renewed:
        result.notes.append(
            f"kept {count(renewed, 'object')} that a push renewed while this collection ran"
        )
    plan.unlink(missing_ok=True)
    return result


def _delete(
    ctx: Context,
    store: Store,
    name: str,
    candidates: dict[str, int],
    shown: set[str],
    cutoff: float,
    refs_before: list[tuple[str, str, str]],
    result: GcResult,
    marked: _Announced | None,
) -> int:
    """Delete the candidates the dry run listed that are still old; how many were renewed."""
    asked = time.monotonic()
    renewed = 0
    for oid, size in sorted(candidates.items()):
        if oid not in shown:
            result.notes.append(f"kept {oid}: not listed by the last --dry-run")
            continue
        if time.monotonic() - asked > RECHECK_EVERY:
            _stop_if_moved(ctx, refs_before, name, result)
            if marked is not None:
                marked.beat()
            asked = time.monotonic()
        # a teammate's push that found this old object there and named it again
        # renewed it (transfer.push_objects): its age, asked again, spares it
        try:
            st = store.stat(oid)
        except ObjectNotFoundError:
            continue
        if st.mtime is None or st.mtime > cutoff:
            renewed += 1
            continue
        try:
            store.delete(oid)
        except GitstoreError as exc:
            before = len(result.deleted)
            done = f"{count(before, 'object')} deleted before it" if before else "nothing deleted"
            exc.message += f" ({done}; what is left is collected by the next gc --remote)"
            raise
        result.deleted.append((oid, size))
    return renewed


class _Announced:
    """``gc/collected`` while this collection deletes (transfer.COLLECTED, transfer.gc_state).

    A new token is written before the first delete, ``<uuid> <start> running <heartbeat>``:
    every other clone's next push then trusts neither its index of this remote nor its
    remote-tracking refs, which may name what this collection removes, and a push that
    ends meanwhile waits for it and then asks the store about all it needs. The
    heartbeat is rewritten every RECHECK_EVERY seconds (a push takes a collection
    whose heartbeat stopped for transfer.GC_STALL as killed), and ``done`` at the end.
    """

    def __init__(self, store: Store, result: GcResult) -> None:
        import uuid

        self.store = store
        self.result = result
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.token = f"{uuid.uuid4().hex} {now}"
        self.ok = self._write("running")

    def _write(self, state: str) -> bool:
        from .transfer import COLLECTED

        text = f"{self.token} {state}"
        if state == "running":
            text += " " + datetime.now(timezone.utc).isoformat(timespec="seconds")
        try:
            self.store.put_document(COLLECTED, text.encode("ascii") + b"\n")
        except UnsupportedError:
            self.result.notes.append(
                "this remote holds no documents: other clones are not told of this gc"
            )
            return False
        return True

    def beat(self) -> None:
        if self.ok:
            self._write("running")

    def done(self) -> None:
        if self.ok:
            with contextlib.suppress(GitstoreError):  # a push then waits GC_STALL at most
                self._write("done")


def _stop_if_moved(
    ctx: Context, before: list[tuple[str, str, str]], name: str, result: GcResult
) -> None:
    """GitstoreError when a git remote's refs are not what they were when the collection began."""
    done = (
        f"deleted {count(len(result.deleted), 'object')} before that, and stopped"
        if result.deleted
        else "nothing was deleted"
    )
    moved = sorted(set(_ls_remotes(ctx, done)) ^ set(before))
    if not moved:
        return
    _sha, remote, ref = moved[0]
    raise GitstoreError(
        f"the git remote '{remote}' changed ({ref}) while remote '{name}' was being collected:"
        f" a new commit may name its objects; {done}",
        hint=f"run `git fetch --all --tags`, then `gitstore gc --remote {name} --dry-run` again",
    )


def _read_plan(plan: Path, name: str, url: str, now: float) -> set[str]:
    hint = f"run `gitstore gc --remote {name} --dry-run`, check the list, then run it with --yes"
    try:
        data = json.loads(plan.read_text("utf-8", "replace"))
    except (OSError, ValueError):
        raise UsageError(
            f"no recent `gc --remote {name} --dry-run` on this clone; nothing deleted", hint=hint
        ) from None
    if data.get("url") != url or now - float(data.get("time", 0)) > PLAN_MAX_AGE:
        raise UsageError(
            f"the last `gc --remote {name} --dry-run` is stale; nothing deleted", hint=hint
        )
    return set(data.get("oids", []))
