"""map_files: small files on the calling thread, big ones on threads, results in order."""

from __future__ import annotations

import threading

import pytest

from gitstore.workspace import BIG_FILE, map_files


def test_results_keep_the_order_and_small_files_stay_on_the_calling_thread() -> None:
    sizes = [10, BIG_FILE, 5, BIG_FILE * 3, 0, BIG_FILE + 1, 7]
    where: dict[int, str] = {}

    def fn(i: int) -> int:
        where[i] = threading.current_thread().name
        return i * 2

    assert map_files(fn, list(range(len(sizes))), sizes, jobs=8) == [i * 2 for i in range(7)]
    main = threading.current_thread().name
    assert all(where[i] == main for i, size in enumerate(sizes) if size < BIG_FILE)
    assert all(where[i] != main for i, size in enumerate(sizes) if size >= BIG_FILE)


def test_serial_with_one_job_or_one_big_file() -> None:
    main = threading.current_thread().name
    seen: set[str] = set()

    def fn(i: int) -> int:
        seen.add(threading.current_thread().name)
        return i

    assert map_files(fn, [0, 1, 2], [BIG_FILE] * 3, jobs=1) == [0, 1, 2]
    assert map_files(fn, [0, 1], [BIG_FILE, 1], jobs=8) == [0, 1]
    assert seen == {main}


def test_an_error_on_a_thread_or_the_calling_thread_propagates() -> None:
    def fail_big(i: int) -> int:
        if i == 1:
            raise OSError("disk full")
        return i

    with pytest.raises(OSError, match="disk full"):
        map_files(fail_big, [0, 1, 2], [1, BIG_FILE, BIG_FILE], jobs=4)
    with pytest.raises(OSError, match="disk full"):
        map_files(fail_big, [0, 1, 2], [BIG_FILE, 1, BIG_FILE], jobs=4)
