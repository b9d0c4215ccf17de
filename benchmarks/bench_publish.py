"""Publish benchmarks: `gitstore publish` of a long history to a folder remote.

    run(workdir, quick) -> {figure name: seconds}

- ``publish_history``: ``gitstore publish REMOTE`` end to end (a fresh
  process) of 1,000 first-parent commits (50 with ``quick``), each changing
  one manifest of 100 files, 10 of which are new objects, into an empty
  folder remote (the objects are already in the cache).
- ``publish_history_floor``: a plain Python loop doing the same copies in
  the same run: every commit's manifest written under ``commits/`` and every
  new object copied into ``objects/``, then one sync (as publish does).
- ``publish_noop``: ``gitstore publish`` again with nothing new.
- ``publish_noop_floor``: Python start-up plus reading the per-branch
  document (``yaml`` with the C loader), in a fresh process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchenv import hermetic_env  # noqa: E402

from gitstore import manifest as mf  # noqa: E402
from gitstore.hashing import hash_bytes  # noqa: E402

FILES = 100
NEW_PER_COMMIT = 10


def _env(workdir: Path) -> dict[str, str]:
    return hermetic_env(workdir, bytecode=True)


def _put_cache(cache: Path, data: bytes) -> str:
    oid = hash_bytes(data)
    path = cache / "objects" / oid[:2] / oid[2:4] / oid
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return oid


def build(
    workdir: Path, commits: int
) -> tuple[Path, dict[str, str], list[tuple[bytes, list[str]]]]:
    """The repository and, per commit, (manifest bytes, oids new in that commit)."""
    repo = workdir / "repo"
    shutil.rmtree(workdir, ignore_errors=True)
    repo.mkdir(parents=True)
    env = _env(workdir)
    cache = workdir / "cache" / "gitstore"
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, env=env, check=True)
    oids = [_put_cache(cache, f"file {i} v0".encode().ljust(1024, b".")) for i in range(FILES)]
    history: list[tuple[bytes, list[str]]] = []
    stream = []
    for c in range(commits):
        new = []
        for k in range(NEW_PER_COMMIT if c else FILES):
            i = (c * NEW_PER_COMMIT + k) % FILES if c else k
            if c:
                oids[i] = _put_cache(cache, f"file {i} commit {c}".encode().ljust(1024, b"."))
            new.append(oids[i])
        entries = [mf.Entry(f"f{i:03}.bin", oids[i], 1024) for i in range(FILES)]
        data = mf.dump(mf.build("dir", entries))
        history.append((data, new))
        msg = f"commit {c}".encode()
        stream.append(
            b"commit refs/heads/main\n"
            + f"committer bench <b@e> {1700000000 + c * 60} +0000\n".encode()
            + b"data %d\n%s\n" % (len(msg), msg)
            + b"M 100644 inline data.gitstore\n"
            + b"data %d\n%s\n" % (len(data), data)
        )
    subprocess.run(
        ["git", "fast-import", "--quiet"], cwd=repo, env=env, input=b"".join(stream), check=True
    )
    subprocess.run(["git", "reset", "-q", "--hard", "main"], cwd=repo, env=env, check=True)
    return repo, env, history


def _gitstore(repo: Path, env: dict[str, str], *args: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "gitstore", *args], cwd=repo, env=env, capture_output=True
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"gitstore {' '.join(args)} failed: {proc.stderr.decode()}")
    return seconds


def _floor_copy(workdir: Path, repo: Path, history: list[tuple[bytes, list[str]]]) -> float:
    cache = workdir / "cache" / "gitstore"
    target = workdir / "floor"
    shutil.rmtree(target, ignore_errors=True)
    shas = subprocess.run(
        ["git", "rev-list", "--reverse", "main"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    start = time.perf_counter()
    for sha, (data, new) in zip(shas, history, strict=True):
        for oid in new:
            dest = target / "objects" / oid[:2] / oid[2:4] / oid
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(cache / "objects" / oid[:2] / oid[2:4] / oid, dest)
        entry = target / "commits" / sha[0] / sha[1] / sha[2] / sha[3:] / "data.gitstore"
        entry.parent.mkdir(parents=True, exist_ok=True)
        entry.write_bytes(data + f"commit: {sha}\nstatus: ok\n".encode())
    os.sync()
    return time.perf_counter() - start


def run(workdir: Path, quick: bool) -> dict[str, float]:
    commits = 50 if quick else 1000
    repo, env, history = build(workdir, commits)
    remote = workdir / "published"
    figures = {"publish_history": _gitstore(repo, env, "publish", str(remote))}
    figures["publish_history_floor"] = _floor_copy(workdir, repo, history)
    doc = remote / "branches" / "main.yaml"
    noop, floor = [], []
    for _ in range(3):
        noop.append(_gitstore(repo, env, "publish", str(remote)))
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-c",
                f"import yaml; yaml.load(open({str(doc)!r}, 'rb'), Loader=yaml.CSafeLoader)",
            ],
            env=env,
            check=True,
        )
        floor.append(time.perf_counter() - start)
    figures["publish_noop"] = min(noop)
    figures["publish_noop_floor"] = min(floor)
    return figures


if __name__ == "__main__":
    import json

    quick = "--quick" in sys.argv
    print(
        json.dumps(
            run(
                Path(sys.argv[1])
                if len(sys.argv) > 1 and not sys.argv[1].startswith("-")
                else Path("/tmp/bench_publish"),
                quick,
            ),
            indent=2,
        )
    )
