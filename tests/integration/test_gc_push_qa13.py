"""QA pass 13: a push and the `gc/collected` document (docs/remotes.md, "Push and
`gc --remote`").

- a push that cannot read `gc/collected` took it for "never collected": a
  down remote cost `git push` three whole retry deadlines before its refusal,
  and a push whose index vouched for everything said "already there", exit 0;
- a collection killed ten minutes ago still read as deleting (for an hour):
  every later push warned, asked the store about everything and renewed it;
- `git push`'s hook never printed the push's warnings.
"""

from __future__ import annotations

import os
import socket
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests import servers
from tests.conftest import git, write

s3_env = servers.s3_env


def _stamp(delta: timedelta) -> str:
    return (datetime.now(timezone.utc) + delta).isoformat(timespec="seconds")


def _announce(remote: Path, heartbeat: timedelta) -> None:
    """``gc/collected`` as a collection writes it while it deletes, its heartbeat at ``heartbeat``."""
    doc = remote / "gc" / "collected"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(f"{'a' * 32} {_stamp(heartbeat)} running {_stamp(heartbeat)}\n")


@pytest.fixture
def team(repo: Path, run, tmp_path: Path) -> tuple[Path, Path]:
    """``repo`` with data tracked and pushed to a folder remote, cloned from a bare origin."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    run(repo, "install")
    run(repo, "remote", "add", "team", str(tmp_path / "remote"), "--default")
    write(repo / "data" / "a.bin", os.urandom(300))
    run(repo, "track", "data")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    git(repo, "push", "-q", "origin", "HEAD:main")
    return repo, tmp_path / "remote"


def test_a_killed_collections_stale_heartbeat_is_not_a_running_one(
    team: tuple[Path, Path], run
) -> None:
    repo, remote = team
    write(repo / "data" / "b.bin", os.urandom(300))
    run(repo, "track", "data")
    git(repo, "commit", "-qam", "b")
    _announce(remote, -timedelta(minutes=10))  # killed with kill -9 ten minutes ago
    out = run(repo, "push")
    assert "still deleting" not in out.stderr
    _announce(remote, timedelta(hours=3))  # a clock hours ahead: not one to trust either
    assert "still deleting" not in run(repo, "push").stderr


def test_git_push_prints_the_warnings_of_its_push(team: tuple[Path, Path], run) -> None:
    repo, remote = team
    write(repo / "data" / "c.bin", os.urandom(300))
    run(repo, "track", "data")
    git(repo, "commit", "-qam", "c")
    _announce(remote, timedelta(0))  # a collection deleting right now
    push = subprocess.run(
        ["git", "push", "-q", "origin", "HEAD:main"], cwd=repo, capture_output=True, text=True
    )
    assert push.returncode == 0, push.stderr
    assert "gitstore: warning: a gc --remote of 'team' was still deleting" in push.stderr


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_push_to_a_remote_that_is_down_is_refused_even_with_all_indexed(
    repo: Path, run, tmp_path: Path, s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.server import ThreadedMotoServer

    monkeypatch.setenv("GITSTORE_RETRY_DEADLINE", "2")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        servers.make_bucket(endpoint, "team")
        run(repo, "remote", "add", "s3", "s3://team/p", "--default", "--endpoint-url", endpoint)
        write(repo / "model.bin", os.urandom(500))
        run(repo, "track", "model.bin")
        git(repo, "commit", "-qm", "model")
        run(repo, "push")
    finally:
        server.stop()
    # the index vouches for every object; the store does not answer
    out = run(repo, "push", ok=False)
    lines = [x for x in out.stderr.splitlines() if not x.startswith(("hint:", "gitstore: note:"))]
    assert len(lines) == 1 and "cannot reach" in lines[0] and endpoint in lines[0], out.stderr
    assert "already there" not in out.stdout


def test_s3_direct_off_is_off(s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from gitstore.stores.s3 import S3Store

    for value in ("off", "OFF", "disabled", "no"):
        monkeypatch.setenv("GITSTORE_S3_DIRECT", value)
        store = S3Store("b", "p", endpoint_url=f"http://127.0.0.1:{_closed_port()}")
        try:
            assert store._direct_put() is None, value
        finally:
            store.close()
