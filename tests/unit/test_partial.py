"""The journal of a resumable download (gitstore/partial.py): what it may be believed about."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gitstore import partial


def _journal(tmp_path: Path, size: int, text: str | None) -> partial.Journal:
    data = tmp_path / "partial-x"
    data.write_bytes(b"\0" * size)
    if text is not None:
        Path(f"{data}{partial.SUFFIX}").write_text(text)
    fd = os.open(data, os.O_RDWR)
    return partial.Journal(f"{data}{partial.SUFFIX}", fd)


def test_positions_are_the_furthest_each_range_got(tmp_path: Path) -> None:
    text = f"{partial.MAGIC} 300 100\n0 50\n0 100\n100 120\n200 200\n"
    journal = _journal(tmp_path, 300, text)
    try:
        assert journal.begin(300, 100) == {0: 100, 100: 120}
        assert journal.resumed == 120
    finally:
        journal.close()
        os.close(journal.fd)


def test_lines_that_cannot_be_true_are_ignored(tmp_path: Path) -> None:
    # a torn last line ("100 1"), a range that does not start on a step, one past the
    # end of its range, one past the object, garbage
    text = f"{partial.MAGIC} 300 100\n0 100\n50 80\n100 250\n300 310\nxx yy\n100 1"
    journal = _journal(tmp_path, 300, text)
    try:
        assert journal.begin(300, 100) == {0: 100}
    finally:
        journal.close()
        os.close(journal.fd)


def test_a_journal_for_another_object_shape_starts_over(tmp_path: Path) -> None:
    for header in (
        f"{partial.MAGIC} 301 100",  # another size: another object
        "gitstore-partial 2 300 100",  # a journal of a later gitstore
        f"{partial.MAGIC} 300 x",
        f"{partial.MAGIC} 300 0",
    ):
        journal = _journal(tmp_path, 300, f"{header}\n0 50\n")
        try:
            assert journal.begin(300, 100) == {}
            assert os.fstat(journal.fd).st_size == 0  # the file is emptied, not trusted
            assert Path(journal.path).read_text() == f"{partial.MAGIC} 300 100\n"
        finally:
            journal.close()
            os.close(journal.fd)


def test_a_partial_file_of_the_wrong_length_starts_over(tmp_path: Path) -> None:
    journal = _journal(tmp_path, 200, f"{partial.MAGIC} 300 100\n0 100\n")
    try:
        assert journal.begin(300, 100) == {}
    finally:
        journal.close()
        os.close(journal.fd)


def test_marks_are_read_back_and_a_second_begin_opens_no_second_file(tmp_path: Path) -> None:
    journal = _journal(tmp_path, 300, None)
    try:
        assert journal.begin(300, 100) == {}
        os.ftruncate(journal.fd, 300)
        journal.mark(0, 60)
        journal.mark(200, 300)
        before = len(os.listdir("/proc/self/fd"))
        assert journal.begin(300, 100) == {0: 60, 200: 300}  # a retry in the same command
        assert len(os.listdir("/proc/self/fd")) == before
        journal.restart(300, 100)
        assert journal.begin(300, 100) == {}
    finally:
        journal.close()
        os.close(journal.fd)


def test_a_journal_of_another_step_is_read_in_this_downloads_ranges(tmp_path: Path) -> None:
    """An S3 fetch (ranges of 100 here) killed, then a fetch from an HTTP or folder remote
    (one range, the whole object), and back: what was written is taken up each way."""
    text = f"{partial.MAGIC} 1000 100\n0 100\n100 200\n200 250\n400 500\n500 530\n"
    journal = _journal(tmp_path, 1000, text)
    try:
        # one range: only the bytes from 0 on, without a gap, count
        assert journal.begin(1000, 1000) == {0: 250}
        assert journal.resumed == 250
        assert os.fstat(journal.fd).st_size == 1000  # kept, not emptied
        assert Path(journal.path).read_text() == f"{partial.MAGIC} 1000 1000\n0 250\n"
        journal.mark(0, 700)
        # and back to ranges of 300: 0-300 whole, 300-600 whole, 600-700 begun
        assert journal.begin(1000, 300) == {0: 300, 300: 600, 600: 700}
        # ranges of 40 inside the old spans: those that start inside one
        journal.restart(1000, 100)
        os.ftruncate(journal.fd, 1000)
        journal.mark(0, 100)
        journal.mark(300, 330)
        assert journal.begin(1000, 40) == {0: 40, 40: 80, 80: 100, 320: 330}
    finally:
        journal.close()
        os.close(journal.fd)


def _new_fetch_at_rename(monkeypatch: pytest.MonkeyPatch, name: str, journals: list[str]) -> None:
    """Another fetch of the same object, starting the instant the partial file ``name``
    is renamed into place: it makes a partial file and a journal of its own there."""
    rename, replace = os.rename, os.replace

    def then_another(move: Callable[..., None]) -> Callable[..., None]:
        def moved(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
            move(src, dst, *args, **kwargs)
            if os.path.basename(os.fspath(src)) == name and not journals:
                fd = partial.open_locked(os.fspath(src))
                assert fd is not None
                journal = f"{os.fspath(src)}{partial.SUFFIX}"
                Path(journal).write_text(f"{partial.MAGIC} 10 10\n")
                journals.append(journal)
                os.close(fd)

        return moved

    monkeypatch.setattr(os, "rename", then_another(rename))
    monkeypatch.setattr(os, "replace", then_another(replace))


def test_a_fetch_that_begins_as_another_installs_keeps_its_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The finishing download removed the journal after renaming its file into place,
    and with it the journal a new fetch of the same object had just begun there."""
    from gitstore.cache import Cache
    from gitstore.hashing import hash_bytes
    from gitstore.stores.local import LocalStore

    data = os.urandom(3 << 20)
    oid = hash_bytes(data)
    (tmp_path / "src").write_bytes(data)
    remote = LocalStore(tmp_path / "nas")
    remote.put(oid, tmp_path / "src")
    remote.resume_min = 1 << 20  # type: ignore[misc]
    cache = Cache(tmp_path / "cache")
    journals: list[str] = []
    _new_fetch_at_rename(monkeypatch, f"{partial.PREFIX}{oid}", journals)
    cache.receive_resumable(oid, lambda fd, resume: remote.read_into(oid, fd, resume)[0])
    assert cache.path(oid).read_bytes() == data
    assert journals and os.path.exists(journals[0])

    # the same for a push to a folder remote
    other = os.urandom(3 << 20)
    other_oid = hash_bytes(other)
    (tmp_path / "src").write_bytes(other)
    journals.clear()
    _new_fetch_at_rename(monkeypatch, f"{partial.PREFIX}{other_oid}", journals)
    remote.put(other_oid, tmp_path / "src")
    assert remote.object_path(other_oid).read_bytes() == other
    assert journals and os.path.exists(journals[0])
