"""The Store interface: a handful of methods every backend implements.

A store holds immutable objects under ``layout.object_key(oid)`` and a few
mutable documents (published manifests, per-branch watermarks, probes) under
other keys. Objects are content-addressed, so ``put`` is idempotent; documents
change only through conditional writes, so that two writers never both win.

Contracts every backend keeps (tests/contract runs them against each one):

- ``exists`` answers for many oids at once; a backend picks the cheapest way.
- ``open`` streams; nothing buffers a whole object in memory.
- ``get`` hashes while it streams and never leaves a partial or wrong file at
  ``dest``: the bytes go to a temporary file beside ``dest`` and are renamed
  into place only once their BLAKE3 matches ``oid``.
- only a real "not there" raises :class:`ObjectNotFoundError`; a transient
  failure raises :class:`StoreUnavailableError`, never "not found".
- a read-only store raises :class:`ReadOnlyStoreError` on every write.
- ``put_document(..., if_absent=True)`` fails with :class:`PreconditionFailed`
  when the key exists; ``if_version=v`` fails unless the current version is v.
"""

from __future__ import annotations

import errno
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, NamedTuple

from ..errors import IntegrityError, ReadOnlyStoreError, UnsupportedError

CHUNK = 1 << 20


class ObjectStat(NamedTuple):
    size: int
    mtime: float | None  # seconds since the epoch, when the backend knows it


class Document(NamedTuple):
    data: bytes
    version: str  # an opaque token for put_document(if_version=...)


class Store(ABC):
    """One place that holds objects; see the module docstring for the contract."""

    #: the URL or path the store was made from, used in every error message
    url: str = ""
    read_only: bool = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    # -- objects -----------------------------------------------------------
    @abstractmethod
    def exists(self, oids: Iterable[str]) -> set[str]:
        """The subset of ``oids`` this store holds."""

    @abstractmethod
    def open(self, oid: str) -> BinaryIO:
        """A readable binary stream of the object; ObjectNotFoundError if absent."""

    @abstractmethod
    def put(self, oid: str, src: Path) -> None:
        """Store the file ``src`` (whose BLAKE3 is ``oid``) as object ``oid``; idempotent."""

    @abstractmethod
    def stat(self, oid: str) -> ObjectStat:
        """Size and last-modified time; ObjectNotFoundError if absent."""

    @abstractmethod
    def list(self) -> Iterator[str]:
        """Every oid in the store, in no particular order."""

    @abstractmethod
    def delete(self, oid: str) -> None:
        """Remove the object; deleting an absent object is not an error."""

    def touch(self, oid: str) -> None:
        """Make the object's last-modified time now (``gc --remote`` spares what was
        touched while it ran); ObjectNotFoundError if absent."""
        raise UnsupportedError(f"{self.url} cannot renew its objects")

    def get(self, oid: str, dest: Path) -> None:
        """Write the object to ``dest``, verified; see the module docstring."""
        from ..hashing import new_hasher

        def fill(fd: int) -> None:
            hasher = new_hasher()
            with self.open(oid) as src, open(fd, "wb", closefd=False) as out:
                while True:
                    block = src.read(CHUNK)
                    if not block:
                        break
                    hasher.update(block)
                    out.write(block)
            actual = hasher.hexdigest()
            if actual != oid:
                raise IntegrityError(
                    f"object {oid} from {self.url} is corrupt: its bytes hash to {actual}"
                )

        write_replacing(Path(dest), fill)

    # -- mutable documents -------------------------------------------------
    def read_document(self, key: str) -> Document | None:
        """The document at ``key`` with its version, or None when absent."""
        raise UnsupportedError(f"{self.url} does not hold documents")

    def put_document(
        self,
        key: str,
        data: bytes,
        *,
        if_absent: bool = False,
        if_version: str | None = None,
    ) -> str:
        """Write a document, optionally conditionally; returns its new version."""
        self._refuse_write()
        raise UnsupportedError(f"{self.url} does not hold documents")

    def delete_document(self, key: str) -> None:
        self._refuse_write()
        raise UnsupportedError(f"{self.url} does not hold documents")

    def list_documents(self, prefix: str) -> Iterator[str]:
        """Keys of the documents under ``prefix`` (a folder, ending in ``/``)."""
        raise UnsupportedError(f"{self.url} cannot list documents")

    def probe_conditional_writes(self) -> None:
        """Raise UnsupportedError unless put-if-absent is really honoured here."""
        from ..errors import PreconditionFailed

        key = f"tmp/probe-{os.urandom(16).hex()}"
        self.put_document(key, b"probe", if_absent=True)
        try:
            try:
                self.put_document(key, b"probe again", if_absent=True)
            except PreconditionFailed:
                return
            raise UnsupportedError(
                f"{self.url} does not honour conditional writes (a second put-if-absent succeeded);"
                " two publishers could both win here"
            )
        finally:
            self.delete_document(key)
            self._forget_probe(key)

    def _forget_probe(self, key: str) -> None:  # noqa: B027 - backends with leftovers override it
        """Remove what else a probe of ``key`` left (a folder store's lock file); nothing here."""

    # -- helpers -----------------------------------------------------------
    def _refuse_write(self) -> None:
        if self.read_only:
            raise ReadOnlyStoreError(f"remote {self.url} is read-only")

    def sweep_leftovers(self, older_than: float, dry_run: bool = False) -> Sequence[str]:
        """Remove what killed writers left behind before ``older_than`` (epoch seconds).

        Partial uploads are never objects (those appear whole or not at all),
        only space: a folder store's temporary files, S3's unfinished
        multipart uploads. Returns a name for each (removed unless
        ``dry_run``). Backends without such leftovers have nothing to do.
        """
        return []

    def close(self) -> None:  # noqa: B027 - optional for backends without connections
        """Release connections; the store may not be used afterwards."""


_NO_TMPFILE = (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL)


def write_replacing(dest: Path, fill: Callable[[int], None]) -> None:
    """A new file at ``dest`` (replacing what is there) with the bytes ``fill(fd)`` writes
    into ``fd``, an empty file open for reading and writing; nothing at ``dest`` if it raises.

    The file is unnamed (``O_TMPFILE``) while it is filled, where the filesystem allows:
    a process killed in the middle of a big download (``gitstore get-published -o``)
    leaves no half-written ``.NAME.*.tmp`` beside ``dest`` for nobody to remove (QA pass
    11). Once whole it is given the name ``dest`` when nothing is there, else a temporary
    name, renamed onto ``dest``.
    """
    tmp = dest.with_name(f".{dest.name}.{os.urandom(6).hex()}.tmp")
    named = False
    fd = -1
    if os.path.isdir("/proc/self/fd"):
        try:
            fd = os.open(dest.parent, os.O_TMPFILE | os.O_RDWR, 0o666)
        except OSError as exc:
            if exc.errno not in _NO_TMPFILE:
                raise
    if fd < 0:
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        named = True
    try:
        try:
            try:
                fill(fd)
            except OSError as exc:  # a full disk: say where (the write itself names nothing)
                if exc.filename is None and exc.errno is not None:
                    raise OSError(exc.errno, exc.strerror, str(dest)) from exc
                raise
            if not named:
                try:
                    _name_unnamed(fd, dest)  # nothing there yet: named whole, in one step
                    return
                except FileExistsError:
                    _name_unnamed(fd, tmp)
                    named = True
        finally:
            os.close(fd)
        os.replace(tmp, dest)
    finally:
        if named:
            tmp.unlink(missing_ok=True)


def _name_unnamed(fd: int, path: Path) -> None:
    """Give the unnamed file ``fd`` the name ``path`` (a copy where linking is refused)."""
    proc = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY)
    try:
        # through a descriptor of /proc/self/fd: a plain link() does not follow the
        # magic link (EXDEV); linkat with AT_SYMLINK_FOLLOW does
        os.link(str(fd), path, src_dir_fd=proc, follow_symlinks=True)
        return
    except OSError:
        pass
    finally:
        os.close(proc)
    out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        size = os.fstat(fd).st_size
        done = 0
        while done < size:
            n = os.copy_file_range(fd, out, size - done, done, done)
            if not n:
                raise OSError(errno.EIO, f"short copy of {path}")
            done += n
    except BaseException:
        os.close(out)
        os.unlink(path)
        raise
    os.close(out)


def require_space(fd: int, size: int) -> None:
    """ENOSPC now when the filesystem of ``fd`` has less than ``size`` bytes free.

    For big downloads: a 2 GiB object into a disk with 800 MiB free was fetched for a
    minute before the write that filled it failed (QA pass 11). Not a reservation (another
    writer may take the space meanwhile; that write then fails as before).
    """
    try:
        st = os.fstatvfs(fd)
    except OSError:
        return
    free = (st.f_bfree if os.geteuid() == 0 else st.f_bavail) * st.f_frsize
    if st.f_blocks and free < size:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
