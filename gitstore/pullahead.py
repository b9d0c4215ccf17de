"""Pull: write workspace files while the fetch is still downloading.

``gitstore pull`` is fetch, then checkout. The checkout's copies (every byte
again, from the cache into the work tree) would otherwise wait for the last
download; here the fetch worker that verified an object and renamed it into
the cache writes its files at once, so the copies overlap the downloads. The ordinary checkout runs
afterwards as always and decides everything else (deletions, modes,
conflicts, missing objects, the final result); for the files written here it
finds the stat cache's fresh record and leaves them alone.

Only what the checkout would certainly do is done ahead:

- only for a pull of the working tree's manifests (no REV): a pull of another
  revision writes its manifests at the end, and files written ahead of them
  would look like edits if the fetch then failed;
- only files that do not exist at all: writing one replaces nothing, so there
  is no conflict to judge (an existing file, whatever its content, is left to
  the checkout);
- with the checkout's own primitives (``checkout.safe_parent`` for the
  folders, one thread at a time; ``Cache.materialise`` for the file, in the
  configured link mode, or the verified bytes still in memory where that
  mode would copy them), under the workspace and cache locks, taken only if
  they are free, and recording each file in the stat cache as checkout does.

Any error here stops the early writing quietly (it is only an optimisation):
the checkout that follows meets the same situation and reports it properly.
"""

from __future__ import annotations

import os
import stat as statmod
import threading
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING

from . import faults, writeback
from . import manifest as mf
from .errors import GitstoreError
from .pending import Marks

if TYPE_CHECKING:
    from .api import Context
    from .checkout import CheckoutResult


class CheckoutAhead:
    """Writes the files of each object as :meth:`landed` reports it; see the module docstring."""

    def __init__(
        self,
        ctx: Context,
        manifests: Mapping[str, mf.Manifest],
        only: Sequence[str] = (),
        oids: set[str] | None = None,
    ) -> None:
        from .checkout import CheckoutResult, entry_key

        self.ws = ctx.workspace
        self.root = str(self.ws.root)
        self.result: CheckoutResult = CheckoutResult()
        self.error: BaseException | None = None
        #: oid -> (repository path, entry, tracked path) of each file it makes
        self.files: dict[str, list[tuple[str, mf.Entry, str]]] = {}
        for mpath, manifest in sorted(manifests.items()):
            rel = mf.tracked_path(mpath)
            for entry in manifest.entries:
                key = entry_key(rel, manifest, entry)
                if only and not any(key == p or key.startswith(p + "/") for p in only):
                    continue
                if oids is None or entry.oid in oids:
                    self.files.setdefault(entry.oid, []).append((key, entry, rel))
        self._lock = threading.Lock()
        self._folders: set[str] = set()
        # a tracked path is marked unfinished before its first file is written,
        # as checkout marks it: a pull killed during the download must not have
        # the next commit record the files not yet written as removed
        self._marks = Marks(ctx.workspace.repo.state_dir)
        self._locks = ExitStack()
        self._active = False

    def start(self) -> None:
        """Take the workspace and cache locks, as a checkout does, and start accepting objects.

        Only if they are free right now: when another process holds one,
        everything is left to the checkout, which waits for it as usual.
        """
        if not self.files:
            return
        stack = ExitStack()
        try:
            for lock in (self.ws.lock(), self.ws.cache_lock()):
                lock.timeout = 0
                stack.enter_context(lock)
        except (GitstoreError, OSError) as exc:
            stack.close()
            self.error = exc
            return
        self._locks = stack
        self._active = True

    @property
    def marked(self) -> set[str]:
        """The tracked paths this pull marked unfinished (its checkout clears them when done)."""
        return set(self._marks.new)

    def finish(self) -> CheckoutResult:
        """Stop, record what was written in the stat cache, release the locks."""
        with self._lock:
            active, self._active = self._active, False
        try:
            if active or self.result.written:
                self.ws.statcache.save()
        finally:
            self._locks.close()
        return self.result

    def landed(self, oid: str, data: bytes | None = None) -> None:
        """``oid`` is in the cache now: write its files that do not exist yet.

        Called from fetch's worker threads, so the copies run side by side;
        an error stops all further writing here and is left to the checkout.
        ``data``, when given, is the object's verified bytes, still in memory:
        where the checkout would copy, the file is written from them instead
        of reading the object back (``Cache.materialise_bytes``).
        """
        if not self._active:
            return
        for key, entry, rel in self.files.get(oid, ()):
            dest = f"{self.root}/{key}"
            try:
                try:
                    os.lstat(dest)
                    continue  # something is there: the checkout decides
                except FileNotFoundError:
                    pass
                self._parent(key)
                with self._lock:
                    if not self._active:
                        return
                    self._marks.changing(rel)
                faults.workspace_write()
                cache = self.ws.cache
                written, st = (
                    cache.materialise_bytes(data, dest, entry.exec)
                    if data is not None
                    else (False, None)
                )
                if not written:
                    # its lstat when certainly the file written: a save that came in
                    # between must not be recorded as the object (QA pass 7)
                    st = cache.materialise(entry.oid, dest, entry.exec)
                if st is not None and statmod.S_ISREG(st.st_mode):
                    writeback.start_path(dest, st.st_size)  # the sync after the fetch flushes it
            except Exception as exc:  # an optimisation only: the checkout meets it and says so
                with self._lock:
                    self._active = False
                    self.error = exc
                return
            with self._lock:
                if st is not None and statmod.S_ISREG(st.st_mode):  # a symlink is not recorded
                    self.ws.statcache.record(key, st, entry.oid)
                self.result.written.append(key)

    def _parent(self, key: str) -> None:
        from .checkout import safe_parent

        folder = key.rpartition("/")[0]
        if folder in self._folders:
            return
        with self._lock:  # folders are made one thread at a time
            if folder not in self._folders:
                safe_parent(self.ws, key, create=True)
                self._folders.add(folder)


def unchanged_after(ahead: CheckoutResult, final: CheckoutResult) -> int:
    """The final checkout's "unchanged" count without the files written ahead of it."""
    seen_again = set(final.written) | set(final.deleted) | set(final.conflicts)
    counted = sum(1 for key in ahead.written if key not in seen_again)
    return max(0, final.unchanged - counted)
