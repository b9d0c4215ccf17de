"""Git workflows at their edges (third QA pass): the manifest is git's truth, the payload never git's.

Each test is a finding of the pass (docs/reliability.md, "Third pass"), run
through the real git binary with gitstore's hooks installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.test_hooks import Clone, make_team, objects_in, oid_of, solo
from tests.integration.users import NO_HOOKS  # a git client that runs no hooks


@pytest.fixture
def team(tmp_path: Path) -> tuple[Clone, Clone, Path, Path]:
    """(alice, bob, origin, store), as in test_hooks: alice has pushed data/ to a folder remote."""
    store = tmp_path / "store"
    return (*make_team(tmp_path, str(store)), store)


def test_checkout_of_a_commit_from_before_the_data_moved_into_gitstore(tmp_path: Path) -> None:
    """git writes the old commit's data files; post-checkout must not delete them as untracked."""
    repo = solo(tmp_path / "repo", tmp_path / "cache")
    for name in ("f1", "f2", "f3"):
        repo.write(f"data/{name}.bin", f"{name} in git\n")
    repo.git("add", "data")
    repo.git("commit", "-qm", "data committed to git")
    repo.git("tag", "old")
    repo.git("rm", "-rq", "--cached", "data")
    repo.write("data/f1.bin", "f1 in gitstore\n")
    repo.gs("track", "data")
    repo.git("commit", "-qm", "data moved into gitstore")

    switched = repo.git("checkout", "-q", "old")
    assert [repo.read(f"data/{n}.bin") for n in ("f1", "f2", "f3")] == [
        b"f1 in git\n",
        b"f2 in git\n",
        b"f3 in git\n",
    ], switched.stderr
    assert repo.git("status", "--porcelain").stdout == ""

    repo.git("checkout", "-q", "main")
    assert repo.read("data/f1.bin") == b"f1 in gitstore\n"
    assert repo.gs("status", "--json").stdout.count('"unchanged"') == 1


def test_a_manifest_rolled_back_by_git_is_committed_not_refreshed(team) -> None:
    """git checkout REV -- X.gitstore, then git commit: the commit keeps the old version.

    Before, pre-commit saw files that differ from the manifest, took them for
    an edit and re-tracked them: the rollback became an empty commit.
    """
    alice, _bob, _origin, _store = team
    alice.git("tag", "v1")
    v1 = alice.read("data.gitstore")
    alice.write("data/a.bin", b"alpha v2")
    alice.commit_data("data v2")

    alice.git("checkout", "v1", "--", "data.gitstore")
    status = alice.gs("status")  # says what happened, and does not forget it
    assert "holds the files of an earlier data.gitstore" in status.stderr
    done = alice.git("commit", "-qm", "roll the data back to v1")
    assert "gitstore checkout data" in done.stderr
    assert alice.git("show", "HEAD:data.gitstore").stdout.encode() == v1
    assert alice.read("data.gitstore") == v1

    alice.gs("checkout", "data")  # as the note says
    assert alice.read("data/a.bin") == b"alpha v1"
    assert alice.git("status", "--porcelain").stdout == ""


def test_a_reverted_data_commit_stays_reverted_at_the_next_commit(team) -> None:
    alice, _bob, _origin, _store = team
    alice.write("data/a.bin", b"bad data")
    alice.commit_data("bad data")
    alice.git("revert", "--no-edit", "HEAD")
    alice.write("code.py", "print(2)\n")
    alice.git("commit", "-qam", "unrelated code change")
    assert alice.gs("cat", "data/a.bin", "--rev", "HEAD").stdout == "alpha v1"


def test_a_partial_commit_leaves_changed_data_out(team) -> None:
    """git commit -- code.py: only code.py goes in, and git's index is left consistent."""
    alice, _bob, _origin, _store = team
    before = alice.git("show", "HEAD:data.gitstore").stdout
    alice.write("data/b.bin", b"bravo v2")
    alice.write("code.py", "print(3)\n")
    done = alice.git("commit", "-qm", "only the code", "--", "code.py")
    assert "partial commit" in done.stderr
    assert alice.git("show", "HEAD:data.gitstore").stdout == before
    assert alice.git("diff", "--cached", "--name-only").stdout == ""

    alice.gs("track", "data")  # as the note says
    alice.git("commit", "-qm", "the data")
    assert alice.gs("cat", "data/b.bin", "--rev", "HEAD").stdout == "bravo v2"


def test_payload_files_staged_in_git_are_refused(team) -> None:
    """A tracked folder renamed with git mv of its manifest, then git add -A: refused, with the way out."""
    alice, _bob, _origin, _store = team
    alice.git("mv", "data.gitstore", "data2.gitstore")
    (alice.path / "data").rename(alice.path / "data2")
    alice.git("add", "-A")
    refused = alice.git("commit", "-qm", "rename the dataset", ok=False)
    assert "data2/a.bin, data2/b.bin staged in git, inside the tracked path data2" in refused.stderr
    assert "git rm -r --cached -q data2" in refused.stderr

    alice.git("rm", "-r", "--cached", "-q", "data2")
    alice.gs("track", "data2")
    alice.git("commit", "-qm", "rename the dataset")
    assert alice.git("ls-files", "data2").stdout == ""
    assert "/data2/" in (alice.path / ".gitignore").read_text()


def test_resolving_a_modify_delete_conflict(team) -> None:
    """One branch untracked the path, the other changed it: clear words, and .gitignore kept."""
    alice, _bob, _origin, _store = team
    alice.git("switch", "-qc", "drop")
    alice.gs("untrack", "data")
    alice.git("commit", "-qm", "drop the dataset")
    alice.git("switch", "-q", "main")
    alice.write("data/a.bin", b"alpha v2")
    alice.commit_data("data v2")
    alice.git("merge", "drop", "-m", "merge", ok=False)

    theirs = alice.gs("resolve", "data", "--theirs", ok=False)
    assert "their side deletes it" in theirs.stderr
    assert "gitstore untrack data" in theirs.stderr
    alice.gs("resolve", "data", "--ours")
    assert "/data/" in (alice.path / ".gitignore").read_text()
    alice.git("commit", "-qm", "keep the dataset")
    assert alice.git("ls-files", "data").stdout == ""
    assert alice.read("data/a.bin") == b"alpha v2"


def test_gc_remote_keeps_what_was_pushed_after_this_clone_last_fetched(team) -> None:
    """Bob's data reaches the store before his commit reaches origin (pre-push uploads
    first, or gitstore push): a collection meanwhile must not take it."""
    alice, bob, _origin, store = team
    bob.gs("install")
    bob.gs("pull")
    bob.write("data/b.bin", b"bravo by bob")
    bob.commit_data("bob's data")
    bob.gs("push")  # the data only: the commit is not on origin yet
    short = oid_of(bob, "data/b.bin")
    (bobs,) = [o for o in objects_in(store) if o.startswith(short)]

    alice.git("fetch", "-q", "--all")
    listed = alice.gs("gc", "--remote", "team", "--dry-run", "--grace", "0")
    assert "pushed after, or less than an hour before, this clone last fetched" in listed.stderr
    alice.gs("gc", "--remote", "team", "--grace", "0", "--yes")
    assert bobs in objects_in(store)


def test_a_tracked_path_that_turned_from_file_to_folder_checks_out_both_ways(team) -> None:
    alice, _bob, _origin, _store = team
    alice.write("thing", b"one file\n")
    alice.gs("track", "thing")
    alice.git("commit", "-qm", "thing is a file")
    (alice.path / "thing").unlink()
    alice.write("thing/a", b"a\n")
    alice.write("thing/sub/b", b"b\n")
    status = alice.gs("status").stdout
    assert status.count("modified: thing") == 1, status
    alice.gs("track", "thing")
    alice.git("commit", "-qm", "thing is a folder")

    alice.git("checkout", "-q", "HEAD~1")  # the hook replaces the folder by the file
    assert alice.read("thing") == b"one file\n"
    alice.git("checkout", "-q", "main")
    assert alice.read("thing/sub/b") == b"b\n"

    # a file whose content is in no cache is never deleted to make room
    alice.write("thing/sub/new", b"not in the cache\n")
    kept = alice.gs("checkout", "HEAD~1", ok=False)
    assert kept.returncode == 3 and "thing/sub/new" in kept.stdout + kept.stderr
    assert alice.read("thing/sub/new") == b"not in the cache\n"
    alice.gs("checkout", "HEAD~1", "--force")
    assert alice.read("thing") == b"one file\n"


def test_a_shallow_clone_shows_its_history_and_refuses_remote_gc(team, tmp_path: Path) -> None:
    alice, _bob, origin, _store = team
    alice.write("data/a.bin", b"alpha v2")
    alice.commit_data("data v2")
    alice.git("push", "-q", "origin", "main")
    carol = Clone(tmp_path / "carol", tmp_path / "carol-cache")
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{origin}", str(carol.path)],
        check=True,
        capture_output=True,
    )
    log = carol.gs("log", "data")
    assert log.stdout.count("\n") == 1 and "data v2" in log.stdout
    beyond = carol.gs("checkout", "HEAD~1", ok=False)
    assert "shallow clone" in beyond.stderr
    refused = carol.gs("gc", "--remote", "team", "--dry-run", ok=False)
    assert "this clone is shallow" in refused.stderr


def test_an_octopus_merge_manifest_is_settled_by_resolve(team) -> None:
    """git's octopus strategy ignores merge drivers: the totals come out wrong; resolve recomputes them."""
    alice, _bob, _origin, _store = team
    for name in ("c", "d", "e", "f", "g"):
        alice.write(f"data/{name}.bin", f"{name} v1".encode())
    alice.commit_data("more files")
    # both sides grow the folder by 3 bytes: the size: line changes alike on
    # both, so git's own merge takes it once, not as the sum
    alice.git("switch", "-qc", "b1")
    alice.write("data/a.bin", b"alpha v1 b1")
    alice.commit_data("b1")
    alice.git("switch", "-qc", "b2", "main")
    alice.write("data/g.bin", b"g v1 b2")
    alice.commit_data("b2")
    alice.git("switch", "-qc", "b3", "main")
    alice.write("code.py", "print(3)\n")
    alice.git("commit", "-qam", "b3")
    alice.git("switch", "-q", "main")
    alice.git("merge", "-q", "b1", "b2", "b3", "-m", "octopus")
    status = alice.gs("status", "--json", ok=False)
    assert '"invalid"' in status.stdout
    assert "`gitstore resolve data --ours` recomputes the totals" in status.stderr

    alice.gs("resolve", "data", "--ours")
    assert alice.read("data/a.bin") == b"alpha v1 b1"
    assert alice.read("data/g.bin") == b"g v1 b2"
    alice.git("commit", "-qm", "octopus totals")
    assert '"unchanged"' in alice.gs("status", "--json").stdout


def test_a_symlink_checkout_is_unchanged_and_can_be_edited_and_tracked(team) -> None:
    """checkout --link symlink: status, commit, track and checkout all take the links as their objects."""
    alice, _bob, _origin, _store = team
    alice.write("data/run.sh", b"#!/bin/sh\n")
    (alice.path / "data" / "run.sh").chmod(0o755)
    alice.commit_data("a script")
    shutil.rmtree(alice.path / "data")
    alice.gs("checkout", "--link", "symlink")
    assert (alice.path / "data" / "a.bin").is_symlink()
    assert '"unchanged"' in alice.gs("status", "--json").stdout
    alice.write("code.py", "print(5)\n")
    alice.git("commit", "-qam", "code only")  # the hook finds nothing to refresh

    link = alice.path / "data" / "a.bin"
    link.unlink()  # as with DVC: replace the link with a file of one's own, then edit
    link.write_bytes(b"alpha, edited")
    alice.gs("track", "data")
    manifest = alice.read("data.gitstore").decode()
    assert "{path: run.sh, " in manifest and "exec: true" in manifest  # kept through the link
    alice.git("commit", "-qm", "edited through a symlink checkout")
    assert alice.gs("cat", "data/a.bin", "--rev", "HEAD").stdout == "alpha, edited"

    assert "0 written" in alice.gs("checkout").stdout  # links are their objects: nothing to do
    alice.gs("checkout", "--link", "copy")  # asked for copies: the links become files
    assert not (alice.path / "data" / "b.bin").is_symlink()
    assert alice.read("data/b.bin") == b"bravo v1"
    objects = alice.cache / "gitstore" / "objects"
    assert {oct(p.stat().st_mode & 0o777) for p in objects.rglob("*") if p.is_file()} == {"0o444"}


def test_switching_to_a_branch_where_a_folder_was_renamed_leaves_no_empty_folder(team) -> None:
    alice, _bob, _origin, _store = team
    alice.git("switch", "-qc", "renamed")
    alice.gs("untrack", "data")
    (alice.path / "data").rename(alice.path / "data2")
    alice.gs("track", "data2")
    alice.git("commit", "-qm", "data is data2 now")
    alice.git("switch", "-q", "main")
    assert not (alice.path / "data2").exists()
    assert alice.read("data/a.bin") == b"alpha v1"
    alice.git("switch", "-q", "renamed")
    assert not (alice.path / "data").exists()
    assert alice.read("data2/a.bin") == b"alpha v1"


def test_a_manifest_back_from_an_autostash_is_not_undone_by_the_next_commit(team) -> None:
    """git pull --rebase --autostash: the rebase's checkout rewrites the files, the autostash
    brings the manifest back without them; the commit must not record HEAD's files over it."""
    alice, bob, _origin, _store = team
    bob.gs("install")
    bob.gs("pull")
    bob.write("data/b.bin", b"bravo by bob")
    bob.commit_data("bob's b")
    bob.git("push", "-q", "origin", "main")
    alice.write("data/a.bin", b"alpha by alice")
    alice.gs("track", "data")  # staged, not committed
    alice.git("pull", "-q", "--rebase", "--autostash")
    # the hook brought in bob's b only (it reads ORIG_HEAD since the tenth QA pass; it
    # used to rewrite every file, and this commit was refused until `gitstore checkout`)
    assert alice.read("data/a.bin") == b"alpha by alice"
    assert alice.read("data/b.bin") == b"bravo by bob"
    alice.git("commit", "-qam", "alice's a")
    assert alice.gs("cat", "data/a.bin", "--rev", "HEAD").stdout == "alpha by alice"
    assert alice.gs("cat", "data/b.bin", "--rev", "HEAD").stdout == "bravo by bob"


def test_a_stashed_data_change_popped_after_a_checkout_is_kept(team) -> None:
    """The pop runs no hook here (post-index-change brings the files where it runs:
    test_index_change_hook.py); the commit must still keep the popped manifest."""
    alice, _bob, _origin, _store = team
    alice.write("data/a.bin", b"alpha, stashed")
    alice.gs("track", "data")
    alice.git(*NO_HOOKS, "stash", "-q")
    alice.gs("checkout", "data")  # the files follow the manifest git restored
    alice.write("code.py", "print(6)\n")
    alice.git("commit", "-qam", "hotfix")
    alice.git(*NO_HOOKS, "stash", "pop", "-q")
    # the files are exactly as when they matched the manifest before the pop:
    # the commit keeps the popped manifest, and says how to bring the files in line
    done = alice.git("commit", "-qam", "the stashed data")
    assert "gitstore checkout data" in done.stderr
    assert alice.gs("cat", "data/a.bin", "--rev", "HEAD").stdout == "alpha, stashed"
    alice.gs("checkout", "data")
    assert alice.read("data/a.bin") == b"alpha, stashed"


def test_gc_remote_refuses_while_a_branch_of_the_git_remote_is_not_fetched(team) -> None:
    alice, bob, _origin, store = team
    bob.gs("install")
    bob.gs("pull")
    bob.git("switch", "-qc", "exp")
    bob.write("data/b.bin", b"bravo on exp")
    bob.commit_data("exp data")
    bob.git("push", "-q", "origin", "exp")
    alice.git("fetch", "-q", "origin", "main")  # one branch: exp stays unknown here
    refused = alice.gs("gc", "--remote", "team", "--dry-run", "--grace", "0", ok=False)
    assert "has refs/heads/exp at a commit this clone has not fetched" in refused.stderr
    assert "git fetch --all" in refused.stderr

    alice.git("fetch", "-q", "--all")
    alice.gs("gc", "--remote", "team", "--dry-run", "--grace", "0")
    alice.gs("gc", "--remote", "team", "--grace", "0", "--yes")
    short = oid_of(bob, "data/b.bin")
    assert [o for o in objects_in(store) if o.startswith(short)]  # exp's object is kept


def test_untracking_a_symlink_checkout_leaves_real_files(team) -> None:
    """untrack leaves the files in place: links into the cache would die with the next gc."""
    alice, _bob, _origin, _store = team
    shutil.rmtree(alice.path / "data")
    alice.gs("checkout", "--link", "symlink")
    alice.gs("untrack", "data")
    alice.git("commit", "-qm", "data is no longer tracked")
    assert not (alice.path / "data" / "a.bin").is_symlink()
    alice.gs("gc", "--grace", "0")
    assert alice.read("data/a.bin") == b"alpha v1"


def test_a_write_through_a_symlink_checkout_is_seen_and_never_recorded_as_the_old_object(
    team,
) -> None:
    """Root writes through the object's 0444 mode: the object no longer holds its version."""
    alice, _bob, _origin, _store = team
    shutil.rmtree(alice.path / "data")
    alice.gs("checkout", "--link", "symlink")
    link = alice.path / "data" / "a.bin"
    target = Path(os.readlink(link))
    target.chmod(0o644)
    with open(link, "ab") as f:
        f.write(b", written through the link")
    status = json.loads(alice.gs("status", "--json").stdout)
    assert status[0]["modified"] == ["data/a.bin"]
    # diff says the same (it used to skip every link: a write through one
    # was unseen, and beside a real file the links read as removed)
    (b_link := alice.path / "data" / "b.bin").unlink()
    b_link.write_bytes(b"bravo v1")  # a file of one's own, same bytes
    diff = json.loads(alice.gs("diff", "--json").stdout)
    assert [m["path"] for m in diff["modified"]] == ["data/a.bin"], diff
    assert diff["removed"] == [] and diff["added"] == []
    refused = alice.gs("track", "data", ok=False)
    assert (
        "was written through it" in refused.stderr and "cp --remove-destination" in refused.stderr
    )

    shutil.copyfile(target, str(link) + ".tmp")  # as the hint says: keep the bytes as a file
    os.replace(str(link) + ".tmp", link)
    alice.gs("track", "data")
    alice.git("commit", "-qm", "the edit")
    assert (
        alice.gs("cat", "data/a.bin", "--rev", "HEAD").stdout
        == "alpha v1, written through the link"
    )


def test_an_amend_of_a_data_only_change_takes_one_run(team) -> None:
    alice, _bob, _origin, _store = team
    alice.write("data/a.bin", b"alpha, amended in")
    alice.git("commit", "-q", "--amend", "-m", "data v1, amended")
    assert alice.gs("cat", "data/a.bin", "--rev", "HEAD").stdout == "alpha, amended in"
    assert alice.git("rev-list", "--count", "HEAD").stdout.strip() == "1"
    assert alice.git("status", "--porcelain").stdout == ""


def test_a_revert_survives_a_later_edit_in_the_same_folder(team) -> None:
    """After a git revert that ran no hook the files stay as they were; editing another
    file of the folder must not let the next commit re-record the reverted file."""
    alice, _bob, _origin, _store = team
    alice.write("data/a.bin", b"bad data")
    alice.commit_data("bad data")
    alice.git(*NO_HOOKS, "revert", "--no-edit", "HEAD")
    alice.write("data/b.bin", b"bravo v2")
    refused = alice.git("commit", "-qam", "b v2", ok=False)
    assert (
        "data/a.bin on disk is as at HEAD, its parent or a commit HEAD was at lately"
        in refused.stderr
    )
    kept = alice.gs("checkout", "data", ok=False)  # brings a.bin; keeps the edit of b.bin
    assert kept.returncode == 3 and "data/b.bin" in kept.stderr
    alice.commit_data("b v2")
    assert alice.gs("cat", "data/a.bin", "--rev", "HEAD").stdout == "alpha v1"
    assert alice.gs("cat", "data/b.bin", "--rev", "HEAD").stdout == "bravo v2"


def test_a_file_put_back_after_ones_own_track_is_recorded_as_it_is(team) -> None:
    """Not a manifest from git: the user's own track, then a change of mind."""
    alice, _bob, _origin, _store = team
    alice.write("data/a.bin", b"alpha v2")
    alice.gs("track", "data")
    alice.write("data/a.bin", b"alpha v1")  # HEAD's content again
    alice.write("code.py", "print(7)\n")
    alice.git("commit", "-qam", "code only, in the end")
    assert alice.gs("cat", "data/a.bin", "--rev", "HEAD").stdout == "alpha v1"
    assert alice.git("status", "--porcelain").stdout == ""


def test_track_refuses_a_manifest_with_conflict_markers(team) -> None:
    """The files of a conflicted merge hold neither side's whole change: resolve first."""
    alice, _bob, _origin, _store = team
    alice.git("switch", "-qc", "feat")
    alice.write("data/a.bin", b"alpha by feat")
    alice.write("data/b.bin", b"bravo by feat")
    alice.commit_data("feat")
    alice.git("switch", "-q", "main")
    alice.write("data/a.bin", b"alpha by main")
    alice.commit_data("main")
    alice.git("merge", "--no-edit", "feat", ok=False)
    refused = alice.gs("track", "data", ok=False)
    assert (
        "has merge conflict markers" in refused.stderr and "gitstore resolve data" in refused.stderr
    )
    alice.gs("resolve", "data", "--ours")
    alice.git("commit", "-q", "--no-edit")
    assert (
        alice.gs("cat", "data/b.bin", "--rev", "HEAD").stdout == "bravo by feat"
    )  # feat's clean change


def test_a_data_only_commit_a_names_the_command_that_finishes_it(team) -> None:
    alice, _bob, _origin, _store = team
    alice.write("data/a.bin", b"alpha v2")
    first = alice.git("commit", "-qam", "v2", ok=False)
    assert "run `git commit -a` again" in first.stderr
    alice.git("commit", "-qam", "v2")
    assert alice.gs("cat", "data/a.bin", "--rev", "HEAD").stdout == "alpha v2"
