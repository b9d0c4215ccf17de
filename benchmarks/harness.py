"""Timing machinery: a hermetic environment, commands timed end to end, figures.

Every command runs in a subprocess with its own HOME and XDG folders under
the work folder (the user's real cache and config are never touched), with
``gc.auto=0`` and a fixed author. Each figure is the median of the runs with
min and max; gitstore's runs and the floor's runs are interleaved, so a noisy
moment on this shared machine hits both.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trash


class CheckFailed(AssertionError):
    """A timed command produced a wrong result: the figure does not count."""


class PartlyFailed(RuntimeError):
    """Some workloads of a suite failed; ``figures`` holds what the others measured."""

    def __init__(self, failures: list[str], figures: dict[str, float]) -> None:
        super().__init__("\n".join(failures))
        self.figures = figures


@dataclass
class Stats:
    runs: list[float] = field(default_factory=list)
    maxrss_mib: float = 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    def to_json(self) -> dict[str, Any]:
        return {
            "median": round(self.median, 4),
            "min": round(min(self.runs), 4),
            "max": round(max(self.runs), 4),
            "runs": [round(r, 4) for r in self.runs],
            "maxrss_mib": round(self.maxrss_mib, 1),
        }


@dataclass
class Figure:
    key: str  # e.g. "W2 track"
    gitstore: Stats
    floor: Stats | None = None
    floor_label: str = ""
    target: float | None = None  # gitstore / floor must be <= target
    note: str = ""
    peers: dict[str, Stats | str] = field(
        default_factory=dict
    )  # name -> stats or "unavailable: why"

    @property
    def ratio(self) -> float | None:
        if self.floor is None or not self.floor.runs or not self.gitstore.runs:
            return None
        return self.gitstore.median / self.floor.median

    @property
    def met(self) -> bool | None:
        if self.target is None or self.ratio is None:
            return None
        return self.ratio <= self.target

    def to_json(self) -> dict[str, Any]:
        return {
            "gitstore": self.gitstore.to_json(),
            "floor": self.floor.to_json() if self.floor else None,
            "floor_label": self.floor_label,
            "ratio": round(self.ratio, 3) if self.ratio is not None else None,
            "target": self.target,
            "met": self.met,
            "note": self.note,
            "peers": {k: v.to_json() if isinstance(v, Stats) else v for k, v in self.peers.items()},
        }


@dataclass
class Result:
    code: int
    out: str
    err: str
    seconds: float
    maxrss_mib: float


class Env:
    """Where commands run: the gitstore console script and a hermetic environment."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.home = workdir / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        bindir = Path(sys.executable).parent
        script = bindir / "gitstore"
        self.gitstore = [str(script)] if script.exists() else [sys.executable, "-m", "gitstore"]
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GIT_", "GITSTORE_", "XDG_", "AWS_", "PYTHONDONTWRITEBYTECODE"))
        }
        env.update(
            HOME=str(self.home),
            XDG_CACHE_HOME=str(self.home / ".cache"),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            GIT_CONFIG_NOSYSTEM="1",
            GIT_AUTHOR_NAME="Bench",
            GIT_AUTHOR_EMAIL="bench@example.com",
            GIT_COMMITTER_NAME="Bench",
            GIT_COMMITTER_EMAIL="bench@example.com",
            AWS_EC2_METADATA_DISABLED="true",
            # byte-compiled modules as an installed package has them, kept in the work folder
            PYTHONPYCACHEPREFIX=str(workdir / "pycache"),
            PATH=str(bindir) + os.pathsep + os.environ.get("PATH", ""),
        )
        self.env = env
        (self.home / ".gitconfig").write_text(
            "[init]\n\tdefaultBranch = main\n[gc]\n\tauto = 0\n[advice]\n\tdetachedHead = false\n"
            "[user]\n\tname = Bench\n\temail = bench@example.com\n"
        )

    def run(
        self,
        argv: Sequence[str],
        cwd: Path,
        *,
        cache: Path | None = None,
        check: bool = True,
        extra_env: dict[str, str] | None = None,
    ) -> Result:
        """Run ``argv`` and time it end to end (fork to exit), with its peak RSS."""
        env = dict(self.env)
        if cache is not None:
            env["GITSTORE_CACHE_DIR"] = str(cache)
        if extra_env:
            env.update(extra_env)
        with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
            t0 = time.perf_counter()
            proc = subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=out_f, stderr=err_f)
            _pid, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - t0
            proc.returncode = os.waitstatus_to_exitcode(status)
            out_f.seek(0)
            err_f.seek(0)
            out = out_f.read().decode("utf-8", "replace")
            err = err_f.read().decode("utf-8", "replace")
        maxrss = usage.ru_maxrss / 1024  # KiB on Linux: this child alone (wait4)
        if check and proc.returncode != 0:
            raise CheckFailed(f"{' '.join(argv)} exited {proc.returncode} in {cwd}:\n{out}\n{err}")
        if "Traceback" in err:
            raise CheckFailed(f"{' '.join(argv)} printed a traceback:\n{err}")
        return Result(proc.returncode, out, err, seconds, maxrss)

    def gs(self, cwd: Path, *args: str, cache: Path, check: bool = True) -> Result:
        return self.run([*self.gitstore, *args], cwd, cache=cache, check=check)

    def git(self, cwd: Path, *args: str, check: bool = True, cache: Path | None = None) -> Result:
        """git, with ``cache`` as GITSTORE_CACHE_DIR for the hooks it may run."""
        return self.run(["git", *args], cwd, check=check, cache=cache)

    def new_repo(self, path: Path, keep: Sequence[str] = ()) -> None:
        """A fresh git repository at ``path`` (everything but ``keep`` removed)."""
        path.mkdir(parents=True, exist_ok=True)
        for child in path.iterdir():
            if child.name in keep:
                continue
            trash.discard(child)
        self.git(path, "init", "-q")
        self.git(path, "config", "gc.auto", "0")
        self.git(path, "commit", "-q", "--allow-empty", "-m", "start")


def rmtree(path: Path) -> None:
    """Remove a folder (read-only cache objects included) or a file: into the trash.

    A deletion right before a timed run would slow that run's file creation
    down (see trash.py), so folders are moved aside and deleted between
    workloads.
    """
    trash.discard(path)


def measure(
    repeat: int,
    gitstore: Callable[[int], float],
    floor: Callable[[int], float] | None = None,
    rss: Callable[[], float] | None = None,
) -> tuple[Stats, Stats | None]:
    """Run gitstore's op and the floor ``repeat`` times, interleaved."""
    g = Stats()
    f = Stats() if floor else None
    for i in range(repeat):
        g.runs.append(gitstore(i))
        if floor and f is not None:
            f.runs.append(floor(i))
    return g, f


def fmt_s(stats: Stats | None) -> str:
    if stats is None or not stats.runs:
        return "—"
    m = stats.median
    text = f"{m:.3f}" if m < 10 else f"{m:.1f}"
    if len(stats.runs) > 1:
        text += f" ({min(stats.runs):.3f}–{max(stats.runs):.3f})"
    return text


def markdown(figures: Sequence[Figure], peers: Sequence[str]) -> str:
    head = ["operation", "gitstore s", "floor", "floor s", "ratio", "target", "met", "note"]
    for p in peers:
        head += [f"{p} s", f"gitstore / {p}"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for fig in figures:
        ratio = f"{fig.ratio:.2f}×" if fig.ratio is not None else "—"
        target = f"≤ {fig.target:g}×" if fig.target is not None else "—"
        met = {True: "yes", False: "**no**", None: "—"}[fig.met]
        row = [
            fig.key,
            fmt_s(fig.gitstore),
            fig.floor_label or "—",
            fmt_s(fig.floor),
            ratio,
            target,
            met,
            fig.note,
        ]
        for p in peers:
            v = fig.peers.get(p)
            if isinstance(v, Stats) and v.runs:
                row += [fmt_s(v), f"{fig.gitstore.median / v.median:.2f}×"]
            elif isinstance(v, str):
                row += [v, "—"]
            else:
                row += ["—", "—"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"
