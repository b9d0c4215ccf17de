"""The early ``find`` (gitstore.prefind): started before the heavy imports, read as Popen reads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitstore import prefind

EARLY = "import gitstore.entry, gitstore.errors, gitstore.hookmain, gitstore.prefind"
PROBE = "import sys; {}; print(' '.join(sorted(sys.modules)))"


def _loaded(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(code)], capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


def test_what_runs_before_the_early_find_imports_neither_typing_nor_subprocess() -> None:
    """The find starts once these are imported: typing and subprocess (~8 ms) come after it."""
    before = _loaded("pass")  # whatever this interpreter's site imports anyway
    new = _loaded(EARLY) - before
    assert "gitstore.prefind" in new  # the probe sees the imports
    assert not new & {"typing", "subprocess", "re", "collections", "signal", "threading"}, new


def test_a_spawned_find_gives_both_streams_in_full_and_its_exit_status() -> None:
    """More than a pipe's worth on both streams at once must not deadlock."""
    script = (
        "head -c 300000 /dev/zero | tr '\\0' o; head -c 200000 /dev/zero | tr '\\0' e >&2; exit 3"
    )
    proc = prefind.Spawned(["sh", "-c", script])
    out, err = proc.communicate()
    assert (len(out), set(out), len(err), set(err)) == (300000, {ord("o")}, 200000, {ord("e")})
    assert proc.returncode == 3


def test_a_spawned_program_gets_sigpipe_back_as_popen_gives_it() -> None:
    """Python ignores SIGPIPE; a child must not inherit that (a find whose reader went away)."""
    proc = prefind.Spawned(["cat", "/proc/self/status"])
    out, _err = proc.communicate()
    ignored = next(
        int(line.split()[1], 16) for line in out.decode().splitlines() if line.startswith("SigIgn:")
    )
    assert not ignored & (1 << (13 - 1)), f"SIGPIPE ignored in the child: {ignored:#x}"


def test_a_killed_find_is_reaped_and_its_descriptors_closed() -> None:
    before = set(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else set()
    proc = prefind.Spawned(["sleep", "30"])
    proc.kill()
    assert proc.returncode is not None and proc.returncode < 0  # killed by a signal
    if before:
        assert set(os.listdir("/proc/self/fd")) == before


def test_a_find_that_is_not_there_raises_oserror_and_leaks_nothing() -> None:
    before = set(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else set()
    try:
        prefind.Spawned(["gitstore-no-such-program"])
    except OSError:
        pass
    else:
        raise AssertionError("spawned a program that does not exist")
    if before:
        assert set(os.listdir("/proc/self/fd")) == before


def _two_commits(repo: Path) -> tuple[str, str]:
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    for key, value in (("user.email", "t@example.com"), ("user.name", "t")):
        subprocess.run(["git", "-C", str(repo), "config", key, value], check=True)
    shas = []
    for text in ("one\n", "one\ntwo\n"):
        (repo / "d.gitstore").write_text(text)
        (repo / "other.txt").write_text(text)
        subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
        subprocess.run(["git", "-C", str(repo), "commit", "-q", "-m", text], check=True)
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        shas.append(out.stdout.strip())
    return shas[0], shas[1]


def test_post_checkouts_early_diff_gives_what_git_gives_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = _two_commits(tmp_path)
    monkeypatch.chdir(tmp_path)
    for name in prefind.GIT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    expected = subprocess.run(
        ["git", *prefind.diff_tree_args(old, new)], capture_output=True, check=True
    ).stdout
    assert b"+two" in expected and b"other.txt" not in expected  # manifests only
    prefind.start_diff(old, new)
    assert prefind.diff_result(old, new) == expected
    assert prefind.diff_result(old, new) is None  # taken once: the next asks git itself
    prefind.start_diff(old, old)  # the same commit: nothing to start
    assert prefind.diff_result(old, old) is None


def test_no_early_diff_where_gitstore_would_run_git_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = _two_commits(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_LITERAL_PATHSPECS", "1")  # gitstore's git calls drop it
    prefind.start_diff(old, new)
    assert prefind.diff_result(old, new) is None
    monkeypatch.delenv("GIT_LITERAL_PATHSPECS")
    monkeypatch.chdir(tmp_path / ".git")  # not the top of a work tree
    prefind.start_diff(old, new)
    assert prefind.diff_result(old, new) is None
