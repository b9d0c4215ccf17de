"""Clones that lack git objects: partial clones (``--filter=blob:none``, ``--filter=tree:0``).

The eleventh QA pass. gitstore reads manifests at revisions with dulwich, which
cannot fetch a missing object the way git does lazily from a promisor remote:
history commands failed with "blob ... is not in the repository", a push to a
second git remote was refused, and ``gc`` (cache and remote) could not run at
all. Missing objects are now fetched from the promisor remote as git's own
lazy fetch does, in batches; when that fails nothing is guessed.

A bare origin served over ``file://`` (filters need it) with
``uploadpack.allowFilter``, an author who pushed three versions and a branch,
and a folder remote; each clone has its own cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import git, write
from tests.integration.test_hooks import Clone, objects_in


@pytest.fixture
def origin(tmp_path: Path) -> tuple[Path, Path, Clone]:
    """(bare origin, folder store, author): versions v1, v2, v3 on main, a branch ``old``."""
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    subprocess.run(["git", "-C", str(bare), "config", "uploadpack.allowFilter", "true"], check=True)
    store = tmp_path / "store"
    author = Clone(tmp_path / "author", tmp_path / "author-cache")
    subprocess.run(
        ["git", "clone", "-q", f"file://{bare}", str(author.path)], check=True, capture_output=True
    )
    author.gs("init")
    author.gs("remote", "add", "team", str(store), "--default")
    author.write("code.txt", "code\n")
    author.write("data/a.bin", b"alpha v1")
    author.write("data/b.bin", b"bravo v1")
    author.write("model.bin", b"model v1")
    author.gs("track", "data", "model.bin")
    author.git("add", "-A")
    author.git("commit", "-qm", "v1")
    author.git("tag", "v1")
    author.write("data/a.bin", b"alpha v2")
    author.write("model.bin", b"model v2")
    author.gs("track", "data", "model.bin")
    author.git("commit", "-qm", "v2")
    author.git("switch", "-qc", "old", "v1")
    author.write("data/b.bin", b"bravo on old")
    author.commit_data("old")
    author.git("switch", "-q", "main")
    author.write("data/a.bin", b"alpha v3")
    author.commit_data("v3")
    author.git("push", "-q", "origin", "main", "old", "v1")
    return bare, store, author


def _clone(tmp_path: Path, bare: Path, name: str, *options: str) -> Clone:
    clone = Clone(tmp_path / name, tmp_path / f"{name}-cache")
    subprocess.run(
        ["git", "clone", "-q", *options, f"file://{bare}", str(clone.path)],
        check=True,
        capture_output=True,
    )
    clone.gs("install")
    return clone


def _missing(clone: Clone) -> int:
    """How many objects the clone's history names that are not in its object store."""
    out = clone.git("rev-list", "--objects", "--all", "--missing=print").stdout
    return sum(1 for line in out.splitlines() if line.startswith("?"))


@pytest.mark.parametrize("spec", ["blob:none", "tree:0"])
def test_history_commands_read_a_partial_clone(origin, tmp_path: Path, spec: str) -> None:
    """ls, cat --rev, diff, log PATH and checkout REV fetch the manifests git left out."""
    bare, _store, author = origin
    clone = _clone(tmp_path, bare, "pc", f"--filter={spec}")
    assert _missing(clone) > 0
    assert clone.gs("ls", "v1").stdout == author.gs("ls", "v1").stdout
    clone.gs("fetch", "v1")
    assert clone.gs("cat", "data/a.bin", "--rev", "v1").stdout == "alpha v1"
    assert clone.gs("diff", "v1", "origin/old").stdout == author.gs("diff", "v1", "old").stdout
    assert clone.gs("log", "data/a.bin").stdout == author.gs("log", "data/a.bin").stdout
    assert clone.gs("log", "--all", "data").stdout == author.gs("log", "--all", "data").stdout
    assert clone.gs("log").stdout == author.gs("log").stdout
    clone.gs("checkout", "v1")
    assert clone.read("data/a.bin") == b"alpha v1"
    clone.gs("pull", "HEAD")
    assert clone.read("data/a.bin") == b"alpha v3"


def test_a_lazy_fetch_leaves_fetch_head_alone(origin, tmp_path: Path) -> None:
    """gc --remote dates the clone's last contact with its git remotes by FETCH_HEAD: the
    objects gitstore fetches must not make an old clone look freshly fetched."""
    bare, _store, _author = origin
    clone = _clone(tmp_path, bare, "pc", "--filter=blob:none")
    clone.gs("ls", "v1")
    assert not (clone.path / ".git" / "FETCH_HEAD").exists()


def test_a_push_to_another_git_remote_reads_the_old_manifests(origin, tmp_path: Path) -> None:
    """pre-push reads every pushed commit's manifests: a mirror has none of them."""
    bare, store, _author = origin
    clone = _clone(tmp_path, bare, "pc", "--filter=blob:none")
    mirror = tmp_path / "mirror.git"
    subprocess.run(["git", "init", "-q", "--bare", str(mirror)], check=True)
    clone.git("remote", "add", "mirror", f"file://{mirror}")
    clone.git("push", "-q", "mirror", "main", "v1")
    clone.gs("push", "v1")
    clone.gs("push", "--all")
    assert len(objects_in(store)) == 7


@pytest.mark.parametrize("spec", ["blob:none", "tree:0"])
def test_gc_in_a_partial_clone_keeps_what_its_history_names(
    origin, tmp_path: Path, spec: str
) -> None:
    """The cache holds every version (from an earlier clone, say); the clone has only HEAD's
    manifests: gc read the rest from the promisor remote, and keeps all of it."""
    bare, store, _author = origin
    clone = _clone(tmp_path, bare, "pc", f"--filter={spec}")
    clone.gs("pull")
    cache = clone.cache / "gitstore"
    shutil.copytree(store / "objects", cache / "objects", dirs_exist_ok=True)
    held = objects_in(cache)
    assert len(held) == 7
    _age(cache)
    assert _missing(clone) > 0
    clone.gs("gc", "--grace", "0")
    assert objects_in(cache) == held


def _age(store: Path) -> None:
    past = time.time() - 2 * 86400
    for path in (store / "objects").rglob("*"):
        if path.is_file():
            os.utime(path, (past, past))


@pytest.mark.parametrize("spec", ["blob:none", "tree:0"])
def test_gc_remote_from_a_partial_clone_deletes_only_what_nothing_names(
    origin, tmp_path: Path, spec: str
) -> None:
    """Every version's objects stay in the store; only one no commit names goes."""
    bare, store, author = origin
    named = objects_in(store)
    author.write("stray.bin", b"uploaded, never committed")
    author.gs("track", "stray.bin")
    author.gs("push")
    (stray,) = objects_in(store) - named
    _age(store)
    clone = _clone(tmp_path, bare, "pc", f"--filter={spec}")
    dry = clone.gs("gc", "--remote", "team", "--dry-run", "--grace", "0")
    assert stray[:12] in dry.stdout, dry.stdout
    clone.gs("gc", "--remote", "team", "--grace", "0", "--yes")
    assert objects_in(store) == named
    fresh = _clone(tmp_path, bare, "fresh")
    for rev in ("v1", "origin/old", "main~1", "main"):
        fresh.gs("pull", rev)


def test_gc_with_the_promisor_remote_away_deletes_nothing(origin, tmp_path: Path) -> None:
    """What the clone cannot read is never taken as naming nothing: one line, and no deletion."""
    bare, store, _author = origin
    clone = _clone(tmp_path, bare, "pc", "--filter=blob:none")
    clone.gs("pull")
    cache = clone.cache / "gitstore"
    shutil.copytree(store / "objects", cache / "objects", dirs_exist_ok=True)
    held = objects_in(cache)
    _age(cache)
    bare.rename(tmp_path / "away.git")
    refused = clone.gs("gc", "--grace", "0", ok=False)
    assert "is not in this partial clone" in refused.stderr, refused.stderr
    assert "nothing was deleted" in refused.stderr
    assert "run the command again when the git remote can be reached" in refused.stderr
    assert "remove its line" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 2  # the error and its hint
    assert objects_in(cache) == held
    listed = clone.gs("ls", "v1", ok=False)
    assert "could not fetch it from 'origin'" in listed.stderr


# -- sparse checkouts: tracked paths whose manifests are outside the patterns ------------
def _sparse_repo(repo: Path, run) -> None:
    """``data`` tracked and committed on main and changed on branch ``b``; then a sparse
    checkout (non-cone) that leaves ``data.gitstore`` out, with data's files on disk."""
    run(repo, "init")
    write(repo / "data" / "a.bin", b"a on main")
    write(repo / "code.txt", "code\n")
    run(repo, "track", "data")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "main")
    git(repo, "switch", "-qc", "b")
    write(repo / "data" / "a.bin", b"a on b")
    run(repo, "track", "data")
    git(repo, "commit", "-qm", "b")
    git(repo, "switch", "-q", "main")
    assert (repo / "data" / "a.bin").read_bytes() == b"a on main"
    git(repo, "sparse-checkout", "set", "--no-cone", "/*", "!/data.gitstore")
    assert not (repo / "data.gitstore").exists()


def test_a_branch_switch_leaves_data_outside_the_sparse_checkout_alone(repo: Path, run) -> None:
    _sparse_repo(repo, run)
    git(repo, "switch", "-q", "b")
    assert (repo / "data" / "a.bin").read_bytes() == b"a on main"  # neither deleted nor changed
    assert not (repo / "data.gitstore").exists()
    git(repo, "switch", "-q", "main")
    assert (repo / "data" / "a.bin").read_bytes() == b"a on main"
    write(repo / "code.txt", "more code\n")
    git(repo, "commit", "-qam", "code")
    assert git(repo, "show", "--name-only", "--format=", "HEAD").stdout.split() == ["code.txt"]


def test_track_of_a_path_outside_the_sparse_checkout_stages_its_manifest(repo: Path, run) -> None:
    """`git add` refused the manifest ("outside of your sparse-checkout definition"), and
    track stopped with the first line of git's message, the manifest written but not staged."""
    _sparse_repo(repo, run)
    write(repo / "data" / "a.bin", b"a edited outside the cone")
    run(repo, "track", "data")
    staged = git(repo, "diff", "--cached", "--name-only").stdout.split()
    assert staged == ["data.gitstore"]
    git(repo, "commit", "-qm", "data")
    assert run(repo, "cat", "data/a.bin", "--rev", "HEAD").stdout == "a edited outside the cone"


def test_a_branch_deleted_on_the_server_stops_gc_with_the_way_out(origin, tmp_path: Path) -> None:
    """The clone still has origin/old's commits, not their manifests, and the server no
    longer has them: gc cannot know what they name, so it deletes nothing and says how to
    let go of that branch (not "run again when the remote can be reached")."""
    bare, store, _author = origin
    clone = _clone(tmp_path, bare, "pc", "--filter=blob:none")
    clone.gs("pull")
    cache = clone.cache / "gitstore"
    shutil.copytree(store / "objects", cache / "objects", dirs_exist_ok=True)
    _age(cache)
    held = objects_in(cache)
    subprocess.run(["git", "-C", str(bare), "branch", "-qD", "old"], check=True)
    expire = ["-c", "gc.reflogExpire=now", "-c", "gc.reflogExpireUnreachable=now"]
    subprocess.run(["git", "-C", str(bare), *expire, "gc", "-q", "--prune=now"], check=True)
    refused = clone.gs("gc", "--grace", "0", ok=False)
    assert "nothing was deleted" in refused.stderr
    assert "`git fetch --prune`" in refused.stderr, refused.stderr
    assert objects_in(cache) == held
    clone.git("fetch", "-q", "--prune")
    clone.gs("gc", "--grace", "0")
    assert len(held - objects_in(cache)) == 1  # old's own version of data/b.bin


def test_gc_remote_in_a_partial_clone_asks_for_the_fetch_of_an_unknown_review_ref(
    origin, tmp_path: Path
) -> None:
    """`git cat-file --batch-check` of the git remote's tips fetched each commit the clone
    lacked, one lazy fetch apiece of its whole history's trees (a GitHub repository has a
    refs/pull/* per pull request): the documented refusal and hint instead."""
    bare, store, author = origin
    clone = _clone(tmp_path, bare, "pc", "--filter=blob:none")
    author.git("switch", "-qc", "review")
    author.write("data/c.bin", b"under review")
    author.commit_data("review")
    author.git("push", "-q", "origin", "HEAD:refs/pull/1/head")
    tip = author.git("rev-parse", "HEAD").stdout.strip()
    refused = clone.gs("gc", "--remote", "team", "--dry-run", "--grace", "0", ok=False)
    assert "has refs/pull/1/head at a commit this clone has not fetched" in refused.stderr
    listed = clone.git("cat-file", "--batch-all-objects", "--batch-check=%(objectname)").stdout
    assert tip not in listed.split()  # nothing was fetched behind the user's back
    clone.git("fetch", "-q", "origin", "+refs/*:refs/remotes-all/origin/*")  # as the hint says
    _age(store)
    clone.gs("gc", "--remote", "team", "--dry-run", "--grace", "0")
    clone.gs("gc", "--remote", "team", "--grace", "0", "--yes")
    fresh = _clone(tmp_path, bare, "fresh")
    fresh.git("fetch", "-q", "origin", "refs/pull/1/head")
    fresh.gs("pull", "FETCH_HEAD")  # as `git checkout FETCH_HEAD` (it was "not a revision")
    assert fresh.read("data/c.bin") == b"under review"


def _fetches(clone: Clone, *args: str) -> int:
    """How many `git fetch` processes a gitstore command started (git's own trace)."""
    trace = clone.path.parent / f"trace-{args[0]}"
    trace.unlink(missing_ok=True)
    clone.env["GIT_TRACE"] = str(trace)
    try:
        clone.gs(*args)
    finally:
        del clone.env["GIT_TRACE"]
    text = trace.read_text() if trace.exists() else ""
    return sum(1 for line in text.splitlines() if "built-in: git fetch" in line)


def test_the_manifests_of_a_revision_come_in_one_fetch(tmp_path: Path) -> None:
    """`ls REV` of 2,000 tracked paths was 2,000 lazy fetches (a round trip each): the
    manifests a command lists come in one, with the first one it reads."""
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    subprocess.run(["git", "-C", str(bare), "config", "uploadpack.allowFilter", "true"], check=True)
    author = Clone(tmp_path / "author", tmp_path / "author-cache")
    subprocess.run(["git", "clone", "-q", f"file://{bare}", str(author.path)], check=True)
    author.gs("init")
    author.gs("remote", "add", "team", str(tmp_path / "store"), "--default")
    paths = [f"d/p{i:02}" for i in range(12)]
    for version in (1, 2):
        for path in paths:
            author.write(f"{path}/f", f"{path} v{version}")
        author.gs("track", *paths)
        author.git("add", "-A")
        author.git("commit", "-qm", f"v{version}")
        author.git("tag", f"v{version}")
    author.git("push", "-q", "origin", "main", "v1", "v2")
    for spec in ("blob:none", "tree:0"):
        clone = _clone(tmp_path, bare, spec.replace(":", "-"), f"--filter={spec}")
        assert _fetches(clone, "ls", "v1") <= 2  # tree:0: the trees, then the manifests
        assert _fetches(clone, "diff", "v1", "v2") <= 2
        assert (
            clone.gs("diff", "v1", "v2", "--stat").stdout
            == author.gs("diff", "v1", "v2", "--stat").stdout
        )
        assert _fetches(clone, "pull", "v1") == 0  # all here now
        assert clone.read("d/p03/f") == b"d/p03 v1"


def test_log_of_recent_history_works_offline_in_a_partial_clone(origin, tmp_path: Path) -> None:
    """What a command needs is fetched; what it may need later is fetched ahead only when
    the git remote is there: `log -n 1` reads two local versions, offline too."""
    bare, _store, _author = origin
    clone = _clone(tmp_path, bare, "pc", "--filter=blob:none")
    clone.gs("pull")
    clone.write("data/a.bin", b"alpha offline")
    clone.commit_data("offline")
    bare.rename(tmp_path / "away.git")
    shown = clone.gs("log", "-n", "1", "data/a.bin").stdout
    assert "offline" in shown and len(shown.splitlines()) == 1
    refused = clone.gs("log", "data/a.bin", ok=False)  # older versions are on the server
    assert "could not fetch it from 'origin'" in refused.stderr
