"""Edge cases of `gitstore install` / `uninstall`: other tools' hooks and settings.

Each test runs the real CLI and git in the hermetic HOME of tests/conftest.py
(its own ~/.gitconfig and XDG folders), so global settings are the test's own.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from gitstore.hooks import ATTRIBUTES_LINE, HOOKS, render_hook
from tests.conftest import git, write

Run = Callable[..., subprocess.CompletedProcess[str]]
LINE = ATTRIBUTES_LINE.encode()
# the "gitstore not found" line of the scripts before it was reworded
FORMER_MISSING_LINE = (
    b'echo "gitstore: the NAME hook needs gitstore, which is not on PATH;'
    b' install it (pip install gitstore) or remove $0" >&2'
)


def global_get(cwd: Path, key: str) -> str | None:
    proc = git(cwd, "config", "--global", "--get", key, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def one_error_line(stderr: str) -> str:
    """The error line of a refusal; fails unless it is the only line besides a hint."""
    lines = [x for x in stderr.splitlines() if not x.startswith("hint:")]
    assert len(lines) == 1 and lines[0].startswith("gitstore: error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def hook_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- 1. init.templateDir ---------------------------------------------------------
def test_global_install_uses_the_users_template_dir_and_uninstall_restores_it(
    run: Run, tmp_path: Path
) -> None:
    mine = tmp_path / "my-template"
    original = b"#!/bin/sh\n# the user's own template hook\nexit 0\n"
    write(mine / "hooks" / "pre-commit", original, 0o750)
    git(tmp_path, "config", "--global", "init.templateDir", str(mine))

    out = run(tmp_path, "install", "--global").stdout
    assert "init.templateDir" in out and str(mine) in out and "unchanged" in out
    assert global_get(tmp_path, "init.templateDir") == str(mine)
    assert (mine / "hooks" / "pre-commit.gitstore-chained").read_bytes() == original
    assert b"gitstore-hook" in (mine / "hooks" / "pre-commit").read_bytes()
    assert not (Path(os.environ["XDG_CONFIG_HOME"]) / "gitstore").exists()
    fresh = tmp_path / "fresh"
    git(tmp_path, "init", "-q", str(fresh))
    assert b"gitstore-hook" in (fresh / ".git" / "hooks" / "pre-push").read_bytes()

    run(tmp_path, "uninstall", "--global")
    assert (mine / "hooks" / "pre-commit").read_bytes() == original
    assert hook_mode(mine / "hooks" / "pre-commit") == 0o750
    assert sorted(p.name for p in (mine / "hooks").iterdir()) == ["pre-commit"]
    assert global_get(tmp_path, "init.templateDir") == str(mine)  # the user's setting stays
    assert global_get(tmp_path, "merge.gitstore.driver") is None


def test_global_install_makes_its_template_from_gits_and_uninstall_unsets_it(
    run: Run, tmp_path: Path
) -> None:
    git(tmp_path, "config", "--global", "user.something", "kept")
    run(tmp_path, "install", "--global")
    template = Path(os.environ["XDG_CONFIG_HOME"]) / "gitstore" / "template"
    assert global_get(tmp_path, "init.templateDir") == str(template)
    fresh = tmp_path / "fresh"
    git(tmp_path, "init", "-q", str(fresh))
    # git's default template content came along (it is installed on the test machine)
    assert (fresh / ".git" / "info" / "exclude").is_file()
    assert (fresh / ".git" / "description").is_file()
    assert b"gitstore-hook" in (fresh / ".git" / "hooks" / "pre-commit").read_bytes()

    out = run(tmp_path, "uninstall", "--global").stdout
    assert "init.templateDir" in out
    assert global_get(tmp_path, "init.templateDir") is None
    config = (Path(os.environ["HOME"]) / ".gitconfig").read_text()
    assert "gitstore" not in config, config
    assert global_get(tmp_path, "user.something") == "kept"
    assert not (template / "hooks" / "pre-commit").exists()


def test_global_uninstall_leaves_a_template_dir_the_user_set_since(
    run: Run, tmp_path: Path
) -> None:
    run(tmp_path, "install", "--global")
    mine = tmp_path / "theirs"
    mine.mkdir()
    git(tmp_path, "config", "--global", "init.templateDir", str(mine))
    run(tmp_path, "uninstall", "--global")
    assert global_get(tmp_path, "init.templateDir") == str(mine)


# -- 2. a global core.hooksPath ------------------------------------------------------
def test_global_install_refuses_a_global_hooks_path(run: Run, tmp_path: Path) -> None:
    shared = tmp_path / "shared-hooks"
    git(tmp_path, "config", "--global", "core.hooksPath", str(shared))
    proc = run(tmp_path, "install", "--global", ok=False)
    line = one_error_line(proc.stderr)
    assert "core.hooksPath" in line and str(shared) in line
    assert "hint:" in proc.stderr and "gitstore install" in proc.stderr
    assert global_get(tmp_path, "init.templateDir") is None
    assert global_get(tmp_path, "merge.gitstore.driver") is None
    assert not (Path(os.environ["XDG_CONFIG_HOME"]) / "gitstore").exists()
    assert not shared.exists()


# -- 3. a hooks folder that git tracks (husky v4-v8) -----------------------------------
def test_a_tracked_hooks_folder_is_refused_with_the_lines_to_add(run: Run, repo: Path) -> None:
    husky = b'#!/bin/sh\n. "$(dirname -- "$0")/_/husky.sh"\nnpm test\n'
    for name in HOOKS:
        write(repo / ".husky" / name, husky, 0o755)
    git(repo, "add", ".husky")
    git(repo, "commit", "-qm", "husky")
    git(repo, "config", "core.hooksPath", ".husky")

    proc = run(repo, "install", ok=False)
    assert ".husky" in one_error_line(proc.stderr)
    assert 'gitstore hook pre-push "$@"' in proc.stderr and ".husky/pre-push" in proc.stderr
    assert all((repo / ".husky" / n).read_bytes() == husky for n in HOOKS)
    assert sorted(p.name for p in (repo / ".husky").iterdir()) == sorted(HOOKS)
    assert not (repo / ".gitattributes").exists()

    for name in HOOKS:  # what the hint says
        write(repo / ".husky" / name, husky + f'gitstore hook {name} "$@"\n'.encode())
    run(repo, "install")
    assert all(b"gitstore-hook" not in (repo / ".husky" / n).read_bytes() for n in HOOKS)


def test_an_untracked_hooks_folder_in_the_work_tree_still_works(run: Run, repo: Path) -> None:
    """husky v9: core.hooksPath is .husky/_, which husky keeps out of git."""
    underscore = repo / ".husky" / "_"
    write(underscore / ".gitignore", "*\n")
    write(underscore / "pre-commit", '#!/bin/sh\n. "$(dirname "$0")/h"\n', 0o755)
    git(repo, "config", "core.hooksPath", ".husky/_")
    run(repo, "install")
    assert b"gitstore-hook" in (underscore / "pre-commit").read_bytes()
    assert (underscore / "pre-commit.gitstore-chained").exists()


# -- 4. the "gitstore not found" line, and an orphaned chained hook ---------------------
def test_missing_gitstore_line_keeps_the_chained_hook_findable(
    run: Run, repo: Path, tmp_path: Path
) -> None:
    hooks = repo / ".git" / "hooks"
    original = b"#!/bin/sh\necho mine\n"
    write(hooks / "pre-commit", original, 0o700)
    run(repo, "install")
    hook = hooks / "pre-commit"
    gone = tmp_path / "gone" / "python"
    hook.write_bytes(hook.read_bytes().replace(sys.executable.encode(), str(gone).encode()))
    env = dict(os.environ, PATH="/usr/bin:/bin")
    for shell in ("sh", "dash"):  # POSIX sh
        proc = subprocess.run([shell, str(hook)], cwd=repo, env=env, capture_output=True, text=True)
        assert proc.returncode != 0
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert str(gone) in lines[0] and "gitstore install" in lines[0]
        assert f"{hook}.gitstore-chained" in lines[0] and "remove" not in lines[0]

    hook.unlink()  # what the former line told people to do
    out = run(repo, "uninstall").stdout
    assert "restored your pre-commit hook" in out
    assert hook.read_bytes() == original and hook_mode(hook) == 0o700
    assert not (hooks / "pre-commit.gitstore-chained").exists()


# -- 4b. a gitstore on PATH that cannot run (a version manager's shim) ---------------------
def test_a_gitstore_on_path_that_cannot_run_falls_back_to_the_recorded_python(
    run: Run, repo: Path, tmp_path: Path
) -> None:
    """pyenv's shim for a version without gitstore exits 127: the hook used to fail with it."""
    run(repo, "init")
    write(repo / "data" / "a.bin", "v1")
    run(repo, "track", "data")
    git(repo, "commit", "-qm", "v1")
    git(repo, "switch", "-qc", "other")
    write(repo / "data" / "a.bin", "v2 on other")
    run(repo, "track", "data")
    git(repo, "commit", "-qm", "v2")
    shims = tmp_path / "shims"
    write(
        shims / "gitstore", "#!/bin/sh\necho 'pyenv: gitstore: command not found' >&2\nexit 127\n"
    )
    os.chmod(shims / "gitstore", 0o755)
    env = dict(os.environ, PATH=f"{shims}:/usr/bin:/bin")
    proc = subprocess.run(
        ["git", "switch", "-q", "main"], cwd=repo, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert (repo / "data" / "a.bin").read_text() == "v1"  # the hook ran, through the fallback
    assert "cannot run gitstore" not in proc.stderr


def test_a_script_from_before_the_fallback_still_counts_as_ours(repo: Path) -> None:
    from gitstore.hooks import _is_gitstore_script

    for name in HOOKS:
        new = render_hook(name)
        at, end = new.index(b"    gitstore hook "), new.index(b"fi\nfallback=")
        old = new[:at] + b"    exec gitstore hook " + name.encode() + b' "$@"\n' + new[end:]
        old = old.replace(
            b"else (not there, or it\n# cannot run) the one that installed this script.",
            b"else the one that\n# installed this script.",
        )
        write(repo / "old", old)
        assert _is_gitstore_script(repo / "old", name), name
        write(repo / "old", old + b"echo mine\n")
        assert not _is_gitstore_script(repo / "old", name), name


def test_a_users_hook_that_runs_gitstore_itself_is_left_alone_and_gitstore_runs_once(
    run: Run, repo: Path, tmp_path: Path
) -> None:
    """The line docs/hooks.md gives husky users: chaining such a hook ran gitstore twice."""
    bin_dir = tmp_path / "bin"
    write(
        bin_dir / "gitstore",
        f'#!/bin/sh\necho "$*" >> {tmp_path / "calls"}\nexec {sys.executable} -m gitstore "$@"\n',
        0o755,
    )
    hooks = repo / ".git" / "hooks"
    mine = b'#!/bin/sh\necho mine >&2\nexec gitstore hook pre-commit "$@"\n'
    commented = b"#!/bin/sh\n# gitstore hook post-checkout is added by install\nexit 0\n"
    write(hooks / "pre-commit", mine, 0o755)
    write(hooks / "post-checkout", commented, 0o755)
    out = run(repo, "init").stdout
    assert "left your pre-commit hook as it is" in out
    assert (hooks / "pre-commit").read_bytes() == mine
    assert not (hooks / "pre-commit.gitstore-chained").exists()
    assert (hooks / "post-checkout.gitstore-chained").read_bytes() == commented  # a comment only
    assert "left your pre-commit hook as it is" in run(repo, "install").stdout  # and again
    assert not (hooks / "pre-commit.gitstore-chained").exists()

    write(repo / "data" / "a.bin", "v1")
    run(repo, "track", "data")
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    proc = subprocess.run(
        ["git", "commit", "-qm", "v1"], cwd=repo, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "mine" in proc.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls.count("hook pre-commit") == 1, calls

    run(repo, "uninstall")
    assert (hooks / "pre-commit").read_bytes() == mine
    assert (hooks / "post-checkout").read_bytes() == commented


# -- 5. the pre-commit framework's migration mode (NAME.legacy) --------------------------
def test_uninstall_removes_our_hook_that_pre_commit_moved_to_legacy(run: Run, repo: Path) -> None:
    hooks = repo / ".git" / "hooks"
    mine = b"#!/bin/sh\necho my pre-push\n"
    write(hooks / "pre-push", mine, 0o755)
    run(repo, "install")
    framework = b"#!/usr/bin/env python3\n# File generated by pre-commit\n"
    for name in ("pre-push", "post-merge", "post-checkout"):
        os.rename(hooks / name, hooks / f"{name}.legacy")
        write(hooks / name, framework, 0o755)
    # an edited copy of ours is not "exactly a gitstore hook": left alone
    edited = (hooks / "post-checkout.legacy").read_bytes() + b"echo edited\n"
    (hooks / "post-checkout.legacy").write_bytes(edited)
    # a script of the format before the "not found" line was reworded still counts
    former = render_hook("post-rewrite").splitlines(keepends=True)
    former[-2] = FORMER_MISSING_LINE.replace(b"NAME", b"post-rewrite") + b"\n"
    write(hooks / "post-rewrite.legacy", b"".join(former), 0o755)

    out = run(repo, "uninstall").stdout
    assert "removed post-merge.legacy" in out and "removed pre-push.legacy" in out
    assert "removed post-rewrite.legacy" in out
    assert not (hooks / "post-merge.legacy").exists()
    assert (hooks / "pre-push.legacy").read_bytes() == mine  # pre-commit runs it from there
    assert not (hooks / "pre-push.gitstore-chained").exists()
    assert (hooks / "post-checkout.legacy").read_bytes() == edited
    assert (hooks / "pre-push").read_bytes() == framework


# -- 6. paths that cannot be used: one line, nothing half-written --------------------------
@pytest.mark.parametrize("where", ["file", "/proc/nope", "under-a-file"])
def test_an_unusable_hooks_path_is_one_line_and_writes_nothing(
    run: Run, repo: Path, where: str
) -> None:
    value = {"file": "README", "under-a-file": "README/hooks"}.get(where, where)
    git(repo, "config", "core.hooksPath", value)
    proc = run(repo, "install", ok=False)
    assert value in one_error_line(proc.stderr)
    assert not (repo / ".gitattributes").exists()
    assert (
        git(repo, "config", "--local", "--get", "merge.gitstore.driver", check=False).stdout == ""
    )
    assert (repo / "README").read_text() == "hello\n"
    proc = run(repo, "init", ok=False)
    assert value in one_error_line(proc.stderr)
    assert not (repo / ".gitattributes").exists()


def test_an_xdg_config_home_that_is_a_file_is_one_line(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_folder = write(tmp_path / "config-file", "x\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(not_a_folder))
    proc = run(tmp_path, "install", "--global", ok=False)
    assert str(not_a_folder) in one_error_line(proc.stderr)
    assert global_get(tmp_path, "init.templateDir") is None
    assert global_get(tmp_path, "merge.gitstore.driver") is None
    assert not_a_folder.read_text() == "x\n"


# -- 7. .gitattributes keeps its bytes --------------------------------------------------
@pytest.mark.parametrize(
    ("before", "after"),
    [
        (b"*.bin binary\r\n*.txt text\r\n", b"*.bin binary\r\n*.txt text\r\n" + LINE + b"\r\n"),
        (b"# caf\xe9\n*.csv -diff", b"# caf\xe9\n*.csv -diff\n" + LINE + b"\n"),
        (b"*.a -text\r\n*.b -text", b"*.a -text\r\n*.b -text\r\n" + LINE + b"\r\n"),
    ],
    ids=["crlf", "latin-1-no-final-newline", "crlf-no-final-newline"],
)
@pytest.mark.parametrize("verb", ["install", "init"])
def test_gitattributes_gets_one_line_in_its_own_line_ending(
    run: Run, repo: Path, before: bytes, after: bytes, verb: str
) -> None:
    write(repo / ".gitattributes", before)
    run(repo, verb)
    assert (repo / ".gitattributes").read_bytes() == after
    staged = subprocess.run(
        ["git", "show", ":.gitattributes"], cwd=repo, capture_output=True, check=True
    ).stdout
    assert staged == after
    run(repo, "install")
    assert (repo / ".gitattributes").read_bytes() == after


# -- 8. a hook manager rewrote its hook --------------------------------------------------
def test_a_rewritten_hook_is_wrapped_again_or_the_file_to_settle_is_named(
    run: Run, repo: Path
) -> None:
    hooks = repo / ".git" / "hooks"
    v1 = b"#!/bin/sh\n# managed hook v1\n"
    write(hooks / "pre-commit", v1, 0o755)
    run(repo, "install")
    write(hooks / "pre-commit", v1, 0o755)  # the manager wrote its hook again, unchanged
    proc = run(repo, "install")
    assert proc.stderr == ""
    assert b"gitstore-hook" in (hooks / "pre-commit").read_bytes()
    assert (hooks / "pre-commit.gitstore-chained").read_bytes() == v1

    v2 = b"#!/bin/sh\n# managed hook v2\n"
    write(hooks / "pre-commit", v2, 0o755)  # ... and now a newer one
    proc = run(repo, "install", ok=False)
    line = one_error_line(proc.stderr)
    assert f"{hooks / 'pre-commit.gitstore-chained'}" in line
    assert f"delete {hooks / 'pre-commit.gitstore-chained'}" in proc.stderr
    assert (hooks / "pre-commit").read_bytes() == v2
    assert (hooks / "pre-commit.gitstore-chained").read_bytes() == v1
