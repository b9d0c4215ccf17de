"""History benchmarks: `gitstore diff A B` of a big tracked folder, and `gitstore.read`.

    run(workdir, quick) -> {figure name: seconds}

- ``diff_2rev_json``: ``gitstore diff A B --json`` end to end (a fresh
  process: start-up, reading both manifests through git, the diff, the JSON),
  between two commits of a 100,000-file tracked folder (2,000 with ``quick``)
  that differ in 1,000 files (20). The manifests are generated with
  ``manifest.build``/``dump`` and committed directly: a diff between two
  revisions reads only git, so no payload files are written.
- ``diff_floor_parse``: the floor, parsing both manifests in process.
- ``read_first_call`` / ``read_repeat``: ``gitstore.read`` of a small file at a
  revision with a warm cache, timed inside a fresh process after
  ``import gitstore``: the first call (which imports the API's modules and
  opens the repository) and a repeated call.

Every process runs with a bytecode cache (``PYTHONPYCACHEPREFIX`` under the
workdir; ``PYTHONDONTWRITEBYTECODE`` dropped), warmed by an untimed first run,
as an installed gitstore would: compiling the sources at every start would
add ~40-70 ms to each process here.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchenv import hermetic_env  # noqa: E402

from gitstore import manifest as mf  # noqa: E402
from gitstore import manifestdiff as md  # noqa: E402


def _git(cwd: Path, *args: str, env: dict[str, str]) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


def _oid(i: int, version: int) -> str:
    return f"{i:016x}{version:016x}".ljust(64, "a")


def _env(workdir: Path) -> dict[str, str]:
    return hermetic_env(workdir, bytecode=True)


def build(workdir: Path, files: int, changed: int) -> tuple[Path, dict[str, str], list[bytes]]:
    """A repository with two commits, v1 and v2, of a generated tracked folder."""
    repo = workdir / "repo"
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir(parents=True)
    env = _env(workdir)
    _git(repo, "init", "-q", "-b", "main", env=env)
    step = max(1, files // changed)
    versions = []
    for version in (1, 2):
        entries = []
        for i in range(files):
            bumped = version == 2 and i % step == 0 and i // step < changed
            path = f"shard{i % 100:02}/file{i:07}.bin"
            entries.append(mf.Entry(path, _oid(i, 2 if bumped else 1), 1000 + i))
        data = mf.dump(mf.build("dir", entries))
        versions.append(data)
        (repo / "data.gitstore").write_bytes(data)
        if version == 1:
            (repo / "small.txt").write_bytes(b"a small tracked file\n")
            subprocess.run(
                [sys.executable, "-m", "gitstore", "track", "small.txt"],
                cwd=repo,
                env=env,
                check=True,
                capture_output=True,
            )
        _git(repo, "add", "data.gitstore", env=env)
        _git(repo, "commit", "-qm", f"v{version}", env=env)
        _git(repo, "tag", f"v{version}", env=env)
    return repo, env, versions


def _time_cli(repo: Path, env: dict[str, str], args: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "gitstore", *args], cwd=repo, env=env, capture_output=True
        )
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise RuntimeError(f"gitstore {' '.join(args)} failed: {proc.stderr.decode()}")
    return statistics.median(times)


_READ_SCRIPT = """
import json, time
import gitstore
start = time.perf_counter()
data = gitstore.read("small.txt", rev="v1")
first = time.perf_counter() - start
times = []
for _ in range(20):
    start = time.perf_counter()
    gitstore.read("small.txt", rev="v1")
    times.append(time.perf_counter() - start)
times.sort()
print(json.dumps({"first": first, "repeat": times[len(times) // 2], "ok": data == b"a small tracked file\\n"}))
"""


def run(workdir: Path, quick: bool) -> dict[str, float]:
    files, changed = (2_000, 20) if quick else (100_000, 1_000)
    repeat = 1 if quick else 3
    workdir.mkdir(parents=True, exist_ok=True)
    repo, env, versions = build(workdir, files, changed)

    floors = []
    for _ in range(repeat):
        start = time.perf_counter()
        old = mf.parse(versions[0], "v1")
        new = mf.parse(versions[1], "v2")
        floors.append(time.perf_counter() - start)
    floor = statistics.median(floors)
    check = md.diff_entries(old.entries, new.entries)
    assert len(check.modified) == changed, len(check.modified)

    out = subprocess.run(
        [sys.executable, "-m", "gitstore", "diff", "v1", "v2", "--json"],
        cwd=repo,
        env=env,
        capture_output=True,
        check=True,
    )
    assert len(json.loads(out.stdout)["modified"]) == changed
    figures = {
        "diff_2rev_json": _time_cli(repo, env, ["diff", "v1", "v2", "--json"], repeat),
        "diff_2rev_markdown": _time_cli(repo, env, ["diff", "v1", "v2", "--markdown"], repeat),
        "diff_floor_parse": floor,
    }
    reads = []
    for _ in range(repeat + 1):  # the first run writes the bytecode cache: not counted
        proc = subprocess.run(
            [sys.executable, "-c", _READ_SCRIPT],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        reads.append(json.loads(proc.stdout))
    reads = reads[1:]
    assert all(r["ok"] for r in reads)
    figures["read_first_call"] = statistics.median(r["first"] for r in reads)
    figures["read_repeat"] = statistics.median(r["repeat"] for r in reads)
    return figures


if __name__ == "__main__":
    import tempfile

    quick = "--quick" in sys.argv
    with tempfile.TemporaryDirectory() as tmp:
        for name, seconds in run(Path(tmp), quick).items():
            print(f"{name:22} {seconds * 1000:9.1f} ms")
