"""gc at the edges found by the sixth QA pass (docs/reliability.md, "Sixth pass").

Each of these deleted objects that something still needed, or stopped gc for
every repository sharing the cache:

- a repository renamed on disk, with a new one made at its old path;
- an object held only by `git merge --autostash`'s stash;
- `GIT_LITERAL_PATHSPECS=1` in the environment, which made gc's `*.gitstore`
  pathspec match nothing;
- a linked worktree moved by hand (or on a disk not mounted);
- an empty commit (git's empty tree, which git never writes to disk);
- a listing of the cache while gc removed an emptied folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from gitstore.stores.local import LocalStore
from tests.conftest import git, write
from tests.reliability.helpers import gs, new_repo, objects_in, registrations
from tests.reliability.test_gc import age_everything, oid


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(path))
    return path


def _two_versions(repo: Path) -> tuple[str, str]:
    """f.bin v1 on main and v2 only on the unpushed branch ``feature``."""
    write(repo / "f.bin", b"v1 of f\n")
    gs(repo, "track", "f.bin")
    git(repo, "commit", "-qm", "v1")
    git(repo, "switch", "-qc", "feature")
    write(repo / "f.bin", b"v2 of f, only on feature\n")
    gs(repo, "track", "f.bin")
    git(repo, "commit", "-qm", "v2")
    git(repo, "switch", "-q", "main")
    return oid(b"v1 of f\n"), oid(b"v2 of f, only on feature\n")


def test_a_new_repository_at_a_renamed_ones_path_does_not_inherit_its_registration(
    tmp_path: Path, cache: Path
) -> None:
    a = new_repo(tmp_path / "a")
    v1, v2 = _two_versions(a)
    os.rename(a, tmp_path / "a-old")  # the project renamed, and a new one under the old name
    fresh = new_repo(tmp_path / "a")
    gs(fresh, "status")
    age_everything(cache)
    refused = gs(fresh, "gc", "--grace", "0", check=False)
    assert refused.returncode != 0, refused.stdout
    assert "another repository is there now" in refused.stderr
    assert "nothing was deleted" in refused.stderr
    assert {v1, v2} <= objects_in(cache)
    # found again: one command in its new place, and gc keeps what it needs
    gs(tmp_path / "a-old", "status")
    gs(fresh, "gc", "--grace", "0")
    assert {v1, v2} <= objects_in(cache)
    # and the new repository at the old path stays registered: its own objects are kept
    write(fresh / "g.bin", b"the new project's data\n")
    gs(fresh, "track", "g.bin")
    age_everything(cache)
    gs(tmp_path / "a-old", "gc", "--grace", "0")
    assert {v1, v2, oid(b"the new project's data\n")} <= objects_in(cache)


def test_an_object_only_in_a_merge_autostash_is_kept(tmp_path: Path, cache: Path) -> None:
    a = new_repo(tmp_path / "a")
    write(a / "f.bin", b"v1\n")
    gs(a, "track", "f.bin")
    git(a, "commit", "-qm", "v1")
    write(a / "t.txt", "base\n")
    git(a, "add", "t.txt")
    git(a, "commit", "-qm", "t")
    git(a, "switch", "-qc", "other")
    write(a / "t.txt", "other\n")
    git(a, "commit", "-qam", "o")
    git(a, "switch", "-q", "main")
    write(a / "t.txt", "mine\n")
    git(a, "commit", "-qam", "m")
    write(a / "f.bin", b"v2, staged, then autostashed\n")
    gs(a, "track", "f.bin")
    git(a, "merge", "--autostash", "other", check=False)  # a conflict stop
    assert (a / ".git" / "MERGE_AUTOSTASH").is_file()
    gs(a, "checkout")  # the manifest went into the autostash: the work tree is put in line
    age_everything(cache)
    gs(a, "gc", "--grace", "0")
    assert oid(b"v2, staged, then autostashed\n") in objects_in(cache)


def test_literal_pathspecs_in_the_environment_hide_no_manifest_from_gc(
    tmp_path: Path, cache: Path
) -> None:
    a = new_repo(tmp_path / "a")
    write(a / "f.bin", b"v1\n")
    gs(a, "track", "f.bin")
    git(a, "commit", "-qm", "v1")
    write(a / "f.bin", b"v2, staged only\n")
    gs(a, "track", "f.bin")
    age_everything(cache)
    env = dict(os.environ, GIT_LITERAL_PATHSPECS="1")
    gs(a, "gc", "--grace", "0", env=env)
    assert oid(b"v2, staged only\n") in objects_in(cache)


def test_a_linked_worktree_moved_by_hand_stops_gc(tmp_path: Path, cache: Path) -> None:
    a = new_repo(tmp_path / "a")
    write(a / "f.bin", b"v1\n")
    gs(a, "track", "f.bin")
    git(a, "commit", "-qm", "v1")
    wt = tmp_path / "wt"
    git(a, "worktree", "add", "-q", "-b", "wtb", str(wt))
    gs(wt, "checkout")
    write(wt / "f.bin", b"only on disk in the linked worktree\n")
    gs(wt, "track", "f.bin")
    git(wt, "restore", "--staged", "f.bin.gitstore")  # on disk only, in no index
    shutil.move(wt, tmp_path / "wt-moved")
    age_everything(cache)
    refused = gs(a, "gc", "--grace", "0", check=False)
    assert refused.returncode != 0 and "the linked worktree" in refused.stderr
    assert "git worktree repair" in refused.stderr and "nothing was deleted" in refused.stderr
    assert oid(b"only on disk in the linked worktree\n") in objects_in(cache)
    git(tmp_path / "wt-moved", "worktree", "repair")
    gs(a, "gc", "--grace", "0")
    assert oid(b"only on disk in the linked worktree\n") in objects_in(cache)


def test_an_empty_commit_on_an_orphan_branch_is_read_as_empty(tmp_path: Path, cache: Path) -> None:
    a = new_repo(tmp_path / "a")
    write(a / "f.bin", b"v1\n")
    gs(a, "track", "f.bin")
    git(a, "commit", "-qm", "v1")
    git(a, "switch", "-q", "--orphan", "pages")
    git(a, "commit", "-q", "--allow-empty", "-m", "pages")  # git's empty tree: never on disk
    other = new_repo(tmp_path / "other")
    gs(other, "status")
    age_everything(cache)
    gs(other, "gc", "--grace", "0")  # every repository sharing the cache used to be stopped
    assert oid(b"v1\n") in objects_in(cache)
    git(a, "switch", "-q", "main")
    assert "removed   f.bin" in gs(a, "diff", "main", "pages").stdout
    assert gs(a, "ls", "pages", "--json").stdout.strip() == "[]"


def test_a_folder_emptied_while_the_cache_is_listed_is_skipped(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    oids = []
    for i in range(40):
        data = f"object {i}\n".encode()
        oids.append(oid(data))
        path = store.object_path(oids[-1])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    listing = store.list()
    first = next(listing)
    for d1 in (tmp_path / "store" / "objects").iterdir():  # a gc prunes the rest meanwhile
        if d1.name != first[:2]:
            shutil.rmtree(d1)
    rest = list(listing)  # no FileNotFoundError
    assert set([first, *rest]) <= set(oids)


def test_a_bare_git_dir_used_with_git_work_tree_keeps_its_work_trees_manifests(
    tmp_path: Path, cache: Path
) -> None:
    """A dotfiles repository: gc from elsewhere could not know its work tree, and said nothing."""
    dots, home = tmp_path / "dots.git", tmp_path / "home"
    home.mkdir()
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(dots))
    env = dict(os.environ, GIT_DIR=str(dots), GIT_WORK_TREE=str(home))
    write(home / "big.bin", b"d1\n")
    gs(home, "track", "big.bin", env=env)
    subprocess.run(["git", "commit", "-qm", "d1"], cwd=home, env=env, check=True)
    write(home / "big.bin", b"d2, tracked, not staged\n")
    gs(home, "track", "big.bin", env=env)
    subprocess.run(["git", "reset", "-q"], cwd=home, env=env, check=True)
    other = new_repo(tmp_path / "other")
    age_everything(cache)
    gs(other, "gc", "--grace", "0")
    assert oid(b"d2, tracked, not staged\n") in objects_in(cache)


def test_a_repository_copied_back_to_its_own_path_is_the_same_repository(
    tmp_path: Path, cache: Path
) -> None:
    """A restore from a backup gives the git dir a new inode: not another repository.

    Re-verification of this pass: gc stopped for every repository on the cache,
    for good, with a hint to run a command that could not settle it.
    """
    a = new_repo(tmp_path / "a")
    v1, v2 = _two_versions(a)
    other = new_repo(tmp_path / "other")
    gs(other, "status")
    shutil.copytree(a, tmp_path / "a-copy", symlinks=True)
    shutil.rmtree(a)
    os.rename(tmp_path / "a-copy", a)
    age_everything(cache)
    gs(other, "gc", "--grace", "0")  # recognised by its token, before it runs anything
    assert {v1, v2} <= objects_in(cache)
    gs(a, "status")
    assert len(registrations(cache)) == 2  # no registration set aside
    gs(other, "gc", "--grace", "0")
    assert {v1, v2} <= objects_in(cache)
