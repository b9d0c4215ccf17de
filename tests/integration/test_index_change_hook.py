"""The post-index-change hook: git commands that move manifests with no other hook to follow.

`git reset`, `git revert`, `git cherry-pick` and `git stash` rewrite a
manifest and run none of post-checkout, post-merge or post-rewrite; before
this hook the files on disk kept the other version until `gitstore checkout`.
Real git, gitstore's installed hooks, a folder remote.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from gitstore.hookmain import COVERED
from tests.integration.test_hooks import Clone, make_team, solo


@pytest.fixture
def alice(tmp_path: Path) -> Clone:
    """alice's clone: data v1 pushed, then data v2 committed on top."""
    alice, _bob, _origin = make_team(tmp_path, str(tmp_path / "store"))
    alice.write("data/a.bin", b"alpha v2")
    alice.commit_data("data v2")
    return alice


def _code(tmp_path: Path, name: str = "code.py", text: str = "print(1)\n") -> Clone:
    """A repository whose one commit has ``name`` only."""
    repo = solo(tmp_path / "repo", tmp_path / "cache")
    repo.write(name, text)
    repo.git("add", name)
    repo.git("commit", "-qm", "code")
    return repo


def _code_then_data(tmp_path: Path) -> Clone:
    """A repository whose first commit has code only and whose second tracks data/a.bin."""
    repo = _code(tmp_path)
    repo.write("data/a.bin", b"alpha")
    repo.gs("track", "data")
    repo.git("commit", "-qm", "data")
    return repo


def _side_with_code(alice: Clone) -> None:
    """Branch side from HEAD~1 (data v1), one commit of code on it, checked out."""
    alice.git("switch", "-qc", "side", "HEAD~1")
    alice.write("code.py", "print('side')\n")
    alice.git("commit", "-qam", "side code")


def _unchanged(clone: Clone) -> None:
    status = clone.gs("status")
    assert status.stdout.split() == ["unchanged", "data"], status.stdout + status.stderr


def test_reset_hard_brings_the_data_of_the_commit(alice: Clone) -> None:
    alice.git("reset", "-q", "--hard", "HEAD~1")
    assert alice.read("data/a.bin") == b"alpha v1"
    _unchanged(alice)
    alice.git("reset", "-q", "--hard", "HEAD@{1}")  # and forward again
    assert alice.read("data/a.bin") == b"alpha v2"
    _unchanged(alice)
    # --keep and --merge update the work tree too; -c before the subcommand is skipped
    alice.git("-c", "core.quotepath=off", "reset", "-q", "--keep", "HEAD~1")
    assert alice.read("data/a.bin") == b"alpha v1"


def test_revert_and_cherry_pick_bring_the_data(alice: Clone) -> None:
    alice.git("revert", "--no-edit", "HEAD")
    assert alice.read("data/a.bin") == b"alpha v1"
    _unchanged(alice)
    alice.write("data/b.bin", b"bravo v2")  # an edit after it is recorded as an edit
    alice.commit_data("b v2")
    assert alice.gs("cat", "data/a.bin", "--rev", "HEAD").stdout == "alpha v1"
    assert alice.gs("cat", "data/b.bin", "--rev", "HEAD").stdout == "bravo v2"

    alice.git("cherry-pick", "HEAD~2")  # "data v2" again
    assert alice.read("data/a.bin") == b"alpha v2"
    assert alice.read("data/b.bin") == b"bravo v2"
    _unchanged(alice)


def test_a_reset_to_before_the_path_was_tracked_removes_its_cached_files(
    tmp_path: Path,
) -> None:
    """As a branch switch to such a commit does: only files whose content is in the cache."""
    repo = _code_then_data(tmp_path)
    repo.write("data/new.bin", b"never tracked")
    repo.git("reset", "-q", "--hard", "HEAD~1")
    assert not (repo.path / "data" / "a.bin").exists()
    assert repo.read("data/new.bin") == b"never tracked"


def test_stash_and_pop_bring_the_data_each_way(alice: Clone) -> None:
    alice.write("data/a.bin", b"alpha, stashed")
    alice.gs("track", "data")
    alice.git("stash", "-q")
    assert alice.read("data/a.bin") == b"alpha v2"
    _unchanged(alice)
    alice.git("stash", "pop", "-q")  # without --index: only the work tree's manifest moves
    assert alice.read("data/a.bin") == b"alpha, stashed"
    _unchanged(alice)
    alice.git("commit", "-qam", "the stashed data")
    assert alice.gs("cat", "data/a.bin", "--rev", "HEAD").stdout == "alpha, stashed"


def test_an_edit_not_in_the_cache_is_never_replaced(alice: Clone) -> None:
    """git reset --hard discards git's changes; a payload file gitstore has not stored stays,
    named, as at a branch switch."""
    alice.write("data/a.bin", b"edited, never tracked")
    done = alice.git("reset", "-q", "--hard", "HEAD~1")
    assert alice.read("data/a.bin") == b"edited, never tracked"
    assert "data/a.bin" in done.stderr and "not in the cache" in done.stderr, done.stderr
    assert alice.read("data/b.bin") == b"bravo v1"


def test_a_conflicted_cherry_pick_waits_for_resolve(alice: Clone) -> None:
    alice.git("switch", "-qc", "side", "HEAD~1")
    alice.write("data/a.bin", b"alpha on side")
    alice.commit_data("side's a")
    picked = alice.git("cherry-pick", "main", ok=False)
    assert picked.returncode != 0
    assert alice.read("data/a.bin") == b"alpha on side"  # untouched until it is resolved
    assert "Traceback" not in picked.stderr
    alice.git("cherry-pick", "--abort")
    assert alice.read("data/a.bin") == b"alpha on side"
    _unchanged(alice)


def test_a_merge_stopped_at_a_conflict_brings_what_merged_cleanly_and_its_abort_undoes_it(
    alice: Clone,
) -> None:
    """No post-merge runs for either: the files of the cleanly merged manifest used to keep
    our side's version until `gitstore resolve`, and after an abort the other side's."""
    alice.write("model.bin", b"model v1")
    alice.gs("track", "model.bin")
    alice.git("commit", "-qm", "model v1")
    alice.git("switch", "-qc", "theirs")
    alice.write("data/a.bin", b"alpha, theirs")
    alice.write("model.bin", b"model, theirs")
    alice.gs("track", "data", "model.bin")
    alice.git("commit", "-qm", "theirs")
    alice.git("switch", "-q", "main")
    alice.write("data/a.bin", b"alpha, ours")
    alice.commit_data("ours")
    stopped = alice.git("merge", "-q", "theirs", ok=False)
    assert "CONFLICT" in stopped.stdout + stopped.stderr
    assert alice.read("model.bin") == b"model, theirs"  # merged cleanly: brought
    assert alice.read("data/a.bin") == b"alpha, ours"  # conflicted: waits for resolve
    alice.git("merge", "--abort")
    assert alice.read("model.bin") == b"model v1"
    assert alice.read("data/a.bin") == b"alpha, ours"
    assert alice.gs("status").stdout.split() == ["unchanged", "data", "unchanged", "model.bin"]


def test_nothing_runs_during_a_rebase_and_its_end_brings_the_data(alice: Clone) -> None:
    """docs/hooks.md: the hooks bring no data while a rebase runs; its end does, from the tip
    it started from (ORIG_HEAD is not that tip once an ``exec`` line ran a reset: the end
    of such a rebase used to leave the old files in place)."""
    alice.git("switch", "-qc", "three")
    alice.write("data/a.bin", b"alpha v3")
    alice.commit_data("data v3")
    alice.git("switch", "-qc", "side", "main~1")
    alice.write("code.py", "print('side')\n")
    alice.git("commit", "-qam", "side code")
    stopped = alice.git("rebase", "-q", "--exec", "exit 1", "main", ok=False)
    assert "exit 1" in stopped.stderr
    assert alice.read("data/a.bin") == b"alpha v1"  # the rebase runs: the old files stay
    alice.git("cherry-pick", "three")  # at the stop: its index change brings nothing either
    assert alice.read("data/a.bin") == b"alpha v1"
    alice.git("reset", "-q", "--hard", "HEAD")  # nor a reset's, which sets ORIG_HEAD
    assert alice.read("data/a.bin") == b"alpha v1"
    alice.git("rebase", "--continue")
    assert alice.read("data/a.bin") == b"alpha v3"
    _unchanged(alice)


def test_git_add_and_commit_start_no_gitstore(tmp_path: Path, alice: Clone) -> None:
    """git runs post-index-change at every index write: the script answers those in sh, and
    the commands another hook follows (a branch switch) too."""
    log = tmp_path / "ran"
    shim = tmp_path / "bin" / "gitstore"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\n[ "$2" != post-index-change ] || echo "$*" >> {log}\n')
    shim.chmod(0o755)
    hook = alice.path / ".git" / "hooks" / "post-index-change"
    env = dict(os.environ, PATH=f"{shim.parent}:{os.environ['PATH']}")

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=alice.path, env=env, check=True, capture_output=True)

    alice.write("code.py", "print(2)\n")
    git("add", "code.py")
    git("commit", "-qm", "code")
    git("switch", "-q", "-c", "other", "HEAD~1")
    git("checkout", "-q", "main")
    git("-c", "core.quotepath=off", "checkout", "-q", "other")
    assert not log.exists(), log.read_text()
    git("reset", "-q", "--hard", "main")
    assert log.read_text() == "hook post-index-change 1 0\n"
    script = hook.read_bytes()  # the sh filter and hookmain.COVERED say the same
    assert b"checkout | switch | pull | clone | commit)" in script and b"rebase)" in script
    assert COVERED == {"checkout", "switch", "pull", "rebase", "clone", "commit"}


def test_a_users_own_post_index_change_hook_still_runs(tmp_path: Path) -> None:
    repo = solo(tmp_path / "repo", tmp_path / "cache")
    hooks = repo.path / ".git" / "hooks"
    mine = b'#!/bin/sh\necho "mine $*" >> ran\n'
    repo.gs("uninstall")
    (hooks / "post-index-change").write_bytes(mine)
    (hooks / "post-index-change").chmod(0o755)
    repo.gs("install")
    repo.write("code.py", "print(1)\n")
    repo.git("add", "code.py")  # 0: gitstore's part does nothing, the user's hook runs
    repo.git("commit", "-qm", "code")
    repo.git("reset", "-q", "--hard")  # 1: both run, the user's first
    assert repo.read("ran").decode().splitlines() == ["mine 0 0", "mine 0 0", "mine 1 0"]
    repo.gs("uninstall")
    assert (hooks / "post-index-change").read_bytes() == mine


def test_a_clone_set_up_by_an_older_gitstore_gets_the_hook_at_its_first_hook_run(
    alice: Clone,
) -> None:
    """Its five scripts run the new gitstore from PATH; the sixth was never installed."""
    hooks = alice.path / ".git" / "hooks"
    (hooks / "post-index-change").unlink()
    alice.git("reset", "-q", "--hard", "HEAD~1")  # no hook yet: the files stay
    assert alice.read("data/a.bin") == b"alpha v2"
    alice.gs("checkout", "data")
    assert alice.read("data/a.bin") == b"alpha v1"
    alice.git("switch", "-qc", "other")  # post-checkout: one of ours runs
    added = hooks / "post-index-change"
    assert added.read_bytes().startswith(b"#!/bin/sh\n# gitstore-hook: post-index-change ")
    assert os.access(added, os.X_OK)
    alice.git("reset", "-q", "--hard", "main@{1}")
    assert alice.read("data/a.bin") == b"alpha v2"


def test_a_users_hook_in_the_place_of_the_new_one_is_left_to_install(tmp_path: Path) -> None:
    repo = solo(tmp_path / "repo", tmp_path / "cache")
    hooks = repo.path / ".git" / "hooks"
    mine = b"#!/bin/sh\nexit 0\n"
    (hooks / "post-index-change").write_bytes(mine)
    repo.write("code.py", "print(1)\n")
    repo.git("add", "code.py")
    repo.git("commit", "-qm", "code")  # pre-commit, one of ours, runs
    assert (hooks / "post-index-change").read_bytes() == mine
    assert "kept your post-index-change hook" in repo.gs("install").stdout


# -- found by a QA pass of the hook ------------------------------------------------------
def test_a_path_reset_away_and_back_is_brought_back(tmp_path: Path) -> None:
    """The record of what a path was last brought to outlived its removal: when the same
    manifest came back, the path was taken for one in place and stayed absent."""
    repo = _code_then_data(tmp_path)
    repo.git("reset", "-q", "--hard", "HEAD~1")
    assert not (repo.path / "data").exists()
    repo.git("reset", "-q", "--hard", "HEAD@{1}")
    assert repo.read("data/a.bin") == b"alpha"
    repo.git("switch", "-qc", "none", "HEAD~1")  # post-checkout removes it, the same way
    repo.git("cherry-pick", "main")
    assert repo.read("data/a.bin") == b"alpha"


def test_a_stash_of_ignored_files_pops_back(alice: Clone) -> None:
    """git stash -a takes the payload (ignored files) into the stash; its pop failed with
    "already exists" once the hook had put the files back, or acted on git's temporary
    index of the stash's untracked files."""
    alice.write("data/a.bin", b"an edit gitstore never stored")
    alice.write("code.py", "print(2)\n")
    alice.git("stash", "-a", "-q")
    alice.git("stash", "pop", "-q")
    assert alice.read("data/a.bin") == b"an edit gitstore never stored"
    assert alice.read("data/b.bin") == b"bravo v1"
    alice.write("u.txt", "untracked\n")  # -u: git reads the untracked files into a scratch index
    alice.git("stash", "-u", "-q")
    alice.git("stash", "pop", "-q")
    assert alice.read("u.txt") == b"untracked\n"


def test_a_clean_merge_without_a_commit_brings_the_data(alice: Clone) -> None:
    """git merge --no-commit runs no post-merge."""
    _side_with_code(alice)
    alice.git("merge", "-q", "--no-commit", "main")
    assert alice.read("data/a.bin") == b"alpha v2"
    alice.git("commit", "-qm", "merged")
    _unchanged(alice)


def test_a_rebase_abort_undoes_what_resolve_brought_at_its_stop(alice: Clone) -> None:
    """No post-rewrite follows an abort: the resolved data stayed under the old manifest."""
    alice.git("switch", "-qc", "side", "HEAD~1")
    alice.write("data/a.bin", b"alpha on side")
    alice.commit_data("side's a")
    stopped = alice.git("rebase", "-q", "main", ok=False)
    assert "CONFLICT" in stopped.stdout + stopped.stderr
    alice.gs("resolve", "data", "--ours")  # in a rebase, ours is main's
    assert alice.read("data/a.bin") == b"alpha v2"
    alice.git("rebase", "--abort")
    assert alice.read("data/a.bin") == b"alpha on side"
    _unchanged(alice)


def test_the_hook_added_to_an_older_clone_stays_deleted_once_deleted(alice: Clone) -> None:
    hooks = alice.path / ".git" / "hooks"
    (hooks / "post-index-change").unlink()
    alice.git("switch", "-qc", "other")  # one of ours runs: it adds the new hook
    assert (hooks / "post-index-change").exists()
    (hooks / "post-index-change").unlink()  # the user does not want it
    alice.git("switch", "-q", "main")
    assert not (hooks / "post-index-change").exists()
    alice.gs("install")  # installing is asking for every hook again
    assert (hooks / "post-index-change").exists()
    alice.gs("uninstall")
    assert not [p.name for p in hooks.iterdir() if "gitstore" in p.name]


# -- found by a second QA pass -------------------------------------------------------------
def test_untracked_files_stay_through_a_stash_and_come_back_with_a_revert(alice: Clone) -> None:
    """git stash made the hook read the user's index, where untrack's removal of the
    manifest looked like the command's: the files untrack keeps were deleted."""
    alice.gs("untrack", "data")
    alice.git("stash", "-q")  # the untrack is stashed: the manifest is back, and its files
    assert alice.read("data/a.bin") == b"alpha v2"
    alice.git("stash", "pop", "-q")
    assert alice.read("data/a.bin") == b"alpha v2"
    alice.git("commit", "-qam", "untrack data")
    (alice.path / "data" / "b.bin").unlink()
    alice.git("revert", "--no-edit", "HEAD")  # tracked again: its files come back
    assert alice.read("data/b.bin") == b"bravo v1"
    _unchanged(alice)


def test_a_stash_of_ignored_files_over_an_uncommitted_track_pops_back(alice: Clone) -> None:
    alice.write("data/a.bin", b"alpha v3, tracked, not committed")
    alice.gs("track", "data")
    alice.git("stash", "-a", "-q")
    alice.git("stash", "pop", "-q")
    assert alice.read("data/a.bin") == b"alpha v3, tracked, not committed"
    _unchanged(alice)


def test_abbreviated_options_are_git_s_options(alice: Clone) -> None:
    """git takes --abo for --abort and --no-comm for --no-commit."""
    _side_with_code(alice)
    alice.git("merge", "-q", "--no-comm", "main")
    assert alice.read("data/a.bin") == b"alpha v2"
    alice.git("merge", "--abo")
    assert alice.read("data/a.bin") == b"alpha v1"
    _unchanged(alice)


# -- found by a third QA pass ------------------------------------------------------------
def test_a_path_with_a_file_left_alone_still_follows_a_reset(alice: Clone) -> None:
    """A file left alone (its content not in the cache) made the path lose its record of
    what it was brought to; a reset back then brought nothing, and the next commit -a
    recorded the other branch's file."""
    alice.git("switch", "-qc", "side")
    alice.write("data/b.bin", b"bravo on side")
    alice.write("side.txt", "side\n")
    alice.git("add", "side.txt")
    alice.commit_data("side's b")
    alice.git("switch", "-q", "main")
    alice.write("data/a.bin", b"an edit gitstore never stored")
    squashed = alice.git("merge", "-q", "--squash", "side")
    assert "left data/a.bin alone" in squashed.stderr
    assert alice.read("data/b.bin") == b"bravo on side"
    alice.git("reset", "-q", "--hard")
    assert alice.read("data/b.bin") == b"bravo v1"
    assert alice.read("data/a.bin") == b"an edit gitstore never stored"


def test_a_stash_of_ignored_files_pops_back_over_a_file_left_alone(alice: Clone) -> None:
    alice.write("data/a.bin", b"alpha v3")
    alice.gs("track", "data")
    alice.write("data/a.bin", b"alpha v4, never stored")
    alice.git("stash", "-q")
    alice.git("stash", "pop", "-q")  # its hook leaves data/a.bin alone
    assert alice.read("data/a.bin") == b"alpha v4, never stored"
    alice.git("stash", "-a", "-q")
    alice.git("stash", "pop", "-q")
    assert alice.read("data/a.bin") == b"alpha v4, never stored"


# -- found by the twentieth QA pass --------------------------------------------------------
@pytest.mark.parametrize("how", [[], ["-u"], ["-a"]])
def test_a_stash_of_a_path_tracked_since_the_last_commit_pops_back_with_its_files(
    tmp_path: Path, how: list[str]
) -> None:
    """The stash takes the new manifest and its .gitignore line away, and with them the
    files (their content is in the cache); the pop put the manifest back but not the
    files, and said nothing."""
    repo = _code(tmp_path)
    repo.write("g/g.bin", b"new data")
    repo.gs("track", "g")
    repo.git("stash", "-q", *how)
    assert not (repo.path / "g.gitstore").exists()
    assert not (repo.path / "g").exists()  # not left unignored for `git add -A`
    assert repo.git("status", "--porcelain").stdout == ""
    repo.git("stash", "pop", "-q")
    assert repo.read("g/g.bin") == b"new data"
    assert "unchanged" in repo.gs("status").stdout


@pytest.mark.parametrize("unstage", [["stash"], ["restore"]])
def test_a_new_manifest_is_committed_with_its_gitignore_line_not_staged(
    tmp_path: Path, unstage: list[str]
) -> None:
    """The line was on disk but not staged (a stash's pop, `git restore --staged`): the
    commit carried the manifest without it, and a clone offered the files to git."""
    repo = _code(tmp_path, ".gitignore", "/build/\n")
    repo.write("g/g.bin", b"new data")
    repo.gs("track", "g")
    if unstage == ["stash"]:
        repo.git("stash", "-q")
        repo.git("stash", "pop", "-q")
    else:
        repo.git("restore", "--staged", ".gitignore")
        with open(repo.path / ".gitignore", "a") as f:
            f.write("/mine/\n")  # and a change of the user's own, which stays unstaged
    repo.git("commit", "-qm", "add g")
    assert repo.git("show", "HEAD:.gitignore").stdout == "/build/\n/g/\n"
    expected = "" if unstage == ["stash"] else " M .gitignore\n"
    assert repo.git("status", "--porcelain").stdout == expected
