"""A commit made in another terminal while a hook fetches (docs/reliability.md, "Left" of
the twenty-sixth pass): refused, as it must be, but it said that the checkout "did not
finish" and to run `gitstore pull`, beside a checkout still at work. The hook now holds
a lock while it brings its paths, and pre-commit and status tell the two apart.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from tests.integration.test_hooks import Clone
from tests.integration.test_hooks import team as _team

team = _team  # the fixture: alice has pushed data/ (a.bin, b.bin) to a folder remote


def _on_branch(alice: Clone, branch: str, rel: str, data: bytes) -> None:
    """A new branch ``branch`` whose commit changes the tracked ``rel``/*.bin to ``data``."""
    alice.git("switch", "-qc", branch)
    alice.write(f"{rel}/{'a' if rel == 'data' else 'm'}.bin", data)
    alice.gs("track", rel)
    alice.git("commit", "-qm", f"{rel} on {branch}")


def _models_on_main(alice: Clone) -> None:
    alice.write("models/m.bin", b"model v1")
    alice.gs("track", "models")
    alice.git("commit", "-qm", "models v1")
    alice.git("push", "-q", "origin", "main")


def _feat_pushed(alice: Clone) -> None:
    _on_branch(alice, "feat", "data", b"alpha v2 on feat")
    alice.git("push", "-q", "origin", "feat")


def _marked(bob: Clone, deadline: float, rel: str = "data") -> bool:
    marks = bob.path / ".git" / "gitstore" / "unmaterialised.json"
    while time.monotonic() < deadline:
        try:
            if rel in json.loads(marks.read_text() or "{}"):
                return True
        except (OSError, ValueError):  # not there yet, or being replaced
            pass
        time.sleep(0.05)
    return False


def _switching(bob: Clone, branch: str, pause: int) -> subprocess.Popen[str]:
    """``git switch BRANCH`` whose hook waits ``pause`` s before it fetches (a slow
    remote), once it has marked what it brings; in a process group of its own."""
    switch = subprocess.Popen(
        ["git", "switch", "-q", branch],
        cwd=bob.path,
        env=dict(bob.env, GITSTORE_FAULT=f"pause-fetch:{pause}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    return switch


def _bob_with_feat(team) -> Clone:  # type: ignore[no-untyped-def]
    alice, bob, _origin, _store = team
    _feat_pushed(alice)
    bob.gs("install")
    bob.gs("pull")
    bob.git("fetch", "-q", "origin", "feat")
    return bob


def test_a_commit_beside_a_hook_that_fetches_says_it_is_under_way(team) -> None:
    bob = _bob_with_feat(team)
    switch = _switching(bob, "feat", 6)
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
    bob = _bob_with_feat(team)
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


def test_a_second_switch_waits_for_the_first_hook_and_the_data_follows_it(team) -> None:
    """Twenty-seventh pass: the first hook woke after the second had brought main's files,
    wrote feat's under main's manifest, and the next commit recorded them."""
    bob = _bob_with_feat(team)
    first = _switching(bob, "feat", 4)
    try:
        assert _marked(bob, time.monotonic() + 30), "the hook never marked data"
        bob.git("switch", "-q", "main")  # its hook waits for the first one's turn
    finally:
        first.communicate(timeout=120)
    assert bob.read("data/a.bin") == b"alpha v1"
    status = bob.gs("status")
    assert status.stdout.split() == ["unchanged", "data"], status.stdout + status.stderr
    bob.write("code.py", "print(3)\n")
    bob.git("commit", "-qam", "code only")
    assert bob.git("show", "--name-only", "--format=", "HEAD").stdout.split() == ["code.py"]


def test_track_checkout_and_pull_of_a_path_being_brought_are_refused(team) -> None:
    """Twenty-seventh pass: `gitstore track data` beside the hook recorded the old files,
    and the commit reverted the other branch's data; `gitstore checkout main data` was
    undone by the hook a moment later."""
    bob = _bob_with_feat(team)
    switch = _switching(bob, "feat", 6)
    try:
        assert _marked(bob, time.monotonic() + 30), "the hook never marked data"
        refused = [
            bob.gs("track", "data", ok=False),
            bob.gs("checkout", "main", "data", ok=False),
            bob.gs("pull", "data", ok=False),
        ]
        assert switch.poll() is None, "the hook ended before the commands were tried"
    finally:
        switch.communicate(timeout=120)
    for proc in refused:
        assert proc.returncode == 4, proc.stderr
        assert "data is still being brought by another git command" in proc.stderr, proc.stderr
        assert "wait for that command to end" in proc.stderr
    assert bob.read("data/a.bin") == b"alpha v2 on feat"
    assert bob.gs("status").stdout.split() == ["unchanged", "data"]
    assert bob.git("status", "--porcelain").stdout == ""


def test_marks_a_killed_hook_left_are_not_taken_for_another_hooks_paths(team) -> None:
    """Twenty-seventh pass: with data left by a killed hook, a commit beside another
    hook (bringing models only) said data was still being brought, to wait for it."""
    alice, bob, _origin, _store = team
    _models_on_main(alice)
    _feat_pushed(alice)  # feat: data v2
    _on_branch(alice, "feat2", "models", b"model v2 on feat2")
    alice.git("push", "-q", "origin", "feat2")
    bob.gs("install")
    bob.git("pull", "-q", "--no-rebase", "origin", "main")  # models v1 too
    bob.gs("pull")
    bob.git("fetch", "-q", "origin", "feat", "feat2")
    killed = _switching(bob, "feat", 30)
    assert _marked(bob, time.monotonic() + 30), "the hook never marked data"
    os.killpg(killed.pid, signal.SIGKILL)  # git and its hook, mid-fetch
    killed.communicate(timeout=60)
    # git can hold its index lock while its hook runs: what git then tells the user to do
    (bob.path / ".git" / "index.lock").unlink(missing_ok=True)
    switch = _switching(bob, "feat2", 6)
    try:
        assert _marked(bob, time.monotonic() + 30, "models"), "the hook never marked models"
        bob.write("notes.txt", "notes\n")
        bob.git("add", "notes.txt")
        refused = bob.git("commit", "-qm", "notes", ok=False)
        status = bob.gs("status")
    finally:
        _out, err = switch.communicate(timeout=120)
    assert switch.returncode == 0, err
    assert "data was left unmaterialised" in refused.stderr, refused.stderr
    assert "a checkout did not finish" in refused.stderr
    assert "models is still being brought by another git command" in refused.stderr
    assert "data is still being brought" not in refused.stderr
    assert "`gitstore pull data` finishes it" in status.stderr, status.stderr
    bob.gs("pull")
    assert bob.read("data/a.bin") == b"alpha v2 on feat"
    assert bob.read("models/m.bin") == b"model v2 on feat2"


def test_plain_commands_with_stdout_closed_end_quietly(team) -> None:
    """Twenty-seventh pass: `gitstore track more >&-` (and status, checkout) printed a
    traceback (Python has no sys.stdout then); click's commands end quietly."""
    alice, _bob, _origin, _store = team
    alice.write("more/x.bin", b"x-ray")
    for args in ("track more", "status", "checkout"):
        proc = subprocess.run(
            ["sh", "-c", f"gitstore {args} >&-"],
            cwd=alice.path,
            env=alice.env,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, (args, proc.stderr)
        assert "Traceback" not in proc.stderr, proc.stderr
    assert (alice.path / "more.gitstore").is_file()


def _team_with_models(team) -> Clone:  # type: ignore[no-untyped-def]
    """Branches b2 (data v2) and b4 (b2 and models v4) pushed; bob on main, up to date."""
    alice, bob, _origin, _store = team
    _models_on_main(alice)
    _on_branch(alice, "b2", "data", b"alpha v2 on b2")
    _on_branch(alice, "b4", "models", b"model v4 on b4")
    alice.git("push", "-q", "origin", "b2", "b4")
    bob.gs("install")
    bob.git("pull", "-q", "--no-rebase", "origin", "main")
    bob.gs("pull")
    bob.git("fetch", "-q", "origin", "b2", "b4")
    return bob


def _marks(bob: Clone) -> dict[str, str]:
    path = bob.path / ".git" / "gitstore" / "unmaterialised.json"
    return json.loads(path.read_text()) if path.exists() else {}


def test_a_hook_that_gives_up_waiting_keeps_its_marks(team) -> None:
    """Twenty-eighth pass: the second hook gave up waiting and marked models; the first,
    ending, wrote back the marks it had read before, and models' mark was gone."""
    bob = _team_with_models(team)
    first = _switching(bob, "b2", 6)
    try:
        assert _marked(bob, time.monotonic() + 30), "the hook never marked data"
        env = dict(bob.env, GITSTORE_LOCK_TIMEOUT="1")
        second = subprocess.run(
            ["git", "switch", "-q", "b4"], cwd=bob.path, env=env, capture_output=True, text=True
        )
    finally:
        first.communicate(timeout=120)
    assert second.returncode == 0, second.stderr
    assert "another git command's hook is still bringing data here" in second.stderr
    assert _marks(bob) == {"models": "a checkout did not finish"}
    status = bob.gs("status")
    assert "`gitstore pull models` finishes it" in status.stderr, status.stderr
    bob.gs("pull")
    assert bob.read("models/m.bin") == b"model v4 on b4"
    assert bob.read("data/a.bin") == b"alpha v2 on b2"
    assert _marks(bob) == {}


def test_a_reset_back_during_a_fetch_leaves_no_mark(team) -> None:
    """Twenty-eighth pass: a reset back to the files already there, during the first
    hook's fetch, left data marked 'did not finish' for good, and refused a real edit."""
    bob = _team_with_models(team)
    main = bob.git("rev-parse", "main").stdout.strip()
    first = _switching(bob, "b2", 4)
    try:
        assert _marked(bob, time.monotonic() + 30), "the hook never marked data"
        bob.git("reset", "-q", "--hard", main)
    finally:
        first.communicate(timeout=120)
    assert bob.read("data/a.bin") == b"alpha v1"
    assert _marks(bob) == {}
    assert bob.gs("status").stdout.split() == ["unchanged", "data", "unchanged", "models"]
    bob.write("data/a.bin", b"alpha edited")
    first_run = bob.git("commit", "-qam", "edit", ok=None)  # refreshed, not refused
    assert "refreshed and staged data.gitstore" in first_run.stderr, first_run.stderr
    bob.git("commit", "-qam", "edit")  # the documented second run of a data-only commit
    assert "data.gitstore" in bob.git("show", "--name-only", "--format=", "HEAD").stdout


def test_a_waiting_hook_killed_leaves_its_paths_marked(team) -> None:
    """Twenty-eighth pass: a second hook killed while it waited for its turn left models
    (v1 files under the v4 manifest) unmarked."""
    bob = _team_with_models(team)
    first = _switching(bob, "b2", 6)
    try:
        assert _marked(bob, time.monotonic() + 30), "the hook never marked data"
        second = _switching(bob, "b4", 0)
        assert _marked(bob, time.monotonic() + 30, "models"), "the waiting hook marked nothing"
        os.killpg(second.pid, signal.SIGKILL)
        second.communicate(timeout=60)
        (bob.path / ".git" / "index.lock").unlink(missing_ok=True)
    finally:
        first.communicate(timeout=120)
    assert bob.read("models/m.bin") == b"model v1"
    assert _marks(bob).get("models") == "a checkout did not finish"
    assert "`gitstore pull models` finishes it" in bob.gs("status").stderr
    bob.gs("pull")
    assert bob.read("models/m.bin") == b"model v4 on b4"


def test_an_unusable_lock_file_is_named_and_the_paths_marked(team) -> None:
    """Twenty-eighth pass: with bringing.lock a folder, the hook said another git
    command's hook was bringing data, and left data unmarked."""
    bob = _team_with_models(team)
    lock = bob.path / ".git" / "gitstore" / "bringing.lock"
    lock.unlink(missing_ok=True)
    lock.mkdir()
    switch = bob.git("switch", "-q", "b2")
    assert "bringing.lock" in switch.stderr, switch.stderr
    assert "another git command" not in switch.stderr
    assert _marks(bob) == {"data": "a checkout did not finish"}
