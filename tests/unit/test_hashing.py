"""Reading a user's file for hashing: only a regular file, never through a symlink, never blocking.

track scans a folder, then opens each file; the third QA pass swapped a file
for a symlink to a file outside the repository (its bytes were stored) and
for a named pipe (track hung holding its locks) between the two.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from gitstore.errors import HashingError
from gitstore.hashing import hash_bytes, hash_file


def test_a_regular_file_is_hashed(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"bytes")
    assert hash_file(path) == (hash_bytes(b"bytes"), 5)


def test_a_symlink_is_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"secret")
    link = tmp_path / "f"
    link.symlink_to(outside)
    with pytest.raises(HashingError, match="became a symlink"):
        hash_file(link)


def test_a_named_pipe_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            hash_file(fifo)
        except BaseException as exc:  # the assertion below reports it
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(10)
    assert not reader.is_alive(), "hashing a named pipe blocked"
    assert len(outcome) == 1 and isinstance(outcome[0], HashingError)
    assert "no longer a regular file" in str(outcome[0])
