"""The core workflow through the real CLI and the real git binary."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import git, write


def tree_bytes(path: Path) -> dict[str, tuple[bytes, bool]]:
    out = {}
    if path.is_file():
        return {"": (path.read_bytes(), os.access(path, os.X_OK))}
    for p in sorted(path.rglob("*")):
        if p.is_file():
            out[p.relative_to(path).as_posix()] = (p.read_bytes(), os.access(p, os.X_OK))
    return out


def test_round_trip_three_commits(repo: Path, run) -> None:
    data = repo / "data" / "images"
    versions = []
    write(data / "cats" / "001.jpg", b"cat one")
    write(data / "cats" / "002.jpg", b"cat two", 0o755)
    write(data / "empty.bin", b"")
    write(repo / "model.pt", b"weights v1")
    run(repo, "track", "data/images", "model.pt")
    git(repo, "commit", "-qm", "v1")
    versions.append((tree_bytes(data), tree_bytes(repo / "model.pt")))

    write(data / "cats" / "001.jpg", b"cat one, edited")
    (data / "cats" / "002.jpg").unlink()
    write(data / "dogs" / "001.jpg", b"dog")
    write(repo / "model.pt", b"weights v2")
    run(repo, "track", "data/images", "model.pt")
    git(repo, "commit", "-qm", "v2")
    versions.append((tree_bytes(data), tree_bytes(repo / "model.pt")))

    shutil.rmtree(data / "cats")
    write(data / "birds" / "a b.jpg", b"bird with space")
    (repo / "model.pt").chmod(0o755)
    run(repo, "track", "data/images", "model.pt")
    git(repo, "commit", "-qm", "v3")
    versions.append((tree_bytes(data), tree_bytes(repo / "model.pt")))

    for i, rev in enumerate(["HEAD~2", "HEAD~1", "HEAD"]):
        run(repo, "checkout", rev)
        assert (tree_bytes(data), tree_bytes(repo / "model.pt")) == versions[i], rev
        status = json.loads(run(repo, "status", "--json").stdout)
        assert {s["state"] for s in status} == {"unchanged"}
    # back and forth again, from the last state
    run(repo, "checkout", "HEAD~2")
    assert tree_bytes(data) == versions[0][0]
    run(repo, "checkout", "HEAD")
    assert tree_bytes(data) == versions[2][0]
    assert git(repo, "status", "--porcelain").stdout == ""


def test_manifest_bytes_and_gitignore(repo: Path, run) -> None:
    write(repo / "data" / "a.txt", b"a")
    write(repo / "data" / "x" / "b.txt", b"bb", 0o755)
    run(repo, "track", "data")
    text = (repo / "data.gitstore").read_text()
    assert text.startswith("# gitstore manifest: run `gitstore checkout`")
    assert "gitstore: 1\nkind: dir\nsize: 3\nfiles: 2\nentries:\n- {path: a.txt, blake3: " in text
    assert ", size: 2, exec: true}" in text
    assert "/data/\n" in (repo / ".gitignore").read_text()
    staged = git(repo, "diff", "--cached", "--name-only").stdout.split()
    assert sorted(staged) == [".gitignore", "data.gitstore"]
    before = (repo / "data.gitstore").read_bytes()
    out = run(repo, "track", "data").stdout
    assert "unchanged" in out
    assert (repo / "data.gitstore").read_bytes() == before


def test_status_states(repo: Path, run) -> None:
    write(repo / "d" / "a", b"a")
    write(repo / "d" / "b", b"b")
    write(repo / "f.bin", b"f")
    run(repo, "track", "d", "f.bin")
    git(repo, "commit", "-qm", "t")
    write(repo / "d" / "a", b"changed")
    (repo / "d" / "b").unlink()
    write(repo / "d" / "c", b"new")
    (repo / "f.bin").unlink()
    status = {s["path"]: s for s in json.loads(run(repo, "status", "--json").stdout)}
    assert status["d"]["state"] == "modified"
    assert status["d"]["added"] == ["d/c"]
    assert status["d"]["modified"] == ["d/a"]
    assert status["d"]["removed"] == ["d/b"]
    assert status["f.bin"]["state"] == "not_materialised"
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "gitstore"
    shutil.rmtree(cache / "objects")
    status = {s["path"]: s for s in json.loads(run(repo, "status", "--json").stdout)}
    assert status["f.bin"]["state"] == "missing_objects"


def test_checkout_refuses_uncached_edits(repo: Path, run) -> None:
    write(repo / "d" / "a", b"v1")
    run(repo, "track", "d")
    git(repo, "commit", "-qm", "v1")
    write(repo / "d" / "a", b"v2")
    run(repo, "track", "d")
    git(repo, "commit", "-qm", "v2")
    write(repo / "d" / "a", b"precious local edit")
    proc = run(repo, "checkout", "HEAD~1", ok=False)
    assert proc.returncode == 3
    assert "d/a" in proc.stderr
    assert (repo / "d" / "a").read_bytes() == b"precious local edit"
    run(repo, "checkout", "--force", "HEAD~1")
    assert (repo / "d" / "a").read_bytes() == b"v1"


def test_checkout_rev_then_git_status_and_commit(repo: Path, run) -> None:
    write(repo / "d" / "a", b"v1")
    run(repo, "track", "d")
    git(repo, "commit", "-qm", "v1")
    write(repo / "d" / "a", b"v2")
    run(repo, "track", "d")
    git(repo, "commit", "-qm", "v2")
    proc = run(repo, "checkout", "HEAD~1")
    assert "d.gitstore now differs from HEAD" in proc.stderr  # never a silent revert
    assert "`gitstore checkout HEAD` to return" in proc.stderr
    assert git(repo, "status", "--porcelain").stdout.strip() == "M d.gitstore"
    assert git(repo, "diff", "--cached", "--name-only").stdout == ""
    git(repo, "commit", "-qam", "restore v1")
    assert (
        git(repo, "show", "HEAD~2:d.gitstore").stdout == git(repo, "show", "HEAD:d.gitstore").stdout
    )
    run(repo, "checkout", "HEAD~1")
    assert (repo / "d" / "a").read_bytes() == b"v2"
    run(repo, "checkout", "HEAD")
    assert (repo / "d" / "a").read_bytes() == b"v1"


@pytest.mark.parametrize(
    "name", ["#hash", "!bang", "star*", "br[ack]et", "trailing  ", "-dash", "ünï cödé"]
)
def test_special_names_in_gitignore(repo: Path, run, name: str) -> None:
    write(repo / name / "f", b"x")
    write(repo / "keep" / "other", b"y")
    run(repo, "track", "--", name)
    assert git(repo, "check-ignore", "-q", "--", f"{name}/f", check=False).returncode == 0
    assert git(repo, "check-ignore", "-q", "keep/other", check=False).returncode == 1
    assert (
        git(repo, "status", "--porcelain", "--untracked-files=all", check=False).stdout.count(name)
        <= 1
    )
    git(repo, "commit", "-qm", "t")
    shutil.rmtree(repo / name)
    run(repo, "checkout")
    assert (repo / name / "f").read_bytes() == b"x"


def test_adopt_folder_tracked_by_git(repo: Path, run) -> None:
    write(repo / "d" / "a", b"a")
    git(repo, "add", "d")
    git(repo, "commit", "-qm", "plain git")
    out = run(repo, "track", "d").stdout
    assert "removed from git's index" in out
    assert git(repo, "ls-files", "d").stdout == ""
    assert (repo / "d" / "a").read_bytes() == b"a"
    git(repo, "commit", "-qm", "adopt")
    assert git(repo, "status", "--porcelain").stdout == ""


def test_untrack(repo: Path, run) -> None:
    write(repo / "d" / "a", b"a")
    run(repo, "track", "d")
    git(repo, "commit", "-qm", "t")
    run(repo, "untrack", "d")
    assert not (repo / "d.gitstore").exists()
    assert (repo / "d" / "a").exists()
    assert "/d/" not in (repo / ".gitignore").read_text()
    assert "D  d.gitstore" in git(repo, "status", "--porcelain").stdout


def test_refuses_symlinks_and_non_utf8(repo: Path, run) -> None:
    write(repo / "d" / "a", b"a")
    os.symlink("a", repo / "d" / "link")
    proc = run(repo, "track", "d", ok=False)
    assert "symlink" in proc.stderr and "d/link" in proc.stderr
    (repo / "d" / "link").unlink()
    bad = os.fsdecode(b"bad\xff")
    write(repo / "d" / bad, b"x")
    proc = run(repo, "track", "d", ok=False)
    assert "UTF-8" in proc.stderr
    assert not (repo / "d.gitstore").exists()


def test_worktree_has_own_statcache(repo: Path, run) -> None:
    write(repo / "d" / "a", b"a")
    run(repo, "track", "d")
    git(repo, "commit", "-qm", "t")
    wt = repo.parent / "wt"
    git(repo, "worktree", "add", "-q", str(wt))
    run(wt, "checkout")
    assert (wt / "d" / "a").read_bytes() == b"a"
    status = json.loads(run(wt, "status", "--json").stdout)
    assert status[0]["state"] == "unchanged"
    state = git(wt, "rev-parse", "--git-dir").stdout.strip()
    assert (Path(wt, state) / "gitstore" / "statcache").exists()


def test_ls_and_cat(repo: Path, run) -> None:
    write(repo / "d" / "sub" / "a", b"alpha")
    run(repo, "track", "d")
    git(repo, "commit", "-qm", "t")
    write(repo / "d" / "sub" / "a", b"beta")
    run(repo, "track", "d")
    files = json.loads(run(repo, "ls", "HEAD", "--json").stdout)
    assert files[0]["path"] == "d/sub/a" and files[0]["size"] == 5
    assert set(files[0]) == {"path", "oid", "size", "manifest"}
    assert run(repo, "cat", "d/sub/a", "--rev", "HEAD").stdout == "alpha"
    assert run(repo, "cat", "d/sub/a").stdout == "beta"


def test_verify_detects_corruption(repo: Path, run) -> None:
    write(repo / "d" / "a", b"payload")
    run(repo, "track", "d")
    run(repo, "verify")
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "gitstore" / "objects"
    obj = next(p for p in cache.rglob("*") if p.is_file())
    obj.chmod(0o644)
    obj.write_bytes(b"rotten")
    proc = run(repo, "verify", ok=False)
    assert obj.name in proc.stderr
    # every line is gitstore's, and the way on is named
    assert all(line.startswith(("gitstore: ", "hint: ")) for line in proc.stderr.splitlines())
    assert f"gitstore: corrupt in the cache: {obj.name} (d/a)" in proc.stderr
    assert "hint: run the same `gitstore verify` with `--repair`" in proc.stderr


def test_hardlink_checkout_and_exec_fallback(repo: Path, run) -> None:
    write(repo / "d" / "plain", b"plain")
    write(repo / "d" / "tool", b"#!/bin/sh\n", 0o755)
    run(repo, "track", "d")
    shutil.rmtree(repo / "d")
    run(repo, "checkout", "--link", "hardlink,copy")
    assert (repo / "d" / "plain").stat().st_nlink == 2
    assert (repo / "d" / "tool").stat().st_nlink == 1
    assert os.access(repo / "d" / "tool", os.X_OK)


@pytest.mark.parametrize(
    "args,needle",
    [
        (["track", "../outside"], "outside the repository"),
        (["track", "nope"], "does not exist"),
        (
            ["checkout", "no-such-rev"],
            "no-such-rev is not a tracked path in the working tree, nor a revision git knows",
        ),
        (
            ["fetch", "mian"],
            "mian is not a tracked path in the working tree, nor a revision git knows",
        ),
        (["fetch", "HEAD~99"], "HEAD~99 is not a tracked path"),
        (["fetch", "--", "nopath"], "nopath is not a tracked path"),
        (["pull", "no-such-rev"], "no-such-rev is not a tracked path"),
        (["checkout", "d/nosuch"], "d/nosuch is not a file or folder of the tracked path d"),
        (["fetch", "d/nosuch"], "d/nosuch is not a file or folder of a tracked path"),
        (["ls", "deadbeef99"], "deadbeef99"),
        (["cat", "not/tracked"], "not a tracked file"),
        (["checkout", "--link", ""], "no link mode given"),
        (["status", "nosuch"], "nosuch is not a tracked path"),
        (["checkout", "--link", "bogus"], "unknown link mode 'bogus'"),
    ],
)
def test_bad_input_one_line(repo: Path, run, args: list[str], needle: str) -> None:
    write(repo / "d" / "a", b"a")
    run(repo, "track", "d")
    proc = run(repo, *args, ok=False)
    assert needle in proc.stderr
    lines = [x for x in proc.stderr.splitlines() if not x.startswith(("hint:", "gitstore: note:"))]
    assert len(lines) == 1, proc.stderr


def test_a_tag_of_a_tree_is_named_as_such(repo: Path, run) -> None:
    """A revision that names a tree (or a blob) is known to git: the error says what it
    names, not that git does not know it (docs/hooks.md: revisions are commits)."""
    write(repo / "d" / "a", b"a")
    run(repo, "track", "d")
    git(repo, "commit", "-qm", "one")
    git(repo, "tag", "treetag", "HEAD^{tree}")
    proc = run(repo, "checkout", "treetag", ok=False)
    assert (
        "treetag is not a tracked path in the working tree, and as a revision it names a tree,"
        " not a commit" in proc.stderr
    )
    proc = run(repo, "ls", "treetag", ok=False)
    assert "revision 'treetag' names a tree, not a commit" in proc.stderr


def test_a_manifest_rewritten_in_the_same_second_is_staged(repo: Path, run) -> None:
    """Each track's manifest reaches git's index, however quick the commits.

    A manifest dated back before ``git add`` (to spare git's racy-clean
    re-hash) slipped past git when the next one had the same size in the same
    second: with ``core.checkStat=minimal`` (or a reused inode) git took it for
    unchanged and ``git commit`` said "nothing to commit" (CI of stop 33).
    """
    git(repo, "config", "core.checkStat", "minimal")
    for i in range(4):
        write(repo / "d" / "a", b"version %d\n" % i)
        run(repo, "track", "d")
        git(repo, "commit", "-qm", f"v{i}")
        assert run(repo, "cat", "d/a", "--rev", "HEAD").stdout == f"version {i}\n"


def test_a_manifest_read_while_git_rewrites_it_is_read_again(
    repo: Path, run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git writes a manifest in place; a status (an IDE's poll) that reads it cut short
    reads it again once its bytes change, rather than calling it invalid YAML."""
    from gitstore.api import Context
    from gitstore.errors import ManifestError

    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(repo.parent / "cache-reread"))
    for i in range(50):
        write(repo / "d" / f"f{i:02d}", f"file {i}".encode())
    run(repo, "track", "d")
    whole = (repo / "d.gitstore").read_bytes()
    ws = Context(repo).workspace
    cut = whole[: len(whole) // 2 + 7]  # what a read in the middle of git's write gets
    assert len(ws.parse_manifest("d.gitstore", cut).entries) == 50  # the file is whole now
    (repo / "d.gitstore").write_bytes(cut)  # a manifest that stays cut short is still named
    with pytest.raises(ManifestError):
        ws.parse_manifest("d.gitstore", cut)


def test_quiet_track_prints_no_line_a_manifest(repo: Path, run) -> None:
    """`--help` says -q drops the line per manifest written: track kept printing it."""
    write(repo / "d" / "a", b"a")
    write(repo / "m.bin", b"m")
    assert run(repo, "-q", "track", "d", "m.bin").stdout == ""
    assert (repo / "d.gitstore").is_file() and (repo / "m.bin.gitstore").is_file()
    assert run(repo, "-q", "untrack", "d").stdout == ""  # twenty-third pass: untrack too
    assert not (repo / "d.gitstore").exists()


def test_not_a_repository(tmp_path: Path, run) -> None:
    proc = run(tmp_path, "status", ok=False)
    assert f"{tmp_path} is not inside a git repository" in proc.stderr  # named, not "."


def test_nested_tracked_paths_refused(repo: Path, run) -> None:
    write(repo / "d" / "sub" / "a", b"a")
    run(repo, "track", "d")
    proc = run(repo, "track", "d/sub", ok=False)
    assert "inside the tracked path d" in proc.stderr
    assert (
        "hint: `gitstore track d` (from the repository's top) records every change" in proc.stderr
    )
    write(repo / "e" / "inner" / "a", b"a")
    run(repo, "track", "e/inner")
    proc = run(repo, "track", "e", ok=False)
    assert "e contains the tracked path e/inner" in proc.stderr
    assert "hint: `gitstore untrack e/inner` (from the repository's top) first" in proc.stderr
    (repo / "afile").write_bytes(b"x")
    proc = run(repo, "remote", "add", "broken", str(repo / "afile"), ok=False)
    assert f"the remote folder {repo / 'afile'} is a file, not a folder" in proc.stderr
    proc = run(repo, "diff", "--limit", "-1", ok=False)
    assert proc.returncode == 2


@pytest.mark.parametrize(
    "bad_entry,needle",
    [
        ("{path: ../escape, blake3: %s, size: 1}", ".."),
        ("{path: /abs, blake3: %s, size: 1}", "abs"),
        ("{path: .git/config, blake3: %s, size: 1}", ".git"),
        ("{path: a, blake3: NOTHEX, size: 1}", "NOTHEX"),
    ],
)
def test_hostile_manifest_rejected_before_writing(
    repo: Path, run, bad_entry: str, needle: str
) -> None:
    oid = "a" * 64
    entry = bad_entry % oid if "%s" in bad_entry else bad_entry
    write(
        repo / "d.gitstore",
        "# gitstore manifest: run `gitstore checkout` to materialise, `gitstore status` to compare\n"
        f"gitstore: 1\nkind: dir\nsize: 1\nfiles: 1\nentries:\n- {entry}\n",
    )
    proc = run(repo, "checkout", ok=False)
    assert "d.gitstore" in proc.stderr and needle in proc.stderr
    assert not (repo / "d").exists()
    assert not (repo / "escape").exists()


def _allocated(path: Path) -> int:
    return path.stat().st_blocks * 512


def _objects(repo: Path) -> list[Path]:
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "gitstore" / "objects"
    return [p for p in cache.rglob("*") if p.is_file()]


def test_large_sparse_file(repo: Path, run) -> None:
    """A file over 4 GiB, almost all hole: round trip, and it stays sparse in the cache and on checkout."""
    big = repo / "big.bin"
    size = (4 << 30) + 4097
    with open(big, "wb") as f:
        f.truncate(size)
        f.seek(size - 5)
        f.write(b"tail!")
    holes = _allocated(big) < (1 << 20)
    if not holes and shutil.disk_usage(repo).free < 3 * size:
        pytest.skip("no sparse files here, and not enough free disk for 4 GiB three times")
    run(repo, "track", "big.bin")
    git(repo, "commit", "-qm", "big")
    (obj,) = [p for p in _objects(repo) if p.stat().st_size == size]
    big.unlink()
    run(repo, "checkout")
    assert big.stat().st_size == size
    with open(big, "rb") as f:
        f.seek(size - 5)
        assert f.read() == b"tail!"
    if holes:  # as `cp --sparse=auto` would: no 4 GiB of zeros written twice
        assert _allocated(obj) < (1 << 20)
        assert _allocated(big) < (1 << 20)


def test_sparse_file_keeps_its_holes_and_bytes(repo: Path, run) -> None:
    """Holes at the start, between data and at the end; data in unaligned pieces; zeros written
    as data inside a block of data stay data. Dense files of zeros stay dense."""
    f = repo / "d" / "disk.img"
    f.parent.mkdir()
    size = 9 << 20
    pieces = {(1 << 20) + 100: os.urandom(5000), (6 << 20) - 3: b"\0" * 4096 + b"x" * 7}
    with open(f, "wb") as out:
        out.truncate(size)
        for offset, data in pieces.items():
            out.seek(offset)
            out.write(data)
    dense = repo / "d" / "zeros.bin"
    dense.write_bytes(bytes(2 << 20))
    if _allocated(f) > (1 << 20):
        pytest.skip("this filesystem has no sparse files")
    expect = f.read_bytes()
    run(repo, "track", "d")
    git(repo, "commit", "-qm", "sparse")
    by_size = {p.stat().st_size: p for p in _objects(repo)}
    assert by_size[size].read_bytes() == expect
    assert _allocated(by_size[size]) <= 64 << 10
    assert _allocated(by_size[2 << 20]) >= 2 << 20  # not sparse to begin with: copied as it is
    for link in ("copy", "symlink"):
        shutil.rmtree(repo / "d")
        run(repo, "checkout", "--link", link)
        assert f.read_bytes() == expect
        assert dense.read_bytes() == bytes(2 << 20)
        assert _allocated(f) <= 64 << 10
    st = json.loads(run(repo, "status", "--json").stdout)
    assert [r["state"] for r in st] == ["unchanged"]


def test_status_after_a_clean_status_still_sees_changes(repo: Path, run) -> None:
    """A recorded clean comparison never hides a later edit, even one of the same size."""
    write(repo / "d" / "a", b"aaaa")
    write(repo / "d" / "b", b"bbbb")
    run(repo, "track", "d")
    old = os.stat(repo / "d" / "a").st_mtime_ns - 10**9
    for name in ("a", "b"):
        os.utime(repo / "d" / name, ns=(old, old))
    for _ in range(2):  # the second status is answered from the clean record
        assert json.loads(run(repo, "status", "--json").stdout)[0]["state"] == "unchanged"
    write(repo / "d" / "a", b"AAAA")
    os.utime(repo / "d" / "a", ns=(old, old))  # same size, same mtime: ctime/inode still differ
    status = json.loads(run(repo, "status", "--json").stdout)[0]
    assert status["state"] == "modified" and status["modified"] == ["d/a"]


def test_many_small_files_tracked_on_two_threads_share_objects_safely(repo: Path, run) -> None:
    """Enough small files for track to split them over two threads; many share
    their content, so both threads make the same folders and objects at once."""
    data = repo / "many"
    for i in range(1500):
        write(
            data / f"d{i % 7}" / f"f{i:04}.bin",
            f"payload {i % 300}".encode(),
            0o755 if i % 11 == 0 else None,
        )
    expected = tree_bytes(data)
    run(repo, "track", "many")
    git(repo, "commit", "-qm", "many")
    entries = json.loads(run(repo, "ls", "--json").stdout)
    assert len(entries) == 1500
    assert len({e["oid"] for e in entries}) == 300
    run(repo, "verify", "--complete")
    shutil.rmtree(data)
    run(repo, "checkout")
    assert tree_bytes(data) == expected


def _refused(run, repo: Path, *args: str) -> str:
    """The one stderr line of a refused `gitstore ARGS`; nothing may have been written."""
    before = sorted(p.name for p in repo.iterdir())
    proc = run(repo, *args, ok=False)
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("gitstore: note:")]
    if len(lines) == 2 and lines[1].startswith("hint: `gitstore "):  # the rule: plus at most a hint
        lines.pop()  # naming the command to run
    assert len(lines) == 1 and lines[0].startswith("gitstore: error: "), proc.stderr
    assert sorted(p.name for p in repo.iterdir()) == before, "a refused track wrote something"
    return lines[0]


def test_track_refuses_what_gitignore_or_a_manifest_cannot_hold(repo: Path, run) -> None:
    write(repo / "new\nline", b"x")  # .gitignore has no way to list it
    assert "line break" in _refused(run, repo, "track", "new\nline")
    odd = os.fsdecode(b"d\xff")
    write(repo / odd / "a", b"y")
    assert "d\\xff: file names that are not valid UTF-8" in _refused(run, repo, "track", odd)
    for args in (("log", odd), ("diff", "HEAD", "HEAD", odd), ("checkout", odd), ("pull", odd)):
        refused = run(repo, *args, ok=False).stderr  # QA pass 7: tracebacks
        assert "d\\xff: file names that are not valid UTF-8" in refused, args
    os.mkfifo(repo / "pipe")  # reading it would wait forever
    assert "only regular files and folders" in _refused(run, repo, "track", "pipe")
    write(repo / ".gitignore", "*.log\n")
    assert "own configuration" in _refused(run, repo, "track", ".gitignore")
    assert "repository's root" in _refused(run, repo, "track", ".")


def test_track_checks_every_path_before_writing_anything(repo: Path, run) -> None:
    write(repo / "ok" / "f", b"1")
    write(repo / "bad" / "f", b"2")
    os.symlink("f", repo / "bad" / "l")
    assert "bad/l: symlinks cannot be tracked" in _refused(run, repo, "track", "ok", "bad")
    write(repo / "odd" / "x\\y", b"3")
    assert "odd/x\\y: the path contains a backslash" in _refused(run, repo, "track", "ok", "odd")
    assert "ok/f is inside ok" in _refused(run, repo, "track", "ok", "ok/f")
    run(repo, "track", "ok")  # the good path alone is fine


def test_status_skips_a_committed_manifest_deleted_from_disk(repo: Path, run) -> None:
    write(repo / "a", b"a")
    write(repo / "b", b"b")
    run(repo, "track", "a", "b")
    git(repo, "commit", "-qm", "ab")
    (repo / "a.gitstore").unlink()
    out = json.loads(run(repo, "status", "--json").stdout)
    assert [(s["path"], s["state"]) for s in out] == [("b", "unchanged")]


def test_adopting_a_file_with_staged_changes_is_refused_before_anything_is_written(
    repo: Path, run
) -> None:
    write(repo / "f", b"1")
    git(repo, "add", "f")
    git(repo, "commit", "-qm", "f")
    write(repo / "f", b"2")
    git(repo, "add", "f")
    write(repo / "f", b"3")  # git rm --cached refuses: staged content is in neither
    before = sorted(p.name for p in repo.iterdir())
    proc = run(repo, "track", "f", ok=False)
    assert "cannot take f out of git's index" in proc.stderr, proc.stderr
    assert "git restore --staged" in proc.stderr
    assert sorted(p.name for p in repo.iterdir()) == before
    git(repo, "restore", "--staged", "f")
    assert "removed from git's index" in run(repo, "track", "f").stdout


def test_an_empty_tracked_folder_is_unchanged_and_checked_out(repo: Path, run) -> None:
    (repo / "empty").mkdir()
    run(repo, "track", "empty")
    state = json.loads(run(repo, "status", "--json").stdout)
    assert [(s["path"], s["state"]) for s in state] == [("empty", "unchanged")]
    (repo / "empty").rmdir()
    state = json.loads(run(repo, "status", "--json").stdout)
    assert [(s["path"], s["state"]) for s in state] == [("empty", "not_materialised")]
    run(repo, "checkout")
    assert (repo / "empty").is_dir()
    state = json.loads(run(repo, "status", "--json").stdout)
    assert [(s["path"], s["state"]) for s in state] == [("empty", "unchanged")]


def test_retrack_keeps_unknown_keys(repo: Path, run) -> None:
    """DESIGN.md: unknown extra keys are preserved on rewrite (forward compatibility)."""
    write(repo / "d" / "a", b"1")
    write(repo / "d" / "b", b"22")
    run(repo, "track", "d")
    manifest = repo / "d.gitstore"
    text = manifest.read_text().replace("size: 1}", "size: 1, note: hi}")
    manifest.write_text(text + "origin: lab\n")
    assert json.loads(run(repo, "status", "--json").stdout)[0]["state"] == "unchanged"
    run(repo, "track", "d")
    kept = manifest.read_text()
    assert "size: 1, note: hi}" in kept and "origin: lab\n" in kept, kept
    write(repo / "d" / "b", b"333")  # a change elsewhere keeps them too
    run(repo, "track", "d")
    again = manifest.read_text()
    assert "size: 1, note: hi}" in again and "origin: lab\n" in again and "size: 3}" in again
    run(repo, "track", "d")
    assert manifest.read_text() == again  # byte-identical when nothing changed


def test_init_does_not_say_the_hooks_it_installs_are_missing(repo: Path, run) -> None:
    proc = run(repo, "init")
    assert "no gitstore hooks" not in proc.stderr, proc.stderr
    assert "installed git hooks" in proc.stdout


def test_status_reports_every_path_when_one_manifest_is_invalid(repo: Path, run) -> None:
    write(repo / "e" / "a", b"1")
    run(repo, "track", "e")
    write(repo / "y.gitstore", "x\n")  # a user's file that happens to end in .gitstore
    proc = run(repo, "status", "--json", ok=False)
    states = {s["path"]: s["state"] for s in json.loads(proc.stdout)}
    assert states == {"e": "unchanged", "y": "invalid"}, states
    errors = [line for line in proc.stderr.splitlines() if line.startswith("gitstore: error:")]
    assert len(errors) == 1 and "y.gitstore" in errors[0], proc.stderr
    text = run(repo, "status", ok=False).stdout
    assert "unchanged         e" in text and "invalid           y" in text


def test_checkout_of_part_of_a_folder_at_a_revision_says_the_manifest_was_kept(
    repo: Path, run
) -> None:
    write(repo / "d" / "a", b"a1")
    write(repo / "d" / "s" / "x", b"s1")
    run(repo, "track", "d")
    git(repo, "commit", "-qm", "1")
    write(repo / "d" / "s" / "x", b"s2")
    run(repo, "track", "d")
    git(repo, "commit", "-qm", "2")
    proc = run(repo, "checkout", "HEAD~1", "d/s")
    assert (repo / "d" / "s" / "x").read_bytes() == b"s1"
    assert "only part of d is now as at HEAD~1; d.gitstore was left as it was" in proc.stderr
    assert json.loads(run(repo, "status", "--json").stdout)[0]["state"] == "modified"
    run(repo, "checkout", "d")
    assert (repo / "d" / "s" / "x").read_bytes() == b"s2"
    # at HEAD itself, the manifest kept is HEAD's: nothing to say
    proc = run(repo / "d" / "s", "checkout", "HEAD", "x")
    assert "only part of" not in proc.stderr and "differs from HEAD" not in proc.stderr
    # nothing under d changed (d/a is the same at HEAD~1): nothing to say either
    proc = run(repo, "checkout", "HEAD~1", "d/a")
    assert "only part of" not in proc.stderr
    # from a subfolder, the command to run is given as typed there
    (repo / "sub").mkdir()
    proc = run(repo / "sub", "checkout", "HEAD~1", "../d/s")
    assert "(`gitstore checkout ../d` returns it)" in proc.stderr


def test_a_path_beyond_a_symlinked_folder_is_refused(repo: Path, run) -> None:
    # as git does ("beyond a symbolic link"): rl/r is not silently taken as real/r
    write(repo / "real" / "r" / "a", b"a")
    os.symlink("real", repo / "rl")
    proc = run(repo, "track", "rl/r", ok=False)
    assert "rl/r is beyond a symbolic link (rl)" in proc.stderr
    assert not (repo / "real" / "r.gitstore").exists()
    run(repo, "track", "real/r")
    run(repo / "rl", "status")  # a working folder reached through the link is fine


def test_checkout_head_returns_after_a_path_was_untracked_in_between(repo: Path, run) -> None:
    write(repo / "d" / "a", b"a")
    run(repo, "track", "d")
    git(repo, "commit", "-qm", "track d")
    run(repo, "untrack", "d")
    git(repo, "commit", "-qm", "untrack d")
    clean = git(repo, "status", "--porcelain").stdout
    run(repo, "checkout", "HEAD~1")
    assert (repo / "d.gitstore").exists()
    back = run(repo, "checkout", "HEAD")
    assert "removed d.gitstore" in back.stdout
    assert not (repo / "d.gitstore").exists()
    assert (repo / "d" / "a").read_bytes() == b"a"  # the files stay, as untrack leaves them
    assert git(repo, "status", "--porcelain").stdout == clean
    # a brought manifest the user adopted (git add) or changed is theirs: kept
    run(repo, "checkout", "HEAD~1")
    git(repo, "add", "d.gitstore")
    run(repo, "checkout", "HEAD")
    assert (repo / "d.gitstore").exists()
    git(repo, "rm", "-q", "--cached", "d.gitstore")
    (repo / "d.gitstore").unlink()
    run(repo, "checkout", "HEAD~1")
    write(repo / "d" / "b", b"b")
    run(repo, "track", "d")
    run(repo, "checkout", "HEAD")
    assert (repo / "d.gitstore").exists()


def test_checkout_head_takes_away_the_files_a_checkout_of_an_old_revision_brought(
    repo: Path, run
) -> None:
    """QA pass 14: untrack d and delete its files, commit; `checkout HEAD~1` brought d's
    manifest and files, and `checkout HEAD` took the manifest and its .gitignore line
    away but left the files, untracked: one `git add -A` from going into git."""
    write(repo / "d" / "a", b"a")
    write(repo / "e.bin", b"e")
    run(repo, "track", "d", "e.bin")
    git(repo, "commit", "-qm", "track d, e.bin")
    run(repo, "untrack", "d", "e.bin")
    shutil.rmtree(repo / "d")
    (repo / "e.bin").unlink()
    git(repo, "commit", "-qm", "untrack and delete d, e.bin")
    clean = git(repo, "status", "--porcelain", "--untracked-files=all").stdout
    run(repo, "checkout", "HEAD~1")
    assert (repo / "d" / "a").read_bytes() == b"a" and (repo / "e.bin").read_bytes() == b"e"
    back = run(repo, "checkout", "HEAD")
    assert "2 deleted" in back.stdout
    assert not (repo / "d").exists() and not (repo / "e.bin").exists()
    assert git(repo, "status", "--porcelain", "--untracked-files=all").stdout == clean
    # an edit made meanwhile is the user's: the files stay (the manifest goes)
    run(repo, "checkout", "HEAD~1")
    write(repo / "d" / "a", b"edited")
    run(repo, "checkout", "HEAD")
    assert (repo / "d" / "a").read_bytes() == b"edited"
    assert not (repo / "e.bin").exists()


@pytest.mark.parametrize("pre", [(), ("-v",)])
def test_checkout_rev_names_the_paths_it_leaves_that_rev_lacks(
    repo: Path, run, pre: tuple[str, ...]
) -> None:
    """QA pass 14: `checkout HEAD~1` left new.bin (tracked only since HEAD) without a word,
    and `status` called it unchanged: "the data as it was one commit ago" plus new.bin."""
    write(repo / "keep.bin", b"a")
    run(repo, "track", "keep.bin")
    git(repo, "commit", "-qm", "keep")
    write(repo / "new.bin", b"new")
    run(repo, "track", "new.bin")
    git(repo, "commit", "-qm", "new")
    out = run(repo, *pre, "checkout", "HEAD~1")
    assert "new.bin is tracked here but not at HEAD~1: left as it is" in out.stderr
    assert (repo / "new.bin").read_bytes() == b"new"  # as git checkout REV -- . leaves it
    assert "new.bin" not in run(repo, *pre, "checkout", "HEAD~1", "keep.bin").stderr
    assert "not at" not in run(repo, *pre, "checkout", "HEAD").stderr


def test_fetch_in_a_bare_clone_takes_revisions_only(repo: Path, run, tmp_path: Path) -> None:
    write(repo / "d" / "a", b"a")
    run(repo, "track", "d")
    git(repo, "commit", "-qm", "d")
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    proc = run(bare, "fetch", "mastr", ok=False)
    assert "mastr is not a revision git knows, and a bare repository has no paths" in proc.stderr
    assert "fetched 0 objects" in run(bare, "fetch", "HEAD").stdout


def test_suggested_commands_are_quoted(repo: Path, run) -> None:
    write(repo / "my data" / "a", b"a")
    run(repo, "track", "my data")
    out = run(repo, "untrack", "my data").stdout
    assert "`git add 'my data'` to keep them in git instead" in out


def test_untrack_never_deletes_a_file_that_is_not_a_manifest(repo: Path, run) -> None:
    """QA pass 7: a user's own `d/inner.gitstore` beside `d/inner/` made `track d` suggest
    `untrack d/inner`, which deleted the file (never in git, nor in the cache)."""
    write(repo / "d" / "a", b"a")
    write(repo / "d" / "inner" / "x", b"x")
    write(repo / "d" / "inner.gitstore", b"some user data\n")
    assert "untrack d/inner" in run(repo, "track", "d", ok=False).stderr
    refused = run(repo, "untrack", "d/inner", ok=False).stderr
    assert "d/inner.gitstore is not a gitstore manifest" in refused
    assert (repo / "d" / "inner.gitstore").read_bytes() == b"some user data\n"


def test_track_stages_only_its_own_gitignore_lines(repo: Path, run) -> None:
    """Twenty-third QA pass: track staged the whole .gitignore, the user's own unstaged
    lines with it (pre-commit already staged only its own)."""
    write(repo / ".gitignore", "/build/\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-qm", "ignore build")
    with open(repo / ".gitignore", "a") as f:
        f.write("*.log\n")  # the user's, not staged
    write(repo / "d" / "a", b"a")
    run(repo, "track", "d")
    assert git(repo, "show", ":.gitignore").stdout == "/build/\n/d/\n"
    assert (repo / ".gitignore").read_text() == "/build/\n*.log\n/d/\n"
    run(repo, "track", "d")  # a re-track adds no line, and stages none of the user's
    assert git(repo, "show", ":.gitignore").stdout == "/build/\n/d/\n"
