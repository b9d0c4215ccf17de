"""Folders made inside a store follow the store's own folder when a group shares it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from gitstore.cache import Cache
from gitstore.stores import sharing
from gitstore.stores.local import LocalStore


def test_the_mode_of_new_folders_follows_a_shared_root() -> None:
    assert sharing.shared_bits(stat.S_IFDIR | 0o755) == 0
    assert sharing.shared_bits(stat.S_IFDIR | 0o700) == 0
    assert sharing.shared_bits(stat.S_IFDIR | 0o2775) == 0o2775
    assert sharing.shared_bits(stat.S_IFDIR | 0o2770) == 0o2770
    # setgid always, as git's core.sharedRepository: what is made inside keeps the group
    assert sharing.shared_bits(stat.S_IFDIR | 0o775) == 0o2775
    # a world-writable root like /tmp: not its sticky bit, which would stop
    # gc (any user's) from deleting another user's objects
    assert sharing.shared_bits(stat.S_IFDIR | 0o1777) == 0o2777
    assert sharing.file_mode(0o2775, 0o600) == 0o644
    assert sharing.file_mode(0o2770, 0o400) == 0o440
    assert sharing.file_mode(0, 0o600) == 0o600


def test_make_dirs_gives_every_folder_it_makes_the_bits(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        sharing.make_dirs(tmp_path / "a" / "b" / "c", 0o2775)
        sharing.make_dirs(tmp_path / "a" / "b" / "c", 0o2775)  # there already: fine
        sharing.make_dirs(tmp_path / "plain" / "x", 0)
    finally:
        os.umask(old)
    for rel in ("a", "a/b", "a/b/c"):
        assert stat.S_IMODE((tmp_path / rel).stat().st_mode) == 0o2775, rel
    assert stat.S_IMODE((tmp_path / "plain" / "x").stat().st_mode) == 0o700


def test_the_umask_is_read_without_being_changed() -> None:
    old = os.umask(0o027)
    try:
        assert sharing.umask() == 0o027
        assert sharing.umask() == 0o027
    finally:
        os.umask(old)


def _folder(path: Path, mode: int) -> Path:
    path.mkdir()
    os.chmod(path, mode)
    return path


def _ingest_under_umask_077(root: Path, tmp_path: Path, data: bytes) -> tuple[Cache, str]:
    source = tmp_path / "f.bin"
    source.write_bytes(data)
    old = os.umask(0o077)
    try:
        cache = Cache(root)
        return cache, cache.ingest(source)[0]
    finally:
        os.umask(old)


def test_a_shared_cache_and_folder_store_make_group_folders_and_readable_files(
    tmp_path: Path,
) -> None:
    """What each user's writes leave (the two-user tests run as root only:
    tests/integration/test_shared_folders.py)."""
    cache, oid = _ingest_under_umask_077(_folder(tmp_path / "cache", 0o2770), tmp_path, b"shared")
    root = cache.root
    remote = _folder(tmp_path / "nas", 0o2775)
    old = os.umask(0o077)
    try:
        store = LocalStore(remote, remote=True)
        store.put(oid, cache.path(oid))
        store.put_document("users/someone.yaml", b"x: 1\n")
    finally:
        os.umask(old)
    for folder in (root / "objects" / oid[:2], root / "objects" / oid[:2] / oid[2:4]):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o2770, folder
    assert stat.S_IMODE(cache.path(oid).stat().st_mode) == 0o440
    for folder in (remote / "objects" / oid[:2] / oid[2:4], remote / "tmp", remote / "users"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o2775, folder
    assert stat.S_IMODE(store.object_path(oid).stat().st_mode) == 0o444
    assert stat.S_IMODE((remote / "users" / "someone.yaml").stat().st_mode) == 0o644


def test_a_store_nobody_shares_is_left_to_the_umask(tmp_path: Path) -> None:
    cache, oid = _ingest_under_umask_077(_folder(tmp_path / "cache", 0o755), tmp_path, b"mine")
    assert stat.S_IMODE((cache.root / "objects" / oid[:2]).stat().st_mode) == 0o700
    assert stat.S_IMODE(cache.path(oid).stat().st_mode) == 0o400
