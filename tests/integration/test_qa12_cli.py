"""Findings of a QA pass over the command line (arguments, exit codes, messages).

Each test is a finding: what the command did before, and what it does now.
Both ways of running a command are covered where they differ: a plain
``gitstore track/status/checkout`` (gitstore.cli_core, no click) and the
click command (a global option first, as ``gitstore -v track``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import git, write

BOTH = pytest.mark.parametrize("pre", [(), ("-v",)], ids=["plain", "click"])


def _one_error(proc, *words: str) -> None:  # type: ignore[no-untyped-def]
    """One `gitstore: error:` line naming ``words`` (and at most a hint), no traceback."""
    lines = proc.stderr.splitlines()
    errors = [line for line in lines if line.startswith("gitstore: error: ")]
    assert len(errors) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert all(w in errors[0] for w in words), proc.stderr
    assert len([line for line in lines if not line.startswith("gitstore: note:")]) <= 2, proc.stderr


@BOTH
def test_track_refuses_a_newer_manifest_version(repo: Path, run, pre: tuple[str, ...]) -> None:
    """`track data` over a `gitstore: 2` manifest rewrote it as version 1, dropping its
    unknown keys, exit 0; every reader refuses it with "upgrade gitstore"."""
    run(repo, "init")
    write(repo / "data" / "a.txt", b"a\n")
    run(repo, "track", "data")
    manifest = repo / "data.gitstore"
    newer = manifest.read_bytes().replace(b"\ngitstore: 1\n", b"\ngitstore: 2\n")
    newer += b"future_key: important\n"
    manifest.write_bytes(newer)
    git(repo, "add", "data.gitstore")
    git(repo, "commit", "-qm", "from a newer gitstore", "--no-verify")
    gitignore = (repo / ".gitignore").read_bytes()
    write(repo / "data" / "b.txt", b"b\n")
    proc = run(repo, *pre, "track", "data", ok=False)
    assert proc.returncode == 1
    _one_error(proc, "data.gitstore", "version 2", "upgrade gitstore")
    assert manifest.read_bytes() == newer
    assert (repo / ".gitignore").read_bytes() == gitignore
    assert git(repo, "status", "--porcelain", "--", "data.gitstore").stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ("track", ".gitstore"),
        ("track", "./.gitstore/"),
        ("untrack", ".gitstore"),
        ("status", ".gitstore"),
        ("checkout", ".gitstore"),
        ("checkout", "HEAD", ".gitstore"),
        ("-v", "track", ".gitstore"),
        ("-v", "status", ".gitstore"),
        ("-v", "checkout", "HEAD", "./.gitstore"),
        ("push", ".gitstore"),
        ("fetch", ".gitstore"),
        ("pull", ".gitstore"),
        ("resolve", ".gitstore", "--ours"),
    ],
)
def test_the_config_folder_as_a_path_is_one_error_line(
    repo: Path, run, args: tuple[str, ...]
) -> None:
    """`.gitstore` (the config folder) as a PATH crashed with `ValueError: not a manifest
    path` (a traceback); `resolve .gitstore` said only "Is a directory"."""
    run(repo, "init")
    write(repo / "data" / "a.txt", b"a\n")
    run(repo, "track", "data")
    run(repo, "remote", "add", "team", str(repo.parent / "remote"), "--default")
    git(repo, "commit", "-qm", "t")
    before = git(repo, "status", "--porcelain").stdout
    proc = run(repo, *args, ok=False)
    assert proc.returncode == 1
    _one_error(proc, next(a for a in args if ".gitstore" in a), "configuration")
    assert git(repo, "status", "--porcelain").stdout == before

