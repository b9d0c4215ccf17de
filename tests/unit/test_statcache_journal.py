"""The stat cache's journal: a cheap save for a few changes, never a way to trust a racy entry."""

from __future__ import annotations

import os
import time
from pathlib import Path

from gitstore.hashing import hash_bytes
from gitstore.statcache import StatCache


def _aged(path: Path, data: bytes, seconds: int = 100) -> os.stat_result:
    path.write_bytes(data)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - seconds * 10**9))
    return os.lstat(path)


def _many(tmp_path: Path, n: int) -> StatCache:
    """A saved stat cache of ``n`` aged files f0..f(n-1) (a main file, no journal)."""
    sc = StatCache(tmp_path / "statcache")
    for i in range(n):
        f = tmp_path / f"f{i}"
        sc.record(f.name, _aged(f, b"%d" % i), hash_bytes(b"%d" % i))
    sc.save()
    return sc


def test_few_changes_are_appended_not_rewritten(tmp_path: Path) -> None:
    _many(tmp_path, 40)
    main = tmp_path / "statcache"
    before = os.stat(main)
    sc = StatCache(main)
    f = tmp_path / "f3"
    st = _aged(f, b"new three")
    sc.record("f3", st, hash_bytes(b"new three"))
    sc.forget("f4")
    sc.save()
    after = os.stat(main)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert (tmp_path / "statcache.journal").stat().st_size > 0
    again = StatCache(main)
    assert again.lookup("f3", st) == hash_bytes(b"new three")
    assert "f4" not in again.entries
    assert again.lookup("f5", os.lstat(tmp_path / "f5")) == hash_bytes(b"5")


def test_racy_entry_stays_untrusted_after_later_appends(tmp_path: Path) -> None:
    """An entry racy when appended is never made trusted by a later append."""
    _many(tmp_path, 40)
    main = tmp_path / "statcache"
    racy = tmp_path / "racy"
    racy.write_bytes(b"one")
    # modified "now" as the journal's clock sees it when the entry is appended
    # (a little ahead, so that the clock is sure to pass it before the next append)
    soon = time.time_ns() + 300_000_000
    os.utime(racy, ns=(soon, soon))
    st = os.lstat(racy)
    sc = StatCache(main)
    sc.record("racy", st, hash_bytes(b"one"))
    sc.save()
    assert StatCache(main).lookup("racy", st) is None
    while time.time_ns() < soon + 50_000_000:
        time.sleep(0.05)
    # a later append of another entry (the journal's mtime is now past the
    # file's), then another load: still untrusted
    later = StatCache(main)
    f = tmp_path / "f1"
    later.record("f1", _aged(f, b"other"), hash_bytes(b"other"))
    later.save()
    assert (tmp_path / "statcache.journal").exists()
    assert StatCache(main).lookup("racy", st) is None
    # and the in-process copy, which recorded it, does not trust it either
    assert sc.lookup("racy", st) is None


def test_racy_entry_from_the_main_file_is_not_trusted_after_a_rewrite(tmp_path: Path) -> None:
    """A rewrite of the main file (a later mtime) must not launder an untrusted entry."""
    f = tmp_path / "a"
    f.write_bytes(b"one")
    st = os.lstat(f)
    sc = StatCache(tmp_path / "statcache")
    sc.record("a", st, hash_bytes(b"one"))
    sc.save()
    os.utime(tmp_path / "statcache", ns=(st.st_mtime_ns, st.st_mtime_ns))  # racy
    loaded = StatCache(tmp_path / "statcache")
    assert loaded.lookup("a", st) is None
    loaded.use_generation("another cache")  # forces a full rewrite
    loaded.save()
    assert StatCache(tmp_path / "statcache").lookup("a", st) is None


def test_truncated_or_damaged_journal_is_ignored(tmp_path: Path) -> None:
    _many(tmp_path, 40)
    main = tmp_path / "statcache"
    journal = tmp_path / "statcache.journal"
    sc = StatCache(main)
    st1 = _aged(tmp_path / "f1", b"v1")
    sc.record("f1", st1, hash_bytes(b"v1"))
    sc.save()
    good = journal.read_bytes()
    sc = StatCache(main)
    st2 = _aged(tmp_path / "f2", b"v2")
    sc.record("f2", st2, hash_bytes(b"v2"))
    sc.save()
    full = journal.read_bytes()
    assert len(full) > len(good)
    for cut in (len(good) + 3, len(full) - 1):
        journal.write_bytes(full[:cut])
        loaded = StatCache(main)
        assert loaded.lookup("f1", st1) == hash_bytes(b"v1")  # the whole first record
        assert loaded.lookup("f2", st2) is None  # a torn second record: ignored
    damaged = bytearray(full)
    damaged[-5] ^= 0xFF
    journal.write_bytes(bytes(damaged))
    assert StatCache(main).lookup("f2", st2) is None
    journal.write_bytes(b"\x00" * 64)
    loaded = StatCache(main)
    assert loaded.lookup("f1", st1) is None  # nothing from the journal...
    # ...but the main file holds
    assert loaded.lookup("f5", os.lstat(tmp_path / "f5")) == hash_bytes(b"5")


def test_journal_of_an_older_main_file_is_ignored(tmp_path: Path) -> None:
    _many(tmp_path, 40)
    main = tmp_path / "statcache"
    sc = StatCache(main)
    st = _aged(tmp_path / "f1", b"v1")
    sc.record("f1", st, hash_bytes(b"v1"))
    sc.save()
    stale = (tmp_path / "statcache.journal").read_bytes()
    sc = StatCache(main)
    sc.use_generation("new")  # a full rewrite: a new main file, the journal removed
    sc.save()
    assert not (tmp_path / "statcache.journal").exists()
    (tmp_path / "statcache.journal").write_bytes(stale)  # as if a crash left it behind
    loaded = StatCache(main)
    assert loaded.lookup("f1", st) == hash_bytes(b"v1")  # the rewrite had it anyway
    assert loaded._token not in stale.decode("latin-1")


def test_many_changes_fold_the_journal_into_the_main_file(tmp_path: Path) -> None:
    _many(tmp_path, 40)
    main = tmp_path / "statcache"
    before = os.stat(main).st_ino
    sc = StatCache(main)
    for i in range(300):
        f = tmp_path / f"g{i}"
        sc.record(f.name, _aged(f, b"g%d" % i), hash_bytes(b"g%d" % i))
    sc.save()
    assert os.stat(main).st_ino != before
    assert not (tmp_path / "statcache.journal").exists()
    assert StatCache(main).lookup("g7", os.lstat(tmp_path / "g7")) == hash_bytes(b"g7")


def test_entries_popped_by_other_modules_are_saved(tmp_path: Path) -> None:
    _many(tmp_path, 40)
    main = tmp_path / "statcache"
    sc = StatCache(main)
    sc.entries.pop("f6", None)
    sc.dirty = True
    sc.save()
    assert "f6" not in StatCache(main).entries


def test_objects_seen_are_remembered_per_generation(tmp_path: Path) -> None:
    main = tmp_path / "statcache"
    sc = StatCache(main)
    sc.use_generation("g1")
    st = _aged(tmp_path / "a", b"a")
    sc.record("a", st, hash_bytes(b"a"), present=True)
    st_b = _aged(tmp_path / "b", b"b")
    sc.record("b", st_b, hash_bytes(b"b"))  # hashed (status), object not seen
    sc.save()
    loaded = StatCache(main)
    assert loaded.known_present("a", "g1")
    assert not loaded.known_present("b", "g1")
    assert not loaded.known_present("a", "g2")
    assert not loaded.known_present("a", None)
    loaded.mark_present("b")
    loaded.save()  # an append
    assert StatCache(main).known_present("b", "g1")
    # a new oid for a path is not seen until said so
    again = StatCache(main)
    st_a2 = _aged(tmp_path / "a", b"a2")
    again.record("a", st_a2, hash_bytes(b"a2"))
    again.save()
    assert not StatCache(main).known_present("a", "g1")
    # a new generation: nothing is known present any more
    other = StatCache(main)
    other.use_generation("g2")
    assert not other.known_present("b", "g2")
    other.save()
    assert not StatCache(main).known_present("b", "g2")


def test_record_many_follows_the_same_rules_as_record(tmp_path: Path) -> None:
    _many(tmp_path, 40)
    main = tmp_path / "statcache"
    one, many = StatCache(main), StatCache(main)
    for sc in (one, many):
        sc.use_generation("g")
    soon = time.time_ns() + 3600 * 10**9
    racy = tmp_path / "racy"
    racy.write_bytes(b"r")
    os.utime(racy, ns=(soon, soon))
    items = [
        ("f1", os.lstat(tmp_path / "f1"), hash_bytes(b"1")),  # unchanged, now seen
        ("f2", _aged(tmp_path / "f2", b"two"), hash_bytes(b"two")),  # changed
        ("new", _aged(tmp_path / "new", b"new"), hash_bytes(b"new")),
        ("racy", os.lstat(racy), hash_bytes(b"r")),
    ]
    for key, st, oid in items:
        one.record(key, st, oid, present=True)
    many.record_many(items, present=True)
    assert dict(one.entries) == dict(many.entries)
    assert one.unverified == many.unverified
    assert one._changed == many._changed and one.dirty and many.dirty
    many.save()
    loaded = StatCache(main)
    for key, st, oid in items[:3]:
        assert loaded.lookup(key, st) == oid and loaded.known_present(key, "g")
    assert loaded.lookup("racy", items[3][1]) is None
