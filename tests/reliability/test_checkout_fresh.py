"""Checking out files where nothing is yet: whole or not at all, with no temporary names.

A tracked folder absent from the work tree (a fresh clone, an emptied work
tree) is filled in a folder inside the clone's state folder and renamed
into place; a new
file in a folder that exists is written unnamed (``O_TMPFILE``) and linked
into place. Neither may leave a half-written file, and neither may write
over a file the user saved at that place meanwhile.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.test_hooks import GITSTORE, Clone, solo

FILES = 600  # above the count where checkout starts threads


def listing(root: Path) -> dict[str, tuple[bytes, bool]]:
    return {
        str(p.relative_to(root)): (p.read_bytes(), os.access(p, os.X_OK))
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def repo(tmp_path: Path) -> Clone:
    repo = solo(tmp_path / "repo", tmp_path / "cache")
    for i in range(FILES):
        repo.write(f"data/d{i % 7}/sub{i % 3}/f{i:04d}.bin", f"file {i}\n".encode() * (i % 50))
    (repo.path / "data/d0/run.sh").write_text("#!/bin/sh\n")
    (repo.path / "data/d0/run.sh").chmod(0o755)
    (repo.path / "data/empty.bin").write_bytes(b"")
    repo.gs("track", "data")
    repo.git("commit", "-qm", "data")
    return repo


def leftovers(repo: Clone) -> list[str]:
    return [p.name for p in repo.path.iterdir() if p.name.endswith(".gitstore-tmp")]


def test_an_absent_folder_is_checked_out_whole(repo: Clone) -> None:
    expected = listing(repo.path / "data")
    shutil.rmtree(repo.path / "data")
    out = repo.gs("checkout", "--link", "copy")
    assert f"{FILES + 2} written" in out.stdout
    assert listing(repo.path / "data") == expected
    assert expected["d0/run.sh"][1] and not expected["d0/sub0/f0000.bin"][1]
    assert not leftovers(repo)
    (status,) = json.loads(repo.gs("status", "--json").stdout)
    assert status["state"] == "unchanged"
    # the stat cache took every file: an edit of the same size is still seen
    victim = repo.path / "data/d1/sub1/f0001.bin"
    victim.write_bytes(b"X" * len(victim.read_bytes()))
    (status,) = json.loads(repo.gs("status", "--json").stdout)
    assert status["modified"] == ["data/d1/sub1/f0001.bin"]


def test_a_checkout_killed_part_way_leaves_no_half_folder(repo: Clone) -> None:
    expected = listing(repo.path / "data")
    shutil.rmtree(repo.path / "data")
    env = dict(repo.env, GITSTORE_FAULT="kill:300")
    proc = subprocess.run([*GITSTORE, "checkout"], cwd=repo.path, env=env, capture_output=True)
    assert proc.returncode == -9
    assert not (repo.path / "data").exists()  # nothing half there: the folder is not in place
    staging = repo.path / ".git" / "gitstore" / "checkout-staging"
    assert staging.is_dir() and not leftovers(repo)
    # out of git's sight: `git add -A` after the crash must not commit the payload
    assert repo.git("status", "--porcelain").stdout == ""
    status = repo.gs("status")
    assert "not_materialised" in status.stdout
    assert "a checkout did not finish" in status.stderr
    repo.gs("checkout", "--link", "hardlink")  # any checkout takes the leftover away
    assert listing(repo.path / "data") == expected
    assert not staging.exists() and not leftovers(repo)
    assert "did not finish" not in repo.gs("status").stderr


def test_a_name_of_the_users_beside_the_folder_is_never_touched(repo: Clone) -> None:
    shutil.rmtree(repo.path / "data")
    mine = repo.path / ".data.gitstore-tmp"
    mine.mkdir()
    (mine / "notes.txt").write_text("notes\n")
    repo.gs("checkout")
    assert (mine / "notes.txt").read_text() == "notes\n"
    assert (repo.path / "data" / "d0" / "run.sh").exists()


def test_missing_objects_leave_the_rest_and_no_empty_folders(repo: Clone) -> None:
    listed = json.loads(repo.gs("ls", "--json").stdout)
    gone = {f["oid"] for f in listed if f["path"].startswith("data/d3/")}
    gone -= {f["oid"] for f in listed if not f["path"].startswith("data/d3/")}
    assert gone
    for oid in gone:
        next(repo.cache.rglob(oid)).unlink()
    shutil.rmtree(repo.path / "data")
    out = repo.gs("checkout", ok=False)
    assert out.returncode != 0 and "data/d3/" in out.stderr
    for f in listed:
        assert (repo.path / f["path"]).exists() == (f["oid"] not in gone), f["path"]
    for folder, dirs, files in os.walk(repo.path / "data"):
        assert dirs or files, f"{folder} left empty"
    assert not leftovers(repo)


@pytest.mark.parametrize("link", ["symlink", "hardlink", "copy"])
def test_a_missing_object_is_never_a_dangling_link(repo: Clone, link: str) -> None:
    victim = json.loads(repo.gs("ls", "--json").stdout)[1]
    next(repo.cache.rglob(victim["oid"])).unlink()
    shutil.rmtree(repo.path / "data")
    out = repo.gs("checkout", "--link", link, ok=False)
    assert out.returncode != 0 and victim["path"] in out.stderr
    assert not os.path.lexists(repo.path / victim["path"])


def test_a_new_file_saved_by_the_user_meanwhile_is_kept(repo: Clone) -> None:
    # a branch adds files to a folder that exists: each is linked into place
    # only where nothing is; a file the user saved there first stays
    repo.git("tag", "v1")
    for i in range(3):
        repo.write(f"data/new/n{i}.bin", f"new {i}\n".encode())
    repo.gs("track", "data")
    repo.git("commit", "-qm", "more")
    repo.gs("checkout", "v1")
    assert not (repo.path / "data/new").exists()
    repo.env["GITSTORE_FAULT"] = "create-before:2"
    out = repo.gs("checkout", "HEAD", ok=False)
    del repo.env["GITSTORE_FAULT"]
    assert out.returncode == 3
    assert "left 1 file alone that was saved while checkout ran: data/new/n1.bin" in out.stderr
    assert (repo.path / "data/new/n1.bin").read_bytes() == b"saved by the user\n"
    assert (repo.path / "data/new/n0.bin").read_bytes() == b"new 0\n"
    assert (repo.path / "data/new/n2.bin").read_bytes() == b"new 2\n"
    assert not [p for p in (repo.path / "data/new").iterdir() if p.name.endswith("-tmp")]


def test_a_new_file_saved_meanwhile_is_kept_by_a_branch_switch_too(repo: Clone) -> None:
    """post-checkout's delta (only the changed lines) links new files into place the same way."""
    repo.gs("install")
    repo.git("checkout", "-q", "-b", "more")
    for i in range(3):
        repo.write(f"data/new/n{i}.bin", f"new {i}\n".encode())
    repo.gs("track", "data")
    repo.git("commit", "-qm", "more")
    repo.git("checkout", "-q", "-")
    assert not (repo.path / "data/new").exists()
    repo.env["GITSTORE_FAULT"] = "create-before:2"
    out = repo.git("checkout", "-q", "more")
    del repo.env["GITSTORE_FAULT"]
    assert "data/new/n1.bin" in out.stderr, out.stderr
    assert (repo.path / "data/new/n1.bin").read_bytes() == b"saved by the user\n"
    assert (repo.path / "data/new/n0.bin").read_bytes() == b"new 0\n"
