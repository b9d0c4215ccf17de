"""The machine's floors: pinned code that gitstore's figures are divided by.

These loops do the same durable work gitstore must do and nothing more, in
the plainest Python (or the plainest coreutils command). They are pinned:
never tune them down to make a ratio look better. Each returns the elapsed
wall-clock seconds of the timed part only.

- ``track_loop``: for every file, read it (1 MiB reads), hash it with BLAKE3,
  write the bytes to a temporary name, rename it into a fresh folder; one
  ``os.sync()`` at the end (DESIGN.md: one batch sync before the manifest).
- ``big_file``: BLAKE3 of the file + ``cp`` of the file + one ``os.sync()``.
- ``startup_lstat``: the interpreter's own ``python -c pass`` (the real
  binary, ``sys.executable``, never a version-manager shim) + a walk that
  lstats every file, in this process.
- ``cp_r`` / ``cp_al``: ``cp -r`` / ``cp -al`` of a folder into a new one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import blake3
import trash

READ = 1 << 20  # 1 MiB reads, pinned


def walk_files(root: Path) -> list[str]:
    """Every regular file below ``root`` (scandir, no symlinks followed)."""
    out: list[str] = []
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    out.append(entry.path)
    return out


def track_loop(src: Path, dest: Path, layout: bool = False, now: bool = False) -> float:
    """Read, blake3, write to a temporary name, rename into ``dest``; one sync.

    With ``layout`` (an informational second floor, not the issue's), the
    rename goes to ``objects/<oid[0:2]>/<oid[2:4]>/<oid>`` as DESIGN.md's
    object layout requires, making each folder the first time it is needed.
    ``now``: ``dest``'s previous content is deleted at once (trash.delete_now).
    """
    trash.clear(dest, now)
    t0 = time.perf_counter()
    tmp_dir = dest / "tmp"
    obj_dir = dest / "objects"
    tmp_dir.mkdir(parents=True)
    obj_dir.mkdir()
    made: set[str] = set()
    n = 0
    for path in walk_files(src):
        hasher = blake3.blake3()
        tmp = tmp_dir / str(n)
        with open(path, "rb") as f, open(tmp, "wb") as out:
            while True:
                block = f.read(READ)
                if not block:
                    break
                hasher.update(block)
                out.write(block)
        oid = hasher.hexdigest()
        if layout:
            folder = f"{obj_dir}/{oid[0:2]}/{oid[2:4]}"
            if folder not in made:
                os.makedirs(folder, exist_ok=True)
                made.add(folder)
            os.rename(tmp, f"{folder}/{oid}")
        else:
            os.rename(tmp, obj_dir / oid)
        n += 1
    os.sync()
    return time.perf_counter() - t0


def big_file(path: Path, dest: Path) -> float:
    """BLAKE3 of the file (1 MiB reads, blake3's own threads) + ``cp`` + one sync."""
    dest.unlink(missing_ok=True)
    t0 = time.perf_counter()
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    with open(path, "rb") as f:
        while True:
            block = f.read(READ)
            if not block:
                break
            hasher.update(block)
    hasher.hexdigest()
    subprocess.run(["cp", str(path), str(dest)], check=True)
    os.sync()
    return time.perf_counter() - t0


def python_startup() -> float:
    """``python -c pass`` with the real interpreter binary."""
    t0 = time.perf_counter()
    subprocess.run([os.path.realpath(sys.executable), "-c", "pass"], check=True)
    return time.perf_counter() - t0


def lstat_all(root: Path) -> float:
    """Walk ``root`` and lstat every file, in this process."""
    t0 = time.perf_counter()
    for path in walk_files(root):
        os.lstat(path)
    return time.perf_counter() - t0


def startup_lstat(root: Path) -> float:
    return python_startup() + lstat_all(root)


def cp_r(src: Path, dest: Path, now: bool = False) -> float:
    trash.clear(dest, now)
    t0 = time.perf_counter()
    subprocess.run(["cp", "-r", str(src), str(dest)], check=True)
    return time.perf_counter() - t0


def cp_al(src: Path, dest: Path, now: bool = False) -> float:
    trash.clear(dest, now)
    t0 = time.perf_counter()
    subprocess.run(["cp", "-al", str(src), str(dest)], check=True)
    return time.perf_counter() - t0


def cp_file(src: Path, dest: Path) -> float:
    dest.unlink(missing_ok=True)
    t0 = time.perf_counter()
    subprocess.run(["cp", str(src), str(dest)], check=True)
    return time.perf_counter() - t0
