"""A checkout in the middle of a rebase does not outlive it.

The hooks bring no data while a rebase runs; its post-rewrite moves the work
tree from the tip it started from to the new tip, writing the entries that
differ between the two. A ``gitstore checkout`` in an ``exec`` line (as
docs/hooks.md suggests: ``git rebase -x 'gitstore checkout && pytest'``)
leaves that step's data on disk, which that delta never looked at.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.test_hooks import Clone, solo


def _states(repo: Clone) -> dict[str, str]:
    return {r["path"]: r["state"] for r in json.loads(repo.gs("status", "--json").stdout)}


def test_a_checkout_in_an_exec_line_is_undone_by_the_rebases_end(tmp_path: Path) -> None:
    repo = solo(tmp_path / "repo", tmp_path / "cache")
    repo.write("data/a.bin", b"alpha v1")
    repo.write("data/b.bin", b"bravo v1")
    repo.gs("track", "data")
    repo.git("commit", "-qm", "v1")
    repo.git("switch", "-qc", "topic")
    for message, data in (("try x", b"alpha x"), ("back to v1", b"alpha v1")):
        repo.write("data/a.bin", data)
        repo.commit_data(message)
    repo.git("switch", "-q", "main")
    repo.write("data/b.bin", b"bravo main")
    repo.commit_data("main")
    repo.git("switch", "-q", "topic")

    # an exec after the first pick only: the step's data is checked out there
    repo.env["GIT_SEQUENCE_EDITOR"] = "sed -i '1a exec gitstore checkout'"
    repo.git("rebase", "-q", "-i", "main")
    assert repo.gs("cat", "data/a.bin", "--rev", "HEAD").stdout == "alpha v1"
    assert repo.read("data/a.bin") == b"alpha v1"  # the old tip's too: the delta skipped it
    assert repo.read("data/b.bin") == b"bravo main"
    assert _states(repo) == {"data": "unchanged"}
    assert not (repo.path / ".git" / "gitstore" / "rebase-touched").exists()


def test_a_rebase_with_nothing_to_pick_and_an_autostash_keeps_both_sides(tmp_path: Path) -> None:
    """git rebase --autostash onto a branch ahead, with no local commit: a fast-forward
    that rewrites nothing, so no post-rewrite; its checkout of the new base brings the data."""
    from tests.integration.test_hooks import make_team

    alice, bob, _origin = make_team(tmp_path, str(tmp_path / "store"))
    bob.gs("install")
    bob.gs("pull")
    bob.write("data/b.bin", b"bravo by bob, tracked, not committed")
    bob.gs("track", "data")
    alice.write("data/a.bin", b"alpha by alice")
    alice.commit_data("alice's a")
    alice.git("push", "-q")
    bob.git("fetch", "-q")
    bob.git("rebase", "-q", "--autostash", "origin/main")
    assert bob.read("data/a.bin") == b"alpha by alice"
    assert bob.read("data/b.bin") == b"bravo by bob, tracked, not committed"
    assert _states(bob) == {"data": "unchanged"}
