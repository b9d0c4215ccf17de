"""Remote edges of the tenth QA pass, through the installed CLI and real servers on 127.0.0.1.

- a default remote (or a git-remote mapping) written into the committed config
  must name a remote that the committed config defines;
- an HTTP server that drips an object's bytes is cut off by the retry deadline;
- ``gc --remote`` on S3 aborts only the multipart uploads of its own object keys;
- an S3 endpoint that accepts and never answers is given up within the retry
  deadline (plus one read timeout), not after botocore's four requests.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitstore import layout
from gitstore.hashing import hash_bytes
from tests import servers
from tests.conftest import GITSTORE, git, write
from tests.servers import make_bucket

moto_endpoint, s3_env = servers.moto_endpoint, servers.s3_env

Run = Callable[..., subprocess.CompletedProcess[str]]
HANG_GUARD = 60  # seconds: a command still running by then is hung (not a timing check)


def _gs_bounded(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """gitstore in a subprocess that is killed (and the test failed) if it hangs."""
    try:
        return subprocess.run(
            [*GITSTORE, *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=HANG_GUARD,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"gitstore {' '.join(args)} still running after {HANG_GUARD}s: {exc}")


def _one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("gitstore: error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def _committed(repo: Path) -> dict[str, Any]:
    return yaml.safe_load((repo / ".gitstore" / "config.yaml").read_text()) or {}


# -- 1. the committed default names a committed remote ---------------------------------
def test_committed_default_or_mapping_refuses_a_remote_of_this_clone_only(
    repo: Path, run: Run, tmp_path: Path
) -> None:
    """QA 07: `remote default nas` (nas added with --local) wrote default_remote: nas into
    the committed file; teammates fell back to team and missed what pre-push sent to nas."""
    run(repo, "init")
    run(repo, "remote", "add", "team", str(tmp_path / "team"), "--default")
    git(repo, "commit", "-qm", "team remote")
    run(repo, "remote", "add", "nas", str(tmp_path / "nas"), "--local")
    before = (repo / ".gitstore" / "config.yaml").read_bytes()

    refused = run(repo, "remote", "default", "nas", ok=False)
    line = _one_error_line(refused.stderr)
    assert "'nas'" in line and "committed" in line
    assert "--local" in refused.stderr
    mapped = run(repo, "config", "set", "remote.origin", "nas", ok=False)
    assert "'nas'" in _one_error_line(mapped.stderr)
    named = run(repo, "config", "set", "default_remote", "nas", ok=False)
    assert "'nas'" in _one_error_line(named.stderr)
    assert (repo / ".gitstore" / "config.yaml").read_bytes() == before
    staged = git(repo, "diff", "--cached", "--name-only").stdout
    assert ".gitstore/config.yaml" not in staged

    # this clone's own file may name it; a committed remote may be the committed default
    run(repo, "remote", "default", "nas", "--local")
    run(repo, "config", "set", "--local", "remote.origin", "nas")
    assert run(repo, "config", "get", "default_remote").stdout.strip() == "nas"
    run(repo, "remote", "add", "archive", str(tmp_path / "archive"))
    run(repo, "remote", "default", "archive")
    run(repo, "config", "set", "remote.origin", "archive")
    assert _committed(repo)["default_remote"] == "archive"
    assert _committed(repo)["remote"] == {"origin": "archive"}


# -- 2. an HTTP server that drips ---------------------------------------------------------
class _Drip(http.server.BaseHTTPRequestHandler):
    """Serves ``root``; an object's body goes out one byte at a time, never idle for long."""

    protocol_version = "HTTP/1.1"
    root: Path
    stop: threading.Event

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        path = self.root / self.path.lstrip("/").split("?")[0]
        if not path.is_file():
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not body:
            return
        try:
            for byte in data:
                if self.stop.wait(0.2):
                    return
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
        except OSError:
            self.close_connection = True  # the client gave up


@pytest.fixture
def drip_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(base URL, folder) of a server dripping the objects of ``folder``."""
    root = tmp_path / "served"
    root.mkdir()
    stop = threading.Event()
    handler = type("Drip", (_Drip,), {"root": root, "stop": stop})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", root
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_http_remote_dripping_an_object_is_cut_off_by_the_retry_deadline(
    repo: Path, run: Run, tmp_path: Path, drip_server: tuple[str, Path]
) -> None:
    """QA 05: one byte every 2 s never tripped the 30 s idle timeout; pull hung for hours."""
    url, served = drip_server
    run(repo, "init")
    run(repo, "remote", "add", "folder", str(served), "--local", "--default")
    data = os.urandom(5000)  # 1000 s at the server's pace
    oid = hash_bytes(data)
    write(repo / "small.bin", data)
    run(repo, "track", "small.bin")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    run(repo, "push")
    assert (served / layout.object_key(oid)).is_file()

    git(tmp_path, "clone", "-q", str(repo), "b")
    b = tmp_path / "b"
    run(b, "remote", "add", "web", url, "--local", "--default")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache-b"), "GITSTORE_RETRY_DEADLINE": "2"}
    proc = _gs_bounded(b, "pull", env=env)
    assert proc.returncode != 0
    line = _one_error_line(proc.stderr)
    assert "'web'" in line and oid in line
    assert not (b / "small.bin").exists()


# -- 3. gc --remote sweeps only its own unfinished uploads ----------------------------------
def _uploads(client: Any, bucket: str) -> set[str]:
    return {u["Key"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])}


@pytest.mark.parametrize(
    ("prefix", "foreign"),
    [
        ("", ["other/objects/ab/cd/abcd" + "0" * 60, "backups/db.tar", "objects/ab/readme"]),
        ("proj", ["proj/archive/objects/ab/cd/abcd" + "0" * 60, "backups/db.tar", "proj/notes"]),
    ],
    ids=["bucket-root", "nested-prefix"],
)
def test_gc_remote_aborts_only_the_uploads_of_its_own_object_keys(
    repo: Path,
    run: Run,
    moto_endpoint: str,
    s3_env: dict[str, str],
    prefix: str,
    foreign: list[str],
) -> None:
    """QA 02/02b: at s3://bucket every unfinished upload in the bucket was aborted (another
    repository's, another program's); at s3://bucket/proj a nested remote's too."""
    import boto3

    bucket = f"sweep-{prefix or 'root'}"
    make_bucket(moto_endpoint, bucket)
    url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
    run(repo, "init")
    run(repo, "remote", "add", "team", url, "--endpoint-url", moto_endpoint, "--default")
    write(repo / "f.bin", os.urandom(1000))
    run(repo, "track", "f.bin")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    run(repo, "push")

    client = boto3.client("s3", endpoint_url=moto_endpoint)
    own_key = layout.object_key(hash_bytes(b"an upload killed half-way"))
    own = f"{prefix}/{own_key}" if prefix else own_key
    for key in [*foreign, own]:
        client.create_multipart_upload(Bucket=bucket, Key=key)
    assert _uploads(client, bucket) == {*foreign, own}
    time.sleep(1.1)  # begun before the cutoff of --grace 0 (S3 dates are whole seconds)

    dry = run(repo, "gc", "--remote", "team", "--dry-run", "--grace", "0", "--json")
    assert _uploads(client, bucket) == {*foreign, own}
    assert json.loads(dry.stdout)["tmp_deleted"] == [f"upload {own_key}"]
    run(repo, "gc", "--remote", "team", "--yes", "--grace", "0")
    assert _uploads(client, bucket) == set(foreign)


# -- 4. an S3 endpoint that accepts and never answers ----------------------------------------
@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a TCP server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            if stop.is_set():  # accepted as the fixture ended: never left unclosed
                conn.close()
                return
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (a close alone may not)
        listener.close()
        thread.join(5)
        for conn in held:
            conn.close()


def test_s3_endpoint_that_never_answers_is_given_up_within_the_deadline(
    repo: Path, run: Run, tmp_path: Path, s3_env: dict[str, str], silent_endpoint: str
) -> None:
    """QA 06: botocore's max_attempts 3 meant 4 requests of 20 s each, whatever the deadline."""
    run(repo, "init")
    run(repo, "remote", "add", "team", "s3://bucket/p", "--endpoint-url", silent_endpoint)
    data = os.urandom(3000)
    write(repo / "f.bin", data)
    run(repo, "track", "f.bin")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")

    git(tmp_path, "clone", "-q", str(repo), "b")
    b = tmp_path / "b"
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache-b"), "GITSTORE_RETRY_DEADLINE": "2"}
    proc = _gs_bounded(b, "pull", env=env)
    assert proc.returncode != 0
    line = _one_error_line(proc.stderr)
    assert "'team'" in line and silent_endpoint.removeprefix("http://") in line
    assert hash_bytes(data) in line
