"""QA of resumable downloads: flaky links, a hostile cache folder, racing fetches.

Each test here failed before the fix it came with (see its docstring). The
servers are local: a small HTTP server on 127.0.0.1 (tests/integration/
test_resume_http.py's, answering every request short when told to) and moto.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gitstore import partial
from gitstore.cache import Cache
from gitstore.errors import GitstoreError
from gitstore.hashing import hash_bytes
from gitstore.partial import Journal
from gitstore.stores.http import HttpStore
from tests import servers
from tests.integration import test_resume_http as http_resume
from tests.servers import s3_store_on

moto_endpoint, s3_env = servers.moto_endpoint, servers.s3_env

MIB = 1 << 20


# -- a server that drops every answer after some bytes -------------------------------
class _Dropping(http_resume._Handler):
    """Honours ranges, but sends at most ``server.drop_after`` bytes of any body: a
    link that drops every connection after a few MiB."""

    def _reply(
        self, status: int, headers: dict[str, str], body: bytes, length: int | None = 0
    ) -> None:
        drop_after = getattr(self.server, "drop_after", None)
        if drop_after is not None:
            body = body[:drop_after]
        super()._reply(status, headers, body, length)


@pytest.fixture
def objects() -> Iterator[tuple[Any, HttpStore]]:
    server = http_resume._Objects()
    server.RequestHandlerClass = _Dropping
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    store = HttpStore(f"http://127.0.0.1:{server.server_address[1]}/")
    store.resume_min = 1 * MIB  # objects of a few MiB are "big" here
    yield server, store
    store.close()
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def s3_store(moto_endpoint: str, s3_env: dict[str, str]) -> Iterator[Any]:
    gen = s3_store_on(moto_endpoint, "resume-qa")
    store: Any = next(gen)
    store.ranged_get_min = 1 * MIB
    store.range_size = 1 * MIB
    store.jobs = 2
    yield store
    next(gen, None)


def _cache(tmp_path: Path) -> Cache:
    cache = Cache(tmp_path / "cache")
    cache.store.tmp_dir.mkdir(parents=True)
    return cache


def _fill(store: Any, oid: str) -> Callable[[int, Callable[[], Journal | None]], str]:
    return lambda fd, resume: str(store.read_into(oid, fd, resume)[0])


def _fetch_until_done(cache: Cache, oid: str, fill: Callable[..., str], tries: int) -> int:
    """Fetch as a user would on a flaky link: run it again until it works; the tries it took."""
    for n in range(1, tries + 1):
        try:
            cache.receive_resumable(oid, fill)
            return n
        except GitstoreError:
            continue
    return tries + 1


# -- a link that drops more often than the journal records progress -------------------
def test_an_http_link_that_drops_every_few_mib_still_makes_progress(
    objects: tuple[Any, HttpStore], tmp_path: Path
) -> None:
    """The journal recorded progress each MARK_EVERY (8 MiB) bytes, and not when a
    connection dropped: on a link that drops every few MiB each fetch started
    over from the last record, and a big object never arrived (every try asked
    for it whole). What was written before the drop is now recorded too."""
    server, store = objects
    data = os.urandom(5 * MIB)
    oid = hash_bytes(data)
    server.add(oid, data)
    server.drop_after = 3 * MIB // 2
    cache = _cache(tmp_path)
    tries = _fetch_until_done(cache, oid, _fill(store, oid), tries=6)
    assert tries <= 4, f"no progress across fetches: asked {server.asked}"
    ranges = [asked for asked in server.asked if asked is not None]
    assert ranges == [f"bytes={n * 3 * MIB // 2}-" for n in range(1, tries)]
    assert cache.path(oid).read_bytes() == data
    assert os.listdir(cache.store.tmp_dir) == []


class _DroppingBody:
    """A GetObject body that ends with a reset connection after ``drop_after`` bytes."""

    def __init__(self, body: Any, drop_after: int) -> None:
        self._body, self._left = body, drop_after

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            raise ConnectionResetError(104, "Connection reset by peer")
        data = bytes(self._body.read(min(n, self._left) if n >= 0 else self._left))
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._body.close()


def test_an_s3_range_that_drops_every_few_mib_still_makes_progress(
    s3_store: Any, tmp_path: Path
) -> None:
    """As above, for S3's ranged GETs: a range cut before its end kept nothing."""
    data = os.urandom(4 * MIB)
    oid = hash_bytes(data)
    src = tmp_path / "src"
    src.write_bytes(data)
    s3_store.put(oid, src)
    s3_store.range_size = 4 * MIB  # one range: 4 MiB, well under MARK_EVERY
    real = s3_store.slow_client.get_object
    asked: list[str] = []

    def dropping(**kwargs: Any) -> Any:
        asked.append(str(kwargs.get("Range")))
        response = real(**kwargs)
        response["Body"] = _DroppingBody(response["Body"], 3 * MIB // 2)
        return response

    s3_store.slow_client.get_object = dropping
    cache = _cache(tmp_path)
    tries = _fetch_until_done(cache, oid, _fill(s3_store, oid), tries=6)
    assert tries <= 3, f"no progress across fetches: asked {asked}"
    assert asked == [f"bytes={n * 3 * MIB // 2}-{4 * MIB - 1}" for n in range(tries)]
    assert cache.path(oid).read_bytes() == data
    assert os.listdir(cache.store.tmp_dir) == []


# -- a cache folder with things planted in it ------------------------------------------
@pytest.mark.parametrize(
    "planted",
    [
        "partial-symlink",
        "partial-folder",
        "partial-fifo",
        "journal-symlink",
        "journal-folder",
        "journal-fifo",
    ],
)
def test_something_planted_at_the_partial_file_or_journal_does_not_stop_the_fetch(
    objects: tuple[Any, HttpStore], tmp_path: Path, planted: str
) -> None:
    """A symlink or a folder at ``tmp/partial-<oid>`` or at its journal made every
    fetch of that object fail ("cannot write object ... into the cache: Too many
    levels of symbolic links"), and gc never removes either: the object could
    not be fetched again. A FIFO at the journal hung the fetch for good (an
    open for writing waits for a reader). It is now fetched without a partial
    file (or without a journal), and what a symlink points to is never written."""
    server, store = objects
    data = os.urandom(3 * MIB)
    oid = hash_bytes(data)
    server.add(oid, data)
    cache = _cache(tmp_path)
    outside = tmp_path / "outside"
    outside.write_bytes(b"not the cache's")
    part = cache.store.tmp_dir / f"{partial.PREFIX}{oid}"
    journal = Path(f"{part}{partial.SUFFIX}")
    target = part if planted.startswith("partial") else journal
    if planted.endswith("symlink"):
        target.symlink_to(outside)
    elif planted.endswith("fifo"):
        os.mkfifo(target)
    else:
        target.mkdir()
    failed: list[BaseException] = []

    def fetch() -> None:
        try:
            cache.receive_resumable(oid, _fill(store, oid))
        except BaseException as exc:  # reported below
            failed.append(exc)

    fetching = threading.Thread(target=fetch, daemon=True)
    fetching.start()
    fetching.join(20)
    if fetching.is_alive() and planted.endswith("fifo"):
        os.close(os.open(target, os.O_RDONLY | os.O_NONBLOCK))  # let the hung open go
    assert not fetching.is_alive(), "the fetch hung"
    assert failed == []
    assert cache.path(oid).read_bytes() == data
    assert outside.read_bytes() == b"not the cache's"
    assert set(os.listdir(cache.store.tmp_dir)) <= {part.name, journal.name}


# -- a fetch that locks a partial file just as another one finishes it -----------------
_LATE_LOCKER = """
import os, sys
from pathlib import Path
from gitstore.cache import Cache

root, oid, size, pid_file = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
Path(pid_file).write_text(str(os.getpid()))

def fill(fd, resume):
    journal = resume()
    if journal is None:
        raise SystemExit(3)
    journal.begin(size, size)  # a new download: empties the partial file it locked
    raise ConnectionError("the network went away")

try:
    Cache(Path(root)).receive_resumable(oid, fill)
except ConnectionError:
    pass
"""


def _strace_works() -> bool:
    strace = shutil.which("strace")
    if strace is None:
        return False
    try:
        return subprocess.run([strace, "-o", "/dev/null", "true"], timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not _strace_works(), reason="needs strace (to delay one flock)")
def test_a_fetch_that_locks_a_partial_file_just_installed_leaves_the_object_alone(
    tmp_path: Path,
) -> None:
    """Fetch B opens ``tmp/partial-<oid>`` while fetch A holds it; A finishes, renames
    that very file into ``objects/`` and lets go of its lock; only then does B's
    flock return. B then held the cached object itself as its partial file, and
    emptied it: a finished object in the cache (and every hard link of it in work
    trees) truncated. The window is tiny in real life (between B's open and its
    flock); strace widens it here by delaying B's flock, and nothing else."""
    data = os.urandom(2 * MIB)
    oid = hash_bytes(data)
    cache = _cache(tmp_path)
    part = f"{cache.store.tmp_dir}/{partial.PREFIX}{oid}"
    pid_file = tmp_path / "b.pid"
    script = tmp_path / "late_locker.py"
    script.write_text(textwrap.dedent(_LATE_LOCKER))
    b = subprocess.Popen(
        [shutil.which("strace") or "strace", "-f", "-o", "/dev/null",
         "-e", "trace=flock", "-e", "inject=flock:delay_enter=1500000",
         sys.executable, str(script), str(cache.root), oid, str(len(data)), str(pid_file)],
    )  # fmt: skip

    def b_has_it_open() -> bool:
        try:
            fds = Path(f"/proc/{int(pid_file.read_text())}/fd")
            return any(os.readlink(fd) == part for fd in fds.iterdir())
        except (OSError, ValueError):
            return False

    def fill_a(fd: int, resume: Callable[[], Journal | None]) -> str:
        journal = resume()
        assert journal is not None
        journal.begin(len(data), len(data))
        os.pwrite(journal.fd, data, 0)
        journal.mark(0, len(data))
        deadline = time.monotonic() + 20
        while not b_has_it_open():  # B opened it; its flock is on its way (delayed)
            assert time.monotonic() < deadline and b.poll() is None, "B never opened it"
            time.sleep(0.005)
        return hash_bytes(data)

    try:
        cache.receive_resumable(oid, fill_a)
        assert b.wait(30) in (0, 3)
    finally:
        if b.poll() is None:
            b.kill()
            b.wait()
    assert cache.path(oid).read_bytes() == data


def test_gc_sweeps_an_old_symlink_or_fifo_from_tmp(
    repo: Path, run: Callable[..., subprocess.CompletedProcess[str]],
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:  # fmt: skip
    """gc swept only regular files from ``tmp/``: a symlink or a FIFO at a partial
    file's name (which a fetch now steps around, never using it) stayed for good,
    and with it every fetch of that object went without resuming."""
    from tests.integration.test_remotes import Clone

    a = Clone(repo, tmp_path / "cache-a", run, monkeypatch)
    a.gs("init")
    tmp = tmp_path / "cache-a" / "gitstore" / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    outside = tmp_path / "outside"
    outside.write_bytes(b"not the cache's")
    link = tmp / f"{partial.PREFIX}{'a' * 64}"
    link.symlink_to(outside)
    fifo = tmp / f"{partial.PREFIX}{'b' * 64}{partial.SUFFIX}"
    os.mkfifo(fifo)
    for path in (link, fifo):
        os.utime(path, (1, 1), follow_symlinks=False)
    a.gs("gc")
    assert os.listdir(tmp) == []
    assert outside.read_bytes() == b"not the cache's"
