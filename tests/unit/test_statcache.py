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


def test_a_whole_second_mtime_is_racy_for_its_whole_second(tmp_path: Path) -> None:
    """Twentieth QA pass: a tracked folder on a filesystem that keeps whole seconds (a
    USB disk or NAS mounted in the repository), the stat cache on one that keeps
    nanoseconds: a file stamped S.000 looked older than a stat cache written at S.156,
    and a same-size edit later in second S (size, mtime, ctime and inode all unchanged
    there) was never seen: status said unchanged and a checkout overwrote the edit."""
    f = tmp_path / "a"
    f.write_bytes(b"one")
    second = (os.lstat(f).st_mtime_ns // 10**9 - 5) * 10**9

    def trusted(stamp: int, written: int) -> bool:
        os.utime(f, ns=(stamp, stamp))  # as such a filesystem stamps it
        st = os.lstat(f)
        path = tmp_path / f"statcache-{stamp}-{written}"
        sc = StatCache(path)
        sc.record("a", st, hash_bytes(b"one"))
        sc.save()  # the first save writes the main file, whose mtime is the threshold
        os.utime(path, ns=(written, written))
        return StatCache(path).lookup("a", st) == hash_bytes(b"one")

    assert not trusted(second, second + 156_000_000)
    assert not trusted(second, second + 1_900_000_000)
    assert trusted(second, second + 2_100_000_000)
    # a stamp in whole 10 ms (exFAT) is racy for its 10 ms
    assert not trusted(second + 30_000_000, second + 35_000_000)
    assert trusted(second + 30_000_000, second + 41_000_000)
    assert trusted(second + 30_000_001, second + 30_000_002)  # a fine one as read


def test_the_clean_record_keeps_no_signature_of_files_stamped_in_whole_seconds_lately(
    tmp_path: Path,
) -> None:
    """The same on a repository wholly on such a filesystem: pre-commit's clean record took
    files stamped S.000 for older than its scan at S.7 by its 50 ms, and vouched for a
    same-size edit made later in S (status said unchanged, git commit recorded nothing)."""
    import time

    from gitstore.cleanrecord import CleanRecord, signature_of_stats

    f = tmp_path / "a"
    f.write_bytes(b"one")
    record = CleanRecord(tmp_path / "precommit-clean", {})
    now = time.time_ns()
    second = now // 10**9 * 10**9
    os.utime(f, ns=(second, second))
    st = os.lstat(f)
    sig = signature_of_stats(b"manifest", ["a"], [st])
    record.started_ns = max(now, second + 700_000_000)
    record.save({"a.gitstore": sig})
    assert record.entries == {}  # not vouched for: written in the scan's own second
    record.started_ns = second + 2_200_000_000
    record.save({"a.gitstore": sig})
    assert record.entries == {"a.gitstore": sig}
