"""A big download from an HTTP(S) remote that is interrupted is taken up where it stopped.

A killed fetch of a multi-GB model from a published cache over HTTPS started
the object over; now it lands in ``tmp/partial-<oid>`` with a journal of how
far it got (gitstore/partial.py), the next try asks for the rest with
``Range: bytes=N-``, and nothing found there is trusted without the object's
hash. A server that ignores ranges (python's http.server) or gets them
wrong costs a download from the start, never a wrong object. Every server
here listens on 127.0.0.1 only.
"""

from __future__ import annotations

import http.client
import http.server
import os
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gitstore import partial
from gitstore.cache import Cache
from gitstore.errors import IntegrityError, StoreUnavailableError
from gitstore.hashing import hash_bytes
from gitstore.partial import Journal
from gitstore.stores.http import HttpStore
from gitstore.stores.retry import RetryingStore
from gitstore.transfer import _retrying
from tests import servers
from tests.integration.publish_helpers import serve_process, serving
from tests.integration.resume_helpers import killed, resumed_mib, track_model
from tests.integration.test_remotes import Clone, clone_of

static_http = servers.static_http

Run = Callable[..., subprocess.CompletedProcess[str]]

MIB = 1 << 20
BIG = 80 * MIB  # above HttpStore.resume_min (64 MiB)


# -- a server on 127.0.0.1 that counts what it is asked ----------------------------
class _Objects(http.server.ThreadingHTTPServer):
    """Serves ``objects`` (URL path -> bytes); ``ranges`` says how it answers a Range.

    ``honour``: 206 with the rest; ``ignore``: 200 with everything; ``wrong``:
    206 whose Content-Range starts elsewhere; ``416``: refuses it.
    ``cut_after``: the next whole answer stops after that many bytes.
    ``no_length``: whole answers say no Content-Length (the connection ends them).
    ``redirect``: ``/objects/...`` is a 302 to ``/moved/objects/...``, where the bytes are.
    """

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.objects: dict[str, bytes] = {}
        self.asked: list[str | None] = []  # the Range header of each GET (None: whole)
        self.ranges = "honour"
        self.cut_after: int | None = None
        self.no_length = False
        self.redirect = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that drops a connection (as a resuming download does) is no news

    def add(self, oid: str, data: bytes) -> None:
        self.objects[f"/objects/{oid[:2]}/{oid[2:4]}/{oid}"] = data


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Objects

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def _answer(self, send_body: bool) -> None:
        srv = self.server
        wanted = self.headers.get("Range")
        if srv.redirect and not self.path.startswith("/moved/"):
            self._reply(302, {"Location": f"/moved{self.path}"}, b"")
            return
        if send_body:
            srv.asked.append(wanted)
        data = srv.objects.get(self.path.removeprefix("/moved"))
        if data is None:
            self._reply(404, {}, b"")
            return
        size = len(data)
        match = re.fullmatch(r"bytes=(\d+)-", wanted or "")
        if match and srv.ranges == "416":
            self._reply(416, {"Content-Range": f"bytes */{size}"}, b"")
            return
        if match and srv.ranges == "honour":
            start = int(match.group(1))
            headers = {"Content-Range": f"bytes {start}-{size - 1}/{size}"}
            self._reply(206, headers, data[start:] if send_body else b"", size - start)
            return
        if match and srv.ranges == "wrong":
            headers = {"Content-Range": f"bytes 0-{size - 1}/{size}"}
            self._reply(206, headers, data if send_body else b"", size)
            return
        body = data if send_body else b""
        if send_body and srv.cut_after is not None:
            body, srv.cut_after = data[: srv.cut_after], None
        self._reply(200, {}, body, None if srv.no_length else size)

    def _reply(
        self, status: int, headers: dict[str, str], body: bytes, length: int | None = 0
    ) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if length is None:
            self.close_connection = True
            self.send_header("Connection", "close")
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        try:
            self.wfile.write(memoryview(body))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client closed it: a resuming download does not drain the first answer
        if length is not None and len(body) < length:
            self.close_connection = True  # cut short: the client sees the body end early

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def objects() -> Iterator[tuple[_Objects, HttpStore]]:
    server = _Objects()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    store = HttpStore(f"http://127.0.0.1:{server.server_address[1]}/")
    store.resume_min = 1 * MIB  # objects of a few MiB are "big" here
    yield server, store
    store.close()
    server.shutdown()
    server.server_close()
    thread.join(5)


def _cache(tmp_path: Path) -> Cache:
    cache = Cache(tmp_path / "cache")
    cache.store.tmp_dir.mkdir(parents=True)
    return cache


def _left_behind(cache: Cache, oid: str, written: bytes, size: int, vouched: int) -> Path:
    """An earlier try's partial file (``written`` then zeros) and its journal up to ``vouched``."""
    part = cache.store.tmp_dir / f"{partial.PREFIX}{oid}"
    part.write_bytes(written + b"\0" * (size - len(written)))
    Path(f"{part}{partial.SUFFIX}").write_text(f"{partial.MAGIC} {size} {size}\n0 {vouched}\n")
    return part


def _fill(store: HttpStore, oid: str, journals: list[Journal]) -> Callable[..., str]:
    def fill(fd: int, resume: Callable[[], Journal | None]) -> str:
        def noted() -> Journal | None:
            journal = resume()
            if journal is not None:
                journals.append(journal)
            return journal

        return store.read_into(oid, fd, noted)[0]

    return fill


def _partials(cache_root: Path) -> list[str]:
    tmp = cache_root / "tmp"
    return (
        sorted(n for n in os.listdir(tmp) if n.startswith(partial.PREFIX)) if tmp.is_dir() else []
    )


# -- in process --------------------------------------------------------------------
def test_a_partial_file_is_resumed_with_a_range_request(
    objects: tuple[_Objects, HttpStore], tmp_path: Path
) -> None:
    server, store = objects
    data = os.urandom(4 * MIB + 100)
    oid = hash_bytes(data)
    server.add(oid, data)
    cache = _cache(tmp_path)
    done = 3 * MIB + 17
    part = _left_behind(cache, oid, data[:done], len(data), done)
    journals: list[Journal] = []
    cache.receive_resumable(oid, _fill(store, oid, journals))
    assert server.asked == [None, f"bytes={done}-"]  # the first answer is dropped, not drained
    assert journals[-1].resumed == done
    assert cache.path(oid).read_bytes() == data
    assert not part.exists() and not Path(f"{part}{partial.SUFFIX}").exists()
    assert os.listdir(cache.store.tmp_dir) == []


def test_a_redirected_object_is_resumed_too(
    objects: tuple[_Objects, HttpStore], tmp_path: Path
) -> None:
    """A published cache behind a redirect (a CDN, signed URLs): the Range goes along."""
    server, store = objects
    server.redirect = True
    data = os.urandom(3 * MIB)
    oid = hash_bytes(data)
    server.add(oid, data)
    cache = _cache(tmp_path)
    _left_behind(cache, oid, data[: 2 * MIB], len(data), 2 * MIB)
    journals: list[Journal] = []
    cache.receive_resumable(oid, _fill(store, oid, journals))
    assert server.asked == [None, f"bytes={2 * MIB}-"]
    assert journals[-1].resumed == 2 * MIB
    assert cache.path(oid).read_bytes() == data
    assert os.listdir(cache.store.tmp_dir) == []


def test_a_fresh_download_journals_its_progress_and_is_installed(
    objects: tuple[_Objects, HttpStore], tmp_path: Path
) -> None:
    server, store = objects
    data = os.urandom(partial.MARK_EVERY + 3 * MIB)
    oid = hash_bytes(data)
    server.add(oid, data)
    cache = _cache(tmp_path)
    journals: list[Journal] = []
    cache.receive_resumable(oid, _fill(store, oid, journals))
    assert server.asked == [None] and len(journals) == 1 and journals[0].resumed == 0
    assert cache.path(oid).read_bytes() == data
    assert os.listdir(cache.store.tmp_dir) == []


def test_a_dropped_connection_is_resumed_by_the_retry(
    objects: tuple[_Objects, HttpStore], tmp_path: Path
) -> None:
    """The retry within one command asks for the rest, as transfer calls it (no truncation)."""
    server, store = objects
    data = os.urandom(partial.MARK_EVERY + 4 * MIB)
    oid = hash_bytes(data)
    server.add(oid, data)
    server.cut_after = partial.MARK_EVERY + 2 * MIB  # past the first progress record
    retrying = RetryingStore(store, attempts=3, base_delay=0.01, max_delay=0.02)
    cache = _cache(tmp_path)
    journals: list[Journal] = []
    fill = _fill(store, oid, journals)

    def fill_retrying(fd: int, resume: Callable[[], Journal | None]) -> str:
        return _retrying(retrying, f"get {oid}", lambda: fill(fd, resume), lambda: None)

    cache.receive_resumable(oid, fill_retrying)
    assert len(server.asked) == 3 and server.asked[:2] == [None, None]
    resumed_at = int(str(server.asked[2]).removeprefix("bytes=").removesuffix("-"))
    assert partial.MARK_EVERY <= resumed_at <= partial.MARK_EVERY + 2 * MIB
    assert cache.path(oid).read_bytes() == data
    assert os.listdir(cache.store.tmp_dir) == []


def test_a_download_cut_short_keeps_its_partial_file_for_the_next_fetch(
    objects: tuple[_Objects, HttpStore], tmp_path: Path
) -> None:
    server, store = objects
    data = os.urandom(partial.MARK_EVERY + 4 * MIB)
    oid = hash_bytes(data)
    server.add(oid, data)
    server.cut_after = partial.MARK_EVERY + 2 * MIB
    cache = _cache(tmp_path)
    with pytest.raises(StoreUnavailableError):
        cache.receive_resumable(oid, _fill(store, oid, []))
    assert not cache.has(oid)
    assert _partials(cache.root) == [
        f"{partial.PREFIX}{oid}",
        f"{partial.PREFIX}{oid}{partial.SUFFIX}",
    ]
    journals: list[Journal] = []
    cache.receive_resumable(oid, _fill(store, oid, journals))
    assert server.asked[2].startswith("bytes=") and journals[-1].resumed >= partial.MARK_EVERY
    assert cache.path(oid).read_bytes() == data
    assert os.listdir(cache.store.tmp_dir) == []


def test_python_http_server_ignores_ranges_and_the_object_comes_whole(
    static_http: Callable[[Path], str], tmp_path: Path
) -> None:
    data = os.urandom(4 * MIB + 100)
    oid = hash_bytes(data)
    folder = tmp_path / "published"
    obj = folder / "objects" / oid[:2] / oid[2:4] / oid
    obj.parent.mkdir(parents=True)
    obj.write_bytes(data)
    store = HttpStore(static_http(folder))
    store.resume_min = 1 * MIB
    cache = _cache(tmp_path)
    done = 2 * MIB
    _left_behind(cache, oid, data[:done], len(data), done)
    journals: list[Journal] = []
    cache.receive_resumable(oid, _fill(store, oid, journals))
    assert journals[-1].resumed == 0  # what the partial file held was not used: from the start
    assert cache.path(oid).read_bytes() == data
    assert os.listdir(cache.store.tmp_dir) == []
    store.close()


@pytest.mark.parametrize(
    ("ranges", "asked_whole_again"),
    [("ignore", False), ("wrong", True), ("416", True)],
)
def test_a_server_without_ranges_sends_the_object_from_the_start(
    objects: tuple[_Objects, HttpStore], tmp_path: Path, ranges: str, asked_whole_again: bool
) -> None:
    """A 200 to a Range is the whole object, used as it is; a wrong 206 or a 416 is not
    trusted: the object is asked for whole. Never a stuck partial file."""
    server, store = objects
    server.ranges = ranges
    data = os.urandom(4 * MIB + 100)
    oid = hash_bytes(data)
    server.add(oid, data)
    cache = _cache(tmp_path)
    done = 2 * MIB
    # the bytes kept are wrong: were they used, the object would not verify on the first try
    _left_behind(cache, oid, os.urandom(done), len(data), done)
    journals: list[Journal] = []
    cache.receive_resumable(oid, _fill(store, oid, journals))
    wanted = [None, f"bytes={done}-"] + ([None] if asked_whole_again else [])
    assert server.asked == wanted
    assert journals[-1].resumed == 0
    assert cache.path(oid).read_bytes() == data
    assert os.listdir(cache.store.tmp_dir) == []


def test_a_journal_that_lies_is_fetched_again_whole(
    objects: tuple[_Objects, HttpStore], tmp_path: Path
) -> None:
    """After a power cut the journal may vouch for bytes the disk lost (zeros here)."""
    server, store = objects
    data = os.urandom(3 * MIB)
    oid = hash_bytes(data)
    server.add(oid, data)
    cache = _cache(tmp_path)
    done = 2 * MIB
    _left_behind(cache, oid, b"", len(data), done)
    cache.receive_resumable(oid, _fill(store, oid, []))
    assert server.asked == [None, f"bytes={done}-", None]
    assert cache.path(oid).read_bytes() == data
    assert os.listdir(cache.store.tmp_dir) == []


def test_a_finished_partial_file_needs_no_more_bytes(
    objects: tuple[_Objects, HttpStore], tmp_path: Path
) -> None:
    """Killed between the last byte and the rename: nothing is asked for again."""
    server, store = objects
    data = os.urandom(2 * MIB)
    oid = hash_bytes(data)
    server.add(oid, data)
    cache = _cache(tmp_path)
    _left_behind(cache, oid, data, len(data), len(data))
    cache.receive_resumable(oid, _fill(store, oid, []))
    assert server.asked == [None]
    assert cache.path(oid).read_bytes() == data
    assert os.listdir(cache.store.tmp_dir) == []


@pytest.mark.parametrize("earlier_try", [False, True])
def test_a_wrong_object_raises_and_leaves_no_partial_file(
    objects: tuple[_Objects, HttpStore], tmp_path: Path, earlier_try: bool
) -> None:
    server, store = objects
    data = os.urandom(3 * MIB)
    wrong = hash_bytes(b"another object")
    server.add(wrong, data)
    cache = _cache(tmp_path)
    if earlier_try:
        _left_behind(cache, wrong, data[:MIB], len(data), MIB)
    with pytest.raises(IntegrityError, match=wrong):
        cache.receive_resumable(wrong, _fill(store, wrong, []))
    assert server.asked == ([None, f"bytes={MIB}-", None] if earlier_try else [None])
    assert os.listdir(cache.store.tmp_dir) == []
    assert not cache.has(wrong)


def test_without_a_length_there_is_no_partial_file(
    objects: tuple[_Objects, HttpStore], tmp_path: Path
) -> None:
    server, store = objects
    server.no_length = True
    data = os.urandom(3 * MIB)
    oid = hash_bytes(data)
    server.add(oid, data)
    cache = _cache(tmp_path)
    journals: list[Journal] = []
    cache.receive_resumable(oid, _fill(store, oid, journals))
    assert journals == [] and server.asked == [None]
    assert cache.path(oid).read_bytes() == data
    assert os.listdir(cache.store.tmp_dir) == []


def test_gitstore_serve_answers_an_open_range_and_is_resumed(tmp_path: Path) -> None:
    data = os.urandom(3 * MIB + 5)
    oid = hash_bytes(data)
    folder = tmp_path / "store"
    obj = folder / "objects" / oid[:2] / oid[2:4] / oid
    obj.parent.mkdir(parents=True)
    obj.write_bytes(data)
    with serving(folder) as base:
        port = int(base.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request(
            "GET", f"/objects/{oid[:2]}/{oid[2:4]}/{oid}", headers={"Range": f"bytes={MIB}-"}
        )
        answer = conn.getresponse()
        assert answer.status == 206
        assert answer.getheader("Content-Range") == f"bytes {MIB}-{len(data) - 1}/{len(data)}"
        assert answer.read() == data[MIB:]
        conn.close()

        store = HttpStore(base + "/")
        store.resume_min = 1 * MIB
        cache = _cache(tmp_path)
        _left_behind(cache, oid, data[: 2 * MIB], len(data), 2 * MIB)
        journals: list[Journal] = []
        cache.receive_resumable(oid, _fill(store, oid, journals))
        store.close()
    assert journals[-1].resumed == 2 * MIB  # served from byte 2 MiB on: a 206
    assert cache.path(oid).read_bytes() == data
    assert os.listdir(cache.store.tmp_dir) == []


# -- end to end --------------------------------------------------------------------
def test_a_killed_fetch_over_http_resumes(
    repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    a = Clone(repo, tmp_path / "cache-a", run, monkeypatch)
    data, oid = track_model(a)
    folder = tmp_path / "published"
    a.gs("remote", "add", "team", str(folder), "--default")
    a.commit("model")
    a.gs("push")

    b = clone_of(a, tmp_path)
    with serve_process(tmp_path, str(folder)) as base:
        b.gs("remote", "add", "web", f"{base}/", "--local", "--default")
        cache_root = b.cache / "gitstore"
        killed(b, "kill-range:4", "fetch")  # after four progress records
        assert _partials(cache_root) == [
            f"{partial.PREFIX}{oid}",
            f"{partial.PREFIX}{oid}{partial.SUFFIX}",
        ]
        assert not (cache_root / "objects" / oid[:2] / oid[2:4] / oid).exists()

        out = b.gs("pull")
    assert resumed_mib(out.stderr, oid) >= 32  # four records of 8 MiB at least
    assert (b.path / "model.bin").read_bytes() == data
    assert _partials(cache_root) == []
