"""Checkout into an empty folder: hard links, missing objects found by the write itself."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from gitstore.cache import Cache
from gitstore.hashing import hash_bytes
from tests.conftest import git, write


def _object(oid: str) -> Path:
    root = Path(os.environ["XDG_CACHE_HOME"]) / "gitstore"
    return root / "objects" / oid[:2] / oid[2:4] / oid


def _tree(repo: Path) -> None:
    for i in range(80):  # enough for the thread pool
        write(repo / "d" / f"s{i % 4}" / f"f{i}", b"file %d\n" % i)
    write(repo / "d" / "lonely" / "only", b"the only file of its folder\n")
    write(repo / "d" / "tool", b"#!/bin/sh\n", 0o755)


def test_missing_object_is_reported_and_the_rest_written(repo: Path, run) -> None:
    _tree(repo)
    run(repo, "track", "d")
    git(repo, "commit", "-qm", "d")
    shutil.rmtree(repo / "d")
    gone = hash_bytes(b"the only file of its folder\n")
    _object(gone).unlink()
    proc = run(repo, "checkout", "--link", "hardlink", ok=False)
    assert proc.returncode == 3, proc.stderr
    assert gone in proc.stderr
    assert (repo / "d" / "s1" / "f5").read_bytes() == b"file 5\n"
    assert (repo / "d" / "s1" / "f5").stat().st_nlink == 2
    # the folder made only for the missing file is not left behind, empty
    assert not (repo / "d" / "lonely").exists()
    status = json.loads(run(repo, "status", "--json").stdout)
    assert status[0]["state"] == "modified"
    assert status[0]["removed"] == ["d/lonely/only"]


def test_hardlink_checkout_then_track_is_a_noop(repo: Path, run) -> None:
    _tree(repo)
    run(repo, "track", "d")
    git(repo, "commit", "-qm", "d")
    before = (repo / "d.gitstore").read_bytes()
    shutil.rmtree(repo / "d")
    run(repo, "checkout", "--link", "hardlink")
    assert (repo / "d" / "s0" / "f0").stat().st_nlink == 2
    tool = repo / "d" / "tool"
    assert tool.stat().st_nlink == 1 and os.access(tool, os.X_OK)  # exec bit: a copy
    assert not os.access(_object(hash_bytes(b"#!/bin/sh\n")), os.X_OK)
    run(repo, "track", "d")
    assert (repo / "d.gitstore").read_bytes() == before
    assert "unchanged" in run(repo, "status").stdout


def test_objects_checked_out_are_not_vouched_for_after_gc(repo: Path, run) -> None:
    """checkout records objects as seen; a gc afterwards makes track look again."""
    _tree(repo)
    run(repo, "track", "d")
    git(repo, "commit", "-qm", "d")
    shutil.rmtree(repo / "d")
    run(repo, "checkout", "--link", "copy")
    for path in (repo / "d").rglob("*"):  # old files: the stat cache answers for them
        if path.is_file():
            st = path.stat()
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - 100 * 10**9))
    run(repo, "status")
    oid = hash_bytes(b"file 7\n")
    before = Cache(_object(oid).parents[3]).generation()
    # as gc would: a new generation, then the deletion
    Cache(_object(oid).parents[3]).new_generation()
    assert Cache(_object(oid).parents[3]).generation() != before
    os.chmod(_object(oid).parent, 0o755)
    _object(oid).unlink()
    run(repo, "track", "d")
    assert _object(oid).exists()
