"""A commit from before the team committed its remote still reads and pushes its data.

Its ``.gitstore/config.yaml`` names no remote, so a clone that checks it out
with git (last March's data) had none: the checkout's fetch, ``gitstore pull``
and a push of a branch made from it all failed with "no remote is
configured". When no file names a remote, the upstream's default branch's
remotes are used (docs/remotes.md, "A commit older than the team's remote").
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from blake3 import blake3

from tests.integration.test_hooks import Clone, objects_in


def _history(tmp_path: Path) -> tuple[Clone, Path, Path]:
    """(alice, origin, store): data v1 committed before any remote, then the remote, then v2."""
    origin = tmp_path / "origin.git"
    store = tmp_path / "store"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    alice = Clone(tmp_path / "alice", tmp_path / "alice-cache")
    subprocess.run(
        ["git", "clone", "-q", str(origin), str(alice.path)], check=True, capture_output=True
    )
    alice.git("checkout", "-q", "-b", "main")
    alice.gs("init")
    alice.write("data/a.bin", b"alpha, march")
    alice.gs("track", "data")
    alice.git("commit", "-qm", "march: no remote yet")
    alice.git("tag", "march")
    alice.gs("remote", "add", "team", str(store), "--default")
    alice.git("commit", "-qm", "the team's remote")
    alice.write("data/a.bin", b"alpha, april")
    alice.commit_data("april")
    alice.git("push", "-q", "origin", "main", "march")
    return alice, origin, store


def _clone(tmp_path: Path, origin: Path, name: str) -> Clone:
    clone = Clone(tmp_path / name, tmp_path / f"{name}-cache")
    subprocess.run(
        ["git", "clone", "-q", str(origin), str(clone.path)], check=True, capture_output=True
    )
    clone.gs("install")
    return clone


def test_git_checkout_of_a_commit_older_than_the_remote_fetches_its_data(tmp_path: Path) -> None:
    _alice, origin, _store = _history(tmp_path)
    bob = _clone(tmp_path, origin, "bob")
    switched = bob.git("checkout", "-q", "march")  # an empty cache: the hook must fetch
    assert bob.read("data/a.bin") == b"alpha, march", switched.stderr
    assert "unmaterialised" not in switched.stderr
    states = {r["path"]: r["state"] for r in json.loads(bob.gs("status", "--json").stdout)}
    assert states == {"data": "unchanged"}
    listed = bob.gs("remote", "list").stdout
    assert "team" in listed and "[upstream]" in listed


def test_pull_at_an_old_commit_uses_the_default_branchs_remote(tmp_path: Path) -> None:
    _alice, origin, _store = _history(tmp_path)
    carol = Clone(tmp_path / "carol", tmp_path / "carol-cache")
    subprocess.run(
        ["git", "clone", "-q", "-b", "march", str(origin), str(carol.path)],
        check=True,
        capture_output=True,
    )
    carol.gs("pull")
    assert carol.read("data/a.bin") == b"alpha, march"


def test_a_branch_made_from_an_old_commit_pushes_its_data_to_the_team(tmp_path: Path) -> None:
    _alice, origin, store = _history(tmp_path)
    bob = _clone(tmp_path, origin, "bob")
    bob.git("checkout", "-q", "-b", "rerun", "march")
    bob.write("data/a.bin", b"alpha, march, cleaned")
    bob.commit_data("clean march's data")
    assert not (bob.path / ".gitstore" / "config.yaml").read_text().count("team")
    bob.git("push", "-q", "origin", "rerun")
    assert blake3(b"alpha, march, cleaned").hexdigest() in objects_in(store)


def test_the_upstream_remote_is_not_removed_from_a_file_that_lacks_it(tmp_path: Path) -> None:
    _alice, origin, _store = _history(tmp_path)
    bob = _clone(tmp_path, origin, "bob")
    bob.git("checkout", "-q", "march")
    refused = bob.gs("remote", "remove", "team", ok=False)
    assert refused.stderr.splitlines()[0] == (
        "gitstore: error: remote 'team' is not in this commit's config: it is the upstream's"
        " default branch's, used because no file here names a remote"
    )


def test_without_an_upstream_default_branch_nothing_is_taken(tmp_path: Path) -> None:
    """Two git remotes, neither called origin: no branch speaks for the team (as for trust)."""
    _alice, origin, _store = _history(tmp_path)
    bob = _clone(tmp_path, origin, "bob")
    bob.git("remote", "rename", "origin", "upstream")
    bob.git("remote", "add", "fork", str(origin))
    switched = bob.git("checkout", "-q", "march")  # nothing fetched, and the hook says why
    assert not (bob.path / "data" / "a.bin").exists()
    assert "no gitstore remote is configured" in switched.stderr, switched.stderr
    failed = bob.gs("pull", ok=False)
    assert "no remote is configured" in failed.stderr
