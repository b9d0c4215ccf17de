"""Git hooks and the team workflow, through the real git binary and installed hooks.

A bare origin, two clones (alice and bob) with caches of their own, and a shared
folder remote; every git and gitstore command runs in a subprocess with the
clone's own ``XDG_CACHE_HOME``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests import servers
from tests.conftest import gitstore_bin_dir, write
from tests.servers import make_bucket

moto_endpoint, s3_env = servers.moto_endpoint, servers.s3_env

GITSTORE = [sys.executable, "-m", "gitstore"]


class Clone:
    def __init__(self, path: Path, cache: Path) -> None:
        self.path = path
        self.cache = cache
        self.env = dict(os.environ, XDG_CACHE_HOME=str(cache))
        # the interpreter's own bin first: hooks find its console script without a shim
        bins = [os.path.dirname(sys.executable), gitstore_bin_dir(), os.environ.get("PATH", "")]
        self.env["PATH"] = os.pathsep.join(bins)

    def _run(
        self, argv: list[str], ok: bool | None, input: str | None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            argv, cwd=self.path, env=self.env, capture_output=True, text=True, input=input
        )
        shown = " ".join(argv[2:] if argv[0] == sys.executable else argv)
        if ok is True and proc.returncode != 0:
            raise AssertionError(
                f"{shown} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        if ok is False and proc.returncode == 0:
            raise AssertionError(f"{shown} succeeded but should not:\n{proc.stdout}\n{proc.stderr}")
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    def git(
        self, *args: str, ok: bool | None = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self._run(["git", *args], ok, input)

    def gs(
        self, *args: str, ok: bool | None = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self._run([*GITSTORE, *args], ok, input)

    def commit_data(self, message: str) -> None:
        """A commit whose only change is tracked data: track first (else it takes two commits)."""
        self.gs("track", "data")
        self.git("commit", "-qam", message)

    def read(self, rel: str) -> bytes:
        return (self.path / rel).read_bytes()

    def write(self, rel: str, data: str | bytes) -> None:
        write(self.path / rel, data)


def solo(path: Path, cache: Path) -> Clone:
    """A new repository of one user (branch main), set up with ``gitstore init``."""
    repo = Clone(path, cache)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    repo.git("config", "user.name", "T")
    repo.git("config", "user.email", "t@example.com")
    repo.gs("init")
    return repo


def make_team(tmp_path: Path, *remote: str) -> tuple[Clone, Clone, Path]:
    """(alice, bob, origin): alice has tracked data/ and pushed it with plain git."""
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    alice = Clone(tmp_path / "alice", tmp_path / "alice-cache")
    subprocess.run(
        ["git", "clone", "-q", str(origin), str(alice.path)], check=True, capture_output=True
    )
    alice.gs("init")
    alice.gs("remote", "add", "team", *remote, "--default")
    alice.write("data/a.bin", b"alpha v1")
    alice.write("data/b.bin", b"bravo v1")
    alice.write("code.py", "print(1)\n")
    alice.gs("track", "data")
    alice.git("add", "code.py")
    alice.git("commit", "-qm", "data v1")
    alice.git("push", "-q", "origin", "main")
    bob = Clone(tmp_path / "bob", tmp_path / "bob-cache")
    subprocess.run(
        ["git", "clone", "-q", str(origin), str(bob.path)], check=True, capture_output=True
    )
    return alice, bob, origin


@pytest.fixture
def team(tmp_path: Path) -> tuple[Clone, Clone, Path, Path]:
    """(alice, bob, origin, store) with a shared folder remote ``store``."""
    store = tmp_path / "store"
    return (*make_team(tmp_path, str(store)), store)


def objects_in(store: Path) -> set[str]:
    return (
        {p.name for p in (store / "objects").rglob("*") if p.is_file()} if store.exists() else set()
    )


def oid_of(clone: Clone, rel: str) -> str:
    return clone.gs("ls").stdout.split(f" {rel}\n")[0].split("\n")[-1].split()[0]


def test_team_flow_commit_push_pull(team) -> None:
    alice, bob, origin, store = team
    assert len(objects_in(store)) == 2  # alice's pre-push uploaded her data
    bob.gs("install")
    bob.gs("pull")
    assert bob.read("data/a.bin") == b"alpha v1"
    bob.write("data/a.bin", b"alpha v2 by bob")
    bob.write("code.py", "print(2)\n")
    commit = bob.git("commit", "-qam", "bob edits data and code")
    assert "refreshed and staged data.gitstore" in commit.stderr
    assert bob.git("status", "--porcelain").stdout == ""
    assert "data.gitstore" in bob.git("show", "--stat", "HEAD").stdout
    bob.git("push", "-q", "origin", "main")
    assert len(objects_in(store)) == 3
    alice.git("pull", "-q", "--no-rebase", "origin", "main")
    assert alice.read("data/a.bin") == b"alpha v2 by bob"
    assert alice.read("code.py") == b"print(2)\n"


def test_team_flow_against_s3(tmp_path: Path, moto_endpoint: str, s3_env: dict[str, str]) -> None:
    make_bucket(moto_endpoint, "team")
    alice, bob, origin = make_team(tmp_path, "s3://team/data", "--endpoint-url", moto_endpoint)
    bob.gs("install")
    bob.gs("pull")
    assert bob.read("data/b.bin") == b"bravo v1"
    bob.write("data/b.bin", b"bravo by bob over s3")
    bob.write("code.py", "print('s3')\n")
    bob.git("commit", "-qam", "bob")
    bob.git("push", "-q", "origin", "main")
    alice.git("pull", "-q", "--no-rebase", "origin", "main")
    assert alice.read("data/b.bin") == b"bravo by bob over s3"
    # the same remote on a closed port: the push is refused, the ref stays
    before = alice.git("ls-remote", str(origin), "main").stdout
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    alice.gs("remote", "add", "down", "s3://team/data", "--endpoint-url", closed, "--local")
    alice.gs("config", "set", "remote.origin", "down", "--local")
    alice.write("data/a.bin", b"alpha while s3 is down")
    alice.commit_data("v3")
    env = dict(alice.env, GITSTORE_RETRY_DEADLINE="1")
    push = subprocess.run(
        ["git", "push", "origin", "main"], cwd=alice.path, env=env, capture_output=True, text=True
    )
    assert push.returncode != 0 and "down" in push.stderr, push.stderr
    assert alice.git("ls-remote", str(origin), "main").stdout == before
    alice.gs("config", "unset", "remote.origin", "--local")
    alice.git("push", "-q", "origin", "main")
    assert alice.git("ls-remote", str(origin), "main").stdout != before


def test_data_only_change_takes_two_commits(team) -> None:
    alice = team[0]
    alice.write("data/b.bin", b"bravo v2")
    first = alice.git("commit", "-m", "data only", ok=False)
    assert "refreshed and staged data.gitstore" in first.stderr
    assert "run `git commit` again" in first.stderr
    assert alice.git("diff", "--cached", "--name-only").stdout.split() == ["data.gitstore"]
    alice.git("commit", "-qm", "data only")
    assert "data.gitstore" in alice.git("show", "--stat", "HEAD").stdout
    assert alice.gs("status").stdout.split()[0] == "unchanged"


def test_push_asks_the_store_about_objects_its_commits_bring(team) -> None:
    """No pushed commit lacks its data, even when this clone's index of the remote is stale."""
    alice, bob, origin, store = team
    bob.gs("install")
    bob.gs("pull")
    alice.git("checkout", "-qb", "exp")
    alice.write("data/a.bin", b"experiment")
    alice.commit_data("experiment")
    alice.git("push", "-q", "origin", "exp")
    bob.git("fetch", "-q")
    bob.git("checkout", "-q", "exp")  # bob's index of the remote now lists the object
    bob.git("checkout", "-q", "main")
    lost = [
        p for p in (store / "objects").rglob("*") if p.is_file() and p.read_bytes() == b"experiment"
    ]
    assert len(lost) == 1
    experiment = lost[0].name
    lost[0].chmod(0o644)
    lost[0].unlink()  # as another clone's `gc --remote` would, once exp was deleted
    bob.write("data/a.bin", b"experiment")
    bob.commit_data("adopt the experiment")
    bob.git("push", "-q", "origin", "main")
    assert experiment in objects_in(store), "the push left its commit's data off the remote"
    status = bob.gs("remote", "status")
    assert "not pushed" not in status.stdout, status.stdout


def test_remote_status_corrects_the_index_so_push_resends(team) -> None:
    alice, _bob, _origin, store = team
    (victim,) = [
        p for p in (store / "objects").rglob("*") if p.is_file() and p.read_bytes() == b"alpha v1"
    ]
    victim.chmod(0o644)
    victim.unlink()  # lost by the remote behind this clone's back
    status = alice.gs("remote", "status")
    assert "1 object not pushed yet" in status.stdout, status.stdout
    alice.gs("push")
    assert victim.name in objects_in(store)


def test_commit_naming_objects_missing_from_the_cache_is_blocked(team) -> None:
    alice = team[0]
    alice.write("data/c.bin", b"charlie")
    alice.gs("track", "data")
    for obj in (alice.cache / "gitstore" / "objects").rglob("*"):
        if obj.is_file() and obj.read_bytes() == b"charlie":
            obj.chmod(0o644)
            obj.unlink()
    proc = alice.git("commit", "-qm", "c", ok=False)
    assert "not in the cache: data/c.bin" in proc.stderr


def _delete_cached(clone: Clone, content: bytes) -> None:
    for obj in (clone.cache / "gitstore" / "objects").rglob("*"):
        if obj.is_file() and obj.read_bytes() == content:
            obj.chmod(0o644)
            obj.unlink()


def test_commit_check_covers_every_track_since_head(team) -> None:
    # two tracks between commits: the objects of the first are checked too
    alice = team[0]
    alice.write("data/c.bin", b"charlie")
    alice.gs("track", "data")
    alice.write("data/d.bin", b"delta")
    alice.gs("track", "data")
    _delete_cached(alice, b"charlie")
    proc = alice.git("commit", "-qm", "c and d", ok=False)
    assert "not in the cache: data/c.bin" in proc.stderr
    # a commit between two tracks: what the second brings is checked against the new HEAD
    alice.gs("track", "data")  # ingests charlie again
    alice.git("commit", "-qm", "c and d")
    alice.write("data/e.bin", b"echo")
    alice.gs("track", "data")
    _delete_cached(alice, b"echo")
    proc = alice.git("commit", "-qm", "e", ok=False)
    assert "not in the cache: data/e.bin" in proc.stderr


def test_commit_check_after_checkout_of_an_older_revision_looks_up_everything(team) -> None:
    # the manifest track started from is not HEAD's: entries it kept can still be new to HEAD
    alice = team[0]
    alice.write("data/a.bin", b"alpha v2")
    alice.commit_data("alpha v2")
    alice.gs("checkout", "HEAD~1")
    assert alice.read("data/a.bin") == b"alpha v1"
    alice.write("data/c.bin", b"charlie")
    alice.gs("track", "data")
    _delete_cached(alice, b"alpha v1")  # unchanged by track, yet HEAD names alpha v2
    proc = alice.git("commit", "-qm", "back to v1 plus c", ok=False)
    assert "not in the cache: data/a.bin" in proc.stderr


def test_a_killed_post_checkout_is_never_committed_as_a_new_version(team) -> None:
    # kill -9 in the middle of the hook's checkout: the next commit must not
    # record the mixture of old and new files (QA finding, data loss)
    alice = team[0]
    for name in "abcdef":
        alice.write(f"data/{name}.bin", f"{name} on main".encode())
    alice.commit_data("main data")
    alice.git("checkout", "-qb", "feat")
    for name in "abcdef":
        alice.write(f"data/{name}.bin", f"{name} on feat".encode())
    alice.commit_data("feat data")
    main_manifest = alice.git("show", "main:data.gitstore").stdout
    alice.env["GITSTORE_FAULT"] = "kill:3"
    alice.git("checkout", "-q", "main", ok=None)  # git reports the killed hook
    del alice.env["GITSTORE_FAULT"]
    assert alice.read("data/c.bin") == b"c on feat"  # part-way indeed
    status = alice.gs("status")
    assert "modified" in status.stdout
    assert "data was left part-way (a checkout did not finish)" in status.stderr
    alice.write("notes.txt", "hi\n")
    alice.git("add", "notes.txt")
    proc = alice.git("commit", "-qm", "notes", ok=False)
    assert "data was left unmaterialised" in proc.stderr
    assert "a checkout did not finish" in proc.stderr
    alice.gs("checkout", "data")  # finishes it
    assert alice.read("data/c.bin") == b"c on main"
    alice.git("commit", "-qm", "notes")
    assert alice.git("show", "HEAD:data.gitstore").stdout == main_manifest
    assert "left part-way" not in alice.gs("status").stderr


def test_a_pull_killed_during_its_download_is_never_committed(team) -> None:
    """QA pass 7: pull writes files while it downloads, before its checkout marked the path;
    killed there, the next commit recorded the files not yet written as removed."""
    alice, bob = team[0], team[1]
    for i in range(8):
        alice.write(f"data/f{i}.bin", f"file {i}".encode())
    alice.commit_data("more data")
    alice.git("push", "-q", "origin", "main")
    bob.git("pull", "-q")
    bob.gs("install")
    env = dict(bob.env, GITSTORE_FAULT="kill:4")
    proc = subprocess.run(
        [*GITSTORE, "pull", "-j", "1"], cwd=bob.path, env=env, capture_output=True
    )
    assert proc.returncode == -9
    assert 0 < len(list((bob.path / "data").iterdir())) < 10  # part-way indeed
    bob.write("notes.txt", "hi\n")
    bob.git("add", "notes.txt")
    refused = bob.git("commit", "-qm", "notes", ok=False)
    assert "a checkout did not finish" in refused.stderr
    # a checkout of one file (QA pass 7, re-verified) says nothing of the rest of the path
    present = sorted(p.name for p in (bob.path / "data").iterdir())[0]
    bob.gs("checkout", f"data/{present}")
    refused = bob.git("commit", "-qm", "notes", ok=False)
    assert "a checkout did not finish" in refused.stderr
    bob.gs("pull")
    assert not (bob.path / ".git" / "gitstore" / "unmaterialised.json").exists()
    bob.git("commit", "-qm", "notes")
    assert (
        bob.git("show", "HEAD:data.gitstore").stdout
        == alice.git("show", "HEAD:data.gitstore").stdout
    )
    # and a checkout of one file of a complete path leaves no mark (QA pass 7, second look)
    bob.write("data/f1.bin", b"an edit to throw away")
    bob.gs("checkout", "--force", "data/f1.bin")
    assert not (bob.path / ".git" / "gitstore" / "unmaterialised.json").exists()


def test_a_pull_of_one_file_that_writes_it_early_leaves_no_mark(team) -> None:
    """QA pass 7: pull's early write marked the folder, and its checkout of one file, seeing
    a mark it had not set, kept it: later commits in the folder were refused."""
    bob = team[1]
    bob.gs("install")
    bob.gs("pull")
    oid = next(
        f["oid"] for f in json.loads(bob.gs("ls", "--json").stdout) if f["path"] == "data/a.bin"
    )
    (bob.path / "data" / "a.bin").unlink()
    obj = next(bob.cache.rglob(f"objects/*/*/{oid}"))
    obj.chmod(0o644)
    obj.unlink()  # so that the pull fetches it, and writes the file as it lands
    bob.gs("pull", "data/a.bin")
    assert bob.read("data/a.bin") == b"alpha v1"
    assert not (bob.path / ".git" / "gitstore" / "unmaterialised.json").exists()


def test_a_killed_checkout_of_a_revision_is_never_committed(team) -> None:
    alice = team[0]
    for name in "abcdef":
        alice.write(f"data/{name}.bin", f"{name} v2".encode())
    alice.commit_data("data v2")
    v2 = alice.git("show", "HEAD:data.gitstore").stdout
    env = dict(alice.env, GITSTORE_FAULT="kill:2")
    proc = subprocess.run(
        [*GITSTORE, "checkout", "HEAD~1"], cwd=alice.path, env=env, capture_output=True
    )
    assert proc.returncode == -9
    alice.git("checkout", "--", "data.gitstore")  # back to HEAD's manifest by hand
    proc = alice.git("commit", "-qam", "x", "--allow-empty", ok=False)
    assert "a checkout did not finish" in proc.stderr
    alice.gs("checkout")
    alice.git("commit", "-qam", "x", "--allow-empty")
    assert alice.git("show", "HEAD:data.gitstore").stdout == v2


def test_refresh_off_blocks_with_paths(team) -> None:
    alice = team[0]
    alice.gs("config", "set", "hooks.refresh", "false", "--local")
    alice.write("data/b.bin", b"bravo v2")
    alice.write("code.py", "print(3)\n")
    proc = alice.git("commit", "-qam", "x", ok=False)
    assert "data" in proc.stderr and "gitstore track data" in proc.stderr
    alice.gs("track", "data")
    alice.git("commit", "-qam", "x")


def test_user_pre_push_hook_reading_stdin_still_uploads(team) -> None:
    alice, bob, origin, store = team
    bob.gs("install")
    bob.gs("pull")
    hooks = bob.path / ".git" / "hooks"
    # a user's hook written before install would be chained; write it and reinstall
    bob.gs("uninstall")
    user_hook = "#!/bin/sh\ncat >/dev/null\necho user-pre-push-ran >&2\n"
    write(hooks / "pre-push", user_hook, 0o750)
    bob.gs("install")
    assert (hooks / "pre-push.gitstore-chained").read_text() == user_hook
    bob.write("data/c.bin", b"charlie")
    bob.gs("track", "data")
    bob.git("commit", "-qm", "c")
    push = bob.git("push", "origin", "main")
    assert "user-pre-push-ran" in push.stderr
    assert len(objects_in(store)) == 3
    # the upload says what it did, as git-lfs's does
    assert "gitstore: uploaded 1 object (7 B) to gitstore remote " in push.stderr


def test_failing_user_hook_stops_the_chain(team) -> None:
    alice = team[0]
    hooks = alice.path / ".git" / "hooks"
    alice.gs("uninstall")
    write(hooks / "pre-commit", "#!/bin/sh\necho nope >&2\nexit 7\n", 0o755)
    alice.gs("install")
    alice.write("data/b.bin", b"bravo v2")
    proc = alice.git("commit", "-qam", "x", ok=False)
    assert "nope" in proc.stderr and "gitstore" not in proc.stderr
    assert alice.git("diff", "--cached", "--name-only").stdout == ""  # gitstore's part did not run


def test_branch_switch_materialises_and_removes(team) -> None:
    alice = team[0]
    alice.git("checkout", "-qb", "feature")
    alice.write("data/a.bin", b"alpha on feature")
    alice.write("model.pt", b"weights")
    alice.gs("track", "data", "model.pt")
    alice.git("commit", "-qm", "feature data")
    alice.git("checkout", "-q", "main")
    assert alice.read("data/a.bin") == b"alpha v1"
    assert not (alice.path / "model.pt").exists()  # untracked here, and safe in the cache
    alice.git("checkout", "-q", "feature")
    assert alice.read("data/a.bin") == b"alpha on feature"
    assert alice.read("model.pt") == b"weights"


def test_clean_merge_of_one_tracked_folder(team) -> None:
    alice = team[0]
    alice.git("checkout", "-qb", "left")
    alice.write("data/a.bin", b"alpha left")
    alice.commit_data("left")
    alice.git("checkout", "-q", "main")
    alice.write("data/b.bin", b"bravo main")
    alice.write("data/new.bin", b"new on main")
    alice.commit_data("main")
    alice.git("merge", "-q", "--no-edit", "left")
    assert alice.read("data/a.bin") == b"alpha left"
    assert alice.read("data/b.bin") == b"bravo main"
    assert alice.read("data/new.bin") == b"new on main"
    assert alice.gs("status").stdout.split()[0] == "unchanged"
    manifest = alice.read("data.gitstore").decode()
    assert "files: 3" in manifest and "<<<<<<<" not in manifest


def test_conflicting_merge_then_resolve(team) -> None:
    alice = team[0]
    alice.git("checkout", "-qb", "left")
    alice.write("data/a.bin", b"alpha left")
    alice.write("data/left.bin", b"only left")
    alice.commit_data("left")
    alice.git("checkout", "-q", "main")
    alice.write("data/a.bin", b"alpha main")
    alice.commit_data("main")
    merge = alice.git("merge", "--no-edit", "left", ok=False)
    assert "CONFLICT" in merge.stdout
    assert "gitstore resolve data.gitstore --ours|--theirs|--union" in merge.stderr
    text = alice.read("data.gitstore").decode()
    assert text.count("<<<<<<< ours") == 1 and "a.bin" in text.split(">>>>>>> theirs")[0]
    assert "left.bin" in text.split(">>>>>>> theirs")[1]  # merged cleanly, outside the markers
    status = alice.gs("status")
    assert status.stdout.split()[0] == "conflicted"
    assert "gitstore resolve data --ours|--theirs|--union" in status.stderr
    for args in (("checkout",), ("ls",), ("cat", "data/b.bin"), ("push",)):
        named = alice.gs(*args, ok=False).stderr  # the conflict, not a YAML error
        assert "data.gitstore has merge conflict markers" in named, (args, named)
        assert "gitstore resolve data --ours|--theirs|--union" in named, (args, named)
    alice.git("add", "data.gitstore")  # markers and all: the hook refuses to commit it
    blocked = alice.git("commit", "-qm", "too early", ok=False)
    assert "data.gitstore still has merge conflict markers" in blocked.stderr
    union = alice.gs("resolve", "data", "--union", ok=False)
    assert "data.gitstore" in union.stderr and "a.bin" in union.stderr
    both = alice.gs("resolve", "data", "--theirs", "--ours", ok=False)  # QA pass 7: last one won
    assert both.returncode == 2 and "--ours and --theirs cannot be combined" in both.stderr
    nosuch = alice.gs("resolve", "nosuch", "--ours", ok=False).stderr
    assert "nosuch is not a tracked path" in nosuch
    alice.gs("resolve", "data", "--theirs")
    assert alice.read("data/a.bin") == b"alpha left"
    assert alice.read("data/left.bin") == b"only left"
    alice.git("commit", "-qm", "merged")
    assert alice.gs("status").stdout.split()[0] == "unchanged"


def test_rebase_does_not_thrash_the_workspace(team) -> None:
    alice = team[0]
    alice.git("checkout", "-qb", "topic")
    alice.write("data/a.bin", b"alpha topic")
    alice.commit_data("topic data")
    alice.write("code.py", "print('topic')\n")
    alice.git("commit", "-qam", "topic code")
    alice.git("checkout", "-q", "main")
    alice.write("data/b.bin", b"bravo main 2")
    alice.commit_data("main data")
    alice.git("checkout", "-q", "topic")
    untouched = (alice.path / "data" / "a.bin").stat().st_ino
    alice.git("rebase", "-q", "main")
    assert alice.read("data/a.bin") == b"alpha topic"
    assert alice.read("data/b.bin") == b"bravo main 2"
    assert (alice.path / "data" / "a.bin").stat().st_ino == untouched
    assert alice.gs("status").stdout.split()[0] == "unchanged"


def test_unreachable_remote_refuses_push_until_it_is_back(team) -> None:
    alice, bob, origin, store = team
    before = alice.git("ls-remote", str(origin), "main").stdout
    moved = store.with_name("store-away")
    store.rename(moved)
    store.write_bytes(b"a file where the remote folder should be")
    alice.write("data/a.bin", b"alpha v3")
    alice.commit_data("v3")
    push = alice.git("push", "origin", "main", ok=False)
    assert "team" in push.stderr and "refused" in push.stderr
    assert alice.git("ls-remote", str(origin), "main").stdout == before
    store.unlink()
    moved.rename(store)
    alice.git("push", "-q", "origin", "main")
    assert alice.git("ls-remote", str(origin), "main").stdout != before
    assert len(objects_in(store)) == 3


def test_pull_with_remote_down_reports_and_commit_is_guarded(team) -> None:
    alice, bob, origin, store = team
    bob.gs("install")
    bob.gs("pull")
    alice.write("data/a.bin", b"alpha v3")
    alice.commit_data("v3")
    alice.git("push", "-q", "origin", "main")
    moved = store.with_name("store-away")
    store.rename(moved)
    pull = bob.git("pull", "--no-rebase", "origin", "main")
    assert "left data unmaterialised" in pull.stderr
    bob.write("code.py", "print('bob')\n")
    commit = bob.git("commit", "-qam", "code", ok=False)
    assert "unmaterialised" in commit.stderr
    moved.rename(store)
    bob.gs("pull")
    bob.git("commit", "-qam", "code")
    assert bob.read("data/a.bin") == b"alpha v3"
    # the pull that finished the path cleared the hook's mark, whatever its reason (QA pass 7):
    # a later edit in the folder is committed, not refused
    assert not (bob.path / ".git" / "gitstore" / "unmaterialised.json").exists()
    bob.write("data/a.bin", b"alpha, bob's edit")
    bob.commit_data("bob's edit")


def test_a_broken_remote_is_reported_once_not_as_each_paths_reason(team) -> None:
    alice, bob, origin, store = team
    bob.gs("install")
    bob.gs("pull")
    alice.write("data/a.bin", b"alpha v4")
    alice.write("one.bin", b"one")
    alice.gs("track", "data", "one.bin")
    alice.git("commit", "-qm", "v4")
    alice.git("push", "-q", "origin", "main")
    moved = store.with_name("store-away")
    store.rename(moved)
    store.write_bytes(b"not a folder")  # every read fails with the same remote-level error
    pull = bob.git("pull", "--no-rebase", "origin", "main")
    lines = pull.stderr.splitlines()
    assert sum(line.startswith("gitstore: could not fetch: ") for line in lines) == 1, pull.stderr
    left = [line for line in lines if "unmaterialised" in line]
    assert len(left) == 2 and all("the fetch failed, see above" in line for line in left), left
    states = {
        line.split()[1]: line.split()[0]
        for line in bob.gs("status").stdout.splitlines()
        if not line.startswith(" ")
    }
    assert states == {"data": "modified", "one.bin": "missing_objects"}, states


def test_a_missing_remote_folder_is_a_remote_down_not_an_empty_one(team) -> None:
    alice, bob, origin, store = team
    store.rename(store.with_name("store-unmounted"))
    pull = bob.gs("pull", ok=False)
    assert (
        "remote folder" in pull.stderr and "does not exist (not mounted, or moved?)" in pull.stderr
    )
    assert "in no remote" not in pull.stderr
    alice.write("data/a.bin", b"alpha v5")
    alice.commit_data("v5")
    push = alice.git("push", "origin", "main", ok=False)
    assert "does not exist" in push.stderr and "refused" in push.stderr
    assert not store.exists(), "the push made a new folder where the share should be"


def test_deleting_a_branch_uploads_nothing(team) -> None:
    alice, bob, origin, store = team
    alice.git("push", "-q", "origin", "main:extra")
    shutil.rmtree(store)
    alice.git("push", "-q", "origin", ":extra")
    assert not store.exists()


def test_no_gitstore_remote_refuses_push_with_hint(tmp_path: Path) -> None:
    origin = tmp_path / "o.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    clone = Clone(tmp_path / "c", tmp_path / "cache")
    subprocess.run(
        ["git", "clone", "-q", str(origin), str(clone.path)], check=True, capture_output=True
    )
    clone.gs("init")
    clone.write("big.bin", b"big")
    clone.gs("track", "big.bin")
    clone.git("commit", "-qm", "x")
    push = clone.git("push", "origin", "main", ok=False)
    assert "gitstore remote add NAME URL --default" in push.stderr


def test_pre_commit_framework_env_refs(team) -> None:
    alice, bob, origin, store = team
    old = alice.git("rev-parse", "HEAD").stdout.strip()
    alice.write("data/a.bin", b"alpha via framework")
    alice.git("commit", "-qam", "fw", "--no-verify") if False else None
    alice.gs("track", "data")
    alice.git("commit", "-qm", "fw", "--no-verify")
    new = alice.git("rev-parse", "HEAD").stdout.strip()
    env = dict(
        alice.env, PRE_COMMIT_FROM_REF=old, PRE_COMMIT_TO_REF=new, PRE_COMMIT_REMOTE_NAME="origin"
    )
    env["PRE_COMMIT_REMOTE_URL"] = str(origin)
    proc = subprocess.run(
        [*GITSTORE, "hook", "pre-push"], cwd=alice.path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert len(objects_in(store)) == 3


def test_pre_commit_framework_for_real(team) -> None:
    pytest.importorskip("pre_commit")
    alice, bob, origin, store = team
    alice.gs("uninstall")
    config = "repos:\n- repo: local\n  hooks:\n"
    for name, stage in (("pre-commit", "pre-commit"), ("pre-push", "pre-push")):
        config += (
            f"  - id: gitstore-{name}\n    name: gitstore {name}\n    entry: gitstore hook {name}\n"
            f"    language: system\n    pass_filenames: false\n    always_run: true\n    stages: [{stage}]\n"
        )
    alice.write(".pre-commit-config.yaml", config)
    alice.git("add", ".pre-commit-config.yaml")
    alice.git("commit", "-qm", "pre-commit config", "--no-verify")
    env_py = [sys.executable, "-m", "pre_commit"]
    alice._run(
        [*env_py, "install", "--hook-type", "pre-commit", "--hook-type", "pre-push"], True, None
    )
    framework_hook = (alice.path / ".git" / "hooks" / "pre-commit").read_bytes()
    said = alice.gs("install")  # would chain pre-commit's script and run every hook twice
    assert "the pre-commit framework runs gitstore's hooks here" in said.stdout
    assert (alice.path / ".git" / "hooks" / "pre-commit").read_bytes() == framework_hook
    assert alice.git("config", "merge.gitstore.driver").stdout.strip()  # the drivers are there
    alice.write("data/b.bin", b"bravo via pre-commit")
    alice.write("code.py", "print('fw')\n")
    alice.git("commit", "-qam", "through the framework")
    assert "data.gitstore" in alice.git("show", "--stat", "HEAD").stdout
    alice.git("push", "-q", "origin", "main")
    assert len(objects_in(store)) == 3


def test_existing_hook_restored_byte_for_byte(repo: Path, tmp_path: Path) -> None:
    clone = Clone(repo, tmp_path / "cache")
    hooks = repo / ".git" / "hooks"
    original = b"#!/bin/sh\n# my own hook\necho mine\n"
    write(hooks / "post-merge", original, 0o741)
    clone.gs("install")
    clone.gs("install")  # idempotent
    assert (hooks / "post-merge.gitstore-chained").read_bytes() == original
    assert b"gitstore-hook" in (hooks / "post-merge").read_bytes()
    clone.gs("uninstall")
    assert (hooks / "post-merge").read_bytes() == original
    assert stat.S_IMODE((hooks / "post-merge").stat().st_mode) == 0o741
    assert not (hooks / "pre-commit").exists()
    assert not (hooks / "post-merge.gitstore-chained").exists()


def test_force_replaces_an_older_gitstore_hook(repo: Path, tmp_path: Path) -> None:
    clone = Clone(repo, tmp_path / "cache")
    hooks = repo / ".git" / "hooks"
    write(hooks / "pre-push", "#!/bin/sh\n# gitstore-hook: pre-push (format 0)\nexit 0\n", 0o755)
    proc = clone.gs("install")
    assert "older gitstore" in proc.stderr
    assert b"(format 0)" in (hooks / "pre-push").read_bytes()
    clone.gs("install", "--force")
    assert b"(format 1)" in (hooks / "pre-push").read_bytes()
    assert not (hooks / "pre-push.gitstore-chained").exists()


def test_core_hooks_path_is_honoured(repo: Path, tmp_path: Path) -> None:
    clone = Clone(repo, tmp_path / "cache")
    clone.git("config", "core.hooksPath", ".githooks")
    clone.gs("install")
    assert (repo / ".githooks" / "pre-commit").exists()
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()
    write(repo / "data.bin", b"v1")
    clone.gs("track", "data.bin")
    clone.git("commit", "-qm", "track")
    write(repo / "data.bin", b"v2")
    proc = clone.git("commit", "-qm", "again", ok=False)
    assert "refreshed and staged data.bin.gitstore" in proc.stderr


def test_hook_script_fallback_and_missing_gitstore(repo: Path, tmp_path: Path) -> None:
    clone = Clone(repo, tmp_path / "cache")
    clone.gs("install")
    hook = repo / ".git" / "hooks" / "pre-commit"
    text = hook.read_text()
    assert sys.executable in text
    env = dict(clone.env, PATH="/usr/bin:/bin")
    ok = subprocess.run([str(hook)], cwd=repo, env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    hook.write_text(text.replace(sys.executable, str(tmp_path / "gone" / "python")))
    bad = subprocess.run([str(hook)], cwd=repo, env=env, capture_output=True, text=True)
    assert bad.returncode != 0
    assert len(bad.stderr.strip().splitlines()) == 1 and "gitstore" in bad.stderr


def test_global_install_sets_up_new_clones(team, tmp_path: Path) -> None:
    alice, bob, origin, store = team
    alice.gs("install", "--global")
    carol = Clone(tmp_path / "carol", tmp_path / "carol-cache")
    proc = subprocess.run(
        ["git", "clone", "-q", str(origin), str(carol.path)],
        env=carol.env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert b"gitstore-hook" in (carol.path / ".git" / "hooks" / "pre-push").read_bytes()
    assert carol.read("data/a.bin") == b"alpha v1"  # post-checkout of the clone fetched it
    # the merge driver is set up globally too: neighbouring entries changed on
    # two branches merge entry by entry, not as conflicting lines of text
    carol.git("checkout", "-qb", "x")
    carol.write("data/a.bin", b"alpha x")
    carol.commit_data("x")
    carol.git("checkout", "-q", "main")
    carol.write("data/b.bin", b"bravo main")
    carol.commit_data("main")
    carol.git("merge", "--no-edit", "-q", "x")
    assert carol.read("data/a.bin") == b"alpha x" and carol.read("data/b.bin") == b"bravo main"


def test_resolve_after_gits_text_merge_keeps_both_sides_clean_changes(team) -> None:
    _alice, bob, _origin, _store = team
    bob.gs("pull")  # bob has neither hooks nor the merge driver: git merges manifests as text
    bob.git("checkout", "-qb", "x")
    bob.write("data/a.bin", b"alpha x")
    bob.commit_data("x")
    bob.git("checkout", "-q", "main")
    bob.gs("checkout")  # no hooks here to do it
    bob.write("data/b.bin", b"bravo main")
    bob.commit_data("main")
    merge = bob.git("merge", "--no-edit", "x", ok=False)
    assert "CONFLICT" in merge.stdout
    # how git's text merge may present it (as it did in a QA run): both
    # neighbouring entries in one block, so that either side of the block
    # loses the other side's clean change
    ours, theirs = (bob.git("show", f":{n}:data.gitstore").stdout for n in (2, 3))
    head, ours_entries = ours.split("entries:\n")
    theirs_entries = theirs.split("entries:\n")[1]
    block = f"<<<<<<< HEAD\n{ours_entries}=======\n{theirs_entries}>>>>>>> x\n"
    (bob.path / "data.gitstore").write_text(f"{head}entries:\n{block}")
    bob.gs("resolve", "data", "--ours")  # nothing conflicts entry by entry
    bob.git("commit", "-qm", "merged")
    assert bob.read("data/a.bin") == b"alpha x" and bob.read("data/b.bin") == b"bravo main"
    assert bob.gs("status").stdout.split()[0] == "unchanged"


def test_missing_hooks_note_is_said_once(team) -> None:
    from gitstore.gitrepo import GitRepo
    from gitstore.hooks import note_missing_hooks

    bob = team[1]
    shown = bob.gs("status").stderr  # said here once the CLI calls note_missing_hooks
    repo = GitRepo.discover(bob.path)
    note = note_missing_hooks(repo)
    assert ("gitstore install" in shown) != (note is not None and "gitstore install" in note)
    assert note_missing_hooks(repo) is None
    assert "gitstore install" not in bob.gs("status").stderr
    assert note_missing_hooks(GitRepo.discover(team[0].path)) is None  # alice has hooks


def test_diff_shows_files_and_sizes(team) -> None:
    alice = team[0]
    alice.write("data/a.bin", b"alpha, now longer")
    alice.gs("track", "data")
    diff = alice.git("diff", "--cached", "data.gitstore").stdout
    assert "-a.bin  8 B" in diff and "+a.bin  17 B" in diff
    assert "blake3" not in diff


def test_chained_shell_hook_sees_its_own_name(repo: Path, tmp_path: Path) -> None:
    """husky-style hooks find their scripts through `basename "$0"`."""
    clone = Clone(repo, tmp_path / "cache")
    hooks = repo / ".git" / "hooks"
    write(hooks / "pre-commit", '#!/bin/sh\necho "name=$(basename "$0") args=$#" >&2\n', 0o755)
    clone.gs("install")
    write(repo / "code.py", "x = 1\n")
    clone.git("add", "code.py")
    proc = clone.git("commit", "-qm", "code")
    assert "name=pre-commit args=0" in proc.stderr


def data_then_remote(tmp_path: Path) -> Clone:
    """alice with an origin and a commit of data, then a remote added (staged, not committed)."""
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    alice = solo(tmp_path / "alice", tmp_path / "cache")
    alice.git("remote", "add", "origin", str(origin))
    alice.write("data/a.bin", b"alpha")
    alice.gs("track", "data")
    alice.git("commit", "-qm", "data")  # .gitstore/config.yaml not yet in it
    alice.gs("remote", "add", "team", str(tmp_path / "store"), "--default")
    return alice


def test_push_notes_a_remote_that_is_not_committed(tmp_path: Path) -> None:
    """The README's team steps once skipped committing the remote: the push said nothing,
    and a teammate's clone had no remote. Now the push says so (a clone's own remote does not)."""
    alice = data_then_remote(tmp_path)
    push = alice.git("push", "-q", "origin", "main")
    assert "gitstore: uploaded 1 object" in push.stderr
    assert "remote 'team' is not in .gitstore/config.yaml as pushed" in push.stderr
    alice.git("commit", "-qm", "data remote")  # remote add staged the file
    alice.write("data/b.bin", b"bravo")
    alice.commit_data("more")
    push = alice.git("push", "-q", "origin", "main")
    assert "gitstore: uploaded 1 object" in push.stderr
    assert "not in .gitstore/config.yaml" not in push.stderr
    alice.gs("remote", "add", "mine", str(tmp_path / "mine"), "--local", "--default")
    alice.write("data/c.bin", b"charlie")
    alice.commit_data("third")
    push = alice.git("push", "-q", "origin", "main")
    assert "to gitstore remote 'mine'" in push.stderr
    assert "not in .gitstore/config.yaml" not in push.stderr


def test_push_note_looks_at_every_pushed_tip(tmp_path: Path) -> None:
    """The order refs are named in must not matter; only tips lacking the remote are named."""
    alice = data_then_remote(tmp_path)
    alice.git("commit", "-qm", "data remote")
    alice.git("branch", "nocfg", "HEAD~1")
    alice.write("data/b.bin", b"bravo")
    alice.commit_data("on main")
    alice.git("checkout", "-q", "nocfg")
    alice.write("data/c.bin", b"charlie")
    alice.commit_data("on nocfg")
    alice.git("checkout", "-q", "main")  # where the remote is configured
    for order in (("main", "nocfg"), ("nocfg", "main")):
        alice.git("push", "-q", "--delete", "origin", *order, ok=None)
        push = alice.git("push", "-q", "origin", *order)
        assert "remote 'team' is not in .gitstore/config.yaml as pushed (" in push.stderr, order
        named = push.stderr.split("as pushed (")[1].split(")")[0]
        assert "main" not in named and len(named) == 12, named  # nocfg's tip, not main
