"""The small-object pull path keeps every correctness rule.

- S3 objects are downloaded straight into the cache's temporary file
  (``S3Store.read_into`` + ``Cache.receive``): hashed as they stream, renamed
  into ``objects/`` only once verified, removed otherwise; a retry after a cut
  connection starts the file over;
- files of small objects are written from the verified bytes still in memory
  (``Cache.materialise_bytes``), only where the link mode would copy.
"""

from __future__ import annotations

import http.server
import os
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gitstore.cache import Cache
from gitstore.errors import IntegrityError
from gitstore.hashing import hash_bytes
from tests import servers
from tests.conftest import tree_of, write
from tests.integration.test_remotes import Clone, clone_of
from tests.servers import make_bucket, s3_store_on, serve_in_thread

moto_endpoint, s3_env = servers.moto_endpoint, servers.s3_env

Run = Callable[..., subprocess.CompletedProcess[str]]


def _objects(cache: Cache) -> list[str]:
    return sorted(p.name for p in (cache.root / "objects").rglob("*") if p.is_file())


def _tmp_files(cache: Cache) -> list[str]:
    folder = cache.store.tmp_dir
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# -- Cache.receive ---------------------------------------------------------------
def test_receive_installs_only_verified_bytes(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    data = b"hello\n" * 100
    oid = hash_bytes(data)

    def good(fd: int) -> str:
        os.write(fd, data)
        return hash_bytes(data)

    cache.receive(oid, good)
    path = cache.path(oid)
    assert path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o444  # created read-only, no chmod
    assert _tmp_files(cache) == []

    other = hash_bytes(b"other")

    def wrong(fd: int) -> str:
        os.write(fd, data)
        return hash_bytes(data)  # not ``other``

    with pytest.raises(IntegrityError):
        cache.receive(other, wrong)

    def broken(fd: int) -> str:
        os.write(fd, b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        cache.receive(other, broken)
    assert _objects(cache) == [oid] and _tmp_files(cache) == []


def test_materialise_bytes_only_where_the_link_mode_copies(tmp_path: Path) -> None:
    data = b"#!/bin/sh\necho hi\n"
    dest = tmp_path / "run.sh"
    hardlink = Cache(tmp_path / "c1", ("hardlink", "copy"))
    assert hardlink.materialise_bytes(data, str(dest), True) == (False, None)
    assert Cache(tmp_path / "c2", ("symlink",)).materialise_bytes(data, str(dest), True)[0] is False
    assert not dest.exists()
    written, st = Cache(tmp_path / "c3", ("copy",)).materialise_bytes(data, str(dest), True)
    assert written and dest.read_bytes() == data and os.access(dest, os.X_OK)
    assert st is not None and st.st_ino == os.lstat(dest).st_ino  # the file written, for the record
    assert [p.name for p in tmp_path.iterdir() if "gitstore-tmp" in p.name] == []


# -- S3Store.read_into -------------------------------------------------------------
@pytest.fixture
def s3_store(moto_endpoint: str, s3_env: dict[str, str]):  # type: ignore[no-untyped-def]
    yield from s3_store_on(moto_endpoint, "small-pull")


def test_read_into_every_size_with_its_bytes_when_small(s3_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from gitstore.stores import s3

    n = s3.READ_BUFFER
    cache = Cache(tmp_path / "cache")
    for size in (0, 1, 4096, n - 1, n, n + 1, 2 * n + 3):
        data = os.urandom(size)
        src = tmp_path / f"src-{size}"
        src.write_bytes(data)
        oid = hash_bytes(data)
        s3_store.put(oid, src)
        got: list[tuple[int, bytes | None]] = []

        def fill(fd: int, oid: str = oid, got: list[tuple[int, bytes | None]] = got) -> str:
            actual, length, small = s3_store.read_into(oid, fd)
            got.append((length, small))
            return str(actual)

        cache.receive(oid, fill)
        assert cache.path(oid).read_bytes() == data, size
        length, small = got[0]
        assert length == size
        assert small == (data if 0 < size < n else None), size
    assert _tmp_files(cache) == []


def test_read_into_ranged_hashes_what_it_wrote(s3_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom((3 << 20) + 777)
    src = tmp_path / "src"
    src.write_bytes(data)
    oid = hash_bytes(data)
    s3_store.put(oid, src)
    s3_store.ranged_get_min = 1 << 20
    s3_store.range_size = 1 << 20
    cache = Cache(tmp_path / "cache")
    cache.receive(oid, lambda fd: str(s3_store.read_into(oid, fd)[0]))
    assert cache.path(oid).read_bytes() == data


def test_read_into_refuses_corrupt_bytes(s3_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = b"the real bytes" * 300
    oid = hash_bytes(data)
    src = tmp_path / "src"
    src.write_bytes(b"something else" * 300)
    key = s3_store._key(f"objects/{oid[:2]}/{oid[2:4]}/{oid}")
    s3_store.client.put_object(Bucket="small-pull", Key=key, Body=src.read_bytes())
    cache = Cache(tmp_path / "cache")
    with pytest.raises(IntegrityError, match="corrupt"):
        cache.receive(oid, lambda fd: str(s3_store.read_into(oid, fd)[0]))
    assert _objects(cache) == [] and _tmp_files(cache) == []


# -- a retry after a cut connection starts the file over ---------------------------
class _FlakyS3(http.server.BaseHTTPRequestHandler):
    """Answers every GET with one object; the first answer is cut short."""

    body = b""
    served = 0
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        cls = type(self)
        cls.served += 1
        self.send_response(200)
        self.send_header("Content-Length", str(len(cls.body)))
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(cls.body[:1000] if cls.served == 1 else cls.body)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def flaky_endpoint() -> Iterator[str]:
    yield from serve_in_thread(http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FlakyS3))


def test_a_retried_download_starts_the_file_over(
    flaky_endpoint: str, s3_env: dict[str, str], tmp_path: Path
) -> None:
    from gitstore.stores.retry import RetryingStore
    from gitstore.stores.s3 import S3Store
    from gitstore.transfer import _retrying

    data = os.urandom(5000)
    oid = hash_bytes(data)
    _FlakyS3.body, _FlakyS3.served = data, 0
    inner = S3Store("flaky", "p", endpoint_url=flaky_endpoint)
    inner.botocore_attempts = 1
    store = RetryingStore(inner, base_delay=0.0, sleep=lambda _s: None)
    cache = Cache(tmp_path / "cache")

    def fill(fd: int) -> str:
        def again() -> None:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)

        return str(_retrying(store, "get", lambda: inner.read_into(oid, fd)[0], again))

    try:
        cache.receive(oid, fill)
    finally:
        inner.close()
    assert _FlakyS3.served == 2
    assert cache.path(oid).read_bytes() == data
    assert _tmp_files(cache) == []


# -- pull end to end -----------------------------------------------------------------
@pytest.fixture
def origin(
    repo: Path,
    run: Run,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    moto_endpoint: str,
    s3_env: dict[str, str],
) -> Clone:
    """Small files (one executable, one empty, two alike) and a bigger one, pushed to S3."""
    make_bucket(moto_endpoint, "small-e2e")
    a = Clone(repo, tmp_path / "cache-a", run, monkeypatch)
    a.gs("init")
    for i in range(20):
        write(repo / "data" / f"d{i % 3}" / f"f{i}.txt", f"small {i}\n" * (i + 1))
    write(repo / "data" / "same1.txt", "alike\n")
    write(repo / "data" / "same2.txt", "alike\n")
    write(repo / "data" / "empty.txt", "")
    write(repo / "data" / "run.sh", "#!/bin/sh\necho hi\n", mode=0o755)
    write(repo / "data" / "big.bin", os.urandom((1 << 20) + 5))
    a.gs("track", "data")
    a.gs("remote", "add", "s3", "s3://small-e2e/r", "--default", "--endpoint-url", moto_endpoint)
    a.commit()
    a.gs("push")
    return a


def test_pull_of_small_objects_gives_the_same_tree_and_a_clean_status(
    origin: Clone, tmp_path: Path
) -> None:
    b = clone_of(origin, tmp_path)
    b.gs("pull")
    assert tree_of(b.path / "data") == tree_of(origin.path / "data")
    assert os.access(b.path / "data" / "run.sh", os.X_OK)
    assert not os.access(b.path / "data" / "same1.txt", os.X_OK)
    assert "modified" not in b.gs("status").stdout
    assert "0 written" in b.gs("pull").stdout
    leftovers = [p for p in (b.path / "data").rglob(".*") if p.is_file()]
    assert leftovers == []
    tmp = b.cache / "gitstore" / "tmp"
    assert not tmp.exists() or list(tmp.iterdir()) == []


def test_a_corrupt_small_object_is_named_and_never_written(
    origin: Clone, tmp_path: Path, moto_endpoint: str
) -> None:
    import boto3

    target = origin.path / "data" / "d1" / "f4.txt"
    oid = hash_bytes(target.read_bytes())
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    key = f"r/objects/{oid[:2]}/{oid[2:4]}/{oid}"
    client.put_object(Bucket="small-e2e", Key=key, Body=b"not the bytes\n")

    b = clone_of(origin, tmp_path)
    out = b.gs("pull", ok=False)
    assert out.returncode == 3 and oid in out.stderr and "corrupt" in out.stderr
    assert "'s3'" in out.stderr
    assert not (b.path / "data" / "d1" / "f4.txt").exists()
    assert (b.path / "data" / "d0" / "f3.txt").read_text() == "small 3\n" * 4
    assert not (b.cache / "gitstore" / "objects" / oid[:2] / oid[2:4] / oid).exists()


def test_every_request_has_its_own_invocation_id(s3_store) -> None:  # type: ignore[no-untyped-def]
    import uuid

    seen: list[str] = []

    def record(request, **_: object) -> None:  # type: ignore[no-untyped-def]
        seen.append(request.headers["amz-sdk-invocation-id"].decode())

    s3_store.client.meta.events.register("before-send.s3", record)
    oids = [hash_bytes(bytes([i])) for i in range(3)]
    for oid in oids:
        s3_store.exists([oid])
    assert len(seen) >= 3 and len(set(seen)) == len(seen)
    assert all(str(uuid.UUID(value)) == value for value in seen)
