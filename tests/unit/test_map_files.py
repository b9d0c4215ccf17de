"""map_files: few small files on the calling thread, many split over two threads, big ones on threads."""

from __future__ import annotations

import os
import threading

import pytest

from gitstore.workspace import BIG_FILE, SPLIT_SMALL, map_files


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


@pytest.mark.skipif(
    (os.cpu_count() or 1) < 2, reason="one CPU: everything stays on the calling thread"
)
def test_many_small_files_are_split_over_two_threads_in_order() -> None:
    n = SPLIT_SMALL * 2 + 1
    where: dict[int, str] = {}

    def fn(i: int) -> int:
        where[i] = threading.current_thread().name
        return i + 1

    assert map_files(fn, list(range(n)), [4096] * n, jobs=8) == [i + 1 for i in range(n)]
    main = threading.current_thread().name
    # the first half on the calling thread, the second on exactly one other thread
    assert {where[i] for i in range(n // 2)} == {main}
    assert len({where[i] for i in range(n // 2, n)} - {main}) == 1
    # one job means no thread at all
    where.clear()
    assert map_files(fn, list(range(n)), [4096] * n, jobs=1) == [i + 1 for i in range(n)]
    assert set(where.values()) == {main}
