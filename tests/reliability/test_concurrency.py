"""Concurrent gitstore processes on one cache or one repository never corrupt each other."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import git
from tests.reliability.helpers import (
    GITSTORE,
    committed_manifest_problems,
    gs,
    make_tree,
    new_repo,
    objects_in,
    read_tree,
    record,
    store_problems,
    tmp_leftovers,
)


def _start(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*GITSTORE, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_three_trackers_share_one_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(cache))
    shared = make_tree(tmp_path / "shared", files=40, size=20_000, seed=7)
    repos = []
    for i in range(3):
        repo = new_repo(tmp_path / f"r{i}")
        shutil.copytree(tmp_path / "shared", repo / "data")
        make_tree(repo / "data" / f"own{i}", files=10, size=20_000, seed=100 + i)
        repos.append(repo)
    procs = [_start(r, "track", "data") for r in repos]
    for p in procs:
        _out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert not store_problems(cache) and tmp_leftovers(cache) == 0
    for repo in repos:
        assert not committed_manifest_problems(repo, cache)
    assert len(objects_in(cache)) == len(shared) + 30
    record("concurrency", "three-trackers", processes=3, corrupt=0, lost=0)


def test_fetch_and_gc_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    author = new_repo(tmp_path / "author")
    files = make_tree(author / "data", files=40, size=20_000, seed=8)
    env = dict(os.environ, GITSTORE_CACHE_DIR=str(tmp_path / "author-cache"))
    gs(author, "remote", "add", "team", str(tmp_path / "remote"), "--default", env=env)
    gs(author, "track", "data", env=env)
    git(author, "add", "-A")
    git(author, "commit", "-qm", "data")
    gs(author, "push", env=env)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(author), str(clone))
    cache = tmp_path / "cache"
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(cache))
    monkeypatch.setenv("GITSTORE_JOBS", "1")
    fetch = _start(clone, "fetch")
    collector = _start(clone, "gc", "--grace", "0")
    for p in (fetch, collector):
        _out, err = p.communicate(timeout=120)
        assert p.returncode in (0, 4), err  # 4: the other one held the lock too long
        assert "Traceback" not in err
    assert not store_problems(cache) and tmp_leftovers(cache) == 0
    gs(clone, "fetch")
    gs(clone, "checkout")
    assert read_tree(clone / "data") == files
    record("concurrency", "fetch-and-gc", processes=2, corrupt=0, lost=0)


def test_two_checkouts_into_one_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = new_repo(tmp_path / "repo")
    files = make_tree(repo / "data", files=150, size=8_000, seed=9)
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(tmp_path / "cache"))
    gs(repo, "track", "data")
    git(repo, "commit", "-qm", "data")
    outcomes = []
    for timeout in ("0", "60"):
        shutil.rmtree(repo / "data")
        env = dict(os.environ, GITSTORE_LOCK_TIMEOUT=timeout)
        procs = [_start(repo, "checkout", env=env) for _ in range(2)]
        for p in procs:
            _out, err = p.communicate(timeout=120)
            assert "Traceback" not in err
            if p.returncode == 4:
                assert "locked by another gitstore process" in err
            else:
                assert p.returncode == 0, err
            outcomes.append(p.returncode)
        assert read_tree(repo / "data") == files
        assert not [p for p in (repo / "data").rglob("*") if p.name.endswith(".gitstore-tmp")]
    assert outcomes[2:] == [0, 0]  # with time to wait, both complete
    record("concurrency", "two-checkouts", processes=2, corrupt=0, lock_refusals=outcomes.count(4))
