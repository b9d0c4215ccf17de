"""Clean records: a tracked path that lstats as it did when it last matched its manifest.

status and the pre-commit hook compare every tracked path with its manifest;
most of the time none has changed. Parsing a 100,000-entry manifest and
looking up every file in the stat cache costs far more than the lstat of
every file that any comparison needs anyway, so a path whose manifest and
files lstat exactly as they did when a full comparison last found them
unchanged is reported unchanged from that record alone.
"""

from __future__ import annotations

import marshal
import os
import stat as statmod
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from . import manifest as mf
from .hashing import hash_bytes
from .stores.local import read_tagged_map

if TYPE_CHECKING:
    from .workspace import Workspace

Signature = tuple[tuple[int, int, int, int, int], int, str, int]
RACY_NS = 50_000_000  # a file changed this close to a scan is not vouched for


class CleanRecord:
    """What each tracked path looked like (lstat of every file) when it last matched its manifest.

    pre-commit re-reads every tracked path's files through the stat cache;
    most commits change none of them. A path whose files (names, sizes,
    modes, mtimes, ctimes, inodes) and manifest lstat exactly as they did when
    a full comparison found them unchanged is unchanged: it is not re-parsed
    nor looked up file by file. Only lstat signatures older than the scan by
    ``RACY_NS`` are recorded, so that a write in the same clock tick as the
    scan can never hide behind an equal signature. It is only a cache: a
    corrupt or missing file means a full comparison.
    """

    FILE = "precommit-clean"
    MAGIC = "gitstore-clean-2"  # -1 held blake2b digests (hashlib's import costs start-up)

    def __init__(self, path: Path, entries: dict[str, Signature]):
        self.path = path
        self.entries = entries
        self.started_ns = time.time_ns()

    @classmethod
    def load(cls, state_dir: Path) -> CleanRecord:
        path = state_dir / cls.FILE
        return cls(path, read_tagged_map(path, cls.MAGIC) or {})

    def signature(self, ws: Workspace, mpath: str) -> Signature | None:
        """The lstat signature of a manifest and every file of its tracked path."""
        from .workspace import scan

        try:
            m = os.lstat(ws.root / mpath)
        except OSError:
            return None
        full = str(ws.root / mf.tracked_path(mpath))
        try:
            st = os.lstat(full)
        except OSError:
            return None
        if statmod.S_ISDIR(st.st_mode):
            rows = [
                (
                    f.relpath,
                    f.st.st_mode,
                    f.st.st_size,
                    f.st.st_mtime_ns,
                    f.st.st_ctime_ns,
                    f.st.st_ino,
                )
                for f in scan(full, strict=False, display="")
            ]
        else:
            rows = [("", st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)]
        newest = max([m.st_mtime_ns, m.st_ctime_ns, *(r[3] for r in rows), *(r[4] for r in rows)])
        digest = hash_bytes(marshal.dumps(rows))
        head = (m.st_size, m.st_mtime_ns, m.st_ctime_ns, m.st_ino, m.st_mode)
        return head, len(rows), digest, newest

    def matches(self, mpath: str, sig: Signature | None) -> bool:
        return sig is not None and self.entries.get(mpath) == sig

    def save(self, entries: Mapping[str, Signature | None]) -> None:
        keep = {
            m: sig
            for m, sig in entries.items()
            if sig is not None and sig[3] < self.started_ns - RACY_NS
        }
        if keep == self.entries:
            return
        try:
            if not keep:
                self.path.unlink(missing_ok=True)
                return
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_bytes(marshal.dumps((self.MAGIC, keep)))
            os.replace(tmp, self.path)
        except OSError:
            pass  # only a cache
        self.entries = keep
