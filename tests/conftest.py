"""Shared fixtures: every test is hermetic (its own HOME, XDG folders, git config)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", default=False, help="run heavier variants")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="heavier variant: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def hermetic(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("home")
    for key in list(os.environ):
        if key.startswith(("GIT_", "GITSTORE_", "AWS_", "XDG_")) or key in (
            "PRE_COMMIT_FROM_REF",
            "PRE_COMMIT_TO_REF",
        ):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "author@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Committer")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "committer@example.com")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # every test starts gitstore subprocesses: let them reuse compiled bytecode
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    (home / ".gitconfig").write_text(
        "[init]\n\tdefaultBranch = main\n[gc]\n\tauto = 0\n[advice]\n\tdetachedHead = false\n"
    )
    yield home


def git(
    cwd: Path, *args: str, check: bool = True, input: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=check,
        capture_output=True,
        text=True,
        input=input.decode() if input else None,
    )


GITSTORE = [sys.executable, "-m", "gitstore"]


_NO_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


@functools.cache
def unprivileged() -> list[str] | None:
    """A prefix under which a command meets file permissions as a plain user does.

    ``[]`` when not root; as root, util-linux's ``setpriv`` without the
    capabilities that read and write past permissions (CI runs as root, and
    the tests of "permission denied" must run there too); None where root
    cannot drop them (no setpriv, or a container without CAP_SETPCAP).
    """
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") and not subprocess.run([*_NO_DAC, "true"]).returncode:
        return _NO_DAC
    return None


def gitstore_bin_dir() -> str:
    found = shutil.which("gitstore")
    return os.path.dirname(found) if found else os.path.dirname(sys.executable)


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the gitstore CLI in a subprocess: run(cwd, *args, ok=True)."""
    monkeypatch.setenv("PATH", gitstore_bin_dir() + os.pathsep + os.environ.get("PATH", ""))

    def _run(
        cwd: Path, *args: str, ok: bool | None = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [*GITSTORE, *args], cwd=cwd, capture_output=True, text=True, input=input
        )
        if ok is True and proc.returncode != 0:
            raise AssertionError(
                f"gitstore {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        if ok is False and proc.returncode == 0:
            raise AssertionError(
                f"gitstore {' '.join(args)} succeeded but should not:\n{proc.stdout}"
            )
        if ok is not None:
            assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    return _run


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """An empty git repository with one commit, as the current directory."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q")
    (path / "README").write_text("hello\n")
    git(path, "add", "README")
    git(path, "commit", "-qm", "initial")
    return path


def tree_of(root: Path) -> dict[str, bytes]:
    """{relative posix path: bytes} of every file below ``root`` (dot-files left out)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def write(path: Path, data: bytes | str, mode: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    if mode is not None:
        path.chmod(mode)
    return path
