"""kill -9 at any instant: nothing lost, nothing partial, and a re-run completes.

For each operation (track, checkout, push, fetch) one uninterrupted run is
timed first; then each trial starts the operation in a fresh copy of the same
starting state and kills it with SIGKILL at a seeded moment spread over that
duration, after the interpreter has started. After every kill the invariants
are checked:

- every object in every store (the cache, the folder remote) hashes to its name,
  and nothing but objects sits under ``objects/`` (temporary files stay in ``tmp/``);
- manifests in git (HEAD and the index) name only objects the author's cache holds;
- a re-run completes and gives the right bytes (compared byte for byte).

A trial "had state to recover" when the kill left the operation unfinished
(temporary files, a manifest not yet written or staged, objects not yet copied).
Default: a few trials per operation; ``--slow``: dozens.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import git
from tests.reliability.helpers import (
    GITSTORE,
    committed_manifest_problems,
    gs,
    make_tree,
    new_repo,
    objects_in,
    read_tree,
    record,
    store_problems,
    tmp_leftovers,
)

SEED = 20260131


@dataclass
class Scenario:
    """Where an operation runs, and how to check its outcome."""

    name: str
    args: tuple[str, ...]
    setup: Callable[[Path], tuple[Path, dict[str, str]]]  # trial folder -> (cwd, env)
    finished: Callable[[Path], bool]  # trial folder -> did the operation complete?
    check: Callable[[Path], list[str]]  # invariants after a kill
    verify: Callable[[Path], None]  # after the re-run: right bytes


def _env(cache: Path) -> dict[str, str]:
    return dict(os.environ, GITSTORE_CACHE_DIR=str(cache), GITSTORE_JOBS="4")


class Fixture:
    """Builds the starting states once; each trial copies one."""

    def __init__(self, base: Path):
        self.base = base
        self.data_dir = base / "data-src"
        self.files = make_tree(self.data_dir, files=60, size=24_000, seed=1)
        big = random.Random(2).randbytes(3 << 20)
        (self.data_dir / "big.bin").write_bytes(big)
        self.files["big.bin"] = big
        # the "author": a repository with data tracked, committed, pushed to a folder remote
        self.author = new_repo(base / "author")
        cache = base / "author-cache"
        env = _env(cache)
        shutil.copytree(self.data_dir, self.author / "data")
        gs(self.author, "remote", "add", "team", str(base / "remote"), "--default", env=env)
        gs(self.author, "track", "data", env=env)
        git(self.author, "commit", "-qm", "data")
        gs(self.author, "push", env=env)
        self.oids = objects_in(cache)
        self.manifest = (self.author / "data.gitstore").read_bytes()

    # -- track: a repository with untracked data, an empty cache
    def setup_track(self, trial: Path) -> tuple[Path, dict[str, str]]:
        repo = new_repo(trial / "repo")
        shutil.copytree(self.data_dir, repo / "data")
        return repo, _env(trial / "cache")

    def track_finished(self, trial: Path) -> bool:
        repo = trial / "repo"
        mpath = repo / "data.gitstore"
        staged = bool(git(repo, "ls-files", "data.gitstore").stdout.strip())
        return (
            mpath.exists()
            and mpath.read_bytes() == self.manifest
            and staged
            and tmp_leftovers(trial / "cache") == 0
        )

    def track_check(self, trial: Path) -> list[str]:
        return store_problems(trial / "cache") + committed_manifest_problems(
            trial / "repo", trial / "cache"
        )

    def track_verify(self, trial: Path) -> None:
        assert (trial / "repo" / "data.gitstore").read_bytes() == self.manifest
        assert objects_in(trial / "cache") == self.oids
        assert not committed_manifest_problems(trial / "repo", trial / "cache")

    # -- checkout: the data folder deleted, the cache full
    def setup_checkout(self, trial: Path) -> tuple[Path, dict[str, str]]:
        repo = trial / "repo"
        shutil.copytree(self.author, repo, symlinks=True)
        shutil.rmtree(repo / "data")
        shutil.copytree(self.base / "author-cache", trial / "cache", symlinks=True)
        return repo, _env(trial / "cache")

    def checkout_finished(self, trial: Path) -> bool:
        return (
            read_tree(trial / "repo" / "data") == self.files
            if (trial / "repo" / "data").exists()
            else False
        )

    def checkout_check(self, trial: Path) -> list[str]:
        problems = store_problems(trial / "cache")
        for rel, data in (
            read_tree(trial / "repo" / "data").items() if (trial / "repo" / "data").exists() else ()
        ):
            if rel.endswith(".gitstore-tmp"):
                continue  # a temporary file beside its destination, never a tracked name
            if self.files.get(rel) != data:
                problems.append(f"workspace file data/{rel} is partial or wrong")
        return problems

    def checkout_verify(self, trial: Path) -> None:
        assert read_tree(trial / "repo" / "data") == self.files

    # -- push: an author whose remote is empty
    def setup_push(self, trial: Path) -> tuple[Path, dict[str, str]]:
        repo = trial / "repo"
        shutil.copytree(self.author, repo, symlinks=True)
        shutil.copytree(self.base / "author-cache", trial / "cache", symlinks=True)
        shutil.rmtree(repo / ".git" / "gitstore", ignore_errors=True)
        (trial / "remote").mkdir()
        gs(
            repo,
            "remote",
            "add",
            "trial",
            str(trial / "remote"),
            "--default",
            "--local",
            env=_env(trial / "cache"),
        )
        return repo, _env(trial / "cache")

    def push_finished(self, trial: Path) -> bool:
        return objects_in(trial / "remote") == self.oids and tmp_leftovers(trial / "remote") == 0

    def push_check(self, trial: Path) -> list[str]:
        return store_problems(trial / "remote") + store_problems(trial / "cache")

    def push_verify(self, trial: Path) -> None:
        assert objects_in(trial / "remote") == self.oids
        assert not store_problems(trial / "remote")

    # -- fetch: a fresh clone with an empty cache
    def setup_fetch(self, trial: Path) -> tuple[Path, dict[str, str]]:
        repo = trial / "repo"
        git(trial, "clone", "-q", str(self.author), str(repo))
        return repo, _env(trial / "cache")

    def fetch_finished(self, trial: Path) -> bool:
        return objects_in(trial / "cache") == self.oids and tmp_leftovers(trial / "cache") == 0

    def fetch_check(self, trial: Path) -> list[str]:
        return store_problems(trial / "cache") + store_problems(self.base / "remote")

    def fetch_verify(self, trial: Path) -> None:
        assert objects_in(trial / "cache") == self.oids
        gs(trial / "repo", "checkout", env=_env(trial / "cache"))
        assert read_tree(trial / "repo" / "data") == self.files

    def scenario(self, name: str, args: tuple[str, ...]) -> Scenario:
        return Scenario(
            name,
            args,
            getattr(self, f"setup_{name}"),
            getattr(self, f"{name}_finished"),
            getattr(self, f"{name}_check"),
            getattr(self, f"{name}_verify"),
        )


OPERATIONS = {
    "track": ("track", "data"),
    "checkout": ("checkout",),
    "push": ("push",),
    "fetch": ("fetch",),
}


_BUILT: list[Fixture] = []


@pytest.fixture
def fixture(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    """Built once (inside the first test's hermetic environment), then reused."""
    if not _BUILT:
        _BUILT.append(Fixture(tmp_path_factory.mktemp("crash")))
    return _BUILT[0]


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL gitstore itself, then wait for any git it started to finish on its own."""
    try:
        os.kill(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _live_members(proc.pid):
        time.sleep(0.01)


def _live_members(pgid: int) -> bool:
    """Whether a process of group ``pgid`` (a git that gitstore started) still runs."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def _timed_run(cwd: Path, args: tuple[str, ...], env: dict[str, str]) -> float:
    start = time.monotonic()
    proc = subprocess.run([*GITSTORE, *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return time.monotonic() - start


def _startup(env: dict[str, str]) -> float:
    start = time.monotonic()
    subprocess.run([*GITSTORE, "--version"], env=env, capture_output=True, check=True)
    return time.monotonic() - start


def run_trials(fixture: Fixture, name: str, trials: int, tmp: Path) -> None:
    sc = fixture.scenario(name, OPERATIONS[name])
    first = tmp / "measure"
    first.mkdir()
    cwd, env = sc.setup(first)
    duration = _timed_run(cwd, sc.args, env)
    sc.verify(first)
    startup = min(_startup(env), duration * 0.5)
    rng = random.Random(f"{SEED}-{name}")
    recovered = 0
    killed = 0
    for i in range(trials):
        trial = tmp / f"trial{i}"
        trial.mkdir()
        cwd, env = sc.setup(trial)
        fraction = (i + rng.random()) / trials  # stratified over the whole run
        at = startup + fraction * (duration - startup)
        proc = subprocess.Popen(
            [*GITSTORE, *sc.args],
            cwd=cwd,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(at)
        killed += proc.poll() is None
        _kill_group(proc)
        problems = sc.check(trial)
        assert not problems, f"{name} killed at {at:.3f}s of {duration:.3f}s: {problems[:5]}"
        recovered += not sc.finished(trial)
        rerun = subprocess.run(
            [*GITSTORE, *sc.args], cwd=cwd, env=env, capture_output=True, text=True
        )
        assert rerun.returncode == 0, (
            f"re-run of {name} after a kill at {at:.3f}s failed:\n{rerun.stderr}"
        )
        assert "Traceback" not in rerun.stderr
        sc.verify(trial)
        assert not sc.check(trial)
        shutil.rmtree(trial, ignore_errors=True)
    record(
        "kill9",
        name,
        trials=trials,
        killed_mid_run=killed,
        had_state_to_recover=recovered,
        invariant_violations=0,
        reruns_ok=trials,
        measured_seconds=round(duration, 2),
    )


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_kill9_default(fixture: Fixture, name: str, tmp_path: Path) -> None:
    run_trials(fixture, name, 6, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(OPERATIONS))
def test_kill9_many(fixture: Fixture, name: str, tmp_path: Path) -> None:
    run_trials(fixture, name, 30, tmp_path)
