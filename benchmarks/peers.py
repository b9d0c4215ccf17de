"""DVC, git-lfs and git-annex doing the same operations on the same files (--peers).

Each peer is installed on demand: DVC and git-annex with pip into their own
virtualenvs under WORKDIR/peers (PyPI's ``dvc`` and ``git-annex``), git-lfs
from Debian (``apt-get install -y git-lfs``). A peer that cannot be installed
is recorded as "unavailable" and the run goes on. Each peer runs at its
defaults (DVC: ``reflink,copy`` cache links, git-annex: SHA256E backend),
in a fresh repository per run with ``gc.auto=0``; outputs are checked as
gitstore's are.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import checks
import trash
from harness import CheckFailed, Figure, Stats
from suites import Bench, deletes_now

PEERS = ("dvc", "git-lfs", "git-annex")


def _venv_tool(b: Bench, name: str, package: str, exe: str) -> Path | None:
    venv = b.workdir / "peers" / name
    tool = venv / "bin" / exe
    if tool.exists():
        return tool
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", package],
            check=True,
            capture_output=True,
            timeout=1800,
        )
    except (subprocess.SubprocessError, OSError):
        return None
    return tool if tool.exists() else None


def _git_lfs() -> bool:
    if shutil.which("git-lfs"):
        return True
    try:
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "git-lfs"],
            check=True,
            capture_output=True,
            timeout=900,
        )
    except (subprocess.SubprocessError, OSError):
        return False
    return shutil.which("git-lfs") is not None


class Peer:
    """One peer's commands; ``available`` says whether it could be installed."""

    name = ""

    def __init__(self, b: Bench):
        self.b = b
        self.path_env: dict[str, str] = {}

    def run(self, argv: list[str], cwd: Path) -> float:
        return self.b.env.run(argv, cwd, extra_env=self.path_env).seconds

    def add_commit(self, repo: Path, target: str, message: str) -> float:
        """Record one changed file of ``target`` and commit it, as a user would."""
        raise NotImplementedError

    def fresh(self, repo: Path, src: Path, target: str, now: bool = False) -> None:
        """A fresh repository holding the workload at ``data`` (not yet added).

        ``now``: the last one (its cache included) is deleted at once, as
        the W1 and W3 suites do for gitstore (trash.py).
        """
        trash.clear(repo, now)
        repo.mkdir(parents=True)
        shutil.copytree(src, repo / "data")
        self.b.env.new_repo(repo, keep=("data",))


class Dvc(Peer):
    name = "dvc"

    def __init__(self, b: Bench, tool: Path):
        super().__init__(b)
        self.tool = str(tool)
        self.path_env = {
            "DVC_NO_ANALYTICS": "1",
            "DVC_SITE_CACHE_DIR": str(b.workdir / "peers" / "dvc-site"),
        }

    def fresh(self, repo: Path, src: Path, target: str, now: bool = False) -> None:
        super().fresh(repo, src, target, now)
        self.run([self.tool, "init", "-q"], repo)
        self.run([self.tool, "config", "core.autostage", "false"], repo)

    def add(self, repo: Path, target: str) -> float:
        return self.run([self.tool, "add", "-q", target], repo)

    def status(self, repo: Path) -> float:
        return self.run([self.tool, "status", "-q"], repo)

    def checkout(self, repo: Path, target: str, mode: str) -> float:
        self.run(
            [
                self.tool,
                "config",
                "cache.type",
                "hardlink" if mode == "hardlink" else "reflink,copy",
            ],
            repo,
        )
        return self.run([self.tool, "checkout", "-q"], repo)

    def commit_all(self, repo: Path) -> None:
        self.run(["git", "add", "-A"], repo)
        self.run(["git", "commit", "-q", "-m", "dvc"], repo)

    def add_commit(self, repo: Path, target: str, message: str) -> float:
        s = self.add(repo, target)
        s += self.run(["git", "add", f"{target}.dvc"], repo)  # core.autostage is off
        return s + self.run(["git", "commit", "-q", "-m", message], repo)


class Lfs(Peer):
    name = "git-lfs"

    def fresh(self, repo: Path, src: Path, target: str, now: bool = False) -> None:
        super().fresh(repo, src, target, now)
        self.run(["git", "lfs", "install", "--local"], repo)
        pattern = "data/**" if target == "data" else target
        self.run(["git", "lfs", "track", pattern], repo)
        self.run(["git", "add", ".gitattributes"], repo)
        self.run(["git", "commit", "-q", "-m", "lfs"], repo)

    def add(self, repo: Path, target: str) -> float:
        return self.run(["git", "add", target], repo)

    def status(self, repo: Path) -> float:
        return self.run(["git", "status", "--porcelain"], repo)

    def checkout(self, repo: Path, target: str, mode: str) -> float:
        return self.run(["git", "lfs", "checkout", target], repo)

    def commit_all(self, repo: Path) -> None:
        self.run(["git", "commit", "-q", "-m", "lfs"], repo)

    def add_commit(self, repo: Path, target: str, message: str) -> float:
        return self.add(repo, target) + self.run(["git", "commit", "-q", "-m", message], repo)


class Annex(Peer):
    name = "git-annex"

    def __init__(self, b: Bench, tool: Path):
        super().__init__(b)
        self.path_env = {"PATH": str(tool.parent) + ":" + b.env.env["PATH"]}

    def fresh(self, repo: Path, src: Path, target: str, now: bool = False) -> None:
        super().fresh(repo, src, target, now)
        self.run(["git", "annex", "init", "-q", "bench"], repo)

    def add(self, repo: Path, target: str) -> float:
        return self.run(["git", "annex", "add", "-q", target], repo)

    def status(self, repo: Path) -> float:
        return self.run(["git", "status", "--porcelain"], repo)

    def commit_all(self, repo: Path) -> None:
        self.run(["git", "commit", "-q", "-m", "annex"], repo)

    def add_commit(self, repo: Path, target: str, message: str) -> float:
        return self.add(repo, target) + self.run(["git", "commit", "-q", "-m", message], repo)

    def get_into_clone(self, repo: Path, clone: Path, target: str, now: bool = False) -> float:
        trash.clear(clone, now)
        self.run(["git", "clone", "-q", str(repo), str(clone)], repo.parent)
        self.run(["git", "annex", "init", "-q", "clone"], clone)
        return self.run(["git", "annex", "get", "-q", target], clone)


def _available(b: Bench) -> dict[str, Peer | str]:
    out: dict[str, Peer | str] = {}
    tool = _venv_tool(b, "dvc", "dvc", "dvc")
    out["dvc"] = Dvc(b, tool) if tool else "unavailable (pip install dvc failed)"
    out["git-lfs"] = Lfs(b) if _git_lfs() else "unavailable (apt-get install git-lfs failed)"
    tool = _venv_tool(b, "annex", "git-annex", "git-annex")
    out["git-annex"] = Annex(b, tool) if tool else "unavailable (pip install git-annex failed)"
    return out


def _times(repeat: int, fn: Callable[[int], float]) -> Stats:
    s = Stats()
    for i in range(repeat):
        s.runs.append(fn(i))
    return s


def _attach(figures: list[Figure], prefix: str, peer: str, value: Stats | str) -> None:
    for fig in figures:
        if fig.key.startswith(prefix):
            fig.peers[peer] = value
            return


def run_all(b: Bench, figures: list[Figure], repos: dict[str, tuple[Path, Path]]) -> None:
    """Time each available peer on W1, W2, W3 and attach its figures to gitstore's."""
    peers = _available(b)
    for name in ("W1", "W2", "W3"):
        if name not in repos:
            continue
        _repo, src = repos[name]
        target = "data/big.bin" if name == "W1" else "data"
        for pname, peer in peers.items():
            if isinstance(peer, str):
                for op in ("track", "checkout (copy)", "no-op status"):
                    _attach(figures, f"{name} {op}", pname, peer)
                continue
            try:
                _one_peer(b, peer, name, src, target, figures)
            except (CheckFailed, subprocess.SubprocessError, OSError) as exc:
                b.notes.append(f"{pname} on {name} failed: {str(exc).splitlines()[0]}")
                _attach(figures, f"{name} track", pname, "failed")


def _one_peer(
    b: Bench, peer: Peer, name: str, src: Path, target: str, figures: list[Figure]
) -> None:
    repo = b.workdir / "peers" / "repos" / f"{peer.name}-{name}"
    expected = src / "big.bin" if name == "W1" else src
    payload = repo / target
    now = deletes_now(name)

    def track(i: int) -> float:
        peer.fresh(repo, src, target, now)
        return peer.add(repo, target)

    _attach(figures, f"{name} track", peer.name, _times(b.repeat, track))
    peer.commit_all(repo)
    if name == "W2":
        peer.status(repo)
        _attach(
            figures,
            "W2 no-op status",
            peer.name,
            _times(max(b.repeat, 3), lambda i: peer.status(repo)),
        )
        # the same file as gitstore's suite changes (suites.py): add + git commit
        victim = sorted((repo / "data").rglob("*.bin"))[0]
        original = (src / victim.relative_to(repo / "data")).read_bytes()

        def change_commit(i: int) -> float:
            victim.unlink()  # git-annex leaves a read-only symlink here
            victim.write_bytes(f"commit {i} {victim}".encode() * 64)
            s = peer.add_commit(repo, target, f"change {i}")
            left = b.env.git(repo, "status", "--porcelain").out.strip()
            if left:
                raise CheckFailed(
                    f"{peer.name}: git status not clean after add + commit: {left[:200]}"
                )
            return s

        _attach(
            figures,
            "W2 track + git commit (hook), one file changed",
            peer.name,
            _times(b.repeat, change_commit),
        )
        victim.unlink()  # the workload back as generated, for the checkouts below
        victim.write_bytes(original)
        peer.add_commit(repo, target, "restore")
    if isinstance(peer, Annex):
        clone = repo.with_name(repo.name + "-clone")

        def get(i: int) -> float:
            s = peer.get_into_clone(repo, clone, target, now)
            checks.same_tree(expected, clone / target, b.sample())
            return s

        _attach(figures, f"{name} checkout (copy)", peer.name, _times(b.repeat, get))
        return
    modes = ("copy", "hardlink") if isinstance(peer, Dvc) else ("copy",)
    for mode in modes:

        def checkout(i: int, mode: str = mode) -> float:
            if payload.is_dir():
                trash.clear(payload, now)
            else:
                payload.unlink(missing_ok=True)
            s = peer.checkout(repo, target, mode)
            checks.same_tree(expected, payload, b.sample())
            return s

        _attach(figures, f"{name} checkout ({mode})", peer.name, _times(b.repeat, checkout))
