"""Walks over history read each version of a manifest by the lines it changed.

gc (in the cache and on a remote), ``push --all`` and the pre-push hook look
at every version of every manifest in history. They used to parse each in
full (~45 ms for a 20,000-file folder, per commit); now they read only the
lines no earlier version had (docs/performance.md, item 33). These tests hold
what the walks gather to what every version names, a version written by hand
with YAML escapes included.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from blake3 import blake3

from tests.conftest import git, write
from tests.integration.test_hooks import objects_in


def oid(data: bytes) -> str:
    return blake3(data).hexdigest()


def cache_objects() -> Path:
    return Path(os.environ["XDG_CACHE_HOME"]) / "gitstore" / "objects"


def history(repo: Path, run) -> set[str]:
    """Six commits of data/, each changing one file and adding one; every oid ever named."""
    run(repo, "init")
    named = set()
    for i in range(6):
        named.add(oid(write(repo / f"data/f{i}.bin", f"v0 {i}\n").read_bytes()))
    run(repo, "track", "data")
    git(repo, "commit", "-qm", "c0")
    for c in range(1, 6):
        named.add(oid(write(repo / f"data/f{c}.bin", f"v{c}\n").read_bytes()))
        named.add(oid(write(repo / f"data/n{c}.bin", f"new {c}\n").read_bytes()))
        run(repo, "track", "data")
        git(repo, "commit", "-qm", f"c{c}")
    return named


def test_push_all_sends_what_every_version_names(repo: Path, run, tmp_path: Path) -> None:
    named = history(repo, run)
    store = tmp_path / "store"
    run(repo, "remote", "add", "store", str(store), "--default")
    git(repo, "commit", "-qm", "remote", "--no-verify")
    run(repo, "push", "--all")
    assert objects_in(store) == named


def test_gc_keeps_what_every_version_names_and_only_that(repo: Path, run) -> None:
    named = history(repo, run)
    stray = write(repo / "stray.bin", b"never committed\n")
    run(repo, "track", "stray.bin")
    run(repo, "untrack", "stray.bin")
    stray.unlink()
    out = json.loads(run(repo, "gc", "--grace", "0", "--json").stdout)
    assert [d["oid"] for d in out["deleted"]] == [oid(b"never committed\n")]
    assert {p.name for p in cache_objects().rglob("*") if p.is_file()} == named


def test_gc_keeps_an_object_only_a_hand_written_version_names(repo: Path, run) -> None:
    """A version whose oid is spelled with a YAML escape (or continued after a
    backslash) is read in full: its object is kept, though no line has its oid."""
    run(repo, "init")
    kept = []
    for spelling in ("escape", "continued"):
        data = f"only the {spelling} version names this\n".encode()
        write(repo / "data/a.bin", data)
        write(repo / "data/b.bin", b"b\n")
        run(repo, "track", "data")
        manifest = repo / "data.gitstore"
        text = manifest.read_text()
        sha = oid(data)
        spelt = (
            f'"\\x{ord(sha[0]):02x}{sha[1:]}"'
            if spelling == "escape"
            else f'"{sha[:20]}\\\n    {sha[20:]}"'
        )
        edited = text.replace(f"blake3: {sha}", f"blake3: {spelt}")
        assert edited != text and re.search(f"(?<![0-9a-f]){sha}", edited) is None
        manifest.write_text(edited)
        git(repo, "add", "data.gitstore")
        git(repo, "commit", "-qm", f"by hand: {spelling}", "--no-verify")
        kept.append(sha)
        write(repo / "data/a.bin", b"later\n")
        run(repo, "track", "data")
        git(repo, "commit", "-qm", "later")
    out = json.loads(run(repo, "gc", "--grace", "0", "--json").stdout)
    assert out["deleted"] == []
    on_disk = {p.name for p in cache_objects().rglob("*") if p.is_file()}
    assert set(kept) <= on_disk


def test_gc_remote_keeps_what_every_version_names(repo: Path, run, tmp_path: Path) -> None:
    named = history(repo, run)
    store = tmp_path / "store"
    run(repo, "remote", "add", "store", str(store), "--default")
    git(repo, "commit", "-qm", "remote", "--no-verify")
    run(repo, "push", "--all")
    stray = oid(b"pushed, then forgotten\n")
    write(repo / "stray.bin", b"pushed, then forgotten\n")
    run(repo, "track", "stray.bin")
    run(repo, "push")
    run(repo, "untrack", "stray.bin")
    run(repo, "gc", "--remote", "store", "--grace", "0", "--dry-run")
    out = json.loads(run(repo, "gc", "--remote", "store", "--grace", "0", "--yes", "--json").stdout)
    assert [d["oid"] for d in out["deleted"]] == [stray]
    assert objects_in(store) == named
