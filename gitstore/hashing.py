"""BLAKE3 of files and streams, and nothing else.

Files are read with ``read`` (never memory-mapped: a file truncated while it
is hashed must give an error, not a SIGBUS). Big files are fed to the
multithreaded hasher in large blocks; :func:`copy_and_hash` hashes while it
copies, so tracking reads each byte once. A file whose size or mtime changes
while it is read raises :class:`HashingError`.

Sparse files stay sparse, as ``cp --sparse=auto`` keeps them: a file with
fewer blocks than its size needs is copied with its all-zero blocks left
unwritten (holes). Every byte is still read and hashed: which blocks are
holes is decided by their content, never by the filesystem's map of holes
(``SEEK_HOLE``), which some filesystems have got wrong for freshly written
data.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO, Protocol

import blake3

from .errors import HashingError

SMALL = 1 << 20  # files below this are read in one call
BLOCK = 8 << 20  # read size for big files
THREADED_MIN = 32 << 20  # files above this use blake3's thread pool
WRITEBACK_EVERY = 64 << 20  # copy_and_hash starts the disk's writeback this often
HOLE = 4096  # the smallest all-zero piece a sparse copy leaves unwritten: a filesystem block
_ZERO_HOLE = bytes(HOLE)
_zero_block: bytes | None = (
    None  # BLOCK zeros, made on the first sparse copy (8 MiB: not at start-up)
)


class Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> object: ...
    def hexdigest(self) -> str: ...


def new_hasher(size_hint: int = 0) -> Hasher:
    """A BLAKE3 hasher; multithreaded for inputs of at least THREADED_MIN bytes."""
    if size_hint >= THREADED_MIN:
        return blake3.blake3(max_threads=blake3.blake3.AUTO)  # type: ignore[no-any-return]
    return blake3.blake3()  # type: ignore[no-any-return]


def hash_bytes(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()  # type: ignore[no-any-return]


def hash_stream(stream: BinaryIO, size_hint: int = 0) -> tuple[str, int]:
    """(oid, size) of everything ``stream`` yields."""
    hasher = new_hasher(size_hint)
    total = 0
    while True:
        block = stream.read(BLOCK)
        if not block:
            break
        hasher.update(block)
        total += len(block)
    return hasher.hexdigest(), total


def _check_unchanged(path: str | Path, before: os.stat_result, fd: int, read: int) -> None:
    after = os.fstat(fd)
    if (
        read != before.st_size
        or after.st_size != before.st_size
        or after.st_mtime_ns != before.st_mtime_ns
    ):
        raise HashingError(f"{path} changed while it was being hashed; run the command again")


_SOURCE_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_NOFOLLOW", 0)  # a file swapped for a symlink after the scan
    | getattr(os, "O_NONBLOCK", 0)  # ... or for a named pipe: never wait for a writer
)


def open_source(path: str | Path) -> tuple[int, os.stat_result]:
    """A read-only descriptor of a user's regular file and its fstat; HashingError naming it if not.

    Never follows a symlink and never blocks on a named pipe: a file that was
    regular when a folder was scanned may have been replaced since.
    """
    try:
        fd = os.open(path, _SOURCE_FLAGS)
    except FileNotFoundError as exc:
        raise HashingError(
            f"{path} vanished while it was being hashed; run the command again"
        ) from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise HashingError(
                f"{path} became a symlink while it was being read; run the command again"
            ) from None
        raise HashingError(f"cannot read {path}: {exc.strerror}") from exc
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise HashingError(
            f"{path} is no longer a regular file (it changed while being read); run the command again"
        )
    return fd, st


def read_small(path: str | Path, fd: int, st: os.stat_result) -> bytes:
    """The whole of a small file in one read; HashingError if it changed meanwhile."""
    data = os.read(fd, st.st_size + 1)
    _check_unchanged(path, st, fd, len(data))
    return data


def write_all(fd: int, data: bytes | memoryview) -> None:
    """``os.write`` until every byte is written (a write may be short)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def is_sparse(st: os.stat_result) -> bool:
    """Whether a file of at least SMALL bytes has fewer blocks than its size needs (holes)."""
    blocks = getattr(st, "st_blocks", None)
    return blocks is not None and st.st_size >= SMALL and blocks * 512 < st.st_size


def write_sparse(fd: int, buf: bytearray, n: int, offset: int) -> None:
    """Write ``buf[:n]`` at ``offset``, leaving each all-zero HOLE-sized piece unwritten.

    The file must be extended to its full size afterwards (``os.ftruncate``):
    a trailing hole, a last partial piece of zeros included, is never written.
    """
    global _zero_block
    if n == len(buf) == BLOCK:
        if _zero_block is None:
            _zero_block = bytes(BLOCK)
        if buf == _zero_block:
            return
    view = memoryview(buf)
    start = -1  # the first byte of the run of data being gathered
    for i in range(0, n, HOLE):
        piece = buf[i : i + HOLE] if i + HOLE <= n else buf[i:n]
        zero = piece == (_ZERO_HOLE if len(piece) == HOLE else bytes(len(piece)))
        if zero and start >= 0:
            _pwrite_all(fd, view[start:i], offset + start)
            start = -1
        elif not zero and start < 0:
            start = i
    if start >= 0:
        _pwrite_all(fd, view[start:n], offset + start)


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while data:
        n = os.pwrite(fd, data, offset)
        data, offset = data[n:], offset + n


def hash_file(path: str | Path) -> tuple[str, int]:
    """(oid, size) of the file at ``path``; HashingError if it changes meanwhile."""
    fd, st = open_source(path)
    try:
        if st.st_size < SMALL:
            data = read_small(path, fd, st)
            return hash_bytes(data), len(data)
        hasher = new_hasher(st.st_size)
        total = 0
        buf = bytearray(BLOCK)
        view = memoryview(buf)
        while True:
            n = os.readv(fd, [buf])
            if not n:
                break
            hasher.update(view[:n])
            total += n
        _check_unchanged(path, st, fd, total)
        return hasher.hexdigest(), total
    finally:
        os.close(fd)


def copy_and_hash(path: str | Path, out_fd: int) -> tuple[str, int, os.stat_result]:
    """Copy ``path`` to the open descriptor ``out_fd`` while hashing it, in one pass.

    Returns (oid, size, stat of the source as it was when opened).
    """
    fd, st = open_source(path)
    try:
        if st.st_size < SMALL:
            data = read_small(path, fd, st)
            write_all(out_fd, data)
            return hash_bytes(data), len(data), st
        from . import writeback  # big files only: its ctypes import costs start-up

        hasher = new_hasher(st.st_size)
        sparse = is_sparse(st)
        total = 0
        flushed = 0
        buf = bytearray(BLOCK)
        view = memoryview(buf)
        while True:
            n = os.readv(fd, [buf])
            if not n:
                break
            chunk = view[:n]
            hasher.update(chunk)
            if sparse:
                write_sparse(out_fd, buf, n, total)
            else:
                written = 0
                while written < n:
                    written += os.write(out_fd, chunk[written:])
            total += n
            if total - flushed >= WRITEBACK_EVERY:
                # let the disk work while the rest is copied: the batch sync
                # before the manifest then waits for the tail only
                writeback.start(out_fd, total - flushed)
                flushed = total
        if sparse:
            os.ftruncate(out_fd, total)  # a trailing hole
        writeback.start(out_fd, total - flushed)
        _check_unchanged(path, st, fd, total)
        return hasher.hexdigest(), total, st
    finally:
        os.close(fd)
