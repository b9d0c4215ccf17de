"""The history module and the Python API in process, on real git repositories."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import blake3
import pytest

import gitstore
from gitstore import api, history
from gitstore import manifest as mf
from gitstore import manifestdiff as md
from gitstore.errors import GitstoreError, ManifestError, PathError, RevisionError
from tests.conftest import git, write


def oid(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def commit(repo: Path, message: str, *paths: str) -> str:
    ctx = api.Context(repo)
    api.track(ctx, paths)
    git(repo, "commit", "-qm", message)
    git(repo, "tag", message)
    return git(repo, "rev-parse", "HEAD").stdout.strip()


@pytest.fixture
def two(repo: Path) -> Path:
    write(repo / "data" / "x" / "a.txt", b"alpha")
    write(repo / "data" / "x" / "b.txt", b"beta")
    write(repo / "data" / "y.bin", b"why", 0o755)
    write(repo / "model.pt", b"weights")
    commit(repo, "v1", "data", "model.pt")
    write(repo / "data" / "x" / "a.txt", b"alpha 2")
    write(repo / "model.pt", b"weights 2")
    commit(repo, "v2", "data", "model.pt")
    return repo


def test_module_exports_are_lazy() -> None:
    assert set(gitstore.__all__) >= {"open", "read", "get", "Repo", "errors"}
    assert gitstore.errors.GitstoreError is GitstoreError
    assert callable(gitstore.read) and isinstance(gitstore.Repo, type)
    with pytest.raises(AttributeError):
        gitstore.nothing_here  # noqa: B018


def test_read_open_get_at_revisions(two: Path) -> None:
    assert gitstore.read("data/x/a.txt", rev="v1", repo=two) == b"alpha"
    assert gitstore.read("data/x/a.txt", repo=two) == b"alpha 2"
    assert gitstore.read(two / "model.pt", "v1", repo=two) == b"weights"  # absolute path
    assert gitstore.read("./data/x/b.txt", "HEAD~1", repo=two / "data") == b"beta"
    with gitstore.open("model.pt", rev="v2", repo=two) as f:
        assert f.read() == b"weights 2"
    path = gitstore.get("model.pt", rev="v1", repo=two)
    assert path.read_bytes() == b"weights"
    assert stat.S_IMODE(path.stat().st_mode) & 0o222 == 0


def test_get_folder_view(two: Path) -> None:
    view = gitstore.get("data", rev="v1", repo=two)
    assert view.name == "data" and view.parent.parent.name == "views"
    files = {p.relative_to(view).as_posix(): p for p in view.rglob("*") if p.is_file()}
    assert {k: p.read_bytes() for k, p in files.items()} == {
        "x/a.txt": b"alpha",
        "x/b.txt": b"beta",
        "y.bin": b"why",
    }
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o222 == 0 for p in files.values())
    assert files["y.bin"].stat().st_mode & 0o100
    marker = view.parent / ".gitstore-view"
    old = time.time() - 3600
    os.utime(marker, (old, old))
    assert gitstore.get("data", rev="v1", repo=two) == view  # reused, and marked as used
    assert marker.stat().st_mtime > old + 1800
    assert gitstore.get("data", rev="v2", repo=two) != view
    sub = gitstore.get("data/x", rev="v1", repo=two)
    assert sorted(p.name for p in sub.iterdir()) == ["a.txt", "b.txt"]


def test_errors_match_the_cli(two: Path) -> None:
    with pytest.raises(RevisionError, match="unknown revision 'v9'"):
        gitstore.read("model.pt", rev="v9", repo=two)
    with pytest.raises(PathError, match="nope is not a tracked file or folder at v1"):
        gitstore.read("nope", rev="v1", repo=two)
    with pytest.raises(PathError, match=r"data/x/c.txt is not in data.gitstore"):
        gitstore.read("data/x/c.txt", repo=two)
    with pytest.raises(PathError, match="is a tracked folder, not a file"):
        gitstore.read("data", repo=two)
    with pytest.raises(PathError, match="outside the repository"):
        gitstore.read(two.parent / "elsewhere", repo=two)
    with pytest.raises(PathError):
        gitstore.read("../x", repo=two)
    with pytest.raises(ValueError, match="'rb'"):
        gitstore.open("model.pt", repo=two, mode="r")
    with pytest.raises(gitstore.errors.NotARepositoryError):
        gitstore.Repo(two.parent)


def test_missing_object_without_a_remote(two: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "other-cache"))
    with pytest.raises(GitstoreError, match="no remote"):
        gitstore.read("model.pt", repo=two)


def test_repo_verbs_return_typed_objects(two: Path) -> None:
    r = gitstore.Repo(two)
    assert r.root == two.resolve() or r.root == two
    files = r.ls("v1")
    assert [f.path for f in files] == ["data/x/a.txt", "data/x/b.txt", "data/y.bin", "model.pt"]
    assert isinstance(files[0], api.TrackedFile)
    d = r.diff("v1", "v2")
    assert isinstance(d, history.Diff)
    assert [type(m) for m in d.modified] == [md.Modified, md.Modified]
    assert [m.path for m in d.modified] == ["data/x/a.txt", "model.pt"]
    assert d.to_json()["modified"][1]["new_oid"] == oid(b"weights 2")
    assert [p.path for p in r.diff("v1", "v2", paths=["data/x"]).paths] == ["data"]
    log = r.log("data/x/a.txt")
    assert [e.message for e in log] == ["v2", "v1"] and isinstance(log[0], history.LogEntry)
    assert log[0].oid == oid(b"alpha 2") and log[0].size == 7
    assert [e.message for e in r.log("data/x/b.txt")] == ["v1"]
    folder = r.log("data/x")  # a folder inside a tracked folder
    assert [(e.message, e.oid, e.size) for e in folder] == [("v2", None, 11), ("v1", None, 9)]
    assert [e.message for e in r.log("data", n=1)] == ["v2"]
    assert {s.state for s in r.status()} == {"unchanged"}
    write(two / "data" / "x" / "b.txt", b"beta, edited")
    assert [s.modified for s in r.status(["data"])] == [["data/x/b.txt"]]
    worktree = r.diff()
    assert [m.path for m in worktree.modified] == ["data/x/b.txt"]
    assert worktree.modified[0].new_oid == oid(b"beta, edited")
    result = r.checkout("v1", ["data"], force=True)
    assert (two / "data" / "x" / "a.txt").read_bytes() == b"alpha"
    assert "data/x/a.txt" in result.written


def test_clone_never_materialised(two: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(two), str(clone))
    assert not (clone / "data").exists()
    r = gitstore.Repo(clone)
    assert r.read("data/x/a.txt") == b"alpha 2"  # the working tree's manifest
    assert r.read("data/x/a.txt", "v1") == b"alpha"  # through git
    assert r.diff("v1").modified[0].path == "data/x/a.txt"  # manifests stand in for files
    assert not r.diff().paths


def test_conflicted_manifest_is_a_clear_error(two: Path) -> None:
    path = two / "model.pt.gitstore"
    path.write_text(path.read_text() + "<<<<<<< ours\n=======\n>>>>>>> theirs\n")
    with pytest.raises(ManifestError, match="merge conflict markers"):
        gitstore.read("model.pt", repo=two)
    with pytest.raises(ManifestError, match="merge conflict markers"):
        gitstore.Repo(two).diff()


def _entries(n: int, tag: str = "") -> list[mf.Entry]:
    return [mf.Entry(f"f{i:04}", oid(f"{i}{tag}".encode()), i) for i in range(n)]


def test_markdown_truncates_and_escapes() -> None:
    changes = md.diff_entries([], _entries(30), prefix="d/")
    d = history.Diff(
        None, None, "a|b", "working tree", (history.PathChanges("d", None, "dir", changes),)
    )
    text = history.format_markdown(d, limit=10)
    assert "### gitstore diff `a\\|b` → `working tree`" in text
    assert "| `d` (added) | 30 | 0 | 0 | 0 | +435 B |" in text
    assert text.count("\n- added ") == 10 and "- … and 20 more" in text
    assert "<details><summary>30 changed files</summary>" in text
    odd = md.diff_entries([], [mf.Entry("a`b", oid(b"x"), 1)], prefix="d/")
    d2 = history.Diff(None, None, "x", "y", (history.PathChanges("d", "dir", "dir", odd),))
    assert "- added `` d/a`b `` (1 B)" in history.format_markdown(d2)
    # a pipe is escaped in a table cell only: GitHub shows the backslash in a list item
    piped = md.diff_entries([], [mf.Entry("a|b", oid(b"x"), 1)], prefix="d/")
    d3 = history.Diff(None, None, "x", "y", (history.PathChanges("d|e", "dir", "dir", piped),))
    text = history.format_markdown(d3)
    assert "- added `d/a|b` (1 B)" in text and "| `d\\|e` |" in text
    empty = history.Diff(None, None, "x", "y", ())
    assert "No changes to tracked data." in history.format_markdown(empty)
    assert history.format_stat(empty) == "" and history.format_text(empty) == ""


def test_human_size() -> None:
    assert history.human_size(0) == "0 B"
    assert history.human_size(1536) == "1.5 KiB"
    assert history.human_size(-(3 << 20), signed=True) == "-3.0 MiB"
    assert history.human_size(0, signed=True) == "±0 B"


def test_normalise_path() -> None:
    assert history.normalise_path("./data/x/") == "data/x"
    assert history.normalise_path("data.gitstore") == "data"
    for bad in ("", ".", "..", "../a", "a/../../b"):
        with pytest.raises(PathError):
            history.normalise_path(bad)
