"""QA of resumable downloads: flaky links.

Each test here failed before the fix it came with (see its docstring). The
servers are local: a small HTTP server on 127.0.0.1 (tests/integration/
test_resume_http.py's, answering every request short when told to) and moto.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gitstore.cache import Cache
from gitstore.errors import GitstoreError
from gitstore.hashing import hash_bytes
from gitstore.partial import Journal
from gitstore.stores.http import HttpStore
from tests import servers
from tests.integration import test_resume_http as http_resume
from tests.servers import s3_store_on

moto_endpoint, s3_env = servers.moto_endpoint, servers.s3_env

MIB = 1 << 20


# -- a server that drops every answer after some bytes -------------------------------
class _Dropping(http_resume._Handler):
    """Honours ranges, but sends at most ``server.drop_after`` bytes of any body: a
    link that drops every connection after a few MiB."""

    def _reply(
        self, status: int, headers: dict[str, str], body: bytes, length: int | None = 0
    ) -> None:
        drop_after = getattr(self.server, "drop_after", None)
        if drop_after is not None:
            body = body[:drop_after]
        super()._reply(status, headers, body, length)


@pytest.fixture
def objects() -> Iterator[tuple[Any, HttpStore]]:
    server = http_resume._Objects()
    server.RequestHandlerClass = _Dropping
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    store = HttpStore(f"http://127.0.0.1:{server.server_address[1]}/")
    store.resume_min = 1 * MIB  # objects of a few MiB are "big" here
    yield server, store
    store.close()
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def s3_store(moto_endpoint: str, s3_env: dict[str, str]) -> Iterator[Any]:
    gen = s3_store_on(moto_endpoint, "resume-qa")
    store: Any = next(gen)
    store.ranged_get_min = 1 * MIB
    store.range_size = 1 * MIB
    store.jobs = 2
    yield store
    next(gen, None)


def _cache(tmp_path: Path) -> Cache:
    cache = Cache(tmp_path / "cache")
    cache.store.tmp_dir.mkdir(parents=True)
    return cache


def _fill(store: Any, oid: str) -> Callable[[int, Callable[[], Journal | None]], str]:
    return lambda fd, resume: str(store.read_into(oid, fd, resume)[0])


def _fetch_until_done(cache: Cache, oid: str, fill: Callable[..., str], tries: int) -> int:
    """Fetch as a user would on a flaky link: run it again until it works; the tries it took."""
    for n in range(1, tries + 1):
        try:
            cache.receive_resumable(oid, fill)
            return n
        except GitstoreError:
            continue
    return tries + 1


# -- a link that drops more often than the journal records progress -------------------
def test_an_http_link_that_drops_every_few_mib_still_makes_progress(
    objects: tuple[Any, HttpStore], tmp_path: Path
) -> None:
    """The journal recorded progress each MARK_EVERY (8 MiB) bytes, and not when a
    connection dropped: on a link that drops every few MiB each fetch started
    over from the last record, and a big object never arrived (every try asked
    for it whole). What was written before the drop is now recorded too."""
    server, store = objects
    data = os.urandom(5 * MIB)
    oid = hash_bytes(data)
    server.add(oid, data)
    server.drop_after = 3 * MIB // 2
    cache = _cache(tmp_path)
    tries = _fetch_until_done(cache, oid, _fill(store, oid), tries=6)
    assert tries <= 4, f"no progress across fetches: asked {server.asked}"
    ranges = [asked for asked in server.asked if asked is not None]
    assert ranges == [f"bytes={n * 3 * MIB // 2}-" for n in range(1, tries)]
    assert cache.path(oid).read_bytes() == data
    assert os.listdir(cache.store.tmp_dir) == []


class _DroppingBody:
    """A GetObject body that ends with a reset connection after ``drop_after`` bytes."""

    def __init__(self, body: Any, drop_after: int) -> None:
        self._body, self._left = body, drop_after

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            raise ConnectionResetError(104, "Connection reset by peer")
        data = bytes(self._body.read(min(n, self._left) if n >= 0 else self._left))
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._body.close()


def test_an_s3_range_that_drops_every_few_mib_still_makes_progress(
    s3_store: Any, tmp_path: Path
) -> None:
    """As above, for S3's ranged GETs: a range cut before its end kept nothing."""
    data = os.urandom(4 * MIB)
    oid = hash_bytes(data)
    src = tmp_path / "src"
    src.write_bytes(data)
    s3_store.put(oid, src)
    s3_store.range_size = 4 * MIB  # one range: 4 MiB, well under MARK_EVERY
    real = s3_store.slow_client.get_object
    asked: list[str] = []

    def dropping(**kwargs: Any) -> Any:
        asked.append(str(kwargs.get("Range")))
        response = real(**kwargs)
        response["Body"] = _DroppingBody(response["Body"], 3 * MIB // 2)
        return response

    s3_store.slow_client.get_object = dropping
    cache = _cache(tmp_path)
    tries = _fetch_until_done(cache, oid, _fill(s3_store, oid), tries=6)
    assert tries <= 3, f"no progress across fetches: asked {asked}"
    assert asked == [f"bytes={n * 3 * MIB // 2}-{4 * MIB - 1}" for n in range(tries)]
    assert cache.path(oid).read_bytes() == data
    assert os.listdir(cache.store.tmp_dir) == []
