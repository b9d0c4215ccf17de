"""Faults: a flaky HTTP remote, a wrong object on a remote, a full disk, a read-only cache.

Every fault must end in a clear one-line error naming the remote (or the
cache), retries that succeed when the fault is transient, and nothing partial
in the cache: every object there hashes to its name and ``tmp/`` is empty.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import git, unprivileged
from tests.reliability.helpers import (
    gs,
    make_tree,
    new_repo,
    objects_in,
    read_tree,
    record,
    store_problems,
    tmp_leftovers,
)


class FaultyServer:
    """A static server of a store folder on 127.0.0.1 that injects faults into object GETs.

    ``mode``: ``drop`` (headers and half the body, then the connection closes),
    ``truncate`` (a short body with a full Content-Length), ``500``, ``503``,
    ``slowdown`` (503 with S3's SlowDown body); ``times``: how many GETs of each
    object fail before the real bytes are served (0: never fail, -1: always).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.mode = "none"
        self.times = 0
        self.hits: Counter[str] = Counter()
        self.faults = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                self._serve(body=False)

            def do_GET(self) -> None:
                self._serve(body=True)

            def _serve(self, body: bool) -> None:
                path = server.root / self.path.lstrip("/").split("?")[0]
                if not path.is_file():
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = path.read_bytes()
                if body and "/objects/" in self.path and server.should_fail(self.path):
                    server.inject(self, data)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def should_fail(self, path: str) -> bool:
        self.hits[path] += 1
        return self.mode != "none" and (self.times < 0 or self.hits[path] <= self.times)

    def inject(self, handler: BaseHTTPRequestHandler, data: bytes) -> None:
        self.faults += 1
        if self.mode in ("500", "503", "slowdown"):
            payload = (
                b"<Error><Code>SlowDown</Code></Error>" if self.mode == "slowdown" else b"oops"
            )
            handler.send_response(503 if self.mode != "500" else 500)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
            return
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        cut = data[: len(data) // 2] if self.mode == "drop" else data[: max(0, len(data) - 7)]
        handler.wfile.write(cut)
        handler.wfile.flush()
        handler.close_connection = True
        try:
            handler.connection.shutdown(2)
        except OSError:
            pass

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, dict[str, bytes], FaultyServer]]:
    """An author who pushed to a folder remote, and a faulty HTTP server in front of it."""
    author = new_repo(tmp_path / "author")
    files = make_tree(author / "data", files=12, size=50_000, seed=3)
    env = dict(os.environ, GITSTORE_CACHE_DIR=str(tmp_path / "author-cache"))
    gs(author, "remote", "add", "folder", str(tmp_path / "remote"), "--default", env=env)
    gs(author, "track", "data", env=env)
    git(author, "add", "-A")
    git(author, "commit", "-qm", "data")
    gs(author, "push", env=env)
    server = FaultyServer(tmp_path / "remote")
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GITSTORE_RETRY_DEADLINE", "20")
    monkeypatch.setenv("NO_PROXY", "*")
    yield author, files, server
    server.close()


def _clone_with_http(tmp_path: Path, author: Path, server: FaultyServer) -> Path:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(author), str(clone))
    gs(clone, "remote", "remove", "folder")  # only the faulty server: no fallback
    gs(clone, "remote", "add", "web", server.url, "--read-only", "--default", "--local")
    return clone


def _cache_clean(tmp_path: Path) -> None:
    assert not store_problems(tmp_path / "cache")
    assert tmp_leftovers(tmp_path / "cache") == 0


@pytest.mark.parametrize("mode", ["drop", "truncate", "500", "503", "slowdown"])
def test_transient_http_faults_are_retried(tmp_path: Path, published, mode: str) -> None:  # type: ignore[no-untyped-def]
    author, files, server = published
    clone = _clone_with_http(tmp_path, author, server)
    server.mode, server.times = mode, 1
    gs(clone, "fetch")
    assert server.faults >= len(files)
    _cache_clean(tmp_path)
    gs(clone, "checkout")
    assert read_tree(clone / "data") == files
    record(
        "faults",
        f"http-{mode}-transient",
        injected=server.faults,
        recovered=True,
        partial_objects=0,
    )


@pytest.mark.parametrize("mode", ["drop", "503"])
def test_persistent_http_faults_fail_clearly(
    tmp_path: Path, published, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:  # type: ignore[no-untyped-def]
    author, _files, server = published
    monkeypatch.setenv("GITSTORE_RETRY_ATTEMPTS", "2")
    monkeypatch.setenv("GITSTORE_RETRY_DEADLINE", "3")
    clone = _clone_with_http(tmp_path, author, server)
    server.mode, server.times = mode, -1
    proc = gs(clone, "fetch", check=False)
    assert proc.returncode != 0
    lines = [x for x in proc.stderr.splitlines() if x.startswith("gitstore: error:")]
    assert len(lines) == 1 and "web" in lines[0], proc.stderr
    _cache_clean(tmp_path)
    assert not objects_in(tmp_path / "cache")
    server.mode = "none"
    gs(clone, "fetch")
    _cache_clean(tmp_path)
    record(
        "faults",
        f"http-{mode}-persistent",
        injected=server.faults,
        clear_error=True,
        partial_objects=0,
    )


def test_wrong_bytes_on_a_remote_are_refused(tmp_path: Path, published) -> None:  # type: ignore[no-untyped-def]
    author, files, server = published
    remote = tmp_path / "remote"
    victim = sorted(objects_in(remote))[0]
    path = next(remote.glob(f"objects/*/*/{victim}"))
    size = path.stat().st_size
    path.chmod(0o644)
    path.write_bytes(bytes(size))  # right size, wrong bytes
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(author), str(clone))
    proc = gs(clone, "fetch", check=False)
    assert proc.returncode != 0
    assert victim in proc.stderr and "folder" in proc.stderr, proc.stderr
    assert victim not in objects_in(tmp_path / "cache")
    _cache_clean(tmp_path)
    assert len(objects_in(tmp_path / "cache")) == len(files) - 1
    record("faults", "wrong-bytes", injected=1, refused=True, partial_objects=0)


def test_full_disk_during_track(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = new_repo(tmp_path / "repo")
    files = make_tree(repo / "data", files=20, size=10_000, seed=4)
    (repo / "data" / "big.bin").write_bytes(os.urandom(2 << 20))
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(tmp_path / "cache"))
    proc = gs(repo, "track", "data", env=dict(os.environ, GITSTORE_FAULT="enospc:6"), check=False)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") <= 2 and "No space left on device" in proc.stderr, proc.stderr
    assert not (repo / "data.gitstore").exists()
    assert not git(repo, "ls-files", "data.gitstore").stdout
    _cache_clean(tmp_path)
    assert read_tree(repo / "data") == {
        **files,
        "big.bin": (repo / "data" / "big.bin").read_bytes(),
    }
    gs(repo, "track", "data")
    assert len(objects_in(tmp_path / "cache")) == 21
    _cache_clean(tmp_path)
    record("faults", "enospc-track", injected=1, clear_error=True, partial_objects=0, lost=0)


def test_full_disk_during_fetch(tmp_path: Path, published) -> None:  # type: ignore[no-untyped-def]
    author, files, _server = published
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(author), str(clone))
    proc = gs(
        clone,
        "fetch",
        env=dict(os.environ, GITSTORE_FAULT="enospc:4", GITSTORE_JOBS="1"),
        check=False,
    )
    assert proc.returncode != 0
    assert "No space left on device" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    _cache_clean(tmp_path)
    assert len(objects_in(tmp_path / "cache")) < len(files)
    gs(clone, "fetch")
    gs(clone, "checkout")
    assert read_tree(clone / "data") == files
    record("faults", "enospc-fetch", injected=1, clear_error=True, partial_objects=0, lost=0)


def test_read_only_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if unprivileged() is None:
        pytest.skip("permissions do not apply to root")
    repo = new_repo(tmp_path / "repo")
    make_tree(repo / "data", files=3, size=100, seed=5)
    cache = tmp_path / "cache"
    (cache / "objects").mkdir(parents=True)
    (cache / "tmp").mkdir()
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(cache))
    for folder in (cache, cache / "objects", cache / "tmp"):
        folder.chmod(0o555)
    try:
        proc = gs(repo, "track", "data", check=False, plain_user=True)
    finally:
        for folder in (cache, cache / "objects", cache / "tmp"):
            folder.chmod(0o755)
    assert proc.returncode != 0 and str(cache) in proc.stderr, proc.stderr
    assert not (repo / "data.gitstore").exists()
    shutil.rmtree(cache)
    record("faults", "read-only-cache", injected=1, clear_error=True, partial_objects=0)
