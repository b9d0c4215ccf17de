"""Real servers on 127.0.0.1 for tests: an S3 endpoint (moto) and a static HTTP server.

Bring the fixtures into a test module's namespace to use them (an assignment,
so that ruff does not see test arguments redefining an import)::

    from tests import servers

    moto_endpoint, s3_env, static_http = servers.moto_endpoint, servers.s3_env, servers.static_http

- ``moto_endpoint`` (module scope): the URL of a ``ThreadedMotoServer`` on
  127.0.0.1 with a random port; every test module gets a fresh one.
- ``s3_env``: sets dummy AWS credentials (and points the AWS config files at
  empty files, so nothing from outside is read) for this test and for
  subprocesses it starts; returns the environment it set.
- ``make_bucket(endpoint, name)``: creates a bucket on that endpoint.
- ``atomic_conditional_writes()``: makes moto's conditional PUTs atomic, as
  S3's are (every fixture here that starts moto calls it).
- ``static_http``: a factory; ``static_http(folder)`` serves ``folder`` read-only
  over HTTP on 127.0.0.1 and returns its base URL (ending in ``/``). Servers
  stop when the test ends.
- :class:`StaticServer`: the same, usable as a context manager outside pytest.

No address but loopback is ever used; AWS_EC2_METADATA_DISABLED is set so
botocore never looks for instance credentials.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


_CONDITIONAL = threading.Lock()


def atomic_conditional_writes() -> None:
    """Serialise moto's conditional PUTs (``If-None-Match``, ``If-Match``).

    moto looks for the key and then writes it with nothing in between, so two
    concurrent ``If-None-Match: *`` PUTs can both succeed under load; S3
    itself never lets them (one gets 412). The contract tests check that
    gitstore relies on exactly that guarantee, so the fake must give it.
    """
    from moto.s3.responses import S3Response

    original = S3Response.put_object
    if getattr(original, "atomic_conditional", False):
        return

    @functools.wraps(original)
    def put_object(self: Any) -> Any:
        if self.headers.get("If-None-Match") or self.headers.get("If-Match"):
            with _CONDITIONAL:
                return original(self)
        return original(self)

    put_object.atomic_conditional = True  # type: ignore[attr-defined]
    S3Response.put_object = put_object  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a moto S3 server running for this test module."""
    from moto.server import ThreadedMotoServer

    atomic_conditional_writes()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """Dummy AWS credentials in os.environ (inherited by subprocesses)."""
    empty = tmp_path / "aws-empty"
    empty.write_text("")
    env = {**DUMMY_AWS, "AWS_CONFIG_FILE": str(empty), "AWS_SHARED_CREDENTIALS_FILE": str(empty)}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def s3_store_on(endpoint: str, bucket: str) -> Iterator[object]:
    """A fresh bucket on ``endpoint`` and an S3Store on it under prefix ``p``, closed after.

    For a fixture: ``yield from s3_store_on(moto_endpoint, "name")``.
    """
    from gitstore.stores.s3 import S3Store

    make_bucket(endpoint, bucket)
    store = S3Store(bucket, "p", endpoint_url=endpoint)
    yield store
    store.close()


def serve_in_thread(server: http.server.HTTPServer) -> Iterator[str]:
    """Serve ``server`` (bound to 127.0.0.1) on a daemon thread: yields its base URL, shuts it down after.

    For a fixture: ``yield from serve_in_thread(server)``.
    """
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def make_bucket(endpoint: str, name: str) -> None:
    """Create bucket ``name`` on the S3 endpoint (moto accepts the dummy credentials)."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=name)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class StaticServer:
    """Serves a folder read-only on 127.0.0.1; ``url`` is its base URL."""

    def __init__(self, folder: Path | str) -> None:
        handler = functools.partial(_QuietHandler, directory=os.fspath(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        host, port = self.httpd.server_address[:2]
        self.url = f"http://{host}:{port}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> StaticServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> StaticServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture
def static_http() -> Iterator[Callable[[Path], str]]:
    """``static_http(folder) -> base URL``; every server stops after the test."""
    servers: list[StaticServer] = []

    def serve(folder: Path) -> str:
        folder.mkdir(parents=True, exist_ok=True)
        server = StaticServer(folder).start()
        servers.append(server)
        return server.url

    yield serve
    for server in servers:
        server.stop()
