"""Advisory locks between gitstore processes, with ``flock``.

The kernel drops an ``flock`` when its holder dies, so a lock left by a
killed process is never stale: the next process simply gets it. Writers of
the cache take the cache lock shared and ``gc`` takes it exclusive, so an
object cannot be collected between being found and being named by a
manifest; commands that write a workspace take that repository's lock.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from .errors import GitstoreError, LockHeldError

if TYPE_CHECKING:
    from .stores.local import LocalStore


class FileLock:
    """An ``flock`` on ``path``; ``store``: the store (cache, folder remote) it is in,
    whose sharing by a group the lock file follows (stores/sharing.py)."""

    def __init__(
        self,
        path: Path,
        what: str,
        *,
        shared: bool = False,
        timeout: float = 60.0,
        store: LocalStore | None = None,
        held: int | None = None,
        on_release: Callable[[], None] | None = None,
    ):
        """``held``: an fd already holding this lock (``gitstore.prefind``), taken over;
        ``on_release``: called once the lock is let go."""
        self.path = path
        self.what = what
        self.shared = shared
        self.timeout = timeout
        self.store = store
        self._fd = -1
        self._held = held
        self._on_release = on_release

    def __enter__(self) -> FileLock:
        if self._held is not None:
            self._fd, self._held = self._held, None
            return self
        try:
            if self.store is not None:
                self.store.make_dirs(self.path.parent)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            # 0o666 less the umask: a cache shared by a group (umask 002) has
            # a lock file every member can open; in a store its group shares,
            # readable by the group whatever the umask (an flock needs no more)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            if self.store is not None:
                self.store.adopt(self._fd)
        except OSError as exc:
            if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise GitstoreError(f"cannot lock {self.what}: {exc.strerror}") from exc
            # flock works on a read-only descriptor, shared or exclusive: a lock
            # file another user made (without group write) still locks
            try:
                self._fd = os.open(self.path, os.O_RDONLY)
            except OSError:
                if not self.shared:  # gc: deleting needs write access anyway
                    raise GitstoreError(
                        f"cannot write to the {self.what}: {exc.strerror} ({self.path})",
                        hint="this needs write access to it",
                    ) from exc
                # a read-only place where there is no lock file: nobody can delete anything
                return self
        op = (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
        deadline = time.monotonic() + self.timeout
        delay = 0.01
        while True:
            try:
                fcntl.flock(self._fd, op)
                return self
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(self._fd)
                    self._fd = -1
                    raise LockHeldError(
                        f"{self.what} is locked by another gitstore process",
                        hint="wait for it to finish, then run the command again",
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.2)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1
        if self._on_release is not None:
            self._on_release()


def lock_timeout() -> float:
    try:
        return float(os.environ.get("GITSTORE_LOCK_TIMEOUT", "60"))
    except ValueError:
        return 60.0
