"""A store in a dict: the real, shipped fake that unit tests run against.

It keeps the whole contract of :mod:`gitstore.stores.base` (verified puts,
conditional document writes, read-only refusal) behind one lock, so that
threads see the same atomicity a real backend gives. Objects live in memory,
so this store is for tests and small tools, never for real data.
:meth:`MemoryStore.put_bytes` with ``verify=False`` lets a test plant corrupt
bytes under an oid.
"""

from __future__ import annotations

import io
import itertools
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .. import layout
from ..errors import HashingError, IntegrityError, ObjectNotFoundError, PreconditionFailed
from ..hashing import hash_bytes
from .base import Document, ObjectStat, Store


@dataclass
class _Contents:
    """What a MemoryStore holds; shared between a store and its read-only views."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    objects: dict[str, tuple[bytes, float]] = field(default_factory=dict)
    documents: dict[str, Document] = field(default_factory=dict)
    versions: Iterator[int] = field(default_factory=lambda: itertools.count(1))


class MemoryStore(Store):
    """Objects and documents in process memory; thread-safe."""

    def __init__(self, url: str = "memory://", read_only: bool = False) -> None:
        self.url = url
        self.read_only = read_only
        self._contents = _Contents()

    def view(self, *, read_only: bool) -> MemoryStore:
        """Another handle on the same contents (e.g. a read-only one)."""
        other = MemoryStore(self.url, read_only=read_only)
        other._contents = self._contents
        return other

    # -- objects -----------------------------------------------------------
    def exists(self, oids: Iterable[str]) -> set[str]:
        wanted = set(oids)
        with self._contents.lock:
            return {oid for oid in wanted if oid in self._contents.objects}

    def _bytes(self, oid: str) -> tuple[bytes, float]:
        layout.object_key(oid)  # ValueError for a non-oid, as the other stores
        with self._contents.lock:
            found = self._contents.objects.get(oid)
        if found is None:
            raise ObjectNotFoundError(f"object {oid} is not in {self.url}", oid=oid)
        return found

    def open(self, oid: str) -> BinaryIO:
        return io.BytesIO(self._bytes(oid)[0])

    def put(self, oid: str, src: Path) -> None:
        self._refuse_write()
        try:
            data = Path(src).read_bytes()
        except FileNotFoundError as exc:
            raise HashingError(f"{src} vanished while it was being hashed") from exc
        except OSError as exc:
            raise HashingError(f"cannot read {src}: {exc.strerror}") from exc
        self.put_bytes(oid, data)

    def put_bytes(self, oid: str, data: bytes, *, verify: bool = True) -> None:
        """Store ``data`` as object ``oid``; ``verify=False`` plants bad bytes (tests)."""
        self._refuse_write()
        layout.object_key(oid)
        if verify:
            actual = hash_bytes(data)
            if actual != oid:
                raise IntegrityError(f"bytes for {oid} hash to {actual}; not stored in {self.url}")
        with self._contents.lock:
            if verify and oid in self._contents.objects:
                return
            self._contents.objects[oid] = (bytes(data), time.time())

    def stat(self, oid: str) -> ObjectStat:
        data, mtime = self._bytes(oid)
        return ObjectStat(size=len(data), mtime=mtime)

    def list(self) -> Iterator[str]:
        with self._contents.lock:
            oids = list(self._contents.objects)
        return iter(oids)

    def delete(self, oid: str) -> None:
        self._refuse_write()
        with self._contents.lock:
            self._contents.objects.pop(oid, None)

    def touch(self, oid: str) -> None:
        self._refuse_write()
        data, _mtime = self._bytes(oid)  # ObjectNotFoundError if absent (takes the lock)
        with self._contents.lock:
            self._contents.objects[oid] = (data, time.time())

    # -- documents ---------------------------------------------------------
    def read_document(self, key: str) -> Document | None:
        with self._contents.lock:
            return self._contents.documents.get(key)

    def put_document(
        self,
        key: str,
        data: bytes,
        *,
        if_absent: bool = False,
        if_version: str | None = None,
    ) -> str:
        self._refuse_write()
        with self._contents.lock:
            current = self._contents.documents.get(key)
            if if_absent and current is not None:
                raise PreconditionFailed(f"{key} already exists in {self.url}")
            if if_version is not None and (current is None or current.version != if_version):
                raise PreconditionFailed(f"{key} in {self.url} changed since it was read")
            version = str(next(self._contents.versions))
            self._contents.documents[key] = Document(data=bytes(data), version=version)
            return version

    def delete_document(self, key: str) -> None:
        self._refuse_write()
        with self._contents.lock:
            self._contents.documents.pop(key, None)

    def list_documents(self, prefix: str) -> Iterator[str]:
        with self._contents.lock:
            keys = [key for key in self._contents.documents if key.startswith(prefix)]
        return iter(sorted(keys))
