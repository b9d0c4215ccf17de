"""Remote benchmarks: push and fetch through a moto S3 server on 127.0.0.1.

    run(workdir, quick) -> {figure name: seconds}

For each workload (2,000 files of 4 KiB and 200 files of 5 MiB; 200 and 10
with ``quick``), in one run against the same endpoint:

- ``<w>_push`` / ``<w>_push_floor``: ``gitstore push`` of the tracked folder
  (a fresh process) to an empty prefix, against the pinned baseline: one boto3
  client, 8 threads, ``put_object`` of every file to another empty prefix;
- ``<w>_fetch`` / ``<w>_fetch_floor``: ``gitstore fetch`` into an empty cache
  in a second clone, against the baseline's ``get_object`` of every key with
  1 MiB reads written to files;
- ``noop_push`` / ``noop_push_floor``: a second ``gitstore push`` with nothing
  to send (2,000 small files tracked), against one LIST of the remote's
  prefix plus Python start-up (``python -c pass``).

The baseline is not tuned down: it does exactly the requests the work needs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "bench"
CREDS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _env(workdir: Path, cache: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "GITSTORE_", "AWS_"))}
    env.update(CREDS)
    env.update(
        HOME=str(workdir / "home"),
        XDG_CACHE_HOME=str(workdir / cache),
        XDG_CONFIG_HOME=str(workdir / "config"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@example.com",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@example.com",
        PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )
    return env


def _sh(cwd: Path, env: dict[str, str], *args: str) -> float:
    start = time.perf_counter()
    subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def _gitstore(cwd: Path, env: dict[str, str], *args: str) -> float:
    return _sh(cwd, env, sys.executable, "-m", "gitstore", *args)


def _client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        config=Config(max_pool_connections=16),
        **{k.lower(): v for k, v in CREDS.items() if k.startswith("AWS_") and "KEY" in k},
        region_name="us-east-1",
    )


def floor_put(client: Any, files: list[Path], prefix: str) -> float:
    def put(path: Path) -> None:
        with open(path, "rb") as body:
            client.put_object(Bucket=BUCKET, Key=f"{prefix}/{path.name}", Body=body)

    start = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, files))
    return time.perf_counter() - start


def floor_get(client: Any, names: list[str], prefix: str, dest: Path) -> float:
    dest.mkdir(parents=True, exist_ok=True)

    def get(name: str) -> None:
        body = client.get_object(Bucket=BUCKET, Key=f"{prefix}/{name}")["Body"]
        with open(dest / name, "wb") as out:
            while block := body.read(1 << 20):
                out.write(block)

    start = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(get, names))
    return time.perf_counter() - start


def floor_list(client: Any, prefix: str) -> int:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sum(len(page.get("Contents", [])) for page in pages)


def workload(
    workdir: Path, endpoint: str, client: Any, name: str, count: int, size: int
) -> dict[str, float]:
    base = workdir / name
    shutil.rmtree(base, ignore_errors=True)
    repo = base / "repo"
    data = repo / "data"
    data.mkdir(parents=True)
    for i in range(count):
        (data / f"{i:05}.bin").write_bytes(os.urandom(size))
    env = _env(base, "cache-a")
    _sh(repo, env, "git", "init", "-q")
    _gitstore(repo, env, "init")
    _gitstore(repo, env, "track", "data")
    _gitstore(repo, env, "remote", "add", "s3", f"s3://{BUCKET}/{name}/gitstore", "--default",
              "--endpoint-url", endpoint)  # fmt: skip
    _sh(repo, env, "git", "add", "-A")
    _sh(repo, env, "git", "commit", "-qm", "data")
    files = sorted(data.iterdir())
    out = {
        f"{name}_push_floor": floor_put(client, files, f"{name}/floor"),
        f"{name}_push": _gitstore(repo, env, "push"),
    }
    out[f"{name}_noop_push"] = _gitstore(repo, env, "push")
    clone = base / "clone"
    _sh(base, env, "git", "clone", "-q", str(repo), str(clone))
    env_b = _env(base, "cache-b")
    out[f"{name}_fetch_floor"] = floor_get(
        client, [f.name for f in files], f"{name}/floor", base / "got"
    )
    out[f"{name}_fetch"] = _gitstore(clone, env_b, "fetch")
    if name == "small":
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        floor_list(client, f"{name}/gitstore/")
        out["noop_push_floor"] = time.perf_counter() - start
        out["noop_push"] = out.pop(f"{name}_noop_push")
    else:
        out.pop(f"{name}_noop_push")
    return out


def run(workdir: Path, quick: bool) -> dict[str, float]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    workdir.mkdir(parents=True, exist_ok=True)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = _client(endpoint)
        client.create_bucket(Bucket=BUCKET)
        small, large = (200, 10) if quick else (2_000, 200)
        figures = workload(workdir, endpoint, client, "small", small, 4 << 10)
        figures.update(workload(workdir, endpoint, client, "large", large, 5 << 20))
        return figures
    finally:
        server.stop()


if __name__ == "__main__":
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(run(Path(tmp), "--quick" in sys.argv), indent=2))
