"""A hostile branch cannot redirect a clone's data: trust on first use of committed remotes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from gitstore import api
from tests.conftest import git, write
from tests.reliability.helpers import gs, make_tree, new_repo, objects_in, record


def test_hostile_branch_changing_a_remote_is_not_obeyed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    team, evil, evil_cache = tmp_path / "team", tmp_path / "evil", tmp_path / "evil-cache"
    author = new_repo(tmp_path / "author")
    make_tree(author / "data", files=4, size=1000, seed=11)
    env = dict(os.environ, GITSTORE_CACHE_DIR=str(tmp_path / "author-cache"))
    gs(author, "remote", "add", "team", str(team), "--default", env=env)
    gs(author, "track", "data", env=env)
    git(author, "add", "-A")
    git(author, "commit", "-qm", "data")
    gs(author, "push", env=env)

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(author), str(clone))
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(tmp_path / "cache"))
    gs(clone, "fetch")  # first use: the committed URL is recorded as trusted

    # someone pushes a branch that points the remote elsewhere and moves the cache
    git(author, "checkout", "-qb", "evil")
    config = author / ".gitstore" / "config.yaml"
    text = config.read_text().replace(str(team), str(evil))
    assert str(evil) in text
    write(config, text + f"cache: {{dir: {evil_cache}}}\n")
    write(author / "data" / "new.bin", b"secret team data")
    gs(author, "track", "data", env=env)
    git(author, "add", "-A")
    git(author, "commit", "-qm", "innocent-looking change")
    git(clone, "fetch", "-q", "origin")
    git(clone, "checkout", "-q", "-b", "evil", "origin/evil")
    write(clone / "data" / "mine.bin", b"clone data")
    gs(clone, "track", "data")
    git(clone, "commit", "-qam", "work on the branch")

    for args in (("push",), ("fetch", "origin/evil")):
        proc = gs(clone, *args, check=False)
        assert proc.returncode != 0
        lines = [x for x in proc.stderr.splitlines() if x.startswith("gitstore: error:")]
        assert len(lines) == 1 and "team" in lines[0], proc.stderr
        assert "remote trust team" in proc.stderr
    assert not evil.exists() or not objects_in(evil)
    # cache.* from the committed file is ignored, with a note
    ctx = api.Context(clone)
    assert ctx.config.cache_dir != evil_cache
    assert any("cache" in note for note in ctx.config.notes)
    assert not evil_cache.exists()
    # the user looks, and decides to trust the new URL
    gs(clone, "remote", "trust", "team")
    gs(clone, "push")
    assert objects_in(evil)
    record("fuzz", "hostile-branch-config", refused_commands=2, objects_sent_before_trust=0)


def _team_and_a_hostile_branch(tmp_path: Path) -> tuple[Path, Path, Path, dict[str, str]]:
    """(author, team, evil, author's env): main's committed default remote is team; branch
    `hostile` adds remote evil as the default, with its new data only there."""
    team, evil = tmp_path / "team", tmp_path / "evil"
    author = new_repo(tmp_path / "author")
    make_tree(author / "data", files=3, size=500, seed=5)
    env = dict(os.environ, GITSTORE_CACHE_DIR=str(tmp_path / "author-cache"))
    gs(author, "remote", "add", "team", str(team), "--default", env=env)
    gs(author, "track", "data", env=env)
    git(author, "add", "-A")
    git(author, "commit", "-qm", "data")
    gs(author, "push", env=env)
    main = git(author, "branch", "--show-current").stdout.strip()
    git(author, "checkout", "-qb", "hostile")
    gs(author, "remote", "add", "evil", str(evil), "--default", env=env)
    write(author / "data" / "bait.bin", b"only on evil")
    gs(author, "track", "data", env=env)
    git(author, "add", "-A")
    git(author, "commit", "-qm", "innocent-looking change")
    gs(author, "push", env=env)  # to evil, the branch's default
    git(author, "checkout", "-q", main)  # the upstream's default branch stays main
    return author, team, evil, env


def _work_and_push(clone: Path) -> subprocess.CompletedProcess[str]:
    write(clone / "data" / "mine.bin", b"the clone's confidential data")
    gs(clone, "track", "data")
    git(clone, "commit", "-qam", "work on the branch")
    return gs(clone, "push", check=False)


def test_reading_through_a_branchs_new_remote_does_not_make_it_a_push_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkout's fetch read from the branch's new default remote, which recorded it as
    trusted on first use: the clone's next push went there."""
    author, team, evil, _ = _team_and_a_hostile_branch(tmp_path)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(author), str(clone))
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(tmp_path / "cache"))
    gs(clone, "pull")  # team, used first
    git(clone, "checkout", "-q", "-b", "hostile", "origin/hostile")
    gs(clone, "pull")  # reads bait.bin from evil: allowed, every object is verified
    assert (clone / "data" / "bait.bin").read_bytes() == b"only on evil"
    before = objects_in(evil)
    proc = _work_and_push(clone)
    assert proc.returncode != 0
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("gitstore: error:")]
    assert "'evil'" in line and "not trusted" in line, proc.stderr
    assert "remote trust evil" in proc.stderr
    assert objects_in(evil) == before


def test_a_fresh_clone_of_a_hostile_branch_does_not_trust_its_remote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`git clone -b hostile`: the first remote a fresh clone used was trusted on first use.
    What the upstream's default branch (origin/HEAD) defines is trusted instead."""
    author, team, evil, _ = _team_and_a_hostile_branch(tmp_path)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "-b", "hostile", str(author), str(clone))
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(tmp_path / "cache"))
    gs(clone, "pull")
    assert (clone / "data" / "bait.bin").read_bytes() == b"only on evil"
    before = objects_in(evil)
    proc = _work_and_push(clone)
    assert proc.returncode != 0 and "remote trust evil" in proc.stderr, proc.stderr
    assert "default branch" in proc.stderr
    assert objects_in(evil) == before
    gs(clone, "remote", "trust", "evil")  # the user looked, and decides so
    gs(clone, "push")
    assert len(objects_in(evil)) == len(before) + 1


def test_what_the_default_branch_defines_is_trusted_when_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The team moves its remote on the default branch: clones follow without a
    `remote trust` each (a branch that does the same is still refused, see above)."""
    author, team, _evil, env = _team_and_a_hostile_branch(tmp_path)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(author), str(clone))
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(tmp_path / "cache"))
    gs(clone, "pull")  # team recorded as trusted
    moved = tmp_path / "team-moved"
    shutil.copytree(team, moved)
    config = author / ".gitstore" / "config.yaml"
    write(config, config.read_text().replace(str(team), str(moved)))
    git(author, "commit", "-qam", "the team's remote moved")
    git(clone, "pull", "-q", "--no-rebase")
    proc = _work_and_push(clone)
    assert proc.returncode == 0, proc.stderr
    assert len(objects_in(moved)) == len(objects_in(team)) + 1


def test_only_the_upstreams_default_branch_vouches_not_a_forks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A contributor's fork, added as a git remote with its HEAD known, defines its own
    default remote on its default branch: that must not make it trusted here."""
    author, _team, evil, _ = _team_and_a_hostile_branch(tmp_path)
    fork = tmp_path / "fork"
    git(tmp_path, "clone", "-q", "-b", "hostile", str(author), str(fork))  # its HEAD: hostile
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(author), str(clone))
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(tmp_path / "cache"))
    gs(clone, "pull")
    git(clone, "remote", "add", "fork", str(fork))
    git(clone, "fetch", "-q", "fork")
    git(clone, "remote", "set-head", "fork", "-a")
    git(clone, "checkout", "-q", "-b", "theirs", "fork/hostile")
    gs(clone, "pull")
    before = objects_in(evil)
    proc = _work_and_push(clone)
    assert proc.returncode != 0 and "remote trust evil" in proc.stderr, proc.stderr
    assert objects_in(evil) == before
