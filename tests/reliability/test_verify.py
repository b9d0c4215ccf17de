"""verify names corrupt objects in the cache and in remotes; --repair restores good copies."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import git
from tests.reliability.helpers import (
    GITSTORE,
    gs,
    make_tree,
    new_repo,
    objects_in,
    record,
    store_problems,
)


def corrupt(store: Path, oid: str) -> None:
    path = next(store.glob(f"objects/*/*/{oid}"))
    path.chmod(0o644)
    path.write_bytes(bytes(path.stat().st_size))


def symlink_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int, remote: Path | None = None
) -> tuple[Path, list[dict[str, str]]]:
    """A repository with data/ committed (and pushed to ``remote``), checked out as symlinks."""
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(tmp_path / "cache"))
    repo = new_repo(tmp_path / "repo")
    make_tree(repo / "data", files=3, size=3000, seed=seed)
    if remote is not None:
        gs(repo, "remote", "add", "team", str(remote), "--default")
    gs(repo, "track", "data")
    git(repo, "commit", "-qm", "data")
    if remote is not None:
        gs(repo, "push")
    listed = json.loads(gs(repo, "ls", "--json").stdout)
    shutil.rmtree(repo / "data")
    gs(repo, "checkout", "--link", "symlink")
    assert (repo / listed[0]["path"]).is_symlink()
    return repo, listed


def write_through(link: Path, data: bytes) -> None:
    """Write through a symlink checkout's link into the cache object (root ignores 0444)."""
    obj = link.resolve()
    obj.chmod(0o644)
    obj.write_bytes(data)


def test_verify_and_repair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache, remote = tmp_path / "cache", tmp_path / "remote"
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(cache))
    repo = new_repo(tmp_path / "repo")
    make_tree(repo / "data", files=6, size=3000, seed=12)
    gs(repo, "remote", "add", "team", str(remote), "--default")
    gs(repo, "track", "data")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    gs(repo, "push")
    first, second = sorted(objects_in(cache))[:2]
    assert gs(repo, "verify").returncode == 0

    corrupt(cache, first)
    proc = gs(repo, "verify", check=False)
    assert proc.returncode == 1 and first in proc.stderr
    out = json.loads(gs(repo, "verify", "--json", check=False).stdout)
    assert out["corrupt"] == [first] and out["errors"] == [first]
    gs(repo, "verify", "--repair")
    assert not store_problems(cache)
    gs(repo, "verify")

    corrupt(remote, second)
    proc = gs(repo, "verify", "--remote", "team", check=False)
    assert proc.returncode == 1 and second in proc.stderr and "team" in proc.stderr
    gs(repo, "verify", "--remote", "team", "--repair")
    assert not store_problems(remote)
    # missing objects: a note, an error with --complete
    next(cache.glob(f"objects/*/*/{first}")).unlink()
    assert "missing" in gs(repo, "verify").stderr
    assert gs(repo, "verify", "--complete", check=False).returncode == 1
    gs(repo, "verify", "--complete", "--repair")
    assert first in objects_in(cache)
    record("faults", "bit-rot-repaired", injected=3, partial_objects=0)


def test_repair_takes_a_good_copy_from_the_work_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # QA: with no remote, a corrupt object could not be repaired although the
    # work tree held its bytes, and nothing said so
    cache = tmp_path / "cache"
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(cache))
    repo = new_repo(tmp_path / "repo")
    make_tree(repo / "data", files=3, size=3000, seed=5)
    gs(repo, "track", "data")
    oid = json.loads(gs(repo, "ls", "--json").stdout)[0]["oid"]
    corrupt(cache, oid)
    proc = gs(repo, "verify", check=False)
    assert f"{oid} (data/" in proc.stderr  # the corrupt line names the file
    out = gs(repo, "verify", "--repair")
    assert f"repaired {oid} from the work tree's data/" in out.stdout
    assert not store_problems(cache)
    # the work tree's copy changed too: said why it cannot be repaired
    corrupt(cache, oid)
    rel = json.loads(gs(repo, "ls", "--json").stdout)[0]["path"]
    (repo / rel).write_bytes(b"edited since")
    proc = gs(repo, "verify", "--repair", check=False)
    assert proc.returncode == 1 and "no work tree file has its content" in proc.stderr


def test_repair_moves_aside_what_it_cannot_mend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # QA: an object damaged through a symlink checkout's link, with no remote,
    # left verify at exit 1 for good, with no way to drop the object
    cache = tmp_path / "cache"
    repo, listed = symlink_checkout(tmp_path, monkeypatch, seed=7)
    victim = listed[0]
    link = repo / victim["path"]
    write_through(link, b"written through the link")  # the user's edit, into the cache
    proc = gs(repo, "verify", "--repair", check=False)
    assert proc.returncode == 1
    aside = cache / "bad" / victim["oid"]
    assert f"moved the corrupt {victim['oid']} (needed by {victim['path']}) aside to {aside}" in (
        proc.stderr
    )
    assert f"{victim['path']}: its link into the cache is now a file" in proc.stdout
    # the cache no longer holds it; the bytes are kept, and the work tree's
    # link became a file with the user's bytes
    assert (
        victim["oid"] not in objects_in(cache) and aside.read_bytes() == b"written through the link"
    )
    assert not link.is_symlink() and link.read_bytes() == b"written through the link"
    out = json.loads(gs(repo, "verify", "--json").stdout)  # a note now, not an error
    assert out["corrupt"] == [] and victim["oid"] in out["missing"]
    assert gs(repo, "verify", "--complete", check=False).returncode == 1
    status = json.loads(gs(repo, "status", "--json").stdout)
    assert status[0]["state"] == "modified" and status[0]["modified"] == [victim["path"]]
    # gc never sweeps it
    gs(repo, "gc", "--grace", "0")
    assert aside.exists()
    # the other files' links still work
    for other in listed[1:]:
        assert (repo / other["path"]).read_bytes() == (repo / other["path"]).resolve().read_bytes()


def test_repair_from_a_remote_keeps_an_edit_made_through_a_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # QA: with a remote, repair put the good copy back over an edit that
    # status was showing (written through a symlink checkout's link)
    cache = tmp_path / "cache"
    repo, listed = symlink_checkout(tmp_path, monkeypatch, seed=9, remote=tmp_path / "remote")
    victim = listed[0]
    link = repo / victim["path"]
    write_through(link, b"my edit")
    out = gs(repo, "verify", "--repair")
    assert f"repaired {victim['oid']} from the remote 'team'" in out.stdout
    assert f"kept the corrupt bytes of {victim['oid']} at {cache / 'bad' / victim['oid']}" in (
        out.stdout
    )
    # the edit is where it was, now a file of its own; the cache is whole again
    assert not link.is_symlink() and link.read_bytes() == b"my edit"
    assert not store_problems(cache)
    status = json.loads(gs(repo, "status", "--json").stdout)
    assert status[0]["modified"] == [victim["path"]]


def test_repair_drops_the_api_views_that_linked_a_corrupt_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA pass 7: a view of gitstore.get() is hard links to objects; after --repair it still
    held the bad bytes, verify said the cache was clean, and get() went on handing them out."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(cache))
    repo = new_repo(tmp_path / "repo")
    make_tree(repo / "data", files=3, size=3000, seed=7)
    (repo / "data" / "run.sh").write_bytes(b"#!/bin/sh\necho hi\n")
    (repo / "data" / "run.sh").chmod(0o755)  # its view file is a copy: objects are read-only
    gs(repo, "track", "data")
    git(repo, "commit", "-qm", "data")
    listed = json.loads(gs(repo, "ls", "--json").stdout)
    good = {f["path"]: (repo / f["path"]).read_bytes() for f in listed}
    script = next(f["oid"] for f in listed if f["path"] == "data/run.sh")
    get = [sys.executable, "-c", "import gitstore; print(gitstore.get('data'))"]

    def view_bytes() -> dict[str, bytes]:
        view = Path(
            subprocess.run(get, cwd=repo, check=True, capture_output=True, text=True).stdout.strip()
        )
        return {
            f"data/{p.relative_to(view).as_posix()}": p.read_bytes()
            for p in view.rglob("*")
            if p.is_file()
        }

    corrupt(cache, script)  # before the view is built: the view copies the bad bytes
    assert view_bytes() != good
    gs(repo, "verify", "--repair")
    assert view_bytes() == good
    linked = next(f["oid"] for f in listed if f["path"] != "data/run.sh")
    corrupt(cache, linked)
    assert view_bytes() != good  # the view is the object
    out = gs(repo, "verify", "--repair").stdout
    assert "deleted the Python API's view" in out
    assert gs(repo, "verify").returncode == 0
    assert view_bytes() == good
    assert not list((cache / "views").glob(".tmp-*"))


def test_an_object_replaced_by_a_symlink_or_a_folder_is_refused_and_repaired(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA pass 7: cat and checkout followed a symlinked object out of the cache (exit 0, foreign
    bytes); an object replaced by a folder was "changed while being read" and never repaired."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(cache))
    repo = new_repo(tmp_path / "repo")
    make_tree(repo / "data", files=2, size=3000, seed=9)
    gs(repo, "track", "data")
    listed = json.loads(gs(repo, "ls", "--json").stdout)
    (linked, foldered) = listed
    foreign = tmp_path / "foreign"
    foreign.write_bytes(b"x" * linked["size"])
    for f, make in ((linked, lambda p: p.symlink_to(foreign)), (foldered, lambda p: p.mkdir())):
        obj = next(cache.glob(f"objects/*/*/{f['oid']}"))
        obj.chmod(0o644)
        obj.unlink()
        make(obj)
    refused = gs(repo, "cat", linked["path"], check=False)
    assert refused.returncode == 1 and not refused.stdout
    assert "is a symlink, not an object file" in refused.stderr
    gs(repo, "remote", "add", "team", str(tmp_path / "store"), "--default")
    pushed = gs(repo, "push", check=False)  # said as what it is, not as a race to run again
    said = pushed.stdout + pushed.stderr
    assert pushed.returncode == 3 and "is a symlink, not an object file" in said
    assert "is a folder, not an object file" in said and "`gitstore verify --repair`" in said
    git(repo, "commit", "-qm", "data")
    published = gs(repo, "publish", str(tmp_path / "pub"), check=False)
    assert published.returncode == 3
    assert published.stderr.count("the cache's copy is damaged") == 2
    good = (repo / linked["path"]).read_bytes()
    (repo / linked["path"]).unlink()
    assert gs(repo, "checkout", check=False).returncode != 0
    assert not (repo / linked["path"]).exists()
    (repo / linked["path"]).write_bytes(good)  # the work tree's copy mends it below
    proc = gs(repo, "verify", check=False)
    assert proc.returncode == 1 and proc.stderr.count("corrupt in the cache") == 2
    gs(repo, "verify", "--repair")
    assert gs(repo, "verify").returncode == 0
    import gitstore

    assert gitstore.read(linked["path"], repo=repo) == good
    assert not store_problems(cache)


def test_many_missing_objects_are_counted_not_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """262 missing objects gave 262 note lines (fifteenth QA pass): ten, then a count."""
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(tmp_path / "cache"))
    repo = new_repo(tmp_path / "repo")
    make_tree(repo / "data", files=14, size=100, seed=15)
    gs(repo, "track", "data")
    shutil.rmtree(tmp_path / "cache" / "objects")
    out = gs(repo, "verify")
    notes = [line for line in out.stderr.splitlines() if line.startswith("gitstore: note: missing")]
    assert len(notes) == 10, out.stderr
    assert "gitstore: note: and 4 more missing from the cache" in out.stderr
    listed = json.loads(gs(repo, "verify", "--json").stdout)
    assert len(listed["missing"]) == 14


def test_objects_a_gc_deletes_while_verify_runs_are_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """verify failed with "No such file or directory" when a gc of the same cache deleted
    an object between its listing and its read (fifteenth QA pass)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(cache))
    repo = new_repo(tmp_path / "repo")
    make_tree(repo / "data", files=5, size=100, seed=16)
    gs(repo, "track", "data")
    env = {**os.environ, "GITSTORE_FAULT": "pause-verify:2"}
    proc = subprocess.Popen(
        [*GITSTORE, "verify"], cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    time.sleep(1)
    gone = next((cache / "objects").glob("*/*/*"))
    gone.chmod(0o644)
    gone.unlink()  # as a gc would, after the listing
    out, err = proc.communicate(timeout=60)
    assert b"No such file" not in err, err
    assert "checked 4 objects" in out.decode(), out
