"""The Python API inside a training job (eighth QA pass).

A DataLoader's workers under the spawn start method get the Repo pickled; a
job that got a folder view days ago keeps it for as long as it runs, whatever
gc's grace period; the sub-folder of a tracked folder is named as such.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest

import gitstore
from gitstore.errors import PathError
from tests.conftest import GITSTORE
from tests.integration.test_history import tagged  # noqa: F401 (fixture)


def _read_in_worker(repo: gitstore.Repo, path: str, rev: str) -> bytes:
    return repo.read(path, rev=rev)


def test_a_repo_goes_to_spawned_workers(tagged: Path) -> None:  # noqa: F811
    repo = gitstore.Repo(tagged)
    again = pickle.loads(pickle.dumps(repo))
    assert again.root == repo.root and again.read("data/cats/1", rev="v1") == b"one"
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        got = pool.apply(_read_in_worker, (repo, "data/cats/1", "v2"))
    assert got == b"one, edited"


def test_a_repo_stays_its_repository_after_a_chdir(
    tagged: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tagged / "data")
    repo = gitstore.Repo()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # in no repository at all
    assert repo.read("data/cats/1", rev="v1") == b"one"
    again = pickle.loads(pickle.dumps(repo))
    assert again.root == tagged and again.read("model.pt", rev="v1") == b"weights v1"


def test_a_folder_inside_a_tracked_folder_is_named_as_such(tagged: Path) -> None:  # noqa: F811
    repo = gitstore.Repo(tagged)
    with pytest.raises(PathError, match="data/cats is a folder inside the tracked folder data"):
        repo.read("data/cats", rev="v1")
    with pytest.raises(PathError, match="data is a tracked folder, not a file"):
        repo.read("data", rev="v1")


HOLDER = """
import sys, gitstore
path = gitstore.get("data", rev="v1", repo=sys.argv[1])
print(path, flush=True)
sys.stdin.read()  # until the test closes it: a job still reading its view
print((path / "cats" / "1").read_bytes().decode(), flush=True)
"""


def test_gc_keeps_a_view_a_running_job_holds(tagged: Path) -> None:  # noqa: F811
    job = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tagged)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert job.stdout is not None and job.stdin is not None
        view = Path(job.stdout.readline().strip())
        marker = view.parent / ".gitstore-view"
        old = time.time() - 30 * 86400  # got a month ago, past any grace period
        os.utime(marker, (old, old))
        gc = subprocess.run(
            [*GITSTORE, "gc", "--grace", "0"], cwd=tagged, capture_output=True, text=True
        )
        assert gc.returncode == 0, gc.stderr
        assert (view / "cats" / "1").read_bytes() == b"one"
        job.stdin.close()
        assert job.stdout.readline().strip() == "one"
        assert job.wait(timeout=30) == 0
    finally:
        job.kill()
        job.wait()
        if job.stdout is not None:
            job.stdout.close()
    os.utime(marker, (old, old))
    gc = subprocess.run(
        [*GITSTORE, "gc", "--grace", "0", "--json"], cwd=tagged, capture_output=True, text=True
    )
    assert gc.returncode == 0, gc.stderr
    assert not view.exists()  # the job ended: an unused view goes
    leftovers = [p.name for p in view.parent.parent.iterdir()]
    assert leftovers == [], leftovers  # renamed away, then deleted: nothing half left


def test_a_process_holds_a_bounded_number_of_views(
    tagged: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gitstore import pyapi

    monkeypatch.setattr(pyapi, "MAX_PINNED", 2)
    from gitstore import cache

    repo = gitstore.Repo(tagged)
    cache._proc_fd()  # the one process-wide handle that unnamed-file copies link through
    before = len(os.listdir("/proc/self/fd"))
    got = [repo.get(path, rev=rev) for rev in ("v1", "v2") for path in ("data", "data/cats")]
    assert len({p.parent for p in got}) == 4  # four views
    held = [Path(k) for k in pyapi._pinned if k.startswith(str(got[0].parent.parent))]
    assert [h.parent for h in held] == [got[2].parent, got[3].parent]  # the last two
    assert len(os.listdir("/proc/self/fd")) <= before + 2
