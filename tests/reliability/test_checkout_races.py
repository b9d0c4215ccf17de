"""A user saving a file while checkout replaces it, and files swapped while track reads them.

Third QA pass (docs/reliability.md): an edit saved while checkout copied the
new version was overwritten without a word; an edit saved right after the
rename was taken into the stat cache as the checked-out version, so that
status said unchanged and track recorded the old oid with the new size.
``GITSTORE_FAULT=edit-before:N`` / ``edit-after:N`` make the user save the
N-th replaced file at exactly those moments.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_hooks import Clone, solo

SAVED = b"saved by the user\n"


@pytest.fixture
def repo(tmp_path: Path) -> Clone:
    """A repository with data/f.bin at v1 (tag v1) and v2 (HEAD), v2 on disk."""
    repo = solo(tmp_path / "repo", tmp_path / "cache")
    repo.write("data/f.bin", b"version 1\n" * 1000)
    repo.write("data/other.bin", b"other\n")
    repo.gs("track", "data")
    repo.git("commit", "-qm", "v1")
    repo.git("tag", "v1")
    repo.write("data/f.bin", b"version 2\n" * 1000)
    repo.gs("track", "data")
    repo.git("commit", "-qm", "v2")
    return repo


def test_an_edit_saved_while_checkout_copies_is_kept(repo: Clone) -> None:
    repo.env["GITSTORE_FAULT"] = "edit-before:1"
    out = repo.gs("checkout", "v1", ok=False)
    del repo.env["GITSTORE_FAULT"]
    assert out.returncode == 3 and "data/f.bin" in out.stdout + out.stderr
    assert repo.read("data/f.bin") == b"version 2\n" * 1000 + SAVED  # the edit, not v1
    assert not [p for p in (repo.path / "data").iterdir() if p.name.endswith(".gitstore-tmp")]
    assert "modified" in repo.gs("status").stdout


def test_an_edit_saved_right_after_checkout_is_seen_and_tracked(repo: Clone) -> None:
    repo.env["GITSTORE_FAULT"] = "edit-after:1"
    repo.gs("checkout", "v1")
    del repo.env["GITSTORE_FAULT"]
    edited = b"version 1\n" * 1000 + SAVED
    assert repo.read("data/f.bin") == edited
    (status,) = json.loads(repo.gs("status", "--json").stdout)
    assert status["modified"] == ["data/f.bin"], status
    repo.gs("track", "data")
    repo.git("commit", "-qm", "the edit")
    assert repo.gs("cat", "data/f.bin", "--rev", "HEAD").stdout.encode() == edited


def _settled(repo: Clone) -> None:
    """Files older than the racy window, then a status: the clean record vouches for data/."""
    past = os.stat(repo.path).st_mtime - 10
    for name in os.listdir(repo.path / "data"):
        os.utime(repo.path / "data" / name, (past, past))
    repo.gs("status")


@pytest.mark.parametrize("fault", ["edit-before:1", "edit-after:1"])
def test_an_edit_around_a_delta_checkout_is_never_vouched_for(repo: Clone, fault: str) -> None:
    """checkout REV's delta records the folder as clean: never with a user's edit in it."""
    _settled(repo)  # so that the checkout takes the delta and leaves a record
    repo.env["GITSTORE_FAULT"] = fault
    repo.gs("checkout", "v1", ok=None)
    del repo.env["GITSTORE_FAULT"]
    assert repo.read("data/f.bin").endswith(SAVED)
    (status,) = json.loads(repo.gs("status", "--json").stdout)
    assert status["modified"] == ["data/f.bin"], status
    # without a fault, the same delta leaves a record the next status answers from
    repo.gs("checkout", "--force", "v1")
    _settled(repo)
    repo.gs("checkout", "HEAD")
    record = (repo.path / ".git" / "gitstore" / "precommit-clean").read_bytes()
    repo.gs("status")
    assert (repo.path / ".git" / "gitstore" / "precommit-clean").read_bytes() == record


def test_an_edit_that_keeps_size_and_mtime_is_never_vouched_for(repo: Clone) -> None:
    """Fifth QA pass: an edit right after the rename, size kept and mtime put back (``cp -p``).

    The delta's record then said unchanged; ``checkout --force`` did nothing.
    The clean record takes a written file only once it reads as written.
    """
    _settled(repo)
    repo.env["GITSTORE_FAULT"] = "edit-same:1"
    repo.gs("checkout", "v1", ok=None)
    del repo.env["GITSTORE_FAULT"]
    edited = repo.read("data/f.bin")
    assert len(edited) == 10000 and edited != b"version 1\n" * 1000
    (status,) = json.loads(repo.gs("status", "--json").stdout)
    assert status["modified"] == ["data/f.bin"], status
    repo.gs("checkout", "--force", "v1")
    assert repo.read("data/f.bin") == b"version 1\n" * 1000


def test_checkout_refuses_an_object_of_the_wrong_size(repo: Clone) -> None:
    """A hard-linked file edited in place edits the cache object: checkout says so, not copies it."""
    repo.gs("checkout", "v1", "--link", "hardlink")
    target = repo.path / "data" / "f.bin"
    os.chmod(target, 0o644)
    with open(target, "ab") as f:  # root ignores the 0444 mode: an in-place edit
        f.write(SAVED)
    target.unlink()
    out = repo.gs("checkout", "--link", "copy", ok=False)
    assert "holds 10018 bytes where its manifest says 10000" in out.stderr
    assert "gitstore verify --repair" in out.stderr
    # reads say so too, rather than hand out the edited bytes
    cat = repo.gs("cat", "data/f.bin", "--rev", "v1", ok=False)
    assert cat.stdout == "" and "holds 10018 bytes" in cat.stderr
    api = "import gitstore; gitstore.read('data/f.bin', rev='v1')"
    read = subprocess.run(
        [sys.executable, "-c", api], cwd=repo.path, env=repo.env, capture_output=True, text=True
    )
    assert read.returncode != 0 and "IntegrityError" in read.stderr
