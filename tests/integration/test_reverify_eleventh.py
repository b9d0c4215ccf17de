"""Re-verification of the eleventh pass's changes (trust, renewal, S3 slow client, info/exclude)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import git
from tests.reliability.helpers import gs, objects_in
from tests.reliability.test_untrusted_config import _team_and_a_hostile_branch, _work_and_push


def _partial_clone_of_hostile(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(author, clone, evil): a blob:none partial clone of branch `hostile`, whose
    origin/HEAD (main) config blob was never fetched."""
    author, _team, evil, _env = _team_and_a_hostile_branch(tmp_path)
    git(author, "config", "uploadpack.allowFilter", "true")
    git(author, "config", "uploadpack.allowAnySHA1InWant", "true")
    clone = tmp_path / "clone"
    subprocess.run(
        [
            "git",
            "clone",
            "-q",
            "--filter=blob:none",
            "-b",
            "hostile",
            f"file://{author}",
            str(clone),
        ],
        check=True,
    )
    main_config = git(clone, "rev-parse", "origin/HEAD:.gitstore/config.yaml").stdout.strip()
    listed = git(clone, "rev-list", "--objects", "--missing=print", "origin/HEAD").stdout
    assert f"?{main_config}" in listed, "origin/HEAD's config came with the clone: no case shown"
    return author, clone, evil


def test_a_partial_clone_that_cannot_read_the_default_branchs_config_trusts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A partial clone (--filter=blob:none) of a hostile branch lacks origin/HEAD's
    .gitstore/config.yaml; with the git remote out of reach (offline, VPN down) that
    read failed and the clone fell back to trust on first use: its first push went to
    the branch's own remote. A default branch it cannot read vouches for nothing."""
    author, clone, evil = _partial_clone_of_hostile(tmp_path)
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(tmp_path / "cache"))
    author.rename(tmp_path / "author-away")  # the git server is out of reach
    before = objects_in(evil)
    proc = _work_and_push(clone)
    assert proc.returncode != 0 and "remote trust evil" in proc.stderr, proc.stderr
    assert objects_in(evil) == before, "the clone's data went to the branch's remote"


def test_a_partial_clone_reads_the_default_branchs_config_when_it_can(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same clone with its git remote in reach: the missing blob is fetched, and
    the branch's remote is refused for what the default branch says, not for a failure."""
    _author, clone, evil = _partial_clone_of_hostile(tmp_path)
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(tmp_path / "cache"))
    before = objects_in(evil)
    proc = _work_and_push(clone)
    assert proc.returncode != 0 and "remote trust evil" in proc.stderr, proc.stderr
    assert objects_in(evil) == before
    gs(clone, "remote", "trust", "evil")
    gs(clone, "push")
    assert len(objects_in(evil)) == len(before) + 1
    assert os.path.exists(clone / ".git" / "gitstore" / "trust.yaml")


def test_a_forks_tag_named_like_the_default_branch_does_not_vouch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """refs/remotes/origin/HEAD was resolved as a revision name: in a clone without it
    (CI's checkout, `git clone --single-branch -b`, `git remote set-head origin -d`),
    git's name rules went on to refs/tags/refs/remotes/origin/HEAD, which a fork's tag
    of that name becomes once `git fetch fork` follows it. The fork's hostile commit
    then vouched for its remote, even in a clone that had used the team's remote."""
    author, _team, evil, _env = _team_and_a_hostile_branch(tmp_path)
    fork = tmp_path / "fork"
    git(tmp_path, "clone", "-q", "-b", "hostile", str(author), str(fork))
    git(fork, "tag", "refs/remotes/origin/HEAD")  # a valid tag name, at the hostile commit
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(author), str(clone))
    git(clone, "remote", "set-head", "origin", "-d")  # as in a CI checkout
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(tmp_path / "cache"))
    gs(clone, "pull")  # team, used first: trust on first use records it
    git(clone, "remote", "add", "fork", str(fork))
    git(clone, "fetch", "-q", "fork")
    refs = git(clone, "for-each-ref", "--format=%(refname)").stdout.split()
    assert "refs/tags/refs/remotes/origin/HEAD" in refs, refs
    git(clone, "checkout", "-q", "-b", "theirs", "fork/hostile")
    before = objects_in(evil)
    proc = _work_and_push(clone)
    assert proc.returncode != 0 and "remote trust evil" in proc.stderr, proc.stderr
    assert objects_in(evil) == before, "a fork's tag vouched for the fork's remote"
