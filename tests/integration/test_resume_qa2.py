"""Second QA pass on resumable downloads: get-published's partial folder, folder remotes.

Each test here failed before the fix it came with (see its docstring). Most run
in-process with the "big object" thresholds lowered (``published.RESUME_MIN``,
``LocalStore.resume_min``), on a store published by the CLI.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from gitstore import published
from gitstore.hashing import hash_bytes
from gitstore.stores.local import LocalStore
from gitstore.stores.registry import open_store
from tests.conftest import GITSTORE, git

Run = Callable[..., subprocess.CompletedProcess[str]]

MIB = 1 << 20


def _publish(tmp_path: Path, repo: Path, run: Run) -> tuple[Path, bytes, str]:
    """``models/big.bin`` (3 MiB) and ``models/small.txt``, published to a folder."""
    run(repo, "init")
    data = os.urandom(3 * MIB)
    (repo / "models").mkdir()
    (repo / "models" / "big.bin").write_bytes(data)
    (repo / "models" / "small.txt").write_text("hello\n")
    run(repo, "track", "models")
    git(repo, "commit", "-qm", "models")
    store = tmp_path / "published"
    run(repo, "publish", str(store))
    return store, data, hash_bytes(data)


@pytest.fixture
def small_big(monkeypatch: pytest.MonkeyPatch) -> None:
    """Objects of 1 MiB or more are "big": downloaded through the partial folder."""
    monkeypatch.setattr(published, "RESUME_MIN", MIB)
    monkeypatch.setattr(LocalStore, "resume_min", MIB)


def _get(store: Path, path: str, out: Path) -> published.GetResult:
    result, _ = published.get_published(
        open_store(str(store), read_only=True), "main", path, out, date="2100-01-01"
    )
    return result


def test_a_fifo_for_an_object_in_a_folder_remote_fails_instead_of_hanging(
    tmp_path: Path, repo: Path, run: Run
) -> None:
    """An object of a folder remote that is a FIFO (a damaged or hostile share): the
    object was opened before it was judged, and an open of a FIFO waits for a writer,
    so get-published and pull from that folder hung forever."""
    store, _data, oid = _publish(tmp_path, repo, run)
    small = hash_bytes(b"hello\n")
    where = store / "objects" / small[:2] / small[2:4] / small
    where.unlink()
    os.mkfifo(where)
    cmd = [*GITSTORE, "get-published", str(store), "models/small.txt", "-b", "main"]
    cmd += ["--date", "2100-01-01", "-o", str(tmp_path / "small.txt")]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("get-published hung on a FIFO in a folder remote")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    assert f"object {small} in {store} is not a regular file" in proc.stderr
    assert not (tmp_path / "small.txt").exists()

    # a clone pulling from that folder, with a cache of its own: the other object
    # arrives, this one is named
    run(repo, "remote", "add", "fold", str(store), "--default")
    git(repo, "commit", "-qm", "remote", "--allow-empty")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    env = {**os.environ, "GITSTORE_CACHE_DIR": str(tmp_path / "clone-cache")}
    try:
        pulled = subprocess.run(
            [*GITSTORE, "pull"], cwd=clone, env=env, capture_output=True, text=True, timeout=20
        )
    except subprocess.TimeoutExpired:
        pytest.fail("pull hung on a FIFO in a folder remote")
    assert pulled.returncode != 0
    assert "Traceback" not in pulled.stderr, pulled.stderr
    assert small in pulled.stderr, pulled.stderr
    assert hash_bytes((clone / "models" / "big.bin").read_bytes()) == oid
