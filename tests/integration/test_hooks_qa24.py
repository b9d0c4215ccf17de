"""Abandoned operations, amends and .gitignore staging (twenty-fourth QA pass,
docs/reliability.md): each test is a finding, run through the real git binary with
gitstore's hooks installed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.integration.test_checkout_rev_nested import _branches
from tests.integration.test_git_workflows_fifth import _states
from tests.integration.test_hooks import Clone, solo
from tests.integration.test_hooks import team as _team

team = _team  # the fixture: alice has pushed data/ (a.bin, b.bin) to a folder remote


def _repo(tmp_path: Path) -> Clone:
    repo = solo(tmp_path / "repo", tmp_path / "cache")
    repo.write("code.txt", "code\n")
    repo.git("add", "-A")
    repo.git("commit", "-qm", "code")
    return repo


def _dropped_on_feat(tmp_path: Path) -> Clone:
    """main tracks f (f/z.bin); branch feat untracks it and changes code.txt; on main."""
    repo = _repo(tmp_path)
    repo.write("f/z.bin", b"zulu")
    repo.gs("track", "f")
    repo.git("commit", "-qm", "f")
    repo.git("switch", "-qc", "feat")
    repo.gs("untrack", "f")
    shutil.rmtree(repo.path / "f")
    repo.write("code.txt", "feat\n")
    repo.git("commit", "-qam", "feat drops f")
    repo.git("switch", "-q", "main")
    return repo


def _tracked_on_feat(tmp_path: Path) -> Clone:
    """Branch feat tracks d (d/x.bin) and changes code.txt; back on main, which lacks d,
    with code.txt changed (not committed)."""
    repo = _repo(tmp_path)
    repo.git("switch", "-qc", "feat")
    repo.write("d/x.bin", b"x-ray")
    repo.gs("track", "d")
    repo.write("code.txt", "feat\n")
    repo.git("commit", "-qam", "feat tracks d")
    repo.git("switch", "-q", "main")
    shutil.rmtree(repo.path / "d", ignore_errors=True)
    repo.write("code.txt", "main\n")
    return repo


def _staged_gitignore(repo: Clone) -> list[str]:
    return repo.git("show", ":.gitignore").stdout.splitlines()


@pytest.mark.parametrize(
    "abandon",
    [("merge", "--abort"), ("reset", "--hard"), ("reset", "--merge")],
)
def test_abandoning_a_merge_that_removed_a_path_brings_its_files_back(
    tmp_path: Path, abandon: tuple[str, ...]
) -> None:
    """The stopped merge took the path away with its manifest; the abort put the
    manifest and its .gitignore line back and left the folder empty, silently."""
    repo = _dropped_on_feat(tmp_path)
    repo.write("code.txt", "main\n")
    repo.git("commit", "-qam", "main")
    repo.git("merge", "feat", ok=False)  # stops at code.txt
    assert not (repo.path / "f" / "z.bin").exists()
    repo.git(*abandon)
    assert repo.read("f/z.bin") == b"zulu"
    assert _states(repo) == {"f": "unchanged"}


def test_abandoning_a_merge_that_brought_a_path_into_the_users_folder_names_it(
    tmp_path: Path,
) -> None:
    """The folder was the user's before the merge, so what is in it is not removed;
    but its files, left neither tracked nor ignored, were not named either."""
    repo = _tracked_on_feat(tmp_path)
    repo.git("commit", "-qam", "main")
    repo.write("d/own.txt", "mine\n")  # the user's, untracked, before the merge
    repo.git("merge", "feat", ok=False)
    aborted = repo.git("merge", "--abort")
    assert repo.read("d/own.txt") == b"mine\n"
    assert "d is neither tracked nor ignored" in aborted.stderr


def test_an_amend_that_drops_a_manifest_keeps_its_files(tmp_path: Path) -> None:
    """`git rm X.gitstore` then `git commit --amend`: as a plain commit, the files stay
    (post-rewrite used to bring the old commit's manifests to the new one's, deleting them)."""
    repo = _repo(tmp_path)
    repo.write("d/x.bin", b"x-ray")
    repo.write("e/y.bin", b"yankee")
    repo.gs("track", "d", "e")
    repo.git("commit", "-qm", "d and e")
    repo.git("rm", "-q", "d.gitstore")
    repo.write("code.txt", "edited\n")
    repo.git("add", "code.txt")
    amended = repo.git("commit", "-q", "--amend", "-m", "e only")
    assert repo.read("d/x.bin") == b"x-ray"
    assert repo.read("e/y.bin") == b"yankee"
    assert "d" not in amended.stderr.split()


def test_a_commit_of_nested_manifests_says_the_way_out_that_keeps_both_sides(
    tmp_path: Path,
) -> None:
    """pre-commit's refresh refused with track's own hint (untrack one, then `gitstore
    track` the other), which drops the other branch's files from the merge commit."""
    repo = _branches(tmp_path)  # on part, which tracks d/sub; whole tracks d
    repo.git("merge", "--no-edit", "whole", ok=False)  # .gitignore: add/add
    repo.write(".gitignore", "/d/sub/\n/d/\n")
    repo.git("add", ".gitignore")
    refused = repo.git("commit", "-qm", "merge", ok=False)
    assert "commit refused" in refused.stderr
    assert "gitstore checkout d" in refused.stderr
    assert "gitstore track d" not in refused.stderr


def test_a_commit_after_a_merge_of_git_and_gitstore_ways_of_keeping_a_folder_is_refused(
    tmp_path: Path,
) -> None:
    """main keeps d in git, feat moved it into gitstore; the merge hook left d for the
    user to settle. The next unrelated commit settled it: it recorded d/x.txt as deleted
    from the dataset and moved git's d/new.txt into the manifest, without a word."""
    repo = _repo(tmp_path)
    repo.write("d/x.txt", "x1\n")
    repo.git("add", "d")
    repo.git("commit", "-qm", "d in git")
    repo.git("switch", "-qc", "feat")
    repo.git("rm", "-rq", "--cached", "d")
    repo.gs("track", "d")
    repo.write("f.txt", "feat\n")
    repo.git("add", "f.txt")
    repo.git("commit", "-qm", "feat moves d")
    repo.git("switch", "-q", "main")
    repo.write("d/new.txt", "new\n")
    repo.git("add", "d")
    repo.git("commit", "-qm", "main adds")
    repo.git("merge", "--no-edit", "feat")
    before = repo.git("show", "HEAD:d.gitstore").stdout
    repo.write("code.txt", "more\n")
    refused = repo.git("commit", "-qam", "unrelated", ok=False)
    assert "git tracks files inside d" in refused.stderr
    assert repo.git("show", "HEAD:d.gitstore").stdout == before
    assert repo.git("ls-files", "d").stdout.split() == ["d/new.txt"]


@pytest.mark.parametrize("staged_first", [False, True])
def test_untrack_stages_only_the_line_it_takes_out(tmp_path: Path, staged_first: bool) -> None:
    """As track does (twenty-third pass): the user's own unstaged .gitignore lines stay
    unstaged; untrack staged the whole file."""
    repo = _repo(tmp_path)
    repo.write("d/x.bin", b"x-ray")
    repo.write("e/y.bin", b"yankee")
    repo.gs("track", "d", "e")
    repo.git("commit", "-qm", "d and e")
    text = repo.read(".gitignore").decode()
    if staged_first:
        repo.write(".gitignore", text + "staged.tmp\n")
        repo.git("add", ".gitignore")
    repo.write(".gitignore", repo.read(".gitignore").decode() + "*.log\n")
    repo.gs("untrack", "d")
    staged = _staged_gitignore(repo)
    assert "/d/" not in staged and "/e/" in staged
    assert "*.log" not in staged
    assert ("staged.tmp" in staged) is staged_first
    assert "*.log" in repo.read(".gitignore").decode().splitlines()


@pytest.mark.parametrize("how", ["track", "pre-commit"])
def test_a_gitignore_git_does_not_know_gets_only_gitstores_lines_staged(
    tmp_path: Path, how: str
) -> None:
    """A private .gitignore never added: its lines are the user's unstaged ones, and were
    staged (and committed) whole with the first tracked path."""
    repo = _repo(tmp_path)
    repo.write(".gitignore", "# my notes\nsecret.env\n")
    repo.write("d/x.bin", b"x-ray")
    repo.gs("track", "d")
    if how == "pre-commit":
        repo.git("rm", "-qf", "--cached", ".gitignore")
        repo.git("commit", "-qm", "d")
        staged = repo.git("show", "HEAD:.gitignore").stdout.splitlines()
    else:
        staged = _staged_gitignore(repo)
    assert staged == ["/d/"]
    assert repo.read(".gitignore").decode().splitlines() == ["# my notes", "secret.env", "/d/"]


def test_a_stash_keeping_the_index_keeps_a_new_paths_files(tmp_path: Path) -> None:
    """`git stash --keep-index` puts the staged manifest and `.gitignore` line back after
    its reset: the reset took the path's files (and said the manifest was removed),
    leaving a tracked path with no files."""
    repo = _repo(tmp_path)
    repo.write("d/x.bin", b"x-ray")
    repo.gs("track", "d")  # staged, not committed
    repo.write("code.txt", "work in progress\n")
    stashed = repo.git("stash", "--keep-index")
    assert repo.read("d/x.bin") == b"x-ray"
    assert _states(repo) == {"d": "unchanged"}
    assert "removed" not in stashed.stderr


def test_a_post_checkout_killed_during_its_fetch_leaves_the_path_marked(team) -> None:
    """Ctrl-C or a kill while the hook fetched (before it wrote anything) left the old
    branch's files under the new manifest with no mark: status took them for edits, the
    commit's way out offered to record them, and a second `git checkout` did nothing."""
    alice, bob, _origin, _store = team
    bob.gs("install")
    bob.gs("pull")
    alice.git("switch", "-qc", "feat")
    big = os.urandom(1 << 20) * 80  # a resumable download: the fault can stop it part-way
    alice.write("data/big.bin", big)
    alice.commit_data("feat: big")
    alice.git("push", "-q", "origin", "feat")
    bob.git("fetch", "-q", "origin")
    bob.env["GITSTORE_FAULT"] = "kill-range:2"
    try:
        bob.git("checkout", "-q", "feat", ok=False)  # the hook's status is git's
    finally:
        del bob.env["GITSTORE_FAULT"]
    assert not (bob.path / "data" / "big.bin").exists()
    status = bob.gs("status")
    assert "data was left part-way" in status.stderr
    assert "gitstore pull data" in status.stderr
    bob.gs("pull", "data")
    assert bob.read("data/big.bin") == big
    assert _states(bob) == {"data": "unchanged"}


def test_the_gitignore_of_an_index_without_one_keeps_the_committed_lines(tmp_path: Path) -> None:
    """Twenty-fifth pass: after `git rm --cached .gitignore`, a new tracked path got a
    .gitignore of its own line alone staged, dropping the lines of the paths tracked so
    far (a clone then offered their payload to `git add -A`)."""
    repo = _repo(tmp_path)
    for name in ("d", "g"):
        repo.write(f"{name}/{name}.bin", name.encode())
    repo.gs("track", "d", "g")
    repo.git("commit", "-qm", "d and g")
    repo.git("rm", "-q", "--cached", ".gitignore")
    repo.write(".gitignore", repo.read(".gitignore").decode() + "*.mine\n")
    repo.write("e/e.bin", b"e")
    repo.gs("track", "e")
    assert _staged_gitignore(repo) == ["/d/", "/g/", "/e/"]


@pytest.mark.parametrize("abandon", [("reset", "--hard"), ("checkout", "-f")])
def test_a_path_removed_by_an_abandoned_merge_is_not_brought_back_later(
    tmp_path: Path, abandon: tuple[str, ...]
) -> None:
    """Twenty-fifth pass: the note of a path the stopped merge removed outlived the
    operation, and a later `git cherry-pick -n` brought back files deleted on purpose."""
    repo = _dropped_on_feat(tmp_path)
    repo.git("switch", "-qc", "other")
    repo.write("o.txt", "o\n")
    repo.git("add", "o.txt")
    repo.git("commit", "-qm", "o")
    repo.git("switch", "-q", "main")
    repo.write("code.txt", "main\n")
    repo.git("commit", "-qam", "main")
    repo.git("merge", "feat", ok=False)
    repo.git(*abandon)
    assert repo.read("f/z.bin") == b"zulu"
    shutil.rmtree(repo.path / "f")  # on purpose
    repo.git("cherry-pick", "-n", "other")
    assert not (repo.path / "f").exists()


def test_an_abandoned_merge_names_nothing_where_git_keeps_the_folder(tmp_path: Path) -> None:
    """Twenty-fifth pass: "d is neither tracked nor ignored" where git keeps d's files
    and the merge, which left d alone, brought nothing there."""
    repo = _tracked_on_feat(tmp_path)
    repo.write("d/readme.md", "readme\n")
    repo.git("add", "-A")
    repo.git("commit", "-qm", "main keeps d in git")
    repo.git("merge", "feat", ok=False)
    aborted = repo.git("merge", "--abort")
    assert "neither tracked nor ignored" not in aborted.stderr
    assert repo.read("d/readme.md") == b"readme\n"


@pytest.mark.parametrize("drops", [True, False])
def test_an_abandoned_octopus_merge_is_undone_like_any_merge(tmp_path: Path, drops: bool) -> None:
    """Twenty-fifth pass: git's octopus strategy writes the index with `git read-tree`
    before MERGE_HEAD exists, so nothing was noted: its abort left a path it removed
    unmaterialised, or a path it added unignored (`git add -A` then committed it)."""
    repo = _repo(tmp_path)
    if drops:
        repo.write("f/z.bin", b"zulu")
        repo.gs("track", "f")
        repo.git("commit", "-qm", "f")
    repo.git("switch", "-qc", "feat1")
    if drops:
        repo.gs("untrack", "f")
        shutil.rmtree(repo.path / "f")
    else:
        repo.write("n/n.bin", b"november")
        repo.gs("track", "n")
    repo.write("one.txt", "one\n")
    repo.git("add", "one.txt")
    repo.git("commit", "-qm", "feat1")
    if not drops:
        shutil.rmtree(repo.path / "n")
    repo.git("switch", "-qc", "feat2", "main")
    repo.write("two.txt", "two\n")
    repo.git("add", "two.txt")
    repo.git("commit", "-qm", "feat2")
    repo.git("switch", "-q", "main")
    repo.write("m.txt", "m\n")
    repo.git("add", "m.txt")
    repo.git("commit", "-qm", "main moves")
    repo.git("merge", "--no-commit", "feat1", "feat2")
    if drops:  # the merge took f away with its manifest
        assert not (repo.path / "f" / "z.bin").exists()
    else:
        assert repo.read("n/n.bin") == b"november"
    repo.git("merge", "--abort")
    if drops:
        assert repo.read("f/z.bin") == b"zulu"
        assert _states(repo) == {"f": "unchanged"}
    else:
        assert not (repo.path / "n").exists()
        assert repo.git("status", "--porcelain").stdout == ""


def test_a_stash_keeping_an_index_without_the_line_leaves_no_payload_unignored(
    tmp_path: Path,
) -> None:
    """Twenty-fifth pass: the manifest staged, its .gitignore line not: the files kept
    through `git stash --keep-index` waited unignored until the pop."""
    repo = _repo(tmp_path)
    repo.write("d/x.bin", b"delta")
    repo.gs("track", "d")
    repo.git("commit", "-qm", "d")  # a committed .gitignore
    repo.write("n/x.bin", b"november")
    repo.gs("track", "n")
    repo.git("restore", "--staged", ".gitignore")
    repo.write("code.txt", "work in progress\n")
    repo.git("stash", "--keep-index")
    assert "?? n/" not in repo.git("status", "--porcelain").stdout
    repo.git("stash", "pop")
    assert repo.read("n/x.bin") == b"november"


def test_an_am_abort_does_not_repeat_a_stale_line(tmp_path: Path) -> None:
    """Twenty-fifth pass: `git am --abort` of a patch that tracked d in the user's own
    folder named d/own.txt "left alone ... `gitstore checkout --force d`" once more, a
    command that then fails (d is no longer tracked), before the right line."""
    repo = _tracked_on_feat(tmp_path)
    repo.git("commit", "-qam", "main")
    repo.write("d/own.txt", "mine\n")
    patch = repo.git("format-patch", "-1", "feat", "-o", str(tmp_path / "patches")).stdout
    stopped = repo.git("am", "-3", patch.strip(), ok=False)
    assert "left d/own.txt alone" in stopped.stderr
    aborted = repo.git("am", "--abort")
    assert "left d/own.txt alone" not in aborted.stderr
    assert "d is neither tracked nor ignored" in aborted.stderr
    assert repo.read("d/own.txt") == b"mine\n"


def test_a_post_checkout_interrupted_in_its_start_up_leaves_the_paths_marked(team) -> None:
    """Twenty-sixth pass: Ctrl-C in the hook's first ~40 ms, before it knew what changed,
    marked nothing: the old branch's files passed for edits of the new manifest's."""
    alice, bob, _origin, _store = team
    bob.gs("install")
    bob.gs("pull")
    alice.git("switch", "-qc", "feat")
    alice.write("data/a.bin", b"alpha on feat")
    alice.commit_data("feat: a")
    alice.git("push", "-q", "origin", "feat")
    bob.git("fetch", "-q", "origin")
    bob.env["GITSTORE_FAULT"] = "int-hook:1"
    try:
        switched = bob.git("checkout", "-q", "feat", ok=False)
    finally:
        del bob.env["GITSTORE_FAULT"]
    assert "gitstore: interrupted" in switched.stderr
    assert bob.read("data/a.bin") == b"alpha v1"  # the hook wrote nothing
    status = bob.gs("status")
    assert "data was left part-way" in status.stderr
    bob.gs("pull", "data")
    assert bob.read("data/a.bin") == b"alpha on feat"
    assert _states(bob) == {"data": "unchanged"}
