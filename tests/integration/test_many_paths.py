"""Many tracked paths, many refs (eighth QA pass's scale review).

Teams that track files one by one (the DVC habit) have thousands of small
manifests, and teams that push tags push hundreds of refs at once. What was
done once per path or per ref (a durable rewrite of the marks, a git process,
a rewrite of .gitignore) is now done once per command; these tests hold the
results to what they were.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from blake3 import blake3

from tests.conftest import GITSTORE, git, write
from tests.integration.test_hooks import make_team, objects_in, oid_of

N = 12  # above checkout.PREMARK_ABOVE: the marks are written together


def tracked_files(repo: Path, run) -> list[str]:
    run(repo, "init")
    names = [f"d/f{i:02d}.bin" for i in range(N)]
    for i, name in enumerate(names):
        write(repo / name, f"file {i}\n".encode())
    run(repo, "track", *names)
    git(repo, "commit", "-qm", "files")
    return names


def test_checkout_of_many_paths_marks_only_what_it_could_not_finish(repo: Path, run) -> None:
    names = tracked_files(repo, run)
    lost = names[:2]
    objects = Path(os.environ["XDG_CACHE_HOME"]) / "gitstore" / "objects"
    for name in names[:5]:
        (repo / name).unlink()
    for name in lost:
        oid = blake3(f"file {names.index(name)}\n".encode()).hexdigest()
        (objects / oid[:2] / oid[2:4] / oid).unlink()
    proc = run(repo, "checkout", ok=None)
    assert proc.returncode != 0
    marks = json.loads((repo / ".git" / "gitstore" / "unmaterialised.json").read_text())
    assert sorted(marks) == lost  # the others were written or already right: no mark
    for name in names[2:]:
        assert (repo / name).exists()


def test_track_of_many_paths_adopts_only_what_git_has(repo: Path, run) -> None:
    run(repo, "init")
    for i in range(N):
        write(repo / f"d/f{i:02d}.bin", f"file {i}\n".encode())
    write(repo / "d[1]/x.bin", b"glob-like folder name\n")
    git(repo, "add", "d/f03.bin", "d/f07.bin")
    git(repo, "commit", "-qm", "two files in git")
    names = [f"d/f{i:02d}.bin" for i in range(N)] + ["d[1]"]
    out = run(repo, "track", *names).stdout + run(repo, "status").stdout
    assert git(repo, "ls-files", "d/f03.bin", "d/f07.bin").stdout == ""  # taken out of git
    gitignore = (repo / ".gitignore").read_text().splitlines()
    assert len(gitignore) == N + 1 and "/d\\[1]/" in gitignore, gitignore
    assert "unchanged" in out
    inner = run(repo, "track", "d/f01.bin", "d/f01.bin/x", ok=None)
    assert inner.returncode != 0


def test_track_adopts_a_folder_beside_a_name_that_sorts_between(repo: Path, run) -> None:
    """ "x-y" sorts between "x" and "x/a": both are in git, both are adopted."""
    run(repo, "init")
    write(repo / "x" / "a.bin", b"a\n")
    write(repo / "x-y", b"y\n")
    git(repo, "add", "x", "x-y")
    git(repo, "commit", "-qm", "in git")
    run(repo, "track", "x", "x-y")
    assert git(repo, "ls-files", "x", "x-y").stdout == ""  # both taken out of git's index
    git(repo, "add", "-A")
    assert git(repo, "ls-files", "x", "x-y").stdout == ""  # and ignored from now on


def test_one_push_of_many_refs_uploads_what_each_brings(tmp_path: Path) -> None:
    alice, _bob, _origin = make_team(tmp_path, str(tmp_path / "store"))
    for i in range(3):
        alice.git("checkout", "-q", "-b", f"b{i}", "main")
        alice.write(f"data/only-on-b{i}.bin", f"branch {i}\n".encode())
        alice.commit_data(f"on b{i}")
        alice.git("tag", f"t{i}")
    alice.git("checkout", "-q", "main")
    shutil.rmtree(tmp_path / "store" / "objects")
    alice.git("push", "-q", "origin", "b0", "b1", "b2", "--tags")
    store = objects_in(tmp_path / "store")
    for i in range(3):
        alice.git("checkout", "-q", f"b{i}")
        short = oid_of(alice, f"data/only-on-b{i}.bin")
        assert any(oid.startswith(short) for oid in store), (short, store)


def test_untrack_of_a_path_and_its_manifest_name_untracks_it_once(repo: Path, run) -> None:
    """`gitstore untrack d/*` names each path and its manifest: it untracked the first,
    then failed on the second's missing manifest, with the rest half done."""
    names = tracked_files(repo, run)
    every = sorted([*names, *(n + ".gitstore" for n in names)])
    out = run(repo, "untrack", *every)
    assert out.returncode == 0
    assert not list((repo / "d").glob("*.gitstore"))
    assert (repo / ".gitignore").read_text() == ""
    staged = git(repo, "diff", "--cached", "--name-status").stdout.splitlines()
    assert sorted(staged) == sorted([f"D\t{n}.gitstore" for n in names] + ["M\t.gitignore"]), staged
    git(repo, "commit", "-qm", "untracked")
    assert all((repo / n).exists() for n in names)


def test_checkout_that_brings_many_manifests_and_returns(repo: Path, run) -> None:
    """checkout REV writes each manifest's .gitignore line (one write for them all) and
    the way back takes them away again."""
    names = tracked_files(repo, run)
    run(repo, "untrack", *names)
    git(repo, "commit", "-qm", "untracked")
    before = git(repo, "status", "--porcelain").stdout
    run(repo, "checkout", "HEAD~1")
    lines = (repo / ".gitignore").read_text().splitlines()
    assert sorted(lines) == sorted(f"/{n}" for n in names)
    assert all((repo / (n + ".gitstore")).exists() for n in names)
    back = run(repo, "checkout", "HEAD")
    assert back.stdout.count("removed ") == N
    assert (repo / ".gitignore").read_text() == ""
    assert git(repo, "status", "--porcelain").stdout == before


def test_track_of_a_path_and_its_manifest_name_tracks_it_once(repo: Path, run) -> None:
    """`gitstore track d/*` after a first track names each manifest too: it was refused."""
    names = tracked_files(repo, run)
    write(repo / names[0], b"changed\n")
    every = sorted([*names, *(n + ".gitstore" for n in names)])
    out = run(repo, "track", *every).stdout
    assert f"tracked {names[0]} " in out and out.count("unchanged ") == N - 1
    alone = run(repo, "track", names[1] + ".gitstore", ok=False)
    assert "is a gitstore manifest; track the path it describes instead" in alone.stderr


def test_a_file_of_the_users_named_like_a_manifest_blocks_no_commit(repo: Path, run) -> None:
    """QA pass 9: an untracked notes file `todo.gitstore` made every commit fail, and
    `track todo.gitstore` called it a manifest."""
    tracked_files(repo, run)
    write(repo / "todo.gitstore", b"notes\n")
    write(repo / "code.py", b"print(1)\n")
    git(repo, "add", "code.py")
    done = git(repo, "commit", "-qm", "code", check=False)
    assert done.returncode == 0, done.stderr
    assert "todo.gitstore is not a manifest, nor staged: left alone" in done.stderr
    refused = run(repo, "track", "todo.gitstore", ok=False)
    assert "todo.gitstore cannot be tracked: gitstore takes every file" in refused.stderr
    git(repo, "add", "todo.gitstore")
    staged = git(repo, "commit", "-qm", "notes", check=False)
    assert staged.returncode != 0 and "todo.gitstore: is not a gitstore manifest" in staged.stderr


def test_a_file_that_is_not_a_manifest_stops_no_other_path(repo: Path, run, tmp_path: Path) -> None:
    """QA pass 9 left: a notes file `todo.gitstore` (or one damaged manifest) stopped
    `checkout`, `pull`, `push` and `fetch` of every path before they did anything, and
    even `checkout d` of another path. Now the others are done and it is named, exit 1."""
    run(repo, "init")
    write(repo / "d" / "a.bin", b"a\n")
    write(repo / "e" / "b.bin", b"b\n")
    run(repo, "track", "d", "e")
    git(repo, "commit", "-qm", "d e")
    run(repo, "remote", "add", "o", str(tmp_path / "store"), "--default")
    write(repo / "todo.gitstore", b"notes\n")
    pushed = run(repo, "push", ok=False)
    assert pushed.returncode == 1 and "pushed 2 objects" in pushed.stdout, pushed.stdout
    assert "todo.gitstore: is not a gitstore manifest" in pushed.stderr
    assert "the other paths were done" in pushed.stderr
    shutil.rmtree(repo / "d")
    shutil.rmtree(repo / "e")
    checked = run(repo, "checkout", ok=False)
    assert checked.returncode == 1 and "todo.gitstore" in checked.stderr
    assert (repo / "d" / "a.bin").read_bytes() == b"a\n"
    assert (repo / "e" / "b.bin").read_bytes() == b"b\n"
    shutil.rmtree(repo / "d")
    run(repo, "checkout", "d")  # a path named: the notes file is none of its business
    assert (repo / "d" / "a.bin").read_bytes() == b"a\n"
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "gitstore"
    shutil.rmtree(cache)
    shutil.rmtree(repo / "d")
    assert run(repo, "fetch", ok=False).returncode == 1
    pulled = run(repo, "pull", ok=False)
    assert pulled.returncode == 1 and "todo.gitstore" in pulled.stderr
    assert (repo / "d" / "a.bin").read_bytes() == b"a\n"
    # a damaged manifest is left out the same way, its files untouched
    (repo / "e.gitstore").write_bytes(b"gitstore: 1\nkind: dir\n")
    (repo / "todo.gitstore").unlink()
    (repo / "d" / "a.bin").unlink()
    checked = run(repo, "checkout", ok=False)
    assert "e.gitstore: has no 'entries:' list" in checked.stderr
    assert (repo / "d" / "a.bin").read_bytes() == b"a\n"
    assert (repo / "e" / "b.bin").read_bytes() == b"b\n"


def test_untrack_and_track_say_what_the_user_meant(repo: Path, run) -> None:
    """QA pass 9: a file inside a tracked folder was "not tracked"; a quoted pattern "did
    not exist"; untracking a path never pulled said its files were left in place."""
    run(repo, "init")
    write(repo / "d/a.bin", b"a\n")
    write(repo / "d/b.bin", b"b\n")
    run(repo, "track", "d")
    inside = run(repo, "untrack", "d/a.bin", ok=False)
    assert "d/a.bin is inside the tracked folder d" in inside.stderr
    assert "gitstore untrack d" in inside.stderr
    pattern = run(repo, "track", "d/*.txt", ok=False)
    assert "gitstore tracks paths, not patterns" in pattern.stderr
    shutil.rmtree(repo / "d")  # as in a clone that never pulled it
    out = run(repo, "untrack", "d").stdout
    assert "it was not on disk" in out and "files left in place" not in out


def test_a_checkout_killed_while_bringing_manifests_is_taken_back(repo: Path, run) -> None:
    """QA pass 9: `checkout HEAD~1` killed part-way left its manifests and every
    .gitignore line it had added (all of them, in one write, up front) behind
    `checkout HEAD`: what it brings is now recorded before the first write."""
    names = tracked_files(repo, run)
    run(repo, "untrack", *names)
    git(repo, "commit", "-qm", "untracked")
    shutil.rmtree(repo / "d")  # so that the checkout writes files, and can be killed there
    killed = subprocess.run(
        [*GITSTORE, "checkout", "HEAD~1"],
        cwd=repo,
        env=dict(os.environ, GITSTORE_FAULT="kill:3"),
        capture_output=True,
    )
    assert killed.returncode == -9
    assert 0 < len(list((repo / "d").glob("*.gitstore"))) < N  # part-way indeed
    run(repo, "checkout", "HEAD")
    assert not list((repo / "d").glob("*.gitstore"))
    assert (repo / ".gitignore").read_text() == ""  # the files written stay, as untrack's do
