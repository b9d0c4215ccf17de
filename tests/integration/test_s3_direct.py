"""Small PUTs sent without botocore's per-request machinery (gitstore/stores/s3direct.py).

The server here checks every signature (moto with IAM authentication on), so
a direct PUT that is stored was signed exactly as S3 wants; a refusal of any
kind turns the shortcut off and boto3 sends the object, whose error is the
one reported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from gitstore.errors import StoreAuthError, StoreError, StoreUnavailableError
from gitstore.hashing import hash_bytes
from gitstore.stores.s3 import S3Store
from tests import servers

s3_env = servers.s3_env

SERVER = (
    "from moto.server import ThreadedMotoServer\n"
    "s = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)\n"
    "s.start()\n"
    "print(s.get_host_and_port()[1], flush=True)\n"
    "import sys; sys.stdin.read()\n"
)


def _client(service: str, endpoint: str, creds: dict[str, str]) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture(scope="module")
def signed_endpoint() -> Iterator[tuple[str, dict[str, str]]]:
    """A moto server that checks signatures; (its URL, the credentials of a user it knows)."""
    env = {**os.environ, **servers.DUMMY_AWS, "INITIAL_NO_AUTH_ACTION_COUNT": "3"}
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        endpoint = f"http://127.0.0.1:{int(proc.stdout.readline())}"
        iam = _client("iam", endpoint, servers.DUMMY_AWS)
        iam.create_user(UserName="pusher")  # the three actions allowed without a signature check
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
        iam.put_user_policy(UserName="pusher", PolicyName="all", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="pusher")["AccessKey"]
        creds = {
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        }
        _client("s3", endpoint, creds).create_bucket(Bucket="signed")
        yield endpoint, creds
    finally:
        proc.kill()
        proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()


def _objects(tmp_path: Path, count: int, size: int = 100) -> list[tuple[str, Path, bytes]]:
    out = []
    for i in range(count):
        data = os.urandom(size) + bytes([i])
        oid = hash_bytes(data)
        path = tmp_path / oid
        path.write_bytes(data)
        out.append((oid, path, data))
    return out


def _get(endpoint: str, creds: dict[str, str], store: S3Store, oid: str) -> bytes:
    client = _client("s3", endpoint, creds)
    key = f"{store.prefix}/objects/{oid[:2]}/{oid[2:4]}/{oid}"
    return bytes(client.get_object(Bucket="signed", Key=key)["Body"].read())


def test_small_objects_go_direct_signed_as_s3_wants(
    signed_endpoint: tuple[str, dict[str, str]],
    s3_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    endpoint, creds = signed_endpoint
    for name, value in creds.items():
        monkeypatch.setenv(name, value)
    store = S3Store("signed", "team/data-v1.2_x~", endpoint_url=endpoint)
    try:
        objects = _objects(tmp_path, 5)
        for oid, path, _data in objects:
            store.put(oid, path)
        assert store._direct and store._direct.on  # every one went direct, none refused
        for oid, _path, data in objects:
            assert _get(endpoint, creds, store, oid) == data
        assert store.exists(oid for oid, _p, _d in objects) == {oid for oid, _p, _d in objects}
    finally:
        store.close()


def test_a_refused_direct_put_hands_over_to_boto3_and_its_error(
    signed_endpoint: tuple[str, dict[str, str]],
    s3_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    endpoint, creds = signed_endpoint
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds["AWS_ACCESS_KEY_ID"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    store = S3Store("signed", "p", endpoint_url=endpoint)
    ((oid, path, _data),) = _objects(tmp_path, 1)
    try:
        with pytest.raises(StoreAuthError, match="SignatureDoesNotMatch"):
            store.put(oid, path)
        assert store._direct is not None and store._direct.on is False
    finally:
        store.close()
    # a bucket that is not there: boto3's answer names it
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds["AWS_SECRET_ACCESS_KEY"])
    store = S3Store("no-such-bucket", "p", endpoint_url=endpoint)
    try:
        with pytest.raises(StoreError, match="bucket 'no-such-bucket' does not exist"):
            store.put(oid, path)
    finally:
        store.close()


def test_an_endpoint_that_is_not_there_is_unavailable(
    s3_env: dict[str, str], tmp_path: Path
) -> None:
    store = S3Store("b", "p", endpoint_url="http://127.0.0.1:9")
    ((oid, path, _data),) = _objects(tmp_path, 1)
    try:
        with pytest.raises(
            StoreUnavailableError, match=r"cannot reach http://127\.0\.0\.1:9 for s3://b/p"
        ):
            store.put(oid, path)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("setting", "kwargs"),
    [
        ({"GITSTORE_S3_DIRECT": "0"}, {"endpoint_url": "http://127.0.0.1:9"}),
        ({"HTTPS_PROXY": "http://127.0.0.1:3128"}, {"endpoint_url": "http://127.0.0.1:9"}),
        ({}, {"endpoint_url": "http://127.0.0.1:9/s3"}),
        ({}, {"endpoint_url": "http://127.0.0.1:9", "anonymous": True}),
        ({}, {}),  # AWS itself: the full client, which follows region redirects
    ],
)
def test_where_the_shortcut_does_not_apply(
    s3_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    setting: dict[str, str],
    kwargs: dict[str, object],
) -> None:
    for name, value in setting.items():
        monkeypatch.setenv(name, value)
    store = S3Store("b", "p", **kwargs)  # type: ignore[arg-type]
    try:
        assert store._direct_put() is None
    finally:
        store.close()
