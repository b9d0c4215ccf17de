"""The eleventh QA pass: big files end to end (kills, full disks, remotes).

The pass worked with files of 1-4 GiB; these tests reach the same code paths
with objects of a few tens of MiB (big enough that a copy takes long enough
to be caught or killed in the middle).
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import servers
from tests.conftest import GITSTORE, git
from tests.servers import s3_store_on

moto_endpoint, s3_env = servers.moto_endpoint, servers.s3_env

Run = Callable[..., subprocess.CompletedProcess[str]]

MIB = 1 << 20
BIG = 96 * MIB  # a copy of it takes tens of milliseconds: long enough to watch


def _big_bytes() -> bytes:
    return os.urandom(MIB) * (BIG // MIB)


def _tmp_names(folder: Path) -> list[str]:
    return [n for n in os.listdir(folder) if n.endswith(".gitstore-tmp")]


def _setup(tmp_path: Path, repo: Path, run: Run) -> tuple[Path, Path]:
    """A repository tracking ``big.bin`` (pushed to a folder remote) and a clone with its own
    empty cache: (clone, its cache)."""
    remote = tmp_path / "remote"
    run(repo, "init")
    (repo / "big.bin").write_bytes(_big_bytes())
    run(repo, "track", "big.bin")
    run(repo, "remote", "add", "fold", str(remote), "--default")
    git(repo, "commit", "-qm", "big")
    run(repo, "push")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    cache = tmp_path / "clone-cache"
    return clone, cache


def _watch(cmd: list[str], cwd: Path, stop_at_tmp: bool) -> tuple[list[str], int]:
    """Run ``cmd``, listing ``cwd`` as fast as it can: (temporary names seen, exit status).

    With ``stop_at_tmp`` the process is killed (SIGKILL) as soon as one is seen.
    """
    seen: list[str] = []
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while proc.poll() is None:
            names = _tmp_names(cwd)
            if names:
                seen += [n for n in names if n not in seen]
                if stop_at_tmp:
                    proc.send_signal(signal.SIGKILL)
                    break
    finally:
        proc.wait(60)
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
        proc.stderr.close()
        assert "Traceback" not in err, err
    return seen, proc.returncode


def test_pull_writes_a_big_file_whole_or_not_at_all(
    tmp_path: Path, repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A killed `gitstore pull` of a 2 GiB file left a half-written .big.bin.gitstore-tmp
    in the work tree, offered by `git status` ("?? .big.bin.gitstore-tmp") and left there
    by the next pull: pull's early writes copied to a named temporary file."""
    clone, cache = _setup(tmp_path, repo, run)
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(cache))
    run(clone, "install")
    seen, code = _watch([*GITSTORE, "-q", "pull"], clone, stop_at_tmp=False)
    assert code == 0
    assert seen == []
    assert (clone / "big.bin").read_bytes() == (repo / "big.bin").read_bytes()


def test_a_checkout_killed_in_a_big_copy_leaves_nothing_behind(
    tmp_path: Path, repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed while replacing a big file, a checkout leaves ``.big.bin.gitstore-tmp``
    (the path is marked part-way); the next checkout that finishes the path must take it
    away, also when the file itself is written another way (here: the user deleted it)."""
    clone, cache = _setup(tmp_path, repo, run)
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(cache))
    run(clone, "install")
    run(clone, "-q", "pull")
    for _attempt in range(10):
        (clone / "big.bin").write_bytes(b"edited")
        _watch([*GITSTORE, "-q", "checkout", "--force", "--link", "copy"], clone, True)
        if _tmp_names(clone):  # killed in the copy (not before or after it)
            break
    else:
        raise AssertionError("never caught the checkout in its copy")
    status = run(clone, "status", ok=None)
    assert "part-way" in status.stderr
    (clone / "big.bin").unlink()
    run(clone, "checkout")
    assert _tmp_names(clone) == []
    assert (clone / "big.bin").read_bytes() == (repo / "big.bin").read_bytes()
    porcelain = git(clone, "status", "--porcelain", "--ignored").stdout
    assert "gitstore-tmp" not in porcelain, porcelain
    run(clone, "verify")


def _tmp_like(folder: Path) -> list[str]:
    return [n for n in os.listdir(folder) if n.endswith(".tmp")]


def test_get_published_killed_in_a_big_download_leaves_nothing(
    tmp_path: Path, repo: Path, run: Run
) -> None:
    """`gitstore get-published ... -o out.bin` killed while downloading a 2 GiB object
    left ``..out.bin.XXXX.part.YYYY.tmp`` (the store's temporary file, under a random
    name) in the output folder: one more per attempt, never removed."""
    published = tmp_path / "published"
    run(repo, "init")
    (repo / "big.bin").write_bytes(_big_bytes())
    run(repo, "track", "big.bin")
    git(repo, "commit", "-qm", "big")
    run(repo, "publish", str(published))
    out = tmp_path / "out"
    out.mkdir()
    cmd = [*GITSTORE, "get-published", str(published), "big.bin", "-b", "main"]
    cmd += ["--date", "2100-01-01", "-o", str(out / "out.bin")]
    proc = subprocess.Popen(cmd, cwd=out, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen: set[str] = set()
    while proc.poll() is None:
        seen.update(_tmp_like(out))
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.returncode == 0, err
    assert seen == set()  # nothing a kill could leave
    assert sorted(os.listdir(out)) == ["out.bin"]
    assert (out / "out.bin").read_bytes() == (repo / "big.bin").read_bytes()


def test_s3_get_of_a_ranged_object_is_whole_or_nothing(
    tmp_path: Path, moto_endpoint: str, s3_env: dict[str, str]
) -> None:
    """S3Store.get fills an unnamed file (parallel ranged GETs here) and names it only once
    verified; a corrupt object leaves nothing in the folder."""
    from gitstore import layout
    from gitstore.errors import IntegrityError
    from gitstore.hashing import hash_bytes

    store = next(s3_store_on(moto_endpoint, "eleventh-get"))
    try:
        store.ranged_get_min = 1 * MIB  # type: ignore[attr-defined]
        store.range_size = 256 * 1024  # type: ignore[attr-defined]
        data = os.urandom(3 * MIB + 17)
        oid = hash_bytes(data)
        src = tmp_path / "src"
        src.write_bytes(data)
        store.put(oid, src)  # type: ignore[attr-defined]
        folder = tmp_path / "down"
        folder.mkdir()
        (folder / "obj").write_bytes(b"old")
        store.get(oid, folder / "obj")  # type: ignore[attr-defined]
        assert (folder / "obj").read_bytes() == data
        assert os.listdir(folder) == ["obj"]
        # a corrupt object under another name: refused, and nothing left behind
        wrong = hash_bytes(b"something else")
        client = store.client  # type: ignore[attr-defined]
        key = f"p/{layout.object_key(wrong)}"
        client.put_object(Bucket="eleventh-get", Key=key, Body=data)
        with pytest.raises(IntegrityError):
            store.get(wrong, folder / "bad")  # type: ignore[attr-defined]
        assert os.listdir(folder) == ["obj"]
    finally:
        store.close()  # type: ignore[attr-defined]


def _limit_file_size() -> None:
    """In the child: files may not grow past 1 MiB (EFBIG, as a full disk's ENOSPC)."""
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (MIB, MIB))


def test_get_published_into_a_full_disk_names_the_file(
    tmp_path: Path, repo: Path, run: Run
) -> None:
    """Out of space (a 1.5 GiB tmpfs, a 2 GiB file), `get-published -o out.bin` said only
    "gitstore: error: No space left on device": neither the file nor what to do."""
    published = tmp_path / "published"
    run(repo, "init")
    (repo / "big.bin").write_bytes(os.urandom(3 * MIB))
    run(repo, "track", "big.bin")
    git(repo, "commit", "-qm", "big")
    run(repo, "publish", str(published))
    out = tmp_path / "out"
    out.mkdir()
    cmd = [*GITSTORE, "get-published", str(published), "big.bin", "-b", "main"]
    cmd += ["--date", "2100-01-01", "-o", str(out / "out.bin")]
    proc = subprocess.run(cmd, cwd=out, capture_output=True, text=True, preexec_fn=_limit_file_size)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == f"gitstore: error: cannot write {out / 'out.bin'}: File too large"
    assert lines[1].startswith("hint: free some space")
    assert os.listdir(out) == []


def test_s3_ranged_get_into_a_full_disk_fails_before_downloading(
    tmp_path: Path, moto_endpoint: str, s3_env: dict[str, str]
) -> None:
    """A 2 GiB pull from S3 into a cache with 800 MiB free downloaded for about a minute
    before the write that filled the disk failed; the free space is asked first now."""
    from gitstore.hashing import hash_bytes

    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(small)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    store = next(s3_store_on(moto_endpoint, "eleventh-full"))
    try:
        store.ranged_get_min = 1 * MIB  # type: ignore[attr-defined]
        store.range_size = 256 * 1024  # type: ignore[attr-defined]
        data = os.urandom(6 * MIB)
        oid = hash_bytes(data)
        src = tmp_path / "src"
        src.write_bytes(data)
        store.put(oid, src)  # type: ignore[attr-defined]
        fd = os.open(small / "obj", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            with pytest.raises(OSError) as caught:
                store.read_into(oid, fd)  # type: ignore[attr-defined]
            assert caught.value.errno == errno.ENOSPC
            assert os.fstat(fd).st_size == 0  # not one range was asked for
        finally:
            os.close(fd)
    finally:
        store.close()  # type: ignore[attr-defined]
        subprocess.run(["umount", str(small)], check=False)
