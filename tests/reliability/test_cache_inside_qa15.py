"""A cache set up inside the work tree (fifteenth QA pass, docs/reliability.md).

A relative ``cache.dir`` is taken from the repository's top. Inside a tracked
folder its objects were tracked as data, and a checkout of an older revision
deleted the objects that revision does not list: committed, never-pushed
content lost. Elsewhere in the work tree, ``git add -A`` took the whole cache.
"""

from __future__ import annotations

import os
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


def test_a_teammates_manifest_over_the_cache_never_deletes_its_objects(tmp_path: Path) -> None:
    """The manifest comes from elsewhere (tracked with another cache); checkout leaves the
    path alone, naming why, and every object stays."""
    repo = new_repo(tmp_path / "repo")
    (repo / "data").mkdir()
    (repo / "data" / "a").write_text("one\n")
    gs(repo, "track", "data", env={**os.environ, "GITSTORE_CACHE_DIR": str(tmp_path / "other")})
    git(repo, "commit", "-qm", "data")
    gs(repo, "config", "set", "cache.dir", "data/.gscache", "--local")
    (repo / "model.bin").write_text("weights\n")
    gs(repo, "track", "model.bin")  # the cache now holds an object under data/
    cache = repo / "data" / ".gscache"
    before = objects_in(cache)
    assert before
    out = gs(repo, "checkout", "data", check=False)
    assert out.returncode != 0 and "is inside data" in out.stderr, out.stderr
    out = gs(repo, "checkout", check=False)
    assert "is inside data" in out.stderr, out.stderr
    assert objects_in(cache) == before
    status = gs(repo, "status", check=False)
    assert "is inside data" in status.stderr, status.stderr


def test_a_cache_elsewhere_in_the_work_tree_is_ignored_by_git(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    gs(repo, "config", "set", "cache.dir", ".gscache", "--local")
    (repo / "data").mkdir()
    (repo / "data" / "a").write_text("one\n")
    gs(repo, "track", "data")
    assert objects_in(repo / ".gscache")
    porcelain = git(repo, "status", "--porcelain").stdout
    assert ".gscache" not in porcelain, porcelain
