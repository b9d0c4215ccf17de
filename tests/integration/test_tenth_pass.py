"""Findings of the tenth QA pass (docs/reliability.md, "Tenth pass").

Each test is a finding: what it did to the data before, and what it does now.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import git, tree_of, write


def _files(folder: Path) -> dict[str, bytes]:
    """The payload files below ``folder`` (manifests of tracked paths inside it left out)."""
    return {k: v for k, v in tree_of(folder).items() if not k.endswith(".gitstore")}


def test_a_branch_switch_between_a_folder_and_its_parts_keeps_every_file(repo: Path, run) -> None:
    """d/x tracked at one commit, the whole d at the next: `git checkout HEAD~1` and back
    deleted d/x/a (the post-checkout hook took away the files of d/x, no longer tracked,
    after materialising d), and the next `git commit -a` recorded it as deleted. The
    other way (d, then d/x alone) and a split (s into s/p and s/q) lost files too."""
    run(repo, "init")
    main = git(repo, "rev-parse", "--abbrev-ref", "HEAD").stdout.strip()
    write(repo / "d" / "x" / "a", b"1\n")
    write(repo / "d" / "b", b"2\n")
    run(repo, "track", "d/x")
    git(repo, "commit", "-qm", "d/x")
    run(repo, "untrack", "d/x")
    run(repo, "track", "d")
    git(repo, "commit", "-qm", "d")
    whole = {"x/a": b"1\n", "b": b"2\n"}
    git(repo, "checkout", "-q", "HEAD~1")
    assert _files(repo / "d" / "x") == {"a": b"1\n"}
    git(repo, "checkout", "-q", main)
    assert _files(repo / "d") == whole
    assert run(repo, "status").stdout.split() == ["unchanged", "d"]
    # the other way: the whole d on main, only d/x on a branch
    git(repo, "checkout", "-qb", "sub")
    run(repo, "untrack", "d")
    run(repo, "track", "d/x")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "only d/x")
    git(repo, "checkout", "-q", main)
    assert _files(repo / "d") == whole
    git(repo, "checkout", "-q", "sub")
    assert _files(repo / "d" / "x") == {"a": b"1\n"}
    git(repo, "checkout", "-q", main)
    assert _files(repo / "d") == whole
    # a split: s tracked whole, then as s/p and s/q
    write(repo / "s" / "p" / "1", b"p\n")
    write(repo / "s" / "q" / "2", b"q\n")
    run(repo, "track", "s")
    git(repo, "commit", "-qm", "s")
    run(repo, "untrack", "s")
    run(repo, "track", "s/p", "s/q")
    git(repo, "commit", "-qm", "split")
    git(repo, "checkout", "-q", "HEAD~1")
    git(repo, "checkout", "-q", main)
    assert _files(repo / "s") == {"p/1": b"p\n", "q/2": b"q\n"}
    git(repo, "commit", "-qam", "nothing", "--allow-empty")
    assert "d/x/a" in run(repo, "ls", "HEAD").stdout
