"""The stat cache: "what is the oid of this file", answered without reading it.

Keyed by repository-relative path, each entry holds (size, mtime_ns,
ctime_ns, inode, oid). A file whose lstat matches is taken to have that oid.
Git's racy-timestamp rule applies: an entry whose file mtime is not older
than the stat cache's own last write might have changed within the same clock
tick, so it is not trusted and the file is hashed again. Each git worktree
has its own stat cache (under its own git dir). The file is written with
fsync and rename; a corrupt or foreign file is ignored (it is only a cache).
"""

from __future__ import annotations

import marshal
import os
from pathlib import Path

from .hashing import hash_file
from .stores.local import fsync_write

MAGIC = "gitstore-statcache-1"

Signature = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode


def signature(st: os.stat_result) -> Signature:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


class StatCache:
    def __init__(self, path: Path):
        self.path = path
        self.entries: dict[str, tuple[int, int, int, int, str]] = {}
        self.written_ns = 0  # mtime of the file when loaded: the racy threshold
        self.dirty = False
        self._load()

    def _load(self) -> None:
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                raw = f.read()
            # loads() of the whole file: load(f) reads object by object through
            # the file object and is about 6x slower (0.6 s for 100,000 entries)
            data = marshal.loads(raw)
        except (FileNotFoundError, EOFError, ValueError, TypeError, OSError):
            return
        if not isinstance(data, tuple) or len(data) != 2 or data[0] != MAGIC:
            return
        if isinstance(data[1], dict):
            self.entries = data[1]
            self.written_ns = st.st_mtime_ns

    def lookup(self, relpath: str, st: os.stat_result) -> str | None:
        """The cached oid for ``relpath`` if its stat still matches and is not racy."""
        entry = self.entries.get(relpath)
        if entry is None:
            return None
        if (
            entry[0] == st.st_size
            and entry[1] == st.st_mtime_ns
            and entry[2] == st.st_ctime_ns
            and entry[3] == st.st_ino
            and st.st_mtime_ns < self.written_ns
        ):
            return entry[4]
        return None

    def record(self, relpath: str, st: os.stat_result, oid: str) -> None:
        new = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, oid)
        if self.entries.get(relpath) != new:
            self.entries[relpath] = new
            self.dirty = True
        elif st.st_mtime_ns >= self.written_ns:
            self.dirty = True  # rewrite so that the entry stops being racy

    def forget_under(self, prefix: str) -> None:
        """Drop entries for ``prefix`` itself and everything below it."""
        below = prefix.rstrip("/") + "/"
        for key in [k for k in self.entries if k == prefix or k.startswith(below)]:
            del self.entries[key]
            self.dirty = True

    def oid_of(self, relpath: str, abspath: Path, st: os.stat_result | None = None) -> str:
        """The oid of a workspace file, hashing it only when the stat cache cannot say."""
        if st is None:
            st = os.lstat(abspath)
        oid = self.lookup(relpath, st)
        if oid is None:
            oid, _size = hash_file(abspath)
            self.record(relpath, st, oid)
        return oid

    def save(self) -> None:
        if not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fsync_write(self.path, marshal.dumps((MAGIC, self.entries)))
        self.written_ns = os.stat(self.path).st_mtime_ns
        self.dirty = False
