"""Git workflows at their edges (fifth QA pass, docs/reliability.md): each test is a finding.

Run through the real git binary with gitstore's hooks installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_hooks import Clone, make_team, solo


@pytest.fixture
def team(tmp_path: Path) -> tuple[Clone, Clone, Path, Path]:
    """(alice, bob, origin, store): alice has pushed data/ to a folder remote ``store``."""
    store = tmp_path / "store"
    return (*make_team(tmp_path, str(store)), store)


def _states(repo: Clone) -> dict[str, str]:
    return {s["path"]: s["state"] for s in json.loads(repo.gs("status", "--json").stdout)}


def test_a_repository_named_by_git_dir_and_git_work_tree(tmp_path: Path) -> None:
    """A dotfiles-style repository: a bare git dir, the home folder as work tree, no .git in it."""
    bare = tmp_path / "dot.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    home = tmp_path / "home"
    home.mkdir()
    repo = Clone(home, tmp_path / "cache")
    repo.env.update(GIT_DIR=str(bare), GIT_WORK_TREE=str(home))
    repo.git("config", "user.name", "T")
    repo.git("config", "user.email", "t@example.com")
    repo.gs("install")
    repo.write(".bashrc", "alias ll='ls -l'\n")
    repo.git("add", ".bashrc")
    repo.git("commit", "-qm", "no data: the hooks let it through")
    repo.write("models/m.bin", b"weights")
    repo.gs("track", "models")
    repo.git("commit", "-qm", "data")
    listed = repo.git("ls-tree", "--name-only", "HEAD").stdout.split()
    assert "models.gitstore" in listed and ".gitignore" in listed
    assert _states(repo) == {"models": "unchanged"}
    sub = Clone(home / "models", tmp_path / "cache")  # from a folder inside the work tree
    sub.env.update(GIT_DIR=str(bare), GIT_WORK_TREE=str(home))
    assert json.loads(sub.gs("status", "--json").stdout)[0]["state"] == "unchanged"


def test_switching_to_an_orphan_branch_takes_the_cached_payload_away(team) -> None:
    alice, _bob, _origin, _store = team
    switched = alice.git("switch", "-q", "--orphan", "fresh")
    assert "gitstore" not in switched.stderr, switched.stderr  # no "bad object 0000..."
    assert not (alice.path / "data").exists()
    alice.git("add", "-A")
    assert "data/" not in alice.git("status", "--porcelain").stdout
    alice.git("switch", "-q", "main")
    assert alice.read("data/a.bin") == b"alpha v1"


def test_a_clone_without_checkout_gets_its_data_at_the_first_checkout(team) -> None:
    alice, bob, origin, _store = team
    alice.git("push", "-q", "origin", "main")
    late = Clone(bob.path.parent / "late", bob.path.parent / "late-cache")
    template = bob.path.parent / "template"  # the hooks come with the clone (install --global)
    shutil.copytree(alice.path / ".git" / "hooks", template / "hooks")
    subprocess.run(
        [
            "git",
            "clone",
            "-q",
            "--no-checkout",
            f"--template={template}",
            str(origin),
            str(late.path),
        ],
        check=True,
        capture_output=True,
    )
    late.git("checkout", "-q")
    assert late.read("data/a.bin") == b"alpha v1"
    assert _states(late) == {"data": "unchanged"}


def test_an_amend_at_a_rebase_edit_stop_does_not_record_the_tips_data(tmp_path: Path) -> None:
    repo = solo(tmp_path / "repo", tmp_path / "cache")
    repo.write("code.txt", "c\n")
    repo.git("add", "code.txt")
    repo.git("commit", "-qm", "init")
    for version in ("a0", "a1", "a2"):
        repo.write("data/a", version)
        repo.write("data/b", "b0")
        repo.gs("track", "data")
        repo.git("commit", "-qm", version)
    repo.env["GIT_SEQUENCE_EDITOR"] = "sed -i '1s/^pick/edit/'"
    repo.git("rebase", "-q", "-i", "HEAD~2")
    assert repo.read("data/a") == b"a2"  # nothing is materialised at a rebase stop
    repo.write("data/b", "fixed")
    refused = repo.git("commit", "-q", "--amend", "-a", "--no-edit", ok=False)
    assert "data/a on disk is as at HEAD, its parent or the tip the rebase started" in (
        refused.stderr
    ), refused.stderr
    repo.gs("checkout", "data", ok=None)  # as the hint says: a is a1's again; b keeps the edit
    assert repo.read("data/a") == b"a1" and repo.read("data/b") == b"fixed"
    repo.gs("track", "data")
    repo.git("commit", "-q", "--amend", "-a", "--no-edit")
    repo.git("rebase", "--continue")
    assert repo.gs("cat", "data/a", "--rev", "HEAD~1").stdout == "a1"
    assert repo.gs("cat", "data/b", "--rev", "HEAD~1").stdout == "fixed"
    assert repo.gs("cat", "data/a", "--rev", "HEAD").stdout == "a2"


def test_a_relative_folder_remote_is_the_same_folder_from_anywhere(tmp_path: Path) -> None:
    repo = solo(tmp_path / "repo", tmp_path / "cache")
    (repo.path / "sub").mkdir()
    repo.write("data/a.bin", b"alpha")
    repo.gs("track", "data")
    repo.gs("remote", "add", "near", "../near-store", "--default")
    assert "url: ../near-store" in repo.read(".gitstore/config.yaml").decode()
    deep = Clone(repo.path / "sub", tmp_path / "cache")
    deep.gs("push")  # from a subfolder: the same ../near-store, beside the repository
    assert (tmp_path / "near-store" / "objects").is_dir()
    assert not (repo.path / "near-store").exists()
    assert "1 of 1 objects present" in deep.gs("remote", "status").stdout
    # typed from a subfolder, relative to it; written relative to the repository's top
    deep.gs("remote", "add", "far", "../../far-store")
    assert "url: ../far-store" in repo.read(".gitstore/config.yaml").decode()


def test_a_relative_folder_remote_is_the_same_folder_from_a_linked_worktree(
    tmp_path: Path,
) -> None:
    """Sixth pass: from `.worktrees/feat`, `../store` was read against the worktree's top."""
    repo = solo(tmp_path / "repo", tmp_path / "cache")
    repo.write("data/a.bin", b"alpha")
    repo.gs("track", "data")
    repo.gs("remote", "add", "near", "../near-store", "--default")
    repo.git("add", "-A")
    repo.git("commit", "-qm", "data")
    repo.git("worktree", "add", "-q", "-b", "feat", ".worktrees/feat")
    linked = Clone(repo.path / ".worktrees" / "feat", tmp_path / "cache")
    linked.gs("checkout")
    linked.write("data/b.bin", b"bravo")
    linked.gs("track", "data")
    linked.gs("push")
    assert not (repo.path / ".worktrees" / "near-store").exists()
    assert "2 of 2 objects present" in linked.gs("remote", "status").stdout
    assert (tmp_path / "near-store" / "objects").is_dir()
    # typed in the linked worktree, written relative to the main work tree's top
    linked.gs("remote", "add", "far", "../../../far-store")
    assert "url: ../far-store" in linked.read(".gitstore/config.yaml").decode()


def test_a_sparse_checkout_without_the_config_folder_keeps_the_teams_remote(team) -> None:
    alice, _bob, _origin, store = team
    alice.git("sparse-checkout", "set", "code")  # cone mode: .gitstore/ is left out
    assert not (alice.path / ".gitstore" / "config.yaml").exists()
    assert "team" in alice.gs("remote", "list").stdout
    alice.write("data/c.bin", b"charlie")
    alice.gs("track", "data")
    alice.git("commit", "-qm", "c")
    alice.git("push", "-q", "origin", "main")  # pre-push uploads to the committed remote
    oid = next(
        e["oid"] for e in json.loads(alice.gs("ls", "--json").stdout) if e["path"] == "data/c.bin"
    )
    assert (store / "objects" / oid[:2] / oid[2:4] / oid).is_file()


def test_tracking_inside_a_submodule_from_the_parent_is_refused_before_writing(
    tmp_path: Path,
) -> None:
    inner = solo(tmp_path / "inner", tmp_path / "cache")
    inner.write("code.txt", "c\n")
    inner.git("add", "code.txt")
    inner.git("commit", "-qm", "inner")
    parent = solo(tmp_path / "parent", tmp_path / "cache")
    parent.git("-c", "protocol.file.allow=always", "submodule", "add", "-q", str(inner.path), "sub")
    parent.write("sub/data/a.bin", b"alpha")
    refused = parent.gs("track", "sub/data", ok=False)
    assert "sub/data is inside sub, a submodule or another git repository" in refused.stderr
    assert "cd sub" in refused.stderr
    assert not (parent.path / "sub" / "data.gitstore").exists()
    ignore = parent.path / ".gitignore"
    assert not ignore.exists() or "/sub/data/" not in ignore.read_text()


def test_init_in_a_clone_not_checked_out_yet_stages_nothing(team) -> None:
    """install staged a new .gitattributes into a missing index: every other file 'deleted'."""
    alice, bob, origin, _store = team
    late = Clone(bob.path.parent / "late", bob.path.parent / "late-cache")
    subprocess.run(
        ["git", "clone", "-q", "--no-checkout", str(origin), str(late.path)],
        check=True,
        capture_output=True,
    )
    late.gs("init")
    assert not (late.path / ".gitattributes").exists()  # HEAD's comes with the checkout
    assert not (late.path / ".git" / "index").exists()
    late.git("checkout", "-q")
    assert late.git("status", "--porcelain").stdout.strip() == ""
    assert late.read(".gitstore/config.yaml") == alice.read(".gitstore/config.yaml")
    assert late.read("data/a.bin") == b"alpha v1"  # init installed the hooks; checkout ran them


def test_the_merge_driver_still_runs_once_the_recorded_python_is_gone(tmp_path: Path) -> None:
    """gitstore reinstalled elsewhere: the drivers fall back to the gitstore on PATH."""
    repo = solo(tmp_path / "repo", tmp_path / "cache")
    repo.write("data/a.bin", b"a0")
    repo.write("data/b.bin", b"b0")
    repo.commit_data("base")
    driver = repo.git("config", "merge.gitstore.driver").stdout.strip()
    assert driver.startswith("sh -c ")
    repo.git("config", "merge.gitstore.driver", driver.replace(sys.executable, "/gone/bin/python"))
    repo.git("checkout", "-q", "-b", "side")
    repo.write("data/b.bin", b"b1")
    repo.commit_data("b on side")
    repo.git("checkout", "-q", "main")
    repo.write("data/a.bin", b"a1")
    repo.commit_data("a on main")
    repo.git("merge", "-q", "--no-edit", "side")  # entry by entry: no conflict
    assert repo.read("data/a.bin") == b"a1" and repo.read("data/b.bin") == b"b1"
