"""The store contract (gitstore/stores/base.py), run against every backend.

One class, :class:`TestStoreContract`, runs against: the memory store, a local
folder, S3 on moto in-process (``mock_aws``), S3 through a real moto server on
127.0.0.1 (opened through the registry, so behind RetryingStore), and a real
HTTP server on 127.0.0.1 serving a LocalStore folder (read-only: the write
tests check refusal instead). Then the pieces around the backends: the probe
against a store that ignores put-if-absent, RetryingStore against a loopback
server that fails, S3 specifics (listing strategy for exists, ranged GETs,
multipart, error translation), HTTP specifics and the registry's URL parsing.

Nothing here reaches a non-loopback address: S3 credentials are dummies from
the environment, instance metadata is disabled, every endpoint is 127.0.0.1.
"""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from gitstore import layout
from gitstore.errors import (
    ConfigError,
    IntegrityError,
    ObjectNotFoundError,
    PreconditionFailed,
    ReadOnlyStoreError,
    StoreAuthError,
    StoreError,
    StoreUnavailableError,
    UnsupportedError,
)
from gitstore.hashing import hash_bytes
from gitstore.stores.base import Store
from gitstore.stores.http import HttpStore
from gitstore.stores.local import LocalStore
from gitstore.stores.memory import MemoryStore
from gitstore.stores.registry import open_store
from gitstore.stores.retry import ObjectAccessDeniedError, RetryingStore, Throttle
from gitstore.stores.s3 import S3Store
from tests import servers

BACKENDS = ["memory", "local", "s3-moto", "s3-server", "http"]


# -- helpers -------------------------------------------------------------------
def blob(i: int, size: int = 64) -> bytes:
    seed = f"object {i} ".encode()
    return (seed * (size // len(seed) + 1))[:size]


@dataclass
class Backend:
    name: str
    store: Store
    read_only_twin: Store
    corrupt: Callable[[str, bytes], None]  # write raw bytes under an oid, bypassing checks
    seed: Callable[[str, bytes], None]  # make an object exist, through the backend itself
    seed_document: Callable[[str, bytes], None]  # for read-only stores: a document appears
    writable: bool
    rounds: int  # rounds of the concurrency tests
    many: int  # oids asked in one exists() call
    tmp: Path

    def add(self, data: bytes) -> str:
        oid = hash_bytes(data)
        if self.writable:
            src = self.tmp / f"src-{oid[:16]}"
            src.write_bytes(data)
            self.store.put(oid, src)
        else:
            self.seed(oid, data)
        return oid


def write_under(root: Path, key: str, data: bytes) -> None:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.chmod(0o644)
    path.write_bytes(data)


def s3_env(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    for key in list(os.environ):
        if key.startswith("AWS_") or key.lower().endswith("_proxy"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "no-aws-credentials"))


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    s3_env(monkeypatch, tmp_path)


def make_bucket(store: S3Store) -> None:
    store.client.create_bucket(Bucket=store.bucket)


# -- servers -------------------------------------------------------------------
class FolderHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder with keep-alive; ``faults`` makes the first requests fail."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _fault(self) -> bool:
        faults = self.server.faults  # type: ignore[attr-defined]
        with faults["lock"]:
            faults["requests"] += 1
            if faults["fail"] > 0:
                faults["fail"] -= 1
                status = faults["status"]
            elif any(part in self.path for part in faults["forbidden"]):
                status = 403
            else:
                return False
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return True

    def do_GET(self) -> None:
        if not self._fault():
            super().do_GET()

    def do_HEAD(self) -> None:
        if not self._fault():
            super().do_HEAD()


@dataclass
class FolderServer:
    url: str
    faults: dict[str, Any]

    def fail(self, count: int, status: int = 503) -> None:
        with self.faults["lock"]:
            self.faults["fail"] = count
            self.faults["status"] = status
            self.faults["requests"] = 0

    @property
    def requests(self) -> int:
        return int(self.faults["requests"])


@pytest.fixture
def folder_server(tmp_path: Path) -> Iterator[tuple[FolderServer, Path]]:
    root = tmp_path / "served"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(FolderHandler, directory=str(root))
    )
    server.daemon_threads = True
    faults: dict[str, Any] = {
        "lock": threading.Lock(),
        "fail": 0,
        "status": 503,
        "requests": 0,
        "forbidden": set(),
    }
    server.faults = faults  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield FolderServer(f"http://127.0.0.1:{server.server_address[1]}/", faults), root
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    servers.atomic_conditional_writes()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    assert host == "127.0.0.1"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


# -- the backends ----------------------------------------------------------------
@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    name = request.param
    work = tmp_path / "work"
    work.mkdir()
    if name == "memory":
        store = MemoryStore("memory://contract")
        yield Backend(
            name,
            store,
            store.view(read_only=True),
            lambda oid, data: store.put_bytes(oid, data, verify=False),
            lambda oid, data: store.put_bytes(oid, data),
            lambda key, data: None,
            True,
            100,
            1200,
            work,
        )
    elif name == "local":
        root = tmp_path / "store"
        local = LocalStore(root)
        yield Backend(
            name,
            local,
            LocalStore(root, read_only=True),
            lambda oid, data: write_under(root, layout.object_key(oid), data),
            lambda oid, data: write_under(root, layout.object_key(oid), data),
            partial(write_under, root),
            True,
            100,
            1200,
            work,
        )
    elif name == "s3-moto":
        from moto import mock_aws

        with mock_aws():
            s3 = S3Store("contract-bucket", "team/data")
            make_bucket(s3)
            twin = S3Store("contract-bucket", "team/data", read_only=True)
            yield _s3_backend(name, s3, s3, twin, work)
            twin.close()
            s3.close()
    elif name == "s3-server":
        endpoint = request.getfixturevalue("moto_server")
        bucket = f"contract-{time.monotonic_ns()}"
        wrapped = open_store(f"s3://{bucket}/pre/fix", endpoint_url=endpoint)
        assert isinstance(wrapped, RetryingStore) and isinstance(wrapped.inner, S3Store)
        make_bucket(wrapped.inner)
        ro = open_store(f"s3://{bucket}/pre/fix", endpoint_url=endpoint, read_only=True)
        yield _s3_backend(name, wrapped, wrapped.inner, ro, work)
        ro.close()
        wrapped.close()
    else:
        server, root = request.getfixturevalue("folder_server")
        http_store = HttpStore(server.url)
        yield Backend(
            name,
            http_store,
            http_store,
            lambda oid, data: write_under(root, layout.object_key(oid), data),
            lambda oid, data: write_under(root, layout.object_key(oid), data),
            partial(write_under, root),
            False,
            0,
            300,
            work,
        )
        http_store.close()


def _s3_backend(name: str, store: Store, s3: S3Store, twin: Store, work: Path) -> Backend:
    def raw(oid: str, data: bytes) -> None:
        s3.client.put_object(Bucket=s3.bucket, Key=s3._key(layout.object_key(oid)), Body=data)

    return Backend(name, store, twin, raw, raw, lambda key, data: None, True, 25, 200, work)


def assert_no_temp(folder: Path) -> None:
    assert sorted(p.name for p in folder.iterdir()) == []


# -- the contract ------------------------------------------------------------------
class TestStoreContract:
    def test_put_exists_open_get_stat_list(self, backend: Backend) -> None:
        data = blob(1, 300_000)
        oid = backend.add(data)
        store = backend.store
        assert store.exists([oid]) == {oid}
        with store.open(oid) as stream:
            assert stream.read() == data
        out = backend.tmp / "out"
        out.mkdir()
        store.get(oid, out / "payload")
        assert (out / "payload").read_bytes() == data
        assert sorted(p.name for p in out.iterdir()) == ["payload"]
        stat = store.stat(oid)
        assert stat.size == len(data)
        assert stat.mtime is None or abs(stat.mtime - time.time()) < 3600
        if backend.name == "http":
            with pytest.raises(UnsupportedError):
                list(store.list())
        else:
            assert set(store.list()) == {oid}

    def test_open_streams_in_pieces(self, backend: Backend) -> None:
        data = blob(2, 3_000_000)
        oid = backend.add(data)
        pieces = []
        with backend.store.open(oid) as stream:
            while piece := stream.read(100_000):
                assert len(piece) <= 100_000
                pieces.append(piece)
        assert b"".join(pieces) == data and len(pieces) >= 30

    def test_put_is_idempotent_and_checks_the_hash(self, backend: Backend) -> None:
        if not backend.writable:
            pytest.skip("read-only backend")
        data = blob(3)
        oid = backend.add(data)
        backend.add(data)
        assert backend.store.exists([oid]) == {oid}
        wrong = backend.tmp / "wrong"
        wrong.write_bytes(b"not the bytes of that oid")
        other = hash_bytes(b"something else")
        with pytest.raises(IntegrityError):
            backend.store.put(other, wrong)
        assert backend.store.exists([other]) == set()

    def test_exists_is_batched_over_present_and_absent(self, backend: Backend) -> None:
        present = {backend.add(blob(i, 16)) for i in range(backend.many // 2)}
        absent = {hash_bytes(blob(i, 17)) for i in range(backend.many - len(present))}
        asked = list(present | absent)
        assert backend.store.exists(asked) == present
        assert backend.store.exists(iter(asked)) == present
        assert backend.store.exists([]) == set()
        assert backend.store.exists(list(absent)[:3]) == set()

    def test_missing_object_is_not_found(self, backend: Backend) -> None:
        oid = hash_bytes(b"never stored")
        with pytest.raises(ObjectNotFoundError) as info:
            backend.store.open(oid)
        assert info.value.oid in (oid, None)
        with pytest.raises(ObjectNotFoundError):
            backend.store.stat(oid)
        dest_dir = backend.tmp / "dest"
        dest_dir.mkdir()
        with pytest.raises(ObjectNotFoundError):
            backend.store.get(oid, dest_dir / "x")
        assert_no_temp(dest_dir)
        assert backend.store.exists([oid]) == set()

    def test_corrupt_bytes_fail_get_and_leave_nothing(self, backend: Backend) -> None:
        data = blob(4, 200_000)
        oid = hash_bytes(data)
        backend.corrupt(oid, data[:-1] + b"!")
        dest_dir = backend.tmp / "dest"
        dest_dir.mkdir()
        with pytest.raises(IntegrityError) as info:
            backend.store.get(oid, dest_dir / "payload")
        assert oid in str(info.value)
        assert_no_temp(dest_dir)

    def test_delete(self, backend: Backend) -> None:
        if not backend.writable:
            pytest.skip("read-only backend")
        keep, gone = backend.add(blob(5)), backend.add(blob(6))
        backend.store.delete(gone)
        backend.store.delete(gone)  # deleting an absent object is not an error
        assert backend.store.exists([keep, gone]) == {keep}
        assert set(backend.store.list()) == {keep}
        with pytest.raises(ObjectNotFoundError):
            backend.store.open(gone)

    def test_touch_renews_the_last_modified_time(self, backend: Backend) -> None:
        if not backend.writable:
            pytest.skip("read-only backend")
        oid = backend.add(blob(9))
        before = backend.store.stat(oid).mtime
        time.sleep(1.1)  # S3's LastModified has whole seconds
        backend.store.touch(oid)
        after = backend.store.stat(oid)
        assert before is not None and after.mtime is not None and after.mtime > before
        assert after.size == len(blob(9)) and backend.store.exists([oid]) == {oid}
        with pytest.raises(ObjectNotFoundError):
            backend.store.touch(hash_bytes(b"never stored"))
        with pytest.raises(ReadOnlyStoreError):
            backend.read_only_twin.touch(oid)

    def test_read_only_refuses_every_write(self, backend: Backend) -> None:
        oid = backend.add(blob(7))
        ro = backend.read_only_twin
        assert ro.read_only
        src = backend.tmp / "src"
        src.write_bytes(blob(8))
        writes: list[Callable[[], object]] = [
            lambda: ro.put(hash_bytes(blob(8)), src),
            lambda: ro.delete(oid),
            lambda: ro.put_document("docs/a", b"x"),
            lambda: ro.put_document("docs/a", b"x", if_absent=True),
            lambda: ro.delete_document("docs/a"),
        ]
        for write in writes:
            with pytest.raises(ReadOnlyStoreError, match="read-only"):
                write()
        assert ro.exists([oid]) == {oid}  # reads still work

    def test_documents_conditional_writes(self, backend: Backend) -> None:
        store = backend.store
        if not backend.writable:
            backend.seed_document("branches/main.yaml", b"published\n")
            doc = store.read_document("branches/main.yaml")
            assert doc is not None and doc.data == b"published\n" and doc.version
            assert store.read_document("branches/none.yaml") is None
            return
        assert store.read_document("branches/main.yaml") is None
        v1 = store.put_document("branches/main.yaml", b"one", if_absent=True)
        with pytest.raises(PreconditionFailed):
            store.put_document("branches/main.yaml", b"two", if_absent=True)
        doc = store.read_document("branches/main.yaml")
        assert doc is not None and doc.data == b"one" and doc.version == v1
        v2 = store.put_document("branches/main.yaml", b"two", if_version=v1)
        assert v2 != v1
        with pytest.raises(PreconditionFailed):
            store.put_document("branches/main.yaml", b"stale", if_version=v1)
        doc = store.read_document("branches/main.yaml")
        assert doc is not None and (doc.data, doc.version) == (b"two", v2)
        with pytest.raises(PreconditionFailed):
            store.put_document("branches/absent.yaml", b"x", if_version=v2)
        v3 = store.put_document("branches/main.yaml", b"three")
        assert store.read_document("branches/main.yaml") == type(doc)(b"three", v3)
        store.put_document("branches/dev.yaml", b"dev")
        assert sorted(store.list_documents("branches/")) == [
            "branches/dev.yaml",
            "branches/main.yaml",
        ]
        store.delete_document("branches/dev.yaml")
        store.delete_document("branches/dev.yaml")
        assert store.read_document("branches/dev.yaml") is None
        assert list(store.list_documents("branches/")) == ["branches/main.yaml"]
        assert list(store.list()) == []  # documents are not objects

    def test_probe_conditional_writes(self, backend: Backend) -> None:
        if not backend.writable:
            with pytest.raises(ReadOnlyStoreError):
                backend.store.probe_conditional_writes()
            return
        backend.store.probe_conditional_writes()
        assert [k for k in backend.store.list_documents("tmp/") if "probe" in k] == []
        root = getattr(backend.store, "root", None)
        if isinstance(root, Path) and (root / "tmp").is_dir():  # nor a lock file, run after run
            assert [n for n in os.listdir(root / "tmp") if "probe" in n] == []

    def test_concurrent_put_if_absent_has_one_winner(self, backend: Backend) -> None:
        if not backend.writable:
            pytest.skip("read-only backend")
        n = 4

        def attempt(barrier: threading.Barrier, key: str, i: int) -> str:
            barrier.wait(timeout=10)
            try:
                backend.store.put_document(key, f"writer {i}".encode(), if_absent=True)
            except PreconditionFailed:
                return "lost"
            return "won"

        with ThreadPoolExecutor(n) as pool:
            for r in range(backend.rounds):
                barrier = threading.Barrier(n)
                key = f"locks/round-{r}"
                outcomes = list(pool.map(partial(attempt, barrier, key), range(n)))
                assert sorted(outcomes) == ["lost"] * (n - 1) + ["won"], f"round {r}"
                doc = backend.store.read_document(key)
                assert doc is not None and doc.data.startswith(b"writer ")

    def test_concurrent_if_version_has_one_winner(self, backend: Backend) -> None:
        if not backend.writable:
            pytest.skip("read-only backend")
        n = 4
        key = "branches/race.yaml"
        version = backend.store.put_document(key, b"start")

        def attempt(barrier: threading.Barrier, read: str, r: int, i: int) -> bytes | None:
            data = f"round {r} writer {i}".encode()
            barrier.wait(timeout=10)
            try:
                backend.store.put_document(key, data, if_version=read)
            except PreconditionFailed:
                return None
            return data

        with ThreadPoolExecutor(n) as pool:
            for r in range(backend.rounds):
                barrier = threading.Barrier(n)
                outcomes = list(pool.map(partial(attempt, barrier, version, r), range(n)))
                winners = [data for data in outcomes if data is not None]
                assert len(winners) == 1, f"round {r}: {outcomes}"
                doc = backend.store.read_document(key)
                assert doc is not None and doc.data == winners[0]
                version = doc.version


# -- the probe against a store that lies ----------------------------------------------
class IgnoresIfAbsent(MemoryStore):
    """A broken service: accepts put-if-absent but does not honour it."""

    def put_document(
        self, key: str, data: bytes, *, if_absent: bool = False, if_version: str | None = None
    ) -> str:
        return super().put_document(key, data, if_version=if_version)


def test_probe_refuses_a_store_that_ignores_if_absent() -> None:
    with pytest.raises(UnsupportedError, match="conditional writes"):
        IgnoresIfAbsent("memory://broken").probe_conditional_writes()
    with pytest.raises(UnsupportedError):
        RetryingStore(IgnoresIfAbsent("memory://broken")).probe_conditional_writes()


# -- RetryingStore against a server that fails -------------------------------------------
def test_retry_recovers_from_503_and_500(folder_server: tuple[FolderServer, Path]) -> None:
    server, root = folder_server
    data = blob(9, 5000)
    oid = hash_bytes(data)
    write_under(root, layout.object_key(oid), data)
    store = RetryingStore(HttpStore(server.url), attempts=5, base_delay=0.01, max_delay=0.05)
    try:
        server.fail(3, 503)
        assert store.stat(oid).size == len(data)
        assert server.requests == 4
        server.fail(2, 500)
        with store.open(oid) as stream:
            assert stream.read() == data
        assert server.requests == 3
        server.fail(1, 503)
        assert store.exists([oid]) == {oid}
        missing = hash_bytes(b"missing")
        server.fail(0)
        with pytest.raises(ObjectNotFoundError):  # a 404 is an answer: no retry
            store.stat(missing)
        assert server.requests == 1
    finally:
        store.close()


def test_retry_gives_up_within_its_bounds(folder_server: tuple[FolderServer, Path]) -> None:
    server, _ = folder_server
    oid = hash_bytes(b"x")
    store = RetryingStore(HttpStore(server.url), attempts=4, base_delay=0.02, max_delay=0.05)
    try:
        server.fail(10**6, 503)
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError, match="gave up after 4 attempts"):
            store.stat(oid)
        assert time.monotonic() - started < 2.0
        assert server.requests == 4
        bounded = RetryingStore(
            HttpStore(server.url), attempts=1000, base_delay=0.05, max_delay=0.1, deadline=0.5
        )
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError):
            bounded.open(oid)
        assert time.monotonic() - started < 1.5
        bounded.close()
    finally:
        store.close()


def test_retry_resolves_a_lost_answer_to_a_conditional_write() -> None:
    class LosesAnswers(MemoryStore):
        lose = 1

        def put_document(self, key: str, data: bytes, **kwargs: Any) -> str:
            version = super().put_document(key, data, **kwargs)
            if self.lose:
                self.lose -= 1
                raise StoreUnavailableError("connection dropped after the write")
            return version

    inner = LosesAnswers()
    store = RetryingStore(inner, base_delay=0.001)
    version = store.put_document("locks/a", b"mine", if_absent=True)
    doc = inner.read_document("locks/a")
    assert doc is not None and (doc.data, doc.version) == (b"mine", version)

    class OvertakenWhileDown(MemoryStore):
        down = 1

        def put_document(self, key: str, data: bytes, **kwargs: Any) -> str:
            if self.down:  # fails without writing, and another writer gets in meanwhile
                self.down -= 1
                super().put_document(key, b"theirs")
                raise StoreUnavailableError("connection refused")
            return super().put_document(key, data, **kwargs)

    with pytest.raises(PreconditionFailed):
        RetryingStore(OvertakenWhileDown(), base_delay=0.001).put_document(
            "locks/b", b"mine", if_absent=True
        )


def test_throttle_halves_and_grows_back() -> None:
    throttle = Throttle(limit=16, cooldown=0.0)
    throttle.throttled()
    assert throttle.limit == 8
    throttle.throttled()
    throttle.throttled()
    throttle.throttled()
    throttle.throttled()
    assert throttle.limit == 1
    for _ in range(10):
        throttle.succeeded()
    assert throttle.limit == 5  # one more slot per window of `limit` successes
    for _ in range(200):
        throttle.succeeded()
    assert throttle.limit == 16
    with throttle:
        assert throttle.active == 1
    assert throttle.active == 0


def test_throttle_bounds_concurrency() -> None:
    throttle = Throttle(limit=2)
    peak = 0
    active = 0
    lock = threading.Lock()

    def work(_: int) -> None:
        nonlocal peak, active
        with throttle:
            with lock:
                active += 1
                peak = max(peak, active)
            time.sleep(0.005)
            with lock:
                active -= 1

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(40)))
    assert peak == 2


# -- S3 specifics ----------------------------------------------------------------------
@pytest.fixture
def moto_s3() -> Iterator[S3Store]:
    from moto import mock_aws

    with mock_aws():
        store = S3Store("special-bucket", "p")
        make_bucket(store)
        yield store
        store.close()


def test_s3_exists_by_listing_and_list_all(moto_s3: S3Store, tmp_path: Path) -> None:
    present = set()
    for i in range(150):
        data = blob(i, 8)
        oid = hash_bytes(data)
        moto_s3.client.put_object(
            Bucket=moto_s3.bucket, Key=moto_s3._key(layout.object_key(oid)), Body=data
        )
        present.add(oid)
    absent = {hash_bytes(blob(i, 9)) for i in range(150)}
    moto_s3.exists_head_max = 10  # force the listing strategy
    assert moto_s3.exists(present | absent) == present
    assert moto_s3.list_all() == present
    calls: list[str] = []
    moto_s3.client.meta.events.register(
        "before-call.s3.*", lambda model, **kw: calls.append(model.name)
    )
    moto_s3.exists(present | absent)  # 150 keys fit one page: one LIST, no HEAD
    assert calls == ["ListObjectsV2"]


def test_s3_large_objects_use_ranges_and_multipart(moto_s3: S3Store, tmp_path: Path) -> None:
    moto_s3.ranged_get_min = 1 << 20
    moto_s3.range_size = 256 << 10
    moto_s3.multipart_threshold = 5 << 20
    moto_s3.multipart_chunksize = 5 << 20
    data = os.urandom(6 << 20)
    oid = hash_bytes(data)
    src = tmp_path / "big"
    src.write_bytes(data)
    calls: list[str] = []
    for client in (moto_s3.client, moto_s3.slow_client):  # multipart goes through the slow one
        client.meta.events.register(
            "before-call.s3.*", lambda model, **kw: calls.append(model.name)
        )
    moto_s3.put(oid, src)
    assert "CreateMultipartUpload" in calls
    calls.clear()
    out = tmp_path / "out"
    out.mkdir()
    moto_s3.get(oid, out / "big")
    assert (out / "big").read_bytes() == data
    assert calls.count("GetObject") == 1 + (6 << 20) // (256 << 10)
    moto_s3.client.put_object(
        Bucket=moto_s3.bucket, Key=moto_s3._key(layout.object_key(oid)), Body=data[::-1]
    )
    with pytest.raises(IntegrityError):
        moto_s3.get(oid, out / "again")
    assert sorted(p.name for p in out.iterdir()) == ["big"]


def test_s3_missing_bucket_is_named(moto_s3: S3Store) -> None:
    nobucket = S3Store("no-such-bucket-here", "x")
    with pytest.raises(StoreError, match="no-such-bucket-here") as info:
        list(nobucket.list())
    assert not isinstance(info.value, ObjectNotFoundError)
    nobucket.close()


def test_s3_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    nocreds = S3Store("special-bucket", "p", endpoint_url="http://127.0.0.1:9")
    with pytest.raises(StoreAuthError, match="no AWS credentials found for s3://special-bucket/p"):
        nocreds.stat(hash_bytes(b"x"))
    nocreds.close()


def test_s3_unreachable_endpoint_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    store = S3Store("bucket", "p", endpoint_url=f"http://127.0.0.1:{port}")
    store.botocore_attempts = 1
    with pytest.raises(StoreUnavailableError, match=f"127.0.0.1:{port}"):
        store.exists([hash_bytes(b"x")])
    store.close()


def test_s3_import_is_cheap() -> None:
    code = (
        "import sys, gitstore.stores.s3, gitstore.stores.registry as r;"
        "s = r.open_store('s3://bucket/prefix');"
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules, 'boto3 imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- HTTP specifics --------------------------------------------------------------------
def test_http_object_level_403(folder_server: tuple[FolderServer, Path]) -> None:
    server, root = folder_server
    oid = hash_bytes(b"secret")
    write_under(root, layout.object_key(oid), b"secret")
    server.faults["forbidden"].add(oid)
    store = HttpStore(server.url)
    try:
        with pytest.raises(ObjectAccessDeniedError) as info:
            store.open(oid)
        assert isinstance(info.value, StoreAuthError) and info.value.object_level
        with pytest.raises(StoreAuthError):
            store.exists([oid])
    finally:
        store.close()


def test_http_refuses_writes_with_the_remote_name(tmp_path: Path) -> None:
    store = HttpStore("https://data.example.org/cache/")
    src = tmp_path / "f"
    src.write_bytes(b"x")
    with pytest.raises(
        ReadOnlyStoreError, match="remote https://data.example.org/cache/ is read-only"
    ):
        store.put(hash_bytes(b"x"), src)
    store.close()


def test_http_connection_trouble_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = HttpStore(f"http://127.0.0.1:{port}/")
    with pytest.raises(StoreUnavailableError, match=f"127.0.0.1:{port}"):
        store.stat(hash_bytes(b"x"))
    store.close()


# -- the registry ----------------------------------------------------------------------
def test_registry_opens_each_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    local = open_store(str(tmp_path / "a"))
    assert isinstance(local, LocalStore) and local.root == tmp_path / "a"
    rel = open_store("rel/store")
    assert isinstance(rel, LocalStore) and rel.root == Path("rel/store")
    url = open_store(f"file://{tmp_path}/b%20c", read_only=True)
    assert isinstance(url, LocalStore) and url.root == tmp_path / "b c" and url.read_only
    s3 = open_store("s3://my-bucket/some/prefix/", region="eu-west-1")
    assert isinstance(s3, RetryingStore) and isinstance(s3.inner, S3Store)
    assert (s3.inner.bucket, s3.inner.prefix, s3.inner.region) == (
        "my-bucket",
        "some/prefix",
        "eu-west-1",
    )
    assert s3.url == "s3://my-bucket/some/prefix" and not s3.read_only
    bare = open_store("s3://my-bucket", retry=False, anonymous=True, read_only=True)
    assert isinstance(bare, S3Store) and bare.prefix == "" and bare.read_only and bare.anonymous
    web = open_store("https://data.example.org/cache/")
    assert isinstance(web, RetryingStore) and isinstance(web.inner, HttpStore) and web.read_only
    first = open_store("memory://shared")
    assert open_store("memory://shared") is first
    assert open_store("memory://other") is not first
    ro = open_store("memory://shared", read_only=True)
    assert isinstance(ro, MemoryStore) and ro.read_only
    src = tmp_path / "obj"
    src.write_bytes(b"shared")
    first.put(hash_bytes(b"shared"), src)
    assert ro.exists([hash_bytes(b"shared")]) == {hash_bytes(b"shared")}


@pytest.mark.parametrize(
    "url",
    [
        "",
        "gs://bucket/x",
        "ssh://host/path",
        "host:path",
        "s3://",
        "s3:///prefix",
        "s3://Bad_Bucket!/x",
        "s3://bucket/a/../b",
        "s3:bucket",
        "http://",
        "https://host:notaport/",
        "file://otherhost/path",
        "file:relative",
        "memory://",
    ],
)
def test_registry_refuses_malformed_urls(url: str) -> None:
    with pytest.raises(ConfigError, match="malformed remote URL") as info:
        open_store(url)
    assert info.value.hint is not None and "s3://bucket/prefix" in info.value.hint


def test_registry_refuses_s3_options_elsewhere(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="only to s3://"):
        open_store(str(tmp_path), endpoint_url="http://127.0.0.1:9000")
    with pytest.raises(ConfigError, match="endpoint_url"):
        open_store("s3://bucket/x", endpoint_url="127.0.0.1:9000")
