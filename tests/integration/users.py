"""Run gitstore as other Unix users: a team sharing a folder remote or a cache.

Needs root (to take on another uid). Each call forks; the child drops to the
user's uid and gid, sets its umask, HOME and cache, and runs the real
gitstore command line in-process (the interpreter under /root may not be
readable by that user, so everything it will import is imported before the
fork). git runs as that user too. Nothing of gitstore's is replaced.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import shutil
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

TEAM_GID = 61000
NEEDS_ROOT = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root to act as several users (CI runs as root)"
)

_PRELOAD = (
    "click",
    "yaml",
    "blake3",
    "ctypes",
    "ctypes.util",
    "concurrent.futures",
    "marshal",
    "json",
    "logging",
    "shlex",
    "tempfile",
    "dulwich.repo",
    "dulwich.objects",
    "dulwich.object_store",
    "dulwich.pack",
    "dulwich.index",
    "dulwich.refs",
    "dulwich.config",
    "dulwich.errors",
    "encodings.ascii",
    "encodings.latin_1",
    "encodings.idna",
)


def _preload() -> None:
    import dulwich

    import gitstore

    for info in pkgutil.walk_packages(gitstore.__path__, "gitstore."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    for name in _PRELOAD:
        importlib.import_module(name)
    for info in pkgutil.walk_packages(dulwich.__path__, "dulwich."):
        if not info.name.startswith(("dulwich.tests", "dulwich.contrib", "dulwich.cli")):
            try:
                importlib.import_module(info.name)
            except Exception:  # optional parts (their own dependencies absent)
                continue


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class User:
    name: str
    uid: int
    base: Path
    umask: int = 0o022
    gid: int = TEAM_GID

    @property
    def home(self) -> Path:
        return self.base / f"home-{self.name}"

    @property
    def cache(self) -> Path:
        return self.home / "cache"

    def setup(self) -> None:
        self.home.mkdir()
        (self.home / ".gitconfig").write_text(
            f"[init]\n\tdefaultBranch = main\n[gc]\n\tauto = 0\n"
            f"[user]\n\tname = {self.name}\n\temail = {self.name}@example.com\n"
            "[safe]\n\tdirectory = *\n"  # the team's bare repository is root's
        )
        os.chown(self.home, self.uid, self.gid)
        os.chown(self.home / ".gitconfig", self.uid, self.gid)

    def _run(self, cwd: Path, body: Callable[[], int], env: dict[str, str]) -> Result:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            pid = os.fork()
            if pid == 0:  # the child: never returns
                self._child(out.fileno(), err.fileno(), cwd, body, env)
            _, status = os.waitpid(pid, 0)
            out.seek(0)
            err.seek(0)
            return Result(
                os.waitstatus_to_exitcode(status),
                out.read().decode(errors="replace"),
                err.read().decode(errors="replace"),
            )

    def _child(
        self, out: int, err: int, cwd: Path, body: Callable[[], int], env: dict[str, str]
    ) -> None:
        code = 99
        try:
            os.dup2(out, 1)
            os.dup2(err, 2)
            sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
            os.setgroups([self.gid])
            os.setgid(self.gid)
            os.setuid(self.uid)
            os.umask(self.umask)
            for key in [k for k in os.environ if k.startswith(("GITSTORE_", "XDG_", "GIT_"))]:
                del os.environ[key]
            os.environ.update(
                HOME=str(self.home),
                XDG_CACHE_HOME=str(self.home / ".cache"),
                XDG_CONFIG_HOME=str(self.home / ".config"),
                GITSTORE_CACHE_DIR=str(self.cache),
                GIT_CONFIG_NOSYSTEM="1",
            )
            os.environ.update(env)
            os.chdir(cwd)
            code = body()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)

    def gitstore(self, cwd: Path, *args: str, ok: bool = True, **env: str) -> Result:
        def body() -> int:
            from gitstore.cli import main

            main.main(args=list(args), prog_name="gitstore", standalone_mode=True)
            return 0

        result = self._run(cwd, body, env)
        if ok and result.code != 0:
            raise AssertionError(f"{self.name}: gitstore {' '.join(args)} -> {result}")
        return result

    def run(self, cwd: Path, *argv: str) -> Result:
        """A program (git, find, chgrp) run as this user; it must succeed."""

        def body() -> int:
            done = subprocess.run(list(argv), capture_output=True, text=True)
            sys.stdout.write(done.stdout)
            sys.stderr.write(done.stderr)
            return done.returncode

        result = self._run(cwd, body, {})
        if result.code != 0:
            raise AssertionError(f"{self.name}: {' '.join(argv)} -> {result}")
        return result

    def git(self, cwd: Path, *args: str) -> Result:
        return self.run(cwd, "git", *args)


@contextmanager
def team_base() -> Iterator[Path]:
    """A folder every user may enter (pytest's own tmp folders are the owner's only)."""
    _preload()
    base = Path(tempfile.mkdtemp(prefix="gitstore-team-"))
    os.chmod(base, 0o1777)  # like /tmp: every user makes their own clone here
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def shared_folder(path: Path, mode: int = 0o2775) -> Path:
    """A folder as an administrator sets one up for a team: owned by root, group team."""
    path.mkdir()
    os.chown(path, 0, TEAM_GID)
    os.chmod(path, mode)
    return path


# -- what the team tests share ---------------------------------------------------------
NO_HOOKS = ("-c", "core.hooksPath=/dev/null")  # the users cannot run /root's interpreter


def oid_of(data: bytes) -> str:
    import blake3

    return str(blake3.blake3(data).hexdigest())


def object_in(root: Path, data: bytes) -> Path:
    """Where the object of ``data`` lies in the store at ``root``."""
    oid = oid_of(data)
    return root / "objects" / oid[:2] / oid[2:4] / oid


def same_folder_as(oid: str, tag: bytes) -> bytes:
    """Content whose object lands in the same ``objects/ab/cd/`` folder as ``oid``'s."""
    n = 0
    while True:
        data = tag + str(n).encode()
        if oid_of(data)[:4] == oid[:4]:
            return data
        n += 1


def make_users(base: Path, *specs: tuple[str, int]) -> list[User]:
    """Users (name, umask) of the team group, uids from 61001, set up under ``base``."""
    users = []
    for i, (name, umask) in enumerate(specs):
        user = User(name, 61001 + i, base, umask=umask)
        user.setup()
        users.append(user)
    return users


def write_as(user: User, path: Path, data: bytes) -> None:
    """``path`` (and its folder) holding ``data``, owned by ``user``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    for p in (path.parent, path):
        os.chown(p, user.uid, user.gid)


def team_origin(base: Path) -> Path:
    """The team's bare git repository, writable by the group."""
    origin = base / "origin.git"
    subprocess.run(
        ["git", "init", "-q", "--bare", "--shared=group", "-b", "main", str(origin)], check=True
    )
    subprocess.run(["chown", "-R", f"0:{TEAM_GID}", str(origin)], check=True)
    return origin
