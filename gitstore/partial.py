"""Resumable downloads of big objects: a partial file and its journal in the cache's ``tmp/``.

A big object (S3's ranged GETs, ``S3Store.ranged_get_min`` bytes or more) is
downloaded into ``tmp/partial-<oid>`` rather than an anonymous temporary
file, and ``tmp/partial-<oid>.ranges`` records how far each range has been
written. A download killed part-way (``kill -9``, Ctrl-C, a laptop lid, a
network that fails for longer than the retry deadline) is taken up where it
stopped by the next fetch, as git-lfs does with its ``incomplete`` folder; a
retry within the same command resumes the same way rather than starting the
object over.

The journal is text: a header ``gitstore-partial 1 <size> <step>`` and lines
``<start> <position>``, "the range that begins at byte ``start`` is written up
to ``position``", appended after the bytes were written and never synced.
Nothing it says is taken on trust: the whole file is hashed before it may
enter the cache, as every download is. A kill keeps the page cache, so what
the journal says is there is there; after a power cut the journal may claim
bytes the disk lost, the hash then differs, and the download starts over
once (:meth:`Journal.restart`). A torn last line can only claim less than
was written (a prefix of a number is smaller), so it costs a re-download of
a few bytes, never a wrong object.

Only one process writes a partial file: the downloader holds an exclusive
``flock`` on it, and a second fetch of the same object meanwhile downloads
into a temporary file of its own, as before. ``gc`` removes partial files
and journals older than its grace period, as any leftover in ``tmp/``.
"""

from __future__ import annotations

import fcntl
import os
import stat
import threading
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from .hashing import Hasher

MAGIC = "gitstore-partial 1"
PREFIX = "partial-"
SUFFIX = ".ranges"
MARK_EVERY = 8 << 20  # a range records its progress after about this many bytes
_NOFOLLOW_NONBLOCK = os.O_NOFOLLOW | os.O_NONBLOCK  # never a symlink; a FIFO never blocks
_MAX_JOURNAL = 16 << 20  # a longer journal is not ours: start over (~24 bytes a line: 5 TB)


class Journal:
    """What has been written of one partial file (``fd``); see the module docstring."""

    def __init__(self, path: str, fd: int) -> None:
        self.path = path
        self.fd = fd
        self.resumed = 0  # bytes found written when the download began
        self._converted = False  # the journal was written with another step
        self._out: IO[str] | None = None
        self._lock = threading.Lock()

    def begin(self, size: int, step: int) -> dict[int, int]:
        """The position each range begun earlier has reached ({} when starting over).

        Ranges start at multiples of ``step``. A journal written with another
        step (by another kind of remote) is read in this download's ranges: a
        range starting inside bytes written earlier goes on where they end. A
        journal for another size, or a partial file that is not ``size`` bytes
        long, is discarded and the file emptied.
        """
        self.close()  # a retry within the same command begins again
        self._converted = False
        positions = self._read(size, step)
        if positions and os.fstat(self.fd).st_size != size:
            positions = {}
        if positions and self._converted:  # recorded anew in this download's ranges
            self._write_journal(size, step, positions)
        elif positions:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | _NOFOLLOW_NONBLOCK)
                if not _ours(os.fstat(fd)):
                    os.close(fd)
                    raise IsADirectoryError  # (any OSError) not ours: begin anew
                self._out = os.fdopen(fd, "a", encoding="ascii")
            except OSError:
                positions = {}
        if not positions:
            self._start(size, step)
        self.resumed = sum(position - start for start, position in positions.items())
        return positions

    def complete(self, size: int) -> None:
        """Record the whole file as written (it hashed to its object, but could not be
        moved into place): the next try takes it up as it is."""
        self.close()
        self._write_journal(size, size, {0: size} if size else {})

    def restart(self, size: int, step: int) -> None:
        """Forget everything written: the bytes did not hash to the object."""
        self.close()
        self._start(size, step)
        self.resumed = 0

    def mark(self, start: int, position: int) -> None:
        """Record that the range beginning at ``start`` is written up to ``position``."""
        with self._lock:
            if self._out is not None:
                self._out.write(f"{start} {position}\n")
                self._out.flush()

    def close(self) -> None:
        with self._lock:
            if self._out is not None:
                self._out.close()
                self._out = None

    def remove(self) -> None:
        self.close()
        try:
            os.unlink(self.path)
        except OSError:  # gone, or not a file (a folder planted there): not ours to remove
            pass

    def _start(self, size: int, step: int) -> None:
        """Empty the partial file and begin a new journal."""
        os.ftruncate(self.fd, 0)
        self._write_journal(size, step, {})

    def _write_journal(self, size: int, step: int, positions: dict[int, int]) -> None:
        """Write the journal anew: its header and ``positions``.

        A journal that cannot be written (a symlink, a folder or a FIFO in its
        place, a full disk) costs only the resumption: the download goes on
        without one, as a plain temporary file would, rather than failing.
        """
        flags = os.O_WRONLY | os.O_CREAT | _NOFOLLOW_NONBLOCK  # truncated once known ours
        lines = "".join(f"{start} {position}\n" for start, position in sorted(positions.items()))
        try:
            fd = os.open(self.path, flags, 0o600)
            try:
                if not _ours(os.fstat(fd)):
                    os.close(fd)
                    return  # a hard link or another user's file: never written through
                os.ftruncate(fd, 0)
            except OSError:
                os.close(fd)
                raise
            self._out = os.fdopen(fd, "w", encoding="ascii")
            self._out.write(f"{MAGIC} {size} {step}\n{lines}")
            self._out.flush()
        except OSError:
            if self._out is not None:
                try:
                    self._out.close()
                except OSError:
                    pass
            self._out = None

    def _read(self, size: int, step: int) -> dict[int, int]:
        try:
            fd = os.open(self.path, os.O_RDONLY | _NOFOLLOW_NONBLOCK)
        except OSError:
            return {}
        try:
            if not _ours(os.fstat(fd)):
                return {}
            raw = os.read(fd, _MAX_JOURNAL + 1)
        except OSError:
            return {}
        finally:
            os.close(fd)
        if len(raw) > _MAX_JOURNAL:
            return {}
        lines = raw.decode("ascii", "replace").split("\n")
        magic, _, shape = lines[0].rpartition(" ")  # "<MAGIC> <size>" and "<step>"
        if magic != f"{MAGIC} {size}" or not shape.isdigit() or step <= 0:
            return {}
        written = int(shape)  # the step of the download that wrote the journal
        if written <= 0:
            return {}
        positions: dict[int, int] = {}
        for line in lines[1:]:
            start_s, _, position_s = line.partition(" ")
            if not (start_s.isdigit() and position_s.isdigit()):
                continue  # a torn last line
            start, position = int(start_s), int(position_s)
            if start % written or start >= size:
                continue
            if not start <= position <= min(start + written, size):
                continue
            positions[start] = max(positions.get(start, start), position)
        positions = {start: end for start, end in positions.items() if end > start}
        if written != step:  # another kind of remote wrote it (S3 ranges, one HTTP stream)
            self._converted = True
            return _in_ranges(positions, size, step)
        return positions


def _in_ranges(positions: dict[int, int], size: int, step: int) -> dict[int, int]:
    """Written spans (range start -> end written) seen in ranges of ``step`` bytes."""
    spans: list[list[int]] = []
    for start, end in sorted(positions.items()):
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)  # adjacent: one span
        else:
            spans.append([start, end])
    out: dict[int, int] = {}
    for begin, end in spans:
        first = -(-begin // step) * step  # the first range starting inside the span
        for start in range(first, min(end, size), step):
            out[start] = min(end, start + step, size)
    return out


def open_locked(path: str) -> int | None:
    """The partial file at ``path`` (made if absent), open read-write and locked
    (``flock``) by this process; None when it cannot be used for resuming.

    None when another process holds it (that one is downloading it now), or
    when what is there is not a regular file of ours (a symlink, a folder, a
    FIFO: never followed, never blocked on; a hard link to a file elsewhere,
    which would be written through; another user's file, which we could not
    make read-only before moving it into place). After the lock, the file must
    still be the one at ``path``: the download that held it may have finished
    between our open and our lock and renamed this very file into its place
    (an object in the cache, a file of the user's), which must never be
    written again.
    """
    for _ in range(3):
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
        try:
            fd = os.open(path, flags, 0o600)
        except OSError:
            return None
        try:
            held = os.fstat(fd)
            if not _ours(held):
                os.close(fd)
                return None
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            there = os.lstat(path)
        except OSError:
            there = None
        if there is not None and (there.st_ino, there.st_dev) == (held.st_ino, held.st_dev):
            return fd
        os.close(fd)  # renamed away meanwhile: try the name again
    return None


def _ours(st: os.stat_result) -> bool:
    """Whether a partial file or journal found open may be written: a regular file of
    this user's with no other name (a hard link planted there would be written through)."""
    return stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and st.st_uid == os.geteuid()


def held(path: str) -> bool:
    """Whether a process holds the partial file at ``path`` (an ``flock``: it is copying
    it now); False for anything else, or a file that cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW_NONBLOCK)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def hash_written(fd: int, length: int, hasher: Hasher, block: int = 1 << 20) -> None:
    """Hash the first ``length`` bytes of the file at ``fd`` (a partial file: what an
    earlier try wrote, before the rest is downloaded into it) into ``hasher``."""
    from . import faults

    buf = bytearray(block)
    view = memoryview(buf)
    position = 0
    while position < length:
        faults.partial_read()
        n = os.preadv(fd, [view[: min(len(buf), length - position)]], position)
        if not n:
            break  # shorter than that: the hash will tell
        hasher.update(view[:n])
        position += n


def write_blocks(
    read: Callable[[bytearray], int],
    fd: int,
    position: int,
    *,
    hasher: Hasher | None = None,
    journal: Journal | None = None,
    start: int = 0,
    buf: bytearray | None = None,
) -> int:
    """Write what ``read(buf)`` puts in ``buf`` (0 at the end) into ``fd`` from
    ``position`` on, hashed into ``hasher`` when given: where it ended.

    ``journal`` records how far the range beginning at ``start`` got, every
    :data:`MARK_EVERY` bytes and on the way out, an error's too: a link that
    drops more often than every MARK_EVERY bytes must still make progress.
    """
    from . import faults, stopping

    buf = buf if buf is not None else bytearray(1 << 20)
    view = memoryview(buf)
    marked = position
    try:
        while n := read(buf):
            stopping.check()  # Ctrl-C: the journal keeps what came, for the next run
            block = view[:n]
            if hasher is not None:
                hasher.update(block)
            if journal is not None:
                faults.partial_write()
            while block:  # a full disk raises OSError here, as it is
                written = os.pwrite(fd, block, position)
                block = block[written:]
                position += written
            if journal is not None and position - marked >= MARK_EVERY:
                journal.mark(start, position)
                marked = position
                faults.range_written()
    finally:
        if journal is not None and position > marked:
            journal.mark(start, position)
    return position
