"""A push of a big object to a folder remote (a NAS) that is killed resumes where it stopped.

Before, a folder remote's `put` copied into an anonymous temporary file: a
push killed at 90 % of a multi-GB model left that file for `gc --remote` and
copied everything again. Now objects of `LocalStore.resume_min` bytes or more
go through `tmp/partial-<oid>` and its journal, as downloads do.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from gitstore import layout, partial
from gitstore.errors import IntegrityError
from gitstore.hashing import hash_bytes
from gitstore.stores.local import LocalStore
from tests.conftest import git
from tests.integration.resume_helpers import killed, model_on_folder, resumed_mib
from tests.integration.test_remotes import Clone

Run = Callable[..., subprocess.CompletedProcess[str]]
MIB = 1 << 20


def _left(nas: Path) -> list[str]:
    tmp = nas / "tmp"
    return sorted(os.listdir(tmp)) if tmp.is_dir() else []


def test_a_killed_push_to_a_folder_remote_resumes(
    repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    a = Clone(repo, tmp_path / "cache-a", run, monkeypatch)
    nas = tmp_path / "nas"
    data, oid = model_on_folder(a, nas)

    killed(a, "kill-range:3", "push")
    assert _left(nas) == [f"{partial.PREFIX}{oid}", f"{partial.PREFIX}{oid}{partial.SUFFIX}"]
    assert not (nas / layout.object_key(oid)).exists()

    out = a.gs("push")
    assert resumed_mib(out.stderr, oid, done="uploaded") >= 24  # three records of 8 MiB
    assert (nas / layout.object_key(oid)).read_bytes() == data
    assert _left(nas) == []


def test_git_push_resumes_a_killed_push_to_a_folder_remote(
    repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    a = Clone(repo, tmp_path / "cache-a", run, monkeypatch)
    nas = tmp_path / "nas"
    data, oid = model_on_folder(a, nas)
    git(tmp_path, "init", "-q", "--bare", "origin.git")
    git(repo, "remote", "add", "origin", str(tmp_path / "origin.git"))

    killed(a, "kill-range:2", "push")
    env = {**os.environ, "XDG_CACHE_HOME": str(a.cache)}
    pushed = subprocess.run(["git", "push", "-q", "origin", "HEAD"], cwd=repo, env=env,
                            capture_output=True, text=True)  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    assert resumed_mib(pushed.stderr, oid, done="uploaded") >= 16
    assert (nas / layout.object_key(oid)).read_bytes() == data
    assert _left(nas) == []


def _store(tmp_path: Path, size: int) -> tuple[LocalStore, Path, bytes, str]:
    store = LocalStore(tmp_path / "nas")
    store.resume_min = 1 * MIB  # type: ignore[misc]
    data = os.urandom(size)
    src = tmp_path / "src"
    src.write_bytes(data)
    return store, src, data, hash_bytes(data)


def _plant(store: LocalStore, oid: str, head: bytes, size: int, vouched: int) -> Path:
    store.tmp_dir.mkdir(parents=True, exist_ok=True)
    part = store.tmp_dir / f"{partial.PREFIX}{oid}"
    part.write_bytes(head + b"\0" * (size - len(head)))
    Path(f"{part}{partial.SUFFIX}").write_text(f"{partial.MAGIC} {size} {size}\n0 {vouched}\n")
    return part


def test_a_partial_file_is_taken_up_and_one_that_lies_is_copied_again(tmp_path: Path) -> None:
    store, src, data, oid = _store(tmp_path, 3 * MIB)
    _plant(store, oid, data[: 2 * MIB], len(data), 2 * MIB)
    store.put(oid, src)
    assert store.object_path(oid).read_bytes() == data
    assert store.resumed_uploads == {oid: (2 * MIB, len(data))}
    assert _left(store.root) == []

    other = os.urandom(3 * MIB)
    other_oid = hash_bytes(other)
    src.write_bytes(other)
    _plant(store, other_oid, b"", len(other), 2 * MIB)  # vouches for 2 MiB of zeros
    store.put(other_oid, src)
    assert store.object_path(other_oid).read_bytes() == other
    assert other_oid not in store.resumed_uploads
    assert _left(store.root) == []


def test_a_damaged_source_leaves_nothing_in_the_remote(tmp_path: Path) -> None:
    store, src, data, oid = _store(tmp_path, 3 * MIB)
    src.write_bytes(
        bytes([data[0] ^ 0xFF]) + data[1:]
    )  # the cache's copy went bad (1 byte flipped)
    with pytest.raises(IntegrityError, match=str(src)):
        store.put(oid, src)
    assert not store.object_path(oid).exists()
    assert _left(store.root) == []


def test_a_partial_file_held_by_another_push_is_left_to_it(tmp_path: Path) -> None:
    store, src, data, oid = _store(tmp_path, 2 * MIB)
    part = _plant(store, oid, data[:MIB], len(data), MIB)
    held = partial.open_locked(str(part))
    assert held is not None
    try:
        store.put(oid, src)  # through a temporary file of its own
    finally:
        os.close(held)
    assert store.object_path(oid).read_bytes() == data
    assert part.exists()  # not ours: the other push finds its object there and is done
