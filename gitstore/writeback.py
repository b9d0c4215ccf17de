"""Start writing a file's dirty pages to disk now, without waiting for it.

The first half of git's ``core.fsync=batch`` mode on Linux: each new file gets
``sync_file_range(SYNC_FILE_RANGE_WRITE)`` as soon as it is written, so the
disk works while the transfer goes on, and the one ``syncfs`` that DESIGN.md
requires before a manifest names the objects finds little left to do. It
only starts the writeback; durability still comes from that sync. Where the
call does not exist (not Linux, no libc), this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable

SYNC_FILE_RANGE_WRITE = 2
MIN_BYTES = 1 << 20  # smaller files are left to the batch sync: a call each costs more

_call: Callable[[int, int, int, int], int] | None = None
_loaded = False


def _load() -> Callable[[int, int, int, int], int] | None:
    global _call, _loaded
    if not _loaded:
        _loaded = True
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            fn = libc.sync_file_range
            fn.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
            fn.restype = ctypes.c_int
            _call = fn
        except (OSError, AttributeError):
            _call = None
    return _call


def start(fd: int, size: int) -> None:
    """Begin the writeback of the ``size`` bytes just written to ``fd`` (a hint; never fails)."""
    if size < MIN_BYTES:
        return
    fn = _load()
    if fn is not None:
        fn(fd, 0, 0, SYNC_FILE_RANGE_WRITE)


def start_path(path: str, size: int) -> None:
    """:func:`start` for a file given by name."""
    if size < MIN_BYTES or _load() is None:
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        start(fd, size)
    finally:
        os.close(fd)
