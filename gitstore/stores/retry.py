"""Retries and rate limits, as a wrapper around any store.

:class:`RetryingStore` retries :class:`StoreUnavailableError` (down,
throttled, connection lost) with exponential backoff and full jitter, bounded
both in attempts and in total time, and passes every other error through at
once: "not found", "access denied" and a lost conditional write are answers,
not accidents. A conditional document write whose earlier attempt may have
landed (the response was lost) is resolved by reading the document back: if
it holds exactly our bytes, the write took effect.

:class:`Throttle` is an adaptive concurrency limit shared by transfer code:
workers hold a slot while they talk to the store; the limit halves when the
service says "slow down" and grows back by one slot per window of successes
(additive increase, multiplicative decrease).

Two error classes let callers react without parsing messages:
:class:`ThrottledError` (a retryable "slow down": 429, 503, SlowDown) and
:class:`ObjectAccessDeniedError` (a 403 on one object: a public bucket
without list rights answers so for a missing key; fetch tries the next remote).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, TypeVar

from ..errors import PreconditionFailed, StoreAuthError, StoreUnavailableError
from .base import Document, ObjectStat, Store

log = logging.getLogger(__name__)

T = TypeVar("T")


def _nothing() -> None:
    pass


class ThrottledError(StoreUnavailableError):
    """The service asked us to slow down (HTTP 429/503, S3 SlowDown); retryable."""


class ObjectAccessDeniedError(StoreAuthError):
    """Access denied on one object (GET/HEAD), as opposed to the whole store."""

    object_level = True


class Throttle:
    """A semaphore whose size adapts: halves on throttling, creeps back on success."""

    def __init__(self, limit: int = 16, minimum: int = 1, cooldown: float = 1.0) -> None:
        if limit < 1 or minimum < 1 or minimum > limit:
            raise ValueError(f"bad throttle bounds: minimum {minimum}, limit {limit}")
        self.maximum = limit
        self.minimum = minimum
        self.cooldown = cooldown
        self._limit = limit
        self._successes = 0  # since the limit last grew
        self._active = 0
        self._last_cut = float("-inf")
        self._cond = threading.Condition()

    @property
    def limit(self) -> int:
        """How many slots may be held at once right now."""
        return self._limit

    @property
    def active(self) -> int:
        return self._active

    def acquire(self) -> None:
        with self._cond:
            while self._active >= self._limit:
                self._cond.wait()
            self._active += 1

    def release(self) -> None:
        with self._cond:
            self._active -= 1
            self._cond.notify()

    def __enter__(self) -> Throttle:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def throttled(self) -> None:
        """The service said "slow down": halve the limit (at most once per cooldown)."""
        with self._cond:
            now = time.monotonic()
            if now - self._last_cut < self.cooldown:
                return
            self._last_cut = now
            self._limit = max(self.minimum, self._limit // 2)
            self._successes = 0
            log.debug("throttled: concurrency limit now %d", self._limit)

    def succeeded(self) -> None:
        """One call went through: grow by one slot per ``limit`` successes."""
        with self._cond:
            if self._limit >= self.maximum:
                return
            self._successes += 1
            if self._successes >= self._limit:
                self._successes = 0
                self._limit += 1
                self._cond.notify_all()


class RetryingStore(Store):
    """``inner`` with bounded retries of StoreUnavailableError; see the module docstring."""

    def __init__(
        self,
        inner: Store,
        attempts: int = 5,
        base_delay: float = 0.2,
        max_delay: float = 5.0,
        deadline: float = 60.0,
        *,
        throttle: Throttle | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.inner = inner
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.deadline = deadline
        self.throttle = throttle if throttle is not None else Throttle()
        self._sleep = sleep

    @property
    def url(self) -> str:  # type: ignore[override]
        return self.inner.url

    @property
    def read_only(self) -> bool:  # type: ignore[override]
        return self.inner.read_only

    def __repr__(self) -> str:
        return f"RetryingStore({self.inner!r})"

    # -- the loop ----------------------------------------------------------
    def _call(
        self, what: str, fn: Callable[[], T], *, on_retry: Callable[[], None] = _nothing
    ) -> T:
        start = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                result = fn()
            except StoreUnavailableError as exc:
                if isinstance(exc, ThrottledError):
                    self.throttle.throttled()
                elapsed = time.monotonic() - start
                delay = random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))
                if attempt >= self.attempts or elapsed + delay > self.deadline:
                    raise StoreUnavailableError(
                        f"{exc.message} (gave up after {attempt} attempt{'s' if attempt != 1 else ''} in {elapsed:.1f}s)",
                        hint=exc.hint or f"check that {self.url} is reachable and try again",
                    ) from exc
                log.debug(
                    "%s on %s failed (%s); retry %d in %.2fs", what, self.url, exc, attempt, delay
                )
                self._sleep(delay)
                on_retry()
                continue
            self.throttle.succeeded()
            return result

    # -- objects -----------------------------------------------------------
    def exists(self, oids: Iterable[str]) -> set[str]:
        wanted = list(oids)
        return self._call("exists", lambda: self.inner.exists(wanted))

    def open(self, oid: str) -> BinaryIO:
        return self._call(f"open {oid}", lambda: self.inner.open(oid))

    def get(self, oid: str, dest: Path) -> None:
        self._call(f"get {oid}", lambda: self.inner.get(oid, dest))

    def sweep_leftovers(self, older_than: float, dry_run: bool = False) -> Sequence[str]:
        return self._call("sweep", lambda: self.inner.sweep_leftovers(older_than, dry_run))

    def put(self, oid: str, src: Path) -> None:
        self._call(f"put {oid}", lambda: self.inner.put(oid, src))

    def stat(self, oid: str) -> ObjectStat:
        return self._call(f"stat {oid}", lambda: self.inner.stat(oid))

    def list(self) -> Iterator[str]:
        # a listing cannot be resumed half-way: take it whole, then hand it out
        return iter(self._call("list", lambda: [*self.inner.list()]))

    def delete(self, oid: str) -> None:
        self._call(f"delete {oid}", lambda: self.inner.delete(oid))

    def touch(self, oid: str) -> None:
        self._call(f"renew {oid}", lambda: self.inner.touch(oid))

    # -- documents ---------------------------------------------------------
    def read_document(self, key: str) -> Document | None:
        return self._call(f"read {key}", lambda: self.inner.read_document(key))

    def put_document(
        self,
        key: str,
        data: bytes,
        *,
        if_absent: bool = False,
        if_version: str | None = None,
    ) -> str:
        retried = False

        def mark() -> None:
            nonlocal retried
            retried = True

        def attempt() -> str:
            try:
                return self.inner.put_document(
                    key, data, if_absent=if_absent, if_version=if_version
                )
            except PreconditionFailed:
                if not retried:
                    raise
                # an earlier attempt may have landed before its answer was lost
                current = self.inner.read_document(key)
                if current is not None and current.data == data:
                    return current.version
                raise

        return self._call(f"write {key}", attempt, on_retry=mark)

    def delete_document(self, key: str) -> None:
        self._call(f"delete {key}", lambda: self.inner.delete_document(key))

    def list_documents(self, prefix: str) -> Iterator[str]:
        return iter(self._call(f"list {prefix}", lambda: [*self.inner.list_documents(prefix)]))

    def probe_conditional_writes(self) -> None:
        self._call("probe", self.inner.probe_conditional_writes)

    def close(self) -> None:
        self.inner.close()
