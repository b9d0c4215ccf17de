"""Data-safety findings of the twelfth QA pass, all around garbage collection.

1. Per-worktree refs of a linked worktree (``refs/worktree/*``, ``refs/bisect/*``,
   kept in ``.git/worktrees/NAME/refs/``) and their reflogs protected nothing:
   ``gitstore gc`` and ``gc --remote`` run from the main worktree deleted what
   only such a ref held, though git itself keeps the commit.
2. ``gc --remote`` deleted the data of a branch pushed to another git remote
   (a fork) that maps to the same store: the push registered the repository
   under ``origin``'s id.
3. ``gc --remote`` running while a teammate's ``git push`` was in its pre-push
   hook deleted an object the hook had taken as present; the push then landed
   naming data no store had.

Real git, real files, a bare origin and a folder remote.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.integration.test_hooks import Clone, make_team, objects_in, oid_of, solo


def _age(store: Path, days: float = 3) -> None:
    past = time.time() - days * 86400
    for path in (store / "objects").rglob("*"):
        if path.is_file():
            os.utime(path, (past, past))


def _full_oid(clone: Clone, rel: str, rev: str = "HEAD") -> str:
    short = oid_of(clone, rel)
    data = clone.git("show", f"{rev}:{rel}.gitstore").stdout
    (found,) = [w.strip("{},") for w in data.split() if w.strip("{},").startswith(short)]
    return found


def _model_on_a_worktree_branch(repo: Clone, tmp_path: Path) -> tuple[Clone, str]:
    """A linked worktree ``wt`` (branch wtb) on branch experiment, with model.bin tracked
    and committed there: (the worktree, model.bin's oid)."""
    repo.git("worktree", "add", "-q", str(tmp_path / "wt"), "-b", "wtb")
    wt = Clone(tmp_path / "wt", repo.cache)
    wt.git("switch", "-qc", "experiment")
    wt.write("model.bin", os.urandom(1500).hex())
    wt.gs("track", "model.bin")
    wt.git("add", "-A")
    wt.git("commit", "-qm", "model v1")
    return wt, _full_oid(wt, "model.bin")


def _worktree_only_commit(
    repo: Clone, tmp_path: Path, ref: str, reflog_only: bool = False
) -> tuple[Clone, str]:
    """A linked worktree whose only hold on a commit with model.bin is the per-worktree
    ``ref`` (with ``reflog_only``: that ref's reflog, the ref having moved on)."""
    repo.write("README", "x\n")
    repo.git("add", "README")
    repo.git("commit", "-qm", "init")
    wt, oid = _model_on_a_worktree_branch(repo, tmp_path)
    wt.git("update-ref", "--create-reflog", ref, "HEAD")
    wt.git("switch", "-q", "wtb")
    wt.git("branch", "-qD", "experiment")
    if reflog_only:
        wt.git("update-ref", ref, "wtb")  # the ref moves on: its reflog names the commit
        wt.git("reflog", "expire", "--expire=now", "HEAD")
        assert wt.git("rev-parse", f"{ref}@{{1}}").stdout.strip()
    else:
        wt.git("reflog", "expire", "--expire=now", "--all")
        wt.git("gc", "-q", "--prune=now")
        assert wt.git("cat-file", "-t", ref).stdout.strip() == "commit"  # git keeps it
    return wt, oid


def test_cache_gc_keeps_what_a_linked_worktrees_own_ref_holds(tmp_path: Path) -> None:
    """Finding 1 (cache): refs/worktree/* of a linked worktree; gc run from the main worktree."""
    repo = solo(tmp_path / "p", tmp_path / "cache")
    wt, oid = _worktree_only_commit(repo, tmp_path, "refs/worktree/keep")
    repo.gs("gc", "--grace", "0")
    assert oid in objects_in(tmp_path / "cache" / "gitstore")
    assert wt.gs("cat", "--rev", "refs/worktree/keep", "model.bin").stdout


def test_cache_gc_keeps_a_bisect_ref_from_another_repository_sharing_the_cache(
    tmp_path: Path,
) -> None:
    """Finding 1 (cache): refs/bisect/* of a linked worktree, gc run from another repository."""
    repo = solo(tmp_path / "p", tmp_path / "cache")
    _wt, oid = _worktree_only_commit(repo, tmp_path, "refs/bisect/bad")
    other = solo(tmp_path / "q", tmp_path / "cache")
    other.gs("gc", "--grace", "0")
    assert oid in objects_in(tmp_path / "cache" / "gitstore")


def test_cache_gc_keeps_what_only_a_linked_worktrees_ref_reflog_names(tmp_path: Path) -> None:
    """Finding 1 (reflogs): a per-worktree ref moved on; only its reflog names the commit."""
    repo = solo(tmp_path / "p", tmp_path / "cache")
    _wt, oid = _worktree_only_commit(repo, tmp_path, "refs/worktree/keep", reflog_only=True)
    repo.gs("gc", "--grace", "0")
    assert oid in objects_in(tmp_path / "cache" / "gitstore")


def test_gc_remote_keeps_what_a_linked_worktrees_own_ref_holds(tmp_path: Path) -> None:
    """Finding 1 (remote): the same per-worktree ref, its data pushed then its branch deleted."""
    alice, _bob, _origin = make_team(tmp_path, str(tmp_path / "store"))
    store = tmp_path / "store"
    alice.gs("install")
    wt, oid = _model_on_a_worktree_branch(alice, tmp_path)
    wt.git("push", "-q", "origin", "experiment")  # pre-push uploads model.bin
    assert oid in objects_in(store)
    wt.git("update-ref", "refs/worktree/keep", "HEAD")
    wt.git("push", "-q", "origin", "--delete", "experiment")
    wt.git("switch", "-q", "wtb")
    wt.git("branch", "-qD", "experiment")
    wt.git("reflog", "expire", "--expire=now", "--all")
    alice.git("fetch", "-q", "--prune")
    _age(store)
    alice.gs("gc", "--remote", "team", "--dry-run", "--grace", "0")
    alice.gs("gc", "--remote", "team", "--grace", "0", "--yes")
    assert oid in objects_in(store)


def _clone(tmp_path: Path, origin: Path, name: str) -> Clone:
    clone = Clone(tmp_path / name, tmp_path / f"{name}-cache")
    subprocess.run(
        ["git", "clone", "-q", str(origin), str(clone.path)], check=True, capture_output=True
    )
    clone.gs("init")
    return clone


def test_gc_remote_refuses_a_store_a_fork_push_needs(tmp_path: Path) -> None:
    """Finding 2: alice pushes a branch to her fork (same store, from the committed config);
    the maintainer's gc --remote took it for its own repository and deleted the branch's data."""
    alice, _bob, origin = make_team(tmp_path, str(tmp_path / "store"))
    store = tmp_path / "store"
    alice.gs("install")
    fork = tmp_path / "alice-fork.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(origin), str(fork)], check=True)
    alice.git("remote", "add", "fork", str(fork))
    alice.git("switch", "-qc", "feat")
    alice.write("model.bin", os.urandom(2000).hex())
    alice.gs("track", "model.bin")
    alice.git("add", "-A")
    alice.git("commit", "-qm", "model")
    oid = _full_oid(alice, "model.bin")
    alice.git("push", "-q", "fork", "feat")
    assert oid in objects_in(store)
    _age(store)

    maintainer = _clone(tmp_path, origin, "c")
    refused = maintainer.gs("gc", "--remote", "team", "--dry-run", "--grace", "0", ok=False)
    assert "is also used by 1 other repository" in refused.stderr
    assert "Traceback" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 2
    assert oid in objects_in(store)

    # alice herself lists her fork as a git remote: its refs are heeded, the record is hers
    alice.gs("gc", "--remote", "team", "--dry-run", "--grace", "0")
    alice.gs("gc", "--remote", "team", "--grace", "0", "--yes")
    assert oid in objects_in(store)

    reviewer = _clone(tmp_path, origin, "r")
    reviewer.gs("install")
    reviewer.git("remote", "add", "alice", str(fork))
    reviewer.git("fetch", "-q", "alice")
    reviewer.git("switch", "-qc", "feat", "alice/feat")
    reviewer.gs("pull")
    assert reviewer.read("model.bin") == alice.read("model.bin")


def test_pushes_to_origin_still_record_one_repository(tmp_path: Path) -> None:
    """Finding 2, the ordinary case: clones that push to origin are one repository."""
    alice, bob, _origin = make_team(tmp_path, str(tmp_path / "store"))
    store = tmp_path / "store"
    bob.gs("install")
    bob.gs("pull")
    bob.git("switch", "-qc", "side")
    bob.write("data/c.bin", b"charlie")
    bob.commit_data("bob's data")
    bob.git("push", "-q", "origin", "side")
    assert len(list((store / "users").iterdir())) == 1
    alice.git("fetch", "-q")
    _age(store)
    alice.gs("gc", "--remote", "team", "--dry-run", "--grace", "0")
    alice.gs("gc", "--remote", "team", "--grace", "0", "--yes")


def _descendants(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    kids = [int(k) for k in out.split()]
    return kids + [d for k in kids for d in _descendants(k)]


def test_gc_remote_during_a_push_leaves_the_pushed_commit_its_data(tmp_path: Path) -> None:
    """Finding 3: b's pre-push took X as on the store (its remote-tracking ref of a branch
    deleted on origin); c's gc --remote, run while b's push was uploading, deleted X; the
    push landed naming X. Now the hook reads gc/collected again after its uploads and
    uploads (or renews) what the collection removed before git sends the refs."""
    alice, bob, origin = make_team(tmp_path, str(tmp_path / "store"))
    store = tmp_path / "store"
    alice.git("switch", "-qc", "exp")
    alice.write("x.bin", os.urandom(2500).hex())
    alice.gs("track", "x.bin")
    alice.git("add", "-A")
    alice.git("commit", "-qm", "x")
    alice.git("push", "-q", "origin", "exp")
    x = _full_oid(alice, "x.bin")
    bob.gs("install")
    bob.git("fetch", "-q")
    bob.git("switch", "-q", "exp")
    assert bob.read("x.bin") == alice.read("x.bin")
    alice.git("push", "-q", "origin", "--delete", "exp")
    _age(store)
    collector = _clone(tmp_path, origin, "c")

    bob.git("switch", "-qc", "revive")
    bob.write("y.bin", os.urandom(50_000_000))  # under the 64 MiB of resumable copies
    bob.gs("track", "y.bin")
    bob.git("add", "-A")
    bob.git("commit", "-qm", "revive")
    queue = bob.path / ".git" / "gitstore" / "queue" / "push-team"
    push = subprocess.Popen(
        ["git", "push", "-q", "origin", "revive"],
        cwd=bob.path,
        env=bob.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not queue.exists() and push.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        frozen = _descendants(push.pid)
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        assert queue.exists(), "the push was not caught uploading"
        # judged with an hour's grace: the push's own fresh temporary file is not swept
        collector.gs("gc", "--remote", "team", "--dry-run", "--grace", "1h")
        done = collector.gs("gc", "--remote", "team", "--grace", "1h", "--yes")
        assert "deleted 1 object" in done.stdout  # X went, as before
    finally:
        for pid in _descendants(push.pid) or frozen:
            os.kill(pid, signal.SIGCONT)
        _out, err = push.communicate(timeout=300)
    assert push.returncode == 0, err
    assert x in objects_in(store)
    fresh = _clone(tmp_path, origin, "d")
    fresh.gs("install")
    fresh.git("switch", "-q", "revive")
    fresh.gs("pull")
    assert fresh.read("x.bin") == alice.read("x.bin")
