"""A big S3 upload that is interrupted is taken up where it stopped.

A killed push of a multi-GB object left its multipart upload in the bucket
and the next push started the object over (s3transfer, which also aborted the
upload on any failure). Now the next push finds the unfinished upload, keeps
the parts whose size and MD5 ETag match the file's bytes, and sends only the
rest.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gitstore import layout
from gitstore.errors import StoreUnavailableError
from gitstore.hashing import hash_bytes
from gitstore.stores.retry import RetryingStore
from tests import servers
from tests.conftest import git
from tests.integration.resume_helpers import killed, resumed_mib, track_model
from tests.integration.test_remotes import Clone
from tests.servers import make_bucket, s3_store_on

moto_endpoint, s3_env = servers.moto_endpoint, servers.s3_env

Run = Callable[..., subprocess.CompletedProcess[str]]

MIB = 1 << 20


def _uploads(client: Any, bucket: str) -> list[dict[str, Any]]:
    return list(client.list_multipart_uploads(Bucket=bucket).get("Uploads", []))


def _stored(client: Any, bucket: str, key: str) -> bytes:
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    try:
        return bytes(body.read())
    finally:
        body.close()


def test_a_killed_push_of_a_big_object_resumes(
    repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    moto_endpoint: str, s3_env: dict[str, str],
) -> None:  # fmt: skip
    import boto3

    a = Clone(repo, tmp_path / "cache-a", run, monkeypatch)
    data, oid = track_model(a)  # above multipart_threshold (64 MiB): five parts of 16 MiB
    make_bucket(moto_endpoint, "up-resume")
    a.gs("remote", "add", "s3", "s3://up-resume/r", "--default", "--endpoint-url", moto_endpoint)
    a.commit("model")

    killed(a, "kill-part:2", "push")
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    key = f"r/{layout.object_key(oid)}"
    left = _uploads(client, "up-resume")
    assert [u["Key"] for u in left] == [key]

    out = a.gs("push")
    assert resumed_mib(out.stderr, oid, done="uploaded") >= 32  # two parts at least
    assert _stored(client, "up-resume", key) == data
    assert _uploads(client, "up-resume") == []


def test_git_push_takes_up_what_a_killed_push_left(
    repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    moto_endpoint: str, s3_env: dict[str, str],
) -> None:  # fmt: skip
    """The pre-push hook resumes the upload too, and says so."""
    import boto3

    a = Clone(repo, tmp_path / "cache-a", run, monkeypatch)
    data, oid = track_model(a)
    make_bucket(moto_endpoint, "up-hook")
    a.gs("remote", "add", "s3", "s3://up-hook/r", "--default", "--endpoint-url", moto_endpoint)
    a.commit("model")
    git(tmp_path, "init", "-q", "--bare", "origin.git")
    git(repo, "remote", "add", "origin", str(tmp_path / "origin.git"))

    killed(a, "kill-part:2", "push")
    env = {**os.environ, "XDG_CACHE_HOME": str(a.cache)}
    pushed = subprocess.run(["git", "push", "-q", "origin", "HEAD"], cwd=repo, env=env,
                            capture_output=True, text=True)  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    assert f"gitstore: resumed {oid}: " in pushed.stderr
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    assert _stored(client, "up-hook", f"r/{layout.object_key(oid)}") == data
    assert _uploads(client, "up-hook") == []


# -- the store, in process -------------------------------------------------------------
@pytest.fixture
def s3_store(moto_endpoint: str, s3_env: dict[str, str]) -> Iterator[Any]:
    gen = s3_store_on(moto_endpoint, "up-unit")
    store: Any = next(gen)
    store.multipart_threshold = store.multipart_chunksize = 5 * MIB
    store.put_in_memory_max = 1 * MIB
    yield store
    next(gen, None)


def _source(tmp_path: Path, size: int) -> tuple[Path, bytes, str]:
    data = os.urandom(size)
    src = tmp_path / "src"
    src.write_bytes(data)
    return src, data, hash_bytes(data)


def _count_parts(store: Any) -> list[int]:
    sent: list[int] = []

    def note(params: dict[str, Any], **_: Any) -> None:
        sent.append(int(params["PartNumber"]))

    store.slow_client.meta.events.register("provide-client-params.s3.UploadPart", note)
    return sent


def test_a_failed_part_leaves_the_upload_for_the_next_try(s3_store: Any, tmp_path: Path) -> None:
    src, data, oid = _source(tmp_path, 17 * MIB)  # parts 1-3 of 5 MiB, part 4 of 2 MiB
    key = s3_store._key(layout.object_key(oid))
    sent = _count_parts(s3_store)
    broken = [True]
    landed: list[int] = []
    others = threading.Event()

    def note_landed(http_response: Any, parsed: Any, model: Any, **_: Any) -> None:
        landed.append(1)
        if len(landed) == 3:
            others.set()

    def fail_part_3(params: dict[str, Any], **_: Any) -> None:
        if params["PartNumber"] == 3 and broken[0]:
            # the others land first (on a busy machine a part not begun yet when one
            # fails is cancelled, and rightly sent by the next try too)
            assert others.wait(60)
            raise StoreUnavailableError("the connection was reset")

    s3_store.slow_client.meta.events.register("provide-client-params.s3.UploadPart", fail_part_3)
    s3_store.slow_client.meta.events.register("after-call.s3.UploadPart", note_landed)
    with pytest.raises(StoreUnavailableError):
        s3_store.put(oid, src)
    assert [u["Key"] for u in _uploads(s3_store.client, "up-unit")] == [key]
    broken[0] = False
    sent.clear()
    s3_store.put(oid, src)
    assert sent == [3]  # only the part that failed
    assert s3_store.resumed_uploads[oid] == (12 * MIB, 17 * MIB)
    assert _stored(s3_store.client, "up-unit", key) == data
    assert _uploads(s3_store.client, "up-unit") == []


def test_a_part_whose_bytes_differ_is_sent_again(s3_store: Any, tmp_path: Path) -> None:
    """A part is kept only when its MD5 ETag is that of the file's own bytes there."""
    src, data, oid = _source(tmp_path, 11 * MIB)
    key = s3_store._key(layout.object_key(oid))
    client = s3_store.client
    upload = client.create_multipart_upload(Bucket="up-unit", Key=key)["UploadId"]
    wrong = os.urandom(5 * MIB)  # part 1: the right size, other bytes
    client.upload_part(Bucket="up-unit", Key=key, UploadId=upload, PartNumber=1, Body=wrong)
    client.upload_part(Bucket="up-unit", Key=key, UploadId=upload, PartNumber=2,
                       Body=data[5 * MIB : 10 * MIB])  # fmt: skip
    sent = _count_parts(s3_store)
    s3_store.put(oid, src)
    assert sorted(sent) == [1, 3]
    assert _stored(client, "up-unit", key) == data
    assert hashlib.md5(_stored(client, "up-unit", key)).digest() == hashlib.md5(data).digest()


def test_an_upload_aborted_meanwhile_is_started_afresh(s3_store: Any, tmp_path: Path) -> None:
    """`gc --remote` may abort an old unfinished upload just as a push takes it up
    (here: after its parts were sent, before the completion)."""
    src, data, oid = _source(tmp_path, 11 * MIB)
    key = s3_store._key(layout.object_key(oid))
    client = s3_store.client
    upload = client.create_multipart_upload(Bucket="up-unit", Key=key)["UploadId"]
    client.upload_part(Bucket="up-unit", Key=key, UploadId=upload, PartNumber=1,
                       Body=data[: 5 * MIB])  # fmt: skip
    aborted: list[str] = []

    def abort_first(params: dict[str, Any], **_: Any) -> None:
        if not aborted:
            aborted.append(upload)
            client.abort_multipart_upload(Bucket="up-unit", Key=key, UploadId=upload)

    s3_store.slow_client.meta.events.register(
        "provide-client-params.s3.CompleteMultipartUpload", abort_first
    )
    # S3 answers 404 NoSuchUpload (a fresh upload at once); moto answers 500, and the
    # retry, as every command makes it, finds no unfinished upload and starts one
    RetryingStore(s3_store, base_delay=0.01).put(oid, src)
    assert aborted == [upload]
    assert _stored(client, "up-unit", key) == data
    assert oid not in s3_store.resumed_uploads
