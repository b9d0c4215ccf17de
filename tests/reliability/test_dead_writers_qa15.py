"""What a killed writer leaves in the cache's tmp/ (fifteenth QA pass, docs/reliability.md).

Each kill -9 of a track of a big file left its partial copy in ``tmp/``; the
re-run did not remove it and gc kept it for its whole grace period. A writer
now holds a lock on its temporary names, and a writer whose lock is free is
gone: the next writer, or gc, removes what it left at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.reliability.helpers import GITSTORE, gs, new_repo


def _killed_mid_copy(repo: Path, tmp: Path) -> None:
    """Start `gitstore track big.bin` and kill -9 it once its partial copy has bytes."""
    proc = subprocess.Popen([*GITSTORE, "track", "big.bin"], cwd=repo)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        partial = list(tmp.iterdir()) if tmp.is_dir() else []
        if any(p.stat().st_size > 0 for p in partial if p.exists()):
            break
        if proc.poll() is not None:
            pytest.fail("track ended before it could be killed mid-copy")
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.fixture
def killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    cache = tmp_path / "cache"
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(cache))
    repo = new_repo(tmp_path / "repo")
    with open(repo / "big.bin", "wb") as f:
        for _ in range(24):
            f.write(os.urandom(8 << 20))
    _killed_mid_copy(repo, cache / "tmp")
    assert list((cache / "tmp").iterdir())  # the partial copy is there
    return repo, cache


def test_the_next_writer_removes_what_a_killed_one_left(killed: tuple[Path, Path]) -> None:
    repo, cache = killed
    gs(repo, "track", "big.bin")
    assert list((cache / "tmp").iterdir()) == []
    assert list((cache / "writers").iterdir()) == []  # the dead one's, and its own at exit


def test_gc_removes_what_a_killed_writer_left_without_waiting(killed: tuple[Path, Path]) -> None:
    repo, cache = killed
    out = gs(repo, "gc")
    assert list((cache / "tmp").iterdir()) == [], out.stdout


def test_a_writer_stopped_part_way_leaves_nothing_when_it_exits(tmp_path: Path) -> None:
    """A Ctrl-C stopped a worker's write part-way: the exit took the temporary file
    along only sometimes (3-4 runs of 5). The process removes its own at exit."""
    cache = tmp_path / "cache"
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from gitstore.cache import Cache\n"
        "tmp, fd = Cache(Path(sys.argv[1]))._new_tmp()  # a write under way\n"
        "raise KeyboardInterrupt\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(cache)], capture_output=True, text=True
    )
    assert "KeyboardInterrupt" in proc.stderr
    assert list((cache / "tmp").iterdir()) == []
    assert list((cache / "writers").iterdir()) == []


def test_forked_workers_write_under_their_own_names(tmp_path: Path) -> None:
    """A parent that opened the cache without writing, then forked workers (a DataLoader):
    the workers shared its temporary names and writer lock, so one's exit let a sweep
    delete another's file mid-download (sixteenth QA pass)."""
    cache = tmp_path / "cache"
    script = """
import os, sys
from pathlib import Path
from gitstore.cache import Cache, sweep_dead_writers
cache = Cache(Path(sys.argv[1]))
reads, writes = os.pipe()
ready_r, ready_w = os.pipe()
kids = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        tmp, fd = cache._new_tmp()
        os.write(1, f"{tmp}\\n".encode())  # one write: the two workers' lines never interleave
        if not kids:  # the first stays at work until the parent is done
            os.write(ready_w, b"r")
            os.read(reads, 1)
        os._exit(0)
    kids.append(pid)
os.read(ready_r, 1)  # the first has made its file (on a busy machine it may start last)
os.waitpid(kids[1], 0)  # the second has exited
sweep_dead_writers(sys.argv[1])
alive = sorted(os.listdir(Path(sys.argv[1]) / "tmp"))
os.write(writes, b"x")
os.waitpid(kids[0], 0)
print("alive", " ".join(alive))
"""
    proc = subprocess.run(
        [sys.executable, "-c", script, str(cache)], capture_output=True, text=True, check=True
    )
    lines = proc.stdout.split("\n")
    temps = [Path(line).name for line in lines if line.startswith(str(cache))]
    assert len(temps) == 2 and temps[0].split("-")[0] != temps[1].split("-")[0], temps
    alive = next(line for line in lines if line.startswith("alive")).split()[1:]
    first = next(t for t in temps if t in alive)  # the worker still at work keeps its file
    assert first
