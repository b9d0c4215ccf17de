"""Shared set-up for the publish, serve and browser tests: a repository with a history."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.conftest import git, write
from tests.servers import serve_in_thread

Run = Callable[..., subprocess.CompletedProcess[str]]


@dataclass
class History:
    repo: Path
    commits: dict[str, str] = field(default_factory=dict)  # label -> sha
    files: dict[str, bytes] = field(default_factory=dict)  # label -> bytes


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").stdout.strip()


def commit(repo: Path, message: str, *, date: str | None = None) -> str:
    env = dict(os.environ)
    if date:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    subprocess.run(
        ["git", "commit", "-qm", message], cwd=repo, check=True, env=env, capture_output=True
    )
    return head(repo)


def make_history(repo: Path, run: Run) -> History:
    """first-parent commits, a merge whose side commit is not walked, a rename, a removal.

    c1 tracks data/imgs (a, b) and model.bin; c2 adds data/imgs/c; side (on a
    branch) changes model.bin; c3 changes data/imgs/a; merge brings side in
    (no-ff); c4 renames model.bin.gitstore to weights.bin.gitstore; c5 untracks
    data/imgs; c6 touches only README.
    """
    h = History(repo)
    run(repo, "init")
    write(repo / "data/imgs/a.txt", b"apple v1\n")
    write(repo / "data/imgs/b.txt", b"banana\n")
    write(repo / "model.bin", b"model v1" * 100)
    run(repo, "track", "data/imgs", "model.bin")
    git(repo, "add", "-A")
    h.commits["c1"] = commit(repo, "c1", date="2024-01-01T10:00:00+00:00")
    write(repo / "data/imgs/c.txt", b"cherry\n")
    run(repo, "track", "data/imgs")
    git(repo, "add", "-A")
    h.commits["c2"] = commit(repo, "c2", date="2024-01-02T10:00:00+00:00")
    git(repo, "checkout", "-qb", "side")
    write(repo / "model.bin", b"model v2" * 100)
    run(repo, "track", "model.bin")
    git(repo, "add", "-A")
    h.commits["side"] = commit(repo, "side", date="2024-01-03T10:00:00+00:00")
    git(repo, "checkout", "-q", "main")
    write(repo / "data/imgs/a.txt", b"apple v2\n")
    run(repo, "track", "data/imgs")
    git(repo, "add", "-A")
    h.commits["c3"] = commit(repo, "c3", date="2024-01-04T10:00:00+00:00")
    env = dict(
        os.environ,
        GIT_AUTHOR_DATE="2024-01-05T10:00:00+00:00",
        GIT_COMMITTER_DATE="2024-01-05T10:00:00+00:00",
    )
    subprocess.run(
        ["git", "merge", "-q", "--no-ff", "-m", "merge side", "side"],
        cwd=repo,
        check=True,
        env=env,
        capture_output=True,
    )
    h.commits["merge"] = head(repo)
    git(repo, "mv", "model.bin.gitstore", "weights.bin.gitstore")
    h.commits["c4"] = commit(repo, "c4", date="2024-01-06T10:00:00+00:00")
    run(repo, "untrack", "data/imgs")
    git(repo, "add", "-A")
    h.commits["c5"] = commit(repo, "c5", date="2024-01-07T10:00:00+00:00")
    write(repo / "README", "changed\n")
    git(repo, "add", "README")
    h.commits["c6"] = commit(repo, "c6", date="2024-01-08T10:00:00+00:00")
    h.files = {
        "a1": b"apple v1\n",
        "a2": b"apple v2\n",
        "b": b"banana\n",
        "c": b"cherry\n",
        "m1": b"model v1" * 100,
        "m2": b"model v2" * 100,
    }
    return h


def branch_doc(remote: Path, branch: str = "main") -> dict:
    from urllib.parse import quote

    path = remote / "branches" / f"{quote(branch, safe='')}.yaml"
    return yaml.safe_load(path.read_text())


def published_shas(remote: Path, branch: str = "main") -> list[str]:
    return [c["commit"] for c in branch_doc(remote, branch)["commits"]]


def entry(remote: Path, sha: str, manifest: str) -> dict:
    path = remote / "commits" / sha[0] / sha[1] / sha[2] / sha[3:] / manifest
    return yaml.safe_load(path.read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(store_dir: Path) -> Iterator[str]:
    """The gitstore server in this process, on a free loopback port: yields its base URL."""
    from gitstore.server import make_server
    from gitstore.stores.registry import open_store

    server = make_server(open_store(str(store_dir), read_only=True), "127.0.0.1", 0, quiet=True)
    yield from serve_in_thread(server)


@contextmanager
def serve_process(cwd: Path, store: str) -> Iterator[str]:
    """``gitstore serve STORE --port P`` as a real process; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gitstore", "serve", store, "--port", str(port)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"serve did not start: {proc.stderr.read().decode()}"
                    ) from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


def _run_gitstore(
    cwd: Path, *args: str, ok: bool | None = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "gitstore", *args], cwd=cwd, capture_output=True, text=True
    )
    if ok and proc.returncode != 0:
        raise AssertionError(f"gitstore {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def build_published(factory) -> tuple[History, Path]:
    """make_history + publish once per module, in a hermetic environment of its own."""
    import pytest

    home = factory.mktemp("module-home")
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith(("GIT_", "GITSTORE_", "AWS_", "XDG_")):
                mp.delenv(key, raising=False)
        mp.setenv("HOME", str(home))
        mp.setenv("XDG_CACHE_HOME", str(home / ".cache"))
        mp.setenv("XDG_CONFIG_HOME", str(home / ".config"))
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        for who in ("AUTHOR", "COMMITTER"):
            mp.setenv(f"GIT_{who}_NAME", "Test")
            mp.setenv(f"GIT_{who}_EMAIL", "test@example.com")
        (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n[gc]\n\tauto = 0\n")
        repo = factory.mktemp("module-repo")
        git(repo, "init", "-q")
        write(repo / "README", "hello\n")
        git(repo, "add", "README")
        git(repo, "commit", "-qm", "initial")
        history = make_history(repo, _run_gitstore)
        pub = factory.mktemp("module-pub") / "pub"
        _run_gitstore(repo, "publish", str(pub))
    return history, pub
