"""Hook latency benchmarks (issue 4, "Speed"): what gitstore's git hooks add.

    run(workdir, quick) -> {figure name: seconds or ratio}

The repository is W2 as benchmarks/workloads.py builds it (20,000 files of
4 KiB in 100 sub-folders of one tracked folder ``data``, one manifest; 500
files in 10 folders with ``quick``), set up with ``gitstore init`` (hooks
installed), ``gitstore track data`` and a commit. A second branch ``other``
changes 100 files (20 with ``quick``), spread evenly, re-tracked and committed.
Each figure is the median of 5 runs (1 with ``quick``); floors are measured in
the same run, interleaved.

- ``pre_commit_hook``: ``git hook run pre-commit`` with nothing changed.
- ``pre_commit_floor``: the interpreter's own ``python -c pass`` (the real
  binary) + an lstat of every tracked file (benchmarks/floors.py).
- ``commit_added``: ``git commit --allow-empty`` with the hooks minus the same
  commit with ``-c core.hooksPath=/dev/null``; ``commit_added_ratio`` is it
  over ``pre_commit_floor`` (target: at most 4).
- ``post_checkout_hook``: ``gitstore hook post-checkout OLD NEW 1`` right after
  a ``git checkout`` done with the hooks disabled (the hook's own cost).
- ``checkout_added``: ``git checkout`` with the hooks minus the same switch
  with them disabled followed by nothing (the view a user sees).
- ``post_checkout_noop``: the hook's start-up, i.e. the same hook as git runs
  it after ``git checkout -- FILE`` (flag 0): the interpreter, the imports,
  the repository and its config, nothing to do. (Before 2026-12-04 night it
  was the hook between a commit and itself, flag 1, which read the commit's
  trees through dulwich, a module a branch switch never loads: that start-up
  was ~25 ms too long, and the ratio below that much too kind.)
- ``post_checkout_same``: the hook between a commit and itself, flag 1 (what
  ``git switch -c`` runs).
- ``post_checkout_copy``: a plain Python copy (``shutil.copyfile``) of the
  changed files; ``post_checkout_floor`` is it + ``python -c pass``.
  ``post_checkout_ratio`` is (hook - its start-up ``post_checkout_noop``) /
  copy (the issue's target: at most 1.5); ``post_checkout_ratio_version``
  the same with ``gitstore --version`` as the start-up,
  ``post_checkout_ratio_python`` with ``python -c pass``;
  ``checkout_added_ratio`` the ``--version`` one for ``checkout_added``.
- For scale, what the empty-folder copy leaves out: replacing a file frees
  its old blocks, which no copy into an empty folder pays.
  ``post_checkout_copy_over`` copies the same changed files with
  ``shutil.copyfile`` over copies of the other branch's version (what a hand
  switch with ``cp`` does: each file truncated and rewritten), alternating
  versions as the switches do; ``post_checkout_ratio_over`` is the hook's
  work over it. ``git_switch`` is git's own ``git checkout`` between the
  same two branches in a twin repository that keeps the W2 files in git
  itself (no gitstore, no hooks), ``git_switch_same`` its checkout of the
  branch it is then on (git's start-up with the index read and refreshed),
  ``git_switch_work`` the difference and ``git_switch_ratio`` that work over
  ``post_checkout_copy``: the issue's ratio, taken for git.
- ``startup_python``, ``startup_gitstore`` (``gitstore --version``).
- ``codebase_*``: what the hooks add in a large code base, where most commits
  and switches touch no data: a second repository with 100,000 small files
  committed to git (1,000 folders of 100; 2,000 with ``quick``) and one
  tracked folder of 100 files of 1 KiB. ``codebase_commit_added``: ``git
  commit -a`` of one changed code file, with the hooks minus without;
  ``codebase_switch_added``: ``git switch`` between two branches that differ in
  one code file; ``codebase_new_branch_added``: ``git switch -c`` (git runs
  post-checkout with the same commit on both sides).

Every timed run is checked: after a switch, the changed files hold the
branch's bytes and ``gitstore status`` says ``unchanged``; ``git status`` is
clean after the pre-commit hook and the commits.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import floors  # noqa: E402
import trash  # noqa: E402
import workloads  # noqa: E402
from harness import CheckFailed, Env, rmtree  # noqa: E402

__all__ = ["run"]


def _median(fn: Callable[[int], float], repeat: int) -> float:
    return statistics.median(fn(i) for i in range(repeat))


class _Setup:
    def __init__(self, workdir: Path, quick: bool):
        self.quick = quick
        self.spec = workloads.specs(quick)["W2"]
        self.env = Env(workdir)
        self.cache = workdir / "cache"
        self.repo = workdir / "repo"
        self.src = workloads.generate(workdir, self.spec)
        paths = workloads.relpaths(self.spec)
        n_changed = 20 if quick else 100
        step = len(paths) // n_changed
        self.changed = {paths[i]: i for i in range(0, len(paths), step)}
        assert len(self.changed) == n_changed
        self.copy_dir = workdir / "floor-copy"
        self.over_dir = workdir / "floor-over"  # the changed files, copied over each other
        self.over_version = "a"
        self.twin = workdir / "git-twin"  # the same two branches, the files kept in git

    def gs(self, *args: str, check: bool = True):  # type: ignore[no-untyped-def]
        return self.env.gs(self.repo, *args, cache=self.cache, check=check)

    def git(self, *args: str, check: bool = True):  # type: ignore[no-untyped-def]
        return self.env.git(self.repo, *args, check=check, cache=self.cache)

    def build(self) -> None:
        rmtree(self.repo)
        rmtree(self.cache)
        self.repo.mkdir(parents=True)
        shutil.copytree(self.src, self.repo / "data")
        self.env.new_repo(self.repo, keep=("data",))
        self.git("config", "gc.auto", "0")
        self.gs("init")
        self.gs("track", "data")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "track W2")
        self.git("checkout", "-q", "-b", "other")
        for rel in self.changed:
            (self.repo / "data" / rel).write_bytes(self.content(rel, "b"))
        self.gs("track", "data")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "change some files")
        self.git("-c", "core.hooksPath=/dev/null", "checkout", "-q", "main")
        self.gs("checkout")
        self.gs("status")  # settle the stat cache (untimed)
        self.check("main")

    def build_floors(self) -> None:
        """The copy-over floor's files (version a) and the git twin (untimed)."""
        for folder, version in (
            (self.over_dir, "a"),
            (self.over_src("a"), "a"),
            (self.over_src("b"), "b"),
        ):
            rmtree(folder)
            folder.mkdir(parents=True)
            for rel in self.changed:
                (folder / rel.replace("/", "_")).write_bytes(self.content(rel, version))
        self.over_version = "a"
        rmtree(self.twin)
        self.twin.mkdir(parents=True)
        shutil.copytree(self.src, self.twin / "data")
        self.env.new_repo(self.twin, keep=("data",))
        self.twin_git("add", "-A")
        self.twin_git("commit", "-q", "-m", "W2 in git")
        self.twin_git("checkout", "-q", "-b", "other")
        for rel in self.changed:
            (self.twin / "data" / rel).write_bytes(self.content(rel, "b"))
        self.twin_git("commit", "-q", "-a", "-m", "change some files")
        self.twin_git("checkout", "-q", "main")

    def over_src(self, version: str) -> Path:
        return self.over_dir.parent / f"floor-over-{version}"

    def twin_git(self, *args: str):  # type: ignore[no-untyped-def]
        return self.env.git(self.twin, *args)

    def twin_switch(self, branch: str) -> tuple[float, float]:
        """git's own switch to ``branch`` of the changed files, and its checkout of the
        branch it is then on (git's start-up, the index read and refreshed)."""
        switch = self.twin_git("checkout", "-q", branch).seconds
        same = self.twin_git("checkout", "-q", branch).seconds
        version = "b" if branch == "other" else "a"
        for rel in self.changed:
            if (self.twin / "data" / rel).read_bytes() != self.content(rel, version):
                raise CheckFailed(f"git twin: data/{rel} does not hold branch {branch}'s bytes")
        return switch, same

    def copy_over_floor(self) -> float:
        """A plain Python copy of the changed files over the other version's copies, as
        a hand switch with ``cp`` would replace them (each file truncated and rewritten)."""
        version = "b" if self.over_version == "a" else "a"
        src = self.over_src(version)
        targets = [
            (src / rel.replace("/", "_"), self.over_dir / rel.replace("/", "_"))
            for rel in self.changed
        ]
        t0 = time.perf_counter()
        for a, b in targets:
            shutil.copyfile(a, b)
        seconds = time.perf_counter() - t0
        self.over_version = version
        return seconds

    def content(self, rel: str, version: str) -> bytes:
        return workloads.content(self.spec, self.changed[rel], version)

    def check(self, branch: str) -> None:
        version = "b" if branch == "other" else "a"
        for rel in self.changed:
            if (self.repo / "data" / rel).read_bytes() != self.content(rel, version):
                raise CheckFailed(f"data/{rel} does not hold branch {branch}'s bytes")
        rows = {r["path"]: r["state"] for r in json.loads(self.gs("status", "--json").out)}
        if rows != {"data": "unchanged"}:
            raise CheckFailed(f"gitstore status on {branch}: {rows}")
        self.check_clean()

    def check_clean(self) -> None:
        out = self.git("status", "--porcelain").out.strip()
        if out:
            raise CheckFailed(f"git status not clean: {out[:200]}")

    def rev(self, name: str) -> str:
        return self.git("rev-parse", name).out.strip()

    def copy_floor(self) -> float:
        """A plain Python copy of the changed files (version b) into an empty folder."""
        rmtree(self.copy_dir)
        self.copy_dir.mkdir(parents=True)
        src = self.src
        targets = [(src / rel, self.copy_dir / rel.replace("/", "_")) for rel in self.changed]
        t0 = time.perf_counter()
        for a, b in targets:
            shutil.copyfile(a, b)
        return time.perf_counter() - t0


def run(workdir: Path, quick: bool) -> dict[str, float]:
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    trash.ensure(workdir / "trash")
    s = _Setup(workdir, quick)
    s.build()
    repeat = 1 if quick else 5
    data = s.repo / "data"
    out: dict[str, float] = {}

    out["startup_python"] = _median(lambda i: floors.python_startup(), repeat)
    out["startup_gitstore"] = _median(lambda i: s.gs("--version").seconds, repeat)

    # -- pre-commit, nothing changed ------------------------------------------
    def hook(i: int) -> float:
        r = s.git("hook", "run", "pre-commit")
        s.check_clean()
        return r.seconds

    s.git("hook", "run", "pre-commit")  # untimed: as the previous commit would have run it
    hooks, floor = [], []
    for i in range(repeat):
        hooks.append(hook(i))
        floor.append(floors.startup_lstat(data))
    out["pre_commit_hook"] = statistics.median(hooks)
    out["pre_commit_floor"] = statistics.median(floor)
    out["pre_commit_ratio"] = out["pre_commit_hook"] / out["pre_commit_floor"]

    with_h, without = [], []
    for i in range(repeat):
        with_h.append(s.git("commit", "-q", "--allow-empty", "-m", f"hooked {i}").seconds)
        without.append(
            s.git(
                "-c", "core.hooksPath=/dev/null", "commit", "-q", "--allow-empty", "-m", f"bare {i}"
            ).seconds
        )
    s.check_clean()
    out["commit_with_hooks"] = statistics.median(with_h)
    out["commit_without_hooks"] = statistics.median(without)
    out["commit_added"] = max(0.0, out["commit_with_hooks"] - out["commit_without_hooks"])
    out["commit_added_ratio"] = out["commit_added"] / out["pre_commit_floor"]

    # -- post-checkout between branches differing in 100 files ---------------
    # the hook alone: switch with the hooks disabled, then run gitstore's part
    branch = "main"
    s.build_floors()
    hook_runs, copies, starts, noops, sames = [], [], [], [], []
    overs, twin_switches, twin_sames = [], [], []
    for _ in range(max(repeat, 2)):
        target = "other" if branch == "main" else "main"
        old = s.rev("HEAD")
        s.git("-c", "core.hooksPath=/dev/null", "checkout", "-q", target)
        new = s.rev("HEAD")
        hook_runs.append(s.gs("hook", "post-checkout", old, new, "1").seconds)
        s.check(target)
        branch = target
        # the hook's start-up: the same hook where nothing is to be done (git
        # calls it so after `git checkout -- file`): interpreter, imports, the
        # repository and its config
        noops.append(s.gs("hook", "post-checkout", old, new, "0").seconds)
        sames.append(s.gs("hook", "post-checkout", new, new, "1").seconds)
        copies.append(s.copy_floor())
        overs.append(s.copy_over_floor())
        switch, same = s.twin_switch(target)
        twin_switches.append(switch)
        twin_sames.append(same)
        starts.append(floors.python_startup())
    out["post_checkout_hook"] = statistics.median(hook_runs)
    out["post_checkout_noop"] = statistics.median(noops)
    out["post_checkout_same"] = statistics.median(sames)
    out["post_checkout_copy"] = statistics.median(copies)
    start = statistics.median(starts)
    out["post_checkout_floor"] = start + out["post_checkout_copy"]
    # the target: hook <= its start-up + 1.5 x copy, i.e. this ratio <= 1.5
    out["post_checkout_ratio"] = (out["post_checkout_hook"] - out["post_checkout_noop"]) / out[
        "post_checkout_copy"
    ]
    out["post_checkout_ratio_version"] = (
        out["post_checkout_hook"] - out["startup_gitstore"]
    ) / out["post_checkout_copy"]
    out["post_checkout_ratio_python"] = (out["post_checkout_hook"] - start) / out[
        "post_checkout_copy"
    ]
    # for scale: the same copy over the files it replaces, and git's own switch of the
    # same changed files kept in git (its work: the switch minus its same-branch checkout)
    out["post_checkout_copy_over"] = statistics.median(overs)
    out["post_checkout_ratio_over"] = (out["post_checkout_hook"] - out["post_checkout_noop"]) / out[
        "post_checkout_copy_over"
    ]
    out["git_switch"] = statistics.median(twin_switches)
    out["git_switch_same"] = statistics.median(twin_sames)
    out["git_switch_work"] = max(0.0, out["git_switch"] - out["git_switch_same"])
    out["git_switch_ratio"] = out["git_switch_work"] / out["post_checkout_copy"]

    # what `git checkout` gains with the hooks: switch with them, and without + nothing
    with_h, without = [], []
    for _ in range(max(repeat, 2)):
        target = "other" if branch == "main" else "main"
        with_h.append(s.git("checkout", "-q", target).seconds)
        s.check(target)
        branch = target
        target = "other" if branch == "main" else "main"
        # without the hooks: git's own switch, then gitstore's checkout (untimed) to put data back
        without.append(s.git("-c", "core.hooksPath=/dev/null", "checkout", "-q", target).seconds)
        s.gs("checkout")
        s.check(target)
        branch = target
    out["checkout_with_hooks"] = statistics.median(with_h)
    out["checkout_without_hooks"] = statistics.median(without)
    out["checkout_added"] = max(0.0, out["checkout_with_hooks"] - out["checkout_without_hooks"])
    out["checkout_added_ratio"] = (out["checkout_added"] - out["startup_gitstore"]) / out[
        "post_checkout_copy"
    ]
    if branch != "main":
        s.git("checkout", "-q", "main")
        s.check("main")
    out.update(codebase(workdir, quick, repeat))
    return out


def codebase(workdir: Path, quick: bool, repeat: int) -> dict[str, float]:
    """What the hooks add to commits and switches that touch no data, in a large code base."""
    env, cache, repo = Env(workdir), workdir / "codebase-cache", workdir / "codebase"
    rmtree(repo)
    rmtree(cache)
    repo.mkdir(parents=True)
    folders = 20 if quick else 1_000
    for d in range(folders):
        folder = repo / "src" / f"m{d:04d}"
        folder.mkdir(parents=True)
        for f in range(100):
            (folder / f"f{f:03d}.py").write_text(f"x = {d * 100 + f}\n")
    for i in range(100):
        path = repo / "data" / f"d{i % 10}" / f"f{i:03d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(workloads.stream(1, f"codebase:{i}", 1024))

    def git(*args: str) -> float:
        return env.git(repo, *args, cache=cache).seconds

    def bare(*args: str) -> float:
        return git("-c", "core.hooksPath=/dev/null", *args)

    env.new_repo(repo, keep=("src", "data"))
    env.gs(repo, "init", cache=cache)
    env.gs(repo, "track", "data", cache=cache)
    git("add", "-A")
    git("commit", "-q", "-m", "code and data")
    git("gc", "-q")  # a code base as clones have it: packed
    git("branch", "side")
    git("switch", "-q", "side")
    (repo / "src" / "m0000" / "f000.py").write_text("x = 'side'\n")
    git("commit", "-q", "-a", "-m", "side")
    git("switch", "-q", "main")

    def clean() -> None:
        if env.git(repo, "status", "--porcelain").out.strip():
            raise CheckFailed("codebase: git status not clean")
        if env.gs(repo, "status", cache=cache).out.split() != ["unchanged", "data"]:
            raise CheckFailed("codebase: gitstore status is not 'unchanged data'")

    times: dict[str, list[float]] = {k: [] for k in ("commit", "switch", "new_branch")}
    plain: dict[str, list[float]] = {k: [] for k in times}
    for i in range(max(repeat, 3)):
        for timed, run, label in ((times, git, "hooks"), (plain, bare, "bare")):
            (repo / "src" / "m0001" / "f001.py").write_text(f"x = '{label} {i}'\n")
            timed["commit"].append(run("commit", "-q", "-a", "-m", f"code {label} {i}"))
            # both branches hold the same data: side differs in code only
            timed["switch"].append(run("switch", "-q", "side"))
            timed["switch"].append(run("switch", "-q", "main"))
            timed["new_branch"].append(run("switch", "-q", "-c", f"{label}-{i}"))
            git("switch", "-q", "main")
        clean()
    out = {}
    for key in times:
        out[f"codebase_{key}_with_hooks"] = statistics.median(times[key])
        out[f"codebase_{key}_without_hooks"] = statistics.median(plain[key])
        out[f"codebase_{key}_added"] = max(
            0.0, out[f"codebase_{key}_with_hooks"] - out[f"codebase_{key}_without_hooks"]
        )
    rmtree(repo)
    rmtree(cache)
    return out


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--workdir", type=Path, default=HERE / "work" / "ext" / "hooks")
    a = p.parse_args()
    for k, v in run(a.workdir, a.quick).items():
        print(f"{k:24} {v:.4f}")
