"""Findings of a QA pass over the command line (arguments, exit codes, messages).

Each test is a finding: what the command did before, and what it does now.
Both ways of running a command are covered where they differ: a plain
``gitstore track/status/checkout`` (gitstore.cli_core, no click) and the
click command (a global option first, as ``gitstore -v track``).
"""

from __future__ import annotations

import json
import os
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


@BOTH
def test_a_prefix_of_an_entry_is_not_a_path_inside_a_tracked_folder(
    repo: Path, run, pre: tuple[str, ...]
) -> None:
    """`checkout HEAD~1 data/a` (a prefix of data/a.txt) and `data/su` (of data/sub/)
    wrote nothing and exited 0: the entry was looked up as a substring of the manifest.
    `status data/nonexistent` answered for the whole of data."""
    write(repo / "data" / "a.txt", b"a\n")
    write(repo / "data" / "sub" / "b.txt", b"b\n")
    run(repo, "track", "data")
    git(repo, "commit", "-qm", "v1")
    write(repo / "data" / "a.txt", b"a2\n")
    write(repo / "data" / "sub" / "b.txt", b"b2\n")
    run(repo, "track", "data")
    git(repo, "commit", "-qm", "v2")
    for path in ("data/a", "data/su", "data/sub/b", "data/zzz"):
        proc = run(repo, *pre, "checkout", "HEAD~1", path, ok=False)
        assert proc.returncode == 1
        _one_error(proc, path, "not a file or folder of the tracked path data")
    for path in ("data/nonexistent", "data/a", "data/su"):
        proc = run(repo, *pre, "status", path, ok=False)
        assert proc.returncode == 1
        _one_error(proc, path, "not a file or folder of the tracked path data")
    assert (repo / "data" / "a.txt").read_bytes() == b"a2\n"
    # whole names still work: a file, a folder, a file on disk only
    assert "1 written" in run(repo, *pre, "checkout", "HEAD~1", "data/a.txt").stdout
    assert "1 written" in run(repo, *pre, "checkout", "HEAD~1", "data/sub").stdout
    assert (repo / "data" / "a.txt").read_bytes() == b"a\n"
    assert (repo / "data" / "sub" / "b.txt").read_bytes() == b"b\n"
    write(repo / "data" / "new.txt", b"n\n")
    assert "added: data/new.txt" in run(repo, *pre, "status", "data/new.txt").stdout
    assert "modified" in run(repo, *pre, "status", "data/sub").stdout


def _conflicted_merge(repo: Path, run) -> None:  # type: ignore[no-untyped-def]
    """data/1.txt changed on main and on `other`: `git merge other` stops on data.gitstore."""
    run(repo, "init")
    write(repo / "data" / "1.txt", b"1\n")
    write(repo / "data" / "2.txt", b"2\n")
    run(repo, "track", "data")
    git(repo, "commit", "-qm", "base")
    git(repo, "checkout", "-qb", "other")
    write(repo / "data" / "1.txt", b"other\n")
    run(repo, "track", "data")
    git(repo, "commit", "-qm", "other")
    git(repo, "checkout", "-q", "main")
    write(repo / "data" / "1.txt", b"mine\n")
    run(repo, "track", "data")
    git(repo, "commit", "-qm", "mine")
    assert git(repo, "merge", "-q", "other", check=False).returncode != 0


def test_resolve_that_leaves_files_out_of_line_exits_3(repo: Path, run) -> None:
    """`resolve --theirs` left an uncached edit alone, or a path unmaterialised for a
    missing object, and exited 0: docs/cli.md says 3 (partial), as checkout does."""
    _conflicted_merge(repo, run)
    write(repo / "data" / "2.txt", b"UNSAVED EDIT\n")
    proc = run(repo, "resolve", "data", "--theirs", ok=False)
    assert proc.returncode == 3, proc.stderr
    assert "left data/2.txt alone" in proc.stderr
    _one_error(proc, "resolved data.gitstore (theirs) and staged it", "data (modified)")
    assert (repo / "data" / "2.txt").read_bytes() == b"UNSAVED EDIT\n"
    assert git(repo, "diff", "--name-only", "--diff-filter=U").stdout == ""  # staged
    git(repo, "merge", "--abort")
    run(repo, "checkout", "--force")
    # their object missing from the cache (no remote to fetch it from)
    assert git(repo, "merge", "-q", "other", check=False).returncode != 0
    oid = next(
        f.split("blake3: ")[1].split(",")[0]
        for f in git(repo, "show", "other:data.gitstore").stdout.splitlines()
        if f.startswith("- {path: 1.txt")
    )
    obj = Path(os.environ["XDG_CACHE_HOME"]) / "gitstore" / "objects" / oid[:2] / oid[2:4] / oid
    saved = obj.read_bytes()
    obj.unlink()
    proc = run(repo, "resolve", "data", "--theirs", ok=False)
    assert proc.returncode == 3, proc.stderr
    assert "left data unmaterialised" in proc.stderr
    _one_error(proc, "resolved data.gitstore (theirs) and staged it", "data (")
    # everything in line: exit 0, as before
    git(repo, "merge", "--abort")
    run(repo, "checkout", "--force")
    write(obj, saved)
    assert git(repo, "merge", "-q", "other", check=False).returncode != 0
    proc = run(repo, "resolve", "data", "--theirs")
    assert "resolved data.gitstore (theirs) and staged it" in proc.stdout
    assert (repo / "data" / "1.txt").read_bytes() == b"other\n"


@BOTH
def test_dot_at_the_top_means_every_tracked_path(repo: Path, run, pre: tuple[str, ...]) -> None:
    """`status .`, `checkout .`, `log .`, `diff HEAD -- .` at the repository's top were
    refused ("is the repository's root"), while from a folder `.` worked; as git's
    pathspec, `.` at the top is every tracked path. `track .` stays refused."""
    write(repo / "proj" / "data" / "a.txt", b"a\n")
    write(repo / "model.bin", b"m\n")
    run(repo, "track", "proj/data", "model.bin")
    git(repo, "commit", "-qm", "v1")
    write(repo / "proj" / "data" / "a.txt", b"a2\n")
    run(repo, "track", "proj/data")
    git(repo, "commit", "-qm", "v2")
    assert run(repo, *pre, "status", ".").stdout.split() == [
        "unchanged",
        "model.bin",
        "unchanged",
        "proj/data",
    ]
    assert run(repo, *pre, "status", "./").stdout == run(repo, *pre, "status").stdout
    proc = run(repo, *pre, "checkout", "HEAD~1", ".")
    assert "wrote proj/data.gitstore" in proc.stdout
    assert (repo / "proj" / "data" / "a.txt").read_bytes() == b"a\n"
    changed = run(repo, *pre, "diff", "HEAD", "--", ".").stdout
    assert "proj/data/a.txt" in changed
    assert changed == run(repo, *pre, "diff", "HEAD").stdout
    run(repo, *pre, "checkout", "HEAD", ".")
    assert (repo / "proj" / "data" / "a.txt").read_bytes() == b"a2\n"
    assert run(repo, *pre, "log", ".").stdout == run(repo, *pre, "log").stdout
    assert len(run(repo, *pre, "log", ".").stdout.splitlines()) == 2
    proc = run(repo, *pre, "track", ".", ok=False)
    _one_error(proc, "repository's root")
    # push, fetch and pull too
    run(repo, "remote", "add", "team", str(repo.parent / "team-remote"), "--default")
    assert "pushed 3 objects" in run(repo, *pre, "push", "--all", ".").stdout
    assert "2 already there" in run(repo, *pre, "fetch", ".").stdout
    assert "2 unchanged" in run(repo, *pre, "pull", ".").stdout


def test_config_unset_of_a_setting_not_set_names_the_file(repo: Path, run) -> None:
    """`config unset KEY` of a key not set in the file exited 1 with nothing on stderr."""
    run(repo, "init")
    for args, where in (
        (("transfer.jobs",), ".gitstore/config.yaml"),
        (("--local", "hooks.fetch"), ".git/gitstore/config.yaml"),
        (("remotes.nosuch.url",), ".gitstore/config.yaml"),
    ):
        proc = run(repo, "config", "unset", *args, ok=False)
        assert proc.returncode == 1
        _one_error(proc, args[-1], f"is not set in {where}")
    # set in another file: the hint names it and the command that removes it there
    run(repo, "config", "set", "--local", "transfer.jobs", "3")
    proc = run(repo, "config", "unset", "transfer.jobs", ok=False)
    _one_error(proc, "transfer.jobs is not set in .gitstore/config.yaml")
    assert "hint: it is set in .git/gitstore/config.yaml: `gitstore config unset --local" in (
        proc.stderr
    )
    run(repo, "config", "unset", "--local", "transfer.jobs")
    assert run(repo, "config", "get", "--local", "transfer.jobs", ok=None).returncode == 1


def test_pull_rev_says_which_manifests_it_rewrote(repo: Path, run) -> None:
    """`pull REV` rewrote the working tree's manifest as `checkout REV` does, but printed
    neither "wrote X.gitstore" nor the note that it now differs from HEAD."""
    run(repo, "init")
    write(repo / "data" / "a.txt", b"a\n")
    run(repo, "track", "data")
    run(repo, "remote", "add", "team", str(repo.parent / "remote"), "--default")
    git(repo, "commit", "-qm", "v1")
    write(repo / "data" / "a.txt", b"a2\n")
    run(repo, "track", "data")
    git(repo, "commit", "-qm", "v2")
    run(repo, "push", "--all")
    pulled = run(repo, "pull", "HEAD~1")
    assert (repo / "data" / "a.txt").read_bytes() == b"a\n"
    assert "wrote data.gitstore" in pulled.stdout.splitlines()
    assert "gitstore: note: data.gitstore now differs from HEAD" in pulled.stderr
    assert "`gitstore checkout HEAD` to return" in pulled.stderr
    run(repo, "checkout", "HEAD")
    checked = run(repo, "checkout", "HEAD~1")
    assert checked.stderr == pulled.stderr
    run(repo, "checkout", "HEAD")
    quiet = run(repo, "-q", "pull", "HEAD~1")
    assert "wrote" not in quiet.stdout
    assert "now differs from HEAD" in quiet.stderr


def _object(store: Path, oid: str) -> Path:
    return store / "objects" / oid[:2] / oid[2:4] / oid


def test_verify_remote_repair_mends_the_cache_from_the_work_tree_first(repo: Path, run) -> None:
    """With both the remote's and the cache's copies corrupt (the work tree still good),
    `verify --remote NAME --repair` said "the cache's copy is corrupt too", and its hint
    said to run `--repair` again: a loop. Now the cache is repaired first, as a plain
    `verify --repair` does, then the remote from it."""
    run(repo, "init")
    remote = repo.parent / "remote"
    run(repo, "remote", "add", "team", str(remote), "--default")
    write(repo / "f3.bin", b"good bytes of f3\n")
    run(repo, "track", "f3.bin")
    git(repo, "commit", "-qm", "c1")
    run(repo, "push")
    (oid,) = [f["oid"] for f in json.loads(run(repo, "ls", "--json").stdout)]
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "gitstore"
    for store in (remote, cache):
        obj = _object(store, oid)
        obj.chmod(0o644)
        obj.write_bytes(b"bad" + obj.read_bytes()[3:])
    proc = run(repo, "verify", "--remote", "team", "--repair")
    assert f"repaired {oid} from the cache (put back there from the work tree's f3.bin)" in (
        proc.stdout
    )
    assert f"kept the corrupt bytes of {oid} at " in proc.stdout
    assert "--repair" not in proc.stderr
    for store in (remote, cache):
        assert _object(store, oid).read_bytes() == b"good bytes of f3\n"
    assert list((cache / "bad").iterdir())  # the cache's bad bytes kept aside
    run(repo, "verify", "--remote", "team")
    run(repo, "verify")


def test_a_merge_that_brings_one_tracked_path_inside_another_is_reported(repo: Path, run) -> None:
    """Branch A tracks data/x, branch B the whole of data; a merge without hooks brought
    both manifests. status said "modified" twice, ls listed data/x twice, and
    `checkout --force` deleted the committed data/x.gitstore."""
    run(repo, "init")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "setup")
    git(repo, "checkout", "-qb", "A")
    write(repo / "data" / "x", b"A-version\n")
    run(repo, "track", "data/x")
    git(repo, "commit", "-qm", "A tracks data/x")
    git(repo, "checkout", "-q", "main")
    git(repo, "checkout", "-qb", "B")
    write(repo / "data" / "x", b"B-version\n")
    write(repo / "data" / "y", b"y\n")
    run(repo, "track", "data")
    git(repo, "commit", "-qm", "B tracks data")
    git(repo, "-c", "core.hooksPath=/dev/null", "merge", "-q", "A", "-m", "merge", check=False)
    (repo / ".gitignore").write_text("/data/x\n/data/\n")
    git(repo, "add", ".gitignore")
    git(repo, "-c", "core.hooksPath=/dev/null", "commit", "-qm", "merged")
    assert {"data.gitstore", "data/x.gitstore"} <= set(git(repo, "ls-files").stdout.split())
    both = ("data/x.gitstore", "data.gitstore", "gitstore untrack data/x")
    for pre in ((), ("-v",)):
        proc = run(repo, *pre, "status", ok=False)
        assert proc.stdout.split() == ["invalid", "data", "invalid", "data/x"]
        _one_error(proc, *both)
    proc = run(repo, "ls", ok=False)
    _one_error(proc, *both[:2])
    assert proc.stdout == ""
    for args in (("checkout",), ("checkout", "--force"), ("-v", "checkout", "--force", "HEAD")):
        proc = run(repo, *args, ok=False)
        _one_error(proc, *both[:2])
    assert (repo / "data" / "x.gitstore").is_file()
    assert git(repo, "status", "--porcelain").stdout == ""
    # track (what the pre-commit hook's refresh runs) names the command that settles it
    proc = run(repo, "track", "data", "data/x", ok=False)
    assert "data/x is inside data" in proc.stderr
    assert "hint: `gitstore untrack data/x` keeps its files" in proc.stderr
    # what the message says to do
    run(repo, "untrack", "data/x")
    run(repo, "track", "data")
    assert run(repo, "status").stdout.split() == ["unchanged", "data"]
