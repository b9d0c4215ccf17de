"""A DataLoader worker forked while another thread of the parent uses gitstore.

QA pass 12: a forked worker hung for ever at its first read of an object not
yet in the cache. ``functools.cached_property`` (before Python 3.12) computes
under one lock shared by every instance of the class; a worker forked while a
thread of the parent held it (building a ``Context``: ``gitstore.Repo.status``
in a monitoring thread, a reader thread) inherited it held. The script below
forks at exactly that moment: with that lock held by another thread, when the
class still has one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import git, write

SCRIPT = r"""
import os, signal, sys, threading
import gitstore
from gitstore import api

repo, path, expected = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3])
lock = getattr(api.Context.__dict__["cache"], "lock", None)  # cached_property's, before 3.12
holding, release = threading.Event(), threading.Event()

def builder():  # another thread, in the middle of building a Context's cache
    if lock is None:
        holding.set()
        return
    with lock:
        holding.set()
        release.wait(60)

thread = threading.Thread(target=builder)
thread.start()
holding.wait()
pid = os.fork()
if pid == 0:  # the worker: fetches the object from the remote, then reads it
    signal.alarm(20)  # a hang ends here, killed by SIGALRM
    try:
        os._exit(0 if gitstore.Repo(repo).read(path) == expected else 1)
    except BaseException as exc:
        print(f"worker failed: {exc!r}", file=sys.stderr)
        os._exit(2)
_, status = os.waitpid(pid, 0)
release.set()
thread.join()
print("worker exit", os.waitstatus_to_exitcode(status))
sys.exit(0 if os.waitstatus_to_exitcode(status) == 0 else 1)
"""


def test_a_worker_forked_while_a_thread_builds_a_context_reads(
    repo: Path, run, tmp_path: Path
) -> None:
    data = os.urandom(5000)
    write(repo / "data" / "f.bin", data)
    run(repo, "track", "data")
    git(repo, "commit", "-qm", "data")
    run(repo, "remote", "add", "team", str(tmp_path / "remote"), "--default")
    run(repo, "push")
    env = {
        **os.environ,
        "XDG_CACHE_HOME": str(tmp_path / "fresh-machine"),
    }  # only the remote has it
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(repo), "data/f.bin", data.hex()],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "worker exit 0" in proc.stdout
