"""Garbage collection on a remote: careful, because other clones push there.

``gc --remote NAME`` deletes an object only when all of these hold:

- no manifest of this repository names it (working tree, index, and every
  commit reachable from any ref, stash or reflog — as for the cache);
- no published entry (``commits/...`` documents written by ``publish``) names it;
- it is older than the grace period by the store's own clock (``stat`` mtime;
  an object whose age the store cannot tell is kept), and older than the last
  time this clone heard from its git remotes (fetch, pull, clone or push; an
  hour of slack for the clocks), since other clones may have pushed it for a
  commit this clone has not fetched yet;
- a ``--dry-run`` listed it first: the dry run saves its list in the clone's
  state (``.git/gitstore/gc/remote-NAME.json``) and ``--yes`` deletes only what
  that list named and is still a candidate now;
- the remote is used by this repository alone: every collection records
  ``users/<repository id>.yaml`` in the remote (the id hashes the first commit
  and the ``origin`` URL), and a remote that names other repositories is
  refused unless ``--shared-ok``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from .errors import GitstoreError, ReadOnlyStoreError, UnsupportedError, UsageError
from .gc import DEFAULT_GRACE, GcResult, oids_in_manifest, repository_needs
from .progress import count

if TYPE_CHECKING:
    from .api import Context
    from .stores.base import Store

PLAN_MAX_AGE = 24 * 3600.0
USERS = "users/"
CLOCK_SLACK = 3600.0  # the store's clock against this machine's


def repository_id(ctx: Context) -> tuple[str, str, str]:
    """(id, first commit, origin URL): the id names this repository in a remote's ``users/``."""
    first = ""
    head = ctx.repo.head()
    if head is not None:
        for info in ctx.repo.walk(head, first_parent=True):
            first = info.sha
    origin = ctx.repo.config_get("remote.origin.url") or ""
    digest = hashlib.sha256(f"{first}\n{origin}".encode()).hexdigest()[:24]
    return digest, first, origin


def other_users(store: Store, mine: str) -> list[str]:
    try:
        keys = list(store.list_documents(USERS))
    except UnsupportedError:
        return []
    ids = {k[len(USERS) :].removesuffix(".yaml") for k in keys if k.endswith(".yaml")}
    return sorted(ids - {mine})


def record_user(ctx: Context, store: Store) -> None:
    """Write ``users/<id>.yaml`` naming this repository (push may call this too)."""
    rid, first, origin = repository_id(ctx)
    doc = {
        "repository": rid,
        "first_commit": first,
        "origin": origin,
        "path": str(ctx.repo.root or ctx.repo.common_dir),
        "seen": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    store.put_document(f"{USERS}{rid}.yaml", yaml.safe_dump(doc, sort_keys=False).encode())


def published_needs(store: Store) -> set[str]:
    """Every oid a published entry (``commits/...``) names."""
    out: set[str] = set()
    try:
        keys = list(store.list_documents("commits/"))
    except UnsupportedError:
        return out
    for key in keys:
        doc = store.read_document(key)
        if doc is not None:
            out |= oids_in_manifest(doc.data, key)
    return out


def refs_not_fetched(ctx: Context) -> list[tuple[str, str]]:
    """(git remote, ref) of every branch and tag a git remote has at a commit this clone lacks.

    Asked of the git remotes themselves (``git ls-remote``): a clone that
    fetched one branch, or only pushed, knows nothing of the others, whose
    commits may name objects in the store. A git remote that cannot be listed
    stops the collection.
    """
    repo = ctx.repo
    wanted: list[tuple[str, str, str]] = []
    for remote in repo.git("remote").stdout.decode().split():
        proc = repo.git("ls-remote", "--heads", "--tags", remote, check=False)
        if proc.returncode != 0:
            why = (proc.stderr.decode("utf-8", "replace").strip().splitlines() or ["failed"])[-1]
            raise GitstoreError(
                f"cannot list the git remote '{remote}' ({why}): gc --remote must know every"
                " branch that may name the store's objects; nothing was deleted",
                hint="run it again when the git remote can be reached",
            )
        for line in proc.stdout.decode("utf-8", "replace").splitlines():
            sha, _, ref = line.partition("\t")
            if ref.endswith("^{}"):
                continue  # the peeled commit of a tag: the tag object is listed too
            wanted.append((sha, remote, ref))
    if not wanted:
        return []
    check = repo.git(
        "cat-file", "--batch-check", input="".join(f"{sha}\n" for sha, _, _ in wanted).encode()
    )
    missing = {
        line.split()[0] for line in check.stdout.decode().splitlines() if line.endswith(" missing")
    }
    return [(remote, ref) for sha, remote, ref in wanted if sha in missing]


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
    unfetched = refs_not_fetched(ctx)
    if unfetched:
        remote, ref = unfetched[0]
        more = f" (and {len(unfetched) - 1} more)" if len(unfetched) > 1 else ""
        raise GitstoreError(
            f"the git remote '{remote}' has {ref} at a commit this clone has not fetched{more}:"
            f" its data may be in remote '{name}'; nothing was deleted",
            hint="run `git fetch --all --tags` first",
        )
    name, store = open_remote(ctx, name, for_write=not dry_run)
    result = GcResult(dry_run=dry_run, grace=grace, remote=name)
    rid, _, _ = repository_id(ctx)
    try:
        record_user(ctx, store)
    except (ReadOnlyStoreError, UnsupportedError):
        if not dry_run:
            raise
        result.notes.append(f"remote '{name}' does not hold documents; its users are not recorded")
    others = other_users(store, rid)
    if others and not shared_ok:
        raise GitstoreError(
            f"remote '{name}' is also used by {len(others)} other repositor"
            f"{'y' if len(others) == 1 else 'ies'} ({', '.join(others[:3])}); refusing to collect it",
            hint="run with --shared-ok only if every repository using it has pushed and published",
        )
    needed = repository_needs(ctx.repo, result.notes) | published_needs(store)
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
    for oid, size in sorted(candidates.items()):
        if oid not in shown:
            result.notes.append(f"kept {oid}: not listed by the last --dry-run")
            continue
        store.delete(oid)
        result.deleted.append((oid, size))
    plan.unlink(missing_ok=True)
    return result


def _read_plan(plan: Path, name: str, url: str, now: float) -> set[str]:
    hint = f"run `gitstore gc --remote {name} --dry-run`, check the list, then run it with --yes"
    try:
        data = json.loads(plan.read_text())
    except (OSError, ValueError):
        raise UsageError(
            f"no recent `gc --remote {name} --dry-run` on this clone; nothing deleted", hint=hint
        ) from None
    if data.get("url") != url or now - float(data.get("time", 0)) > PLAN_MAX_AGE:
        raise UsageError(
            f"the last `gc --remote {name} --dry-run` is stale; nothing deleted", hint=hint
        )
    return set(data.get("oids", []))
