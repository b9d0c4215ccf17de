"""workspace.walk against a folder that changes while it is read (tenth QA pass)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from gitstore.workspace import walk


class _Vanishing:
    """A directory entry whose file is removed between the folder's read and its lstat,
    as an editor's swap file or a job's temporary file is (the operating system's race,
    reproduced here deterministically)."""

    def __init__(self, entry: os.DirEntry[str], folder: Path) -> None:
        self._entry = entry
        self._folder = folder

    def __getattr__(self, name: str) -> Any:
        return getattr(self._entry, name)

    def stat(self, *, follow_symlinks: bool = True) -> os.stat_result:
        os.unlink(self._folder / self._entry.name)
        return self._entry.stat(follow_symlinks=follow_symlinks)


def test_a_file_removed_while_the_folder_is_walked_is_not_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It raised a bare FileNotFoundError ("No such file or directory: tmp3.new"), which
    made track, status, checkout and every commit's pre-commit hook fail."""
    folder = tmp_path / "d"
    folder.mkdir()
    for name in ("a", "tmp3.new", "z"):
        (folder / name).write_bytes(b"x")
    os.symlink("a", folder / "link.new")
    real = os.scandir

    class _Listing:
        def __init__(self, fd: int) -> None:
            self._it = real(fd)

        def __enter__(self) -> _Listing:
            return self

        def __exit__(self, *exc: object) -> None:
            self._it.close()

        def __iter__(self) -> Any:
            for entry in self._it:
                yield _Vanishing(entry, folder) if entry.name.endswith(".new") else entry

    monkeypatch.setattr(os, "scandir", _Listing)
    for strict in (False, True):
        for name in ("tmp3.new",):
            (folder / name).write_bytes(b"x")
        if not (folder / "link.new").is_symlink():
            os.symlink("a", folder / "link.new")
        walked = walk(str(folder), strict=strict, display="d")
        assert sorted(walked.rels) == ["a", "z"]
