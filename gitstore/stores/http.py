"""A read-only store behind an HTTP(S) base URL: a published cache on any web server.

Objects are read from ``<base>/objects/ab/cd/<oid>`` with GET (streamed) and
HEAD (existence, size, last-modified), over the standard library only:
``http.client`` with one kept-alive connection per thread, ``HTTPS_PROXY`` /
``HTTP_PROXY`` / ``NO_PROXY`` as urllib reads them (loopback is never
proxied), redirects followed through ``urllib.request``, and a custom CA
bundle from ``AWS_CA_BUNDLE`` or ``REQUESTS_CA_BUNDLE`` (``SSL_CERT_FILE``
works through OpenSSL's defaults). Every write raises
:class:`ReadOnlyStoreError`; listing raises :class:`UnsupportedError` (a web
server has no listing we can trust). Only a 404 or 410 is "not found"; a 403
on an object is :class:`ObjectAccessDeniedError`; 5xx, 429 and connection
trouble are retryable :class:`StoreUnavailableError`; so is a body that ends
before the bytes its answer announced ("the answer ... ended after X bytes of
the Y it announced"). The base URL's path goes out percent-encoded (non-ASCII
as UTF-8, spaces; ``%XX`` kept), a non-ASCII host as IDNA.

A server that says it holds an object that cannot exist (:data:`NO_OBJECT`)
serves a page for every path: it is "not a gitstore store", asked before the
first lookup and whenever an object's bytes do not hash to its name, which is
also "not a gitstore store" when the answer was a web page (see
:meth:`HttpStore._refuse_page`), and otherwise :class:`IntegrityError`.

One object (or document) must arrive within ``deadline`` seconds (the retry
deadline, ``GITSTORE_RETRY_DEADLINE``, set by :func:`gitstore.remotes.store_for`)
plus one second per :data:`MIN_RATE` bytes received so far: a server that
sends a byte now and then never trips the idle ``timeout`` of the socket, and
would otherwise hold a download for hours. Past that bound the read fails with
a retryable :class:`StoreUnavailableError` (which the retry deadline, passed by
then, turns into the final error).

An object of :attr:`HttpStore.resume_min` bytes (64 MiB) or more whose size
the server announces is downloaded into the cache's resumable partial file
(gitstore/partial.py): a fetch killed part-way, or a retry after a dropped
connection, asks for the rest with ``Range: bytes=N-`` and hashes the bytes
already there with it, as git-lfs resumes. A server that ignores ranges (a
200, as python's ``http.server``) or gets them wrong sends the whole object
again, from the start; ``gitstore serve`` honours them.
"""

from __future__ import annotations

import base64
import http.client
import io
import ipaddress
import logging
import os
import re
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from .. import layout, partial, writeback
from ..errors import (
    ConfigError,
    GitstoreError,
    IntegrityError,
    ObjectNotFoundError,
    StoreAuthError,
    StoreError,
    StoreUnavailableError,
    UnsupportedError,
)
from ..hashing import Hasher, hash_bytes, new_hasher
from ..partial import Journal
from .base import Document, ObjectStat, Store, require_space
from .retry import ObjectAccessDeniedError, ThrottledError

log = logging.getLogger(__name__)

USER_AGENT = "gitstore"
MAX_DOCUMENT = 256 << 20
_REDIRECTS = {301, 302, 303, 307, 308}
MIN_RATE = 8 << 10  # bytes a second a transfer must average once its deadline has passed
BLOCK = 1 << 20  # bytes received, hashed and written at a time
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PATH_SAFE = "/%!$&'()*+,;=:@-._~"  # RFC 3986 pchar and "/", and the % of escapes


def encoded_path(path: str) -> str:
    """``path`` as it may go on a request line: non-ASCII characters (as UTF-8),
    spaces and other characters a URL may not hold percent-encoded, ``%XX``
    escapes already there kept as they are (as browsers and curl turn an IRI
    into a URI): ``/café/`` and ``/caf%C3%A9/`` name the same folder."""
    return quote(_LONE_PERCENT.sub("%25", path), safe=_PATH_SAFE)


def _encoded_url(url: str) -> str:
    """A full URL (a redirect's target) with its path and query encoded as above."""
    parts = urlsplit(url)
    query = quote(_LONE_PERCENT.sub("%25", parts.query), safe=_PATH_SAFE + "?")
    return urlunsplit(parts._replace(path=encoded_path(parts.path), query=query))


def _ascii_host(url: str, host: str) -> str:
    """``host`` as DNS and the Host header take it: a non-ASCII name in IDNA (``xn--``)."""
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ConfigError(
            f"malformed remote URL '{url}' ('{host}' is not a host name)",
            hint="use https://host/path/",
        ) from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# an oid no content hashes to in practice: a server that has it answers every path
NO_OBJECT = "0" * 64
NOT_A_STORE_HINT = (
    "point the remote at the folder that holds objects/ (`gitstore remote list` shows its URL)"
)


class HttpStore(Store):
    """Objects under an HTTP(S) base URL, read-only; see the module docstring."""

    jobs = 16  # threads for parallel HEADs in exists()
    deadline = 60.0  # seconds for one object, plus one per MIN_RATE bytes received
    resume_min = 64 << 20  # objects this big go into a partial file that a later try resumes
    resumes_reads = True  # read_into takes up an interrupted download (gitstore/partial.py)

    def __init__(self, base_url: str, *, timeout: float = 30.0, url: str | None = None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"malformed remote URL '{base_url}'", hint="use https://host/path/")
        self.url = url or base_url
        self.read_only = True
        self.timeout = timeout
        self._scheme = parts.scheme
        self._host = _ascii_host(base_url, parts.hostname)
        self._port = parts.port
        self._netloc = parts.netloc.rpartition("@")[2]
        if not self._netloc.isascii():
            self._netloc = self._host + (f":{self._port}" if self._port is not None else "")
        # what the request line carries: http.client sends ASCII only (QA pass 15, finding 1)
        self._base_path = encoded_path(parts.path if parts.path.endswith("/") else parts.path + "/")
        self._idle: dict[int, http.client.HTTPConnection] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._fallback_checked = False
        self._fallback: StoreError | None = None  # the answer of that check, when it refused
        self._context: ssl.SSLContext | None = None
        self._proxy = self._find_proxy()

    # -- connections -------------------------------------------------------
    def _find_proxy(self) -> tuple[str, int, dict[str, str]] | None:
        proxy = urllib.request.getproxies().get(self._scheme)
        if not proxy or _is_loopback(self._host) or urllib.request.proxy_bypass(self._host):
            return None
        if "://" not in proxy:
            proxy = "http://" + proxy
        parts = urlsplit(proxy)
        if not parts.hostname:
            return None
        headers = {}
        if parts.username:
            token = f"{parts.username}:{parts.password or ''}".encode()
            headers["Proxy-Authorization"] = "Basic " + base64.b64encode(token).decode()
        return parts.hostname, parts.port or 80, headers

    def _ssl_context(self) -> ssl.SSLContext:
        if self._context is None:
            cafile = os.environ.get("AWS_CA_BUNDLE") or os.environ.get("REQUESTS_CA_BUNDLE")
            self._context = ssl.create_default_context(cafile=cafile or None)
        return self._context

    def _new_connection(self) -> http.client.HTTPConnection:
        if self._scheme == "https":
            if self._proxy is not None:
                host, port, headers = self._proxy
                conn = http.client.HTTPSConnection(
                    host, port, timeout=self.timeout, context=self._ssl_context()
                )
                conn.set_tunnel(self._host, self._port, headers=headers)
                return conn
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=self.timeout, context=self._ssl_context()
            )
        if self._proxy is not None:
            host, port, _ = self._proxy
            return http.client.HTTPConnection(host, port, timeout=self.timeout)
        return http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)

    def _acquire(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            conn = self._idle.pop(threading.get_ident(), None)
        if conn is not None:
            return conn, True
        return self._new_connection(), False

    def _release(self, conn: http.client.HTTPConnection | None, reusable: bool) -> None:
        if conn is None:
            return
        if reusable:
            with self._lock:
                ident = threading.get_ident()
                if not self._closed and ident not in self._idle:
                    self._idle[ident] = conn
                    return
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = list(self._idle.values()), {}
        for conn in idle:
            conn.close()

    # -- requests ----------------------------------------------------------
    def _unavailable(self, what: str, exc: BaseException) -> GitstoreError:
        if isinstance(exc, ssl.SSLError):
            return StoreError(
                f"TLS verification failed for {self._netloc} ({self.url}): {exc}",
                hint="set SSL_CERT_FILE or AWS_CA_BUNDLE to the server's certificate bundle",
            )
        reason = str(exc) or type(exc).__name__
        return StoreUnavailableError(
            f"cannot reach {self._netloc} for {self.url} while trying to {what}: {reason}"
        )

    def _send(
        self, method: str, key: str, what: str, extra: Mapping[str, str] | None = None
    ) -> tuple[http.client.HTTPConnection | None, http.client.HTTPResponse]:
        path = self._base_path + quote(key, safe="/")
        target = path
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **(extra or {})}
        if self._proxy is not None and self._scheme == "http":
            target = f"http://{self._netloc}{path}"
            headers.update(self._proxy[2])
        for attempt in range(2):
            conn, reused = self._acquire()
            try:
                conn.request(method, target, headers=headers)
                response = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                stale = isinstance(exc, (ConnectionResetError, BrokenPipeError))
                if reused and attempt == 0 and stale:
                    continue  # a kept-alive connection the server had closed
                raise self._unavailable(what, exc) from exc
            if response.status in _REDIRECTS:
                location = response.getheader("Location") or ""
                response.read()
                self._release(conn, not response.will_close)
                full = _encoded_url(urljoin(f"{self._scheme}://{self._netloc}{path}", location))
                return None, self._send_via_urllib(method, full, what, extra)
            return conn, response
        raise AssertionError("unreachable")

    def _send_via_urllib(
        self, method: str, full: str, what: str, extra: Mapping[str, str] | None = None
    ) -> http.client.HTTPResponse:
        headers = {"User-Agent": USER_AGENT, **(extra or {})}  # urllib keeps them on redirects
        request = urllib.request.Request(full, method=method, headers=headers)
        context = self._ssl_context() if full.startswith("https:") else None
        try:
            response: Any = urllib.request.urlopen(request, timeout=self.timeout, context=context)
        except urllib.error.HTTPError as exc:
            response = exc  # an HTTPError is the response; _check reads its status
        except (OSError, http.client.HTTPException) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            if isinstance(reason, BaseException):
                raise self._unavailable(what, reason) from exc
            raise self._unavailable(what, exc) from exc
        return response  # type: ignore[no-any-return]

    def _check(
        self,
        conn: http.client.HTTPConnection | None,
        response: http.client.HTTPResponse,
        what: str,
        *,
        oid: str | None = None,
    ) -> None:
        """Return if the answer is 2xx; otherwise drain, release and raise its error."""
        status = _status(response)
        if 200 <= status < 300:
            return
        try:
            response.read()
        except (OSError, http.client.HTTPException):
            pass
        response.close()
        self._release(conn, not response.will_close if conn is not None else False)
        reason = " ".join(str(getattr(response, "reason", "")).split())  # urllib's span lines
        where = f"{self.url} ({status} {reason})".rstrip()
        if status in (404, 410):
            raise ObjectNotFoundError(f"cannot {what}: not in {self.url}", oid=oid)
        if status == 403 and oid is not None:
            raise ObjectAccessDeniedError(f"access denied to {what} in {where}")
        if status in (401, 403, 407):
            raise StoreAuthError(f"access denied to {what} in {where}")
        if status in (429, 503):
            raise ThrottledError(f"{self._netloc} is throttling or down: cannot {what} in {where}")
        if status >= 500:
            raise StoreUnavailableError(f"{self._netloc} failed to {what} for {where}")
        raise StoreError(f"cannot {what} in {where}")

    def _head(self, key: str, what: str, oid: str | None) -> http.client.HTTPResponse:
        conn, response = self._send("HEAD", key, what)
        self._check(conn, response, what, oid=oid)
        response.read()
        response.close()
        self._release(conn, conn is not None and not response.will_close)
        return response

    # -- objects -----------------------------------------------------------
    def _present(self, oid: str) -> bool:
        try:
            self._head(layout.object_key(oid), f"look up object {oid}", oid)
        except ObjectNotFoundError:
            return False
        return True

    def _refuse_fallback(self) -> None:
        """StoreError when the server says it holds an object that cannot exist.

        A site that answers every path with its index page (a single-page
        app's or a CDN's fallback) would otherwise be taken as holding every
        object. Asked once per store, before the first lookup.
        """
        if self._fallback_checked:
            if self._fallback is not None:
                raise self._fallback
            return
        try:
            self._head(layout.object_key(NO_OBJECT), "look up an object that cannot exist", None)
        except ObjectNotFoundError:
            self._fallback_checked = True
            return
        except (ThrottledError, StoreUnavailableError):
            raise  # no answer yet: asked again (the retrying store retries the whole lookup)
        except StoreError:
            self._fallback_checked = True
            return  # a refusal (403 for what is not there) is not a yes
        self._fallback = StoreError(
            f"{self.url} is not a gitstore store: it answers for an object that cannot exist,"
            " so it serves a page for every path (a site's fallback page?)",
            hint=NOT_A_STORE_HINT,
        )
        self._fallback_checked = True
        raise self._fallback

    def _refuse_page(self, oid: str, response: http.client.HTTPResponse, fd: int) -> None:
        """StoreError "not a gitstore store" for an object that came wrong as a site's page.

        Called when the bytes of ``oid`` do not hash to it: a site that serves
        one page for every path (its fallback, a login or error page) would
        otherwise have each object reported as corrupt on the remote, which
        sends people looking for damaged data (QA pass 15, finding 7). It is
        such a site when it says it holds an object that cannot exist (the
        lookups' check, asked now, since fetch does not look objects up
        first), or when the answer was a web page: ``text/html``, or a body
        opening with ``<!doctype`` or ``<html`` that the server did not label
        as the bytes of a file (``application/octet-stream``, as a store's
        objects are served), so a real store's corrupt copy of a tracked HTML
        file is still reported as corrupt. Either way nothing enters the cache.
        """
        try:
            self._refuse_fallback()
        except StoreUnavailableError:
            pass  # no answer to that question now: the answer itself decides
        kind = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
        try:
            head = os.pread(fd, 64, 0).lstrip().lower()
        except OSError:  # a file open for writing only: the content type alone decides
            head = b""
        opens_as_page = head.startswith((b"<!doctype html", b"<html"))
        if kind == "text/html" or (opens_as_page and not kind.endswith("octet-stream")):
            raise StoreError(
                f"{self.url} is not a gitstore store: it answered for object {oid} with a web"
                f" page ({kind or 'no content type'}), not the object's bytes",
                hint=NOT_A_STORE_HINT,
            )

    def exists(self, oids: Iterable[str]) -> set[str]:
        wanted = sorted(set(oids))
        for oid in wanted:
            layout.object_key(oid)
        if wanted:
            self._refuse_fallback()
        if len(wanted) <= 1:
            return {oid for oid in wanted if self._present(oid)}
        with ThreadPoolExecutor(min(self.jobs, len(wanted))) as pool:
            found = list(pool.map(self._present, wanted))
        return {oid for oid, present in zip(wanted, found, strict=True) if present}

    def open(self, oid: str) -> BinaryIO:
        what = f"read object {oid}"
        started = time.monotonic()
        conn, response = self._send("GET", layout.object_key(oid), what)
        self._check(conn, response, what, oid=oid)
        return cast(BinaryIO, _ResponseStream(self, conn, response, what, started))

    def read_into(
        self, oid: str, fd: int, resume: Callable[[], Journal | None] | None = None
    ) -> tuple[str, int, None]:
        """Write object ``oid`` to ``fd`` (a new, empty file open for reading and
        writing), verified: (oid, size, None).

        The bytes are hashed as they arrive; a hash other than ``oid`` raises
        :class:`IntegrityError` (the caller discards the file).

        ``resume`` (see :meth:`gitstore.cache.Cache.receive_resumable`): an
        object of :attr:`resume_min` bytes or more whose size the server
        announces goes into the partial file it gives, from where an earlier
        try stopped (``Range: bytes=N-``); a server that answers with the
        whole object starts it over. The bytes already there are hashed with
        the rest, and a resumed file that does not hash to ``oid`` is fetched
        again from the start, once.
        """
        what = f"read object {oid}"
        first, announced = self._get_object(oid, what)
        journal = None
        try:
            if resume is not None and announced is not None and announced >= self.resume_min:
                journal = resume() if announced else None
            if journal is not None:
                size = announced or 0
                actual = self._read_resuming(oid, first, journal, size, what)
            else:
                if resume is not None and os.fstat(fd).st_size:  # a retry (not truncated for us)
                    os.ftruncate(fd, 0)
                if announced is not None and announced >= self.resume_min:
                    require_space(fd, announced)  # else a full disk tells only once it is full
                hasher = new_hasher(announced or 0)
                size = self._write_body(first, fd, hasher, 0, None)
                writeback.start(fd, size)
                actual = str(hasher.hexdigest())
        finally:
            first.close()
        if actual != oid:
            self._refuse_page(oid, first.response, journal.fd if journal is not None else fd)
            raise IntegrityError(
                f"object {oid} from {self.url} is corrupt: its bytes hash to {actual}"
            )
        return actual, size, None

    def _get_object(self, oid: str, what: str) -> tuple[_ResponseStream, int | None]:
        """GET an object: its body and announced size; an answer other than 2xx raises."""
        started = time.monotonic()
        conn, response = self._send("GET", layout.object_key(oid), what)
        self._check(conn, response, what, oid=oid)
        length = response.getheader("Content-Length")
        size = int(length) if length is not None and length.isdigit() else None
        return _ResponseStream(self, conn, response, what, started), size

    def _get_whole(self, oid: str, what: str, size: int) -> _ResponseStream:
        """The object from its first byte; it must be ``size`` bytes, as announced before."""
        stream, length = self._get_object(oid, what)
        if length != size:
            stream.close()
            raise StoreUnavailableError(
                f"cannot {what} in {self.url}: it announced {size} bytes, then {length}"
            )
        return stream

    def _read_resuming(
        self, oid: str, first: _ResponseStream, journal: Journal, size: int, what: str
    ) -> str:
        """Fill the partial file of ``journal`` from where it stopped; the hash of it all."""
        fd = journal.fd
        journal.close()  # a retry within the command: begin() opens it again
        position = journal.begin(size, size).get(0, 0)  # one range: the whole object
        os.ftruncate(fd, size)  # begin() takes up only a file of the object's size
        hasher = new_hasher(size)
        stream: _ResponseStream | None = first
        if position:
            first.close()  # closes the connection: the rest of its body is not drained
            partial.hash_written(fd, position, hasher)
            stream = None
            if position < size:
                stream, position = self._get_rest(oid, journal, size, position, what)
                if not position:  # the whole object came back: it starts over
                    hasher = new_hasher(size)
        actual = self._finish(stream, journal, hasher, position, size, what)
        if actual != oid and journal.resumed:  # what the journal vouched for was lost
            log.warning("partial download of %s did not verify; fetching it again", oid)
            journal.restart(size, size)
            os.ftruncate(fd, size)
            stream = self._get_whole(oid, what, size)
            actual = self._finish(stream, journal, new_hasher(size), 0, size, what)
        return actual

    def _get_rest(
        self, oid: str, journal: Journal, size: int, position: int, what: str
    ) -> tuple[_ResponseStream, int]:
        """The object from ``position`` on (a 206), or whole (a 200): (body, where it starts).

        A server that ignores ranges answers 200; one that gets the range
        wrong (another start or size, 416 for a byte it announced) is not
        asked again: either way the partial file starts over, so that it can
        never hold a download back.
        """
        wanted = f"bytes={position}-"
        started = time.monotonic()
        conn, response = self._send("GET", layout.object_key(oid), what, {"Range": wanted})
        status = _status(response)
        if status == 206:
            match = _CONTENT_RANGE.fullmatch((response.getheader("Content-Range") or "").strip())
            first, last, total = (int(g) for g in match.groups()) if match else (-1, -1, -1)
            if first == position and total == size and position <= last < size:
                return _ResponseStream(self, conn, response, what, started), position
        elif status != 416 and not 200 <= status < 300:
            self._check(conn, response, what, oid=oid)  # raises its error
        stream = _ResponseStream(self, conn, response, what, started)
        if status != 200 or response.getheader("Content-Length") != str(size):
            stream.close()
            log.warning(
                "%s answered %s to %s for %s: fetching it whole", self._netloc, status, wanted, oid
            )
            journal.restart(size, size)
            os.ftruncate(journal.fd, size)
            return self._get_whole(oid, what, size), 0
        journal.restart(size, size)  # it ignores ranges: this is the whole object
        os.ftruncate(journal.fd, size)
        return stream, 0

    def _finish(
        self,
        stream: _ResponseStream | None,
        journal: Journal,
        hasher: Hasher,
        position: int,
        size: int,
        what: str,
    ) -> str:
        """Write the rest of the object from ``stream`` into the partial file; its hash."""
        if stream is not None:
            with stream:
                require_space(journal.fd, size - position)
                position = self._write_body(stream, journal.fd, hasher, position, journal)
        if position != size:  # a range shorter than asked for: the next try takes it up
            raise StoreUnavailableError(
                f"cannot {what} in {self.url}: {self._netloc} sent it up to byte {position}"
                f" of {size}"
            )
        journal.mark(0, size)
        writeback.start(journal.fd, size)
        return str(hasher.hexdigest())

    def _write_body(
        self,
        stream: _ResponseStream,
        fd: int,
        hasher: Hasher,
        position: int,
        journal: Journal | None,
    ) -> int:
        """Hash and write a body at ``position`` on; where it ended. Each
        :data:`partial.MARK_EVERY` bytes are recorded in ``journal``, and what
        was written when the connection drops."""
        return partial.write_blocks(
            stream.readinto, fd, position, hasher=hasher, journal=journal, buf=_buffer()
        )

    def put(self, oid: str, src: Path) -> None:
        self._refuse_write()

    def stat(self, oid: str) -> ObjectStat:
        response = self._head(layout.object_key(oid), f"look up object {oid}", oid)
        length = response.getheader("Content-Length")
        if length is None or not length.isdigit():
            raise StoreError(f"{self.url} did not say the size of object {oid}")
        modified = response.getheader("Last-Modified")
        mtime = None
        if modified:
            try:
                mtime = parsedate_to_datetime(modified).timestamp()
            except (TypeError, ValueError):
                mtime = None
        return ObjectStat(size=int(length), mtime=mtime)

    def list(self) -> Iterator[str]:
        raise UnsupportedError(
            f"{self.url} cannot list objects over HTTP",
            hint="list the store it was published from instead",
        )

    def delete(self, oid: str) -> None:
        self._refuse_write()

    # -- documents ---------------------------------------------------------
    def read_document(self, key: str) -> Document | None:
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") for p in parts):
            raise StoreError(f"invalid document key {key!r} for {self.url}")
        what = f"read {key}"
        started = time.monotonic()
        try:
            conn, response = self._send("GET", key, what)
            self._check(conn, response, what)
        except ObjectNotFoundError:
            return None
        blocks: list[bytes] = []
        total = 0
        with _ResponseStream(self, conn, response, what, started) as stream:
            while block := stream.read(1 << 16):
                total += len(block)
                if total > MAX_DOCUMENT:
                    raise StoreError(f"{key} in {self.url} is larger than {MAX_DOCUMENT} bytes")
                blocks.append(block)
        data = b"".join(blocks)
        version = (
            response.getheader("ETag")
            or response.getheader("Last-Modified")
            or "blake3:" + hash_bytes(data)
        )
        return Document(data=data, version=version)


def _status(response: Any) -> int:
    """The status of an http.client response or of urllib's HTTPError."""
    return int(cast(int, getattr(response, "status", None) or getattr(response, "code", 0)))


_buffers = threading.local()


def _buffer() -> bytearray:
    """This thread's receive buffer: not a new megabyte for each small object."""
    buf: bytearray | None = getattr(_buffers, "buf", None)
    if buf is None:
        buf = _buffers.buf = bytearray(BLOCK)
    return buf


class _ResponseStream(io.RawIOBase):
    """An HTTP response body as a BinaryIO; returns its connection when read to the end.

    Each read waits for at most one receive (``read1``), and never past the
    transfer's bound (see the module docstring), so that a server dripping
    bytes is cut off on time.
    """

    def __init__(
        self,
        store: HttpStore,
        conn: http.client.HTTPConnection | None,
        response: http.client.HTTPResponse,
        what: str,
        started: float,
    ) -> None:
        self._store = store
        self._conn = conn
        self._response = response
        self._what = what
        self._started = started
        self._received = 0
        self._shortened = False  # the socket's timeout was cut to the time left
        self._eof = False

    @property
    def response(self) -> http.client.HTTPResponse:
        """The answer this body is of (its headers stay readable once it is closed)."""
        return self._response

    def readable(self) -> bool:
        return True

    def _time_left(self) -> float:
        allowed = self._store.deadline + self._received / MIN_RATE
        return allowed - (time.monotonic() - self._started)

    def _too_slow(self) -> GitstoreError:
        store = self._store
        elapsed = time.monotonic() - self._started
        return StoreUnavailableError(
            f"{store._netloc} is too slow for {store.url}: cannot {self._what} in"
            f" {elapsed:.0f}s ({self._received} bytes arrived; the limit is"
            f" {store.deadline:g}s plus 1s per {MIN_RATE >> 10} KiB)",
            hint="check the server; for a slow link raise GITSTORE_RETRY_DEADLINE",
        )

    def _cut_short(self, missing: int | None) -> GitstoreError:
        """The body ended before the bytes its answer announced: the server was
        reached and answered (not "cannot reach"), and a retry may get it all."""
        store = self._store
        subject = self._what.removeprefix("read ")
        announced = "" if missing is None else f" of the {self._received + missing} it announced"
        return StoreUnavailableError(
            f"the answer for {subject} from {store.url} ended after {self._received}"
            f" bytes{announced}",
            hint=f"{store._netloc} answered, then closed the connection early: try again,"
            " or check that server (or a proxy in front of it)",
        )

    def _wait_at_most(self, left: float) -> None:
        sock = getattr(self._conn, "sock", None)
        if sock is None:
            return
        if left < self._store.timeout:
            sock.settimeout(left)
            self._shortened = True
        elif self._shortened:
            sock.settimeout(self._store.timeout)
            self._shortened = False

    def readinto(self, buffer: Any) -> int:
        left = self._time_left()
        if left <= 0 and len(buffer):
            raise self._too_slow()
        self._wait_at_most(left)
        try:
            data = self._response.read1(len(buffer))
        except (OSError, http.client.HTTPException) as exc:
            if self._time_left() <= 0:
                raise self._too_slow() from exc
            if isinstance(exc, http.client.IncompleteRead):  # a chunked body cut short
                raise self._cut_short(exc.expected) from exc
            raise self._store._unavailable(self._what, exc) from exc
        n = len(data)
        if n == 0:
            remaining = self._response.length
            if remaining and len(buffer):  # http.client ends a short body silently
                raise self._cut_short(remaining)
            self._eof = True
        else:
            memoryview(buffer).cast("B")[:n] = data
            self._received += n
        return n

    def close(self) -> None:
        if not self.closed:
            self._response.close()
            reusable = self._eof and not self._response.will_close
            if self._conn is not None:
                if reusable:
                    if self._shortened and self._conn.sock is not None:
                        self._conn.sock.settimeout(self._store.timeout)
                    self._store._release(self._conn, True)
                else:
                    self._conn.close()
        super().close()
