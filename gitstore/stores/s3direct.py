"""Small PUTs to an S3-compatible endpoint without botocore's per-request machinery.

A ``put_object`` of a 4 KiB object costs botocore ~1.5 ms of CPU (endpoint
rules resolved anew for every key, a dozen events, the request objects), the
request itself ~0.4 ms. A push of many small files is bound by that CPU: the
client's own, and on a shared machine the server's. :class:`DirectPut` sends
such a PUT itself: the URL is the endpoint's path-style address, the
signature botocore's own ``S3SigV4Auth`` with the credentials and region of
the store's boto3 session, the bytes on one kept-alive ``http.client``
connection per thread, with the client's connect and read timeouts.

It is only ever a shortcut, and never decides anything botocore would decide
differently:

- only for a store with an explicit endpoint (an S3-compatible service, where
  gitstore already uses path-style addressing and no default checksums); AWS
  itself keeps the full client, which follows region redirects; nor with
  anonymous access, an HTTP proxy in the environment, an endpoint with a
  path, or ``GITSTORE_S3_DIRECT=0``;
- the body's SHA-256 is signed (``X-Amz-Content-SHA256``, as botocore signs
  a body it has in memory), so the server checks what it received;
- TLS trusts the system's authorities and ``AWS_CA_BUNDLE``, as documented
  for S3 remotes;
- any answer but a 2xx, a TLS failure, or credentials it cannot read turn it
  off for the store and the object goes through boto3 (which then gives the
  answer its proper meaning: a missing bucket, a denial, throttling); so does
  a fresh connection cut while the body is sent (a server may answer an
  error before reading the body, and close). Only a connection that cannot
  be made, or an answer that does not come within the read timeout, is
  reported from here, as the retryable error boto3's would be.
"""

from __future__ import annotations

import http.client
import logging
import os
import socket
import ssl
import threading
from typing import Any
from urllib.parse import quote, urlsplit

from ..errors import StoreUnavailableError

log = logging.getLogger(__name__)

_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy")
# errors on a kept-alive connection that the server closed meanwhile: sent again once
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


def enabled_by_env() -> bool:
    value = os.environ.get("GITSTORE_S3_DIRECT", "1").strip().lower()
    return value not in ("0", "no", "false", "off", "disable", "disabled")


def _proxied() -> bool:
    return any(os.environ.get(v) or os.environ.get(v.upper()) for v in _PROXY_VARS)


class DirectPut:
    """Signed path-style PUTs of small objects; see the module's doc."""

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        credentials: Any,
        region: str,
        connect_timeout: float,
        read_timeout: float,
        what_url: str,
    ) -> None:
        parts = urlsplit(endpoint)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.path = f"/{quote(bucket, safe='')}/"  # path-style: /bucket/key
        self.credentials = credentials
        self.region = region
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.what_url = what_url  # the store, for messages
        self.endpoint = endpoint
        self.on = True
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    @classmethod
    def for_store(cls, store: Any, session: Any, client: Any) -> DirectPut | None:
        """The shortcut for an :class:`~gitstore.stores.s3.S3Store`, or None where it
        does not apply (see the module's doc)."""
        endpoint = store.endpoint_url
        if not endpoint or store.anonymous or not enabled_by_env() or _proxied():
            return None
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or parts.path not in ("", "/") or parts.query:
            return None
        try:
            credentials = session.get_credentials()
        except Exception:  # boto3's own call reports what is wrong with them
            return None
        region = client.meta.region_name or "us-east-1"
        if credentials is None:
            return None
        return cls(
            endpoint,
            store.bucket,
            credentials,
            region,
            min(store.connect_timeout, store.deadline),
            min(store.read_timeout, store.deadline),
            store.url,
        )

    # -- connections ---------------------------------------------------------
    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's connection, and whether it has carried a request before."""
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None and conn.sock is not None:
            return conn, True
        if conn is None:
            if self.https:
                context = ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE") or None)
                conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.connect_timeout, context=context
                )
            else:
                conn = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.connect_timeout
                )
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        conn.timeout = self.connect_timeout
        conn.connect()
        assert conn.sock is not None
        conn.sock.settimeout(self.read_timeout)
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, False

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()

    # -- the request ---------------------------------------------------------
    def _headers(self, key: str, data: bytes) -> tuple[str, dict[str, str]] | None:
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest

        path = self.path + quote(key, safe="/~")
        try:
            frozen = self.credentials.get_frozen_credentials()
        except Exception as exc:  # a refresh that failed: boto3 reports it properly
            log.debug("direct PUT: credentials not readable (%s)", exc)
            return None
        request = AWSRequest(
            method="PUT",
            url=self.origin + path,
            data=data,
            headers={"Content-Length": str(len(data)), "User-Agent": "gitstore"},
        )
        S3SigV4Auth(frozen, "s3", self.region).add_auth(request)
        return path, dict(request.headers.items())

    def put(self, key: str, data: bytes, what: str) -> bool:
        """PUT ``data`` at ``key`` (the full key, with the store's prefix): True once the
        server has it; False where boto3 must do it (the shortcut is then off)."""
        if not self.on:
            return False
        signed = self._headers(key, data)
        if signed is None:
            self.on = False
            return False
        path, headers = signed
        for attempt in (0, 1):
            try:
                conn, reused = self._connection()
            except ssl.SSLError as exc:
                return self._off(f"TLS: {exc}")
            except OSError as exc:
                raise self._unreachable(what, exc) from exc
            try:
                conn.request("PUT", path, body=data, headers=headers)
                response = conn.getresponse()
                response.read()
            except _STALE as exc:
                conn.close()
                if reused and attempt == 0:
                    continue  # the server closed a kept-alive connection: once more, afresh
                # a fresh connection cut while sending: a server may answer an error
                # before it reads the body and close; boto3 reads that answer
                return self._off(f"connection cut: {exc}")
            except ssl.SSLError as exc:
                conn.close()
                return self._off(f"TLS: {exc}")
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise self._unreachable(what, exc) from exc
            if response.will_close:
                conn.close()
            if 200 <= response.status < 300:
                return True
            return self._off(f"{response.status} {response.reason}")
        raise AssertionError("unreachable")  # pragma: no cover

    def _off(self, why: str) -> bool:
        if self.on:
            log.debug("direct PUTs to %s off (%s): boto3 sends them", self.endpoint, why)
        self.on = False
        return False

    def _unreachable(self, what: str, exc: BaseException) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"cannot reach {self.endpoint} for {self.what_url} while trying to {what}: {exc}"
        )
