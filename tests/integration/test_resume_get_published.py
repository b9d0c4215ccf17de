"""`gitstore get-published` of a big object, killed part-way, resumes on the next run.

get-published is how a training job reads a published model without git; it
downloaded a killed multi-GB object from the start again. Now a big object
goes into ``.NAME.gitstore-partial/<oid>`` beside what is written (with the
journal of gitstore/partial.py), the next run of the same command asks only
for the rest, and the folder is gone once everything arrived.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from gitstore import partial
from gitstore.hashing import hash_bytes
from tests.conftest import GITSTORE, git
from tests.integration.publish_helpers import serve_process
from tests.integration.resume_helpers import resumed_mib

Run = Callable[..., subprocess.CompletedProcess[str]]

MIB = 1 << 20


def _published_model(tmp_path: Path, repo: Path, run: Run) -> tuple[Path, bytes, str]:
    """``models/big.bin`` (80 MiB) and ``models/small.txt``, published to a folder."""
    run(repo, "init")
    data = os.urandom(MIB) * 80
    (repo / "models").mkdir()
    (repo / "models" / "big.bin").write_bytes(data)
    (repo / "models" / "small.txt").write_text("hello\n")
    run(repo, "track", "models")
    git(repo, "commit", "-qm", "models")
    published = tmp_path / "published"
    run(repo, "publish", str(published))
    return published, data, hash_bytes(data)


def _get_model(base: str, out: Path) -> list[str]:
    """``get-published`` of the model as published on main, into ``out/big.bin``."""
    return [*GITSTORE, "get-published", f"{base}/", "models/big.bin", "-b", "main",
            "--date", "2100-01-01", "-o", str(out / "big.bin")]  # fmt: skip


def test_a_killed_get_published_resumes(tmp_path: Path, repo: Path, run: Run) -> None:
    published, data, oid = _published_model(tmp_path, repo, run)
    out = tmp_path / "out"
    out.mkdir()
    partials = out / ".big.bin.gitstore-partial"
    with serve_process(tmp_path, str(published)) as base:
        cmd = _get_model(base, out)
        env = {**os.environ, "GITSTORE_FAULT": "kill-range:4"}
        killed = subprocess.run(cmd, cwd=out, env=env, capture_output=True, text=True)
        assert killed.returncode == -9, killed.stderr
        assert sorted(os.listdir(partials)) == [oid, f"{oid}{partial.SUFFIX}"]
        assert not (out / "big.bin").exists()

        again = subprocess.run(cmd, cwd=out, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert resumed_mib(again.stderr, oid) >= 32
    assert (out / "big.bin").read_bytes() == data
    assert os.listdir(out) == ["big.bin"]  # the partial folder is gone


def test_a_folder_resumes_and_old_partials_are_cleared(
    tmp_path: Path, repo: Path, run: Run
) -> None:
    """A folder is written whole or not at all, as before; its big objects' partial
    files live beside it, survive a failed run, and what an earlier run left for
    another version is removed once the folder is written."""
    published, data, oid = _published_model(tmp_path, repo, run)
    out = tmp_path / "out"
    out.mkdir()
    partials = out / ".models.gitstore-partial"
    stale = "ab" * 32  # an object of some other version an earlier run gave up on
    partials.mkdir()
    (partials / stale).write_bytes(b"x" * 100)
    (partials / f"{stale}{partial.SUFFIX}").write_text(f"{partial.MAGIC} 100 100\n0 100\n")
    busy = "cd" * 32  # one that another run is downloading right now
    (partials / busy).write_bytes(b"y" * 100)
    with serve_process(tmp_path, str(published)) as base:
        cmd = [*GITSTORE, "get-published", f"{base}/", "models", "-b", "main"]
        cmd += ["--date", "2100-01-01", "-o", str(out / "models")]
        env = {**os.environ, "GITSTORE_FAULT": "kill-range:3"}
        killed = subprocess.run(cmd, cwd=out, env=env, capture_output=True, text=True)
        assert killed.returncode == -9, killed.stderr
        assert not (out / "models").exists()  # whole or not at all
        assert oid in os.listdir(partials)
        left = [n for n in os.listdir(out) if n.startswith(".models.") and n.endswith(".part")]
        assert len(left) == 1  # the killed run's staging folder
        live = out / ".models.0123abcd.part"  # another run's, filling right now
        live.mkdir()
        (live / "x").write_text("x")
        with open(partials / busy, "rb") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            folder = os.open(live, os.O_RDONLY | os.O_DIRECTORY)
            try:
                fcntl.flock(folder, fcntl.LOCK_EX)
                again = subprocess.run(cmd, cwd=out, capture_output=True, text=True)
            finally:
                os.close(folder)
    assert again.returncode == 0, again.stderr
    assert "gitstore: resumed " in again.stderr
    assert (out / "models" / "big.bin").read_bytes() == data
    assert (out / "models" / "small.txt").read_text() == "hello\n"
    assert os.listdir(partials) == [busy]  # another run's file is left to it
    # the killed run's staging folder is gone; the live one is left to its run
    assert sorted(n for n in os.listdir(out) if n.endswith(".part")) == [live.name]


def test_a_failed_run_says_what_is_kept(tmp_path: Path, repo: Path, run: Run) -> None:
    published, _data, oid = _published_model(tmp_path, repo, run)
    out = tmp_path / "out"
    out.mkdir()
    with serve_process(tmp_path, str(published)) as base:
        cmd = _get_model(base, out)
        env = {**os.environ, "GITSTORE_FAULT": "kill-range:2"}
        subprocess.run(cmd, cwd=out, env=env, capture_output=True, text=True)
        # the object goes away on the server before the next run can take it up
        (published / "objects" / oid[:2] / oid[2:4] / oid).unlink()
        failed = subprocess.run(cmd, cwd=out, capture_output=True, text=True)
    assert failed.returncode != 0
    assert "Traceback" not in failed.stderr
    partials = out / ".big.bin.gitstore-partial"
    assert failed.stderr.splitlines()[0].startswith(f"gitstore: error: object {oid} of big.bin")
    assert f"what arrived is kept in {partials}: run the same command again" in failed.stderr
    assert oid in os.listdir(partials)
    assert not (out / "big.bin").exists()


def test_an_io_error_under_the_partial_file_keeps_nothing(
    tmp_path: Path, repo: Path, run: Run
) -> None:
    """A disk that failed a write may not give the bytes back: the next run starts over."""
    published, data, oid = _published_model(tmp_path, repo, run)
    out = tmp_path / "out"
    out.mkdir()
    with serve_process(tmp_path, str(published)) as base:
        cmd = _get_model(base, out)
        env = {**os.environ, "GITSTORE_FAULT": "eio-write:20"}
        failed = subprocess.run(cmd, cwd=out, env=env, capture_output=True, text=True)
        assert failed.returncode != 0
        assert "Traceback" not in failed.stderr
        assert failed.stderr.startswith(f"gitstore: error: cannot write {out / 'big.bin'}: ")
        assert os.strerror(5) in failed.stderr.splitlines()[0]
        assert "kept" not in failed.stderr
        assert os.listdir(out) == []

        again = subprocess.run(cmd, cwd=out, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "gitstore: resumed" not in again.stderr
    assert (out / "big.bin").read_bytes() == data
