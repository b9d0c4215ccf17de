"""Push, fetch and pull: which objects commits need, which a store lacks, copies.

- *What is needed*: the objects named by the manifests of some commits (each
  manifest blob parsed once, by git blob id) and of the working tree, keyed by
  oid with the tracked paths that need each one (for error messages).
- *What a remote lacks*: the per-remote index ``.git/gitstore/remotes/<name>.index``
  (an append-only list of oids known present there, written after uploads,
  fetches and listings, reset when the remote's URL changes) answers first;
  only the rest is asked of the store, in one batched ``exists`` (S3 picks
  parallel HEADs or prefix listings by count). A second push with nothing new
  therefore asks almost nothing.
- *Copies*: a thread pool of ``jobs`` workers, each holding a slot of the
  store's adaptive :class:`~gitstore.stores.retry.Throttle` (which halves on
  throttling); per-object retries come from the RetryingStore wrapper.
- *Durability*: the set of objects a push is about to upload is written to
  ``.git/gitstore/queue/push-<remote>`` (fsync) before it starts; the index
  records what completed; an interrupted push resumes with what is still
  pending, and the queue is removed once everything is sent. Objects are
  content-addressed, so sending one twice is harmless.
- *Verification*: a fetched object is hashed as it streams into the cache's
  ``tmp/`` folder and only a verified file is renamed into the cache; bad bytes
  are discarded and named with their remote.

Fetch tries remotes in :func:`gitstore.remotes.fetch_order`; an object missing
from one (or denied on one object, as public buckets answer) is looked for in
the next; a remote that is down is skipped with one warning.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

from . import manifest as mf
from . import stopping
from .errors import (
    ConfigError,
    GitstoreError,
    IntegrityError,
    ManifestError,
    ObjectNotFoundError,
    PathError,
    StoreAuthError,
    StoreError,
    UnsupportedError,
)
from .progress import NullProgress, Progress, count
from .remotes import NO_REMOTE_HINT, check_trust, fetch_order, open_remote, remote_config
from .stores import sharing
from .stores.base import Store

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from .api import Context
    from .checkout import CheckoutResult
    from .partial import Journal

T = TypeVar("T")
INDEX_HEADER = "# gitstore remote index for "
FLUSH_EVERY = 256
# An object this clone wrote to a remote less than this long ago is not renewed
# by pre-push: `gc --remote` judges only objects older than the collecting
# clone's last fetch less gc_remote.CLOCK_SLACK (an hour), so a fresh upload is
# safe from it for the length of any push, with room for the clocks.
RENEW_AFTER = 600.0


@dataclass
class TransferResult:
    transferred: int = 0
    bytes: int = 0
    present: int = 0  # already where they had to go
    present_indexed: int = 0  # of those, taken from this clone's index of the remote
    failed: dict[str, str] = field(default_factory=dict)  # oid -> reason (one line)
    # of the failed, those this clone's cache lacks, and those it holds damaged
    uncached: set[str] = field(default_factory=set)
    damaged: set[str] = field(default_factory=set)
    remote: str | None = None
    warnings: list[str] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)  # --dry-run: what would be sent
    # every path: the working tree's manifests that could not be read, left out (one line each)
    invalid: list[ManifestError] = field(default_factory=list)
    # objects taken up where an interrupted transfer stopped: oid -> (bytes found there, size)
    resumed: dict[str, tuple[int, int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "transferred": self.transferred,
            "bytes": self.bytes,
            "failed": sorted(self.failed),
            "present": self.present,
            "present_indexed": self.present_indexed,
            "remote": self.remote,
            "errors": dict(sorted(self.failed.items())),
            "warnings": self.warnings,
            **(
                {"resumed": {o: n for o, (n, _) in sorted(self.resumed.items())}}
                if self.resumed
                else {}
            ),
            **({"planned": sorted(self.planned)} if self.planned else {}),
        }


# -- what is needed -------------------------------------------------------------
def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


class _Collector:
    """oid -> paths (and sizes) from manifests, filtered by path prefixes."""

    def __init__(self, paths: Sequence[str], *, tolerant: bool = False) -> None:
        self.paths = list(paths)
        # a working tree's manifest that cannot be read is left out and named in
        # ``invalid`` rather than stopping the command (push, fetch, pull of every path)
        self.tolerant = tolerant
        self.invalid: list[ManifestError] = []
        self.found: dict[str, dict[str, None]] = {}
        self.sizes: dict[str, int] = {}
        self.seen: set[tuple[str, str]] = set()
        self.lines: dict[str, set[str]] = {}  # manifest path -> the entry lines read so far
        self.worktree: dict[str, mf.Manifest] = {}  # the working tree's manifests, parsed
        self.matched: set[str] = set()  # the paths some manifest overlapped
        self.hit: set[str] = set()  # the paths some entry lies at or under

    def wants(self, mpath: str) -> bool:
        rel = mf.tracked_path(mpath)
        hits = [p for p in self.paths if _under(rel, p) or _under(p, rel)]
        self.matched.update(hits)
        self.hit.update(p for p in hits if _under(rel, p))  # the whole tracked path is wanted
        return not self.paths or bool(hits)

    def unmatched(self, root: Path | None = None) -> list[str]:
        """The paths asked for that no manifest looked at overlaps, or that name no entry
        of one and are not on disk under ``root`` (a mistyped name inside a tracked folder)."""
        return [
            p
            for p in self.paths
            if p not in self.matched
            or p not in self.hit
            and not (root is not None and os.path.lexists(root / p))
        ]

    def add(self, mpath: str, manifest: mf.Manifest) -> None:
        self.add_entries(mpath, manifest.kind, manifest.entries)

    def add_entries(self, mpath: str, kind: str, entries: Iterable[mf.Entry]) -> None:
        rel = mf.tracked_path(mpath)
        for e in entries:
            full = f"{rel}/{e.path}" if kind == "dir" else rel
            if self.paths:
                hits = [p for p in self.paths if _under(full, p)]
                if not hits:
                    continue
                self.hit.update(hits)
            self.found.setdefault(e.oid, {})[full] = None
            self.sizes[e.oid] = e.size

    def add_commits(self, ctx: Context, commits: Iterable[str]) -> None:
        """The manifests of each commit, each version read once, all in one batch."""
        versions: dict[str, list[str]] = {}  # blob -> the manifest paths it is a version of
        where: dict[str, str] = {}  # blob -> a commit it was found at, to name in errors
        commits = list(commits)
        ctx.repo.prefetch_trees(commits)  # a tree:0 partial clone: one fetch, not one a commit
        for commit in commits:
            for mpath, blob in ctx.repo.list_manifests(commit).items():
                if (mpath, blob) in self.seen or not self.wants(mpath):
                    continue
                self.seen.add((mpath, blob))
                versions.setdefault(blob, []).append(mpath)
                where.setdefault(blob, commit)
        for blob, data in ctx.repo.iter_blobs(list(versions)):
            for mpath in versions[blob]:
                try:
                    self.add_version(mpath, blob, data)
                except ManifestError as exc:  # one of history's (committed with --no-verify)
                    raise ManifestError(
                        f"{exc.message} (as committed in {where[blob][:12]})",
                        hint=f"mend or drop that commit (`git rebase -i {where[blob][:12]}^`)",
                    ) from exc

    def add_version(self, mpath: str, blob: str, data: bytes) -> None:
        """One version of a manifest in history: the first is read in full, and of each
        later one only the lines that no earlier one had (the entries they add)."""
        lines = self.lines.get(mpath)
        if lines is not None and (added := mf.new_entries(data, lines)) is not None:
            self.add_entries(mpath, "dir", added)
            return
        manifest = mf.parse_cached(data, blob, mpath)
        self.add(mpath, manifest)
        if lines is None and manifest.kind == "dir":
            lines = set()
            if mf.new_entries(data, lines) is not None:
                self.lines[mpath] = lines

    def add_worktree(self, ctx: Context) -> None:
        root = ctx.repo.require_worktree()
        for mpath in ctx.repo.worktree_manifests():
            if not self.wants(mpath):
                continue
            try:
                data = (root / mpath).read_bytes()
            except FileNotFoundError:
                continue
            try:
                problem = mf.tracked_path_problem(mf.tracked_path(mpath))
                if problem is not None:  # never checked out: pull ahead must not write it
                    raise ManifestError(f"{mpath}: {problem}")
                manifest = mf.parse(data, mpath)
            except ManifestError as exc:
                if not self.tolerant:
                    raise
                self.invalid.append(exc)
                continue
            self.worktree[mpath] = manifest
            self.add(mpath, manifest)

    def result(self) -> dict[str, list[str]]:
        return {oid: list(paths) for oid, paths in self.found.items()}


def reachable_commits(ctx: Context) -> list[str]:
    """Every commit reachable from any branch or tag."""
    out = ctx.repo.git("rev-list", "--branches", "--tags").stdout.decode()
    return out.split()


def _collect(
    ctx: Context,
    revs: Sequence[str] | None,
    *,
    all_refs: bool = False,
    paths: Sequence[str] = (),
    worktree: bool = True,
    head: bool = True,
    tolerant: bool = False,
) -> _Collector:
    from .api import tracked_rels  # '.' at the top: every tracked path

    collector = _Collector(
        tracked_rels(ctx.workspace, paths, ctx.cwd) if paths else (), tolerant=tolerant
    )
    commits = [ctx.repo.resolve(r) for r in revs or ()]
    if all_refs:
        commits += reachable_commits(ctx)
    default = not revs and not all_refs
    if default and head and (sha := ctx.repo.head()) is not None:
        commits.append(sha)
    collector.add_commits(ctx, dict.fromkeys(commits))
    if worktree and not revs and ctx.repo.root is not None:
        collector.add_worktree(ctx)
    return collector


def needed_objects(
    ctx: Context,
    revs: Sequence[str] | None = None,
    *,
    all_refs: bool = False,
    paths: Sequence[str] = (),
    worktree: bool = True,
) -> dict[str, list[str]]:
    """oid -> repository paths needing it; default: HEAD and the working tree's manifests."""
    return _collect(ctx, revs, all_refs=all_refs, paths=paths, worktree=worktree).result()


def objects_of_commits(ctx: Context, commits: Iterable[str]) -> dict[str, list[str]]:
    """oid -> paths, from the manifests at each commit (each manifest blob parsed once)."""
    collector = _Collector(())
    collector.add_commits(ctx, dict.fromkeys(commits))
    return collector.result()


def _as_mapping(oids: Mapping[str, Sequence[str]] | Iterable[str]) -> dict[str, list[str]]:
    if isinstance(oids, Mapping):
        return {oid: list(paths) for oid, paths in oids.items()}
    return {oid: [] for oid in oids}


def _needed_by(paths: Sequence[str]) -> str:
    if not paths:
        return ""
    more = f" and {len(paths) - 1} more" if len(paths) > 1 else ""
    return f" (needed by {paths[0]}{more})"


# -- per-remote bookkeeping -------------------------------------------------------
def store_identity(store: Store) -> str:
    """What tells one store from another: its URL, and the S3 service and profile it is
    reached through (the same ``s3://bucket/prefix`` on two services is two stores)."""
    parts = [store.url]
    inner = getattr(store, "inner", store)  # through the retrying wrapper
    for attr in ("endpoint_url", "profile"):
        value = getattr(inner, attr, None)
        if value:
            parts.append(f"{attr}={value}")
    return " ".join(parts)


# the document ``gc --remote`` writes (a new token) before it deletes anything: a clone
# whose index of the remote predates it trusts neither that index nor its git refs
COLLECTED = "gc/collected"


# a push that finds a collection announced as still deleting waits for it, at most this
# long; a collection whose heartbeat (its document rewritten every RECHECK_EVERY seconds
# while it deletes) stopped for GC_STALL seconds, or is more than GC_DEAD seconds off the
# clock here (five minutes: skew between machines, never a live collection), was killed
GC_WAIT = 120.0
GC_STALL = 30.0
GC_DEAD = 300.0


class GcState(NamedTuple):
    """What ``gc/collected`` says: the last collection's token (its uuid and start; None
    if none ran), whether it announced itself as still deleting, and the document's version."""

    token: str | None
    running: bool
    version: str | None


def gc_state(store: Store) -> GcState:
    """The remote's ``gc/collected`` (written by :func:`gitstore.gc_remote.collect_remote`:
    ``<uuid> <start> running <heartbeat>`` while it deletes, ``<uuid> <start> done`` after)."""
    try:
        doc = store.read_document(COLLECTED)
    except UnsupportedError:  # a store without documents: no collection ever ran there
        return GcState(None, False, None)
    # any other error propagates: a store that is missing, down or refusing would
    # otherwise read as "never collected", and a push trusting its index as complete
    if doc is None:
        return GcState(None, False, None)
    words = doc.data.decode("ascii", "replace").split()
    running = len(words) > 2 and words[2] == "running"
    if running and len(words) > 3:
        with contextlib.suppress(ValueError):  # killed long ago: nobody is deleting
            beat = datetime.fromisoformat(words[3]).timestamp()
            running = abs(time.time() - beat) < GC_DEAD  # in the future: not a clock we trust
    return GcState(" ".join(words[:2])[:64] or None, running, doc.version)


def collected_token(store: Store) -> str | None:
    """The token of the last ``gc --remote`` of ``store``; None if none ran (or unknown)."""
    return gc_state(store).token


class RemoteIndex:
    """Append-only set of oids known to be on one remote; reset when its URL (or S3
    service) changes. It also keeps the token of the last ``gc --remote`` it has seen."""

    def __init__(self, ctx: Context, name: str, store: Store) -> None:
        self.path = ctx.repo.common_state_dir / "remotes" / f"{name}.index"
        self.header = f"{INDEX_HEADER}{store_identity(store)}\n"
        self._lock = threading.Lock()
        self._sent_checked = False  # whether add_sent has judged the .sent file yet

    def collected(self) -> tuple[str, float] | None:
        """(token, when this clone first saw it) of the last ``gc --remote`` seen."""
        found = None
        try:
            with open(self.path, encoding="utf-8", errors="replace") as f:
                if f.readline() != self.header:
                    return None
                for line in f:
                    if line.startswith("gc "):
                        seen, _, token = line[3:].rstrip("\n").partition(" ")
                        with contextlib.suppress(ValueError):
                            found = (token, float(seen))
        except FileNotFoundError:
            return None
        return found

    def start_over(self, token: str) -> float:
        """Forget every oid (a ``gc --remote`` may have removed any of them) and record the
        collection's token, seen now; what is added from here on was there after it."""
        seen = time.time()
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "w", encoding="utf-8") as f:
                f.write(f"{self.header}gc {seen:.3f} {token}\n")
        return seen

    def load(self) -> set[str]:
        try:
            with open(self.path, encoding="utf-8", errors="replace") as f:
                if f.readline() != self.header:
                    return set()
                return {line[:64] for line in f if len(line) == 65 and line[64] == "\n"}
        except FileNotFoundError:
            return set()

    def add(self, oids: Iterable[str], *, replace: bool = False) -> None:
        lines = "".join(f"{oid}\n" for oid in oids)
        if not lines and not replace:
            return
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fresh = replace or not self._header_ok()
            seen = self.collected() if replace else None  # a rewrite keeps what it saw
            kept = f"gc {seen[1]:.3f} {seen[0]}\n" if seen else ""
            with open(self.path, "w" if fresh else "a", encoding="utf-8") as f:
                f.write((self.header + kept if fresh else "") + lines)

    def forget(self, oids: Iterable[str]) -> None:
        """Drop oids found missing from the remote (the index only grows otherwise)."""
        gone = set(oids)
        known = self.load()
        if gone & known:
            self.add(sorted(known - gone), replace=True)

    def _header_ok(self) -> bool:
        try:
            with open(self.path, encoding="utf-8", errors="replace") as f:
                return f.readline() == self.header
        except FileNotFoundError:
            return False

    # -- what this clone wrote there lately (``<name>.sent``: "<unix time> <oid>" lines) --
    @property
    def _sent_path(self) -> Path:
        return self.path.with_suffix(".sent")

    def add_sent(self, oids: list[str], started: float) -> None:
        """Record ``oids`` as on the remote, and as written there by this clone in a push
        that began at ``started`` (the age that counts: S3 dates a multipart upload from
        its start, and a long push's objects are renewed by the next one)."""
        self.add(oids)
        if not oids:
            return
        now = time.time()
        # whole seconds, rounded down: a record is never dated after the push began
        lines = "".join(f"{int(started)} {oid}\n" for oid in oids)
        with self._lock:
            # looked at once per push, not per batch (the file grows with the push):
            # another remote's, or only stale lines, and it starts over
            fresh = not self._sent_checked and self._sent_lines(now) is None
            self._sent_checked = True
            with open(self._sent_path, "w" if fresh else "a", encoding="utf-8") as f:
                f.write((self.header if fresh else "") + lines)

    def recently_sent(self, within: float = RENEW_AFTER) -> set[str]:
        """The oids this clone wrote to the remote less than ``within`` seconds ago."""
        lines = self._sent_lines(time.time(), within)
        return {line[1] for line in lines or ()}

    def _sent_lines(self, now: float, within: float = RENEW_AFTER) -> list[list[str]] | None:
        """The records younger than ``within``; None when the file is absent, of another
        remote or holds none that young (so that it is rewritten, not grown forever)."""
        try:
            with open(self._sent_path, encoding="utf-8", errors="replace") as f:
                if f.readline() != self.header:
                    return None
                rows = [line.split() for line in f]
        except FileNotFoundError:
            return None
        young = []
        for row in rows:
            with contextlib.suppress(ValueError, IndexError):
                if len(row) == 2 and len(row[1]) == 64 and 0 <= now - int(row[0]) < within:
                    young.append(row)
        return young or None


class PushQueue:
    """The objects an unfinished push to one remote still has to send."""

    def __init__(self, ctx: Context, name: str) -> None:
        self.path = ctx.repo.common_state_dir / "queue" / f"push-{name}"

    def pending(self) -> set[str]:
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return set()
        return {line for line in text.splitlines() if len(line) == 64}

    def record(self, oids: Iterable[str]) -> None:
        from .stores.local import fsync_write

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fsync_write(self.path, "".join(f"{oid}\n" for oid in sorted(oids)).encode())

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


class _Batcher:
    """Collects completed oids from worker threads and flushes them in batches."""

    def __init__(self, flush: Callable[[list[str]], None]) -> None:
        self.flush_fn = flush
        self.items: list[str] = []
        self.lock = threading.Lock()

    def add(self, oid: str) -> None:
        with self.lock:
            self.items.append(oid)
            if len(self.items) < FLUSH_EVERY:
                return
            items, self.items = self.items, []
        self.flush_fn(items)

    def flush(self) -> None:
        with self.lock:
            items, self.items = self.items, []
        self.flush_fn(items)


def remote_error(name: str, exc: GitstoreError) -> GitstoreError:
    """The same error with the remote's name in front."""
    if f"'{name}'" in exc.message:
        return exc
    error = type(exc).__new__(type(exc))
    error.__dict__.update(exc.__dict__)
    error.message = f"remote '{name}': {exc.message}"
    error.args = (error.message,)
    return error


def _run(items: Sequence[str], jobs: int, work: Callable[[str], None]) -> None:
    """``work`` over ``items`` on ``jobs`` threads; Ctrl-C or an error stops what has not started.

    Each thread takes the next item from a shared iterator: no future per item
    (thousands of small objects made one future, one as_completed wake-up and
    one lock hand-over each, ~10% of a small pull's GIL time). The first
    exception a ``work`` raises is raised here once every thread has stopped.
    """
    source = iter(items)
    take = threading.Lock()
    stop = threading.Event()
    failures: list[BaseException] = []

    def worker(finished: threading.Event) -> None:
        try:
            while not stop.is_set():
                with take:
                    item = next(source, None)
                if item is None:
                    return
                try:
                    work(item)
                except BaseException as exc:
                    failures.append(exc)
                    stop.set()
                    return
        finally:
            finished.set()

    count = max(1, min(jobs, len(items)))
    ends = [threading.Event() for _ in range(count)]
    threads = [
        threading.Thread(target=worker, args=(end,), name=f"gitstore-transfer-{i}", daemon=True)
        for i, end in enumerate(ends)
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException:  # Ctrl-C: nothing new starts; what runs stops at its next part
        stop.set()
        stopping.EVENT.set()
        try:
            # not join(): on Python 3.11 a join that Ctrl-C interrupted takes its thread
            # for ended at once, and the interpreter would then exit under its feet
            for end in ends:
                end.wait()
        except BaseException:  # a second Ctrl-C: the threads still stop at their next part
            threading.Thread(target=_lower_when_ended, args=(ends,), daemon=True).start()
            raise
        stopping.EVENT.clear()  # a caller of the Python API may catch it and transfer again
        raise
    if failures:
        raise failures[0]


def _lower_when_ended(ends: Sequence[threading.Event]) -> None:
    """Lower the stopping flag once every transfer thread has stopped."""
    for end in ends:
        end.wait()
    stopping.EVENT.clear()


def _retrying(store: Store, what: str, fn: Callable[[], T], again: Callable[[], None]) -> T:
    """``fn()`` under the retries of ``store`` when it is a RetryingStore, with ``again``
    before each retry; once otherwise."""
    call = getattr(store, "_call", None)
    if getattr(store, "inner", None) is not None and callable(call):
        return cast(T, call(what, fn, on_retry=again))
    return fn()


def _throttle_of(store: Store) -> Any:
    from contextlib import nullcontext

    return getattr(store, "throttle", None) or nullcontext()


# -- push ------------------------------------------------------------------------
def push_objects(
    ctx: Context,
    oids: Mapping[str, Sequence[str]] | Iterable[str],
    *,
    remote: str | None = None,
    jobs: int | None = None,
    progress: Progress | None = None,
    dry_run: bool = False,
    confirm: Iterable[str] = (),
    renew: Iterable[str] = (),
    pushed_to: str | None = None,
) -> TransferResult:
    """Upload the objects the remote lacks; remote-level problems raise StoreError.

    ``pushed_to``: the URL of the git remote a ``git push`` goes to, when it is
    not ``origin``; the remote's ``users/`` record names that repository
    (:func:`gitstore.gc_remote.note_user`).

    The per-remote index answers for objects once seen on the remote, except
    those in ``confirm``, which the store itself is asked about (pre-push
    passes the objects its new commits bring). Of those, the ones in ``renew``
    found there already are renewed (:meth:`Store.touch`): an old object that a
    new commit names again, which a ``gc --remote`` running meanwhile would
    otherwise judge by its old age and delete.
    """
    wanted = _as_mapping(oids)
    name, store = open_remote(ctx, remote, for_write=True)
    result = TransferResult(remote=name)
    index, queue = RemoteIndex(ctx, name, store), PushQueue(ctx, name)
    # a `gc --remote` since this clone's last full push may have removed what the
    # index says is there: it is trusted again once a push finds everything there
    looked = gc_state(store)
    gc_seen(index, store, looked.token)
    indexed = index.load()
    never_written = getattr(getattr(store, "inner", store), "never_written", None)
    if indexed and callable(never_written) and never_written():
        index.add((), replace=True)  # a new, empty folder at its path: nothing is there
        indexed = set()
    resumed = queue.pending() - indexed
    for oid in ctx.cache.exists(resumed):
        wanted.setdefault(oid, [])
    known = indexed - set(confirm)
    candidates = [oid for oid in wanted if oid not in known]
    result.present = result.present_indexed = len(wanted) - len(candidates)
    try:
        on_remote = store.exists(candidates) if candidates else set()
    except GitstoreError as exc:
        raise remote_error(name, exc) from exc
    if not dry_run and renew:
        # what this clone itself wrote there minutes ago (`gitstore push`, then
        # `git push`) is young on the remote: no collection can judge it yet
        old = on_remote & set(renew) - index.recently_sent()
        on_remote -= _renew(store, sorted(old), jobs or ctx.config.jobs)
    index.add(on_remote)
    lost = [oid for oid in candidates if oid in indexed and oid not in on_remote]
    if lost:
        index.forget(lost)
    result.present += len(on_remote)
    lacking = [oid for oid in candidates if oid not in on_remote]
    cached = ctx.cache.exists(lacking)
    for oid in lacking:
        if oid not in cached:
            result.failed[oid] = f"{oid} is not in the cache{_needed_by(wanted[oid])}"
            result.uncached.add(oid)
    send = [oid for oid in lacking if oid in cached]
    sizes = {oid: _size(ctx.cache.path(oid)) for oid in send}
    if dry_run:
        result.planned = send
        result.bytes = sum(sizes.values())
        return result
    if wanted:  # first, so that another repository's `gc --remote` sees this one
        from .gc_remote import note_user

        note_user(ctx, store, pushed_to)
    if send:
        queue.record(set(send) | (queue.pending() - indexed))
    _upload(ctx, name, store, send, sizes, wanted, index, jobs, progress, result)
    if not result.failed:
        _after_collection(ctx, name, store, index, wanted, looked, jobs, progress, result)
    # big objects whose upload took up one a killed push left (S3 multipart)
    taken_up = getattr(getattr(store, "inner", store), "resumed_uploads", {})
    result.resumed.update({oid: taken_up[oid] for oid in send if oid in taken_up})
    if not result.failed:
        queue.clear()
    return result


def _renew(store: Store, oids: list[str], jobs: int) -> set[str]:
    """Touch each object; the ones found gone meanwhile (to be uploaded again)."""
    gone: set[str] = set()

    def one(oid: str) -> None:
        try:
            store.touch(oid)
        except ObjectNotFoundError:
            gone.add(oid)
        except GitstoreError as exc:  # cannot renew here (read-only, no such call): as before
            log.debug("gitstore: could not renew %s on %s: %s", oid, store.url, exc)

    if oids:
        with ThreadPoolExecutor(max_workers=min(jobs, len(oids))) as pool:
            list(pool.map(one, oids))
    return gone


def _after_collection(
    ctx: Context,
    name: str,
    store: Store,
    index: RemoteIndex,
    wanted: dict[str, list[str]],
    looked: GcState,
    jobs: int | None,
    progress: Progress | None,
    result: TransferResult,
) -> None:
    """Once the uploads are done: a ``gc --remote`` that began since this push read
    ``gc/collected``, or that is still deleting, may have removed (or may yet remove)
    objects this push took as there (its index, the commits the remote-tracking refs
    reach, an answer of the store given before the collection judged them). Wait for a
    collection begun since and still deleting (at most GC_WAIT), then ask the store about every object
    the push needs, renew the old ones (the collection spares what was renewed while it
    ran) and upload what is gone, before the hook lets git send the refs."""
    for _ in range(3):
        now = gc_state(store)
        if now.token != looked.token:  # begun during this push: let it finish first
            now = _wait_for_collection(store, now)
        if now.token == looked.token and not now.running and not looked.running:
            return
        if now.token is not None:
            index.start_over(now.token)  # whatever the index held may be gone
        oids = sorted(wanted)
        try:
            on_remote = store.exists(oids)
        except GitstoreError as exc:
            raise remote_error(name, exc) from exc
        mine = index.recently_sent()  # young there: no collection judges them
        on_remote -= _renew(store, sorted(on_remote - mine), jobs or ctx.config.jobs)
        index.add(on_remote)
        lacking = [oid for oid in oids if oid not in on_remote]
        cached = ctx.cache.exists(lacking)
        for oid in lacking:
            if oid not in cached:
                reason = f"{oid} was removed by a gc --remote while this push ran"
                result.failed[oid] = f"{reason} and is not in the cache{_needed_by(wanted[oid])}"
                result.uncached.add(oid)
        send = [oid for oid in lacking if oid in cached]
        sizes = {oid: _size(ctx.cache.path(oid)) for oid in send}
        _upload(ctx, name, store, send, sizes, wanted, index, jobs, progress, result)
        if result.failed:
            return
        if now.running:  # waited GC_WAIT: renewed and re-sent, but it deletes on
            result.warnings.append(
                f"a gc --remote of '{name}' was still deleting when this push ended: the"
                " objects it needs were renewed; run `gitstore verify --remote"
                f" {name}` once it has ended"
            )
            return
        looked = now
    result.warnings.append(f"the remote '{name}' was collected again and again during this push")


def _wait_for_collection(store: Store, state: GcState) -> GcState:
    """``state`` once its collection has ended, or GC_WAIT has passed (then still running),
    or its heartbeat stopped for GC_STALL (killed: then taken as ended)."""
    deadline = time.monotonic() + GC_WAIT
    changed = time.monotonic()
    while state.running and time.monotonic() < deadline:
        time.sleep(0.5)
        now = gc_state(store)
        if now.version != state.version or now.token != state.token:
            changed = time.monotonic()
        elif time.monotonic() - changed > GC_STALL:
            return now._replace(running=False)
        state = now
    return state


def gc_seen(index: RemoteIndex, store: Store, token: str | None = None) -> float | None:
    """When this clone first saw the remote's last ``gc --remote`` (None: none ran).

    A new one empties the index first: any object it named may be gone.
    ``token``: what ``gc/collected`` says, when the caller read it already.
    """
    token = token if token is not None else collected_token(store)
    if token is None:
        return None
    recorded = index.collected()
    if recorded is not None and recorded[0] == token:
        return recorded[1]
    return index.start_over(token)


def remote_gc_seen(ctx: Context, remote: str | None) -> float | None:
    """:func:`gc_seen` of a remote by name (pre-push, before it walks the commits)."""
    name, store = open_remote(ctx, remote, for_write=True)
    return gc_seen(RemoteIndex(ctx, name, store), store)


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _upload(
    ctx: Context,
    name: str,
    store: Store,
    send: list[str],
    sizes: dict[str, int],
    wanted: dict[str, list[str]],
    index: RemoteIndex,
    jobs: int | None,
    progress: Progress | None,
    result: TransferResult,
) -> None:
    if not send:
        return
    progress = progress or NullProgress()
    progress.start(f"push to {name}", len(send), sum(sizes.values()))
    started = time.time()
    done = _Batcher(lambda oids: index.add_sent(oids, started))
    lock = threading.Lock()
    stop = threading.Event()
    fatal: list[GitstoreError] = []
    throttle = _throttle_of(store)

    def work(oid: str) -> None:
        if stop.is_set():
            return
        try:
            ctx.cache.check_object(oid)  # a symlink or folder is never read as one
            with throttle:
                store.put(oid, ctx.cache.path(oid))
        except (IntegrityError, ObjectNotFoundError) as exc:
            hint = f"; {exc.hint}" if exc.hint else ""
            with lock:
                result.failed[oid] = f"{exc.message}{_needed_by(wanted.get(oid, []))}{hint}"
                (result.damaged if isinstance(exc, IntegrityError) else result.uncached).add(oid)
            return
        except StoreError as exc:
            with lock:
                fatal.append(exc)
            stop.set()
            return
        done.add(oid)
        with lock:
            result.transferred += 1
            result.bytes += sizes[oid]
        progress.advance(sizes[oid])

    try:
        _run(send, jobs or ctx.config.jobs, work)
    finally:
        done.flush()
        progress.done()
    sync = getattr(getattr(store, "inner", store), "sync", None)
    if callable(sync):
        sync()
    if fatal:
        for oid in send:
            result.failed.setdefault(oid, "not sent")
        raise remote_error(name, fatal[0])


def push(
    ctx: Context,
    revs: Sequence[str] | None = None,
    paths: Sequence[str] = (),
    *,
    remote: str | None = None,
    all_refs: bool = False,
    jobs: int | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> TransferResult:
    """Upload what the manifests of ``revs`` (default: HEAD and the working tree) need,
    only under ``paths`` if given."""
    if paths:
        if ctx.repo.root is None:
            raise PathError(
                f"{paths[0]} is not a revision git knows, and a bare repository has no paths"
            )
        collector = _collect(ctx, revs, all_refs=all_refs, paths=paths)
        _require_matched(ctx, collector, ", ".join(revs) if revs else None)
        wanted = collector.result()
    else:
        collector = _collect(ctx, revs, all_refs=all_refs, tolerant=True)
        wanted = collector.result()
    result = push_objects(ctx, wanted, remote=remote, jobs=jobs, progress=progress, dry_run=dry_run)
    result.invalid = collector.invalid
    return result


# -- fetch -----------------------------------------------------------------------
@dataclass
class _FromRemote:
    fetched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    fatal: GitstoreError | None = None


def fetch_objects(
    ctx: Context,
    oids: Mapping[str, Sequence[str]] | Iterable[str],
    *,
    remote: str | None = None,
    jobs: int | None = None,
    progress: Progress | None = None,
    sizes: Mapping[str, int] | None = None,
    landed: Callable[[str, bytes | None], None] | None = None,
) -> TransferResult:
    """Download into the cache, verified, trying remotes in order; see the module docstring.

    ``landed(oid, data)`` is called from a worker thread as each object enters
    the cache; ``data`` is its verified bytes when the store handed them over
    (small objects), else None.
    """
    wanted = _as_mapping(oids)
    if remote is not None:  # an unknown or untrusted remote is an error even with nothing to do
        check_trust(ctx, remote_config(ctx, remote))
    with ctx.cache.lock():  # gc must not collect what is fetched before it is named
        return _fetch_objects(ctx, wanted, remote, jobs, progress, sizes, landed)


def _fetch_objects(
    ctx: Context,
    wanted: Mapping[str, Sequence[str]],
    remote: str | None,
    jobs: int | None,
    progress: Progress | None,
    sizes: Mapping[str, int] | None,
    landed: Callable[[str, bytes | None], None] | None = None,
) -> TransferResult:
    have = ctx.cache.exists(wanted)
    result = TransferResult(remote=remote, present=len(have))
    remaining = [oid for oid in wanted if oid not in have]
    if not remaining:
        return result
    names = [remote] if remote else fetch_order(ctx)
    if not names:
        first = remaining[0]
        paths = wanted.get(first) or ()
        what = f"{count(len(remaining), 'object', 'is')} not in the cache, e.g. {first}" + (
            f" ({paths[0]})" if paths else ""
        )
        if ctx.config.remotes:
            raise ConfigError(
                f"{what}, and no remote to fetch from: none is the default or named by this repository",
                hint="use --remote NAME, or run `gitstore remote default NAME`",
            )
        hint = NO_REMOTE_HINT
        if ctx.repo.root is None:  # a bare repository: no committed config is read here
            hint = "run `gitstore remote add NAME URL --default --local` (a bare repository has no committed config)"
        raise ConfigError(f"{what}, and no remote is configured", hint=hint)
    reasons: dict[str, list[str]] = {}
    unusable: list[GitstoreError] = []
    progress = progress or NullProgress()
    known_sizes = sizes or {}
    total = sum(known_sizes.get(oid, 0) for oid in remaining)
    progress.start("fetch", len(remaining), total or None)
    try:
        for name in names:
            if not remaining:
                break
            name, store = open_remote(ctx, name)
            got = _fetch_from(ctx, name, store, remaining, jobs, progress, reasons, result, landed)
            if got.fatal is not None:
                if remote is not None or len(names) == 1:
                    raise got.fatal
                why = got.fatal.message
                if not why.startswith(f"remote '{name}'"):
                    why = f"remote '{name}': {why}"
                result.warnings.append(f"skipping {why}")
                unusable.append(got.fatal)
            remaining = got.missing
    finally:
        progress.done()
        ctx.cache.sync()
    if remaining and len(unusable) == len(names):
        raise unusable[0]
    tried = ", ".join(f"'{n}'" for n in names)
    for oid in remaining:
        extra = "; ".join(reasons.get(oid, []))
        if extra:  # found, but unusable (corrupt, unreadable): not "in no remote"
            why = f"{oid} could not be fetched from {tried}{_needed_by(wanted[oid])}: {extra}"
        else:
            why = f"{oid} is in no remote ({tried}){_needed_by(wanted[oid])}"
        result.failed[oid] = why
    return result


def _fetch_from(
    ctx: Context,
    name: str,
    store: Store,
    oids: list[str],
    jobs: int | None,
    progress: Progress,
    reasons: dict[str, list[str]],
    result: TransferResult,
    landed: Callable[[str, bytes | None], None] | None = None,
) -> _FromRemote:
    out = _FromRemote()
    lock = threading.Lock()
    stop = threading.Event()
    cache = ctx.cache
    tmp_dir = cache.store.tmp_dir
    cache.store.make_dirs(tmp_dir)
    index = RemoteIndex(ctx, name, store)
    done = _Batcher(index.add)
    throttle = _throttle_of(store)

    def miss(oid: str, reason: str | None = None) -> None:
        with lock:
            out.missing.append(oid)
            if reason:
                reasons.setdefault(oid, []).append(reason)

    inner = getattr(store, "inner", store)
    read_into = getattr(inner, "read_into", None)
    resumable = bool(getattr(inner, "resumes_reads", False))
    names = itertools.count()
    tmp_prefix = f"{tmp_dir}/fetch-{os.urandom(8).hex()}-"

    def receive(oid: str) -> tuple[int, bytes | None]:
        """Download straight into the cache's temporary file: one rename, no chmod."""
        got: list[tuple[int, bytes | None]] = []

        def fill(fd: int) -> str:
            def again() -> None:  # a retry starts the file over
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)

            assert read_into is not None
            call: Callable[[], tuple[str, int, bytes | None]] = lambda: read_into(oid, fd)  # noqa: E731
            actual, size, data = _retrying(store, f"get {oid}", call, again)
            got.append((size, data))
            return str(actual)

        def fill_resuming(fd: int, resume: Callable[[], Journal | None]) -> str:
            journals: list[Journal] = []

            def resume_noted() -> Journal | None:
                journal = resume()
                if journal is not None:
                    journals.append(journal)
                return journal

            assert read_into is not None
            call: Callable[[], tuple[str, int, bytes | None]] = lambda: read_into(  # noqa: E731
                oid, fd, resume_noted
            )
            # a retry takes up where the last try stopped: read_into knows how
            actual, size, data = _retrying(store, f"get {oid}", call, lambda: None)
            got.append((size, data))
            if journals and journals[-1].resumed:
                with lock:
                    result.resumed[oid] = (journals[-1].resumed, size)
            return str(actual)

        with throttle:
            if resumable:
                cache.receive_resumable(oid, fill_resuming)
            else:
                cache.receive(oid, fill)
        return got[-1]

    def download(oid: str) -> tuple[int, bytes | None]:
        """Through a file of the store's own making, then adopted by the cache."""
        tmp = Path(f"{tmp_prefix}{next(names)}")
        try:
            with throttle:
                store.get(oid, tmp)
            size = _size(tmp)
            cache.adopt_verified(tmp, oid)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return size, None

    fetch_one = receive if callable(read_into) else download

    def work(oid: str) -> None:
        if stop.is_set():
            miss(oid)
            return
        try:
            size, data = fetch_one(oid)
        except ObjectNotFoundError:
            miss(oid)
            return
        except StoreAuthError as exc:
            if not getattr(exc, "object_level", False):
                raise_fatal(oid, exc)
                return
            miss(oid, f"access denied on remote '{name}'")
            return
        except IntegrityError as exc:
            message = remote_error(name, exc).message
            with lock:
                result.warnings.append(message)
            miss(oid, message)
            return
        except StoreError as exc:
            raise_fatal(oid, exc)
            return
        except OSError as exc:
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
            if isinstance(exc, PermissionError):
                hint = f"{sharing.team_hint(cache.root)}; or use a cache this user can write"
            elif exc.errno == errno.EIO:
                hint = (
                    "the cache's disk reported an I/O error: check it (dmesg), or use another cache"
                )
            else:
                hint = "free some space" if full else "use a cache this user can write"
            raise StoreError(
                f"cannot write object {oid} into the cache {cache.root}: {exc.strerror}"
                f"{sharing.refused(exc)}",
                hint=hint + " (or set cache.dir / GITSTORE_CACHE_DIR) and fetch again",
            ) from exc
        done.add(oid)
        with lock:
            out.fetched.append(oid)
            result.transferred += 1
            result.bytes += size
        progress.advance(size)
        if landed is not None:
            landed(oid, data)

    def raise_fatal(oid: str, exc: GitstoreError) -> None:
        with lock:
            if out.fatal is None:
                out.fatal = remote_error(name, exc)
        stop.set()
        miss(oid)

    try:
        _run(oids, jobs or ctx.config.jobs, work)
    finally:
        done.flush()
    return out


def fetch(
    ctx: Context,
    revs: Sequence[str] | None = None,
    paths: Sequence[str] = (),
    *,
    remote: str | None = None,
    jobs: int | None = None,
    progress: Progress | None = None,
) -> TransferResult:
    """Download what ``revs`` need (default: the working tree), only under ``paths`` if given."""
    bare = ctx.repo.root is None
    if bare and paths:
        raise PathError(
            f"{paths[0]} is not a revision git knows, and a bare repository has no paths"
        )
    collector = _collect(ctx, revs, paths=paths, head=bool(revs) or bare, tolerant=not paths)
    _require_matched(ctx, collector, ", ".join(revs) if revs else "HEAD" if bare else None)
    result = fetch_objects(
        ctx, collector.result(), remote=remote, jobs=jobs, progress=progress, sizes=collector.sizes
    )
    result.invalid = collector.invalid
    return result


def _require_matched(ctx: Context, collector: _Collector, rev: str | None) -> None:
    """PathError naming the first path asked for that no manifest looked at has."""
    unknown = collector.unmatched(ctx.repo.root)
    if unknown:
        from .api import unknown_path

        if unknown[0] in collector.matched:  # inside a tracked folder
            where = f"at {rev}" if rev else "in the working tree"
            raise PathError(f"{unknown[0]} is not a file or folder of a tracked path {where}")
        raise unknown_path(ctx, unknown[0], rev)


def pull(
    ctx: Context,
    rev: str | None = None,
    paths: Sequence[str] = (),
    *,
    remote: str | None = None,
    jobs: int | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> tuple[TransferResult, CheckoutResult]:
    """Fetch, then check out every path whose objects are all present.

    Pulling the working tree's manifests (no ``rev``), files that do not exist
    yet are written as their objects land, while the fetch goes on (see
    :mod:`gitstore.pullahead`); the checkout afterwards does the rest.
    """
    from . import api

    if ctx.repo.root is not None:  # before a fetch that writes files as they land
        from .pending import refuse_if_brought

        refuse_if_brought(ctx.repo.state_dir, api.tracked_rels(ctx.workspace, paths, ctx.cwd))
    if rev is not None or ctx.repo.root is None:
        fetched = fetch(ctx, [rev] if rev else None, paths, remote=remote, jobs=jobs,
                        progress=progress)  # fmt: skip
        return fetched, api.checkout(ctx, rev, paths, force=force)
    from .pullahead import CheckoutAhead, unchanged_after

    ctx.workspace  # noqa: B018 (its checks, before anything is written)
    collector = _collect(ctx, None, paths=paths, head=False, tolerant=not paths)
    wanted = collector.result()
    ahead = CheckoutAhead(ctx, collector.worktree, collector.paths, set(wanted))
    ahead.start()
    try:
        fetched = fetch_objects(ctx, wanted, remote=remote, jobs=jobs, progress=progress,
                                sizes=collector.sizes, landed=ahead.landed)  # fmt: skip
    finally:
        early = ahead.finish()
    final = api.checkout(ctx, None, paths, force=force, marked=ahead.marked)
    final.unchanged = unchanged_after(early, final)
    early.merge(final)
    return fetched, early


# -- remote status / ls ----------------------------------------------------------
@dataclass
class RemoteStatus:
    remote: str
    url: str
    needed: int
    on_remote: int
    not_pushed: list[str]  # in the cache, not on the remote
    missing: dict[str, list[str]]  # neither on the remote nor in the cache
    # a folder remote its group shares: folders inside the group cannot write to
    unshared: list[str] = field(default_factory=list)
    root: str = ""  # that remote's folder

    def to_json(self) -> dict[str, Any]:
        return {
            "remote": self.remote,
            "url": self.url,
            "needed": self.needed,
            "on_remote": self.on_remote,
            "not_pushed": sorted(self.not_pushed),
            "missing": dict(sorted(self.missing.items())),
            "unshared_folders": self.unshared,
        }


def remote_status(ctx: Context, remote: str | None = None) -> RemoteStatus:
    """What the remote holds of what HEAD and the working tree need."""
    wanted = needed_objects(ctx)
    name, store = open_remote(ctx, remote)
    try:
        on_remote = store.exists(wanted) if wanted else set()
    except GitstoreError as exc:
        raise remote_error(name, exc) from exc
    index = RemoteIndex(ctx, name, store)
    index.add(on_remote)
    absent = [oid for oid in wanted if oid not in on_remote]
    index.forget(absent)  # so that `gitstore push` sends what the remote lost
    cached = ctx.cache.exists(absent)
    from .stores.local import LocalStore

    local = getattr(store, "inner", store)
    local = local if isinstance(local, LocalStore) else None
    bits = local.shared if local is not None else 0
    return RemoteStatus(
        remote=name,
        url=store.url,
        needed=len(wanted),
        on_remote=len(on_remote),
        not_pushed=[oid for oid in absent if oid in cached],
        missing={oid: wanted[oid] for oid in absent if oid not in cached},
        unshared=sharing.unshared_folders(local.root, bits) if local and bits else [],
        root=str(local.root) if local and bits else "",
    )


def remote_ls(ctx: Context, remote: str | None, jobs: int | None = None) -> list[tuple[str, int]]:
    """(oid, size) of every object on the remote; refreshes its index."""
    name, store = open_remote(ctx, remote)
    try:
        oids = sorted(store.list())
        with ThreadPoolExecutor(max_workers=jobs or ctx.config.jobs) as pool:
            sizes = list(pool.map(lambda oid: store.stat(oid).size, oids))
    except GitstoreError as exc:
        raise remote_error(name, exc) from exc
    RemoteIndex(ctx, name, store).add(oids, replace=True)
    return list(zip(oids, sizes, strict=True))
