"""Habits users bring from DVC, git-lfs and git-annex (the ninth QA pass).

Each test is a finding of that pass: what the habit did to the data before,
and what it does now.
"""

from __future__ import annotations

import os
from pathlib import Path

from blake3 import blake3

from tests.conftest import git, write


def test_an_in_place_edit_of_a_hard_linked_file_takes_the_damaged_object_out(
    repo: Path, run
) -> None:
    """`cache.link: hardlink` (as `dvc config cache.type hardlink`), then an edit in
    place (root ignores the read-only bit): the edit changed the cached object too,
    which then held v2's bytes under v1's name; later checkouts handed those out
    as v1. The object is now taken out at the next track or commit, with a warning."""
    run(repo, "init")
    run(repo, "config", "set", "cache.link", "hardlink", "--local")
    write(repo / "d" / "a.bin", b"v1\n")
    write(repo / "d" / "b.bin", b"b\n")
    run(repo, "track", "d")
    git(repo, "commit", "-qm", "v1")
    (repo / "d" / "a.bin").unlink()
    run(repo, "checkout", "d")
    v1 = blake3(b"v1\n").hexdigest()
    obj = Path(os.environ["XDG_CACHE_HOME"]) / "gitstore" / "objects" / v1[:2] / v1[2:4] / v1
    assert os.stat(obj).st_ino == os.stat(repo / "d" / "a.bin").st_ino  # linked indeed
    path = repo / "d" / "a.bin"
    os.chmod(path, 0o644)
    with open(path, "ab") as f:  # in place: the inode (and the cached object) change
        f.write(b"v2\n")
    out = run(repo, "track", "d")
    assert "d/a.bin is a hard link into the cache that was edited in place" in out.stderr
    assert not obj.exists()  # never handed out again as v1
    assert (repo / "d" / "a.bin").read_bytes() == b"v1\nv2\n"
    git(repo, "commit", "-qm", "v2")
    assert "is not in the cache" in run(repo, "cat", "d/a.bin", "--rev", "HEAD~1", ok=False).stderr
    assert run(repo, "verify").returncode == 0  # what is left in the cache is whole


def test_a_push_refused_for_a_damaged_cache_object_says_where_to_mend_it(
    tmp_path: Path,
) -> None:
    """The pre-push hook's hint said "fix the remote" when the damage was in the cache."""
    from tests.integration.test_hooks import make_team

    alice = make_team(tmp_path, str(tmp_path / "store"))[0]
    alice.write("data/c.bin", b"charlie v1")
    alice.gs("track", "data")
    alice.git("commit", "-qm", "c")
    oid = blake3(b"charlie v1").hexdigest()
    obj = alice.cache / "gitstore" / "objects" / oid[:2] / oid[2:4] / oid
    os.chmod(obj, 0o644)
    with open(obj, "r+b") as f:
        f.write(b"X")
    refused = alice.git("push", "-q", "origin", "HEAD", ok=False)
    assert "gitstore verify --repair` mends it from the work tree" in refused.stderr
    alice.gs("verify", "--repair")
    alice.git("push", "-q", "origin", "HEAD")


def test_a_gitignore_with_crlf_line_endings_keeps_them(repo: Path, run) -> None:
    """`track` rewrote a .gitignore made on Windows with LF line endings throughout."""
    run(repo, "init")
    (repo / ".gitignore").write_bytes(b"*.log\r\nbuild/\r\n")
    write(repo / "d" / "a.bin", b"a\n")
    run(repo, "track", "d")
    assert (repo / ".gitignore").read_bytes() == b"*.log\r\nbuild/\r\n/d/\r\n"
    run(repo, "untrack", "d")
    assert (repo / ".gitignore").read_bytes() == b"*.log\r\nbuild/\r\n"


def test_a_revision_beyond_a_shallow_clone_says_the_clone_is_shallow(
    repo: Path, run, tmp_path: Path
) -> None:
    run(repo, "init")
    for i in range(2):
        write(repo / "d" / "a.bin", f"v{i}\n".encode())
        run(repo, "track", "d")
        git(repo, "commit", "-qm", f"v{i}")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow))
    refused = run(shallow, "diff", "HEAD~1", ok=False)
    assert "this clone is shallow" in refused.stderr and "git fetch --unshallow" in refused.stderr


def test_a_manifest_renamed_with_git_mv_keeps_its_path_ignored(repo: Path, run) -> None:
    """QA pass 9 left: `git mv a.gitstore b.gitstore; mv a b` (as git-annex and DVC users
    rename) committed with /a/ in .gitignore and no /b/, so git offered b's files to
    `git add`. The pre-commit hook now moves the line and stages .gitignore."""
    run(repo, "init")
    write(repo / "a" / "f", b"1\n")
    write(repo / "m.bin", b"2\n")
    run(repo, "track", "a", "m.bin")
    git(repo, "commit", "-qm", "a")
    git(repo, "mv", "a.gitstore", "b.gitstore")
    (repo / "a").rename(repo / "b")
    git(repo, "mv", "m.bin.gitstore", "n.bin.gitstore")
    (repo / "m.bin").rename(repo / "n.bin")
    done = git(repo, "commit", "-qm", "rename")
    assert "gitstore: .gitignore now lists b, n.bin and no longer lists a, m.bin" in done.stderr
    assert (repo / ".gitignore").read_text() == "/b/\n/n.bin\n"
    assert git(repo, "status", "--porcelain").stdout == ""  # committed, and b/ ignored
    assert git(repo, "show", "HEAD:.gitignore").stdout == "/b/\n/n.bin\n"
    # with other unstaged changes of the user's, only gitstore's lines are staged
    with open(repo / ".gitignore", "a") as f:
        f.write("*.log\n")
    git(repo, "mv", "b.gitstore", "c.gitstore")
    (repo / "b").rename(repo / "c")
    done = git(repo, "commit", "-qm", "again")
    assert "those lines staged alone: your other changes to .gitignore stay unstaged" in (
        done.stderr
    )
    assert (repo / ".gitignore").read_text() == "/n.bin\n*.log\n/c/\n"
    assert git(repo, "show", "HEAD:.gitignore").stdout == "/n.bin\n/c/\n"
    assert git(repo, "status", "--porcelain").stdout == " M .gitignore\n"
    # a manifest deleted while its files stay keeps the line (untrack hands files to git)
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-qm", "ignore")
    git(repo, "rm", "-q", "--cached", "n.bin.gitstore")
    (repo / "n.bin.gitstore").unlink()
    git(repo, "commit", "-qm", "drop")
    assert "/n.bin" in (repo / ".gitignore").read_text()
