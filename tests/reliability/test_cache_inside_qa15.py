"""A cache set up inside the work tree (fifteenth QA pass, docs/reliability.md).

A relative ``cache.dir`` is taken from the repository's top. Inside a tracked
folder its objects were tracked as data, and a checkout of an older revision
deleted the objects that revision does not list: committed, never-pushed
content lost. Elsewhere in the work tree, ``git add -A`` took the whole cache.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.conftest import git
from tests.reliability.helpers import gs, new_repo, objects_in


@pytest.fixture(autouse=True)
def _no_cache_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITSTORE_CACHE_DIR", raising=False)  # cache.dir decides


def test_a_cache_inside_a_tracked_folder_is_refused(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    gs(repo, "config", "set", "cache.dir", "data/.gscache", "--local")
    (repo / "data").mkdir()
    (repo / "data" / "a").write_text("one\n")
    refused = gs(repo, "track", "data", check=False)
    assert refused.returncode != 0
    assert "the cache" in refused.stderr and "is inside data" in refused.stderr, refused.stderr
    assert not (repo / "data.gitstore").exists()


def test_a_tracked_path_inside_the_cache_is_named_the_right_way_round(tmp_path: Path) -> None:
    """Twenty-seventh pass: with cache.dir `sub` and `sub/a` tracked, the refusal said
    the cache was inside sub/a."""
    repo = new_repo(tmp_path / "repo")
    gs(repo, "config", "set", "cache.dir", "sub", "--local")
    (repo / "sub" / "a").mkdir(parents=True)
    (repo / "sub" / "a" / "x").write_text("one\n")
    refused = gs(repo, "track", "sub/a", check=False)
    assert refused.returncode != 0
    assert "holds the tracked path sub/a" in refused.stderr, refused.stderr
    assert not (repo / "sub" / "a.gitstore").exists()


def test_a_teammates_manifest_over_the_cache_never_deletes_its_objects(tmp_path: Path) -> None:
    """The manifest comes from elsewhere (tracked with another cache): every command
    refuses at once, before writing, naming the cache; every object stays."""
    repo = new_repo(tmp_path / "repo")
    (repo / "model.bin").write_text("weights\n")
    gs(repo, "config", "set", "cache.dir", "data/.gscache", "--local")
    gs(repo, "track", "model.bin")  # the cache now holds an object under data/
    git(repo, "commit", "-qm", "model")
    (repo / "data").mkdir(exist_ok=True)
    (repo / "data" / "a").write_text("one\n")
    gs(repo, "track", "data", env={**os.environ, "GITSTORE_CACHE_DIR": str(tmp_path / "other")})
    git(repo, "commit", "-qm", "data")
    cache = repo / "data" / ".gscache"
    before = objects_in(cache)
    assert before
    for args in (("checkout", "data"), ("checkout", "HEAD~1"), ("status",), ("pull",)):
        out = gs(repo, *args, check=False)
        assert out.returncode != 0 and "is inside data" in out.stderr, (args, out.stderr)
        assert out.stderr.count("\n") <= 2, out.stderr  # one line and a hint
    assert objects_in(cache) == before
    assert (repo / "data" / "a").read_text() == "one\n"


def test_a_cache_elsewhere_in_the_work_tree_is_ignored_by_git(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    gs(repo, "config", "set", "cache.dir", ".gscache", "--local")
    (repo / "data").mkdir()
    (repo / "data" / "a").write_text("one\n")
    gs(repo, "track", "data")
    assert objects_in(repo / ".gscache")
    porcelain = git(repo, "status", "--porcelain").stdout
    assert ".gscache" not in porcelain, porcelain


@pytest.mark.parametrize("where", [".", ".."])
def test_a_cache_folder_that_holds_the_work_tree_is_refused(tmp_path: Path, where: str) -> None:
    """`cache.dir: .` (or `..`, or the home folder): gc judged the user's own files in
    its tmp/ (sixteenth QA pass); every command now refuses such a cache."""
    repo = new_repo(tmp_path / "repo")
    gs(repo, "config", "set", "cache.dir", where, "--local")
    (repo / "tmp").mkdir()
    (repo / "tmp" / "notes.txt").write_text("mine\n")
    (repo / "data").mkdir()
    (repo / "data" / "a").write_text("one\n")
    for args in (("track", "data"), ("gc",), ("status",)):
        out = gs(repo, *args, check=False)
        assert out.returncode != 0 and "holds this work tree" in out.stderr, out.stderr
    assert (repo / "tmp" / "notes.txt").read_text() == "mine\n"


def test_gc_removes_only_gitstore_names_from_tmp(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    repo = new_repo(tmp_path / "repo")
    env = {**os.environ, "GITSTORE_CACHE_DIR": str(cache)}
    (repo / "data").mkdir()
    (repo / "data" / "a").write_text("one\n")
    gs(repo, "track", "data", env=env)
    theirs = cache / "tmp" / "notes.txt"
    ours = cache / "tmp" / ("ab" * 8 + "-7")  # a temporary file a killed writer left
    theirs.write_text("mine\n")
    ours.write_text("partial\n")
    old = time.time() - 3 * 86400
    for path in (theirs, ours):
        os.utime(path, (old, old))
    gs(repo, "gc", env=env)
    assert theirs.exists() and not ours.exists()
