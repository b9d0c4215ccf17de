"""The cache: the local store every checkout is served from, and its policy.

It lives at ``$XDG_CACHE_HOME/gitstore`` unless configured elsewhere and is
shared by all of a user's repositories (``repos/`` records which ones use it,
so ``gc`` never deletes what another repository still needs). Objects are
read-only files. Ingesting a workspace file hashes it while copying it into
``tmp/`` and renames it into place: one pass over the bytes. Materialising
uses the configured link modes in order (reflink, hardlink, symlink, copy);
the workspace file is written to a temporary name beside its destination and
renamed, so an interrupted checkout leaves no half-written file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import itertools
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Literal

from . import faults, layout, partial
from .errors import IntegrityError, ObjectNotFoundError, StoreError
from .hashing import (
    SMALL,
    copy_and_hash,
    hash_bytes,
    is_sparse,
    open_source,
    read_small,
    write_all,
    write_sparse,
)
from .locks import FileLock, lock_timeout
from .partial import Journal
from .stores import sharing
from .stores.local import READ_ONLY_MODE, LocalStore, fsync_dir, fsync_write, open_object

FICLONE = 0x40049409
GENERATION_FILE = "gc-generation"
_HEX = "0123456789abcdef"
COPY_CHUNK = 8 << 20
FSYNC_MAX = 32  # sync() fsyncs up to this many new objects one by one, else one syncfs


BAD = "bad"  # corrupt objects that verify --repair could not mend, kept for the user


class Cache:
    def __init__(self, root: Path, link: Sequence[str] = ("reflink", "copy")):
        self.root = Path(root)
        self.store = LocalStore(self.root)
        self.link = tuple(link)
        self.wrote_objects = False  # whether sync() has work to do
        # why this repository could not be registered (see register_repo), if so
        self.unregistered: str | None = None
        self._unregistered_errno: int | None = None
        # hot paths build object and temporary names as strings (pathlib costs
        # ~10 us a name, which is most of a small file's budget)
        self._root_s = str(self.root)
        self._tmp_prefix = f"{self.store.tmp_dir}/{os.urandom(8).hex()}-"
        self._tmp_count = itertools.count()
        self._claimed = -1  # the fork generation whose writer lock holds _tmp_prefix
        self._prefix_pid = os.getpid()  # a forked child makes its own prefix
        self._no_reflink: set[int] = set()  # devices where a reflink failed: copy there
        self._no_tmpfile: set[int] = set()  # devices without O_TMPFILE: temporary names there
        self._probed: set[int] = set()  # devices where a reflink was tried by copies_in
        self._device_of: dict[str, int] = {}  # folder -> st_dev, one stat a folder
        self._folders: set[str] = set()  # object folders known to exist
        # what sync() must make durable when few objects were written: the
        # objects and the folders whose entries changed (None: too many, syncfs)
        self._unsynced: list[str] | None = []
        self._unsynced_dirs: set[str] = set()
        self._unreadable: bool | None = None  # whether new objects need a chmod (shared cache)

    # -- queries -------------------------------------------------------------
    def path(self, oid: str) -> Path:
        return self.store.object_path(oid)

    def has(self, oid: str) -> bool:
        return os.path.exists(self._obj(oid))

    def exists(self, oids: Iterable[str]) -> set[str]:
        return {oid for oid in oids if os.path.exists(self._obj(oid))}

    def check_object(self, oid: str) -> None:
        """IntegrityError unless object ``oid`` is a regular file (not a symlink or a folder)."""
        try:
            st = os.lstat(self._obj(oid))
        except FileNotFoundError:
            raise ObjectNotFoundError(f"object {oid} is not in the cache", oid=oid) from None
        if not stat.S_ISREG(st.st_mode):
            what = (
                "a symlink"
                if stat.S_ISLNK(st.st_mode)
                else "a folder"
                if stat.S_ISDIR(st.st_mode)
                else "a special file"
            )
            raise IntegrityError(
                f"object {oid} in the cache is {what}, not an object file",
                hint="run `gitstore verify --repair`",
            )

    def sizes(self, oids: Iterable[str]) -> dict[str, int]:
        """The size of each of ``oids`` that is in the cache."""
        out = {}
        for oid in oids:
            try:
                out[oid] = os.stat(self._obj(oid)).st_size
            except OSError:
                continue
        return out

    def _obj(self, oid: str) -> str:
        """The object's path as a string (the same place as ``path(oid)``).

        Checks the oid as ``layout.object_key`` does, without a regex: it is
        on the per-file path of checkout.
        """
        if type(oid) is not str or len(oid) != layout.OID_LEN or oid.strip(_HEX):
            raise ValueError(f"not an oid: {oid!r}")
        return f"{self._root_s}/{layout.OBJECTS}/{oid[0:2]}/{oid[2:4]}/{oid}"

    # -- writing -------------------------------------------------------------
    def ingest(self, src: str | Path) -> tuple[str, int, os.stat_result]:
        """Hash ``src`` and make sure its object is cached: (oid, size, stat of src)."""
        fd, st = open_source(src)
        try:
            if st.st_size < SMALL:
                data = read_small(src, fd, st)
                oid = hash_bytes(data)
                self._put_bytes(oid, data)
                return oid, len(data), st
        finally:
            os.close(fd)
        return self._ingest_large(src)

    def _put_bytes(self, oid: str, data: bytes) -> None:
        dest = self._obj(oid)
        try:
            # in a folder made just now nothing can be there yet: no utime that fails
            if not self._make_folder(os.path.dirname(dest)) and self._touch_if_present(dest):
                return
        except OSError as exc:
            raise self.store.write_error(
                f"cannot write object {oid} to the cache {self.root}", exc
            ) from exc
        tmp, fd = self._new_tmp()
        try:
            try:
                faults.object_write(tmp)
                write_all(fd, data)
            finally:
                os.close(fd)
            self._install(tmp, dest)
        except OSError as exc:
            _unlink(tmp)
            raise self.store.write_error(
                f"cannot write object {oid} to the cache {self.root}", exc
            ) from exc

    def _ingest_large(self, src: str | Path) -> tuple[str, int, os.stat_result]:
        tmp, fd = self._new_tmp()
        try:
            try:
                faults.object_write(tmp)
                oid, size, st = copy_and_hash(src, fd)
            finally:
                os.close(fd)
            dest = self._obj(oid)
            if self._touch_if_present(dest) and not _sparser(tmp, dest):
                os.unlink(tmp)
            else:
                # new, or the same bytes with holes where the cached copy has
                # none: the sparse copy takes its place (a rename: readers see
                # one or the other, both whole)
                self._install(tmp, dest)
            return oid, size, st
        except OSError as exc:
            raise StoreError(
                f"cannot write {src} to the cache {self.root}: {exc.strerror}"
            ) from exc
        finally:
            _unlink(tmp)

    def _touch_if_present(self, dest: str | Path) -> bool:
        """True when the object exists; its age is refreshed for gc's grace period."""
        try:
            os.utime(dest)
            return True
        except FileNotFoundError:
            return False
        except OSError as exc:
            if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM) and os.path.exists(dest):
                return True  # a cache that cannot be written cannot be collected either
            raise
        except PermissionError:
            return os.path.exists(dest)

    def _claim_tmp(self) -> None:
        """Hold a writer lock on this process's temporary names (:func:`claim_writer`),
        and remove what writers that died (kill -9, a crash) left in ``tmp/``."""
        if self._prefix_pid != os.getpid():  # a forked child: its own names, not its parent's
            self._tmp_prefix = f"{self.store.tmp_dir}/{os.urandom(8).hex()}-"
            self._tmp_count = itertools.count()
            self._prefix_pid = os.getpid()
        self._claimed = _forks[0]
        writers = f"{self._root_s}/{WRITERS}"
        try:
            self.store.make_dirs(self.store.tmp_dir)
            self.store.make_dirs(writers)
        except OSError:
            return  # the write that follows reports it
        name = self._tmp_prefix.rsplit("/", 1)[1][:-1]
        shared = self.store.shared  # its users' sweeps must be able to read the lock
        mode = sharing.file_mode(shared, READ_ONLY_MODE & ~sharing.umask()) if shared else None
        claim_writer(self._root_s, name, mode)
        sweep_dead_writers(self._root_s)

    def _new_tmp(self) -> tuple[str, int]:
        if self._claimed != _forks[0]:
            self._claim_tmp()
        # unique per process (random prefix) and per call (counter): no urandom per file
        path = f"{self._tmp_prefix}{next(self._tmp_count)}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        try:
            try:
                fd = os.open(path, flags, READ_ONLY_MODE)
            except FileNotFoundError:
                self.store.make_dirs(self.store.tmp_dir)
                fd = os.open(path, flags, READ_ONLY_MODE)
        except OSError as exc:
            raise self.store.write_error(f"cannot write to the cache {self.root}", exc) from exc
        if self._unreadable is not False:
            self._readable(fd)
        return path, fd

    def _readable(self, fd: int) -> None:
        """Let every user of a shared cache read a new object (a restrictive umask would not)."""
        if self._unreadable is None:
            self._unreadable = sharing.needs_chmod(self.store.shared, READ_ONLY_MODE)
        if self._unreadable:
            os.fchmod(fd, sharing.file_mode(self.store.shared, READ_ONLY_MODE & ~sharing.umask()))

    def _make_folder(self, folder: str) -> bool:
        """Make sure an object folder exists; True when this call made it."""
        if folder in self._folders:
            return False
        # a fresh cache makes a folder for most new objects: mkdir first
        # rather than a rename that fails, a stat and a mkdir
        try:
            # in a shared cache, made whole before it appears (stores/sharing.py)
            made = self.store.make_dir(folder)
            if made:
                self._unsynced_dirs.add(os.path.dirname(folder))
        except FileNotFoundError:
            made = True
            self.store.make_dirs(folder)
            self._unsynced_dirs.add(os.path.dirname(folder))
            self._unsynced_dirs.add(os.path.dirname(os.path.dirname(folder)))
        self._folders.add(folder)
        return made

    def _install(self, tmp: str | Path, dest: str | Path) -> None:
        folder = os.path.dirname(dest)
        self._make_folder(folder)
        try:
            os.rename(tmp, dest)
        except FileNotFoundError:  # the folder went away meanwhile (gc)
            self.store.make_dirs(folder)
            self._unsynced = None
            os.rename(tmp, dest)
        self.wrote_objects = True
        unsynced = self._unsynced
        if unsynced is not None:
            if len(unsynced) < FSYNC_MAX:
                unsynced.append(os.fspath(dest))
            else:
                self._unsynced = None

    # -- the gc generation ----------------------------------------------------
    def _generation_path(self) -> str:
        return f"{self._root_s}/{GENERATION_FILE}"

    def generation(self) -> str | None:
        """The cache's gc generation: a token that changes before gc deletes any object.

        While it is unchanged, an object once seen in the cache is still there
        (the stat cache relies on it so that ``track`` need not stat every
        object again). It is a random token kept in the cache's root, with
        the inode of ``objects/`` appended, so that removing that folder
        changes it too. Created on first use; None when it cannot be (a
        read-only cache): then nothing may be taken as present unseen.
        Read under the cache lock, shared or exclusive.
        """
        path = self._generation_path()
        try:
            with open(path, "rb") as f:
                token = f.read(64).decode("ascii", "replace").strip()
            objects = os.stat(f"{self._root_s}/{layout.OBJECTS}")
            return f"{token}:{objects.st_dev}:{objects.st_ino}" if token else None
        except FileNotFoundError:
            if os.path.exists(path):
                return None  # no objects/ yet
        except OSError:
            return None
        try:
            tmp, fd = self._new_tmp()
        except StoreError:
            return None
        try:
            try:
                write_all(fd, os.urandom(16).hex().encode())
            finally:
                os.close(fd)
            self.store.make_dirs(f"{self._root_s}/{layout.OBJECTS}")
            try:
                os.link(tmp, path)  # create if absent: another writer may win the race
            except FileExistsError:
                pass
        except OSError:
            return None
        finally:
            _unlink(tmp)
        return self.generation() if os.path.exists(path) else None

    def new_generation(self) -> None:
        """Change the gc generation, durably: call before deleting any object (gc holds the lock)."""
        path = self._generation_path()
        folder = os.path.dirname(path)
        tmp = f"{folder}/.{GENERATION_FILE}.{os.urandom(6).hex()}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                self.store.adopt(fd)
                write_all(fd, os.urandom(16).hex().encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            dfd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as exc:
            _unlink(tmp)
            # a full disk is when gc is needed most: removing the token
            # changes the generation too (a new one is made at next use)
            try:
                os.unlink(path)
                fsync_dir(Path(folder))
            except FileNotFoundError:
                pass
            except OSError:
                raise StoreError(
                    f"cannot update {path} before deleting objects: {exc.strerror}"
                ) from exc

    def adopt_verified(self, tmp: Path, oid: str) -> None:
        """Move a temporary file already checked to hash to ``oid`` into the cache."""
        faults.object_write(tmp)
        os.chmod(tmp, READ_ONLY_MODE)
        self._install(tmp, self.store.object_path(oid))

    def _new_tmp_rw(self) -> tuple[str, int]:
        """A new read-only temporary file, open read-write (a filler may hash it back)."""
        if self._claimed != _forks[0]:
            self._claim_tmp()
        tmp = f"{self._tmp_prefix}{next(self._tmp_count)}"
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL
        try:
            fd = os.open(tmp, flags, READ_ONLY_MODE)
        except FileNotFoundError:
            self.store.make_dirs(self.store.tmp_dir)
            fd = os.open(tmp, flags, READ_ONLY_MODE)
        if self._unreadable is not False:
            self._readable(fd)
        return tmp, fd

    def receive(self, oid: str, fill: Callable[[int], str]) -> None:
        """Let ``fill`` write object ``oid`` into a new temporary file; install it if it verifies.

        ``fill(fd)`` writes the bytes to ``fd`` (opened read-write, from its
        start: a retry must truncate first) and returns their BLAKE3, computed
        as they were written; an OSError opening the file is the caller's to report.
        The temporary name is a counter (no random name per object) and the
        file is created read-only (no chmod). Only when the hash is ``oid`` is
        it renamed into ``objects/``; otherwise, or on any error, it is removed
        and never visible in the cache.
        """
        self.receive_resumable(oid, lambda fd, _resume: fill(fd))

    def receive_resumable(
        self, oid: str, fill: Callable[[int, Callable[[], Journal | None]], str]
    ) -> None:
        """:meth:`receive`, for a filler that may switch to a resumable partial file.

        ``fill(fd, resume)`` writes into ``fd`` as ``fill(fd)`` does for
        :meth:`receive`; once it
        knows the object is big enough to be worth resuming, it may call
        ``resume()``, which gives it the :class:`~gitstore.partial.Journal` of
        ``tmp/partial-<oid>`` (its ``fd`` is where the bytes go from then on),
        or None when another process holds that file (the filler goes on
        with ``fd``). A partial file is kept when the download fails for any
        reason but a wrong hash, a full disk or an I/O error of the cache's
        disk, for the next fetch to resume.
        """
        journals: list[Journal] = []

        def resume() -> Journal | None:
            if journals:  # a retry: the same file, taken up where the last try stopped
                return journals[-1]
            path = f"{self.store.tmp_dir}/{partial.PREFIX}{oid}"
            part = partial.open_locked(path)
            if part is None:
                return None
            journals.append(partial.Journal(f"{path}{partial.SUFFIX}", part))
            _unlink(tmp)  # unused from now on: a kill leaves only the partial file
            return journals[-1]

        dest = self._obj(oid)
        tmp, fd = self._new_tmp_rw()
        installed = False
        try:
            try:
                actual = fill(fd, resume)
            finally:
                os.close(fd)
            if actual != oid:
                raise IntegrityError(f"object {oid} arrived corrupt: its bytes hash to {actual}")
            if journals:
                journal = journals[-1]
                done = journal.path.removesuffix(partial.SUFFIX)
                faults.object_write(done)
                os.fchmod(journal.fd, READ_ONLY_MODE)
                # the journal goes first, while the lock keeps every other fetch
                # off it: once the file is renamed, a new fetch of the object may
                # make a partial file and journal of its own at the same names
                journal.remove()
                self._install(done, dest)  # still locked: no other writer is at it
            else:
                faults.object_write(tmp)
                self._install(tmp, dest)
                installed = True
        except IntegrityError:
            for journal in journals:
                _discard(journal)
            raise
        except OSError as exc:
            # a full disk: the user needs the space more than a head start; an
            # I/O error: what the disk holds of the file cannot be read back
            # (each resume would fail on it again), so the next fetch starts over
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO):
                for journal in journals:
                    _discard(journal)
            raise
        finally:
            if not installed and not journals:  # (a partial file's took its place)
                _unlink(tmp)
            for journal in journals:
                journal.close()
                os.close(journal.fd)

    def materialise_bytes(
        self, data: bytes, dest: str, executable: bool
    ) -> tuple[bool, os.stat_result | None]:
        """Write an object's verified bytes at ``dest`` as :meth:`materialise` would copy them.

        Only where the configured link modes would end in a copy (no reflink,
        hard link or symlink to try first); (False, None), with nothing done,
        otherwise. Written to a temporary name beside ``dest`` and renamed, as
        a copy is. (True, its lstat) when the file at ``dest`` is certainly the
        one written (inode, size and mtime as written), else (True, None).
        """
        head, name = os.path.split(dest)
        for mode in self.link:
            if mode == "copy":
                break
            if mode != "reflink" or self._device(head) not in self._no_reflink:
                return False, None
        else:
            return False, None
        tmp = f"{head}/{tmp_name(name)}"
        fd = _create(tmp, executable)
        try:
            try:
                write_all(fd, data)
                before = os.fstat(fd)
            finally:
                os.close(fd)
            os.replace(tmp, dest)
        except BaseException:
            _unlink(tmp)
            raise
        after = os.lstat(dest)
        same = (after.st_ino, after.st_size, after.st_mtime_ns) == (
            before.st_ino,
            before.st_size,
            before.st_mtime_ns,
        )
        return True, after if same else None

    def sync(self) -> None:
        """One batch sync of everything written: call before writing a manifest."""
        if self.wrote_objects:
            if self._unsynced is None or not self._fsync_each(self._unsynced):
                self.store.sync()
            self.wrote_objects = False
            self._unsynced = []
            self._unsynced_dirs = set()

    def _fsync_each(self, paths: list[str]) -> bool:
        """fsync a few objects and their folders: far cheaper than syncfs on a busy disk."""
        try:
            for path in paths:
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            for folder in {os.path.dirname(p) for p in paths} | self._unsynced_dirs:
                fd = os.open(folder, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError:
            return False  # the filesystem-wide sync instead
        return True

    # -- materialising -------------------------------------------------------
    def materialise(
        self,
        oid: str,
        dest: str | Path,
        executable: bool,
        link: Sequence[str] | None = None,
        *,
        expect: os.stat_result | None = None,
        size: int | None = None,
    ) -> os.stat_result | None:
        """Write object ``oid`` at ``dest`` (replacing what is there) with the given mode.

        A copy or reflink is written to a temporary name beside ``dest`` and
        renamed; a hard link or symlink is made at ``dest`` directly when
        nothing is there (a link appears whole or not at all). A folder at
        ``dest`` raises IsADirectoryError.

        ``expect``: the lstat of the file at ``dest`` when the caller decided
        to replace it; if the file changed since (the user saved it while the
        copy ran), nothing is replaced and :class:`DestinationChanged` is
        raised. ``size``: the size the manifest gives the object; an object of
        another size (a hard-linked copy edited in place) raises
        IntegrityError. Returns the new file's lstat when it is certainly the
        file written (same inode, size and mtime as before the rename: no edit
        came in between), for the stat cache; None otherwise.
        """
        src = self._obj(oid)
        dest_s = os.fspath(dest)
        if expect is None and not os.path.lexists(dest_s):
            # nothing there (pull's early writes): an unnamed file, named once whole, so
            # that a process killed while copying a big object leaves no half-written
            # ``.NAME.gitstore-tmp`` for `git status` to offer (QA pass 11)
            self.copies_in(os.path.dirname(dest_s), link, oid)  # reflinks tried once, unseen
            new = self.copy_new(oid, dest_s, executable, link, size)
            if new is not False:
                return new
        head, name = os.path.split(dest_s)
        tmp = os.path.join(head, tmp_name(name))
        before: os.stat_result | None = None  # the temporary file as written
        for mode in link or self.link:
            try:
                if mode == "reflink" and self._device(head) not in self._no_reflink:
                    if self._reflink(src, tmp, executable):
                        break
                    # a filesystem without reflinks says so for every folder on it
                    self._no_reflink.add(self._device(head))
                if mode == "hardlink":
                    made = self._hardlink(src, tmp, executable, dest_s)
                    if made == "dest":
                        return os.lstat(dest_s)
                    if made == "tmp":
                        break
                if mode == "symlink":
                    try:  # a link to nothing, or to an object edited in place, is no checkout
                        os.close(open_object(src, oid, "the cache")[0])  # not itself a symlink
                        have = os.stat(src).st_size
                    except FileNotFoundError:
                        raise ObjectNotFoundError(
                            f"object {oid} is not in the cache", oid=oid
                        ) from None
                    if size is not None:
                        check_size(oid, have, size)
                    try:
                        os.symlink(src, dest_s)
                        return None
                    except FileExistsError:
                        pass
                    _unlink(tmp)
                    os.symlink(src, tmp)
                    break
                if mode == "copy":
                    before = self._copy(src, tmp, executable, oid, size)
                    break
            except FileNotFoundError as exc:
                if not os.path.exists(src):
                    raise ObjectNotFoundError(f"object {oid} is not in the cache", oid=oid) from exc
                raise
        else:
            before = self._copy(src, tmp, executable, oid, size)
        try:
            if before is None:
                before = os.lstat(tmp)
            if expect is not None:
                faults.user_edit(dest_s, "before")
                if _changed_since(dest_s, expect):
                    raise DestinationChanged(dest_s)
            os.replace(tmp, dest_s)
        except BaseException:
            _unlink(tmp)
            raise
        if expect is not None:
            faults.user_edit(dest_s, "after")
        after = os.lstat(dest_s)
        same = (after.st_ino, after.st_size, after.st_mtime_ns)
        return after if same == (before.st_ino, before.st_size, before.st_mtime_ns) else None

    @property
    def links_prefix(self) -> str:
        """What the target of every symlink ``checkout --link symlink`` makes starts with."""
        return f"{self._root_s}/{layout.OBJECTS}/"

    def oid_of_link(self, path: str) -> str | None:
        """The object a symlink made by ``checkout --link symlink`` points at; None for any other."""
        try:
            target = os.readlink(path)
        except OSError:
            return None
        oid = os.path.basename(target)
        try:
            if target != self._obj(oid) or not os.path.isfile(target):
                return None
        except ValueError:  # not an object's name
            return None
        return oid

    def _device(self, folder: str) -> int:
        dev = self._device_of.get(folder)
        if dev is None:
            try:
                dev = os.stat(folder).st_dev
            except OSError:
                dev = -1  # tried, and the error comes again from the write itself
            self._device_of[folder] = dev
        return dev

    def link_new(self, oid: str, dest: str, executable: bool) -> os.stat_result | None:
        """Hard-link object ``oid`` at ``dest`` where nothing is yet: the new file's lstat.

        None when a hard link cannot serve (something at ``dest``, another
        filesystem, an executable bit that differs from the object's): the
        caller then uses :meth:`materialise`. Two system calls a file, as
        ``cp -al``: the link, and the lstat that both checks the mode and
        feeds the stat cache.
        """
        src = self._obj(oid)
        try:
            os.link(src, dest)
        except FileNotFoundError as exc:
            if not os.path.exists(src):
                raise ObjectNotFoundError(f"object {oid} is not in the cache", oid=oid) from exc
            raise
        except OSError as exc:
            if exc.errno in (
                errno.EEXIST,
                errno.EXDEV,
                errno.EPERM,
                errno.EMLINK,
                errno.EOPNOTSUPP,
            ):
                return None
            raise
        st = os.lstat(dest)
        if executable != bool(st.st_mode & 0o111):
            os.unlink(dest)  # the object's mode is not the file's: a copy instead
            return None
        return st

    def copy_new(
        self,
        oid: str,
        dest: str,
        executable: bool,
        link: Sequence[str] | None = None,
        size: int | None = None,
    ) -> os.stat_result | None | Literal[False]:
        """Copy object ``oid`` to ``dest`` where nothing is yet: the new file's stat.

        The copy is written to an unnamed file (``O_TMPFILE``) in ``dest``'s
        folder and given its name with ``linkat``: like a temporary file and a
        rename, the file appears whole or not at all, but with no temporary
        name to create and rename (about a third of the cost of a 4 KiB
        copy). A file that appeared at ``dest`` meanwhile is left alone
        (:class:`DestinationChanged`). False, with nothing done, when the link
        modes would not end in a plain copy here or the filesystem (or a
        missing ``/proc``) does not allow it: the caller then uses
        :meth:`materialise`. Returns the fstat taken after the link when no
        edit came in between (size and mtime as written), else None.
        """
        head = os.path.dirname(dest)
        proc = _proc_fd()
        if proc < 0 or not self._copies_in(head, link or self.link):
            return False
        if self._device(head) in self._no_tmpfile:
            return False
        src = self._obj(oid)
        try:
            sfd, sst = open_object(src, oid, "the cache")
        except FileNotFoundError as exc:
            raise ObjectNotFoundError(f"object {oid} is not in the cache", oid=oid) from exc
        try:
            have = sst.st_size
            if size is not None:
                check_size(oid, have, size)
            try:
                dfd = os.open(head, _TMPFILE_FLAGS, 0o777 if executable else 0o666)
            except FileNotFoundError:
                return False  # no folder: materialise says so as it always has
            except OSError as exc:
                if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                    self._no_tmpfile.add(self._device(head))
                    return False
                raise
            try:
                if have < SMALL:
                    write_all(dfd, os.read(sfd, have))
                else:
                    _copy_range(sfd, dfd, have, is_sparse(sst))
                before = os.fstat(dfd)
                faults.user_create(dest)
                try:
                    os.link(str(dfd), dest, src_dir_fd=proc, follow_symlinks=True)
                except FileExistsError as exc:
                    raise DestinationChanged(dest) from exc
                after = os.fstat(dfd)
            finally:
                os.close(dfd)
        finally:
            os.close(sfd)
        return (
            after
            if (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
            else None
        )

    def copy_into_new_folder(
        self, oid: str, dest: str, executable: bool, size: int | None = None
    ) -> os.stat_result:
        """Copy object ``oid`` to ``dest``, created in a folder that only this process can know.

        For a folder that a checkout fills out of sight and renames into place
        whole (see ``Checkout``): no temporary name, no rename and no check
        for an edit, as nothing else can be there. The new file's fstat.
        """
        try:
            return self._copy(self._obj(oid), dest, executable, oid, size, _create_new)
        except FileNotFoundError as exc:
            if not os.path.exists(self._obj(oid)):
                raise ObjectNotFoundError(f"object {oid} is not in the cache", oid=oid) from exc
            raise

    def copies_in(
        self, folder: str, link: Sequence[str] | None = None, probe: str | None = None
    ) -> bool:
        """Whether the link modes end in a plain copy in ``folder`` (no link to try first).

        With reflink first, whether this filesystem takes reflinks is known
        once one was tried; ``probe``, an oid, lets one be tried now (into an
        unnamed file that vanishes) rather than at the first file written.
        """
        link = link or self.link
        dev = self._device(folder)
        if probe is not None and link[:1] == ("reflink",) and dev not in self._no_reflink:
            if dev not in self._probed:
                self._probed.add(dev)
                self._probe_reflink(folder, probe)
        return self._copies_in(folder, link)

    def _probe_reflink(self, folder: str, oid: str) -> None:
        try:
            sfd = os.open(self._obj(oid), os.O_RDONLY)
        except OSError:
            return
        try:
            dfd = os.open(folder, _TMPFILE_FLAGS, 0o600)
        except OSError:
            os.close(sfd)
            return  # untried: the first file written tries
        try:
            fcntl.ioctl(dfd, FICLONE, sfd)
        except OSError as exc:
            if exc.errno in _NO_REFLINK:
                self._no_reflink.add(self._device(folder))
        finally:
            os.close(dfd)
            os.close(sfd)

    def _copies_in(self, head: str, link: Sequence[str]) -> bool:
        dev = self._device(head)
        for mode in link:
            if mode == "copy":
                return True
            if mode != "reflink" or dev not in self._no_reflink:
                return False
        return False

    def _reflink(self, src: str, tmp: str, executable: bool) -> bool:
        sfd, _sst = open_object(src, os.path.basename(src), "the cache")
        try:
            dfd = _create(tmp, executable)
            try:
                fcntl.ioctl(dfd, FICLONE, sfd)
            except OSError as exc:
                os.close(dfd)
                dfd = -1
                _unlink(tmp)
                if exc.errno in _NO_REFLINK:
                    return False
                raise
            finally:
                if dfd >= 0:
                    os.close(dfd)
        finally:
            os.close(sfd)
        return True

    def _hardlink(self, src: str, tmp: str, executable: bool, dest: str) -> str | None:
        """Link ``dest`` (when free: "dest") or else ``tmp`` ("tmp"); None when not possible."""
        st = os.lstat(src)
        if not stat.S_ISREG(st.st_mode):  # a link to a link or a folder would pass that on
            os.close(open_object(src, os.path.basename(src), "the cache")[0])  # raises
        if executable != bool(st.st_mode & 0o111):
            return None
        try:
            try:
                os.link(src, dest)
                return "dest"
            except FileExistsError:
                pass
            _unlink(tmp)
            os.link(src, tmp)
        except OSError as exc:
            if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP):
                return None
            raise
        return "tmp"

    def _copy(
        self,
        src: str,
        tmp: str,
        executable: bool,
        oid: str = "",
        want: int | None = None,
        create: Callable[[str, bool], int] | None = None,
    ) -> os.stat_result:
        """Copy the object at ``src`` to the new file ``tmp``: its fstat once written."""
        sfd, sst = open_object(src, oid or os.path.basename(src), "the cache")
        try:
            size = sst.st_size
            if want is not None:
                check_size(oid, size, want)
            dfd = (create or _create)(tmp, executable)
            try:
                try:
                    if size < SMALL:
                        write_all(dfd, os.read(sfd, size))
                    else:
                        _copy_range(sfd, dfd, size, is_sparse(sst))
                    return os.fstat(dfd)
                finally:
                    os.close(dfd)
            except BaseException:  # a full disk: no part-written file left behind
                _unlink(tmp)
                raise
        finally:
            os.close(sfd)

    def move_aside(self, oid: str) -> Path:
        """Rename object ``oid`` out of ``objects/`` into ``bad/`` (never swept by gc): its new path."""
        bad = self.root / BAD
        self.store.make_dirs(bad)
        dest = bad / oid
        n = 0
        while dest.exists():  # an earlier bad copy of the same object: keep both
            n += 1
            dest = bad / f"{oid}.{n}"
        os.rename(self._obj(oid), dest)
        return dest

    # -- bookkeeping ---------------------------------------------------------
    def require_registered(self) -> None:
        """Refuse to write to the cache, or link into it, for a repository gc cannot see."""
        if self.unregistered is None:
            return
        if self._unregistered_errno in (errno.ENOSPC, errno.EDQUOT):
            what = "free space there (`gitstore gc` can, from any repository)"
        elif self._unregistered_errno in (errno.EACCES, errno.EPERM):
            what = f"make it writable for this user ({sharing.team_hint(self.root)})"
        else:
            what = "make it writable for this user"
        raise StoreError(
            f"cannot register this repository in the cache {self.root}: {self.unregistered}",
            hint="another repository's gc could delete the objects this one writes or links to:"
            f" {what}, or use a cache of your own (GITSTORE_CACHE_DIR or `cache.dir`),"
            " then run the command again",
        )

    def lock(self, *, exclusive: bool = False, reading: bool = False) -> FileLock:
        """Writers hold this shared; ``gc`` holds it exclusive (see locks.py).

        A writer whose repository could not be registered is refused here:
        another repository's gc would not know what it needs, and would
        delete the objects it writes or links to. ``reading``: the holder
        only copies objects out (a checkout in copy or reflink mode), which
        leaves nothing depending on the cache: allowed unregistered.
        """
        if not exclusive and not reading:
            self.require_registered()
        return FileLock(
            self.root / "gc.lock",
            f"cache {self.root}",
            shared=not exclusive,
            timeout=lock_timeout(),
            store=self.store,
        )

    def register_repo(self, common_dir: Path, work_tree: Path | None = None) -> None:
        """Record that the repository at ``common_dir`` uses this cache (for gc).

        The marker holds the git dir's path and its identity (device and
        inode, which ``mv`` keeps): a repository registered at a new path
        removes the markers of its old one, so a moved repository does not
        stay behind as a missing one, which gc refuses to forget by itself.
        ``work_tree``: the work tree in use, recorded when git could not find
        it from the git dir alone (``GIT_WORK_TREE`` with a bare git dir, a
        dotfiles repository), so that gc reads its manifests too.

        Beside it stays the marker gitstore wrote before (named by SHA-256,
        the path alone): gitstores of before 2026-12-04 read each file in
        ``repos/`` as one path, took this marker for a repository that is
        gone, and deleted its objects; they read the older one right. The
        fifth line says it was written (so that its hashlib import is paid
        once per repository, not per command).
        """
        path = str(common_dir.resolve())
        marker = self.root / "repos" / hash_bytes(os.fsencode(path))[:32]
        extra = ""
        if work_tree is not None:
            tree = work_tree.resolve()
            if not (common_dir.name == ".git" and tree == Path(path).parent):
                extra = str(tree)
        try:
            st = os.stat(path)
            identity = f"{st.st_dev}:{st.st_ino}"
            rid = repository_token(Path(path), create=True)
            try:
                lines = [
                    x.strip() for x in marker.read_text("utf-8", "surrogateescape").splitlines()
                ]  # one read
            except FileNotFoundError:
                lines = []
            if lines:
                recorded, held, token, older = (lines[1:] + ["", "", "", ""])[:4]
                extra = extra or held
                if token:  # the repository's own token: a copy restored in place is the same
                    same = token == rid
                else:  # an older registration: by inode
                    same = not recorded or same_inode(recorded, identity)
                if same:
                    fresh = token == rid and same_inode(recorded, identity) and held == extra
                    if fresh and older == _OLDER_KEPT:
                        return
                    recorded = ""  # the same repository: rewritten (inode, work tree, token)
                # another repository was registered at this path and has gone
                # (``mv a a-old; git init a``): its registration is kept under a
                # name of its own, so that gc stops until it is found or forgotten
                if recorded:
                    aside = marker.with_name(
                        f"{marker.name}-{hash_bytes(os.fsencode(recorded))[:16]}"
                    )
                    if not aside.exists():
                        os.replace(marker, aside)
            self.store.make_dirs(marker.parent)
            _keep_older_marker(marker.parent, path, self.store.shared)
            fsync_write(
                marker,
                f"{path}\n{identity}\n{extra}\n{rid}\n{_OLDER_KEPT}\n".encode(
                    "utf-8", "surrogateescape"
                ),
                self.store.shared,
            )
            for other, other_path, other_identity in self._markers():
                if (
                    other != marker
                    and other_identity == identity
                    and not _same_dir(other_path, identity)
                ):
                    other.unlink(missing_ok=True)  # this repository, before it was moved
                    if other.name == hash_bytes(os.fsencode(str(other_path)))[:32]:
                        # its path-only marker too, unless another repository now there
                        # registered under that name (this one's was set aside): theirs
                        _older_marker(marker.parent, str(other_path)).unlink(missing_ok=True)
        except OSError as exc:
            # a full disk, a cache of another user's: reading goes on, but
            # writing to the cache or linking into it is refused (see lock);
            # a read-only filesystem cannot be collected through this mount
            if exc.errno != errno.EROFS:
                where = exc.filename
                if where is not None and os.path.basename(os.fsdecode(where)).startswith("."):
                    where = os.path.dirname(os.fsdecode(where))  # not our temporary file's name
                self.unregistered = f"{exc.strerror or exc}" + (f" ({where})" if where else "")
                self._unregistered_errno = exc.errno

    def registered_repos(self) -> list[tuple[Path, Path]]:
        """(marker file, repository git dir) for every repository using this cache."""
        return [(marker, path) for marker, path, _identity in self._markers()]

    def registered_identities(self) -> list[tuple[Path, Path, str]]:
        """(marker, git dir, ``device:inode`` recorded, "" for none) for every registration."""
        return self._markers()

    def _markers(self) -> list[tuple[Path, Path, str]]:
        folder = self.root / "repos"
        out = []
        if folder.is_dir():
            for marker in sorted(folder.iterdir()):
                try:
                    lines = marker.read_text("utf-8", "surrogateescape").splitlines()
                except OSError:
                    continue
                if lines and lines[0].strip():
                    out.append((marker, Path(lines[0].strip()), lines[1] if len(lines) > 1 else ""))
        # the markers that say more first: gc reads each repository once, with
        # its recorded work tree, not as the path-only marker kept beside them
        return sorted(out, key=lambda found: not found[2])


def same_inode(a: str, b: str) -> bool:
    """Whether two ``device:inode`` identities name one folder: by inode only.

    A device number can change across a remount (network and volume-managed
    filesystems); an inode cannot while the folder lives, and a folder moved
    away keeps its own, so a new folder at the old path has another.
    """
    return a.rpartition(":")[2] == b.rpartition(":")[2]


TOKEN = "repository-token"  # in the git dir's gitstore/ folder


def repository_token(common_dir: Path, create: bool = False) -> str:
    """A random id kept in the repository itself: it moves, and is copied, with it.

    It tells a repository copied back to its own path (a restore from a
    backup: a new inode) from another repository made there; "" when there
    is none (and not ``create``).
    """
    path = common_dir / "gitstore" / TOKEN
    try:
        return path.read_text("utf-8", "replace").strip()
    except OSError:
        if not create:
            return ""
    token = os.urandom(16).hex()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fsync_write(path, f"{token}\n".encode())
    except OSError:
        return ""  # a git dir this user cannot write: registered by inode only
    return token


def _marker_line(marker: Path, n: int) -> str:
    try:
        lines = marker.read_text("utf-8", "surrogateescape").splitlines()
    except OSError:
        return ""
    return lines[n].strip() if len(lines) > n else ""


def registered_token(marker: Path) -> str:
    """The repository token a registration recorded ("" for none)."""
    return _marker_line(marker, 3)


def registered_work_tree(marker: Path) -> Path | None:
    """The work tree a registration recorded (see ``Cache.register_repo``), if any."""
    try:
        lines = marker.read_text("utf-8", "surrogateescape").splitlines()
    except OSError:
        return None
    return Path(lines[2].strip()) if len(lines) > 2 and lines[2].strip() else None


def _same_dir(path: Path, identity: str) -> bool:
    """Whether ``path`` is still the folder with ``identity`` (device:inode)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return f"{st.st_dev}:{st.st_ino}" == identity


_OLDER_KEPT = "older-marker-kept"  # the fifth line of a registration (see register_repo)


def _older_marker(folder: Path, path: str) -> Path:
    """The marker gitstores before 2026-12-04 read: named by SHA-256 of the path."""
    import hashlib  # only once per repository: its OpenSSL import costs every start-up ~4 ms

    return folder / hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def _keep_older_marker(folder: Path, path: str, shared: int) -> None:
    """Write the older marker (the git dir's path alone) unless it says so already."""
    older = _older_marker(folder, path)
    data = f"{path}\n".encode("utf-8", "surrogateescape")
    try:
        if older.read_bytes() == data:
            return
    except FileNotFoundError:
        pass
    fsync_write(older, data, shared)


def _copy_range(sfd: int, dfd: int, size: int, sparse: bool = False) -> None:
    """Copy ``size`` bytes from ``sfd`` to the new file ``dfd``; a ``sparse`` source keeps its holes."""
    if sparse:
        buf = bytearray(COPY_CHUNK)
        offset = 0
        while offset < size:
            n = os.preadv(sfd, [buf], offset)
            if not n:
                break
            write_sparse(dfd, buf, n, offset)
            offset += n
        os.ftruncate(dfd, offset)
        return
    copied = 0
    try:
        while copied < size:
            n = os.copy_file_range(sfd, dfd, min(COPY_CHUNK, size - copied))
            if n == 0:
                break
            copied += n
        return
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    while True:
        block = os.read(sfd, COPY_CHUNK)
        if not block:
            break
        write_all(dfd, block)


def _sparser(new: str, old: str) -> bool:
    """Whether the file ``new`` has holes and ``old`` (the same bytes) has fewer blocks saved."""
    try:
        a, b = os.stat(new), os.stat(old)
    except OSError:
        return False
    return is_sparse(a) and a.st_blocks < b.st_blocks


def check_size(oid: str, actual: int, size: int) -> None:
    """IntegrityError when a cache object's size is not its manifest's (a hard-linked or
    symlinked checkout edited in place changes the object itself)."""
    if actual != size:
        raise IntegrityError(
            f"object {oid} in the cache holds {actual} bytes where its manifest says {size}:"
            " the manifest's size was edited, or a hard-linked or symlinked copy was edited in place",
            hint="`gitstore verify` says whether the object is damaged (`gitstore verify --repair`"
            " mends it); if it is sound, the manifest is wrong: `gitstore track PATH` on a good"
            " copy rewrites it",
        )


class DestinationChanged(Exception):
    """The file a checkout was replacing changed after the checkout looked at it."""


def _changed_since(path: str, expect: os.stat_result) -> bool:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False  # deleted meanwhile: nothing to lose
    if (st.st_ino, st.st_size, st.st_mtime_ns) != (
        expect.st_ino,
        expect.st_size,
        expect.st_mtime_ns,
    ):
        return True
    # the ctime catches an edit that put the mtime back; but a hard link made to or
    # taken from the same inode (this checkout linking another file to the cached
    # object this one is) changes the ctime too, and the link count with it
    return st.st_ctime_ns != expect.st_ctime_ns and st.st_nlink == expect.st_nlink


def tmp_name(name: str) -> str:
    """The temporary name a file ``name`` is written under beside it: ``.NAME.gitstore-tmp``.

    A name too long for that (the limit is 255 bytes) takes a digest of it
    instead; both forms are hidden files ending in the suffix, which scans skip.
    """
    tmp = f".{name}.gitstore-tmp"
    if len(os.fsencode(tmp)) <= 255:
        return tmp
    import hashlib

    return f".{hashlib.sha1(os.fsencode(name)).hexdigest()}.gitstore-tmp"


def _discard(journal: partial.Journal) -> None:
    """Remove a partial file and its journal: what they hold is wrong or unwanted."""
    journal.remove()
    _unlink(journal.path.removesuffix(partial.SUFFIX))


# -- temporary names of writers that died ----------------------------------------
# Each process that writes objects names its temporary files ``tmp/<id>-N``
# and holds an flock on ``writers/<id>`` while it lives (a kill -9 lets go
# of it). A writer whose lock is free is gone: its files are removed by the
# next writer or gc at once, not after gc's grace period (a killed track of
# a big file left a partial copy of it each time). Files of no known writer
# (older gitstores, a lock that could not be made) keep the grace-period rule.
WRITERS = "writers"
_forks = [0]  # bumped in every forked child: its parent's lock is not its own
# this process's locks, held for its life: fd -> (store root, writer name)
_writers: dict[int, tuple[str, str]] = {}


def _forked() -> None:
    _forks[0] += 1
    _writers.clear()  # inherited: the parent's (they close with the child)


def _let_go() -> None:
    """At exit (its threads done): what this process left in ``tmp/`` (a Ctrl-C stopped a
    write part-way), then its writer files."""
    for fd, (root, name) in list(_writers.items()):
        with contextlib.suppress(OSError):
            for left in os.listdir(f"{root}/tmp"):
                if left.startswith(name + "-"):
                    _unlink(f"{root}/tmp/{left}")
        _unlink(f"{root}/{WRITERS}/{name}")
        os.close(fd)
    _writers.clear()


os.register_at_fork(after_in_child=_forked)


def claim_writer(root: str, name: str, mode: int | None = None) -> None:
    """Lock the writer file ``writers/name`` of the store at ``root``: made under another
    name and locked first, so that no sweeper ever sees it unlocked (``mode``: for a
    store a group shares)."""
    folder = f"{root}/{WRITERS}"
    new = f"{folder}/.{name}.claim"
    try:
        fd = os.open(new, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
    except OSError:
        return
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.link(new, f"{folder}/{name}")  # never over another's (a rename would be)
    except OSError:
        os.close(fd)
        _unlink(new)
        return
    _unlink(new)
    if not _writers:
        import atexit

        atexit.register(_let_go)
    _writers[fd] = (root, name)


def sweep_dead_writers(root: str, dry_run: bool = False) -> list[str]:
    """Remove the temporary files of a store's writers whose lock is free; their names
    (``tmp/...``)."""
    folder = f"{root}/{WRITERS}"
    try:
        writers = [n for n in os.listdir(folder) if not n.startswith(".")]
    except OSError:
        return []
    if not writers:
        return []
    try:
        names = os.listdir(f"{root}/tmp")
    except OSError:
        names = []
    swept: list[str] = []
    for name in writers:
        path = f"{folder}/{name}"
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # alive (or locks do not work here: the grace period rules)
            os.close(fd)
            continue
        try:
            start = name + "-"
            for left in names:
                if left.startswith(start):
                    swept.append(f"tmp/{left}")
                    if not dry_run:
                        _unlink(f"{root}/tmp/{left}")
            if not dry_run:
                _unlink(path)  # last, and while locked: no one takes its names meanwhile
        finally:
            os.close(fd)
    return swept


def _unlink(path: str | Path) -> None:
    try:
        os.unlink(path)
    except OSError:  # cleaning up: the error being handled is the one to report
        pass


_NO_REFLINK = (errno.EOPNOTSUPP, errno.EXDEV, errno.EINVAL, errno.ENOTTY, errno.EPERM)
_TMPFILE_FLAGS = getattr(os, "O_TMPFILE", 0) | os.O_WRONLY
_NEW_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
_proc: list[int] = [-1, -1]  # an open /proc/self/fd, and the process it belongs to
_proc_lock = threading.Lock()


def _proc_fd() -> int:
    """A descriptor of this process's ``/proc/self/fd`` (-1 without one), to link unnamed files.

    ``/proc/self`` is resolved when opened: a forked child must not use its
    parent's, or it would link the parent's files.
    """
    pid = os.getpid()
    if _proc[1] == pid:
        return _proc[0]
    with _proc_lock:
        if _proc[1] == pid:  # another thread opened it meanwhile
            return _proc[0]
        if _proc[0] >= 0:
            os.close(_proc[0])  # inherited from the parent
        fd = -1
        if _TMPFILE_FLAGS != os.O_WRONLY:
            try:
                fd = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError:
                pass
        _proc[:] = [fd, pid]
    return _proc[0]


def _create_new(path: str, executable: bool) -> int:
    """A new file in a folder nobody else writes to (a checkout's staging folder)."""
    return os.open(path, _NEW_FLAGS, 0o777 if executable else 0o666)


def _create(tmp: str, executable: bool) -> int:
    """A new file with the workspace mode (the umask applies, as with git)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    mode = 0o777 if executable else 0o666
    try:
        return os.open(tmp, flags, mode)
    except FileExistsError:  # left by an interrupted checkout
        os.unlink(tmp)
        return os.open(tmp, flags, mode)


def age_seconds(path: Path) -> float:
    return time.time() - os.stat(path).st_mtime
