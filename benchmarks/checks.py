"""Output checks: a fast wrong answer fails the benchmark instead of scoring."""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path

import blake3
from harness import CheckFailed


def manifest_files(manifest: Path) -> int:
    m = re.search(rb"^files: (\d+)$", manifest.read_bytes(), re.M)
    if not m:
        raise CheckFailed(f"{manifest} has no files: line")
    return int(m.group(1))


def expect_manifest(manifest: Path, files: int) -> None:
    got = manifest_files(manifest)
    if got != files:
        raise CheckFailed(f"{manifest} lists {got} files, expected {files}")


def expect_oid_in_manifest(manifest: Path, path: Path) -> None:
    oid = blake3.blake3(path.read_bytes()).hexdigest()
    if oid.encode() not in manifest.read_bytes():
        raise CheckFailed(f"{manifest} does not name {path}'s new content {oid}")


def expect_status(out: str, state: str, path: str = "data") -> None:
    """``gitstore status --json`` output: ``path`` has ``state``."""
    rows = {r["path"]: r for r in json.loads(out)}
    row = rows.get(path)
    if row is None or row["state"] != state:
        raise CheckFailed(f"status of {path}: expected {state}, got {row}")


def same_tree(expected: Path, actual: Path, sample: int | None, seed: int = 7) -> None:
    """Same names everywhere; same bytes for ``sample`` files (all when None)."""

    def listing(root: Path) -> list[str]:
        out = []
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith(".")] if folder == str(root) else dirs
            for name in files:
                out.append(os.path.relpath(os.path.join(folder, name), root))
        return sorted(out)

    if expected.is_file():
        pairs = [("", expected, actual)]
        names_e = names_a = [""]
    else:
        names_e, names_a = listing(expected), listing(actual)
        if names_e != names_a:
            extra = sorted(set(names_a) - set(names_e))[:3]
            lost = sorted(set(names_e) - set(names_a))[:3]
            raise CheckFailed(f"{actual} differs from {expected}: extra {extra}, missing {lost}")
        chosen = (
            names_e
            if sample is None or sample >= len(names_e)
            else random.Random(seed).sample(names_e, sample)
        )
        pairs = [(n, expected / n, actual / n) for n in chosen]
    for _name, e, a in pairs:
        if e.stat().st_size != a.stat().st_size or not _same_bytes(e, a):
            raise CheckFailed(f"{a} does not hold the bytes of {e}")


def _same_bytes(a: Path, b: Path) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True
