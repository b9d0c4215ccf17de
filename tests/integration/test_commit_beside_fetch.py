"""A commit made in another terminal while a hook fetches (docs/reliability.md, "Left" of
the twenty-sixth pass): refused, as it must be, but it said that the checkout "did not
finish" and to run `gitstore pull`, beside a checkout still at work. The hook now holds
a lock while it brings its paths, and pre-commit and status tell the two apart.
"""

from __future__ import annotations

import json
import subprocess
import time

from tests.integration.test_hooks import Clone
from tests.integration.test_hooks import team as _team

team = _team  # the fixture: alice has pushed data/ (a.bin, b.bin) to a folder remote


def _feat_pushed(alice: Clone) -> None:
    alice.git("switch", "-qc", "feat")
    alice.write("data/a.bin", b"alpha v2 on feat")
    alice.gs("track", "data")
    alice.git("commit", "-qm", "data v2")
    alice.git("push", "-q", "origin", "feat")


def _marked(bob: Clone, deadline: float) -> bool:
    marks = bob.path / ".git" / "gitstore" / "unmaterialised.json"
    while time.monotonic() < deadline:
        if marks.exists() and "data" in json.loads(marks.read_text() or "{}"):
            return True
        time.sleep(0.05)
    return False


def test_a_commit_beside_a_hook_that_fetches_says_it_is_under_way(team) -> None:
    alice, bob, _origin, _store = team
    _feat_pushed(alice)
    bob.gs("install")
    bob.gs("pull")
    bob.git("fetch", "-q", "origin", "feat")
    switch = subprocess.Popen(
        ["git", "switch", "-q", "feat"],
        cwd=bob.path,
        env=dict(bob.env, GITSTORE_FAULT="pause-fetch:6"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _marked(bob, time.monotonic() + 30), "the hook never marked data"
        bob.write("notes.txt", "notes\n")
        bob.git("add", "notes.txt")
        refused = bob.git("commit", "-qm", "notes", ok=False)
        status = bob.gs("status")
        assert switch.poll() is None, "the hook ended before the commit was tried"
    finally:
        _out, err = switch.communicate(timeout=120)
    assert refused.returncode != 0
    assert "still being brought by another git command" in refused.stderr, refused.stderr
    assert "wait for that command to end, then commit again" in refused.stderr
    assert "did not finish" not in refused.stderr
    assert "is being brought by another git command" in status.stderr, status.stderr
    assert switch.returncode == 0, err
    assert bob.read("data/a.bin") == b"alpha v2 on feat"
    bob.git("commit", "-qm", "notes")  # the switch has ended: the same commit goes through
    assert "notes.txt" in bob.git("show", "--name-only", "HEAD").stdout


def test_marks_left_by_a_stopped_hook_still_say_it_did_not_finish(team) -> None:
    """No hook at work: the marks are a checkout's that stopped, and the way out is pull."""
    alice, bob, _origin, _store = team
    _feat_pushed(alice)
    bob.gs("install")
    bob.gs("pull")
    bob.git("fetch", "-q", "origin", "feat")
    bob.git("-c", "core.hooksPath=/dev/null", "switch", "-q", "feat")
    state = bob.path / ".git" / "gitstore"
    (state / "unmaterialised.json").write_text('{"data": "a checkout did not finish"}')
    (state / "bringing.lock").touch()  # left by an earlier hook: nobody holds it
    bob.write("notes.txt", "notes\n")
    bob.git("add", "notes.txt")
    refused = bob.git("commit", "-qm", "notes", ok=False)
    assert refused.returncode != 0
    assert "a checkout did not finish" in refused.stderr, refused.stderr
    assert "gitstore pull" in refused.stderr
    assert "still being brought" not in refused.stderr
    assert "`gitstore pull data` finishes it" in bob.gs("status").stderr
