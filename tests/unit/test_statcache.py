"""The stat cache answers "what is the oid of this file" without reading it, safely."""

from __future__ import annotations

import os
from pathlib import Path

from gitstore.hashing import hash_bytes
from gitstore.statcache import StatCache


def _age(path: Path, seconds: int) -> None:
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - seconds * 10**9))


def test_unchanged_file_is_answered_from_the_cache(tmp_path: Path) -> None:
    f = tmp_path / "a"
    f.write_bytes(b"one")
    _age(f, 10)
    sc = StatCache(tmp_path / "statcache")
    assert sc.oid_of("a", f) == hash_bytes(b"one")
    sc.save()
    again = StatCache(tmp_path / "statcache")
    assert again.lookup("a", os.lstat(f)) == hash_bytes(b"one")


def test_changed_size_or_mtime_is_hashed_again(tmp_path: Path) -> None:
    f = tmp_path / "a"
    f.write_bytes(b"one")
    _age(f, 10)
    sc = StatCache(tmp_path / "statcache")
    sc.oid_of("a", f)
    sc.save()
    f.write_bytes(b"two!")
    again = StatCache(tmp_path / "statcache")
    assert again.lookup("a", os.lstat(f)) is None
    assert again.oid_of("a", f) == hash_bytes(b"two!")


def test_racy_entry_is_not_trusted(tmp_path: Path) -> None:
    """A file whose mtime is not older than the stat cache's write may have changed unseen."""
    f = tmp_path / "a"
    f.write_bytes(b"one")
    sc = StatCache(tmp_path / "statcache")
    sc.oid_of("a", f)
    sc.save()
    # same size, same mtime as recorded, but not older than the cache file: racy
    st = os.lstat(f)
    os.utime(tmp_path / "statcache", ns=(st.st_mtime_ns, st.st_mtime_ns))
    again = StatCache(tmp_path / "statcache")
    assert again.lookup("a", st) is None
    # once re-recorded and saved later, the entry is trusted again
    again.record("a", st, hash_bytes(b"one"))
    assert again.dirty
    again.save()
    os.utime(tmp_path / "statcache", ns=(st.st_mtime_ns + 10**9, st.st_mtime_ns + 10**9))
    assert StatCache(tmp_path / "statcache").lookup("a", st) == hash_bytes(b"one")


def test_corrupt_file_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "statcache").write_bytes(b"\x00garbage")
    sc = StatCache(tmp_path / "statcache")
    assert sc.entries == {}
