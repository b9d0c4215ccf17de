"""Claims of the user documentation, checked against the CLI (the docs-accuracy pass).

Each test names the doc and the claim it holds the code to.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from tests.conftest import write
from tests.integration.test_remotes import Clone, Run, clone_of


@pytest.fixture
def pushed(repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Clone:
    """A repository with data/ (3 files) tracked, committed and pushed to a folder remote."""
    a = Clone(repo, tmp_path / "cache-a", run, monkeypatch)
    a.gs("init")
    for i in range(3):
        write(repo / "data" / f"f{i}.txt", f"file {i}\n")
    a.gs("track", "data")
    a.gs("remote", "add", "team", str(tmp_path / "store"), "--default")
    a.commit("data")
    a.gs("push")
    return a


def hinted_command(stderr: str, path: str) -> list[str]:
    """The command that a status note about ``path`` says finishes it."""
    note = next(line for line in stderr.splitlines() if f"{path} was left part-way" in line)
    return shlex.split(note.rsplit("`", 2)[-2])


def test_the_status_note_after_a_partial_pull_names_a_command_that_finishes_it(
    pushed: Clone, tmp_path: Path
) -> None:
    """hooks.md: a pull of part of a folder marks it "only part of it is checked out";
    `status` says which command finishes it. It said `gitstore checkout data`, which
    exits 3 there: the other files' objects were never fetched."""
    b = clone_of(pushed, tmp_path)
    b.gs("install")
    b.gs("pull", "data/f1.txt")
    status = b.gs("status")
    command = hinted_command(status.stderr, "data")
    assert command[0] == "gitstore"
    b.gs(*command[1:])  # ok=True: it must succeed
    assert sorted(p.name for p in (b.path / "data").iterdir()) == ["f0.txt", "f1.txt", "f2.txt"]
    assert "part-way" not in b.gs("status").stderr


def test_the_status_note_names_the_path_from_the_current_folder(
    pushed: Clone, tmp_path: Path, run: Run
) -> None:
    """A note's command runs where the user is, as the conflict note's does."""
    b = clone_of(pushed, tmp_path)
    b.gs("install")
    b.gs("pull", "data/f1.txt")
    sub = b.path / "sub"
    sub.mkdir()
    b._mp.setenv("XDG_CACHE_HOME", str(b.cache))
    status: subprocess.CompletedProcess[str] = run(sub, "status")
    command = hinted_command(status.stderr, "data")
    assert command[-1] == "../data"
    run(sub, *command[1:])
    assert (b.path / "data" / "f0.txt").read_text() == "file 0\n"


def test_remote_status_does_not_call_an_object_on_another_remote_missing_everywhere(
    pushed: Clone, tmp_path: Path
) -> None:
    """remotes.md: `remote status` says what a remote holds of what HEAD needs. An object
    neither there nor in the cache was "missing everywhere", though another remote (the
    one it was pushed to) had it; it says which command brings it, instead."""
    pushed.gs("remote", "add", "second", str(tmp_path / "second"))
    pushed.commit("a second remote")
    b = clone_of(pushed, tmp_path)  # an empty cache: the objects are only on 'team'
    out = b.gs("remote", "status", "second").stdout
    assert "0 of 3 objects present" in out
    assert "everywhere" not in out
    assert "data/f0.txt" in out and "`gitstore fetch`" in out
    b.gs("fetch")
    b.gs("push", "--remote", "second")
    assert "3 of 3 objects present" in b.gs("remote", "status", "second").stdout


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("GITSTORE_JOBS", "0"),
        ("GITSTORE_JOBS", "many"),
        ("GITSTORE_LINK", "hardlinks"),
        ("GITSTORE_LINK", ","),
    ],
)
def test_a_bad_environment_variable_is_named_in_its_error(
    repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """config.md: a wrong value is one line naming where it came from. From the
    environment it named the config key (`transfer.jobs`), which no file holds."""
    run(repo, "init")
    monkeypatch.setenv(variable, value)
    out = run(repo, "status", ok=False)
    assert out.returncode == 1
    (line,) = out.stderr.splitlines()
    assert line.startswith("gitstore: error: ") and variable in line and repr(value) in line


def test_gitstore_remote_naming_no_remote_is_named_in_its_error(
    pushed: Clone, monkeypatch: pytest.MonkeyPatch
) -> None:
    """config.md: GITSTORE_REMOTE overrides every file, so the old hint (`gitstore remote
    default NAME`) could not help: the error names the variable."""
    monkeypatch.setenv("GITSTORE_REMOTE", "nope")
    out = pushed.gs("push", ok=False)
    assert out.stderr.splitlines() == [
        "gitstore: error: GITSTORE_REMOTE='nope' names no configured remote",
        "hint: run `gitstore remote list`, then set GITSTORE_REMOTE to one of them or unset it",
    ]
