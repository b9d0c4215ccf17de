"""track's messages when git cannot stage (fifteenth QA pass, docs/reliability.md)."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_hooks import solo


def test_a_track_whose_git_add_fails_says_what_is_left_and_what_to_run(tmp_path: Path) -> None:
    """A full disk (or a lock git left) fails `git add`: the manifest and .gitignore are
    written, unstaged, and the message said only git's line."""
    repo = solo(tmp_path / "repo", tmp_path / "cache")
    repo.write("data/a.bin", b"alpha")
    lock = repo.path / ".git" / "index.lock"
    lock.write_text("")  # git add cannot take the index
    out = repo.gs("track", "data", ok=False)
    assert "git add failed" in out.stderr
    assert "written but not staged" in out.stderr and "gitstore track data" in out.stderr
    assert (repo.path / "data.gitstore").exists()
    lock.unlink()
    repo.gs("track", "data")
    staged = repo.git("diff", "--cached", "--name-only").stdout.split()
    assert {".gitignore", "data.gitstore"} <= set(staged)
