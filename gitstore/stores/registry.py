"""From a remote's URL (and its options in config) to a Store.

Accepted forms::

    /abs/path, ./rel/path, ../path, ~/path, rel/path   a folder (LocalStore)
    file:///abs/path                                    a folder (LocalStore)
    s3://bucket[/prefix]                                S3 or an S3-compatible service
    http://host/path/, https://host/path/               a read-only web server
    memory://name                                       a process-global MemoryStore (tests)

Schemes are case-insensitive (``S3://``, ``HTTP://``). Anything else with a
``scheme:`` is refused with :class:`ConfigError`, so a typo never silently
becomes a folder called ``gs:``; a relative folder whose name holds a colon is
written ``./name:with:colon``. :func:`check_typed_url` refuses what ``remote
add`` should not write (control characters, surrounding whitespace). Network stores are
wrapped in :class:`RetryingStore`. Nothing here imports boto3: the S3 client
is made on first use.
"""

from __future__ import annotations

import os
import re
import threading
import unicodedata
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import ConfigError
from .base import Store
from .memory import MemoryStore

ACCEPTED = "a folder path, file:///path, s3://bucket/prefix or http(s)://host/path"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-_]{1,253}[a-z0-9]$")

_memory_stores: dict[str, MemoryStore] = {}
_memory_lock = threading.Lock()


def _malformed(url: str, why: str = "") -> ConfigError:
    reason = f" ({why})" if why else ""
    return ConfigError(f"malformed remote URL '{url}'{reason}", hint=f"use {ACCEPTED}")


def check_remote_url(url: str) -> None:
    """ConfigError for a URL that :func:`open_store` takes but no remote may have.

    ``memory://`` stores live inside one process (the test suite's): as a
    remote, a push would "upload" into the pushing process's memory and
    succeed with the data nowhere.
    """
    if isinstance(url, str) and url[:7].lower() == "memory:":
        raise ConfigError(
            f"'{url}' names a store inside one process (for tests); a remote cannot be one",
            hint=f"use {ACCEPTED}",
        )


def _shown(text: str) -> str:
    """``text`` on one line: each control or line-break character as an escape (``\\n``)."""
    return "".join(_escaped(c) for c in text)


def _escaped(char: str) -> str:
    if not _is_control(char):
        return char
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char)
    if named:
        return named
    return f"\\x{ord(char):02x}" if ord(char) < 256 else f"\\u{ord(char):04x}"


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Zl", "Zp")  # C0, DEL, C1, U+2028, U+2029


def check_typed_url(url: str) -> None:
    """ConfigError for a URL as typed into ``remote add`` or ``config set`` that
    holds a control character (a line break, a tab) or begins or ends with
    whitespace: a copy-paste slip, not a place (QA pass 15, finding 8).

    A stray leading space made ``" /mnt/store"`` a relative folder, created
    inside the work tree, and a line break split ``remote list``'s line. The
    URL is refused, not stripped: a folder whose name really begins or ends
    with a space is written as a file URL, ``file:///mnt/store%20``, which
    says so on purpose.
    """
    bad = next((c for c in url if _is_control(c)), None)
    if bad is not None:
        raise ConfigError(
            f"remote URL '{_shown(url)}' holds a control character ({_shown(bad)}):"
            " a URL is one line of printable characters",
            hint="type the URL again without it (a copy-paste may have brought it)",
        )
    if url != url.strip():
        raise ConfigError(
            f"remote URL '{url}' begins or ends with whitespace",
            hint="remove it; a folder whose name really begins or ends with one is written"
            " as a file URL with it percent-encoded as UTF-8 (a space %20, a no-break space"
            " %C2%A0: file:///path/name%20)",
        )


def memory_store(name: str) -> MemoryStore:
    """The process-global MemoryStore called ``name`` (made on first use)."""
    with _memory_lock:
        store = _memory_stores.get(name)
        if store is None:
            store = _memory_stores[name] = MemoryStore(f"memory://{name}")
        return store


def open_store(
    url: str,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    anonymous: bool = False,
    read_only: bool = False,
    retry: bool = True,
) -> Store:
    """The store that ``url`` names; see the module docstring for the forms."""
    if not isinstance(url, str) or not url.strip():
        raise _malformed(str(url), "empty")
    if "\0" in url:
        raise _malformed(url.replace("\0", "\\0"), "NUL character")
    match = _SCHEME.match(url)
    scheme = match.group(1).lower() if match else ""
    if scheme != "s3" and (endpoint_url or region or profile or anonymous):
        raise ConfigError(
            f"endpoint_url, region, profile and anonymous apply only to s3:// remotes, not '{url}'",
            hint="remove them from the remote's config",
        )
    store: Store
    if scheme == "s3":
        store = _s3_store(url, endpoint_url, region, profile, anonymous, read_only)
    elif scheme in ("http", "https"):
        from .http import HttpStore

        parts = urlsplit(url)
        if parts.username is not None or parts.password is not None:
            shown = f"{parts.scheme}://***@{parts.netloc.rpartition('@')[2]}{parts.path}"
            raise ConfigError(
                f"remote URL '{shown}' carries credentials (user:password@);"
                " they would be written to gitstore's config, which is committed",
                hint="serve the store without them (HTTP remotes are read-only mirrors)",
            )
        if parts.query or parts.fragment or url.endswith(("?", "#")):
            raise _malformed(
                url,
                "an HTTP remote's path holds no query or fragment: write a '?' in a folder's"
                " name as %3F and a '#' as %23",
            )
        if not parts.hostname:
            raise _malformed(url, "an HTTP remote is http(s)://host[:port]/path/")
        try:
            parts.port  # noqa: B018 - validates the port
        except ValueError as exc:
            raise _malformed(url, "bad port") from exc
        store = HttpStore(url)
    elif scheme == "memory":
        name = url[len("memory://") :] if url.lower().startswith("memory://") else ""
        if not name or "/" in name:
            raise _malformed(url, "a memory store is memory://name")
        base = memory_store(name)
        return base.view(read_only=True) if read_only else base
    elif scheme == "file":
        return _local_store(_file_url_path(url), url, read_only)
    elif match is None or (
        os.name == "nt" and len(scheme) == 1 and re.match(r"^[A-Za-z]:[\\/]", url)
    ):
        # C:\ is a drive on Windows only: elsewhere it would be a folder "C:" made
        # inside whatever folder the command runs in (the work tree)
        return _local_store(Path(url).expanduser(), url, read_only)
    else:
        raise _malformed(url, f"unknown scheme '{scheme}:'")
    if retry:
        from .retry import RetryingStore

        return RetryingStore(store)
    return store


def is_relative_folder(url: str) -> bool:
    """A folder URL given relative to some folder (not absolute, no scheme, no ``~``)."""
    return (
        _SCHEME.match(url) is None
        and not url.startswith(("/", "~", "\\"))
        and not os.path.isabs(url)
    )


def _local_store(path: Path, url: str, read_only: bool) -> Store:
    from .local import LocalStore

    return LocalStore(path, read_only=read_only, url=url, remote=True)


def _file_url_path(url: str) -> Path:
    parts = urlsplit(url)
    if not url.lower().startswith("file://") or parts.netloc not in ("", "localhost"):
        raise _malformed(url, "a file URL is file:///absolute/path")
    if not parts.path.startswith("/") or parts.query or parts.fragment:
        raise _malformed(url, "a file URL is file:///absolute/path")
    return Path(unquote(parts.path))


def _s3_store(
    url: str,
    endpoint_url: str | None,
    region: str | None,
    profile: str | None,
    anonymous: bool,
    read_only: bool,
) -> Store:
    from .s3 import S3Store

    if url[:5].lower() != "s3://":  # a scheme is case-insensitive: S3:// too, as HTTP://
        raise _malformed(url, "an S3 remote is s3://bucket/prefix")
    parts = urlsplit(url)
    bucket = parts.netloc
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise _malformed(url, f"'{bucket}' is not an S3 bucket name")
    if parts.query or parts.fragment:
        raise _malformed(url, "an S3 remote is s3://bucket/prefix, without ? or #")
    prefix = parts.path.strip("/")
    if any(segment in ("", ".", "..") for segment in prefix.split("/")) and prefix:
        raise _malformed(url, "empty, '.' or '..' segment in the prefix")
    if endpoint_url is not None:
        endpoint = urlsplit(endpoint_url)
        if endpoint.scheme not in ("http", "https") or not endpoint.hostname:
            raise ConfigError(
                f"malformed endpoint_url '{endpoint_url}' for {url}",
                hint="use https://host[:port]",
            )
    normal = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
    return S3Store(
        bucket,
        prefix,
        endpoint_url=endpoint_url,
        region=region,
        profile=profile,
        anonymous=anonymous,
        read_only=read_only,
        url=normal,
    )
