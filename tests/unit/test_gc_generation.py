"""gc changes the cache's generation before deleting: track then re-checks every object."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitstore.cache import Cache
from gitstore.hashing import hash_bytes
from tests.conftest import git, unprivileged, write


def _age_tree(folder: Path, seconds: int = 100) -> None:
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(dirpath, name)
            st = path.stat()
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - seconds * 10**9))


def _cache() -> Path:
    return Path(os.environ["XDG_CACHE_HOME"]) / "gitstore"


def _object(oid: str) -> Path:
    return _cache() / "objects" / oid[:2] / oid[2:4] / oid


def test_gc_between_two_tracks_makes_track_recheck_objects(repo: Path, run) -> None:
    write(repo / "d" / "a", b"kept bytes")
    write(repo / "d" / "b", b"other bytes")
    _age_tree(repo / "d")  # old files: the stat cache answers for them next time
    run(repo, "track", "d")
    run(repo, "track", "d")  # the stat cache now vouches for both, objects seen
    oid = hash_bytes(b"kept bytes")
    assert _object(oid).exists()
    # nothing needs the objects any more (the manifest was never committed)
    git(repo, "rm", "-q", "--cached", "d.gitstore")
    (repo / "d.gitstore").unlink()
    before = Cache(_cache()).generation()
    out = json.loads(run(repo, "gc", "--grace", "0", "--json").stdout)
    assert oid in [d["oid"] for d in out["deleted"]]
    assert not _object(oid).exists()
    assert Cache(_cache()).generation() != before
    # the files did not change: the stat cache still knows their oids, but
    # track must see that the objects are gone and put them back
    run(repo, "track", "d")
    assert _object(oid).exists()
    assert _object(hash_bytes(b"other bytes")).exists()
    assert oid in (repo / "d.gitstore").read_text()
    assert "checked 2 objects" in run(repo, "verify", "--complete").stdout


def test_gc_that_deletes_nothing_keeps_the_generation(repo: Path, run) -> None:
    write(repo / "a.bin", b"a")
    run(repo, "track", "a.bin")
    before = Cache(_cache()).generation()
    assert before is not None
    run(repo, "gc", "--grace", "0")  # a.bin's object is needed: nothing deleted
    assert Cache(_cache()).generation() == before
    run(repo, "gc", "--grace", "0", "--dry-run")
    assert Cache(_cache()).generation() == before


def test_generation_changes_when_the_objects_folder_is_removed(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    first = cache.generation()
    assert first is not None and first == cache.generation()
    # replaced while the old folder still exists: the new one has another inode
    os.rename(tmp_path / "cache" / "objects", tmp_path / "old-objects")
    os.mkdir(tmp_path / "cache" / "objects")
    assert cache.generation() not in (first, None)
    cache.new_generation()
    assert cache.generation() not in (first, None)


def test_read_only_cache_has_no_generation(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    root.mkdir()
    root.chmod(0o555)
    try:
        prefix = unprivileged()
        if prefix is None:
            pytest.skip("permissions do not apply to root")
        # in a process of its own: as root, one without the capabilities that
        # override permissions (tests.conftest.unprivileged)
        probe = (
            "import sys; from gitstore.cache import Cache; print(Cache(sys.argv[1]).generation())"
        )
        out = subprocess.run(
            [*prefix, sys.executable, "-c", probe, str(root)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert out == "None\n"
        assert not (root / "objects").exists()
    finally:
        root.chmod(0o755)
