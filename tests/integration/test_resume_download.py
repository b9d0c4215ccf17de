"""A big download from S3 that is interrupted is taken up where it stopped.

A killed fetch of a multi-GB object used to start the object over (the
eleventh pass left it in docs/reliability.md); now its ranges land in
``tmp/partial-<oid>`` with a journal of how far each got (gitstore/partial.py),
the next fetch asks only for the rest, and nothing it finds there is trusted
without the object's hash.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from gitstore import partial
from gitstore.cache import Cache
from gitstore.errors import IntegrityError, StoreUnavailableError
from gitstore.hashing import hash_bytes
from tests import servers
from tests.conftest import GITSTORE
from tests.integration.resume_helpers import killed, model_on_folder, resumed_mib, track_model
from tests.integration.test_remotes import Clone, clone_of
from tests.servers import make_bucket, s3_store_on

moto_endpoint, s3_env = servers.moto_endpoint, servers.s3_env

Run = Callable[..., subprocess.CompletedProcess[str]]

MIB = 1 << 20
BIG = 80 * MIB  # above S3Store.ranged_get_min (64 MiB): five ranges of 16 MiB


def _partials(cache_root: Path) -> list[str]:
    tmp = cache_root / "tmp"
    return (
        sorted(n for n in os.listdir(tmp) if n.startswith(partial.PREFIX)) if tmp.is_dir() else []
    )


def _s3_model(
    repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, endpoint: str
) -> tuple[Clone, bytes, str]:
    """Alice's model pushed to S3, and bob's clone that has not fetched it: (bob, bytes, oid)."""
    a = Clone(repo, tmp_path / "cache-a", run, monkeypatch)
    data, oid = track_model(a)
    make_bucket(endpoint, "resume")
    url = f"s3://resume/{tmp_path.name}"  # a prefix of its own: the server serves the module
    a.gs("remote", "add", "s3", url, "--default", "--endpoint-url", endpoint)
    a.commit("model")
    a.gs("push")
    return clone_of(a, tmp_path), data, oid


def test_a_killed_fetch_of_a_big_object_resumes(
    repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    moto_endpoint: str, s3_env: dict[str, str],
) -> None:  # fmt: skip
    b, data, oid = _s3_model(repo, run, monkeypatch, tmp_path, moto_endpoint)
    cache_root = b.cache / "gitstore"
    killed(b, "kill-range:4", "fetch")  # after four progress records
    assert _partials(cache_root) == [
        f"{partial.PREFIX}{oid}",
        f"{partial.PREFIX}{oid}{partial.SUFFIX}",
    ]
    # nothing else: the temporary file it began with is gone once the partial file is used
    assert len(os.listdir(cache_root / "tmp")) == 2
    assert not (cache_root / "objects" / oid[:2] / oid[2:4] / oid).exists()

    out = b.gs("pull")
    assert resumed_mib(out.stderr, oid) >= 32  # four records of 8 MiB at least
    assert (b.path / "model.bin").read_bytes() == data
    assert _partials(cache_root) == []
    assert "unchanged" in b.gs("status").stdout


@pytest.mark.parametrize("fault", ["int-range:2", "hup-range:2"])
def test_a_fetch_interrupted_by_ctrl_c_stops_and_resumes(
    repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    moto_endpoint: str, s3_env: dict[str, str], fault: str,
) -> None:  # fmt: skip
    """Ctrl-C reaches the main thread only: the threads downloading the ranges went on
    to the end of the object, then the command said it was interrupted; a closed
    terminal (SIGHUP) ended it at once, without its clean-up (QA 24b)."""
    b, data, oid = _s3_model(repo, run, monkeypatch, tmp_path, moto_endpoint)
    cache_root = b.cache / "gitstore"
    env = {**os.environ, "XDG_CACHE_HOME": str(b.cache), "GITSTORE_FAULT": fault}
    proc = subprocess.run([*GITSTORE, "fetch"], cwd=b.path, env=env, capture_output=True, text=True)
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "interrupted" in proc.stderr
    assert not (cache_root / "objects" / oid[:2] / oid[2:4] / oid).exists()
    out = b.gs("pull")
    assert 8 <= resumed_mib(out.stderr, oid) < 80  # stopped part-way, what came kept
    assert (b.path / "model.bin").read_bytes() == data


# -- the store and the cache, in process ---------------------------------------------
@pytest.fixture
def s3_store(moto_endpoint: str, s3_env: dict[str, str]):  # type: ignore[no-untyped-def]
    gen = s3_store_on(moto_endpoint, "resume-unit")
    store = next(gen)
    store.ranged_get_min = 1 * MIB  # type: ignore[attr-defined]
    store.range_size = 1 * MIB  # type: ignore[attr-defined]
    store.jobs = 2  # type: ignore[attr-defined]
    yield store
    next(gen, None)


def _put(store: object, tmp_path: Path, size: int) -> tuple[bytes, str]:
    data = os.urandom(size)
    oid = hash_bytes(data)
    src = tmp_path / f"src-{oid[:8]}"
    src.write_bytes(data)
    store.put(oid, src)  # type: ignore[attr-defined]
    return data, oid


def _fill(store: object, oid: str) -> Callable[[int, Callable[[], object]], str]:
    return lambda fd, resume: str(store.read_into(oid, fd, resume)[0])  # type: ignore[attr-defined]


def test_a_partial_file_asks_only_for_the_missing_ranges(s3_store: object, tmp_path: Path) -> None:
    data, oid = _put(s3_store, tmp_path, 4 * MIB + 100)
    cache = Cache(tmp_path / "cache")
    cache.store.tmp_dir.mkdir(parents=True)
    step = s3_store._range_step(len(data))  # type: ignore[attr-defined]
    part = cache.store.tmp_dir / f"{partial.PREFIX}{oid}"
    # an earlier try wrote the first range whole and the second one part-way
    body = bytearray(len(data))
    body[:step] = data[:step]
    body[step : step + 1000] = data[step : step + 1000]
    part.write_bytes(bytes(body))
    journal = Path(f"{part}{partial.SUFFIX}")
    journal.write_text(
        f"{partial.MAGIC} {len(data)} {step}\n0 {step}\n{step} {step + 1000}\n{step} 12"
    )
    asked: list[str] = []
    real = s3_store.slow_client.get_object  # type: ignore[attr-defined]

    def counting(**kwargs: object) -> object:
        asked.append(str(kwargs.get("Range")))
        return real(**kwargs)

    s3_store.slow_client.get_object = counting  # type: ignore[attr-defined]
    cache.receive_resumable(oid, _fill(s3_store, oid))
    assert cache.path(oid).read_bytes() == data
    wanted = [(step + 1000, 2 * step - 1)]  # the rest of the second range, then the others
    wanted += [
        (start, min(start + step, len(data)) - 1) for start in range(2 * step, len(data), step)
    ]
    assert sorted(asked) == sorted(f"bytes={a}-{b}" for a, b in wanted)
    assert not part.exists() and not journal.exists()


def test_a_partial_file_that_lies_is_fetched_again_whole(s3_store: object, tmp_path: Path) -> None:
    """After a power cut the journal may vouch for bytes the disk lost: the hash finds
    it, and the object is fetched once more from the start, never cached wrong."""
    data, oid = _put(s3_store, tmp_path, 3 * MIB)
    cache = Cache(tmp_path / "cache")
    cache.store.tmp_dir.mkdir(parents=True)
    step = s3_store._range_step(len(data))  # type: ignore[attr-defined]
    part = cache.store.tmp_dir / f"{partial.PREFIX}{oid}"
    part.write_bytes(b"\0" * len(data))  # the journal says range 0 is written; it is zeros
    Path(f"{part}{partial.SUFFIX}").write_text(f"{partial.MAGIC} {len(data)} {step}\n0 {step}\n")
    cache.receive_resumable(oid, _fill(s3_store, oid))
    assert cache.path(oid).read_bytes() == data
    assert os.listdir(cache.store.tmp_dir) == []


def test_a_journal_for_another_size_or_step_is_ignored(s3_store: object, tmp_path: Path) -> None:
    data, oid = _put(s3_store, tmp_path, 3 * MIB)
    cache = Cache(tmp_path / "cache")
    cache.store.tmp_dir.mkdir(parents=True)
    part = cache.store.tmp_dir / f"{partial.PREFIX}{oid}"
    part.write_bytes(os.urandom(len(data)))
    Path(f"{part}{partial.SUFFIX}").write_text(f"{partial.MAGIC} {len(data)} 4096\n0 4096\n")
    cache.receive_resumable(oid, _fill(s3_store, oid))
    assert cache.path(oid).read_bytes() == data
    assert os.listdir(cache.store.tmp_dir) == []


def test_a_wrong_object_leaves_no_partial_file(
    s3_store: object, tmp_path: Path, moto_endpoint: str
) -> None:
    data = os.urandom(3 * MIB)
    wrong = hash_bytes(b"another object")
    s3_store.client.put_object(  # type: ignore[attr-defined]
        Bucket="resume-unit", Key=f"p/objects/{wrong[:2]}/{wrong[2:4]}/{wrong}", Body=data
    )
    cache = Cache(tmp_path / "cache")
    cache.store.tmp_dir.mkdir(parents=True)
    with pytest.raises(IntegrityError):
        cache.receive_resumable(wrong, _fill(s3_store, wrong))
    assert os.listdir(cache.store.tmp_dir) == []
    assert not cache.has(wrong)


def test_a_failed_range_keeps_what_was_written_for_the_retry(
    s3_store: object, tmp_path: Path
) -> None:
    """One range failing used to throw the whole object away (the retry truncated it)."""
    data, oid = _put(s3_store, tmp_path, 4 * MIB)
    cache = Cache(tmp_path / "cache")
    cache.store.tmp_dir.mkdir(parents=True)
    step = s3_store._range_step(len(data))  # type: ignore[attr-defined]
    real = s3_store.slow_client.get_object  # type: ignore[attr-defined]
    asked: list[str] = []
    broken = [True]

    def failing_last(**kwargs: object) -> object:
        asked.append(str(kwargs.get("Range")))
        if str(kwargs.get("Range")).startswith(f"bytes={len(data) - step}-") and broken[0]:
            raise StoreUnavailableError("the connection was reset")
        return real(**kwargs)

    s3_store.slow_client.get_object = failing_last  # type: ignore[attr-defined]
    with pytest.raises(StoreUnavailableError):
        cache.receive_resumable(oid, _fill(s3_store, oid))
    assert not cache.has(oid)
    assert _partials(cache.root) == [
        f"{partial.PREFIX}{oid}",
        f"{partial.PREFIX}{oid}{partial.SUFFIX}",
    ]
    asked.clear()
    broken[0] = False
    cache.receive_resumable(oid, _fill(s3_store, oid))
    assert asked == [f"bytes={len(data) - step}-{len(data) - 1}"]
    assert cache.path(oid).read_bytes() == data


def test_a_partial_file_held_by_another_fetch_is_left_to_it(
    s3_store: object, tmp_path: Path
) -> None:
    import fcntl

    data, oid = _put(s3_store, tmp_path, 3 * MIB)
    cache = Cache(tmp_path / "cache")
    cache.store.tmp_dir.mkdir(parents=True)
    part = cache.store.tmp_dir / f"{partial.PREFIX}{oid}"
    part.write_bytes(b"")
    with open(part, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        cache.receive_resumable(oid, _fill(s3_store, oid))
    assert cache.path(oid).read_bytes() == data
    assert part.read_bytes() == b""  # the other fetch's file, untouched


def test_gc_sweeps_old_partial_files(repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch,
                                     tmp_path: Path) -> None:  # fmt: skip
    a = Clone(repo, tmp_path / "cache-a", run, monkeypatch)
    a.gs("init")
    tmp = tmp_path / "cache-a" / "gitstore" / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    old = tmp / f"{partial.PREFIX}{'a' * 64}"
    old.write_bytes(b"x" * 1000)
    Path(f"{old}{partial.SUFFIX}").write_text(f"{partial.MAGIC} 1000 1000\n0 1000\n")
    for path in (old, Path(f"{old}{partial.SUFFIX}")):
        os.utime(path, (1, 1))
    a.gs("gc")
    assert _partials(tmp_path / "cache-a" / "gitstore") == []


# -- folder remotes (a NAS, a network mount) ------------------------------------------
def test_a_killed_fetch_from_a_folder_remote_resumes(
    repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    a = Clone(repo, tmp_path / "cache-a", run, monkeypatch)
    data, oid = model_on_folder(a, tmp_path / "nas")
    a.gs("push")

    b = clone_of(a, tmp_path)
    cache_root = b.cache / "gitstore"
    killed(b, "kill-range:3", "fetch")
    assert _partials(cache_root) == [
        f"{partial.PREFIX}{oid}",
        f"{partial.PREFIX}{oid}{partial.SUFFIX}",
    ]

    out = b.gs("pull")
    assert resumed_mib(out.stderr, oid) >= 24  # three records of 8 MiB
    assert (b.path / "model.bin").read_bytes() == data
    assert _partials(cache_root) == []


def test_a_folder_remote_partial_file_that_lies_is_copied_again(tmp_path: Path) -> None:
    from gitstore.stores.local import LocalStore

    data = os.urandom(3 * MIB)
    oid = hash_bytes(data)
    src = tmp_path / "src"
    src.write_bytes(data)
    store = LocalStore(tmp_path / "nas")
    store.put(oid, src)
    store.resume_min = 1 * MIB  # type: ignore[misc]
    cache = Cache(tmp_path / "cache")
    cache.store.tmp_dir.mkdir(parents=True)
    part = cache.store.tmp_dir / f"{partial.PREFIX}{oid}"
    part.write_bytes(b"\0" * len(data))  # the journal vouches for 2 MiB of zeros
    Path(f"{part}{partial.SUFFIX}").write_text(
        f"{partial.MAGIC} {len(data)} {len(data)}\n0 {2 * MIB}\n"
    )
    cache.receive_resumable(oid, lambda fd, resume: store.read_into(oid, fd, resume)[0])
    assert cache.path(oid).read_bytes() == data
    assert os.listdir(cache.store.tmp_dir) == []
    # and a true one is taken up: only the rest is copied (the start is left as it was)
    other = os.urandom(3 * MIB)
    other_oid = hash_bytes(other)
    src.write_bytes(other)
    store.put(other_oid, src)
    part = cache.store.tmp_dir / f"{partial.PREFIX}{other_oid}"
    part.write_bytes(other[: 2 * MIB] + b"\0" * MIB)
    Path(f"{part}{partial.SUFFIX}").write_text(
        f"{partial.MAGIC} {len(other)} {len(other)}\n0 {2 * MIB}\n"
    )
    journals: list[object] = []

    def fill(fd: int, resume: Callable[[], object]) -> str:
        def noted() -> object:
            journals.append(resume())
            return journals[-1]

        return str(store.read_into(other_oid, fd, noted)[0])  # type: ignore[arg-type]

    cache.receive_resumable(other_oid, fill)
    assert cache.path(other_oid).read_bytes() == other
    assert journals[-1].resumed == 2 * MIB  # type: ignore[attr-defined]


def test_a_fetch_from_s3_killed_is_taken_up_from_a_folder_remote(
    repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    moto_endpoint: str, s3_env: dict[str, str],
) -> None:  # fmt: skip
    """S3 fetches in ranges, a folder remote in one stream: the journal is read in the
    second's ranges, so the bytes the first wrote still count."""
    a = Clone(repo, tmp_path / "cache-a", run, monkeypatch)
    data, oid = track_model(a)
    make_bucket(moto_endpoint, "resume-mixed")
    a.gs("remote", "add", "s3", "s3://resume-mixed/r", "--default", "--endpoint-url", moto_endpoint)
    a.gs("remote", "add", "nas", str(tmp_path / "nas"))
    a.commit("model")
    a.gs("push")
    a.gs("push", "--remote", "nas")

    b = clone_of(a, tmp_path)
    killed(b, "kill-range:9", "fetch")
    out = b.gs("pull", "--remote", "nas")
    # nine of the ten progress records of five ranges: range 0 has at least one
    assert resumed_mib(out.stderr, oid) >= 8
    assert (b.path / "model.bin").read_bytes() == data
    assert _partials(b.cache / "gitstore") == []


# -- a disk that reports an I/O error under the partial file ---------------------------
def _failing(b: Clone, fault: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(b.cache), "GITSTORE_FAULT": fault}
    proc = subprocess.run([*GITSTORE, *args], cwd=b.path, env=env, capture_output=True, text=True)
    assert proc.returncode != 0 and proc.returncode != -9, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _error(proc: subprocess.CompletedProcess[str]) -> str:
    """The one error line (a clone without hooks also gets a note)."""
    errors = [x for x in proc.stderr.splitlines() if x.startswith("gitstore: error: ")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def test_an_io_error_writing_a_partial_file_fails_in_one_line_and_the_next_fetch_starts_over(
    repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    moto_endpoint: str, s3_env: dict[str, str],
) -> None:  # fmt: skip
    b, data, oid = _s3_model(repo, run, monkeypatch, tmp_path, moto_endpoint)
    cache_root = b.cache / "gitstore"
    failed = _failing(b, "eio-write:20", "fetch")  # some blocks written, then the disk fails
    first = _error(failed)
    assert first.startswith(f"gitstore: error: cannot write object {oid} into the cache "), first
    assert first.endswith(os.strerror(5)), first  # EIO's own words
    assert "I/O error: check it" in failed.stderr  # the hint names the disk, not permissions
    # what the disk holds of it cannot be trusted to read back: nothing is kept
    assert _partials(cache_root) == []
    assert not (cache_root / "objects" / oid[:2] / oid[2:4] / oid).exists()

    out = b.gs("pull")
    assert "gitstore: resumed" not in out.stderr
    assert (b.path / "model.bin").read_bytes() == data


def test_an_io_error_reading_a_partial_file_back_is_not_met_again(
    repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    moto_endpoint: str, s3_env: dict[str, str],
) -> None:  # fmt: skip
    """A partial file the disk cannot read back used to fail every resume until gc (24 h)."""
    b, data, oid = _s3_model(repo, run, monkeypatch, tmp_path, moto_endpoint)
    cache_root = b.cache / "gitstore"
    killed(b, "kill-range:4", "fetch")
    assert len(_partials(cache_root)) == 2
    failed = _failing(b, "eio-read:2", "pull")
    assert _error(failed).startswith(f"gitstore: error: cannot write object {oid}")
    assert _partials(cache_root) == []
    assert not (b.path / "model.bin").exists()

    out = b.gs("pull")
    assert "gitstore: resumed" not in out.stderr
    assert (b.path / "model.bin").read_bytes() == data
    assert "unchanged" in b.gs("status").stdout
