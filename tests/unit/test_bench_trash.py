"""benchmarks/trash.py: outputs leave their place at once and are deleted later."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def trash(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(BENCH))
    module = importlib.import_module("trash")
    module = importlib.reload(module)  # module state is per test
    yield module
    sys.modules.pop("trash", None)


def _read_only_tree(root: Path) -> None:
    (root / "objects" / "ab").mkdir(parents=True)
    obj = root / "objects" / "ab" / "obj"
    obj.write_bytes(b"x")
    obj.chmod(0o444)
    (root / "objects" / "ab").chmod(0o555)


def test_discard_moves_aside_and_empty_deletes(trash, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    trash.configure(tmp_path / "trash")
    cache = tmp_path / "cache"
    _read_only_tree(cache)
    (tmp_path / "file").write_bytes(b"y")
    trash.discard(cache)
    trash.discard(tmp_path / "file")
    trash.discard(tmp_path / "absent")
    assert not cache.exists() and not (tmp_path / "file").exists()
    assert len(list((tmp_path / "trash").iterdir())) == 1  # the folder; the file is gone
    trash.empty(settle=False)
    assert list((tmp_path / "trash").iterdir()) == []


def test_without_a_trash_folder_discard_deletes_in_place(trash, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cache = tmp_path / "cache"
    _read_only_tree(cache)
    trash.discard(cache)
    assert not cache.exists()
    trash.empty()  # nothing to do, no wait


def test_delete_now_removes_at_once_and_bypasses_the_trash(trash, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    trash.configure(tmp_path / "trash")
    cache = tmp_path / "cache"
    _read_only_tree(cache)  # read-only objects, as a gitstore cache holds
    (tmp_path / "big.bin").write_bytes(b"z")
    trash.delete_now(cache)
    trash.delete_now(tmp_path / "big.bin")
    trash.delete_now(tmp_path / "absent")
    assert not cache.exists() and not (tmp_path / "big.bin").exists()
    assert list((tmp_path / "trash").iterdir()) == []  # nothing left for a later empty()
    kept, gone = tmp_path / "kept", tmp_path / "gone"
    _read_only_tree(kept)
    _read_only_tree(gone)
    trash.clear(kept, now=False)  # many small files: moved to the trash
    trash.clear(gone, now=True)  # a few large ones: deleted at once
    assert not kept.exists() and not gone.exists()
    assert len(list((tmp_path / "trash").iterdir())) == 1
