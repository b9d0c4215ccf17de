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


def pushed_history(repo: Path, run, store: Path) -> set[str]:
    """:func:`history`, then ``push --all`` to the folder remote ``store``."""
    named = history(repo, run)
    run(repo, "remote", "add", "store", str(store), "--default")
    git(repo, "commit", "-qm", "remote", "--no-verify")
    run(repo, "push", "--all")
    return named


def test_push_all_sends_what_every_version_names(repo: Path, run, tmp_path: Path) -> None:
    named = pushed_history(repo, run, tmp_path / "store")
    assert objects_in(tmp_path / "store") == named


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
    store = tmp_path / "store"
    named = pushed_history(repo, run, store)
    stray = oid(b"pushed, then forgotten\n")
    write(repo / "stray.bin", b"pushed, then forgotten\n")
    run(repo, "track", "stray.bin")
    run(repo, "push")
    run(repo, "untrack", "stray.bin")
    run(repo, "gc", "--remote", "store", "--grace", "0", "--dry-run")
    out = json.loads(run(repo, "gc", "--remote", "store", "--grace", "0", "--yes", "--json").stdout)
    assert [d["oid"] for d in out["deleted"]] == [stray]
    assert objects_in(store) == named


def test_a_replaced_manifest_blob_is_read_as_committed(
    repo: Path, run, tmp_path: Path, monkeypatch
) -> None:
    """QA pass 9: `git cat-file --batch` follows `git replace`, which clones do not get:
    gc deleted, and push left out, the objects of the version replaced."""
    run(repo, "init")
    store = tmp_path / "store"
    run(repo, "remote", "add", "store", str(store), "--default")
    git(repo, "commit", "-qm", "remote")
    named = set()
    for i in range(10):  # enough versions to be read through one git process
        named.add(oid(write(repo / "f", f"v{i}\n").read_bytes()))
        run(repo, "track", "f")
        git(repo, "commit", "-qm", f"v{i}", "--no-verify")
    first = git(repo, "rev-parse", "HEAD~9:f.gitstore").stdout.strip()
    second = git(repo, "rev-parse", "HEAD~8:f.gitstore").stdout.strip()
    git(repo, "replace", first, second)
    run(repo, "push", "--all")
    assert objects_in(store) == named
    (tmp_path / "elsewhere").mkdir()  # gc reads objects as dulwich does: not from here
    monkeypatch.setenv("GIT_OBJECT_DIRECTORY", str(tmp_path / "elsewhere"))
    out = json.loads(run(repo, "gc", "--grace", "0", "--dry-run", "--json").stdout)
    assert out["deleted"] == []


def test_log_of_a_path_spelled_or_ordered_by_hand(repo: Path, run) -> None:
    """QA pass 9: log PATH read a path's own lines: a path quoted where it need not be
    read as removed, and a line appended out of order was missed. Valid manifests both."""
    run(repo, "init")
    write(repo / "d/x", b"one\n")
    write(repo / "d/a/p", b"3\n")
    write(repo / "d/b", b"4\n")
    run(repo, "track", "d")
    git(repo, "commit", "-qm", "c1")
    manifest = repo / "d.gitstore"
    text = manifest.read_text()
    manifest.write_text(text.replace("- {path: x, ", '- {path: "x", '))
    git(repo, "commit", "-qam", "quoted")
    lines = manifest.read_text().splitlines(keepends=True)
    entry = next(line for line in lines if line.startswith("- {path: a/p,"))
    added = entry.replace("a/p", "a/q").replace("size: 2", "size: 2")
    kept = [line for line in lines if line is not entry] + [entry]  # out of order, valid
    body = "".join(kept).replace("files: 3", "files: 4")
    size = int(re.search(r"size: (\d+)", body).group(1))
    body = body.replace(f"size: {size}\n", f"size: {size + 2}\n", 1) + added
    manifest.write_text(body)
    git(repo, "commit", "-qam", "appended")
    x_log = [e["message"] for e in json.loads(run(repo, "log", "d/x", "--json").stdout)]
    assert x_log == ["c1"]
    a_log = json.loads(run(repo, "log", "d/a", "--json").stdout)
    assert [e["message"] for e in a_log] == ["appended", "c1"] and a_log[0]["size"] == 4
