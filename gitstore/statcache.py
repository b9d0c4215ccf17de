"""The stat cache: "what is the oid of this file", answered without reading it.

Keyed by repository-relative path, each entry holds (size, mtime_ns,
ctime_ns, inode, oid). A file whose lstat matches is taken to have that oid.
Git's racy-timestamp rule applies: an entry whose file mtime is not older
than the stat cache's own last write might have changed within the same clock
tick, so it is not trusted and the file is hashed again. The mtime compared is
the latest time it can stand for (:func:`latest`): a file on a filesystem
that keeps whole seconds, under a stat cache on one that keeps nanoseconds,
is racy for the whole of its second. Each git worktree
has its own stat cache (under its own git dir). It is only a cache: a
corrupt, truncated or foreign file is ignored.

Two files hold it. The main file (``statcache``) is the whole map, written
with fsync and rename; its mtime is the racy threshold of its entries. When
few entries changed, :meth:`StatCache.save` appends them to the journal
(``statcache.journal``) instead of rewriting the map: each record is framed
(length, CRC-32) and tied to the main file by a random token, so a torn
tail or a journal left over from an older main file is ignored. A record
carries its own racy threshold, taken from the filesystem clock just before
it is written: an entry not older than it is left out of the record (git's
"smudging"), so a later append can never make an earlier racy entry trusted.
The journal is folded into the main file once it grows.

The stat cache also remembers, per entry, whether the entry's object was
seen in the cache, and the cache's *gc generation* at that time (see
:meth:`Cache.generation <gitstore.cache.Cache.generation>`): gc changes the
generation before it deletes anything, so while it is unchanged an object
once seen is still there, and ``track`` need not stat it again.
"""

from __future__ import annotations

import marshal
import os
import struct
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import cast

from .hashing import hash_file
from .stores.local import fsync_write

MAGIC = "gitstore-statcache-2"
OLD_MAGIC = "gitstore-statcache-1"
FRAME = struct.Struct("<II")  # payload length, CRC-32 of the payload
JOURNAL_MIN_BYTES = 64 << 10  # fold the journal into the main file past this size...
JOURNAL_SHARE = 4  # ...or past a quarter of the main file, whichever is larger

Signature = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode
Entry = tuple[int, int, int, int, str]  # size, mtime_ns, ctime_ns, inode, oid


def signature(st: os.stat_result) -> Signature:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


# A timestamp in whole seconds may stand for any time in its second, and on FAT in
# the next one too: a filesystem that keeps whole seconds (FAT, exFAT, HFS+, ext2/3
# with small inodes, some NFS and SMB servers) truncates it. One in whole 10 ms (FAT's
# ctime, exFAT) stands for any time in its 10 ms. Finer ones are taken as read.
COARSE_STEP_NS = 10_000_000
WHOLE_SECOND_NS = 1_000_000_000


def settled(t_ns: int, threshold_ns: int) -> bool:
    """Whether a file stamped ``t_ns`` surely changed before ``threshold_ns``: ``latest(t_ns)
    < threshold_ns``, with one comparison and one remainder for a fine stamp (per file,
    on every lookup)."""
    return t_ns < threshold_ns and (t_ns % COARSE_STEP_NS != 0 or latest(t_ns) < threshold_ns)


def latest(t_ns: int) -> int:
    """The latest time a file timestamp ``t_ns`` can stand for, whatever the filesystem's
    granularity (a racy rule compares this, not the truncated stamp, with its threshold:
    a file on a whole-second filesystem written in the threshold's second is racy even
    when the threshold, read off a finer filesystem's clock, is later in it)."""
    if t_ns % COARSE_STEP_NS:
        return t_ns
    if t_ns % WHOLE_SECOND_NS:
        return t_ns + COARSE_STEP_NS
    return t_ns + 2 * WHOLE_SECOND_NS


class _Entries(dict[str, Entry]):
    """The entry map; remembers which keys changed so that a save can append only those.

    Other modules may ``pop`` an entry directly (the hooks do): that counts as
    a change like :meth:`StatCache.forget_under`.
    """

    def __init__(self, data: dict[str, Entry], changed: set[str]):
        super().__init__(data)
        self.changed = changed

    def __setitem__(self, key: str, value: Entry) -> None:
        super().__setitem__(key, value)
        self.changed.add(key)

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self.changed.add(key)

    def pop(self, key: str, *default: object) -> object:  # type: ignore[override]
        self.changed.add(key)
        return super().pop(key, *default)


class StatCache:
    def __init__(self, path: Path):
        self.path = path
        self.journal = path.with_name(path.name + ".journal")
        self._changed: set[str] = set()  # keys recorded or dropped since the last save
        self.entries: _Entries = _Entries({}, self._changed)
        self.written_ns = 0  # mtime of the main file when loaded: its racy threshold
        self.dirty = False
        self.generation: str | None = None  # the cache gc generation `unverified` refers to
        self.unverified: set[str] = set()  # keys whose object was not seen at `generation`
        self._trusted: set[str] = set()  # keys from the journal, trusted whatever written_ns
        self._token = ""  # ties journal records to the main file they extend
        self._main_bytes = 0
        self._journal_bytes = 0
        self._full = True  # the next save rewrites the main file
        self._load()

    # -- loading -------------------------------------------------------------
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
        if not isinstance(data, tuple) or not data:
            return
        if data[0] == OLD_MAGIC and len(data) == 2 and isinstance(data[1], dict):
            unverified: list[str] | tuple[str, ...] = []
            entries, generation, token = data[1], None, ""
        elif data[0] == MAGIC and len(data) == 5 and isinstance(data[3], dict):
            _magic, token, generation, entries, unverified = data
            if not isinstance(token, str) or not isinstance(unverified, list | tuple):
                return
        else:
            return
        self.entries = _Entries(entries, self._changed)
        self.written_ns = st.st_mtime_ns
        self.generation = generation if isinstance(generation, str) else None
        self.unverified = set(unverified) if self.generation else set()
        self._main_bytes = len(raw)
        if token:
            self._token = token
            self._full = False
            self._replay()
        self._changed.clear()

    def _replay(self) -> None:
        try:
            with open(self.journal, "rb") as f:
                raw = f.read()
        except OSError:
            return
        self._journal_bytes = len(raw)
        at = 0
        while at + FRAME.size <= len(raw):
            length, crc = FRAME.unpack_from(raw, at)
            payload = raw[at + FRAME.size : at + FRAME.size + length]
            if len(payload) != length or zlib.crc32(payload) != crc:
                break  # a torn or damaged tail: the rest is ignored
            at += FRAME.size + length
            try:
                token, threshold, changes = marshal.loads(payload)
            except (EOFError, ValueError, TypeError):
                break
            if token != self._token or not isinstance(changes, dict):
                continue  # written against another main file
            self._apply(threshold, changes)

    def _apply(self, threshold: int, changes: dict[str, tuple[object, ...] | None]) -> None:
        entries, unverified, trusted = self.entries, self.unverified, self._trusted
        for key, value in changes.items():
            if value is None or not isinstance(value, tuple) or len(value) != 6:
                dict.pop(entries, key, None)
                unverified.discard(key)
                trusted.discard(key)
                continue
            mtime, seen = value[1], value[5]
            if not isinstance(mtime, int) or latest(mtime) >= threshold:
                continue  # never written that way; defensive
            dict.__setitem__(entries, key, cast(Entry, value[:5]))
            trusted.add(key)
            if seen:
                unverified.discard(key)
            else:
                unverified.add(key)

    # -- queries -------------------------------------------------------------
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
            and (settled(st.st_mtime_ns, self.written_ns) or relpath in self._trusted)
        ):
            return entry[4]
        return None

    def known_present(self, relpath: str, generation: str | None) -> bool:
        """Whether ``relpath``'s object was seen in the cache while its gc generation was ``generation``."""
        return (
            generation is not None
            and generation == self.generation
            and relpath not in self.unverified
        )

    def oid_of(self, relpath: str, abspath: Path, st: os.stat_result | None = None) -> str:
        """The oid of a workspace file, hashing it only when the stat cache cannot say."""
        if st is None:
            st = os.lstat(abspath)
        oid = self.lookup(relpath, st)
        if oid is None:
            oid, _size = hash_file(abspath)
            self.record(relpath, st, oid)
        return oid

    # -- changes -------------------------------------------------------------
    def record(self, relpath: str, st: os.stat_result, oid: str, present: bool = False) -> None:
        """Remember ``relpath``'s oid; ``present`` when its object is known to be in the cache now."""
        new = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, oid)
        old = self.entries.get(relpath)
        if old != new:
            self.entries[relpath] = new
            self._trusted.discard(relpath)
            self.dirty = True
            if old is None or old[4] != oid:
                self.unverified.add(relpath)
        elif latest(st.st_mtime_ns) >= self.written_ns and relpath not in self._trusted:
            self._changed.add(relpath)  # write again so that the entry stops being racy
            self.dirty = True
        if present:
            self.mark_present(relpath)

    def record_many(
        self, items: Iterable[tuple[str, os.stat_result, str]], present: bool = False
    ) -> None:
        """:meth:`record` for many files at once (a checkout's): the same rules, less overhead."""
        entries = self.entries
        plain = dict.__setitem__
        changed, trusted, unverified = self._changed, self._trusted, self.unverified
        written = self.written_ns
        for relpath, st, oid in items:
            new = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, oid)
            old = entries.get(relpath)
            if old != new:
                plain(entries, relpath, new)
                changed.add(relpath)
                trusted.discard(relpath)
                if present:
                    unverified.discard(relpath)
                elif old is None or old[4] != oid:
                    unverified.add(relpath)
            elif (not settled(st.st_mtime_ns, written) and relpath not in trusted) or (
                present and relpath in unverified
            ):
                changed.add(relpath)
                if present:
                    unverified.discard(relpath)
            else:
                continue
            self.dirty = True

    def mark_present(self, relpath: str) -> None:
        """``relpath``'s object was just seen in the cache (at :attr:`generation`)."""
        if relpath in self.unverified and relpath in self.entries:
            self.unverified.discard(relpath)
            self._changed.add(relpath)
            self.dirty = True

    def use_generation(self, generation: str | None) -> None:
        """Objects are checked against a cache at ``generation``: forget what an older one saw."""
        if generation is None or generation == self.generation:
            return
        self.generation = generation
        self.unverified = set(self.entries)
        self._full = True
        self.dirty = True

    def forget(self, relpath: str) -> None:
        if relpath in self.entries:
            del self.entries[relpath]
            self.unverified.discard(relpath)
            self._trusted.discard(relpath)
            self.dirty = True

    def forget_under(self, prefix: str) -> None:
        """Drop entries for ``prefix`` itself and everything below it."""
        below = prefix.rstrip("/") + "/"
        for key in [k for k in self.entries if k == prefix or k.startswith(below)]:
            self.forget(key)

    # -- saving --------------------------------------------------------------
    def save(self) -> None:
        if not self.dirty:
            return
        changed = self._changed
        try:
            if self._full or (changed and not self._append(changed)):
                self._rewrite()
        except OSError:
            # a full disk, a state folder left read-only: the file on disk is
            # as it was (written whole or not at all), and what this run
            # learnt is hashed again next time, as after a crash
            return
        self.dirty = False

    def _append(self, changed: set[str]) -> bool:
        """Append the changed entries to the journal; False when the main file should be rewritten."""
        if len(changed) > max(256, len(self.entries) // 8):
            return False
        limit = max(JOURNAL_MIN_BYTES, self._main_bytes // JOURNAL_SHARE)
        try:
            fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError:
            return False
        try:
            # the filesystem's clock now: an entry not older than this is racy, left out
            os.utime(fd)
            threshold = os.fstat(fd).st_mtime_ns
            entries, unverified = self.entries, self.unverified
            record: dict[str, tuple[object, ...] | None] = {}
            racy = set()
            for key in changed:
                entry = entries.get(key)
                if entry is None:
                    record[key] = None
                elif latest(entry[1]) >= threshold:
                    racy.add(key)
                else:
                    record[key] = (*entry, key not in unverified)
            payload = marshal.dumps((self._token, threshold, record))
            if self._journal_bytes + len(payload) > limit:
                return False
            os.write(fd, FRAME.pack(len(payload), zlib.crc32(payload)) + payload)
        except OSError:
            return False
        finally:
            os.close(fd)
        self._journal_bytes += FRAME.size + len(payload)
        self._trusted.update(k for k, v in record.items() if v is not None)
        changed.clear()
        changed |= racy  # still racy: written again when recorded again
        return True

    def _rewrite(self) -> None:
        written = self.written_ns
        trusted, changed = self._trusted, self._changed
        # smudge: an entry racy when loaded and not recorded since stays untrusted
        keep = {
            k: e
            for k, e in self.entries.items()
            if latest(e[1]) < written or k in trusted or k in changed
        }
        token = os.urandom(16).hex()
        unverified = sorted(self.unverified.intersection(keep))
        data = marshal.dumps((MAGIC, token, self.generation, keep, unverified))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        st = fsync_write(self.path, data)
        try:
            os.unlink(self.journal)
        except FileNotFoundError:
            pass
        self.written_ns = st.st_mtime_ns
        self._token = token
        self._main_bytes = len(data)
        self._journal_bytes = 0
        self._full = False
        self._trusted.clear()
        changed.clear()
        if len(keep) != len(self.entries):
            self.entries = _Entries(keep, changed)
            self.unverified.intersection_update(keep)
