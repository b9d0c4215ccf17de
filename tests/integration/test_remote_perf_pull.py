"""The speed-ups of pull and of the S3 store keep every correctness rule.

- pull writes files while the fetch goes on (gitstore.pullahead): only
  verified objects, only files that do not exist, never through a symlinked
  folder, only under the named paths, and the stat cache it fills never
  vouches for a file that changes afterwards;
- the S3 store receives into a reused buffer (straight from http.client) and
  sends small objects as bytes: every size round-trips, ranged GETs too, and
  a body cut short is a retryable error, never a corrupt object.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from gitstore.errors import StoreUnavailableError
from gitstore.hashing import hash_bytes, hash_file
from tests import servers
from tests.conftest import tree_of, write
from tests.integration.test_remotes import Clone, clone_of
from tests.servers import make_bucket, s3_store_on

moto_endpoint, s3_env = servers.moto_endpoint, servers.s3_env

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def origin(repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Clone:
    """data/ with nested folders, an executable, and a bigger file, pushed to a folder remote."""
    a = Clone(repo, tmp_path / "cache-a", run, monkeypatch)
    a.gs("init")
    for i in range(6):
        write(repo / "data" / f"sub{i % 2}" / f"f{i}.txt", f"file {i}\n" * (i + 1))
    write(repo / "data" / "run.sh", "#!/bin/sh\necho hi\n", mode=0o755)
    write(repo / "data" / "big.bin", os.urandom(3 << 20))
    write(repo / "model.bin", os.urandom(200_000))
    a.gs("track", "data", "model.bin")
    a.gs("remote", "add", "team", str(tmp_path / "store"), "--default")
    a.commit()
    a.gs("push")
    return a


def test_pull_writes_every_file_and_the_stat_cache_never_vouches_for_a_change(
    origin: Clone, tmp_path: Path
) -> None:
    b = clone_of(origin, tmp_path)
    out = b.gs("pull")
    assert "fetched 9 objects; 9 written, 0 deleted, 0 unchanged" in out.stdout
    assert tree_of(b.path / "data") == tree_of(origin.path / "data")
    assert (b.path / "model.bin").read_bytes() == (origin.path / "model.bin").read_bytes()
    assert os.access(b.path / "data" / "run.sh", os.X_OK)
    assert not os.access(b.path / "data" / "sub0" / "f0.txt", os.X_OK)
    assert "modified" not in b.gs("status").stdout
    assert "fetched 0 objects; 0 written, 0 deleted, 9 unchanged" in b.gs("pull").stdout

    # same size, new content, an mtime in the past: only the content tells
    target = b.path / "data" / "big.bin"
    st = target.stat()
    data = bytearray(target.read_bytes())
    data[1000] ^= 0xFF
    target.chmod(0o644)
    target.write_bytes(bytes(data))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert "modified" in b.gs("status").stdout


def test_pull_leaves_an_existing_file_alone_and_writes_the_rest(
    origin: Clone, tmp_path: Path
) -> None:
    b = clone_of(origin, tmp_path)
    write(b.path / "data" / "sub1" / "f1.txt", "my own edit\n")
    out = b.gs("pull", ok=False)
    assert out.returncode != 0 and "data/sub1/f1.txt" in out.stderr
    assert (b.path / "data" / "sub1" / "f1.txt").read_text() == "my own edit\n"
    assert (b.path / "data" / "big.bin").read_bytes() == (
        origin.path / "data" / "big.bin"
    ).read_bytes()
    assert (b.path / "model.bin").exists()


def test_pull_of_named_paths_writes_only_those(origin: Clone, tmp_path: Path) -> None:
    b = clone_of(origin, tmp_path)
    b.gs("pull", "data/sub0")
    assert sorted(tree_of(b.path / "data")) == ["sub0/f0.txt", "sub0/f2.txt", "sub0/f4.txt"]
    assert not (b.path / "model.bin").exists()


def test_pull_never_writes_through_a_symlinked_folder(origin: Clone, tmp_path: Path) -> None:
    b = clone_of(origin, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (b.path / "data").symlink_to(outside, target_is_directory=True)
    out = b.gs("pull", ok=False)
    assert out.returncode != 0
    assert list(outside.iterdir()) == []


def test_pull_never_writes_a_corrupt_object(
    origin: Clone, tmp_path: Path, moto_endpoint: str, s3_env: dict[str, str]
) -> None:
    make_bucket(moto_endpoint, "perf-pull")
    origin.gs("remote", "add", "s3", "s3://perf-pull/c", "--default",
              "--endpoint-url", moto_endpoint)  # fmt: skip
    origin.commit("s3 remote")
    origin.gs("push", "--remote", "s3")
    oid = hash_file(origin.path / "data" / "big.bin")[0]
    import boto3

    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    key = f"c/objects/{oid[:2]}/{oid[2:4]}/{oid}"
    client.put_object(Bucket="perf-pull", Key=key, Body=os.urandom(3 << 20))

    b = clone_of(origin, tmp_path)
    out = b.gs("pull", "--remote", "s3", ok=False)
    assert out.returncode == 3 and oid in out.stderr and "corrupt" in out.stderr
    assert not (b.path / "data" / "big.bin").exists()
    assert (b.path / "data" / "sub1" / "f3.txt").read_text() == "file 3\n" * 4
    assert not (b.cache / "gitstore" / "objects" / oid[:2] / oid[2:4] / oid).exists()


# -- the S3 store's streaming ------------------------------------------------------
@pytest.fixture
def s3_store(moto_endpoint: str, s3_env: dict[str, str]):  # type: ignore[no-untyped-def]
    yield from s3_store_on(moto_endpoint, "perf-stream")


def test_every_size_round_trips(s3_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from gitstore.stores import s3

    n = s3.READ_BUFFER
    for size in (0, 1, n - 1, n, n + 1, 2 * n + 3, s3_store.put_in_memory_max + 1):
        data = os.urandom(size)
        src = tmp_path / f"src-{size}"
        src.write_bytes(data)
        oid = hash_bytes(data)
        s3_store.put(oid, src)
        dest = tmp_path / f"got-{size}"
        s3_store.get(oid, dest)
        assert dest.read_bytes() == data, size
    assert sorted(p.name for p in tmp_path.iterdir() if ".tmp" in p.name) == []


def test_ranged_get_round_trips(s3_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom((3 << 20) + 12345)
    src = tmp_path / "src"
    src.write_bytes(data)
    oid = hash_bytes(data)
    s3_store.put(oid, src)
    s3_store.ranged_get_min = 1 << 20
    s3_store.range_size = 1 << 20
    s3_store.get(oid, tmp_path / "got")
    assert (tmp_path / "got").read_bytes() == data


def test_the_fast_reader_is_used_with_this_botocore(s3_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import http.client

    from gitstore.stores.s3 import _reader

    data = b"x" * 1000
    src = tmp_path / "src"
    src.write_bytes(data)
    oid = hash_bytes(data)
    s3_store.put(oid, src)
    key = s3_store._key(f"objects/{oid[:2]}/{oid[2:4]}/{oid}")
    body = s3_store.client.get_object(Bucket="perf-stream", Key=key)["Body"]
    readinto, finish = _reader(body)
    assert isinstance(getattr(readinto, "__self__", None), http.client.HTTPResponse)
    buf = bytearray(4096)
    got = readinto(buf)
    assert bytes(buf[:got]) == data and readinto(buf) == 0
    finish()
    body.close()


class _ShortBody:
    """A botocore-like body that ends before its Content-Length."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, n: int = -1) -> bytes:
        out, self.data = self.data[:n], self.data[n:]
        return out

    def close(self) -> None:
        pass


def test_a_body_cut_short_is_retryable_not_corrupt(s3_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StoreUnavailableError, match="ended after 3 of 10 bytes"):
        s3_store._stream_to(_ShortBody(b"abc"), tmp_path / "t", 10, "read object x")


def test_a_local_source_that_does_not_match_is_refused(s3_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from gitstore.errors import IntegrityError

    src = tmp_path / "src"
    src.write_bytes(b"some bytes")
    oid = hash_bytes(b"other bytes")
    with pytest.raises(IntegrityError):
        s3_store.put(oid, src)
    assert s3_store.exists([oid]) == set()
