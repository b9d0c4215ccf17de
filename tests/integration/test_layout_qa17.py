"""Repository layouts at their edges (seventeenth QA pass, docs/reliability.md): each
test is a finding, run through the real git binary with gitstore's hooks installed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.integration.test_git_workflows_fifth import _states
from tests.integration.test_hooks import Clone, solo
from tests.integration.test_hooks import team as _team

team = _team  # the fixture: alice has pushed data/ to a folder remote ``store``


def test_a_sparse_linked_worktree_keeps_the_teams_remote(team) -> None:
    """A linked worktree keeps its sparse patterns in its own git dir: the committed
    config it leaves out is still read from git's index, and a push uploads."""
    alice, _bob, _origin, store = team
    wt = alice.path.parent / "alice-wt"
    alice.git("worktree", "add", "-q", "-b", "wtb", str(wt))
    linked = Clone(wt, alice.cache)
    linked.git("sparse-checkout", "set", "code")  # cone mode: .gitstore/ is left out
    assert not (wt / ".gitstore" / "config.yaml").exists()
    assert "team" in linked.gs("remote", "list").stdout
    linked.write("new.bin", b"new in the worktree")
    linked.gs("track", "new.bin")
    linked.git("commit", "-qm", "new data")
    linked.git("push", "-q", "origin", "wtb")
    assert len(list((store / "objects").glob("*/*/*"))) == 3


def test_date_revisions_in_a_shallow_clone_say_it_is_shallow(tmp_path: Path) -> None:
    """`main@{DATE}` before a shallow clone's boundary, and `origin/main~2` in a diff, name
    the shallow clone and `git fetch --unshallow`, as `HEAD~2` does; never a raw
    "object ... is not in the repository"."""
    repo = solo(tmp_path / "repo", tmp_path / "cache")
    for month in (1, 2, 3, 4):
        repo.write("model.bin", f"model {month}".encode())
        repo.gs("track", "model.bin")
        repo.env["GIT_COMMITTER_DATE"] = repo.env["GIT_AUTHOR_DATE"] = f"2026-0{month}-01T12:00Z"
        repo.git("commit", "-qm", f"model {month}")
    shallow = Clone(tmp_path / "shallow", tmp_path / "cache")
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{repo.path}", str(shallow.path)],
        check=True,
        capture_output=True,
    )
    listed = shallow.gs("ls", "main@{2026-02-15}", ok=False)
    assert "no commit at or before 2026-02-15 in this shallow clone" in listed.stderr
    assert "is not in the repository" not in listed.stderr
    diffed = shallow.gs("diff", "origin/main~2", "HEAD", ok=False)
    assert "this clone is shallow" in diffed.stderr and "--unshallow" in diffed.stderr


def test_a_submodule_moved_by_recurse_submodules_brings_its_data(tmp_path: Path) -> None:
    """git runs the submodule's post-index-change with GIT_INTERNAL_SUPER_PREFIX set,
    which every git command refuses: the hook said "not inside a git repository" and
    left the data stale. Now the submodule's data follows its new HEAD."""
    cache = tmp_path / "cache"
    sub = solo(tmp_path / "sub", cache)
    sub.write("data/img.jpg", b"image v1")
    sub.gs("track", "data")
    sub.gs("remote", "add", "store", str(tmp_path / "store"), "--default")
    sub.git("add", "-A")
    sub.git("commit", "-qm", "data v1")
    bare = tmp_path / "sub.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    sub.git("push", "-q", str(bare), "main")
    top = solo(tmp_path / "super", cache)
    top.write("README", "s\n")
    top.git("add", "README")
    top.git("commit", "-qm", "init")
    top.git("-c", "protocol.file.allow=always", "submodule", "add", "-q", str(bare), "libs/sub")
    top.git("commit", "-qm", "add sub")
    inner = Clone(top.path / "libs" / "sub", cache)
    inner.gs("install")
    inner.gs("pull")
    inner.write("data/img.jpg", b"image v2")
    inner.gs("track", "data")
    inner.git("commit", "-qm", "data v2")
    top.git("add", "libs/sub")
    top.git("commit", "-qm", "bump sub")
    inner.write("data/own.jpg", b"an edit of the user's, never tracked")
    moved = top.git("checkout", "-q", "--recurse-submodules", "HEAD~1")
    assert "not inside a git repository" not in moved.stderr, moved.stderr
    # a line about the submodule's paths says which submodule they are in
    assert "gitstore: in submodule libs/sub (paths below are in it):" in moved.stderr
    assert "left data/own.jpg alone" in moved.stderr
    (inner.path / "data" / "own.jpg").unlink()
    assert inner.read("data/img.jpg") == b"image v1"
    assert _states(inner) == {"data": "unchanged"}
    top.git("-c", "submodule.recurse=true", "switch", "-q", "-")
    assert inner.read("data/img.jpg") == b"image v2"


def _branched(
    tmp_path: Path,
    base: dict[str, bytes | str],
    base_tracks: list[str],
    feat: dict[str, bytes | str],
    feat_tracks: list[str],
) -> Clone:
    """A repository on main, whose commit "base" wrote ``base`` and tracked ``base_tracks``,
    and whose branch feat then wrote ``feat`` and tracked ``feat_tracks``."""
    repo = solo(tmp_path / "repo", tmp_path / "cache")
    for message, files, tracks in (("base", base, base_tracks), ("feat", feat, feat_tracks)):
        if message == "feat":
            repo.git("switch", "-qc", "feat")
        for name, data in files.items():
            repo.write(name, data)
        if tracks:
            repo.gs("track", *tracks)
        repo.git("add", "-A")
        repo.git("commit", "-qm", message)
    repo.git("switch", "-q", "main")
    return repo


def test_checkout_rev_leaves_out_what_the_sparse_checkout_leaves_out(tmp_path: Path) -> None:
    """`gitstore checkout REV` wrote manifests and data outside the sparse patterns, which
    the next `git switch` then half removed; now it leaves them out, as the hooks do,
    with a note, and a named path is still the user's choice."""
    both = ["datasets/train", "other/x"]
    repo = _branched(
        tmp_path,
        {"datasets/train/t.bin": b"t1", "other/x/o.bin": b"o1"},
        both,
        {"datasets/train/t.bin": b"t2", "other/x/o.bin": b"o2"},
        both,
    )
    repo.git("sparse-checkout", "set", "datasets")
    done = repo.gs("checkout", "feat")
    assert "other/x left out: outside the sparse checkout's patterns" in done.stderr
    assert repo.read("datasets/train/t.bin") == b"t2"
    assert not (repo.path / "other").exists()
    assert repo.git("ls-files", "-t", "other").stdout.startswith("S ")
    repo.gs("checkout", "HEAD")
    repo.git("switch", "-q", "feat")
    assert not (repo.path / "other").exists()


def test_a_dense_linked_worktree_is_not_judged_by_the_main_ones_patterns(
    tmp_path: Path,
) -> None:
    """git keeps sparse patterns per work tree: a linked worktree made before the main
    one went sparse has none, yet `checkout REV` there left out a manifest new at REV
    by the main work tree's cone."""
    repo = _branched(
        tmp_path,
        {"datasets/train/t.bin": b"t1"},
        ["datasets/train"],
        {"other/x/o.bin": b"o1"},
        ["other/x"],
    )
    repo.git("worktree", "add", "-q", "-b", "wt", str(tmp_path / "wt"))
    repo.git("sparse-checkout", "set", "datasets")
    linked = Clone(tmp_path / "wt", tmp_path / "cache")
    linked.env = repo.env
    assert not (linked.path / "other").exists()
    done = linked.gs("checkout", "feat")
    assert "left out" not in done.stderr
    assert linked.read("other/x/o.bin") == b"o1"
    assert not (repo.path / "other").exists()  # the main one still leaves it out


def test_a_switch_that_removes_a_nested_path_leaves_no_empty_folder(tmp_path: Path) -> None:
    """git deletes a folder with its last file; it could not delete other/ while
    other/x/ held the payload, and the hook then removed other/x/ alone."""
    repo = _branched(
        tmp_path,
        {"keep/k.bin": b"k"},
        ["keep"],
        {"other/deep/x/o.bin": b"o1", "single/f.bin": b"f"},
        ["other/deep/x", "single/f.bin"],
    )
    assert not (repo.path / "other").exists() and not (repo.path / "single").exists()
    repo.git("switch", "-q", "feat")
    assert repo.read("other/deep/x/o.bin") == b"o1" and repo.read("single/f.bin") == b"f"


def test_track_refuses_when_the_sparse_checkout_leaves_out_gitignore(tmp_path: Path) -> None:
    """Non-cone patterns that leave out the top-level .gitignore: a new one would lack the
    team's lines and git would refuse to stage it; refused before anything is written."""
    repo = solo(tmp_path / "repo", tmp_path / "cache")
    repo.write("data/a.bin", b"a")
    repo.write("src/x.py", "x\n")
    repo.gs("track", "data")
    repo.git("add", "-A")
    repo.git("commit", "-qm", "init")
    repo.git("sparse-checkout", "set", "--no-cone", "src/")
    assert not (repo.path / ".gitignore").exists()
    repo.write("src/d/f.bin", b"f")
    refused = repo.gs("track", "src/d", ok=False)
    assert ".gitignore is outside the sparse checkout's patterns" in refused.stderr
    assert "git sparse-checkout add /.gitignore" in refused.stderr
    assert not (repo.path / ".gitignore").exists()
    assert not (repo.path / "src" / "d.gitstore").exists()


def test_checkout_rev_leaves_out_a_manifest_new_at_rev_outside_the_cone(tmp_path: Path) -> None:
    """A manifest that is new at REV is not in git's index yet: cone-mode patterns decide
    from its folder; one inside them is written."""
    repo = _branched(
        tmp_path,
        {"src/x.py": "x\n"},
        [],
        {"other/new.bin": b"outside", "src/deep/s.bin": b"inside"},
        ["other/new.bin", "src/deep/s.bin"],
    )
    repo.git("sparse-checkout", "set", "src")
    done = repo.gs("checkout", "feat")
    assert "other/new.bin left out" in done.stderr, done.stderr
    assert not (repo.path / "other" / "new.bin").exists()
    assert not (repo.path / "other" / "new.bin.gitstore").exists()
    assert repo.read("src/deep/s.bin") == b"inside"
