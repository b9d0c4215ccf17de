"""Shared pieces of the reliability suite: invariants, a results file, small repos.

Every test that injects crashes, faults or fuzz records what it did with
:func:`record`; the numbers land in ``tests/reliability/.results.json``
(git-ignored) and ``tests/reliability/report.py`` renders docs/reliability.md's
table from them.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from blake3 import blake3

from tests.conftest import git, unprivileged

RESULTS = Path(__file__).with_name(".results.json")
GITSTORE = [sys.executable, "-m", "gitstore"]
HEX = set("0123456789abcdef")


def record(section: str, key: str, **values: Any) -> None:
    """Merge ``values`` into RESULTS[section][key] (numbers are replaced, not added)."""
    lock = RESULTS.with_suffix(".lock")
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        except ValueError:
            data = {}
        data.setdefault(section, {})[key] = values
        tmp = RESULTS.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, RESULTS)


def hash_file(path: Path) -> str:
    h = blake3()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return str(h.hexdigest())


def store_problems(root: Path) -> list[str]:
    """Every violation of the object layout in a store folder (cache or folder remote)."""
    problems = []
    objects = root / "objects"
    if not objects.is_dir():
        return problems
    for folder, _dirs, files in os.walk(objects):
        for name in files:
            full = Path(folder, name)
            rel = full.relative_to(root).as_posix()
            parts = rel.split("/")
            if (
                len(parts) != 4
                or len(name) != 64
                or not set(name) <= HEX
                or parts[1] + parts[2] != name[:4]
            ):
                problems.append(f"not an object name: {rel}")
                continue
            actual = hash_file(full)
            if actual != name:
                problems.append(f"corrupt object {name} (hashes to {actual})")
    return problems


def objects_in(root: Path) -> set[str]:
    out = set()
    for _folder, _dirs, files in os.walk(root / "objects"):
        out |= {n for n in files if len(n) == 64}
    return out


def registrations(cache: Path) -> list[Path]:
    """The cache's registrations of repositories, one a repository: not the path-only
    markers kept beside them for gitstores of before 2026-12-04 (Cache.register_repo)."""
    return sorted(
        marker
        for marker in (cache / "repos").iterdir()
        if len(marker.read_bytes().splitlines()) > 1
    )


def tmp_leftovers(root: Path) -> int:
    tmp = root / "tmp"
    return len(list(tmp.iterdir())) if tmp.is_dir() else 0


def manifest_oids(data: bytes) -> set[str]:
    from gitstore import manifest as mf

    return {e.oid for e in mf.parse(data, "manifest").entries}


def committed_manifest_problems(repo: Path, cache: Path) -> list[str]:
    """Manifests in HEAD and in the index must name only objects in the author's cache."""
    have = objects_in(cache)
    problems = []
    blobs: dict[str, str] = {}
    head = git(repo, "rev-parse", "-q", "--verify", "HEAD", check=False).stdout.strip()
    if head:
        out = git(repo, "ls-tree", "-r", "HEAD").stdout
        for line in out.splitlines():
            meta, path = line.split("\t", 1)
            if path.endswith(".gitstore"):
                blobs[f"HEAD:{path}"] = meta.split()[2]
    for line in git(repo, "ls-files", "-s").stdout.splitlines():
        meta, path = line.split("\t", 1)
        if path.endswith(".gitstore"):
            blobs[f"index:{path}"] = meta.split()[1]
    for where, blob in blobs.items():
        data = subprocess.run(
            ["git", "cat-file", "blob", blob], cwd=repo, capture_output=True, check=True
        ).stdout
        for oid in manifest_oids(data) - have:
            problems.append(f"{where} names {oid}, which the cache lacks")
    return problems


def make_tree(root: Path, files: int, size: int, seed: int = 0) -> dict[str, bytes]:
    """Write ``files`` files of about ``size`` bytes under ``root``; returns {relpath: bytes}."""
    import random

    rng = random.Random(seed)
    out = {}
    for i in range(files):
        rel = f"sub{i % 7}/f{i:04d}.bin"
        data = rng.randbytes(size + rng.randrange(0, max(1, size // 4)))
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        out[rel] = data
    return out


def read_tree(root: Path) -> dict[str, bytes]:
    out = {}
    for folder, _dirs, files in os.walk(root):
        for name in files:
            full = Path(folder, name)
            out[full.relative_to(root).as_posix()] = full.read_bytes()
    return out


def gs(
    cwd: Path,
    *args: str,
    env: dict[str, str] | None = None,
    check: bool = True,
    plain_user: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``gitstore ARGS`` in ``cwd``; ``plain_user``: file permissions apply even to root
    (skip first where ``tests.conftest.unprivileged()`` is None)."""
    prefix = (unprivileged() or []) if plain_user else []
    argv = [*prefix, *GITSTORE, *args]
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    if check and proc.returncode != 0:
        raise AssertionError(
            f"gitstore {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def new_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q")
    (path / "README").write_text("hello\n")
    git(path, "add", "README")
    git(path, "commit", "-qm", "initial")
    return path
