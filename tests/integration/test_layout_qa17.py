"""Repository layouts at their edges (seventeenth QA pass, docs/reliability.md): each
test is a finding, run through the real git binary with gitstore's hooks installed.
"""

from __future__ import annotations

from tests.integration.test_hooks import Clone
from tests.integration.test_hooks import team as _team

team = _team  # the fixture: alice has pushed data/ to a folder remote ``store``


def test_a_sparse_linked_worktree_keeps_the_teams_remote(team) -> None:
    """A linked worktree keeps its sparse patterns in its own git dir: the committed
    config it leaves out is still read from git's index, and a push uploads."""
    alice, _bob, _origin, store = team
    wt = alice.path.parent / "alice-wt"
    alice.git("worktree", "add", "-q", "-b", "wtb", str(wt))
    linked = Clone(wt, alice.cache)
    linked.git("sparse-checkout", "set", "code")  # cone mode: .gitstore/ is left out
    assert not (wt / ".gitstore" / "config.yaml").exists()
    assert "team" in linked.gs("remote", "list").stdout
    linked.write("new.bin", b"new in the worktree")
    linked.gs("track", "new.bin")
    linked.git("commit", "-qm", "new data")
    linked.git("push", "-q", "origin", "wtb")
    assert len(list((store / "objects").glob("*/*/*"))) == 3
