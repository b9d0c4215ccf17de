"""Progress reporting: a callback protocol for the library, a bar for the CLI.

The library never prints. Transfer code calls a :class:`Progress` (``start``
once with the totals it knows, ``advance`` after each object, ``done`` at the
end), from any thread. :class:`StderrBar` is the CLI's implementation: one
line on stderr redrawn in place with objects, bytes, rate and ETA, shown only
when stderr is a terminal and only once the transfer has lasted about a
second, so quick commands and scripts see nothing. ``-q`` uses no bar at all.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Mapping
from typing import Protocol, TextIO


class Progress(Protocol):
    def start(self, what: str, objects: int, nbytes: int | None = None) -> None:
        """A transfer of ``objects`` objects (``nbytes`` in all, when known) begins."""

    def advance(self, nbytes: int, objects: int = 1) -> None:
        """``objects`` more objects (``nbytes`` bytes) are done; thread-safe."""

    def done(self) -> None:
        """The transfer ended (successfully or not)."""


class NullProgress:
    """Reports nothing."""

    def start(self, what: str, objects: int, nbytes: int | None = None) -> None:
        pass

    def advance(self, nbytes: int, objects: int = 1) -> None:
        pass

    def done(self) -> None:
        pass


def count(n: int, noun: str, verb: str = "") -> str:
    """ "1 file", "2 files"; with ``verb`` "is" or "was", "1 file is", "2 files are"."""
    text = f"{n} {noun}" if n == 1 else f"{n} {noun}s"
    if verb:
        text += f" {verb}" if n == 1 else " are" if verb == "is" else " were"
    return text


def objects(n: int) -> str:
    """ "1 object", "2 objects"."""
    return count(n, "object")


def resumed_lines(resumed: Mapping[str, tuple[int, int]], done: str) -> list[str]:
    """One line per object whose interrupted transfer was taken up again:
    ``resumed`` maps oid -> (bytes already there, size); ``done``: "downloaded"
    or "uploaded"."""
    return [
        f"gitstore: resumed {oid}: {human_bytes(found)} of {human_bytes(size)} were already {done}"
        for oid, (found, size) in sorted(resumed.items())
    ]


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}:{seconds % 60:02d}"


class StderrBar:
    """A one-line bar on a terminal; silent when the stream is not a TTY."""

    def __init__(self, stream: TextIO | None = None, delay: float = 1.0, interval: float = 0.2):
        self.stream = stream or sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.delay = delay
        self.interval = interval
        self._lock = threading.Lock()
        self._what = ""
        self._total_objects = 0
        self._total_bytes: int | None = None
        self._objects = 0
        self._bytes = 0
        self._started = 0.0
        self._drawn = 0.0
        self._shown = False

    def start(self, what: str, objects: int, nbytes: int | None = None) -> None:
        with self._lock:
            self._what, self._total_objects, self._total_bytes = what, objects, nbytes
            self._objects = self._bytes = 0
            self._started = time.monotonic()
            self._shown = False

    def advance(self, nbytes: int, objects: int = 1) -> None:
        with self._lock:
            self._objects += objects
            self._bytes += nbytes
            if not self.enabled:
                return
            now = time.monotonic()
            if now - self._started < self.delay or now - self._drawn < self.interval:
                return
            self._drawn = now
            self._draw(now)

    def line(self, now: float | None = None) -> str:
        """The bar's text (without the carriage return)."""
        elapsed = max((now or time.monotonic()) - self._started, 1e-6)
        rate = self._bytes / elapsed
        parts = [f"{self._what}: {self._objects}/{self._total_objects} objects"]
        if self._total_bytes:
            parts.append(f"{human_bytes(self._bytes)}/{human_bytes(self._total_bytes)}")
            fraction = self._bytes / self._total_bytes
        else:
            parts.append(human_bytes(self._bytes))
            fraction = self._objects / self._total_objects if self._total_objects else 0.0
        parts.append(f"{human_bytes(rate)}/s")
        if 0 < fraction < 1:
            parts.append(f"ETA {_duration(elapsed * (1 - fraction) / fraction)}")
        return ", ".join(parts)

    def _draw(self, now: float) -> None:
        self.stream.write("\r" + self.line(now)[:200] + "\x1b[K")
        self.stream.flush()
        self._shown = True

    def done(self) -> None:
        with self._lock:
            if self._shown:
                self._draw(time.monotonic())
                self.stream.write("\n")
                self.stream.flush()
                self._shown = False
