"""`gitstore checkout REV` where REV tracks a path nesting with one the work tree tracks
(QA finding F6), through the real git binary with gitstore's hooks installed.

REV's ``d/sub.gitstore`` written where the work tree tracks ``d`` landed inside
the ignored folder ``d`` and the next commit recorded it as a file of ``d``;
REV's ``d.gitstore`` beside the work tree's ``d/sub.gitstore`` swallowed
``d/sub``'s files. Both are refused before anything is written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.test_hooks import Clone, solo


def _branches(tmp_path: Path) -> Clone:
    """Branch ``whole`` tracks ``d``, branch ``part`` tracks ``d/sub``; main tracks nothing."""
    repo = solo(tmp_path / "repo", tmp_path / "cache")
    repo.write("code.txt", "code\n")
    repo.git("add", "-A")
    repo.git("commit", "-qm", "init")
    repo.git("checkout", "-qb", "whole")
    repo.write("d/top.bin", b"top")
    repo.write("d/sub/s1.bin", b"s1 whole")
    repo.gs("track", "d")
    repo.git("commit", "-qm", "whole")
    repo.git("checkout", "-q", "main")
    repo.git("checkout", "-qb", "part")
    repo.write("d/sub/s1.bin", b"s1 part")
    repo.write("d/sub/s2.bin", b"s2 part")
    repo.gs("track", "d/sub")
    repo.git("commit", "-qm", "part")
    return repo


def _work_tree(repo: Clone) -> dict[str, bytes]:
    """Every file outside .git, dot-files (.gitignore) and manifests included."""
    return {
        p.relative_to(repo.path).as_posix(): p.read_bytes()
        for p in sorted(repo.path.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(repo.path).parts
    }


def _refused(repo: Clone, *args: str) -> str:
    """The one error line of a refused `gitstore checkout ARGS`, which wrote nothing."""
    before = _work_tree(repo)
    status = repo.git("status", "--porcelain", "--ignored").stdout
    proc = repo.gs("checkout", *args, ok=False)  # ok=False also asserts: no traceback
    assert proc.returncode != 0
    lines = proc.stderr.splitlines()
    if len(lines) == 2 and lines[1].startswith("hint: `gitstore "):  # at most a hint besides
        lines.pop()
    assert len(lines) == 1 and lines[0].startswith("gitstore: error: "), proc.stderr
    assert _work_tree(repo) == before, "a refused checkout wrote something"
    assert repo.git("status", "--porcelain", "--ignored").stdout == status
    return lines[0]


@pytest.mark.parametrize("paths", [(), ("d/sub",), ("d",), ("d/sub/s2.bin",)])
def test_rev_tracking_a_path_inside_the_work_trees_tracked_folder_is_refused(
    tmp_path: Path, paths: tuple[str, ...]
) -> None:
    """On ``whole`` (tracks d), `checkout part` would write d/sub.gitstore inside d."""
    repo = _branches(tmp_path)
    repo.git("checkout", "-q", "whole")
    line = _refused(repo, "part", *paths)
    assert "part's d/sub.gitstore" in line and "the working tree's d.gitstore" in line
    assert not (repo.path / "d" / "sub.gitstore").exists()
    assert not (repo.path / "d" / "sub" / "s2.bin").exists()
    # the commit after it records d as it was: no payload entry sub.gitstore
    repo.write("code.txt", "code 2\n")
    repo.git("commit", "-qam", "unrelated")
    assert "sub.gitstore" not in repo.git("show", "HEAD:d.gitstore").stdout


@pytest.mark.parametrize("paths", [(), ("d",), ("d/top.bin",)])
def test_rev_tracking_a_folder_around_the_work_trees_tracked_path_is_refused(
    tmp_path: Path, paths: tuple[str, ...]
) -> None:
    """On ``part`` (tracks d/sub), `checkout whole` would write d.gitstore around d/sub."""
    repo = _branches(tmp_path)
    line = _refused(repo, "whole", *paths)
    assert "whole's d.gitstore" in line and "the working tree's d/sub.gitstore" in line
    assert not (repo.path / "d.gitstore").exists()
    assert repo.read("d/sub/s1.bin") == b"s1 part"


def test_checkout_rev_where_nothing_nests_still_works(tmp_path: Path) -> None:
    """A revision of the same tracked path, and revisions swapped from a branch that tracks
    neither (the manifest the first checkout brought is taken away before the second's)."""
    repo = _branches(tmp_path)
    repo.git("checkout", "-q", "whole")
    repo.write("d/top.bin", b"top v2")
    repo.gs("track", "d")
    repo.git("commit", "-qm", "whole v2")
    repo.gs("checkout", "HEAD~1")
    assert repo.read("d/top.bin") == b"top"
    repo.gs("checkout", "HEAD")
    assert repo.read("d/top.bin") == b"top v2"
    repo.git("checkout", "-q", "main")
    repo.gs("checkout", "part")
    assert (repo.path / "d" / "sub.gitstore").exists()
    repo.gs("checkout", "whole~1")
    assert (repo.path / "d.gitstore").exists()
    assert not (repo.path / "d" / "sub.gitstore").exists()
    assert repo.read("d/top.bin") == b"top"
    repo.gs("checkout", "part")
    assert not (repo.path / "d.gitstore").exists()
    assert repo.read("d/sub/s2.bin") == b"s2 part"
