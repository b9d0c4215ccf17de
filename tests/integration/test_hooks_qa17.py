"""History-rewriting git workflows (seventeenth QA pass, docs/reliability.md): each test
is a finding, run through the real git binary with gitstore's hooks installed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.test_git_workflows_fifth import _states
from tests.integration.test_hooks import Clone, solo
from tests.integration.test_hooks import team as _team

team = _team  # the fixture: alice has pushed data/ (a.bin, b.bin) to a folder remote


@pytest.mark.parametrize(
    "discard",
    [
        ("checkout", "-f"),
        ("checkout", "-qf", "HEAD"),
        ("switch", "--discard-changes", "main"),
        ("checkout", "--force", "other"),  # a branch whose manifests are HEAD's
        ("checkout", "--f"),  # git's abbreviation of --force
    ],
)
def test_a_forced_checkout_discards_the_data_with_the_manifest(team, discard) -> None:
    """As `git reset --hard` does: the files follow the manifests git put back, and a
    later commit in the folder cannot bring the discarded version back."""
    alice, _bob, _origin, _store = team
    alice.git("branch", "other")
    alice.write("data/a.bin", b"alpha v2, to be discarded")
    alice.gs("track", "data")  # staged, not committed
    alice.git(*discard)
    assert alice.read("data/a.bin") == b"alpha v1"
    assert _states(alice) == {"data": "unchanged"}
    alice.write("data/b.bin", b"bravo v2")
    alice.write("code.py", "print(2)\n")
    alice.git("commit", "-qam", "b v2")  # the hook refreshes data/: b.bin only
    assert alice.gs("cat", "data/a.bin", "--rev", "HEAD").stdout == "alpha v1"
    assert alice.gs("cat", "data/b.bin", "--rev", "HEAD").stdout == "bravo v2"


def test_a_forced_checkout_keeps_an_edit_not_in_the_cache(team) -> None:
    """Checkout's rule holds: a file whose content is nowhere else is left alone, named."""
    alice, _bob, _origin, _store = team
    alice.write("data/a.bin", b"alpha v2")
    alice.gs("track", "data")
    alice.write("data/a.bin", b"alpha v3, never tracked")
    switched = alice.git("checkout", "-f")
    assert alice.read("data/a.bin") == b"alpha v3, never tracked"
    assert "data/a.bin" in switched.stderr


def test_a_branch_named_with_an_f_is_no_force(team) -> None:
    """`git checkout -b fix`: the f of the branch name is no -f; nothing is brought."""
    alice, _bob, _origin, _store = team
    alice.write("data/a.bin", b"alpha v2")
    alice.gs("track", "data")
    alice.git("checkout", "-qbfix")
    alice.git("checkout", "-q", "-b", "ff")
    assert alice.read("data/a.bin") == b"alpha v2"
    assert _states(alice) == {"data": "unchanged"}


@pytest.mark.parametrize("backend", [("--apply",), ("--whitespace=fix",), ()])
def test_a_rebase_of_either_backend_leaves_the_new_tips_data(team, backend) -> None:
    """The apply backend checks out the new base (hook and all) before its rebase folder
    exists: its end must bring the branch's own data changes, not only the delta from
    the old tip, and an unrelated commit afterwards must not revert them."""
    alice, _bob, _origin, _store = team
    alice.write("model.bin", b"model v1")
    alice.gs("track", "model.bin")
    alice.git("commit", "-qm", "model v1")
    alice.git("switch", "-qc", "feat")
    alice.write("data/a.bin", b"alpha feat")
    alice.write("data/new.bin", b"new on feat")
    alice.commit_data("feat: data")
    alice.write("feats/x.bin", b"a path the branch adds")  # the new base's checkout removes it
    alice.gs("track", "feats")
    alice.git("commit", "-qm", "feat: feats")
    alice.write("code.py", "print('feat')\n")
    alice.git("commit", "-qam", "feat: code")
    alice.git("switch", "-q", "main")
    alice.write("model.bin", b"model on main")
    alice.gs("track", "model.bin")
    alice.git("commit", "-qm", "main: model")
    alice.git("switch", "-q", "feat")
    alice.git("rebase", "-q", *backend, "main")
    assert alice.read("data/a.bin") == b"alpha feat"
    assert alice.read("data/new.bin") == b"new on feat"
    assert alice.read("model.bin") == b"model on main"
    assert alice.read("feats/x.bin") == b"a path the branch adds"
    assert _states(alice) == {"data": "unchanged", "feats": "unchanged", "model.bin": "unchanged"}
    alice.write("code.py", "print('after')\n")
    alice.git("commit", "-qam", "code only")
    assert alice.gs("cat", "data/a.bin", "--rev", "HEAD").stdout == "alpha feat"


def _series(alice, tmp_path: Path) -> list[str]:
    """Two patches on a branch: p1 changes data (a.bin, new.bin), p2 code; back on main."""
    alice.git("switch", "-qc", "feat")
    alice.write("data/a.bin", b"alpha p1")
    alice.write("data/new.bin", b"new in p1")
    alice.commit_data("p1: data")
    alice.write("code.py", "print('p2')\n")
    alice.git("commit", "-qam", "p2: code")
    patches = tmp_path / "patches"
    alice.git("format-patch", "-q", "--no-textconv", "-2", "-o", str(patches))
    alice.git("switch", "-q", "main")
    return sorted(str(p) for p in patches.iterdir())


def test_git_am_brings_each_patchs_data(team, tmp_path: Path) -> None:
    """post-applypatch: after each patch git am commits, its manifests' data is brought."""
    alice, _bob, _origin, _store = team
    alice.git("am", "-q", *_series(alice, tmp_path))
    assert alice.read("data/a.bin") == b"alpha p1"
    assert alice.read("data/new.bin") == b"new in p1"
    assert _states(alice) == {"data": "unchanged"}
    alice.write("data/b.bin", b"bravo edited")
    alice.write("code.py", "print('after')\n")
    alice.git("commit", "-qam", "edit b")
    assert alice.gs("cat", "data/a.bin", "--rev", "HEAD").stdout == "alpha p1"
    assert alice.gs("cat", "data/b.bin", "--rev", "HEAD").stdout == "bravo edited"


def test_git_am_without_hooks_then_an_edit_in_the_folder_is_refused(team, tmp_path: Path) -> None:
    """With no hook to bring the series' data (a git client without hooks), a commit that
    would record the files from before it (HEAD's reflog knows them) is refused."""
    alice, _bob, _origin, _store = team
    alice.git("-c", "core.hooksPath=/dev/null", "am", "-q", *_series(alice, tmp_path))
    assert alice.read("data/a.bin") == b"alpha v1"
    alice.write("data/b.bin", b"bravo edited")
    refused = alice.git("commit", "-qam", "edit b", ok=False)
    assert "data/a.bin" in refused.stderr and "gitstore checkout data" in refused.stderr
    assert alice.gs("cat", "data/a.bin", "--rev", "HEAD").stdout == "alpha p1"
    alice.gs("checkout", "data", ok=False)  # brings a.bin and new.bin; keeps the edit of b
    assert alice.read("data/a.bin") == b"alpha p1"
    alice.commit_data("edit b")
    assert alice.gs("cat", "data/new.bin", "--rev", "HEAD").stdout == "new in p1"
    assert alice.gs("cat", "data/b.bin", "--rev", "HEAD").stdout == "bravo edited"


def test_git_am_stopped_at_a_conflict_then_continued(team, tmp_path: Path) -> None:
    """A patch that does not apply stops the run (no hook brings anything while it waits);
    `git am --skip` goes on, and the next patch's data is brought."""
    alice, _bob, _origin, _store = team
    patches = _series(alice, tmp_path)
    alice.write("code.py", "print('conflicting')\n")
    alice.git("commit", "-qam", "main: code")
    stopped = alice.git("am", "-q", *patches, ok=False)
    assert stopped.returncode != 0
    assert alice.read("data/a.bin") == b"alpha p1"  # p1 applied and brought
    alice.git("am", "--skip")  # p2 (code) dropped
    assert _states(alice) == {"data": "unchanged"}
    assert not (alice.path / ".git" / "rebase-apply").exists()


def test_a_refusal_names_every_path_at_once(team) -> None:
    """Two tracked paths behind their manifests (`git stash --keep-index` keeps the staged
    manifests and puts the files back): one refusal names both, the hint one command."""
    alice, _bob, _origin, _store = team
    alice.write("model.bin", b"model v1")
    alice.gs("track", "model.bin")
    alice.git("commit", "-qm", "model v1")
    alice.write("data/a.bin", b"alpha v2")
    alice.write("model.bin", b"model v2")
    alice.gs("track", "data", "model.bin")
    alice.write("code.py", "print(2)\n")
    alice.git("stash", "-q", "--keep-index")
    refused = alice.git("commit", "-qm", "v2", ok=False)
    assert "data/a.bin on disk" in refused.stderr and "model.bin on disk" in refused.stderr
    assert "gitstore checkout data model.bin" in refused.stderr
    alice.gs("checkout", "data", "model.bin")
    alice.git("commit", "-qm", "v2")
    assert alice.gs("cat", "model.bin", "--rev", "HEAD").stdout == "model v2"


def test_rebase_quit_then_a_commit_is_refused(team) -> None:
    """`git rebase --quit` runs no hook: the old tip's files stay under the stop's
    manifests, and a commit that would record them is refused (the reflog knows them)."""
    alice, _bob, _origin, _store = team
    alice.write("data/a.bin", b"alpha v2")
    alice.commit_data("v2")
    alice.write("data/a.bin", b"alpha v3")
    alice.commit_data("v3")
    env_editor = ("-c", "sequence.editor=sed -i 1s/^pick/edit/")
    alice.git(*env_editor, "rebase", "-q", "-i", "HEAD~2")
    alice.git("rebase", "--quit")
    assert alice.read("data/a.bin") == b"alpha v3"  # as git leaves it: no hook ran
    alice.write("data/b.bin", b"bravo edited")
    refused = alice.git("commit", "-qam", "edit b", ok=False)
    assert "data/a.bin" in refused.stderr, refused.stderr


def test_a_patch_made_with_git_diff_names_the_diff_view(team, tmp_path: Path) -> None:
    """git applies the diff driver's textconv to `git diff > file` too: a manifest written
    from such a patch is named as the view it is, with the way to make patches."""
    alice, _bob, _origin, _store = team
    alice.git("switch", "-qc", "feat")
    alice.write("ds/x.bin", b"x")
    alice.gs("track", "ds")
    alice.git("commit", "-qm", "ds")
    patch = tmp_path / "p.diff"
    patch.write_bytes(alice.git("diff", "main", "feat").stdout.encode())
    alice.git("switch", "-q", "main")
    alice.git("apply", "--index", str(patch))
    status = alice.gs("status", ok=False)
    assert "ds.gitstore holds the readable view `git diff` shows of a manifest" in status.stderr
    alice.git("reset", "-q", "--hard")
    raw = tmp_path / "raw.diff"
    raw.write_bytes(alice.git("diff", "--no-textconv", "main", "feat").stdout.encode())
    alice.git("apply", "--index", str(raw))  # the documented way round-trips
    alice.gs("checkout", "ds")  # its object is in alice's cache
    assert alice.read("ds/x.bin") == b"x"
    assert _states(alice)["ds"] == "unchanged"


def test_a_file_left_alone_at_a_rebases_end_is_named_once(team) -> None:
    """The end of a rebase brings changed manifests, then unreached ones: a path in both
    passes names its file left alone once."""
    alice, _bob, _origin, _store = team
    alice.git("switch", "-qc", "feat")
    alice.write("code.py", "print('feat')\n")
    alice.git("commit", "-qam", "feat: code")
    alice.git("switch", "-q", "main")
    alice.write("data/a.bin", b"alpha main")
    alice.commit_data("main: data")
    alice.git("switch", "-q", "feat")
    alice.write("data/b.bin", b"an edit of the user's, never tracked")
    rebased = alice.git("rebase", "main")
    assert rebased.stderr.count("left data/b.bin alone") == 1, rebased.stderr
    assert alice.read("data/b.bin") == b"an edit of the user's, never tracked"
    assert alice.read("data/a.bin") == b"alpha main"


def test_the_reflog_guard_reads_past_a_long_subject(team) -> None:
    """A commit subject of 6,000 characters makes a reflog line of 6 KiB: the guard still
    finds where HEAD was before it (reading the reflog from its end, line by line)."""
    alice, _bob, _origin, _store = team
    alice.git("switch", "-qc", "feat")
    alice.write("f1.py", "f1\n")
    alice.git("add", "f1.py")
    alice.git("commit", "-qm", "x" * 6000)
    alice.write("f2.py", "f2\n")
    alice.git("add", "f2.py")
    alice.git("commit", "-qm", "f2")
    alice.git("switch", "-q", "main")
    alice.write("data/a.bin", b"alpha main")
    alice.commit_data("main: data")
    alice.git("switch", "-q", "feat")
    alice.git("-c", "sequence.editor=sed -i 2s/^pick/edit/", "rebase", "-q", "-i", "main")
    alice.git("rebase", "--quit")
    assert alice.read("data/a.bin") == b"alpha v1"  # the old tip's, as git leaves it
    alice.write("data/b.bin", b"bravo edited")
    refused = alice.git("commit", "-qam", "edit b", ok=False)
    assert "data/a.bin" in refused.stderr, refused.stderr


def test_a_clone_set_up_before_post_applypatch_gets_it(team, tmp_path: Path) -> None:
    """As post-index-change before it: the first of the older scripts that runs the new
    gitstore adds the hook where no file of that name is; `git am` then brings the data."""
    alice, _bob, _origin, _store = team
    hooks = alice.path / ".git" / "hooks"
    (hooks / "post-applypatch").unlink()
    patches = _series(alice, tmp_path)  # its switches run post-checkout, one of ours
    added = hooks / "post-applypatch"
    assert added.read_bytes().startswith(b"#!/bin/sh\n# gitstore-hook: post-applypatch ")
    alice.git("am", "-q", *patches)
    assert alice.read("data/a.bin") == b"alpha p1"


@pytest.mark.parametrize(
    "undo",
    [
        ("merge", "--abort"),
        ("reset", "--hard"),
        ("am", "--skip"),
        ("checkout", "-f"),  # twentieth pass: a forced checkout cancels the merge too
        ("checkout", "-q", "--force", "-B", "other"),
    ],
)
def test_abandoning_a_stopped_change_takes_away_the_path_it_added(team, tmp_path, undo) -> None:
    """A merge (or `git am -3`) that stops at a conflict has brought the path it adds;
    abandoning it takes the manifest and its .gitignore line away: the files go too
    (their content is in the cache), not left for `git add -A` to commit into git."""
    alice, _bob, _origin, _store = team
    alice.git("switch", "-qc", "two")
    alice.write("data/a.bin", b"alpha two")
    alice.write("d3/x.bin", b"a path two adds")
    alice.gs("track", "data", "d3")
    alice.git("commit", "-qm", "two")
    alice.git("switch", "-q", "main")
    alice.write("data/a.bin", b"alpha main")
    alice.commit_data("main")
    if undo[0] == "am":
        patches = tmp_path / "p"
        alice.git("format-patch", "-q", "--no-textconv", "-1", "two", "-o", str(patches))
        alice.git("am", "-3", *map(str, patches.iterdir()), ok=False)
    else:
        alice.git("merge", "two", ok=False)
    assert alice.read("d3/x.bin") == b"a path two adds"  # brought at the stop
    undone = alice.git(*undo)
    assert not (alice.path / "d3").exists()
    assert "gitstore: removed d3 with its manifest" in undone.stderr  # twentieth pass
    assert alice.git("status", "--porcelain").stdout == ""


def test_a_manifest_removed_with_git_rm_keeps_its_files(team) -> None:
    """`git rm` of a manifest alone (its .gitignore line stays): the files stay through
    later resets, as the user left them."""
    alice, _bob, _origin, _store = team
    alice.write("d3/x.bin", b"kept")
    alice.gs("track", "d3")
    alice.git("commit", "-qm", "d3")
    alice.git("rm", "-q", "d3.gitstore")
    alice.git("commit", "-qm", "no more d3 manifest")
    alice.write("code.py", "print(5)\n")
    alice.git("reset", "-q", "--hard")
    assert alice.read("d3/x.bin") == b"kept"


def test_a_git_am_series_names_a_file_left_alone_once(team, tmp_path: Path) -> None:
    """Each patch of a series that touches the folder leaves the user's edit alone: the
    run names it once, not once a patch."""
    alice, _bob, _origin, _store = team
    alice.git("switch", "-qc", "s")
    for i in range(3):
        alice.write("data/a.bin", f"alpha p{i}".encode())
        alice.commit_data(f"p{i}")
    patches = tmp_path / "pp"
    alice.git("format-patch", "-q", "--no-textconv", "-o", str(patches), "main..s")
    alice.git("switch", "-q", "main")
    alice.write("data/b.bin", b"an edit of the user's, never tracked")
    applied = alice.git("am", "-q", *sorted(map(str, patches.iterdir())))
    assert applied.stderr.count("left data/b.bin alone") == 1, applied.stderr
    assert alice.read("data/a.bin") == b"alpha p2"
    assert alice.read("data/b.bin") == b"an edit of the user's, never tracked"


def _diverged(
    tmp_path: Path,
    feat: dict[str, bytes],
    on_feat: Callable[[Clone], object],
    main: dict[str, bytes],
    on_main: Callable[[Clone], object],
    clash: bool = True,
    base: dict[str, bytes] | None = None,
) -> Clone:
    """A repository whose branches feat and main each wrote ``files`` and ran ``on_*`` on
    them after a common commit of code (and of ``base``, tracked); with ``clash``, both
    change code.txt, so that merging feat into main stops at a conflict there."""
    repo = solo(tmp_path / "repo", tmp_path / "cache")
    repo.write("code.txt", "code\n")
    for name, data in (base or {}).items():
        repo.write(name, data)
        repo.gs("track", name)
    repo.git("add", "-A")
    repo.git("commit", "-qm", "code")
    for branch, files, act in (("feat", feat, on_feat), ("main", main, on_main)):
        repo.git("switch", "-q", *(["-c"] if branch == "feat" else []), branch)
        for name, data in files.items():
            repo.write(name, data)
        act(repo)
        if clash:
            repo.write("code.txt", f"{branch}\n")
        repo.git("add", "-A")
        repo.git("commit", "-qm", branch)
    return repo


@pytest.mark.parametrize("main_tracks, feat_tracks", [("d", "d/sub"), ("d/sub", "d")])
def test_a_merge_of_branches_that_track_a_folder_differently_writes_nothing_over_it(
    tmp_path: Path, main_tracks: str, feat_tracks: str
) -> None:
    """Twentieth QA pass: one branch tracks d, the other d/sub. The stopped merge brought
    the other branch's d/sub over the files d's manifest names, its abort left them, and
    the next unrelated commit recorded them into d.gitstore. Nested manifests are now
    left as they are, named, and a commit of both is refused."""
    repo = _diverged(
        tmp_path,
        {"d/sub/x": b"X feat", "d/y": b"Y"},
        lambda r: r.gs("track", feat_tracks),
        {"d/sub/x": b"X main", "d/y": b"Y"},
        lambda r: r.gs("track", main_tracks),
    )
    stopped = repo.git("merge", "feat", ok=False)
    assert "which is inside d, tracked by d.gitstore" in stopped.stderr, stopped.stderr
    assert repo.read("d/sub/x") == b"X main"
    repo.git("checkout", "--theirs", "code.txt", ".gitignore")
    repo.git("add", "code.txt", ".gitignore")
    refused = repo.git("commit", "-qm", "merged", ok=False)
    assert refused.returncode != 0 and "d" in refused.stderr
    repo.git("merge", "--abort")
    assert repo.read("d/sub/x") == b"X main"
    repo.write("code.txt", "more\n")
    repo.git("commit", "-qam", "unrelated")
    assert repo.gs("cat", "d/sub/x", "--rev", "HEAD").stdout == "X main"
    assert repo.git("status", "--porcelain").stdout == ""


def test_a_merge_that_tracks_a_folder_git_keeps_leaves_gits_files_alone(tmp_path: Path) -> None:
    """Twentieth QA pass: main keeps d in git, feat tracks it with gitstore. The stopped
    merge wrote feat's d/a over git's file and deleted d/b (their bytes happened to be
    in the cache); after the abort `git commit -a` would have recorded both in git."""

    def into_git(r: Clone) -> None:
        r.gs("track", "d")  # the bytes go into the cache, then d goes to git
        r.gs("untrack", "d")

    repo = _diverged(
        tmp_path,
        {"d/a": b"A feat"},
        lambda r: r.gs("track", "d"),
        {"d/a": b"A main", "d/b": b"B main"},
        into_git,
    )
    stopped = repo.git("merge", "feat", ok=False)
    assert "left d as it is: git tracks its files" in stopped.stderr, stopped.stderr
    assert repo.read("d/a") == b"A main" and repo.read("d/b") == b"B main"
    repo.git("merge", "--abort")
    assert repo.git("status", "--porcelain").stdout == ""


@pytest.mark.parametrize(
    "later", [("cherry-pick", "feat"), ("reset", "-q", "--keep", "HEAD"), ("checkout", "-qf")]
)
@pytest.mark.parametrize("committed", [True, False])
def test_files_the_user_stopped_tracking_by_hand_survive_later_commands(
    tmp_path: Path, later: tuple[str, ...], committed: bool
) -> None:
    """Twenty-first QA pass: a path untracked by hand (manifest and .gitignore line
    removed with git) looked like an abandoned merge's to any later cherry-pick, reset
    or forced checkout, which deleted its files; uncommitted, the manifest was then only
    a dangling blob. Only paths a stopped operation brought are taken away now."""
    repo = _diverged(tmp_path, {"f.txt": b"f"}, lambda r: None, {}, lambda r: None)
    repo.write("d/a", b"the user's")
    repo.gs("track", "d")
    repo.git("commit", "-qm", "track d")
    repo.git("rm", "-q", "--cached", "d.gitstore")
    (repo.path / "d.gitstore").unlink()
    repo.write(".gitignore", "")
    repo.git("add", ".gitignore")
    if committed:
        repo.git("commit", "-qm", "stop tracking d by hand")
    done = repo.git(*later, ok=None)
    assert repo.read("d/a") == b"the user's", done.stderr
    assert "removed d" not in done.stderr


def test_track_refuses_while_gitignore_holds_conflict_markers(tmp_path: Path) -> None:
    """Twenty-first QA pass: `gitstore track` in a merge stopped at a conflict in
    .gitignore staged it, markers and all: git took the conflict for resolved."""
    repo = _diverged(
        tmp_path,
        {"d/a": b"a"},
        lambda r: r.gs("track", "d"),
        {".gitignore": "*.tmp\n"},
        lambda r: None,
    )
    stopped = repo.git("merge", "feat", ok=False)
    assert "CONFLICT" in stopped.stdout + stopped.stderr
    repo.write("e/e", b"e")
    refused = repo.gs("track", "e", ok=False)
    assert ".gitignore has merge conflict markers" in refused.stderr
    assert not (repo.path / "e.gitstore").exists()
    assert repo.git("ls-files", "-u", ".gitignore").stdout  # still unmerged, as git left it


def test_the_way_out_of_two_ways_of_tracking_keeps_the_merged_version(tmp_path: Path) -> None:
    """Twenty-first QA pass: the hint said untrack d/sub then `gitstore track d`, which
    recorded the files on disk, not the merged d: the other branch's d/y was dropped."""
    repo = _diverged(
        tmp_path,
        {"d/sub/x": b"X feat", "d/y": b"Y feat"},
        lambda r: r.gs("track", "d"),
        {"d/sub/x": b"X main"},
        lambda r: r.gs("track", "d/sub"),
    )
    stopped = repo.git("merge", "feat", ok=False)
    assert "`gitstore untrack d/sub` then `gitstore checkout d`" in stopped.stderr
    repo.write(".gitignore", "/d/\n")
    repo.write("code.txt", "merged\n")
    repo.git("add", ".gitignore", "code.txt")
    repo.gs("untrack", "d/sub")
    repo.gs("checkout", "d")
    repo.git("add", "-A")
    repo.git("commit", "-qm", "merged")
    assert repo.gs("cat", "d/y", "--rev", "HEAD").stdout == "Y feat"
    assert repo.gs("cat", "d/sub/x", "--rev", "HEAD").stdout == "X feat"
    assert repo.git("status", "--porcelain").stdout == ""


def test_track_refuses_a_symlinked_gitignore(tmp_path: Path) -> None:
    """Twenty-first QA pass: track replaced a symlinked .gitignore by a file, silently
    (git does not read an in-tree .gitignore that is a symbolic link)."""
    repo = solo(tmp_path / "repo", tmp_path / "cache")
    repo.write("conf/gi", "*.tmp\n")
    (repo.path / ".gitignore").symlink_to("conf/gi")
    repo.write("d/a", b"a")
    refused = repo.gs("track", "d", ok=False)
    assert ".gitignore is a symbolic link" in refused.stderr
    assert (repo.path / ".gitignore").is_symlink() and not (repo.path / "d.gitstore").exists()


@pytest.mark.parametrize(
    "start", [("cherry-pick", "-n", "feat"), ("merge", "-q", "--no-commit", "feat")]
)
@pytest.mark.parametrize("later", [("reset", "-q", "--keep", "HEAD"), ("checkout", "-qf")])
def test_files_untracked_by_hand_after_a_no_commit_pick_survive(
    tmp_path: Path, start: tuple[str, ...], later: tuple[str, ...]
) -> None:
    """Twenty-second QA pass: after `cherry-pick -n` (or `merge --no-commit` then
    `--quit`) brought d, the user stopped tracking it by hand; HEAD had not moved, and
    a later reset or forced checkout took d for the abandoned operation's."""
    repo = _diverged(
        tmp_path,
        {"d/f": b"d1"},
        lambda r: r.gs("track", "d"),
        {"m.txt": b"m"},
        lambda r: None,
        clash=False,
    )
    repo.git(*start)
    if start[0] == "merge":
        repo.git("merge", "--quit")
    assert repo.read("d/f") == b"d1"
    repo.git("rm", "-q", "--cached", "d.gitstore")
    (repo.path / "d.gitstore").unlink()
    repo.write(".gitignore", "")
    repo.git("add", ".gitignore")
    done = repo.git(*later, ok=None)
    assert repo.read("d/f") == b"d1", done.stderr
    assert "removed d" not in done.stderr


def test_an_abandoned_merge_leaves_files_that_were_there_before_it(tmp_path: Path) -> None:
    """Twenty-second QA pass: p/ already held the bytes the merged manifest names (the
    user's own, untracked); the merge wrote nothing there, and its abort deleted them."""
    repo = _diverged(tmp_path, {"p/f": b"same"}, lambda r: r.gs("track", "p"), {}, lambda r: None)
    repo.write("p/f", b"same")  # on main: the user's, neither tracked nor committed
    repo.git("merge", "feat", ok=False)
    repo.git("merge", "--abort")
    assert repo.read("p/f") == b"same"


def test_a_revert_of_a_removal_by_hand_brings_the_files(tmp_path: Path) -> None:
    """Twenty-second QA pass: a path removed by hand (manifest `git rm`-ed, line gone,
    files deleted) and committed; reverting that commit put the manifest back but not
    the files, taken for ones `git stash -a` holds."""
    repo = _diverged(tmp_path, {}, lambda r: None, {"p/f": b"pf"}, lambda r: r.gs("track", "p"))
    repo.git("rm", "-q", "p.gitstore")
    repo.write(".gitignore", "")
    repo.git("add", ".gitignore")
    import shutil

    shutil.rmtree(repo.path / "p")
    repo.git("commit", "-qm", "remove p by hand")
    repo.git("revert", "--no-edit", "HEAD")
    assert repo.read("p/f") == b"pf"


def test_rebase_apply_of_a_branch_that_removed_a_path_leaves_it_removed(tmp_path: Path) -> None:
    """Twenty-third QA pass: the apply backend's checkout of the new base brought back a
    path the branch had removed, and the rebase's end left it there, unignored: `git add
    -A` then put the payload into git."""
    repo = _diverged(
        tmp_path,
        {},
        lambda r: (r.gs("untrack", "model.bin"), (r.path / "model.bin").unlink()),
        {"more.txt": b"m"},
        lambda r: None,
        clash=False,
        base={"model.bin": b"weights"},
    )
    repo.git("switch", "-q", "feat")
    repo.git("rebase", "-q", "--apply", "main")
    assert not (repo.path / "model.bin").exists()
    assert repo.git("status", "--porcelain").stdout == ""
