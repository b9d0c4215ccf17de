"""A hostile environment: a disk that fills, a cache that cannot take a registration.

A real full disk needs a mount, which CI may not allow; ``RLIMIT_FSIZE`` (the
``ulimit -f`` of the shell) makes every write past N bytes of a file fail as
a full disk does, part-way through a buffer, for any user. Every command
must then say one line naming the file, leave no temporary file behind and
change nothing it did not finish.
"""

from __future__ import annotations

import marshal
import os
import resource
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from gitstore.cache import Cache
from tests.conftest import GITSTORE, git, unprivileged
from tests.reliability.helpers import (
    gs,
    make_tree,
    new_repo,
    objects_in,
    read_tree,
    registrations,
)


def limited(cwd: Path, limit: int, *args: str) -> subprocess.CompletedProcess[str]:
    """``gitstore ARGS`` where no file can grow past ``limit`` bytes (stdout is a pipe)."""

    def setup() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    # and no bytecode written: CPython's own .pyc writes would be cut short too
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(
        [*GITSTORE, *args], cwd=cwd, capture_output=True, text=True, preexec_fn=setup, env=env
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def leftovers(root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.name.endswith((".gitstore-tmp", ".tmp")) and ".git/objects" not in str(p)
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = new_repo(tmp_path / "repo")
    make_tree(repo / "data", files=40, size=4096, seed=3)
    gs(repo, "init")
    gs(repo, "track", "data")
    git(repo, "commit", "-qm", "data")
    return repo


def test_a_full_disk_stops_track_before_its_manifest_changes(repo: Path) -> None:
    before = (repo / "data.gitstore").read_bytes()
    (repo / "data" / "new").write_bytes(b"new\n")
    proc = limited(repo, 1024, "track", "data")  # the manifest is ~5 KB
    assert proc.returncode == 1
    assert proc.stderr.startswith("gitstore: error: cannot write data.gitstore: File too large")
    assert len(proc.stderr.strip().splitlines()) == 2  # the line and its hint
    assert (repo / "data.gitstore").read_bytes() == before
    assert leftovers(repo) == []
    gs(repo, "track", "data")  # once there is room
    assert "new" in (repo / "data.gitstore").read_text()


def test_a_full_disk_while_gitignore_is_written_says_what_to_run(repo: Path) -> None:
    with open(repo / ".gitignore", "a") as f:
        f.write("".join(f"/padding-{i}\n" for i in range(200)))
    (repo / "model.bin").write_bytes(b"weights\n")
    size = (repo / ".gitignore").stat().st_size
    proc = limited(repo, size + 4, "track", "model.bin")
    assert proc.returncode == 1
    assert "cannot write .gitignore: File too large" in proc.stderr
    assert "`gitstore track model.bin` again" in proc.stderr
    assert leftovers(repo) == []
    assert (repo / ".gitignore").stat().st_size == size  # as it was, not cut short
    gs(repo, "track", "model.bin")
    assert "/model.bin\n" in (repo / ".gitignore").read_text()


def test_a_full_disk_does_not_break_status_nor_leave_state_files(repo: Path) -> None:
    state = repo / ".git" / "gitstore"
    for stale in [*state.glob("statcache*"), state / "precommit-clean"]:
        stale.unlink(missing_ok=True)  # status must hash again and write a new one (~5 KB)
    for file in (repo / "data").rglob("*"):
        os.utime(file, (1_600_000_000, 1_600_000_000))
    proc = limited(repo, 1024, "status", "--json")
    assert proc.returncode == 0, proc.stderr
    assert '"unchanged"' in proc.stdout
    assert leftovers(repo) == []
    for written in state.glob("statcache*"):  # whole, or not there: never cut short
        marshal.loads(written.read_bytes())


def test_a_full_disk_during_checkout_leaves_whole_files_only(repo: Path) -> None:
    files = read_tree(repo / "data")
    for victim in sorted(p for p in (repo / "data").rglob("*") if p.is_file())[:2]:
        victim.unlink()
    proc = limited(repo, 1024, "checkout")  # each file is 4 KiB
    assert proc.returncode != 0
    assert "File too large" in proc.stderr and "gitstore checkout data" in proc.stderr
    assert leftovers(repo) == []
    for rel, data in read_tree(repo / "data").items():
        assert files[rel] == data  # what is there is whole
    gs(repo, "checkout")
    assert read_tree(repo / "data") == files


def test_gc_frees_space_on_a_full_cache_disk(repo: Path, tmp_path: Path) -> None:
    (repo / "scratch.bin").write_bytes(b"only in the cache\n")
    gs(repo, "track", "scratch.bin")
    gs(repo, "untrack", "scratch.bin")
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "gitstore"
    assert len(objects_in(cache)) == 41
    # not even the 32-byte generation token can be written
    proc = limited(repo, 8, "gc", "--grace", "0")
    assert proc.returncode == 0, proc.stderr
    assert len(objects_in(cache)) == 40
    gs(repo, "track", "data")  # a new generation is made at the next use
    assert (cache / "gc-generation").exists()


def test_a_repository_the_cache_cannot_register_is_refused_writes(
    repo: Path, tmp_path: Path
) -> None:
    """gc from elsewhere would delete what it needs: it must not link or write there."""
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "gitstore"
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    (cache / "repos").rename(cache / "repos.aside")
    (cache / "repos").write_text("")  # as a full disk or another user's folder would
    proc = gs(clone, "checkout", "--link", "symlink", check=False)
    assert proc.returncode == 1
    assert "cannot register this repository in the cache" in proc.stderr
    assert "could delete the objects this one writes or links to" in proc.stderr
    assert not (clone / "data").exists()
    assert str(cache / "repos") in proc.stderr and ".tmp" not in proc.stderr  # no temporary name
    (clone / "notes.txt").write_text("mine\n")
    assert gs(clone, "track", "notes.txt", check=False).returncode == 1
    status = gs(clone, "status")  # reading goes on
    assert "not_materialised" in status.stdout
    gs(clone, "checkout")  # copies leave nothing depending on the cache
    assert read_tree(clone / "data") == read_tree(repo / "data")
    shutil.rmtree(clone / "data")
    (cache / "repos").unlink()
    (cache / "repos.aside").rename(cache / "repos")
    gs(clone, "checkout", "--link", "symlink")
    assert len(registrations(cache)) == 2


def test_the_gc_lock_follows_the_umask_of_a_group_shared_cache(tmp_path: Path) -> None:
    old = os.umask(0o002)
    try:
        cache = Cache(tmp_path / "shared")
        with cache.lock():
            pass
    finally:
        os.umask(old)
    assert (tmp_path / "shared" / "gc.lock").stat().st_mode & 0o777 == 0o664


def test_a_relative_xdg_cache_home_is_ignored(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "relcache")
    (repo / "sub").mkdir()
    (repo / "sub" / "a.bin").write_bytes(b"a\n")
    gs(repo / "sub", "track", "a.bin")
    assert not (repo / "relcache").exists() and not (repo / "sub" / "relcache").exists()
    assert (Path(os.environ["HOME"]) / ".cache" / "gitstore" / "objects").is_dir()


def test_an_unreadable_folder_is_named_in_one_line(repo: Path) -> None:
    if unprivileged() is None:
        pytest.skip("permissions do not apply to root")
    locked = repo / "data" / "locked"
    locked.mkdir()
    (locked / "x").write_bytes(b"x")
    locked.chmod(0)
    try:
        for args in (("track", "data"), ("status",)):
            proc = gs(repo, *args, check=False, plain_user=True)
            assert proc.returncode == 1
            assert "data/locked: cannot read the folder: Permission denied" in proc.stderr
    finally:
        locked.chmod(0o755)


def test_a_relative_cache_dir_is_taken_from_the_repository_top(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITSTORE_CACHE_DIR", "relcache")
    (repo / "sub").mkdir()
    (repo / "sub" / "z.txt").write_bytes(b"z\n")
    gs(repo / "sub", "track", "z.txt")
    assert (repo / "relcache" / "objects").is_dir() and not (repo / "sub" / "relcache").exists()
    (repo / "sub" / "z.txt").unlink()
    gs(repo, "checkout", "sub/z.txt")
    assert (repo / "sub" / "z.txt").read_bytes() == b"z\n"


def test_state_files_that_are_not_utf8_give_no_traceback(repo: Path) -> None:
    state = repo / ".git" / "gitstore"
    (state / "unmaterialised.json").write_bytes(b'{\n "donn\xc3')
    (state / "repository-token").write_bytes(b"\xff\xfe\n")
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "gitstore"
    marker = registrations(cache)[0]
    marker.write_bytes(marker.read_bytes() + b"\xc3")
    for args in (("status",), ("track", "data"), ("gc", "--dry-run")):
        proc = gs(repo, *args, check=False)  # gs asserts there is no traceback
        assert proc.returncode == 0, (args, proc.stderr)


def test_untrack_changes_nothing_when_git_cannot_take_the_manifest_out(repo: Path) -> None:
    gitignore = (repo / ".gitignore").read_bytes()
    (repo / ".git" / "index.lock").write_text("")
    proc = gs(repo, "untrack", "data", check=False)
    assert proc.returncode == 1 and "index.lock" in proc.stderr
    assert (repo / "data.gitstore").exists() and (repo / ".gitignore").read_bytes() == gitignore
    (repo / ".git" / "index.lock").unlink()
    gs(repo, "untrack", "data")
    assert not (repo / "data.gitstore").exists()


def test_gc_remote_runs_when_its_users_record_cannot_be_written(repo: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    gs(repo, "remote", "add", "r", str(remote), "--default")
    gs(repo, "push")
    shutil.rmtree(remote / "users")
    (remote / "users").write_text("")  # as a full disk would refuse the record
    proc = gs(repo, "gc", "--remote", "r", "--dry-run", check=False)
    assert proc.returncode == 0, proc.stderr
    assert "could not be recorded in users/" in proc.stdout + proc.stderr
