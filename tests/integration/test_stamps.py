"""Stamps: "nothing under this tracked folder changed since it matched its manifest", by ctime.

status and the pre-commit hook ask ``find`` instead of lstat-ing every file
from Python, and a re-track reads only what changed since its stamp. These
tests hold both to the full comparison: the same answers, the same manifest
bytes, whatever was changed and however (same size, mtime set back, a file
replaced by a folder, names that the manifest quotes), and no trust in a
stamp once the clock was set back, on another boot, or without GNU find.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import pytest

from gitstore.api import Context
from gitstore.cleanrecord import CleanRecord, Stamps
from gitstore.hashing import hash_bytes
from tests.conftest import git, write

NAMES = ["plain.bin", "sp ace#1.bin", "a, b.bin", "ünï.bin", "true", "-dash.bin"]
PLAIN_NAMES = ["plain.bin", "ünï.bin", "x-y_z.bin"]  # no line of the manifest quotes its path


def _seed(repo: Path, names: list[str] = NAMES) -> None:
    for i in range(40):
        write(repo / "data" / f"d{i % 4}" / f"f{i:03}.bin", f"file {i}\n" * (i + 1))
    for i, name in enumerate(names):
        write(repo / "data" / "odd" / name, f"odd {i}\n")
    write(repo / "data" / "d1" / "deep" / "x.bin", "deep\n")


def _committed(repo: Path, run) -> None:  # type: ignore[no-untyped-def]
    """The seeded folder tracked and committed."""
    _seed(repo)
    run(repo, "init")
    run(repo, "track", "data")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "track")


def _files_of(repo: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in (repo / "data").rglob("*") if p.is_file()}


def _status(repo: Path, run) -> dict[str, str]:  # type: ignore[no-untyped-def]
    out = json.loads(run(repo, "status", "--json").stdout)
    return {s["path"]: s["state"] for s in out}


def _quick_possible(repo: Path) -> bool:
    """Whether a re-track of data now would read only what changed (the stamp vouches)."""
    ws = Context(repo).workspace
    ws._generation = ws.cache.generation()  # as track reads it, under the cache's lock
    stamps = Stamps.load(ws.repo.state_dir)
    stamps.start()
    return ws._quick_scan("data", stamps) is not None


def _full_track_bytes(repo: Path, run) -> bytes:  # type: ignore[no-untyped-def]
    """The manifest a full re-track writes (no stamp to go by), leaving the stamps as they were."""
    stamps = repo / ".git" / "gitstore" / Stamps.FILE
    saved = stamps.read_bytes() if stamps.exists() else None
    stamps.unlink(missing_ok=True)
    run(repo, "track", "data")
    data = (repo / "data.gitstore").read_bytes()
    if saved is not None:
        stamps.write_bytes(saved)
    return data


def _change(repo: Path, rnd: random.Random, step: int, names: list[str] = NAMES) -> str:
    data = repo / "data"
    files = sorted(p for p in data.rglob("*") if p.is_file())
    dirs = sorted(p for p in data.rglob("*") if p.is_dir())
    what = rnd.choice(
        [
            "edit",
            "same-size",
            "add",
            "newdir",
            "remove",
            "rename",
            "chmod",
            "editor",
            "swap",
            "rmdir",
        ]
    )
    f = rnd.choice(files)
    if what == "edit":
        with open(f, "ab") as out:
            out.write(b"more\n")
    elif what == "same-size":  # same size, mtime put back: only the ctime tells
        st = f.stat()
        data_now = f.read_bytes()
        f.write_bytes(bytes([data_now[0] ^ 1]) + data_now[1:])
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    elif what == "add":
        sep = ", " if names is NAMES else "-"
        write(rnd.choice(dirs) / f"new{step}{sep}{rnd.choice(names)}", f"new {step}\n")
    elif what == "newdir":
        write(rnd.choice(dirs) / f"sub{step}" / "inner" / "n.bin", f"n {step}\n")
    elif what == "remove":
        f.unlink()
    elif what == "rename":
        f.rename(f.with_name(f"renamed{step}-{f.name}"))
    elif what == "chmod":
        f.chmod(f.stat().st_mode ^ 0o111)
    elif what == "editor":  # write aside, rename over
        tmp = f.with_name(f".{f.name}.swp")
        tmp.write_bytes(f.read_bytes() + b"saved\n")
        tmp.rename(f)
    elif what == "swap":  # a file becomes a folder of the same name
        f.unlink()
        write(f / "inside.bin", f"was a file {step}\n")
    elif what == "rmdir" and len(dirs) > 2:
        shutil.rmtree(rnd.choice([d for d in dirs if d != data]))
    return what


@pytest.mark.parametrize("names", [NAMES, PLAIN_NAMES], ids=["quoted", "plain"])
def test_quick_retrack_writes_what_a_full_track_writes(repo: Path, run, names: list[str]) -> None:  # type: ignore[no-untyped-def]
    _seed(repo, names)
    run(repo, "init")
    run(repo, "track", "data")
    rnd = random.Random(11)
    quick = 0
    for step in range(30):
        for _ in range(rnd.randrange(1, 3)):
            _change(repo, rnd, step, names)
        if not any(p.is_file() for p in (repo / "data").rglob("*")):
            write(repo / "data" / "refill.bin", "refill\n")
        quick += _quick_possible(repo)
        run(repo, "track", "data")
        got = (repo / "data.gitstore").read_bytes()
        assert _full_track_bytes(repo, run) == got, f"step {step}"
        assert _status(repo, run) == {"data": "unchanged"}
        quoted = b'- {path: "' in got
        assert quoted == (names is NAMES) or step < 3, f"step {step}"
    assert quick >= 15  # most steps changed nothing at the folder's top


def test_a_stamp_never_hides_a_change(repo: Path, run) -> None:  # type: ignore[no-untyped-def]
    _committed(repo, run)
    assert _status(repo, run) == {"data": "unchanged"}
    assert _quick_possible(repo)
    # the same size, the mtime put back: an lstat signature of mtime alone would miss it
    f = repo / "data" / "d2" / "f002.bin"
    st = f.stat()
    f.write_bytes(f.read_bytes().replace(b"file 2", b"file X"))
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert f.stat().st_size == st.st_size
    assert _status(repo, run) == {"data": "modified"}
    # right after track, in the same clock tick as its stamp
    run(repo, "track", "data")
    write(repo / "data" / "d0" / "f000.bin", "changed at once\n")
    assert _status(repo, run) == {"data": "modified"}
    # the pre-commit hook sees it too: the commit refreshes the manifest
    run(repo, "install")
    run(repo, "track", "data")
    git(repo, "commit", "-qm", "tracked")
    write(repo / "data" / "odd" / "true", "edited after track\n")
    git(repo, "commit", "-qm", "again", check=False)
    staged = git(repo, "diff", "--cached", "--name-only").stdout.split()
    assert staged == ["data.gitstore"]
    assert hash_bytes(b"edited after track\n") in git(repo, "show", ":data.gitstore").stdout
    assert _status(repo, run) == {"data": "unchanged"}


def test_no_stamp_is_trusted_after_the_clock_was_set_back_or_a_reboot(repo: Path, run) -> None:  # type: ignore[no-untyped-def]
    _seed(repo)
    run(repo, "init")
    run(repo, "track", "data")
    state = repo / ".git" / "gitstore"
    data = (repo / "data.gitstore").read_bytes()
    stamps = Stamps.load(state)
    assert stamps.still(repo, {"data.gitstore": data}) == {"data.gitstore"}
    digest, t, dev, (boot, wall, since_boot), gen = stamps.entries["data.gitstore"]
    # the wall clock read a second later than the time since boot allows: set back since
    stamps.entries["data.gitstore"] = (
        digest,
        t,
        dev,
        (boot, wall + 1_000_000_000, since_boot),
        gen,
    )
    assert stamps.still(repo, {"data.gitstore": data}) == set()
    stamps.entries["data.gitstore"] = (digest, t, dev, ("another-boot", wall, since_boot), gen)
    assert stamps.still(repo, {"data.gitstore": data}) == set()
    # other manifest bytes: not the ones the stamp vouched for
    stamps.entries["data.gitstore"] = (digest, t, dev, (boot, wall, since_boot), gen)
    assert stamps.still(repo, {"data.gitstore": data + b"# x\n"}) == set()
    assert stamps.still(repo, {"data.gitstore": data}) == {"data.gitstore"}


def test_after_a_gc_track_reads_every_file_again(repo: Path, run) -> None:  # type: ignore[no-untyped-def]
    """Only gc deletes objects: a stamp made before one cannot vouch that the cache still has them."""
    _seed(repo)
    run(repo, "init")
    run(repo, "track", "data")
    write(repo / "data" / "d1" / "f001.bin", "second version\n")
    run(repo, "track", "data")
    assert _quick_possible(repo)
    # the first version's object, which nothing names now, is deleted, and
    # the cache's generation changes: the next track checks every object again
    run(repo, "gc", "--grace", "0")
    assert not Context(repo).cache.path(hash_bytes(b"file 1\n" * 2)).exists()
    assert not _quick_possible(repo)
    # and puts back an object that went missing while its file stayed
    oid = hash_bytes(b"file 0\n")
    cache = Context(repo).cache
    cache.path(oid).unlink()
    run(repo, "track", "data")
    assert cache.path(oid).exists()
    assert _quick_possible(repo)


def test_without_find_status_and_track_take_the_full_way(
    repo: Path, run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    _seed(repo)
    run(repo, "init")
    run(repo, "track", "data")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    git_path = shutil.which("git")
    assert git_path is not None
    (bin_dir / "git").symlink_to(git_path)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert shutil.which("find") is None
    data = (repo / "data.gitstore").read_bytes()
    state = repo / ".git" / "gitstore"
    assert Stamps.load(state).still(repo, {"data.gitstore": data}) == set()
    assert not _quick_possible(repo)
    assert _status(repo, run) == {"data": "unchanged"}
    write(repo / "data" / "d3" / "f003.bin", "edited\n")
    assert _status(repo, run) == {"data": "modified"}
    run(repo, "track", "data")
    assert _status(repo, run) == {"data": "unchanged"}


def test_checkouts_after_quick_tracks_bring_each_side(repo: Path, run) -> None:  # type: ignore[no-untyped-def]
    _committed(repo, run)
    before = _files_of(repo)
    git(repo, "switch", "-q", "-c", "other")
    write(repo / "data" / "d0" / "f000.bin", "other side\n")
    write(repo / "data" / "d1" / "new.bin", "new on other\n")
    assert _quick_possible(repo)
    run(repo, "track", "data")
    git(repo, "commit", "-qm", "other")
    other = _files_of(repo)
    state = repo / ".git" / "gitstore"
    assert "data.gitstore" not in CleanRecord.load(state).entries  # a quick track records none
    # gitstore checkout REV: the stamp vouches for the folder, so only the delta is
    # written, and the folder's signature recorded as a delta's checkout does
    run(repo, "checkout", "main")
    assert _files_of(repo) == before
    assert "data.gitstore" in CleanRecord.load(state).entries
    run(repo, "checkout", "HEAD")
    assert _files_of(repo) == other
    git(repo, "switch", "-q", "main")  # the hook
    assert _files_of(repo) == before
    git(repo, "switch", "-q", "other")
    assert _files_of(repo) == other
    assert _status(repo, run) == {"data": "unchanged"}


def test_a_file_the_users_own_pre_commit_hook_changes_is_committed(repo: Path, run) -> None:  # type: ignore[no-untyped-def]
    """The hook's find starts early, but after the user's hook (chained first) has run."""
    _seed(repo)
    hook = "#!/bin/sh\nprintf 'stamped by the user hook\\n' >> data/d3/f003.bin\n"
    write(repo / ".git" / "hooks" / "pre-commit", hook, 0o755)
    run(repo, "init")
    run(repo, "track", "data")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "track")  # the user's hook changed the file after track
    assert _status(repo, run) == {"data": "unchanged"}
    assert _quick_possible(repo)
    write(repo / "code.py", "print(1)\n")
    git(repo, "add", "code.py")
    git(repo, "commit", "-qm", "code")
    content = (repo / "data" / "d3" / "f003.bin").read_bytes()
    assert content.endswith(b"stamped by the user hook\nstamped by the user hook\n")
    assert hash_bytes(content) in git(repo, "show", "HEAD:data.gitstore").stdout
    assert _status(repo, run) == {"data": "unchanged"}


def test_a_folder_tracked_empty_then_filled(repo: Path, run) -> None:  # type: ignore[no-untyped-def]
    """An empty folder's manifest says ``entries: []``: its lines cannot be patched."""
    (repo / "data" / "sub").mkdir(parents=True)  # a folder in it: the top does not change below
    run(repo, "init")
    run(repo, "track", "data")
    assert b"entries: []" in (repo / "data.gitstore").read_bytes()
    write(repo / "data" / "sub" / "first.bin", "first\n")
    run(repo, "track", "data")
    got = (repo / "data.gitstore").read_bytes()
    assert got == _full_track_bytes(repo, run)
    assert b"first.bin" in got and b"entries: []" not in got
    (repo / "data" / "sub" / "first.bin").unlink()
    run(repo, "track", "data")
    assert (repo / "data.gitstore").read_bytes() == _full_track_bytes(repo, run)
    assert b"entries: []" in (repo / "data.gitstore").read_bytes()


def test_a_track_waiting_on_the_workspace_lock_sees_what_its_holder_wrote(repo: Path, run) -> None:  # type: ignore[no-untyped-def]
    """track starts its find before its imports, under the workspace lock: never before a writer is done."""
    import fcntl
    import subprocess
    import time

    from tests.conftest import GITSTORE

    _committed(repo, run)
    write(repo / "data" / "d0" / "f000.bin", "edited before\n")
    fd = os.open(repo / ".git" / "gitstore" / "workspace.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another gitstore process at work in the repository
        proc = subprocess.Popen(
            [*GITSTORE, "track", "data"], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        time.sleep(1.5)  # started, imported, waiting for the lock
        assert proc.poll() is None
        write(repo / "data" / "d2" / "f002.bin", "written by the lock's holder\n")
        (repo / "data" / "d3" / "f003.bin").unlink()
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert (repo / "data.gitstore").read_bytes() == _full_track_bytes(repo, run)
    assert _status(repo, run) == {"data": "unchanged"}


def test_an_edit_right_after_tracks_find_is_not_vouched_for(
    repo: Path, run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """The stamp a re-track leaves is as of before its find began, not as of when it stamps."""
    _committed(repo, run)
    write(repo / "data" / "d0" / "f000.bin", "edited before\n")
    real_find = shutil.which("find")
    assert real_find is not None
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    late = repo / "data" / "d1" / "f001.bin"
    marker = tmp_path / "edited"
    (bin_dir / "find").write_text(  # the real find, then (once) an edit it did not see
        "#!/bin/sh\n"
        f'"{real_find}" "$@"; status=$?\n'
        f'if [ ! -e "{marker}" ]; then : > "{marker}"; echo late >> "{late}"; fi\n'
        'exit "$status"\n'
    )
    (bin_dir / "find").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    run(repo, "track", "data")
    assert marker.exists()
    assert late.read_bytes().endswith(b"late\n")
    assert _status(repo, run) == {"data": "modified"}
    run(repo, "track", "data")
    assert (repo / "data.gitstore").read_bytes() == _full_track_bytes(repo, run)
    assert _status(repo, run) == {"data": "unchanged"}
