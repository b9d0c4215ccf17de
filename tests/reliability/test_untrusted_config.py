"""A hostile branch cannot redirect a clone's data: trust on first use of committed remotes."""

from __future__ import annotations

import os
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
