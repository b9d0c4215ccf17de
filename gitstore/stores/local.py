"""A store in a local or network folder: the cache, and folder remotes.

Objects are written to ``tmp/`` inside the store, then renamed into
``objects/ab/cd/<oid>`` once their hash is checked, so a reader never sees a
partial object. Objects are made read-only. Documents (mutable) are written
with fsync and rename; put-if-absent uses ``os.link`` (atomic, fails if the
name exists) and put-if-version-matches holds an ``flock`` on a ``.lock``
file beside the document around compare-then-rename (the kernel drops it
when its holder dies, so a killed writer never blocks the next one; Linux
NFS clients map it to a POSIX lock on the server).
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import os
import stat as statmod
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from .. import faults, layout, partial
from ..errors import (
    IntegrityError,
    ObjectNotFoundError,
    PreconditionFailed,
    StoreError,
    StoreUnavailableError,
)
from ..hashing import Hasher, copy_and_hash, hash_bytes, new_hasher, write_all
from ..locks import FileLock
from ..partial import Journal
from . import sharing
from .base import Document, ObjectStat, Store

READ_ONLY_MODE = 0o444
COPY_BLOCK = 1 << 20  # bytes read, hashed and written at a time by read_into
# a folder remote on a network mount that went away: worth another try
_GONE = (errno.EIO, errno.ESTALE, errno.ETIMEDOUT, errno.ENOTCONN, errno.EHOSTDOWN)


def _version_of(st: os.stat_result, data: bytes) -> str:
    # inode and mtime alone can repeat (a freed inode reused within one clock tick);
    # the content digest makes a repeat harmless: same version, same bytes
    return f"{st.st_ino}-{st.st_mtime_ns}-{st.st_size}-{hash_bytes(data)[:16]}"


def read_tagged_map(path: Path, magic: str) -> dict[Any, Any] | None:
    """The map of a marshalled ``(magic, map)`` file (the state caches), or None if absent or foreign.

    These files are only caches: anything unreadable, corrupt or written by
    another format is None, and the caller starts afresh.
    """
    import marshal

    try:
        data = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if isinstance(data, tuple) and len(data) == 2 and data[0] == magic:
        if isinstance(data[1], dict):
            return data[1]
    return None


def write_tagged_map(path: Path, magic: str, data: dict[Any, Any]) -> None:
    """Write the state cache that :func:`read_tagged_map` reads; an empty map removes the file.

    Temporary file and rename, no fsync: these files are only caches (a lost
    one means work done again). OSError is swallowed for the same reason.
    """
    import marshal

    try:
        if not data:
            path.unlink(missing_ok=True)
            return
        replace_with(path, marshal.dumps((magic, data)), tmp=path.with_name(path.name + ".tmp"))
    except OSError:
        pass


def replace_with(
    path: Path, data: bytes, *, tmp: Path | None = None, sync: bool = False, shared: int = 0
) -> os.stat_result:
    """Write ``data`` to a temporary file beside ``path`` and rename it over ``path``.

    Every byte or none: a short write is carried on (a disk filling up
    writes part of a buffer before it fails), and on any failure the
    temporary file is removed and ``path`` is as it was. ``tmp``: the
    temporary name (default: :func:`tmp_beside`), truncated if it is there.
    ``sync``: fsync the file before the rename and the folder after it. The
    mode is 0o666 less the umask, as for any new file, and readable as widely
    as ``shared`` says (see :mod:`gitstore.stores.sharing`).
    Returns the stat of the written file (a rename keeps inode and mtime).
    """
    if tmp is None:
        tmp = tmp_beside(path)
    st = write_whole(tmp, data, sync=sync, flags=os.O_TRUNC, shared=shared)
    try:
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    if sync:
        fsync_dir(path.parent)
    return st


def tmp_beside(path: Path) -> Path:
    """A fresh temporary name in ``path``'s folder (a rename from it is atomic):
    ``.gitstore-<24 hex>.tmp``, 38 bytes whatever ``path``'s name is.

    Not derived from the name: ``.NAME.<hex>.tmp`` passed the 255-byte limit for
    names of 229 to 246 bytes, legal in a work tree (QA pass 15), and publish
    could not write their manifests. A hidden name ending in ``.tmp``, as before:
    :meth:`LocalStore.list_documents` skips it.
    """
    return path.with_name(f".gitstore-{os.urandom(12).hex()}.tmp")


def write_whole(
    path: Path, data: bytes, *, sync: bool, flags: int = os.O_EXCL, shared: int = 0
) -> os.stat_result:
    """Create ``path`` holding every byte of ``data`` (fsync'd if ``sync``): its fstat.

    ``shared``: the store's shared folder mode (:func:`sharing.shared_bits`);
    the file is made readable by whoever that lets into the folder.

    On any failure the file is removed: a disk that fills up writes part of
    a buffer before it fails, and a part must never be taken for the whole.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | flags, 0o666)
    try:
        try:
            if sharing.needs_chmod(shared, 0o666):
                os.fchmod(fd, sharing.file_mode(shared, 0o666 & ~sharing.umask()))
            write_all(fd, data)
            if sync:
                os.fsync(fd)
            return os.fstat(fd)
        finally:
            os.close(fd)
    except BaseException:
        _remove(path)
        raise


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:  # cleaning up: the error being handled is the one to report
        pass


def fsync_write(path: Path, data: bytes, shared: int = 0) -> os.stat_result:
    """Write ``data`` to ``path`` durably: temporary file, fsync, rename, fsync dir.

    Returns the stat of the written file (rename keeps its inode and mtime).
    ``shared``: as for :func:`replace_with`.
    """
    return replace_with(path, data, sync=True, shared=shared)


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sync_filesystem(path: Path) -> None:
    """One ``syncfs`` of the filesystem holding ``path`` (``os.sync`` elsewhere)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fd = os.open(path, os.O_RDONLY)
        try:
            if libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    except (OSError, AttributeError):
        pass
    os.sync()


def open_object(path: str, oid: str, where: str) -> tuple[int, os.stat_result]:
    """A read-only descriptor of the object file at ``path``, never through a symlink, and its fstat.

    An object is a regular file: a symlink or a folder in its place (a damaged
    store) raises IntegrityError rather than handing out the bytes it leads to.
    A FIFO is opened without blocking (an open of a FIFO waits for a writer:
    forever) and refused as well.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise IntegrityError(
                f"object {oid} in {where} is a symlink, not an object file",
                hint="run `gitstore verify --repair`",
            ) from exc
        raise
    st = os.fstat(fd)
    if not statmod.S_ISREG(st.st_mode):
        os.close(fd)
        raise IntegrityError(
            f"object {oid} in {where} is not a regular file", hint="run `gitstore verify --repair`"
        )
    os.set_blocking(fd, True)
    return fd, st


class LocalStore(Store):
    """Objects and documents in a folder; see the module docstring."""

    resumes_reads = True  # read_into takes up an interrupted copy (gitstore/partial.py)
    resume_min = 64 << 20  # objects this big are copied into a partial file a later try resumes

    def __init__(
        self,
        root: Path | str,
        *,
        read_only: bool = False,
        url: str | None = None,
        remote: bool = False,
    ):
        self.root = Path(root)
        self.read_only = read_only
        self.url = url or str(self.root)
        self._made_dirs: set[str] = set()
        self._remote = remote  # its folder is never made here (see _require_root)
        self._shared: int | None = None
        self._shared_gid = -1
        self._plain_mkdir = False  # a shared store whose folders a plain mkdir makes right
        # objects whose put took up a killed one's partial file: oid -> (bytes kept, size)
        self.resumed_uploads: dict[str, tuple[int, int]] = {}
        # a remote's folder must exist: a missing one is a share that is not
        # mounted (or moved), and reads as "no object is there" otherwise,
        # while a write would quietly make a new folder nobody else sees
        self._root_checked = not remote

    def _require_root(self) -> None:
        if self._root_checked:
            return
        try:
            st = os.stat(self.root)
        except FileNotFoundError:
            raise StoreUnavailableError(
                f"the remote folder {self.url} does not exist (not mounted, or moved?)",
                hint=None
                if self.read_only
                else f"mount the share or restore the folder; only for a new remote, create it: mkdir -p {self.root}",
            ) from None
        except OSError as exc:
            raise StoreUnavailableError(
                f"cannot reach the remote folder {self.url}: {exc.strerror}"
            ) from None
        if not statmod.S_ISDIR(st.st_mode):
            raise StoreUnavailableError(f"the remote folder {self.url} is not a folder")
        self._root_checked = True

    def never_written(self) -> bool:
        """Whether no object was ever put here (no ``objects/`` folder): a folder
        made anew where a clone's index remembers objects (see transfer.push_objects)."""
        self._require_root()
        return not os.path.isdir(self.root / "objects")

    @property
    def shared(self) -> int:
        """The mode of the folders made inside this store when its own folder is shared
        by a group (:func:`sharing.shared_bits`), else 0; read once."""
        if self._shared is None:
            self._read_sharing()
        return self._shared  # type: ignore[return-value]

    @property
    def shared_gid(self) -> int:
        """The group what is made inside must get when the store's folder is shared but
        lacks the setgid bit that would give it (else -1: nothing to change)."""
        if self._shared is None:
            self._read_sharing()
        return self._shared_gid

    def _read_sharing(self) -> None:
        try:
            st = os.stat(self.root)
        except OSError:  # not there yet: the folder gitstore makes for it is not shared
            self._shared, self._shared_gid = 0, -1
            return
        self._shared = sharing.shared_bits(st.st_mode)
        setgid = st.st_mode & statmod.S_ISGID
        self._shared_gid = st.st_gid if self._shared and not setgid else -1
        self._plain_mkdir = bool(self._shared) and sharing.plain_mkdir(
            self._shared, self._shared_gid
        )

    def make_dir(self, path: str) -> bool:
        """``os.mkdir(path)`` inside this store (its parent exists, else
        FileNotFoundError), shared as it is: whether this call made it."""
        if self.shared and not self._plain_mkdir:
            return sharing.make_one(path, self.shared, self.shared_gid)
        try:
            os.mkdir(path)
        except FileExistsError:
            return False
        return True

    def make_dirs(self, path: str | os.PathLike[str]) -> bool:
        """``os.makedirs(path, exist_ok=True)`` inside this store, shared as it is:
        whether this call made ``path``. A remote's own folder is never made: one
        that went away (a share unmounted mid-push) raises FileNotFoundError, where
        making it again would put the objects on the local disk under the mount point."""
        top = self.root if self._remote else None
        return sharing.make_dirs(path, self.shared, self.shared_gid, top=top)

    def adopt(self, fd: int) -> None:
        """A file just made inside this store: readable and grouped as the store is shared."""
        sharing.adopt(fd, self.shared, self.shared_gid)

    def write_error(self, what: str, exc: OSError) -> StoreError:
        """``what`` failed with ``exc``: the error to raise, with the folder that refused
        and how a team shares one when it was a permission."""
        if isinstance(exc, PermissionError):
            return StoreError(
                f"{what}: {exc.strerror}{sharing.refused(exc)}", hint=sharing.team_hint(self.root)
            )
        if isinstance(exc, FileNotFoundError) and self._remote and not self.root.is_dir():
            return StoreUnavailableError(
                f"{what}: the remote folder {self.url} does not exist (not mounted, or moved?)"
            )
        if exc.errno in (errno.ENOSPC, errno.EDQUOT) and self._remote:
            return StoreError(
                f"{what}: {exc.strerror}",
                hint=f"free some space in {self.root} (`gitstore gc --remote NAME` deletes what"
                " no branch needs there), then run the command again",
            )
        return StoreError(f"{what}: {exc.strerror}")

    # -- paths -------------------------------------------------------------
    def object_path(self, oid: str) -> Path:
        return self.root / layout.object_key(oid)

    def sweep_leftovers(self, older_than: float, dry_run: bool = False) -> Sequence[str]:
        swept: builtins.list[str] = []
        try:
            entries = [*os.scandir(self.tmp_dir)]
        except OSError:
            return swept
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
                # anything but a folder: a symlink or a FIFO planted at a partial
                # file's name is never used (gitstore/partial.py), and never
                # removed otherwise; but never what a push is copying now (it
                # holds the partial file's lock), nor that file's journal
                if statmod.S_ISDIR(st.st_mode) or st.st_mtime >= older_than:
                    continue
                name = entry.path.removesuffix(partial.SUFFIX)
                if entry.name.startswith(partial.PREFIX) and partial.held(name):
                    continue
                if not dry_run:
                    os.unlink(entry.path)
            except OSError:
                continue
            swept.append(f"tmp/{entry.name}")
        return swept + self.sweep_hidden_folders(older_than, dry_run)

    def sweep_hidden_folders(self, older_than: float, dry_run: bool = False) -> builtins.list[str]:
        """Remove the empty ``.gitstore-<hex>.tmp`` folders older than ``older_than``
        (and ``.NAME.XXXXXXXX.tmp``, what earlier versions named them).

        A folder of a shared store is made under such a hidden name and moved
        in (``sharing.make_one``); a process killed in between leaves it there,
        empty, never read as an object folder. Looked for where object folders
        are made: the store's top, ``objects/`` and ``objects/<ab>/``.
        """
        base = str(self.root / layout.OBJECTS)
        found = [e for e in _entries(str(self.root)) if _hidden_tmp(e.name)]
        for d1 in _entries(base):
            if _hidden_tmp(d1.name):
                found.append(d1)
            elif len(d1.name) == 2 and d1.is_dir(follow_symlinks=False):
                found += [d2 for d2 in _entries(d1.path) if _hidden_tmp(d2.name)]
        swept: builtins.list[str] = []
        for entry in found:
            try:
                st = entry.stat(follow_symlinks=False)
                if not statmod.S_ISDIR(st.st_mode) or st.st_mtime >= older_than:
                    continue
                with os.scandir(entry.path) as inside:
                    if next(inside, None) is not None:
                        continue  # not what a killed mkdir leaves: left alone
                if not dry_run:
                    os.rmdir(entry.path)
            except OSError:
                continue
            swept.append(os.path.relpath(entry.path, self.root).replace(os.sep, "/"))
        return swept

    @property
    def tmp_dir(self) -> Path:
        return self.root / layout.TMP

    def _ensure_dir(self, path: Path) -> None:
        key = str(path)
        if key in self._made_dirs:
            return
        try:
            self.make_dirs(path)
        except OSError as exc:
            raise self.write_error(f"cannot create {path} in store {self.url}", exc) from exc
        self._made_dirs.add(key)

    def new_tmp(self) -> tuple[Path, int]:
        """A fresh temporary file inside the store: (path, open descriptor)."""
        self._require_root()
        self._ensure_dir(self.tmp_dir)
        path = self.tmp_dir / os.urandom(16).hex()
        return path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)

    def install(self, tmp: Path, oid: str) -> None:
        """Rename a verified temporary file into place as object ``oid``."""
        dest = self.object_path(oid)
        self._ensure_dir(dest.parent)
        os.chmod(tmp, READ_ONLY_MODE)
        os.replace(tmp, dest)

    # -- objects -----------------------------------------------------------
    def exists(self, oids: Iterable[str]) -> set[str]:
        self._require_root()
        return {oid for oid in oids if os.path.exists(self.object_path(oid))}

    def _open_object(self, oid: str) -> tuple[int, os.stat_result]:
        self._require_root()
        try:
            return open_object(str(self.object_path(oid)), oid, self.url)
        except FileNotFoundError as exc:
            raise ObjectNotFoundError(f"object {oid} is not in {self.url}", oid=oid) from exc
        except OSError as exc:
            raise StoreError(f"cannot read object {oid} in {self.url}: {exc.strerror}") from exc

    def open(self, oid: str) -> BinaryIO:
        return os.fdopen(self._open_object(oid)[0], "rb")

    def get(self, oid: str, dest: Path) -> None:
        super().get(oid, dest)

    def read_into(
        self, oid: str, fd: int, resume: Callable[[], Journal | None] | None = None
    ) -> tuple[str, int, None]:
        """Copy object ``oid`` into ``fd`` (a new, empty file open for reading and
        writing), hashing it: (oid, size, None); a hash other than ``oid`` raises
        :class:`IntegrityError`.

        ``resume`` (see :meth:`gitstore.cache.Cache.receive_resumable`): an
        object of :attr:`resume_min` bytes or more goes into the partial file it
        gives, from where an earlier try stopped (a folder on a slow network
        mount: a killed fetch of a big object copies only the rest); the bytes
        already there are hashed with the rest, and a resumed file that does not
        hash to ``oid`` is copied again whole, once.
        """
        src, st = self._open_object(oid)
        try:
            size = st.st_size
            journal = resume() if resume is not None and size >= self.resume_min else None
            if journal is None:
                if resume is not None and os.fstat(fd).st_size:  # a retry (not truncated for us)
                    os.ftruncate(fd, 0)
                hasher = new_hasher(size)
                end = self._copy(oid, src, fd, 0, hasher, None)
                actual = str(hasher.hexdigest())
            else:
                actual, end = self._copy_resuming(oid, src, journal, size)
        finally:
            os.close(src)
        if end != size:
            raise StoreUnavailableError(
                f"object {oid} in {self.url} changed size while it was read ({end} of {size} bytes)"
            )
        if actual != oid:
            raise IntegrityError(
                f"object {oid} from {self.url} is corrupt: its bytes hash to {actual}"
            )
        return actual, size, None

    def _copy_resuming(
        self, oid: str, src: int, journal: Journal, size: int, source: str | None = None
    ) -> tuple[str, int]:
        """Fill the partial file of ``journal`` from where it stopped: (hash of it all, end)."""
        fd = journal.fd
        position = journal.begin(size, size).get(0, 0)  # one range: the whole object
        os.ftruncate(fd, size)  # begin() takes up only a file of the object's size
        hasher = new_hasher(size)
        if position:
            partial.hash_written(fd, position, hasher)
        end = self._copy(oid, src, fd, position, hasher, journal, source)
        actual = str(hasher.hexdigest())
        if actual != oid and journal.resumed:  # what the journal vouched for was lost
            journal.restart(size, size)
            os.ftruncate(fd, size)
            hasher = new_hasher(size)
            end = self._copy(oid, src, fd, 0, hasher, journal, source)
            actual = str(hasher.hexdigest())
        return actual, end

    def _copy(
        self,
        oid: str,
        src: int,
        fd: int,
        position: int,
        hasher: Hasher,
        journal: Journal | None,
        source: str | None = None,
    ) -> int:
        """Copy ``src`` from ``position`` to its end into ``fd`` at the same offsets,
        hashing it; each :data:`partial.MARK_EVERY` bytes are recorded in ``journal``.
        Where it ended. ``source``: the file ``src`` is, when it is not this
        store's object (a push reads the cache's)."""
        os.lseek(src, position, os.SEEK_SET)

        def read(buf: bytearray) -> int:
            try:
                return os.readv(src, [buf])
            except OSError as exc:
                if source is not None:
                    raise StoreError(f"cannot read {source}: {exc.strerror}") from exc
                # the remote's side (a network mount), not the cache's
                error = StoreUnavailableError if exc.errno in _GONE else StoreError
                raise error(f"cannot read object {oid} in {self.url}: {exc.strerror}") from exc

        start = position
        position = partial.write_blocks(
            read, fd, position, hasher=hasher, journal=journal, buf=bytearray(COPY_BLOCK)
        )
        if position > start:
            from .. import writeback  # its ctypes import costs every command's start-up

            writeback.start(fd, position - start)
        return position

    def put(self, oid: str, src: Path) -> None:
        """Copy ``src`` in as object ``oid``, hashed on the way; an object of
        :attr:`resume_min` bytes or more goes through ``tmp/partial-<oid>``, so that a
        push killed part-way (a NAS that went away) copies only the rest next time."""
        self._refuse_write()
        self._require_root()
        if os.path.exists(self.object_path(oid)):
            return
        try:
            size = os.stat(src).st_size
        except OSError as exc:
            raise StoreError(f"cannot read {src}: {exc.strerror}") from exc
        if size >= self.resume_min and self._put_resuming(oid, src, size):
            return
        try:
            tmp, fd = self.new_tmp()
        except OSError as exc:
            raise self.write_error(f"cannot write object {oid} to {self.url}", exc) from exc
        try:
            try:
                faults.object_write(tmp)
                actual, _, _ = copy_and_hash(Path(src), fd)
            finally:
                os.close(fd)
            if actual != oid:
                raise IntegrityError(f"{src} does not hash to {oid} (got {actual}); not stored")
            self.install(tmp, oid)
        except OSError as exc:
            raise self.write_error(f"cannot write object {oid} to {self.url}", exc) from exc
        finally:
            tmp.unlink(missing_ok=True)

    def _put_resuming(self, oid: str, src: Path, size: int) -> bool:
        """:meth:`put` through the partial file a killed push left (made if absent);
        False when another process holds it (then a temporary file of our own is used).

        As for a download (gitstore/partial.py): the journal beside it says how
        far the copy got; the bytes found there are hashed with the rest, and a
        file that does not hash to ``oid`` is copied again whole, once; after
        that the cache's copy is what is wrong, and the partial file is removed.
        """
        what = f"cannot write object {oid} to {self.url}"
        path = f"{self.tmp_dir}/{partial.PREFIX}{oid}"
        try:
            self._ensure_dir(self.tmp_dir)
            fd = partial.open_locked(path)
        except OSError as exc:
            raise self.write_error(what, exc) from exc
        if fd is None:  # another push is at it, or another user's (0600): not ours
            return False
        journal = Journal(f"{path}{partial.SUFFIX}", fd)
        try:
            try:
                sfd = os.open(src, os.O_RDONLY)
            except OSError as exc:
                raise StoreError(f"cannot read {src}: {exc.strerror}") from exc
            try:
                actual, end = self._copy_resuming(oid, sfd, journal, size, source=str(src))
            finally:
                os.close(sfd)
            if end != size or actual != oid:
                journal.remove()
                _remove(Path(path))
                raise IntegrityError(f"{src} does not hash to {oid} (got {actual}); not stored")
            faults.object_write(path)
            if not _same_file(path, fd):  # removed under us, and another file made there
                return False  # (then copied through a temporary file of our own)
            journal.remove()  # before the rename, as the cache does (Cache.receive_resumable)
            try:
                self.install(Path(path), oid)
            except (OSError, StoreError):
                with contextlib.suppress(OSError):  # the next push takes it up as it is
                    os.fchmod(fd, 0o600)
                    journal.complete(size)
                raise
            if journal.resumed:
                self.resumed_uploads[oid] = (journal.resumed, size)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                journal.remove()  # the share needs the space more than a head start
                _remove(Path(path))
            if exc.errno in _GONE:  # a mount that went away: worth another try, which resumes
                raise StoreUnavailableError(f"{what}: {exc.strerror}") from exc
            raise self.write_error(what, exc) from exc
        finally:
            journal.close()
            os.close(fd)
        return True

    def stat(self, oid: str) -> ObjectStat:
        self._require_root()
        try:
            st = os.stat(self.object_path(oid))
        except FileNotFoundError as exc:
            raise ObjectNotFoundError(f"object {oid} is not in {self.url}", oid=oid) from exc
        return ObjectStat(size=st.st_size, mtime=st.st_mtime)

    def list(self) -> Iterator[str]:
        self._require_root()
        base = self.root / layout.OBJECTS
        try:
            level1 = os.scandir(base)
        except FileNotFoundError:
            return
        with level1:
            for d1 in level1:
                if len(d1.name) != 2 or not d1.is_dir():
                    continue
                for d2 in _entries(d1.path):  # a gc may remove an emptied folder meanwhile
                    if len(d2.name) != 2 or not d2.is_dir():
                        continue
                    for f in _entries(d2.path):
                        if layout.is_oid(f.name) and f.name.startswith(d1.name + d2.name):
                            yield f.name

    def delete(self, oid: str) -> None:
        self._refuse_write()
        try:
            self.object_path(oid).unlink(missing_ok=True)
        except OSError as exc:
            raise self.write_error(f"cannot delete object {oid} from {self.url}", exc) from exc

    def touch(self, oid: str) -> None:
        self._refuse_write()
        try:
            os.utime(self.object_path(oid))
        except FileNotFoundError:
            raise ObjectNotFoundError(f"object {oid} is not in {self.url}", oid=oid) from None

    def sync(self) -> None:
        """Make every object written so far durable (one syncfs)."""
        if self.root.exists():
            sync_filesystem(self.root)

    # -- documents ---------------------------------------------------------
    def _doc_path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") for p in parts) or key.startswith("/"):
            raise StoreError(f"invalid document key {key!r} for {self.url}")
        return self.root.joinpath(*parts)

    def read_document(self, key: str) -> Document | None:
        self._require_root()
        path = self._doc_path(key)
        try:
            with open(path, "rb") as f:
                data = f.read()
                st = os.fstat(f.fileno())
        except (FileNotFoundError, NotADirectoryError):
            return None
        return Document(data=data, version=_version_of(st, data))

    def put_document(
        self,
        key: str,
        data: bytes,
        *,
        if_absent: bool = False,
        if_version: str | None = None,
    ) -> str:
        self._refuse_write()
        self._require_root()
        path = self._doc_path(key)
        self._ensure_dir(path.parent)
        try:
            if if_absent:
                return self._put_if_absent(path, key, data)
            if if_version is not None:
                with self._doc_lock(path, key):
                    current = self.read_document(key)
                    if current is None or current.version != if_version:
                        raise PreconditionFailed(f"{key} in {self.url} changed since it was read")
                    st = fsync_write(path, data, self.shared)
            else:
                st = fsync_write(path, data, self.shared)
        except OSError as exc:  # a full disk, a read-only mount: nothing was written
            raise self.write_error(f"cannot write {key} to {self.url}", exc) from exc
        # the stat of what we wrote, not of the path: another writer may follow at once
        return _version_of(st, data)

    def _put_if_absent(self, path: Path, key: str, data: bytes) -> str:
        tmp = tmp_beside(path)
        st = write_whole(tmp, data, sync=True, shared=self.shared)  # a link keeps inode and mtime
        try:
            with self._doc_lock(path, key):
                os.link(tmp, path)
        except FileExistsError as exc:
            raise PreconditionFailed(f"{key} already exists in {self.url}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        fsync_dir(path.parent)
        # not os.stat(path): a writer that read our version may have replaced it already
        return _version_of(st, data)

    def _doc_lock(self, path: Path, key: str) -> FileLock:
        # flock, not an O_EXCL file: the kernel releases it when a writer dies,
        # so a killed publisher never leaves a lock that blocks the next one
        return FileLock(
            path.with_name(path.name + ".lock"), f"{key} in {self.url}", timeout=10.0, store=self
        )

    def _forget_probe(self, key: str) -> None:
        # a probe's key is random and this writer's alone: no one else can
        # hold or wait on its lock file (which a shared key's must keep)
        path = self._doc_path(key)
        with contextlib.suppress(OSError):
            path.with_name(path.name + ".lock").unlink()

    def delete_document(self, key: str) -> None:
        self._refuse_write()
        try:
            self._doc_path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot delete {key} in {self.url}: {exc.strerror}") from exc

    def list_documents(self, prefix: str) -> Iterator[str]:
        base = self._doc_path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if not base.is_dir():
            return
        for dirpath, _dirnames, filenames in os.walk(base):
            for name in filenames:
                if name.endswith((".tmp", ".lock")) and name.startswith("."):
                    continue
                if name.endswith(".lock"):
                    continue
                full = Path(dirpath, name)
                yield full.relative_to(self.root).as_posix()


def _same_file(path: str, fd: int) -> bool:
    """Whether ``path`` still names the file open at ``fd``."""
    try:
        there, held = os.lstat(path), os.fstat(fd)
    except OSError:
        return False
    return (there.st_ino, there.st_dev) == (held.st_ino, held.st_dev)


def _hidden_tmp(name: str) -> bool:
    """A name ``sharing.make_one`` gives a folder before moving it in."""
    return name.startswith(".") and name.endswith(".tmp")


def _entries(folder: str) -> list[os.DirEntry[str]]:
    """The entries of ``folder``; none when it is gone (removed while a listing ran)."""
    try:
        with os.scandir(folder) as it:
            return list(it)
    except (FileNotFoundError, NotADirectoryError):
        return []
