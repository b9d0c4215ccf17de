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

from gitstore import partial, published
from gitstore.errors import GitstoreError
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


def test_a_symlink_at_the_partial_folder_never_removes_what_it_leads_to(
    tmp_path: Path, repo: Path, run: Run, small_big: None
) -> None:
    """``.big.bin.gitstore-partial`` a symlink to a folder of the user's: get-published
    did not download into it, but the clean-up after a successful run listed the folder
    it leads to and deleted every file in it."""
    store, data, _oid = _publish(tmp_path, repo, run)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.txt").write_text("mine\n")
    (elsewhere / ("ab" * 32)).write_text("mine too\n")
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(elsewhere, out / ".big.bin.gitstore-partial")

    _get(store, "models/big.bin", out / "big.bin")

    assert (out / "big.bin").read_bytes() == data
    assert sorted(os.listdir(elsewhere)) == ["ab" * 32, "precious.txt"]
    assert os.path.islink(out / ".big.bin.gitstore-partial")


def test_a_users_own_folder_named_like_the_partial_folder_keeps_its_files(
    tmp_path: Path, repo: Path, run: Run, small_big: None
) -> None:
    """A folder of the user's that happens to be called ``.NAME.gitstore-partial``:
    every get-published of NAME, even of a small file, deleted every file in it (and
    the folder, once empty). Only what a download leaves there (``<oid>``,
    ``<oid>.ranges``) is gitstore's to remove."""
    store, data, _oid = _publish(tmp_path, repo, run)
    out = tmp_path / "out"
    own = out / ".small.txt.gitstore-partial"
    own.mkdir(parents=True)
    (own / "notes.txt").write_text("mine\n")
    (own / "old.ranges").write_text("mine too\n")

    _get(store, "models/small.txt", out / "small.txt")
    assert (out / "small.txt").read_text() == "hello\n"
    assert sorted(os.listdir(own)) == ["notes.txt", "old.ranges"]

    own_big = out / ".big.bin.gitstore-partial"
    own_big.mkdir()
    (own_big / "notes.txt").write_text("mine\n")
    stale = "ef" * 32  # what an earlier run left for another version: removed
    (own_big / stale).write_bytes(b"x" * 10)
    (own_big / f"{stale}{partial.SUFFIX}").write_text(f"{partial.MAGIC} 10 10\n0 10\n")
    _get(store, "models/big.bin", out / "big.bin")
    assert (out / "big.bin").read_bytes() == data
    assert sorted(os.listdir(own_big)) == ["notes.txt"]


def test_a_fifo_in_the_partial_folder_does_not_hang_get_published(
    tmp_path: Path, repo: Path, run: Run
) -> None:
    """A FIFO at ``.NAME.gitstore-partial/<oid>``: the clean-up after a successful run
    opened it to lock it, and an open of a FIFO waits for a writer: forever."""
    store, _data, _oid = _publish(tmp_path, repo, run)
    out = tmp_path / "out"
    (out / ".small.txt.gitstore-partial").mkdir(parents=True)
    os.mkfifo(out / ".small.txt.gitstore-partial" / ("cd" * 32))
    cmd = [*GITSTORE, "get-published", str(store), "models/small.txt", "-b", "main"]
    cmd += ["--date", "2100-01-01", "-o", str(out / "small.txt")]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("get-published hung on a FIFO in its partial folder")
    assert proc.returncode == 0, proc.stderr
    assert (out / "small.txt").read_text() == "hello\n"


def test_output_dot_for_a_folder_is_an_error_not_a_traceback(
    tmp_path: Path, repo: Path, run: Run
) -> None:
    """``-o .`` for a folder, in an empty folder: the partial folder's name was made
    from the output's name, which ``.`` has none of (ValueError: a traceback)."""
    store, _data, _oid = _publish(tmp_path, repo, run)
    here = tmp_path / "here"
    here.mkdir()
    proc = run(
        here,
        *("get-published", str(store), "models", "-b", "main", "--date", "2100-01-01"),
        *("-o", "."),
        ok=None,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("gitstore: error: ") or proc.returncode == 0, proc.stderr
    assert not [n for n in os.listdir(tmp_path) if n.endswith(published.PARTIALS_SUFFIX)]


def test_a_big_file_with_a_long_name_is_still_written(
    tmp_path: Path, repo: Path, run: Run, small_big: None
) -> None:
    """A name a few bytes short of the 255-byte limit: its partial folder's name
    (``.NAME.gitstore-partial``) is too long to make, and get-published failed
    ("File name too long") rather than download it without a partial folder."""
    store, data, _oid = _publish(tmp_path, repo, run)
    out = tmp_path / "out"
    out.mkdir()
    name = "m" * 236 + ".bin"  # .NAME.<8 hex>.part fits; .NAME.gitstore-partial does not
    _get(store, "models/big.bin", out / name)
    assert (out / name).read_bytes() == data
    assert os.listdir(out) == [name]


def test_a_folder_in_the_way_of_a_big_file_is_named_before_the_download(
    tmp_path: Path, repo: Path, run: Run, small_big: None
) -> None:
    """``-o out`` where ``out/big.bin`` is a folder: the big object was downloaded whole,
    then the rename onto the folder failed and threw the download away (no partial
    file left to resume), saying "Is a directory" with the hint "free some space"."""
    store, _data, oid = _publish(tmp_path, repo, run)
    out = tmp_path / "out"
    (out / "big.bin" / "inner").mkdir(parents=True)
    with pytest.raises(GitstoreError) as caught:
        _get(store, "models/big.bin", out)
    assert "free some space" not in (caught.value.hint or "")
    assert "is a folder" in caught.value.message
    assert sorted(os.listdir(out)) == ["big.bin"]
    assert os.listdir(out / "big.bin") == ["inner"]
    assert not any(oid in n for n in os.listdir(tmp_path))
