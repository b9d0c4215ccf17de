"""gitrepo against repositories built by the real git binary."""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from gitstore.errors import GitstoreError, NotARepositoryError, RevisionError, UsageError
from gitstore.gitrepo import CommitInfo, GitRepo, parse_when

Git = Callable[..., str]


@pytest.fixture(autouse=True)
def git_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("GIT_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Ada Lovelace")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "ada@example.org")


def run_git(cwd: Path, *args: str, date: str | None = None, input: bytes | None = None) -> str:
    env = dict(os.environ)
    if date is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=env, input=input, capture_output=True, check=True
    )
    return proc.stdout.decode().strip()


def write(root: Path, path: str, text: str) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def commit(root: Path, message: str, date: str, files: dict[str, str | None]) -> str:
    for path, text in files.items():
        if text is None:
            run_git(root, "rm", "-q", "--", path)
        else:
            write(root, path, text)
            run_git(root, "add", "-f", "--", path)
    run_git(root, "commit", "-q", "--allow-empty", "-m", message, date=date)
    return run_git(root, "rev-parse", "HEAD")


def init(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    run_git(path, "init", "-q", "-b", "main")
    return path


class History:
    """main: c1 - c2 - c3 ----- m   (m merges feature: c2 - f1 - f2)."""

    def __init__(self, root: Path) -> None:
        self.root = init(root)
        self.c1 = commit(
            root,
            "first\n\nbody",
            "2026-01-10T10:00:00+00:00",
            {
                "README": "hi",
                "data/a.gitstore": "a1",
                "models/deep/m.pt.gitstore": "m1",
                "data/images.gitstore": "i1",
            },
        )
        self.c2 = commit(root, "second", "2026-01-20T12:00:00+00:00", {"data/a.gitstore": "a2"})
        run_git(root, "checkout", "-q", "-b", "feature")
        self.f1 = commit(root, "f1", "2026-01-25T12:00:00+00:00", {"feat.gitstore": "f"})
        self.f2 = commit(root, "f2", "2026-02-05T12:00:00+00:00", {"README": "feature"})
        run_git(root, "checkout", "-q", "main")
        self.c3 = commit(
            root,
            "third",
            "2026-01-30T12:00:00+01:00",
            {"models/deep/m.pt.gitstore": None, "other/x.gitstore": "x"},
        )
        run_git(
            root,
            "merge",
            "-q",
            "--no-ff",
            "-m",
            "merge feature",
            "feature",
            date="2026-02-10T12:00:00+00:00",
        )
        self.m = run_git(root, "rev-parse", "HEAD")
        self.repo = GitRepo.discover(root)


@pytest.fixture
def history(tmp_path: Path) -> History:
    return History(tmp_path / "repo")


# ---- discovery -------------------------------------------------------------


def test_discover_from_subfolder(history: History) -> None:
    sub = history.root / "data"
    repo = GitRepo.discover(sub)
    assert repo.root == history.root.resolve()
    assert repo.git_dir == history.root.resolve() / ".git"
    assert repo.common_dir == repo.git_dir
    assert repo.state_dir == repo.git_dir / "gitstore"
    assert repo.common_state_dir == repo.git_dir / "gitstore"
    assert repo.require_worktree() == repo.root


def test_discover_outside_a_repository(tmp_path: Path) -> None:
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    with pytest.raises(NotARepositoryError, match="is not inside a git repository") as info:
        GitRepo.discover(lonely)
    assert info.value.hint == "run `git init` first"


def test_bare_repository(history: History, tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    run_git(tmp_path, "clone", "-q", "--bare", str(history.root), str(bare))
    repo = GitRepo.discover(bare / "refs")
    assert repo.root is None
    assert repo.git_dir == bare.resolve()
    assert repo.resolve("main") == history.m
    assert repo.resolve("main~1") == history.c3
    assert repo.list_manifests("main") == history.repo.list_manifests("main")
    with pytest.raises(NotARepositoryError, match="bare"):
        repo.require_worktree()
    assert repo.git("rev-parse", "--is-bare-repository").stdout.strip() == b"true"


def test_linked_worktree(history: History, tmp_path: Path) -> None:
    wt = tmp_path / "wt"
    run_git(history.root, "worktree", "add", "-q", "-b", "side", str(wt), history.c2)
    repo = GitRepo.discover(wt / "data")
    main_git = history.root.resolve() / ".git"
    assert repo.root == wt.resolve()
    assert repo.git_dir == main_git / "worktrees" / "wt"
    assert repo.common_dir == main_git
    assert repo.state_dir == main_git / "worktrees" / "wt" / "gitstore"
    assert repo.common_state_dir == main_git / "gitstore"
    assert repo.head() == history.c2
    assert repo.current_branch() == "side"
    assert repo.resolve("HEAD") == history.c2
    assert repo.resolve("main") == history.m
    assert repo.hooks_dir() == main_git / "hooks"
    commit(wt, "on side", "2026-03-01T00:00:00+00:00", {"side.gitstore": "s"})
    assert repo.resolve("HEAD@{1}") == history.c2
    assert "side.gitstore" in repo.index_manifests()
    assert history.repo.head() == history.m  # the main worktree's HEAD is its own


# ---- revisions -------------------------------------------------------------


def test_resolve_names(history: History) -> None:
    repo, root = history.repo, history.root
    run_git(root, "tag", "light", history.c1)
    run_git(root, "tag", "-a", "-m", "annotated", "v1", history.c2)
    run_git(root, "update-ref", "refs/remotes/origin/main", history.c3)
    assert repo.resolve(history.c1) == history.c1
    assert repo.resolve(history.c1[:7]) == history.c1
    assert repo.resolve(history.c1[:7].upper()) == history.c1
    assert repo.resolve("main") == history.m
    assert repo.resolve("feature") == history.f2
    assert repo.resolve("refs/heads/feature") == history.f2
    assert repo.resolve("heads/feature") == history.f2
    assert repo.resolve("light") == history.c1
    assert repo.resolve("v1") == history.c2
    assert repo.resolve("v1^{}") == history.c2
    assert repo.resolve("refs/tags/v1") == history.c2
    assert repo.resolve("origin/main") == history.c3
    assert repo.resolve("HEAD") == history.m
    assert repo.resolve("@") == history.m
    assert repo.head() == history.m
    assert repo.current_branch() == "main"


def test_resolve_ancestry(history: History) -> None:
    repo = history.repo
    assert repo.resolve("HEAD~") == history.c3
    assert repo.resolve("HEAD~1") == history.c3
    assert repo.resolve("HEAD^") == history.c3
    assert repo.resolve("HEAD^1") == history.c3
    assert repo.resolve("HEAD~2") == history.c2
    assert repo.resolve("HEAD~3") == history.c1
    assert repo.resolve("HEAD^2") == history.f2
    assert repo.resolve("HEAD^2~1") == history.f1
    assert repo.resolve("HEAD^2^^") == history.c2
    assert repo.resolve("main^2~2~1") == history.c1
    assert repo.resolve("HEAD^0") == history.m
    assert repo.resolve(history.m[:8] + "^2") == history.f2
    for bad in ("HEAD~4", "HEAD^3", "HEAD~3^", "HEAD^{tree}", "HEAD~x", "main@{-1}"):
        with pytest.raises(RevisionError, match="unknown revision"):
            repo.resolve(bad)


def test_resolve_reflog(history: History) -> None:
    repo, root = history.repo, history.root
    # main's reflog: c1 (commit), c2, c3, m
    assert repo.resolve("main@{0}") == history.m
    assert repo.resolve("main@{1}") == history.c3
    assert repo.resolve("main@{3}") == history.c1
    assert repo.resolve("main@{1}~1") == history.c2
    assert repo.resolve("@{2}") == history.c2
    # HEAD's reflog also records the checkouts: ..., f2 (checkout feature work), c2, c3, m
    assert repo.resolve("HEAD@{1}") == history.c3
    assert repo.resolve("HEAD@{2}") == history.c2
    assert repo.resolve("HEAD@{3}") == history.f2
    with pytest.raises(RevisionError, match="only 4 entries"):
        repo.resolve("main@{7}")
    run_git(root, "update-ref", "refs/heads/nolog", history.c1)
    (root / ".git" / "logs" / "refs" / "heads" / "nolog").unlink()
    with pytest.raises(RevisionError, match="no reflog"):
        repo.resolve("nolog@{1}")
    # @{N} follows the checked-out branch, not HEAD
    run_git(root, "checkout", "-q", "feature")
    assert repo.resolve("@{1}") == history.f1
    assert repo.resolve("HEAD@{1}") == history.m


def test_resolve_dates_follow_first_parents(history: History) -> None:
    repo = history.repo
    # f2 (2026-02-05) is in main's history but only through the merge's second parent
    assert repo.resolve("main@{2026-02-06}") == history.c3
    assert repo.resolve("main@{2026-02-10}") == history.m
    assert repo.resolve("main@{2026-01-31}") == history.c3
    assert repo.resolve("main@{2026-01-29}") == history.c2
    assert repo.resolve("main@{2026-01-20}") == history.c2
    assert repo.resolve("main@{2026-01-20T12:00}") == history.c2
    assert repo.resolve("main@{2026-01-20T11:59:59}") == history.c1
    assert repo.resolve("main@{2026-01-20T11:59:59Z}") == history.c1
    assert repo.resolve("main@{2026-01-20T13:00+02:00}") == history.c1
    assert repo.resolve("main@{2026-01-20T13:00:00+01:00}") == history.c2
    assert repo.resolve("feature@{2026-02-06}") == history.f2
    assert repo.resolve("feature@{2026-02-01}") == history.f1
    assert repo.resolve("@{2026-01-31}") == history.c3
    assert repo.resolve("HEAD@{2026-01-31}~1") == history.c2
    with pytest.raises(RevisionError, match="no commit at or before"):
        repo.resolve("main@{2026-01-01}")
    with pytest.raises(RevisionError, match="unsupported selector"):
        repo.resolve("main@{yesterday}")


def test_parse_when() -> None:
    assert parse_when("2026-01-31") == parse_when("2026-01-31T23:59:59Z")
    assert parse_when("2026-01-31T12:00") == 1769860800
    assert parse_when("2026-01-31T12:00:00Z") == 1769860800
    assert parse_when("2026-01-31T13:00:00+01:00") == 1769860800
    assert parse_when("2026-01-31T11:00:00-0100") == 1769860800
    assert parse_when("2026-01-31 12:00:30") == 1769860830
    assert parse_when("2026-01-31T23:59:00+23:59") == parse_when("2026-01-31T00:00:00Z")
    bad_offsets = ("2026-01-31T07:00+25:00", "2026-01-31T07:00+23:60", "2026-01-31T07:00-24:00")
    bad_offsets += ("2026-01-31T07:00+05:99",)  # QA pass 7: a traceback, or taken as +06:39
    for bad in ("yesterday", "2026-13-01", "2026-01-31T25:00", "31/01/2026", "", *bad_offsets):
        with pytest.raises(RevisionError, match="invalid date"):
            parse_when(bad)


def test_unknown_and_ambiguous(history: History) -> None:
    repo = history.repo
    for bad in ("nope", "origin/nope", "0000000", "HEAD..main", "a b", "", "^main", "main:README"):
        with pytest.raises(RevisionError, match="unknown revision"):
            repo.resolve(bad)
        assert repo.try_resolve(bad) is None
    # two blobs with the same 4-digit prefix
    by_prefix: dict[str, bytes] = {}
    for n in range(100_000):
        data = str(n).encode()
        sha = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        if sha[:4] in by_prefix:
            break
        by_prefix[sha[:4]] = data
    for content in (by_prefix[sha[:4]], data):
        run_git(history.root, "hash-object", "-w", "--stdin", input=content)
    with pytest.raises(RevisionError, match="ambiguous"):
        repo.resolve(sha[:4])
    with pytest.raises(RevisionError, match="ambiguous"):
        repo.try_resolve(sha[:4])
    with pytest.raises(RevisionError, match="not a commit"):
        repo.resolve(sha)
    tree = run_git(history.root, "rev-parse", "HEAD^{tree}")
    with pytest.raises(RevisionError, match="not a commit"):
        repo.resolve(tree)


def test_branch_name_beats_short_sha(history: History) -> None:
    run_git(history.root, "branch", history.c1[:6], history.c2)
    assert history.repo.resolve(history.c1[:6]) == history.c2
    assert history.repo.resolve(history.c1[:7]) == history.c1


def test_unborn_branch(tmp_path: Path) -> None:
    repo = GitRepo.discover(init(tmp_path / "empty"))
    assert repo.head() is None
    assert repo.current_branch() == "main"
    assert repo.try_resolve("HEAD") is None
    assert repo.all_ref_commits() == set()


def test_detached_head(history: History) -> None:
    run_git(history.root, "checkout", "-q", "--detach", history.c2)
    assert history.repo.current_branch() is None
    assert history.repo.head() == history.c2


def test_split_revs_and_paths(history: History) -> None:
    repo = history.repo
    assert repo.split_revs_and_paths(["main", "feature", "data/a"]) == (
        ["main", "feature"],
        ["data/a"],
    )
    assert repo.split_revs_and_paths(["main", "feature", "x"], max_revs=1) == (
        ["main"],
        ["feature", "x"],
    )
    assert repo.split_revs_and_paths(["nope", "main"]) == ([], ["nope", "main"])
    assert repo.split_revs_and_paths(["main", "--", "feature"]) == (["main"], ["feature"])
    assert repo.split_revs_and_paths(["--", "main"]) == ([], ["main"])
    assert repo.split_revs_and_paths([]) == ([], [])
    with pytest.raises(RevisionError, match="unknown revision 'nope'"):
        repo.split_revs_and_paths(["nope", "--", "x"])
    with pytest.raises(UsageError, match="at most 1"):
        repo.split_revs_and_paths(["main", "feature", "--"], max_revs=1)
    # a name that is both a revision and a path (or a tracked path) is ambiguous
    write(history.root, "feature", "a file")
    with pytest.raises(RevisionError, match="both a revision and a path") as info:
        repo.split_revs_and_paths(["feature"])
    assert info.value.hint is not None and "--" in info.value.hint
    assert repo.split_revs_and_paths(["feature", "--"]) == (["feature"], [])
    run_git(history.root, "branch", "data/images")
    with pytest.raises(RevisionError, match="both a revision and a path"):
        repo.split_revs_and_paths(["main", "data/images"])


# ---- commits and history ---------------------------------------------------


def test_commit_info(history: History) -> None:
    info = history.repo.commit_info(history.c1)
    assert info == CommitInfo(
        sha=history.c1,
        parents=(),
        author="Ada Lovelace <ada@example.org>",
        date="2026-01-10T10:00:00+00:00",
        timestamp=1768039200,
        subject="first",
    )
    third = history.repo.commit_info(history.c3)
    assert third.date == "2026-01-30T12:00:00+01:00"
    assert third.parents == (history.c2,)
    assert history.repo.commit_info(history.m).parents == (history.c3, history.f2)


def test_walk_first_parent_and_all(history: History) -> None:
    repo = history.repo
    assert [c.sha for c in repo.walk(history.m)] == [history.m, history.c3, history.c2, history.c1]
    everything = [c.sha for c in repo.walk(history.m, first_parent=False)]
    assert everything == [history.m, history.f2, history.c3, history.f1, history.c2, history.c1]
    expected = run_git(history.root, "log", "--format=%H", "main").split()
    assert everything == expected
    assert [c.sha for c in repo.walk(history.m, stop_at=[history.c2])] == [history.m, history.c3]
    assert [c.sha for c in repo.walk(history.m, first_parent=False, stop_at=[history.f1])] == [
        history.m,
        history.f2,
        history.c3,
    ]
    assert [c.sha for c in repo.walk(history.m, stop_at=[history.m])] == []
    assert [c.sha for c in repo.walk(history.c3, stop_at=["f" * 40])] == [
        history.c3,
        history.c2,
        history.c1,
    ]


# ---- trees -----------------------------------------------------------------


def test_read_path_and_blobs(history: History) -> None:
    repo = history.repo
    assert repo.read_path(history.c1, "data/a.gitstore") == b"a1"
    assert repo.read_path(history.c2, "data/a.gitstore") == b"a2"
    assert repo.read_path(history.c3, "models/deep/m.pt.gitstore") is None
    assert repo.read_path(history.c1, "data") is None
    assert repo.read_path(history.c1, "README/x") is None
    assert repo.read_path(history.c1, "nope/x.gitstore") is None
    blob = repo.blob_id(history.c1, "README")
    assert blob == run_git(history.root, "rev-parse", f"{history.c1}:README")
    assert repo.read_blob(blob) == b"hi"
    with pytest.raises(RevisionError):
        repo.read_blob("0" * 40)


def test_list_manifests(history: History) -> None:
    repo = history.repo
    blobs = {
        p: run_git(history.root, "rev-parse", f"{history.c1}:{p}") for p in ["data/a.gitstore"]
    }
    at_c1 = repo.list_manifests(history.c1)
    assert list(at_c1) == ["data/a.gitstore", "data/images.gitstore", "models/deep/m.pt.gitstore"]
    assert at_c1["data/a.gitstore"] == blobs["data/a.gitstore"]
    assert list(repo.list_manifests(history.m)) == [
        "data/a.gitstore",
        "data/images.gitstore",
        "feat.gitstore",
        "other/x.gitstore",
    ]
    assert list(repo.list_manifests(history.c1, ["models"])) == ["models/deep/m.pt.gitstore"]
    assert list(repo.list_manifests(history.c1, ["models/deep/m.pt"])) == [
        "models/deep/m.pt.gitstore"
    ]
    assert list(repo.list_manifests(history.c1, ["data/images"])) == ["data/images.gitstore"]
    assert list(repo.list_manifests(history.c1, ["./data/a.gitstore/"])) == ["data/a.gitstore"]
    assert list(repo.list_manifests(history.c1, ["dat"])) == []
    assert len(repo.list_manifests(history.c1, ["."])) == 3


def test_list_manifests_scales(tmp_path: Path) -> None:
    root = init(tmp_path / "big")
    files = {f"d{i % 10}/sub{i % 7}/p{i}.gitstore": str(i) for i in range(100)}
    files.update({f"noise/n{i}.txt": str(i) for i in range(200)})
    for path, text in files.items():
        write(root, path, text)
    run_git(root, "add", ".")
    run_git(root, "commit", "-q", "-m", "many")
    repo = GitRepo.discover(root)
    found = repo.list_manifests("HEAD")
    assert len(found) == 100
    assert all(repo.read_blob(blob) == files[path].encode() for path, blob in found.items())
    assert len(repo.list_manifests("HEAD", ["d3"])) == 10


def test_changed_manifests(history: History) -> None:
    repo = history.repo

    def blob(rev: str, path: str) -> str:
        return run_git(history.root, "rev-parse", f"{rev}:{path}")

    assert repo.changed_manifests(history.c1, history.c2) == [
        (
            "data/a.gitstore",
            blob(history.c1, "data/a.gitstore"),
            blob(history.c2, "data/a.gitstore"),
        )
    ]
    assert repo.changed_manifests(history.c2, history.c3) == [
        ("models/deep/m.pt.gitstore", blob(history.c2, "models/deep/m.pt.gitstore"), None),
        ("other/x.gitstore", None, blob(history.c3, "other/x.gitstore")),
    ]
    assert [c[0] for c in repo.changed_manifests(history.c3, history.m)] == ["feat.gitstore"]
    assert repo.changed_manifests(history.f1, history.f2) == []  # README only
    assert repo.changed_manifests(history.m, history.m) == []
    initial = repo.changed_manifests(None, history.c1)
    assert [(p, old) for p, old, _ in initial] == [
        ("data/a.gitstore", None),
        ("data/images.gitstore", None),
        ("models/deep/m.pt.gitstore", None),
    ]


def test_changed_manifests_file_becomes_folder(tmp_path: Path) -> None:
    root = init(tmp_path / "r")
    a = commit(root, "a", "2026-01-01T00:00:00Z", {"x.gitstore": "file"})
    b = commit(
        root, "b", "2026-01-02T00:00:00Z", {"x.gitstore": None, "x.gitstore/y.gitstore": "y"}
    )
    repo = GitRepo.discover(root)
    changes = repo.changed_manifests(a, b)
    assert [(p, old is None, new is None) for p, old, new in changes] == [
        ("x.gitstore", False, True),
        ("x.gitstore/y.gitstore", True, False),
    ]


# ---- garbage-collection roots ----------------------------------------------


def test_all_ref_commits(history: History, tmp_path: Path) -> None:
    repo, root = history.repo, history.root
    run_git(root, "tag", "-a", "-m", "t", "v1", history.c1)
    lost = commit(root, "lost", "2026-03-01T00:00:00Z", {"lost.gitstore": "l"})
    run_git(root, "reset", "-q", "--hard", history.m)
    write(root, "data/a.gitstore", "dirty")
    run_git(root, "stash", "-q")
    first_stash = run_git(root, "rev-parse", "refs/stash")
    write(root, "data/a.gitstore", "dirty again")
    run_git(root, "stash", "-q")
    second_stash = run_git(root, "rev-parse", "refs/stash")
    wt = tmp_path / "wt"
    run_git(root, "worktree", "add", "-q", "--detach", str(wt), history.c1)
    detached = commit(wt, "detached", "2026-03-02T00:00:00Z", {"d.gitstore": "d"})
    (Path(repo.common_dir) / "worktrees" / "wt" / "logs" / "HEAD").unlink()
    roots = repo.all_ref_commits()
    for sha in (history.m, history.f2, history.c1, lost, first_stash, second_stash, detached):
        assert sha in roots
    assert run_git(root, "cat-file", "-t", "v1") == "tag"
    assert all(run_git(root, "cat-file", "-t", sha) == "commit" for sha in roots)


# ---- index and config through git ------------------------------------------


def test_stage_and_rm_cached(history: History) -> None:
    repo, root = history.repo, history.root
    write(root, ".gitignore", "ignored/\n")
    write(root, "new.gitstore", "n")
    write(root, "we ird [x].gitstore", "w")
    write(root, "ignored/deep.gitstore", "d")
    write(root, "ignored/payload.bin", "p")
    repo.stage(["new.gitstore", "we ird [x].gitstore", "ignored/deep.gitstore"])
    staged = repo.index_manifests()
    assert {"new.gitstore", "we ird [x].gitstore", "ignored/deep.gitstore"} <= set(staged)
    assert staged["new.gitstore"] == run_git(root, "hash-object", "new.gitstore")
    assert "ignored/payload.bin" not in repo.ls_files()
    repo.stage([])
    many = [f"bulk/{i}.gitstore" for i in range(2000)]
    for path in many:
        write(root, path, path)
    repo.stage(many)
    assert len(repo.ls_files(["bulk"])) == 2000
    repo.rm_cached(["new.gitstore", "not-there.gitstore"])
    assert "new.gitstore" not in repo.index_manifests()
    assert (root / "new.gitstore").exists()
    repo.rm_cached(["bulk"], recursive=True)
    assert repo.ls_files(["bulk"]) == []
    with pytest.raises(GitstoreError, match="git rm failed"):
        repo.rm_cached(["data"])
    (root / "data" / "a.gitstore").unlink()
    repo.stage(["data/a.gitstore"])
    assert "data/a.gitstore" not in repo.index_manifests()


def test_ls_files_and_worktree_manifests(history: History) -> None:
    repo, root = history.repo, history.root
    write(root, ".gitignore", "skip/\n")
    write(root, "fresh/new.gitstore", "n")
    write(root, "skip/hidden.gitstore", "h")
    write(root, "fresh/notes.txt", "t")
    assert repo.worktree_manifests() == [
        "data/a.gitstore",
        "data/images.gitstore",
        "feat.gitstore",
        "fresh/new.gitstore",
        "other/x.gitstore",
    ]
    assert "fresh/notes.txt" not in repo.ls_files()
    assert "fresh/notes.txt" in repo.ls_files(others=True, exclude_standard=True)
    assert "skip/hidden.gitstore" in repo.ls_files(others=True)
    assert repo.ls_files(["data"]) == ["data/a.gitstore", "data/images.gitstore"]


def test_index_conflicts(history: History) -> None:
    repo, root = history.repo, history.root
    run_git(root, "checkout", "-q", "-b", "left", history.c1)
    commit(root, "left", "2026-03-01T00:00:00Z", {"data/a.gitstore": "left"})
    proc = subprocess.run(
        ["git", "merge", "-q", "main"], cwd=root, capture_output=True, check=False
    )
    assert proc.returncode != 0
    assert repo.index_conflicts() == ["data/a.gitstore"]
    assert "data/a.gitstore" not in repo.index_manifests()
    assert "data/images.gitstore" in repo.index_manifests()


def test_config_hooks_and_rebase_state(history: History) -> None:
    repo, root = history.repo, history.root
    assert repo.config_get("gitstore.test") is None
    repo.config_set("gitstore.test", "yes please")
    assert repo.config_get("gitstore.test") == "yes please"
    assert "yes please" in (root / ".git" / "config").read_text()
    assert repo.hooks_dir() == repo.common_dir / "hooks"
    repo.config_set("core.hooksPath", ".githooks")
    assert repo.hooks_dir() == root.resolve() / ".githooks"
    assert not repo.is_rebase_in_progress()
    (repo.git_dir / "rebase-merge").mkdir()
    assert repo.is_rebase_in_progress()
    with pytest.raises(GitstoreError, match="git frobnicate failed"):
        repo.git("frobnicate")
    assert repo.git("frobnicate", check=False).returncode != 0


def test_threads_get_their_own_repo(history: History) -> None:
    repo = history.repo
    results: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                results.append(repo.resolve("HEAD^2~1"))
                repo.list_manifests("HEAD")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert set(results) == {history.f1} and len(results) == 80
    assert len(repo._opened) >= 4
    repo.close()
    assert repo.resolve("HEAD") == history.m


def test_packed_objects_and_refs(history: History) -> None:
    run_git(history.root, "gc", "-q", "--prune=now")
    repo = GitRepo.discover(history.root)
    assert not any((history.root / ".git" / "refs" / "heads").iterdir())
    assert repo.resolve("feature~1") == history.f1
    assert repo.resolve(history.f1[:5]) == history.f1
    assert repo.read_path("main", "other/x.gitstore") == b"x"


def test_packed_refs_of_every_kind_resolve_and_a_path_needs_no_dulwich(
    history: History, tmp_path: Path
) -> None:
    """Refs found by their files or packed-refs lines; a name with neither is told without dulwich."""
    import sys

    root = history.root
    run_git(root, "tag", "light", history.c1)
    run_git(root, "tag", "-a", "-m", "annotated", "v1", history.c2)
    run_git(root, "update-ref", "refs/remotes/origin/main", history.c3)
    run_git(root, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
    run_git(root, "pack-refs", "--all")
    wt = tmp_path / "wt"
    run_git(root, "worktree", "add", "-q", "-b", "side", str(wt), history.c2)
    for repo in (GitRepo.discover(root), GitRepo.discover(wt)):
        assert repo.resolve("feature") == history.f2
        assert repo.resolve("heads/feature") == history.f2
        assert repo.resolve("light") == history.c1
        assert repo.resolve("v1") == history.c2
        assert repo.resolve("origin/main") == history.c3
        assert repo.resolve("origin") == history.c3  # refs/remotes/origin/HEAD
        assert repo.resolve("side") == history.c2  # a loose ref, made after the packing
        assert repo.try_resolve("data") is None
    (root / "data").mkdir(exist_ok=True)
    probe = (
        "import sys; from gitstore.gitrepo import GitRepo;"
        f" r = GitRepo.discover({str(wt)!r});"
        " print(r.split_revs_and_paths(['data', 'README']), 'dulwich' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "([], ['data', 'README']) False"


@pytest.mark.parametrize("count", [3, 40])
def test_iter_blobs_gives_each_blob_in_order_and_names_a_missing_one(
    tmp_path: Path, count: int
) -> None:
    """History walks read many manifest versions through one `git cat-file --batch`
    (a few go through dulwich); both give the same bytes, in the order asked."""
    run_git(tmp_path, "init", "-q")
    texts = [f"version {i}\n" + "same line\n" * i for i in range(count)]
    blobs = [run_git(tmp_path, "hash-object", "-w", "--stdin", input=t.encode()) for t in texts]
    repo = GitRepo.discover(tmp_path)
    order = blobs[::-1] + blobs[:1]
    assert list(repo.iter_blobs(order)) == [(b, texts[blobs.index(b)].encode()) for b in order]
    tree = run_git(tmp_path, "write-tree")
    absent = "0" * 40
    for bad, message in ((absent, "is not in the repository"), (tree, "is not a blob")):
        with pytest.raises(RevisionError, match=message):
            list(repo.iter_blobs([*blobs, bad]))
