"""S3 requests whose answer legitimately comes late, through a real proxy in front of moto.

Completing a multipart upload and a server-side copy make the server work
through the whole object before it answers (AWS: "could take several
minutes"). A benchmark of a 2 GiB push failed on it: the completion outlasted
the 20 s read timeout that guards against servers that never answer. These
requests go through a client with a long read timeout; a completion whose
answer is lost is judged by the object being there; an object above S3's
5 GiB CopyObject limit is renewed with a multipart copy.
"""

from __future__ import annotations

import http.client
import http.server
import itertools
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gitstore import layout
from gitstore.hashing import hash_bytes
from gitstore.stores.s3 import S3Store
from tests import servers
from tests.servers import make_bucket

moto_endpoint, s3_env = servers.moto_endpoint, servers.s3_env

LATE = 2.5  # seconds a held-back answer waits; the ordinary read timeout is set to 1 s

_BUCKETS = itertools.count()
Rule = Callable[[str, str, Any], "float | str | None"]


class _Proxy(http.server.BaseHTTPRequestHandler):
    """Forwards every request to moto; ``rule`` may hold an answer back or drop it."""

    protocol_version = "HTTP/1.1"
    upstream: str
    rule: Rule

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        action = type(self).rule(self.command, self.path, self.headers)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "expect"}
        upstream = http.client.HTTPConnection(self.upstream, timeout=60)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
        finally:
            upstream.close()
        if action == "drop":  # the server did the work; its answer never arrives
            self.close_connection = True
            return
        if isinstance(action, float):
            time.sleep(action)
        try:
            self.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(name, value)
            # a HEAD's length is the object's, as upstream said; a body's is what was read
            length = (
                answer.getheader("Content-Length", "0") if self.command == "HEAD" else len(data)
            )
            self.send_header("Content-Length", str(length))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up on a held answer
            self.close_connection = True

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward


@pytest.fixture
def proxied(moto_endpoint: str, s3_env: dict[str, str]) -> Iterator[tuple[S3Store, list[Rule]]]:
    """An S3Store reaching moto through the proxy (read timeout 1 s), and the proxy's rule slot."""
    rules: list[Rule] = [lambda method, path, headers: None]
    handler = type(
        "Handler",
        (_Proxy,),
        {
            "upstream": moto_endpoint.removeprefix("http://"),
            "rule": staticmethod(lambda *a: rules[0](*a)),
        },
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    bucket = f"slow-{next(_BUCKETS)}"
    make_bucket(moto_endpoint, bucket)
    for url in servers.serve_in_thread(server):
        store = S3Store(bucket, "p", endpoint_url=url)
        store.read_timeout = 1.0
        store.multipart_threshold = store.multipart_chunksize = 5 << 20
        store.put_in_memory_max = 1 << 20
        try:
            yield store, rules
        finally:
            store.close()


def _object(store: S3Store, oid: str) -> bytes:
    key = store._key(layout.object_key(oid))
    body = store.client.get_object(Bucket=store.bucket, Key=key)["Body"]
    try:
        return bytes(body.read())
    finally:
        body.close()


def _source(tmp_path: Path, size: int) -> tuple[Path, bytes, str]:
    data = os.urandom(size)
    src = tmp_path / "src"
    src.write_bytes(data)
    return src, data, hash_bytes(data)


def test_a_multipart_completion_that_answers_late_is_waited_for(
    proxied: tuple[S3Store, list[Rule]], tmp_path: Path
) -> None:
    store, rules = proxied
    src, data, oid = _source(tmp_path, 6 << 20)
    held: list[str] = []

    def hold_completion(method: str, path: str, headers: Any) -> float | None:
        if method == "POST" and "uploadId=" in path:
            held.append(path)
            return LATE
        return None

    rules[0] = hold_completion
    store.put(oid, src)
    assert len(held) == 1  # completed once, not retried after a read timeout
    assert _object(store, oid) == data


def test_a_multipart_completion_whose_answer_is_lost_is_judged_by_the_object(
    proxied: tuple[S3Store, list[Rule]], tmp_path: Path
) -> None:
    store, rules = proxied
    src, data, oid = _source(tmp_path, 6 << 20)
    completions: list[str] = []

    def drop_first_completion(method: str, path: str, headers: Any) -> str | None:
        if method == "POST" and "uploadId=" in path:
            completions.append(path)
            return "drop" if len(completions) == 1 else None
        return None

    rules[0] = drop_first_completion
    store.put(oid, src)  # the retried completion finds no upload: the object is there
    assert completions and _object(store, oid) == data
    assert store.stat(oid).size == len(data)


def test_a_renewal_copy_that_answers_late_is_waited_for(
    proxied: tuple[S3Store, list[Rule]], tmp_path: Path
) -> None:
    store, rules = proxied
    src, data, oid = _source(tmp_path, 200 << 10)
    store.put(oid, src)
    before = store.stat(oid).mtime
    time.sleep(1.1)  # LastModified has whole seconds
    copies: list[str] = []

    def hold_copy(method: str, path: str, headers: Any) -> float | None:
        if method == "PUT" and headers.get("x-amz-copy-source"):
            copies.append(path)
            return LATE
        return None

    rules[0] = hold_copy
    store.touch(oid)
    after = store.stat(oid).mtime
    assert copies and before is not None and after is not None and after > before
    assert _object(store, oid) == data


def test_an_object_above_the_copy_limit_is_renewed_in_parts(
    proxied: tuple[S3Store, list[Rule]], tmp_path: Path
) -> None:
    store, rules = proxied
    src, data, oid = _source(tmp_path, 6 << 20)
    store.put(oid, src)
    before = store.stat(oid).mtime
    time.sleep(1.1)
    seen: list[tuple[str, str]] = []

    def record(method: str, path: str, headers: Any) -> None:
        seen.append((method, path))
        return None

    rules[0] = record
    store.copy_max = 5 << 20  # S3's limit is 5 GiB; the same code path at a testable size
    store.touch(oid)
    after = store.stat(oid).mtime
    assert before is not None and after is not None and after > before
    assert any(method == "PUT" and "partNumber=" in path for method, path in seen)
    assert _object(store, oid) == data


def test_ranged_reads_of_a_big_object_that_start_late_are_waited_for(
    proxied: tuple[S3Store, list[Rule]], tmp_path: Path
) -> None:
    store, rules = proxied
    store.ranged_get_min = 1 << 20
    store.range_size = 1 << 20
    src, data, oid = _source(tmp_path, 3 << 20)
    store.put(oid, src)
    ranges: list[str] = []

    def hold_ranges(method: str, path: str, headers: Any) -> float | None:
        if method == "GET" and headers.get("Range"):
            ranges.append(headers["Range"])
            return LATE
        return None

    rules[0] = hold_ranges
    store.get(oid, tmp_path / "out")
    assert len(ranges) >= 2 and (tmp_path / "out").read_bytes() == data
