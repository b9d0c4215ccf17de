"""gc protects the manifests of git dirs whose work tree is not beside them.

A submodule (git dir in ``PARENT/.git/modules/NAME``, ``core.worktree`` pointing
back), a ``--separate-git-dir`` repository (no pointer back at all), and git dirs
whose work tree is gone: gc is run from another repository sharing the cache,
with the real git binary.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import git, write
from tests.reliability.helpers import gs, new_repo, objects_in
from tests.reliability.test_gc import age_everything, oid


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(path))
    return path


def registered(cache: Path) -> set[str]:
    return {m.read_text().splitlines()[0] for m in (cache / "repos").iterdir()}


def with_submodule(tmp_path: Path) -> tuple[Path, Path]:
    """PARENT with a submodule ``sub``, as `git submodule add` makes it."""
    origin = new_repo(tmp_path / "origin")
    parent = new_repo(tmp_path / "parent")
    git(parent, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(origin), "sub")
    git(parent, "commit", "-qm", "add sub")
    sub = parent / "sub"
    assert (sub / ".git").read_text().strip() == "gitdir: ../.git/modules/sub"
    config = git(parent / ".git" / "modules" / "sub", "config", "--get", "core.worktree")
    assert config.stdout.strip() == "../../../sub"
    return parent, sub


def test_a_submodules_staged_and_unstaged_manifests_survive_gc_from_the_parent(
    tmp_path: Path, cache: Path
) -> None:
    # QA: gc from the parent said "no work tree found" and deleted sub's staged object
    parent, sub = with_submodule(tmp_path)
    gs(sub, "install")
    write(sub / "data" / "new.txt", b"staged in the submodule, never committed")
    gs(sub, "track", "data")
    assert "data.gitstore" in git(sub, "diff", "--cached", "--name-only").stdout
    # a manifest only in the work tree: tracked, then taken out of the index
    write(sub / "loose.bin", b"only in the submodule's work tree")
    gs(sub, "track", "loose.bin")
    git(sub, "reset", "-q", "--", "loose.bin.gitstore")
    assert "loose.bin.gitstore" in git(sub, "status", "--porcelain").stdout
    # an orphan, so that gc has something to delete
    write(sub / "data" / "gone.txt", b"orphan")
    gs(sub, "track", "data")
    (sub / "data" / "gone.txt").unlink()
    gs(sub, "track", "data")
    assert str((parent / ".git" / "modules" / "sub").resolve()) in registered(cache)

    age_everything(cache)
    out = gs(parent, "gc", "--grace", "0", "--json")
    report = json.loads(out.stdout)
    left = objects_in(cache)
    assert oid(b"staged in the submodule, never committed") in left
    assert oid(b"only in the submodule's work tree") in left
    assert [d["oid"] for d in report["deleted"]] == [oid(b"orphan")]
    assert report["notes"] == [], report["notes"]
    # what QA saw refused goes through: pre-commit finds every object it needs
    git(sub, "add", "loose.bin.gitstore")
    git(sub, "commit", "-qm", "data")
    assert git(sub, "status", "--porcelain").stdout == ""


@pytest.mark.parametrize("how", ["init", "clone"])
def test_a_separate_git_dir_protects_its_index_and_its_work_tree_once_named(
    tmp_path: Path, cache: Path, how: str
) -> None:
    store = tmp_path / "store" / "w.git"
    store.parent.mkdir()
    w = tmp_path / "w"
    if how == "init":
        git(tmp_path, "init", "-q", f"--separate-git-dir={store}", str(w))
        write(w / "README", "hello\n")
        git(w, "add", "README")
        git(w, "commit", "-qm", "initial")
    else:
        origin = new_repo(tmp_path / "origin")
        git(tmp_path, "clone", "-q", f"--separate-git-dir={store}", str(origin), str(w))
    assert (w / ".git").is_file()
    write(w / "staged.bin", b"staged in a separate-git-dir repository")
    gs(w, "track", "staged.bin")
    write(w / "loose.bin", b"only in the separate work tree")
    gs(w, "track", "loose.bin")
    git(w, "reset", "-q", "--", "loose.bin.gitstore")
    # registered by its git dir, which does not say where its work tree is: the
    # registration records it (sixth pass), so gc from elsewhere reads it too
    assert str(store.resolve()) in registered(cache)
    assert str((w / ".git").resolve()) not in registered(cache)
    a = new_repo(tmp_path / "a")
    age_everything(cache)
    dry = json.loads(gs(a, "gc", "--grace", "0", "--dry-run", "--json").stdout)
    assert dry["deleted"] == [] and dry["notes"] == []

    # a registration without it (an older gitstore's): only the index protects
    for marker in (cache / "repos").iterdir():
        lines = marker.read_text().splitlines()
        if lines[0] == str(store.resolve()):
            marker.write_text("\n".join(lines[:2]) + "\n")
    dry = json.loads(gs(a, "gc", "--grace", "0", "--dry-run", "--json").stdout)
    # the index protects what is staged; what is only on disk there cannot be seen
    assert [d["oid"] for d in dry["deleted"]] == [oid(b"only in the separate work tree")]
    (note,) = dry["notes"]
    assert str(store) in note and "core.worktree" in note and "index" in note

    # naming the work tree (git itself is content with it) lets gc look there
    git(store, "config", "core.worktree", str(w))
    assert git(w, "status", "--porcelain").returncode == 0
    gs(w, "status")
    out = json.loads(gs(a, "gc", "--grace", "0", "--json").stdout)
    assert out["notes"] == [] and out["deleted"] == []
    left = objects_in(cache)
    assert oid(b"staged in a separate-git-dir repository") in left
    assert oid(b"only in the separate work tree") in left


def test_a_git_dir_whose_work_tree_is_gone_keeps_its_index_objects(
    tmp_path: Path, cache: Path
) -> None:
    parent, sub = with_submodule(tmp_path)
    write(sub / "d" / "x.bin", b"staged in a submodule whose work tree is deleted")
    gs(sub, "track", "d")
    shutil.rmtree(sub)
    # a linked worktree removed by hand, not by `git worktree remove`
    a = new_repo(tmp_path / "a")
    git(a, "worktree", "add", "-q", "-b", "side", str(tmp_path / "linked"))
    write(tmp_path / "linked" / "y.bin", b"staged in a deleted linked worktree")
    gs(tmp_path / "linked", "track", "y.bin")
    shutil.rmtree(tmp_path / "linked")
    age_everything(cache)

    # a linked worktree that is not there may only be away (moved by hand, on a
    # disk not mounted): its manifests on disk are unknown, so gc stops (sixth pass)
    refused = gs(a, "gc", "--grace", "0", check=False)
    assert refused.returncode != 0
    assert "the linked worktree" in refused.stderr and "git worktree prune" in refused.stderr
    assert "nothing was deleted" in refused.stderr
    out = gs(a, "gc", "--grace", "0", "--forget-missing")
    assert out.stdout.startswith("deleted 0 objects"), out.stdout
    assert "sub (core.worktree) is not there" in out.stderr
    assert "linked is not there" in out.stderr
    left = objects_in(cache)
    assert oid(b"staged in a submodule whose work tree is deleted") in left
    assert oid(b"staged in a deleted linked worktree") in left
    # the git dir itself still answers for them
    staged = git(parent / ".git" / "modules" / "sub", "--work-tree=.", "ls-files", "-s")
    assert "d.gitstore" in staged.stdout
