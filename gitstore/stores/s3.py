"""A store under an S3 prefix (AWS or any S3-compatible service), through boto3.

This is the only module that imports boto3 and botocore, and it does so on
first use (boto3 costs ~150 ms of start-up), so importing it is cheap. One
client is shared by every thread (boto3 clients are thread-safe), with a
connection pool sized for the transfer threads and one botocore attempt per
request: :class:`gitstore.stores.retry.RetryingStore` does the retrying, so
that its deadline (``GITSTORE_RETRY_DEADLINE``, handed to ``deadline`` here)
bounds the whole operation. botocore's ``max_attempts`` counts *retries*
(3 meant 4 requests, each waiting up to the read timeout): the total is set
with ``total_max_attempts``, and the connect and read timeouts never exceed
the deadline, so an endpoint that accepts and never answers is given up
after at most the deadline plus one read timeout.

Some requests about big objects legitimately keep the answer back for
longer: completing a multipart upload (AWS documents that it "could take
several minutes"; moto and some S3-compatible services send nothing
meanwhile), a server-side copy (``touch``), and the ranged GETs of an object
the server has just answered for (moto reads the whole object for each
range). They go through a second client, made only when needed, whose read
timeout is ``slow_read_timeout`` and which lets botocore retry a failed part
or range (one lost part of a 2 GiB upload must not start it all over: the
transfer alone outlasts the retry deadline). A multipart upload whose
completion answer is lost is judged by a HEAD: the object is there with its
size, or the upload failed. A server that never answers is still found out
within the deadline: every command asks it something small first. The
transfers' other requests (``QUICK_ON_SLOW_CLIENT``) keep the ordinary read
timeout, so a server that stops answering part-way is given up as quickly.

- ``exists`` sends parallel HEADs for a few oids and lists the ``objects/xx/``
  prefixes of the wanted oids when that costs fewer requests; the size of the
  store is estimated from the first page of a listing (oids are uniform).
- ``get`` streams and hashes; objects of ``ranged_get_min`` bytes or more are
  fetched with parallel ranged GETs into a temporary file beside ``dest``,
  hashed, then renamed. ``read_into`` (fetch into the cache) can take up such
  a download where an earlier try stopped (gitstore/partial.py). ``put``
  checks the source's hash, then uploads with one PUT or, from
  ``multipart_threshold`` bytes, a multipart upload, which takes up an
  unfinished upload of the same key (a killed push) and keeps the parts
  whose size and MD5 ETag match the file's bytes; a failed upload is left
  for the next push to resume (``gc --remote`` aborts old ones).
- documents use ``If-None-Match: *`` and ``If-Match: <etag>``; the ETag is the
  version. 412 and 409 ConditionalRequestConflict mean :class:`PreconditionFailed`.
- botocore errors are translated where they are raised: only a 404 is "not
  found"; a 403 on one object is :class:`ObjectAccessDeniedError`; network
  trouble, 5xx and SlowDown are retryable :class:`StoreUnavailableError`.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import itertools
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, BinaryIO, TypeVar, cast

from .. import faults, layout, partial, stopping, writeback
from ..errors import (
    ConfigError,
    GitstoreError,
    HashingError,
    IntegrityError,
    ObjectNotFoundError,
    PreconditionFailed,
    StoreAuthError,
    StoreError,
    StoreMissingError,
    StoreUnavailableError,
    UnsupportedError,
)
from ..hashing import hash_bytes, hash_file, new_hasher, open_source, read_small, write_all
from ..partial import Journal
from .base import Document, ObjectStat, Store, require_space, write_replacing
from .retry import ObjectAccessDeniedError, ThrottledError

T = TypeVar("T")
R = TypeVar("R")

_AUTH_CODES = {
    "AccessDenied",
    "AllAccessDisabled",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "AccountProblem",
    "403",
    "Forbidden",
}
_BUCKET_LOOKUP = "look up the bucket"  # a 404 to this (no body, no code) is NoSuchBucket
_OBJECT_DENIED_CODES = {"AccessDenied", "403", "Forbidden"}
_THROTTLE_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "503"}
_TRANSIENT_CODES = {"InternalError", "RequestTimeout", "ServiceUnavailable", "OperationAborted"}
_NO_CREDENTIALS = (
    "no AWS credentials found for {url}; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,"
    " AWS_PROFILE, or ~/.aws/credentials (or use --anonymous for public buckets)"
)


# Requests that the slow client's transfers (upload_file, copy) make but whose answer
# comes at once: they are sent with the ordinary read timeout, so that a server that
# stops answering holds a big push or a renewal for one short timeout a try, not for
# 3 x slow_read_timeout (15 min; a 70 MB push to a server that answered the HEADs and
# then nothing waited that long at CreateMultipartUpload). An UploadPart is answered
# once its body is in, as a put_object of up to multipart_threshold bytes is.
log = logging.getLogger(__name__)
MIB = 1 << 20
MAX_PARTS = 10_000  # S3's limit on the parts of one multipart upload
PART_THREADS = 8  # parts sent at once (each is held in memory while it is sent)
QUICK_ON_SLOW_CLIENT = ("CreateMultipartUpload", "UploadPart", "AbortMultipartUpload", "HeadObject")


def _boto_errors() -> tuple[type[BaseException], ...]:
    """The exception classes botocore and boto3 raise (imported once a client exists)."""
    from boto3.exceptions import Boto3Error  # type: ignore[import-untyped]
    from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

    return (ClientError, BotoCoreError, Boto3Error)


class S3Store(Store):
    """Objects and documents under ``s3://bucket/prefix``; see the module docstring."""

    exists_head_min = 2  # this many oids or fewer: HEAD each one, no LIST first
    exists_head_max = 1000  # below this many oids, HEAD the ones a first LIST page leaves
    ranged_get_min = 64 << 20  # objects this big are fetched with parallel ranged GETs
    resumes_reads = True  # read_into can take up an interrupted ranged fetch (gitstore/partial.py)
    range_size = 16 << 20
    multipart_threshold = 64 << 20
    multipart_chunksize = 16 << 20
    put_in_memory_max = 8 << 20  # smaller objects (below multipart too) are sent as bytes
    jobs = 16  # threads for parallel HEADs, listings and ranges
    botocore_attempts = 1  # botocore's tries per request, in all; RetryingStore retries
    deadline = 60.0  # the retry deadline: no timeout is longer
    connect_timeout = 10.0
    read_timeout = 20.0
    slow_read_timeout = 300.0  # completing a multipart upload, a server-side copy
    slow_attempts = 3  # botocore's tries per request on the slow client (parts)
    copy_max = 5 << 30  # S3's limit for one CopyObject; bigger is copied in parts

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        anonymous: bool = False,
        read_only: bool = False,
        url: str | None = None,
    ) -> None:
        if not bucket:
            raise ConfigError("an S3 remote needs a bucket name", hint="use s3://bucket/prefix")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.region = region
        self.profile = profile
        self.anonymous = anonymous
        self.read_only = read_only
        self.url = url or f"s3://{bucket}/{self.prefix}".rstrip("/")
        self._client: Any = None
        self._slow_client: Any = None
        self._client_lock = threading.Lock()
        self._session: Any = None
        self._bucket_seen = False  # a HEAD of the bucket answered (see _require_bucket)
        self._direct: Any = None  # s3direct.DirectPut, False where it does not apply
        # objects whose upload took up an interrupted one: oid -> (bytes kept, size)
        self.resumed_uploads: dict[str, tuple[int, int]] = {}

    # -- the client --------------------------------------------------------
    @property
    def client(self) -> Any:
        """The boto3 S3 client, made on first use and shared by all threads."""
        return self._client or self._made("_client")

    @property
    def slow_client(self) -> Any:
        """A client for requests whose answer may take minutes (see the module's doc)."""
        return self._slow_client or self._made("_slow_client")

    def _made(self, attr: str) -> Any:
        with self._client_lock:
            if getattr(self, attr) is None:
                setattr(self, attr, self._make_client(slow=attr == "_slow_client"))
            return getattr(self, attr)

    def _make_client(self, slow: bool = False) -> Any:
        try:
            import boto3.session  # type: ignore[import-untyped]
            from botocore import UNSIGNED  # type: ignore[import-untyped]
            from botocore.config import Config  # type: ignore[import-untyped]
            from botocore.exceptions import BotoCoreError, ProfileNotFound
        except ImportError as exc:  # pragma: no cover - boto3 is a dependency
            raise StoreError(f"{self.url} needs boto3; pip install boto3") from exc
        options: dict[str, Any] = {
            "max_pool_connections": self.jobs * 2,
            # total_max_attempts counts the first request too (max_attempts
            # counts retries only: 3 was 4 requests of up to read_timeout each,
            # 80 s whatever the retry deadline); RetryingStore checks its
            # deadline between attempts, so one attempt is one request
            "retries": {
                "total_max_attempts": self.slow_attempts if slow else self.botocore_attempts,
                "mode": "standard",
            },
            "connect_timeout": min(self.connect_timeout, self.deadline),
            "read_timeout": (
                max(self.slow_read_timeout, self.read_timeout)
                if slow
                else min(self.read_timeout, self.deadline)
            ),
            "user_agent_extra": "gitstore",
        }
        if self.endpoint_url:
            options["s3"] = {"addressing_style": "path"}
            # S3-compatible services often reject the newer default checksums
            options["request_checksum_calculation"] = "when_required"
            options["response_checksum_validation"] = "when_required"
        if self.anonymous:
            options["signature_version"] = UNSIGNED
        try:
            config = Config(**options)
        except TypeError:  # botocore older than 1.36 lacks the checksum options
            options.pop("request_checksum_calculation", None)
            options.pop("response_checksum_validation", None)
            config = Config(**options)
        try:
            session = boto3.session.Session(profile_name=self.profile, region_name=self.region)
            client = session.client("s3", endpoint_url=self.endpoint_url, config=config)
            self._session = session
            client.meta.events.register("before-call.s3", _invocation_id())
            if slow:
                self._route_quick(client)
            return client
        except ProfileNotFound as exc:
            raise StoreAuthError(
                f"AWS profile '{self.profile}' for {self.url} is not in ~/.aws/config"
                " or ~/.aws/credentials",
                hint="fix the remote's profile, or set AWS_PROFILE",
            ) from exc
        except (BotoCoreError, ValueError) as exc:
            raise ConfigError(f"cannot set up S3 access for {self.url}: {exc}") from exc

    def _route_quick(self, client: Any) -> None:
        """Make the slow ``client`` send ``QUICK_ON_SLOW_CLIENT``'s requests through the
        ordinary client's connections, with its timeouts; botocore's retries (and any
        handler that answers a request itself, as an in-process mock) apply as before."""
        quick = threading.local()
        session = client._endpoint.http_session
        slow_send = session.send

        def note(event_name: str, **_: Any) -> None:  # each request says which it is
            quick.send = event_name.rpartition(".")[2] in QUICK_ON_SLOW_CLIENT

        def send(request: Any) -> Any:
            if getattr(quick, "send", False):
                return self.client._endpoint.http_session.send(request)
            return slow_send(request)

        client.meta.events.register("before-send.s3", note)
        session.send = send

    def _direct_put(self) -> Any:
        """The shortcut for small PUTs (gitstore/stores/s3direct.py), or None."""
        if self._direct is None:
            client = self.client
            with self._client_lock:
                if self._direct is None:
                    from .s3direct import DirectPut

                    self._direct = DirectPut.for_store(self, self._session, client) or False
        return self._direct or None

    def _endpoint(self) -> str:
        if self.endpoint_url:
            return self.endpoint_url
        if self._client is not None:
            return str(self._client.meta.endpoint_url)
        return "AWS S3"

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _relative(self, key: str) -> str:
        return key[len(self.prefix) + 1 :] if self.prefix else key

    # -- error translation -------------------------------------------------
    def _translate(
        self,
        exc: BaseException,
        what: str,
        *,
        oid: str | None = None,
        object_level: bool = False,
    ) -> GitstoreError:
        """The gitstore error for a botocore/boto3 exception raised while doing ``what``."""
        from boto3.exceptions import S3UploadFailedError
        from botocore import exceptions as bce

        if isinstance(exc, S3UploadFailedError) and isinstance(
            exc.__context__, (bce.ClientError, bce.BotoCoreError)
        ):
            exc = exc.__context__  # a part's failure: translated as itself (retryable or not)
        if isinstance(exc, bce.ClientError):
            return self._translate_client_error(exc, what, oid=oid, object_level=object_level)
        if isinstance(exc, (bce.NoCredentialsError, bce.PartialCredentialsError)):
            return StoreAuthError(_NO_CREDENTIALS.format(url=self.url))
        if isinstance(exc, bce.CredentialRetrievalError):
            return StoreAuthError(f"cannot get AWS credentials for {self.url}: {exc}")
        if isinstance(exc, bce.SSLError):
            return StoreError(
                f"TLS verification failed for {self._endpoint()} ({self.url}): {exc}",
                hint="set AWS_CA_BUNDLE to the certificate bundle of this endpoint",
            )
        if isinstance(
            exc,
            (bce.ConnectionError, bce.HTTPClientError, bce.IncompleteReadError, OSError),
        ):
            return StoreUnavailableError(
                f"cannot reach {self._endpoint()} for {self.url} while trying to {what}: {exc}"
            )
        return StoreError(f"cannot {what} in {self.url}: {exc}")

    def _translate_client_error(
        self, exc: Any, what: str, *, oid: str | None, object_level: bool
    ) -> GitstoreError:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        detail = f"{code}: {error.get('Message', '')}".rstrip(": ")
        if code == "NoSuchBucket" or (what == _BUCKET_LOOKUP and status == 404):
            return StoreMissingError(
                f"bucket '{self.bucket}' does not exist ({self.url} at {self._endpoint()})",
                hint="check the remote's URL and endpoint, or create the bucket",
            )
        if status == 412 or code in ("PreconditionFailed", "ConditionalRequestConflict"):
            return PreconditionFailed(f"cannot {what} in {self.url}: the condition failed")
        if status == 404 or code in ("NoSuchKey", "NotFound", "404"):
            return ObjectNotFoundError(f"cannot {what}: not in {self.url}", oid=oid)
        if status == 403 or code in _AUTH_CODES:
            cls = ObjectAccessDeniedError if object_level and code in _OBJECT_DENIED_CODES else None
            return (cls or StoreAuthError)(
                f"access denied to {what} in {self.url} ({detail})",
                hint="check the credentials and the bucket policy (--anonymous for public buckets)",
            )
        if status in (429, 503) or code in _THROTTLE_CODES:
            return ThrottledError(f"{self._endpoint()} is throttling ({detail}) for {self.url}")
        if status >= 500 or code in _TRANSIENT_CODES:
            return StoreUnavailableError(
                f"{self._endpoint()} failed to {what} for {self.url} ({status} {detail})"
            )
        return StoreError(f"cannot {what} in {self.url}: {detail}")

    def _call(
        self,
        what: str,
        fn: Callable[..., T],
        /,
        *,
        oid: str | None = None,
        object_level: bool = False,
        **kwargs: Any,
    ) -> T:
        try:
            return fn(Bucket=self.bucket, **kwargs)
        except _boto_errors() as exc:
            raise self._translate(exc, what, oid=oid, object_level=object_level) from exc

    def _parallel(self, fn: Callable[[T], R], items: list[T], jobs: int = 0) -> list[R]:
        """``fn`` over ``items`` on up to ``jobs`` threads (default: the store's);
        the first error cancels the rest."""
        if len(items) <= 1:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(min(jobs or self.jobs, len(items))) as pool:
            futures = [pool.submit(fn, item) for item in items]
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for future in pending:
                future.cancel()
            for future in done:
                error = future.exception()
                if error is not None:
                    raise error
            return [future.result() for future in futures]

    # -- objects -----------------------------------------------------------
    def exists(self, oids: Iterable[str]) -> set[str]:
        wanted = set(oids)
        for oid in wanted:
            layout.object_key(oid)
        if not wanted:
            return set()
        if len(wanted) <= self.exists_head_min:
            return self._exists_by_head(wanted)
        return self._exists_by_listing(wanted)

    def _head(self, oid: str) -> bool:
        try:
            self._call(
                f"look up object {oid}",
                self.client.head_object,
                Key=self._key(layout.object_key(oid)),
                oid=oid,
                object_level=True,
            )
        except ObjectNotFoundError:
            return False
        return True

    def _exists_by_head(self, wanted: set[str]) -> set[str]:
        ordered = sorted(wanted)
        found = self._parallel(self._head, ordered)
        if not all(found):
            self._require_bucket()
        return {oid for oid, present in zip(ordered, found, strict=True) if present}

    def _require_bucket(self) -> None:
        """Raise unless the bucket exists (asked once per store).

        A HEAD has no body, so the 404 of an object in a bucket that is not
        there (a typo, a deleted bucket) reads as "no such object": an empty
        store. One HEAD of the bucket tells the two apart.
        """
        if self._bucket_seen:
            return
        self._call(_BUCKET_LOOKUP, self.client.head_bucket)
        self._bucket_seen = True

    def _exists_by_listing(self, wanted: set[str]) -> set[str]:
        """One LIST page first: on a small or fresh remote it is the whole answer."""
        base = self._key(layout.OBJECTS) + "/"
        try:
            page = self._call(
                "list objects", self.client.list_objects_v2, Prefix=base, MaxKeys=1000
            )
        except StoreAuthError:
            # a public bucket without list rights still answers HEADs
            return self._exists_by_head(wanted)
        first = {o for item in page.get("Contents", []) if (o := self._oid_of(item["Key"]))}
        if not page.get("IsTruncated"):
            return wanted & first
        # oids are uniform: how far into the hex space the first page reached tells the size
        last = max(first) if first else "0" * 8
        reached = max(int(last[:8], 16) / 16**8, 1e-9)
        pages = len(first) / reached / 1000  # of a whole listing
        rest = {oid for oid in wanted if oid > last}
        prefixes = sorted({oid[:2] for oid in rest})
        prefix_cost = len(prefixes) * max(1.0, pages / 256)
        if len(wanted) < self.exists_head_max or min(pages, prefix_cost) >= len(rest):
            return (wanted & first) | self._exists_by_head(rest)
        if pages <= prefix_cost:  # list it all, in slices of the hex space side by side
            slices = max(1, min(self.jobs, round(pages / 2)))
            cuts = [c for i in range(1, slices) if (c := f"{i * 256 // slices:02x}") > last]
            bounds: list[str | None] = [last, *cuts, None]
            spans = [(str(lo), hi) for lo, hi in itertools.pairwise(bounds)]
            found: set[str] = set().union(*self._parallel(self._list_span, spans))
        else:
            found = set().union(*self._parallel(self._list_prefix, prefixes))
        return (wanted & first) | (rest & found)

    def _list_span(self, span: tuple[str, str | None]) -> set[str]:
        """oids after ``span[0]`` and before the oid prefix ``span[1]`` (None: to the end)."""
        after, before = span
        base = self._key(layout.OBJECTS) + "/"
        start = self._key(layout.object_key(after)) if len(after) == 64 else f"{base}{after}"
        stop = None if before is None else f"{base}{before}"
        paginator = self.client.get_paginator("list_objects_v2")
        out: set[str] = set()
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base, StartAfter=start):
                for item in page.get("Contents", []):
                    if stop is not None and item["Key"] >= stop:
                        return out
                    if oid := self._oid_of(item["Key"]):
                        out.add(oid)
        except _boto_errors() as exc:
            raise self._translate(exc, "list objects") from exc
        return out

    def _oid_of(self, key: str) -> str | None:
        return layout.oid_from_key(self._relative(key))

    def _list_keys(self, prefix: str) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix))
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    yield self._relative(item["Key"])
        except _boto_errors() as exc:
            raise self._translate(exc, f"list {prefix}") from exc

    def _list_prefix(self, first_two: str) -> set[str]:
        prefix = f"{layout.OBJECTS}/{first_two}/"
        return {o for key in self._list_keys(prefix) if (o := layout.oid_from_key(key))}

    def list_all(self) -> set[str]:
        """Every oid in the store, listed once (the "list everything" strategy)."""
        return set(self.list())

    def open(self, oid: str) -> BinaryIO:
        response = self._call(
            f"read object {oid}",
            self.client.get_object,
            Key=self._key(layout.object_key(oid)),
            oid=oid,
            object_level=True,
        )
        size = response.get("ContentLength")
        return cast(BinaryIO, _BodyStream(self, response["Body"], f"read object {oid}", size=size))

    def _get_response(self, oid: str) -> Any:
        return self._call(
            f"read object {oid}",
            self.client.get_object,
            Key=self._key(layout.object_key(oid)),
            oid=oid,
            object_level=True,
        )

    def get(self, oid: str, dest: Path) -> None:
        def fill(fd: int) -> None:
            self.read_into(oid, fd)

        write_replacing(Path(dest), fill)  # unnamed while it fills: a kill leaves nothing

    def read_into(
        self, oid: str, fd: int, resume: Callable[[], Journal | None] | None = None
    ) -> tuple[str, int, bytes | None]:
        """Write object ``oid`` to ``fd`` (a new, empty file open for reading and
        writing), verified: (oid, size, the bytes when small).

        The bytes are hashed as they arrive; a hash other than ``oid`` raises
        :class:`IntegrityError` (the caller discards the file). Objects that
        fit the receive buffer come back as bytes too (else None), so that a
        caller can write them elsewhere without reading the file again.

        ``resume`` (see :meth:`gitstore.cache.Cache.receive_resumable`): an
        object fetched in ranges goes into the partial file it gives, from
        where an earlier try stopped; the bytes are then hashed whole, and a
        resumed file that does not hash to ``oid`` is fetched again from the
        start, once.
        """
        what = f"read object {oid}"
        response = self._get_response(oid)
        body = response["Body"]
        size = int(response.get("ContentLength") or 0)
        data: bytes | None = None
        try:
            if size >= self.ranged_get_min:
                body.close()
                journal = resume() if resume is not None else None
                step = self._range_step(size)
                if journal is None:
                    require_space(fd, size)  # a full disk said so only once the download filled it
                    self._ranged_get(oid, fd, size)
                    actual = _hash_fd(fd, size)
                else:
                    fd = journal.fd
                    done = journal.begin(size, step)
                    require_space(fd, size - journal.resumed)
                    self._ranged_get(oid, fd, size, done, journal)
                    actual = _hash_fd(fd, size)
                    if actual != oid and journal.resumed:  # what the journal vouched for was lost
                        journal.restart(size, step)
                        require_space(fd, size)
                        self._ranged_get(oid, fd, size, {}, journal)
                        actual = _hash_fd(fd, size)
            else:
                if resume is not None and os.fstat(fd).st_size:  # a retry (not truncated for us)
                    os.ftruncate(fd, 0)
                    os.lseek(fd, 0, os.SEEK_SET)
                actual, size, data = self._stream_into(body, fd, size, what)
        finally:
            body.close()
        if actual != oid:
            raise IntegrityError(
                f"object {oid} from {self.url} is corrupt: its bytes hash to {actual}"
            )
        return actual, size, data

    def _stream_to(self, body: Any, tmp: Path, size: int, what: str) -> str:
        """:meth:`_stream_into` a new file at ``tmp``; returns the hash."""
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            return self._stream_into(body, fd, size, what)[0]
        finally:
            os.close(fd)

    def _stream_into(
        self, body: Any, fd: int, size: int, what: str
    ) -> tuple[str, int, bytes | None]:
        """Write a response body to ``fd``, hashing as it arrives: (hash, size, small bytes).

        The bytes are received straight into one reusable buffer per thread
        (see :func:`_reader`), hashed from it (BLAKE3 lets go of the GIL) and
        written from it: no per-block allocation, one copy fewer per byte. An
        object that fits the buffer is received whole first, then hashed and
        written with one call each, and returned as bytes as well.
        """
        hasher = new_hasher(size)
        readinto, finish = _reader(body)
        buf = _buffer()
        view = memoryview(buf)
        errors: tuple[type[BaseException], ...] = (*_boto_errors(), OSError, *_http_errors())
        total = 0
        whole = size < len(buf)  # announced small: gather it all in the buffer
        filled = 0
        while True:
            try:
                n = readinto(view[filled:] if whole else buf)
            except errors as exc:
                raise self._translate(exc, what) from exc
            if not n:
                break
            total += n
            if whole:
                filled += n
                if filled < len(buf):
                    continue
                whole = False  # longer than announced: stream the rest
                n, filled = filled, 0
            block = view[:n]
            hasher.update(block)
            while block:
                block = block[os.write(fd, block) :]
        data: bytes | None = None
        if filled:
            data = bytes(view[:filled])
            hasher.update(data)
            write_all(fd, data)
        writeback.start(fd, total)
        if size and total != size:  # the connection ended early: retryable, not corrupt
            raise StoreUnavailableError(
                f"cannot {what} in {self.url}: the connection to {self._endpoint()}"
                f" ended after {total} of {size} bytes"
            )
        finish()
        return str(hasher.hexdigest()), total, data if total == filled else None

    def _range_step(self, size: int) -> int:
        # about two ranges per thread: fewer requests for huge objects, all threads busy
        return max(self.range_size, -(-size // (self.jobs * 2)))

    def _ranged_get(
        self,
        oid: str,
        fd: int,
        size: int,
        done: dict[int, int] | None = None,
        journal: Journal | None = None,
    ) -> None:
        """Fetch ``size`` bytes into ``fd`` with parallel ranged GETs.

        ``done``: how far each range was written by an earlier try (it asks
        only for the rest); ``journal`` records each range's progress.
        """
        key = self._key(layout.object_key(oid))
        step = self._range_step(size)
        done = done or {}
        os.ftruncate(fd, size)

        def fetch(start: int) -> None:
            stopping.check()
            end = min(start + step, size) - 1
            position = done.get(start, start)
            if position > end:
                return
            what = f"read object {oid} bytes {position}-{end}"
            response = self._call(
                what,
                self.slow_client.get_object,  # the server may read far before it answers
                Key=key,
                Range=f"bytes={position}-{end}",
                oid=oid,
                object_level=True,
            )
            body = response["Body"]
            errors: tuple[type[BaseException], ...] = (
                *_boto_errors(),
                OSError,
                *_http_errors(),
            )
            try:
                readinto, finish = _reader(body)

                def read(buf: bytearray) -> int:
                    try:
                        return int(readinto(buf))
                    except errors as exc:
                        raise self._translate(exc, what) from exc

                position = partial.write_blocks(
                    read, fd, position, journal=journal, start=start, buf=_buffer()
                )
                finish()
            finally:
                body.close()
            if position != end + 1:
                raise StoreUnavailableError(f"short read of object {oid} from {self.url}")

        self._parallel(fetch, list(range(0, size, step)))
        writeback.start(fd, size)

    def put(self, oid: str, src: Path) -> None:
        self._refuse_write()
        src = Path(src)
        in_memory = min(self.put_in_memory_max, self.multipart_threshold - 1)
        # every source is hashed, the cache's own objects too: an object damaged
        # in the cache (by hand, by the disk) must not reach the remote as good
        try:
            data, actual, size = _read_and_hash(src, in_memory)
        except HashingError as exc:
            if not src.exists():
                raise ObjectNotFoundError(f"object {oid} is not in the cache", oid=oid) from exc
            raise
        if actual != oid:
            raise IntegrityError(f"{src} does not hash to {oid} (got {actual}); not stored")
        key = self._key(layout.object_key(oid))
        what = f"write object {oid}"
        if data is not None:
            direct = self._direct_put()
            if direct is not None and direct.put(key, data, what):
                return
            # bytes, not a file: botocore sends a file with "Expect: 100-continue"
            # and waits for the interim answer, a round trip more per object
            self._call(what, self.client.put_object, Key=key, Body=data, oid=oid)
            return
        if size >= self.multipart_threshold:
            try:
                self._multipart_put(oid, src, size, key)
            except GitstoreError as exc:
                if not self._landed(oid, size):
                    raise
                log.debug("upload of %s failed (%s), but the object is there", oid, exc)
            return
        try:
            with open(src, "rb") as body:
                self._call(what, self.client.put_object, Key=key, Body=body, oid=oid)
        except OSError as exc:
            raise StoreError(f"cannot read {src} to upload it: {exc.strerror}") from exc

    def _part_size(self, size: int) -> int:
        """The size of each part but the last: S3 allows 10,000 parts (whole MiB, so
        that a resumed upload cuts the object exactly as the interrupted one did)."""
        least = -(-size // MAX_PARTS)
        return max(self.multipart_chunksize, -(-least // MIB) * MIB)

    def _multipart_put(self, oid: str, src: Path, size: int, key: str) -> None:
        """Upload ``src`` in parts, taking up an unfinished upload of ``key`` if there is one.

        The parts of an earlier upload (a killed push, a failure past the
        retry deadline) whose size and ETag (the MD5 of their bytes, for
        uploads that are not encrypted with KMS or a customer's key) match
        this file's are kept; the others are sent again. An upload that goes
        away meanwhile (``gc --remote`` aborts old ones) is started afresh.
        A failed upload is not aborted: the next push resumes it, and ``gc
        --remote`` aborts the ones left for longer than its grace period.
        """
        what = f"write object {oid}"
        part_size = self._part_size(size)
        parts = [(n + 1, start, min(part_size, size - start))
                 for n, start in enumerate(range(0, size, part_size))]  # fmt: skip
        for fresh in (False, True):
            upload_id, have = (None, {}) if fresh else self._unfinished_upload(key)
            if upload_id is None:
                upload_id = self._call(
                    what, self.slow_client.create_multipart_upload, Key=key, oid=oid
                )["UploadId"]
            try:
                sent, kept = self._send_parts(oid, src, key, upload_id, have, parts)
                self._call(
                    what,
                    self.slow_client.complete_multipart_upload,  # may answer after minutes
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": sent},
                    oid=oid,
                )
            except ObjectNotFoundError:
                if fresh or not have:
                    raise
                continue  # the upload taken up was aborted meanwhile: start one afresh
            if kept:
                with self._client_lock:
                    self.resumed_uploads[oid] = (kept, size)
            return

    def _send_parts(
        self,
        oid: str,
        src: Path,
        key: str,
        upload_id: str,
        have: dict[int, tuple[int, str]],
        parts: list[tuple[int, int, int]],
    ) -> tuple[list[dict[str, Any]], int]:
        """Send the ``parts`` (number, offset, length) of ``src`` that ``have`` (an
        earlier try's parts: number -> (size, ETag)) lacks: (the parts for the
        completion, bytes kept from the earlier try)."""
        kept = [0]
        lock = threading.Lock()

        def send(part: tuple[int, int, int]) -> dict[str, Any]:
            stopping.check()  # Ctrl-C: the parts sent stay for the next push to take up
            number, start, length = part
            try:
                with open(src, "rb") as f:
                    body = os.pread(f.fileno(), length, start)
            except OSError as exc:
                raise StoreError(f"cannot read {src} to upload it: {exc.strerror}") from exc
            if len(body) != length:
                raise StoreError(f"{src} changed while it was uploaded")
            earlier = have.get(number)
            if earlier is not None and earlier[0] == length:
                digest = hashlib.md5(body, usedforsecurity=False).hexdigest()
                if earlier[1].strip('"').lower() == digest:  # S3 quotes it; not every service
                    with lock:
                        kept[0] += length
                    return {"PartNumber": number, "ETag": earlier[1]}
            answer = self._call(
                f"write object {oid} (part {number})",
                self.slow_client.upload_part,  # botocore retries a part by itself
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=body,
                oid=oid,
                object_level=True,
            )
            faults.part_sent()
            return {"PartNumber": number, "ETag": answer["ETag"]}

        sent = self._parallel(send, parts, PART_THREADS)  # a part each in memory
        return sent, kept[0]

    def _unfinished_upload(self, key: str) -> tuple[str | None, dict[int, tuple[int, str]]]:
        """The newest unfinished multipart upload of ``key`` and its parts
        ({number: (size, ETag)}), or (None, {})."""
        try:
            page = self._call(
                "list unfinished uploads",
                self.client.list_multipart_uploads,
                Prefix=key,
            )
        except GitstoreError:
            return None, {}  # not allowed to list (a narrow policy): upload afresh
        uploads = [u for u in page.get("Uploads", []) if u.get("Key") == key]
        if not uploads:
            return None, {}
        newest = max(uploads, key=lambda u: u.get("Initiated") or 0)
        upload_id = str(newest["UploadId"])
        have: dict[int, tuple[int, str]] = {}
        kwargs: dict[str, Any] = {}
        try:
            while True:
                listed = self._call(
                    "list the parts of an unfinished upload",
                    self.client.list_parts,
                    Key=key,
                    UploadId=upload_id,
                    **kwargs,
                )
                for part in listed.get("Parts", []):
                    have[int(part["PartNumber"])] = (int(part["Size"]), str(part["ETag"]))
                if not listed.get("IsTruncated"):
                    break
                kwargs["PartNumberMarker"] = listed["NextPartNumberMarker"]
        except GitstoreError:
            return None, {}  # gone meanwhile, or not ours to list: upload afresh
        return upload_id, have

    def _landed(self, oid: str, size: int) -> bool:
        """Whether ``oid`` is in the store with ``size`` bytes (after an upload's lost answer)."""
        try:
            return self.stat(oid).size == size
        except GitstoreError:
            return False

    def stat(self, oid: str) -> ObjectStat:
        response = self._call(
            f"look up object {oid}",
            self.client.head_object,
            Key=self._key(layout.object_key(oid)),
            oid=oid,
            object_level=True,
        )
        modified = response.get("LastModified")
        return ObjectStat(
            size=int(response["ContentLength"]),
            mtime=modified.timestamp() if modified is not None else None,
        )

    def list(self) -> Iterator[str]:
        for key in self._list_keys(layout.OBJECTS + "/"):
            oid = layout.oid_from_key(key)
            if oid is not None:
                yield oid

    def delete(self, oid: str) -> None:
        self._refuse_write()
        key = self._key(layout.object_key(oid))
        self._call(f"delete object {oid}", self.client.delete_object, Key=key, oid=oid)

    def touch(self, oid: str) -> None:
        """A copy of the object onto itself: S3 has no other way to renew LastModified.

        One CopyObject up to ``copy_max`` bytes (S3's limit), a multipart copy
        (UploadPartCopy) above it; both on the slow client, since the server
        copies the bytes before it answers.
        """
        from boto3.s3.transfer import TransferConfig  # type: ignore[import-untyped]

        self._refuse_write()
        key = self._key(layout.object_key(oid))
        what = f"renew object {oid}"
        config = TransferConfig(
            multipart_threshold=self.copy_max,
            multipart_chunksize=min(self.copy_max, 1 << 30),
            max_concurrency=min(self.jobs, 8),
        )
        try:
            self.slow_client.copy(
                {"Bucket": self.bucket, "Key": key},
                self.bucket,
                key,
                ExtraArgs={"MetadataDirective": "REPLACE"},
                Config=config,
            )
        except _boto_errors() as exc:
            raise self._translate(exc, what, oid=oid, object_level=True) from exc

    def sweep_leftovers(self, older_than: float, dry_run: bool = False) -> Sequence[str]:
        """Abort this store's own multipart uploads begun before ``older_than``.

        Only an upload to one of this store's object keys
        (``<prefix>/objects/ab/cd/<oid>``) is ours: the same bucket may hold
        another repository's remote (at the bucket's root, or nested under
        this prefix) and other programs' uploads, and they are left alone.
        """
        if not dry_run:
            self._refuse_write()
        swept: builtins.list[str] = []
        kwargs: dict[str, Any] = {"Prefix": self._key(layout.OBJECTS) + "/"}
        while True:
            page = self._call(
                "list unfinished uploads", self.client.list_multipart_uploads, **kwargs
            )
            for upload in page.get("Uploads", []):
                key = str(upload["Key"])
                oid = self._oid_of(key)
                if oid is None or key != self._key(layout.object_key(oid)):
                    continue  # not an object key of this store
                started = upload.get("Initiated")
                if started is None or started.timestamp() >= older_than:
                    continue
                if not dry_run:
                    self._call(
                        "abort an unfinished upload",
                        self.client.abort_multipart_upload,
                        Key=key,
                        UploadId=upload["UploadId"],
                    )
                swept.append(f"upload {self._relative(key)}")
            if not page.get("IsTruncated"):
                return swept
            kwargs.update(
                KeyMarker=page.get("NextKeyMarker", ""),
                UploadIdMarker=page.get("NextUploadIdMarker", ""),
            )

    # -- documents ---------------------------------------------------------
    def _doc_key(self, key: str) -> str:
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") for p in parts):
            raise StoreError(f"invalid document key {key!r} for {self.url}")
        return self._key(key)

    def read_document(self, key: str) -> Document | None:
        what = f"read {key}"
        try:
            response = self._call(what, self.client.get_object, Key=self._doc_key(key))
        except ObjectNotFoundError:
            return None
        with _BodyStream(self, response["Body"], what) as body:
            data = body.read()
        return Document(data=data, version=str(response["ETag"]))

    def put_document(
        self,
        key: str,
        data: bytes,
        *,
        if_absent: bool = False,
        if_version: str | None = None,
    ) -> str:
        self._refuse_write()
        from botocore.exceptions import ClientError, ParamValidationError

        conditions: dict[str, str] = {}
        if if_absent:
            conditions["IfNoneMatch"] = "*"
        if if_version is not None:
            conditions["IfMatch"] = if_version
        try:
            response = self.client.put_object(
                Bucket=self.bucket, Key=self._doc_key(key), Body=data, **conditions
            )
        except ParamValidationError as exc:
            raise UnsupportedError(
                f"this botocore cannot send conditional writes to {self.url}",
                hint="pip install -U boto3",
            ) from exc
        except _boto_errors() as exc:
            error = self._translate(exc, f"write {key}")
            if if_version is not None and isinstance(error, ObjectNotFoundError):
                error = PreconditionFailed(f"{key} in {self.url} no longer exists")
            if isinstance(error, PreconditionFailed):
                retried = isinstance(exc, ClientError) and exc.response.get(
                    "ResponseMetadata", {}
                ).get("RetryAttempts", 0)
                current = self.read_document(key) if retried else None
                if current is not None and current.data == data:
                    return current.version  # our own earlier attempt landed
                error = PreconditionFailed(
                    f"{key} already exists in {self.url}"
                    if if_absent
                    else f"{key} in {self.url} changed since it was read"
                )
            raise error from exc
        return str(response["ETag"])

    def delete_document(self, key: str) -> None:
        self._refuse_write()
        self._call(f"delete {key}", self.client.delete_object, Key=self._doc_key(key))

    def list_documents(self, prefix: str) -> Iterator[str]:
        return self._list_keys(prefix)

    def close(self) -> None:
        for client in (self._client, self._slow_client):
            if client is not None:
                client.close()
        if self._direct:
            self._direct.close()
        self._client = self._slow_client = self._direct = None


def _invocation_id() -> Callable[..., None]:
    """A ``before-call`` handler giving each request botocore's invocation id from a counter.

    botocore otherwise makes a ``uuid4`` per request (a ``getrandom`` call,
    one more GIL hand-over per small object); the id only has to be unique,
    so it is a random UUID-shaped prefix per client and a counter.
    """
    prefix = str(uuid.uuid4())[:24]
    counter = itertools.count()

    def handler(context: dict[str, Any] | None = None, **_: Any) -> None:
        if context is not None:
            retries = context.setdefault("retries", {})
            if "invocation-id" not in retries:
                retries["invocation-id"] = f"{prefix}{next(counter) & 0xFFFFFFFFFFFF:012x}"

    return handler


class _BodyStream(io.RawIOBase):
    """A botocore StreamingBody as a BinaryIO, with errors translated."""

    def __init__(self, store: S3Store, body: Any, what: str, size: int | None = None) -> None:
        self._store = store
        self._body = body
        self._what = what
        self.content_length = None if size is None else int(size)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        try:
            data = self._body.read(len(view))
        except _boto_errors() as exc:
            raise self._store._translate(exc, self._what) from exc
        except OSError as exc:
            raise self._store._translate(exc, self._what) from exc
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


_local = threading.local()
READ_BUFFER = 1 << 20  # per transfer thread; received, hashed and written while in the CPU cache


def _buffer() -> bytearray:
    """This thread's receive buffer (made once per thread, reused for every object)."""
    buf: bytearray | None = getattr(_local, "buf", None)
    if buf is None:
        buf = _local.buf = bytearray(READ_BUFFER)
    return buf


def _http_errors() -> tuple[type[BaseException], ...]:
    from http.client import HTTPException

    return (HTTPException,)


def _reader(body: Any) -> tuple[Callable[[bytearray | memoryview], int], Callable[[], None]]:
    """(readinto, finish) for a botocore StreamingBody.

    botocore and urllib3 (2.x) read a block by allocating a new buffer and
    copying it again on its way up; for the raw bytes of an object (botocore
    asks urllib3 not to decode content) the http.client response underneath
    can receive straight into our buffer. ``finish`` then hands the connection
    back to urllib3's pool, as urllib3 does itself at the end of a body. When
    any of that is not as expected (another HTTP stack, a body already read
    from), this falls back to the StreamingBody's own ``read``. Either way the
    caller checks the byte count against Content-Length and the hash.
    """
    raw: Any = getattr(body, "_raw_stream", None)
    fp: Any = getattr(raw, "_fp", None)
    if (
        raw is not None
        and getattr(raw, "decode_content", True) is False
        and getattr(raw, "_fp_bytes_read", None) == 0
        and not getattr(raw, "_decoded_buffer", None)
        and callable(getattr(fp, "readinto", None))
        and callable(getattr(raw, "release_conn", None))
    ):

        def finish() -> None:
            if fp.isclosed():  # read to its end: the connection can be used again
                raw.release_conn()

        return fp.readinto, finish

    def readinto(buf: bytearray | memoryview) -> int:
        data = body.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    return readinto, lambda: None


def _hash_fd(fd: int, size: int) -> str:
    """BLAKE3 of the first ``size`` bytes of the file open at ``fd`` (for reading too)."""
    hasher = new_hasher(size)
    partial.hash_written(fd, size, hasher, block=8 << 20)  # big reads: BLAKE3 on threads
    return str(hasher.hexdigest())


def _read_and_hash(src: Path, in_memory_max: int) -> tuple[bytes | None, str, int]:
    """(the bytes when small enough, else None; their BLAKE3; size) of a file to upload."""
    fd, st = open_source(src)
    try:
        if st.st_size > in_memory_max:
            data = None
        else:
            data = read_small(src, fd, st)  # HashingError if it changes meanwhile
    finally:
        os.close(fd)
    if data is None:
        actual, size = hash_file(src)
        return None, actual, size
    return data, hash_bytes(data), len(data)
