"""gc never deletes what anyone needs, and does delete true orphans past the grace period."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from blake3 import blake3

from tests.conftest import git, write
from tests.reliability.helpers import gs, new_repo, objects_in, record, registrations

OLD = time.time() - 3 * 86400


def oid(data: bytes) -> str:
    return str(blake3(data).hexdigest())


def age_everything(cache: Path) -> None:
    for folder, _dirs, files in os.walk(cache / "objects"):
        for name in files:
            os.utime(Path(folder, name), (OLD, OLD))


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(path))
    return path


def test_gc_keeps_everything_anyone_needs(tmp_path: Path, cache: Path) -> None:
    a = new_repo(tmp_path / "a")
    data = {
        name: f"{name} bytes\n".encode()
        for name in ("tag", "head", "stash", "staged", "branch", "other", "orphan", "young", "view")
    }
    # an old tag: its content is replaced on main afterwards
    write(a / "m.bin", data["tag"])
    gs(a, "track", "m.bin")
    git(a, "commit", "-qm", "v1")
    git(a, "tag", "-a", "v1", "-m", "v1")
    write(a / "m.bin", data["head"])
    gs(a, "track", "m.bin")
    git(a, "commit", "-qm", "v2")
    # an unpushed commit on a side branch
    git(a, "checkout", "-qb", "side")
    write(a / "side.bin", data["branch"])
    gs(a, "track", "side.bin")
    git(a, "commit", "-qm", "side")
    git(a, "checkout", "-q", "main")
    # a stash
    write(a / "m.bin", data["stash"])
    gs(a, "track", "m.bin")
    git(a, "stash", "-q")
    # a staged manifest, never committed
    write(a / "staged.bin", data["staged"])
    gs(a, "track", "staged.bin")
    # another repository sharing the cache
    b = new_repo(tmp_path / "b")
    write(b / "o.bin", data["other"])
    gs(b, "track", "o.bin")
    # a true orphan: tracked, then the manifest rewritten and never committed
    write(a / "orphan.bin", data["orphan"])
    gs(a, "track", "orphan.bin")
    gs(a, "untrack", "orphan.bin")
    write(a / "young.bin", data["young"])
    gs(a, "track", "young.bin")
    gs(a, "untrack", "young.bin")
    write(a / "view.bin", data["view"])
    gs(a, "track", "view.bin")
    gs(a, "untrack", "view.bin")
    # a registered repository that has been deleted since
    c = new_repo(tmp_path / "c")
    write(c / "c.bin", b"c")
    gs(c, "track", "c.bin")
    shutil.rmtree(c)
    # views: one used recently (naming the view object), one long unused
    live = cache / "views" / "live"
    write(
        live / ".gitstore-view", json.dumps({"last_used": time.time(), "oids": [oid(data["view"])]})
    )
    stale = cache / "views" / "stale"
    write(stale / ".gitstore-view", json.dumps({"last_used": OLD}))
    write(stale / "x.bin", b"x", mode=0o444)

    age_everything(cache)
    young = (
        cache / "objects" / oid(data["young"])[:2] / oid(data["young"])[2:4] / oid(data["young"])
    )
    os.utime(young)  # refreshed just now
    before = objects_in(cache)
    assert {oid(d) for d in data.values()} <= before

    # the deleted repository may only have moved or be on a disk not mounted: refused
    refused = gs(a, "gc", "--grace", "1h", check=False)
    assert refused.returncode != 0 and "is not there" in refused.stderr
    assert "--forget-missing" in refused.stderr and objects_in(cache) == before
    dry = json.loads(gs(a, "gc", "--dry-run", "--grace", "1h", "--forget-missing", "--json").stdout)
    assert objects_in(cache) == before, "--dry-run deleted something"
    assert stale.exists()
    assert {d["oid"] for d in dry["deleted"]} == {oid(data["orphan"]), oid(b"c")}

    out = gs(a, "gc", "--grace", "1h", "--forget-missing")
    assert f"deleted {oid(data['orphan'])}" in out.stdout
    assert "freed" in out.stdout
    assert "no longer exists" in out.stderr
    after = objects_in(cache)
    assert after == before - {oid(data["orphan"]), oid(b"c")}
    for name in ("tag", "head", "stash", "staged", "branch", "other", "young", "view"):
        assert oid(data[name]) in after, f"gc deleted the {name} object"
    assert not stale.exists() and live.exists()
    # everything the repositories need is still usable
    git(a, "stash", "pop", "-q")
    gs(a, "checkout", "v1")
    assert (a / "m.bin").read_bytes() == data["tag"]
    record("gc", "keeps", scenarios=8, orphans_deleted=2, wrongly_deleted=0)


def test_a_repository_registered_by_an_older_gitstore_keeps_the_older_marker_too(
    tmp_path: Path, cache: Path
) -> None:
    """The older marker (named by SHA-256, the path alone) is what gitstores of before
    2026-12-04 read: it stays beside the new one (tests/integration/test_upgrades_qa.py)."""
    b = new_repo(tmp_path / "b")
    write(b / "o.bin", b"other bytes")
    gs(b, "track", "o.bin")
    (marker,) = registrations(cache)
    path = marker.read_text().splitlines()[0]
    assert path == str((b / ".git").resolve())
    older = cache / "repos" / hashlib.sha256(path.encode()).hexdigest()[:32]
    assert older.read_text() == path + "\n"
    # registered by an older gitstore only: the next command writes the new one beside it
    marker.unlink()
    gs(b, "status")
    assert registrations(cache) == [marker]
    assert sorted(p.name for p in (cache / "repos").iterdir()) == sorted([marker.name, older.name])
    assert older.read_text() == path + "\n"
    a = new_repo(tmp_path / "a")
    age_everything(cache)
    gs(a, "gc", "--grace", "1h")
    assert oid(b"other bytes") in objects_in(cache), "gc deleted the other repository's object"


def test_gc_grace_zero_and_durations(tmp_path: Path, cache: Path) -> None:
    a = new_repo(tmp_path / "a")
    write(a / "x.bin", b"one")
    gs(a, "track", "x.bin")
    write(a / "x.bin", b"two")
    gs(a, "track", "x.bin")
    assert gs(a, "gc", "--grace", "7d", "--json").stdout.count('"oid"') == 0
    out = json.loads(gs(a, "gc", "--grace", "0", "--json").stdout)
    assert [d["oid"] for d in out["deleted"]] == [oid(b"one")]
    bad = gs(a, "gc", "--grace", "soon", check=False)
    assert bad.returncode == 2 and "not a duration" in bad.stderr


def test_gc_waits_for_writers(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gitstore.locks import FileLock

    a = new_repo(tmp_path / "a")
    write(a / "x.bin", b"one")
    gs(a, "track", "x.bin")
    monkeypatch.setenv("GITSTORE_LOCK_TIMEOUT", "0.5")
    with FileLock(cache / "gc.lock", "cache", shared=True):
        proc = gs(a, "gc", "--grace", "0", check=False)
    assert proc.returncode == 4 and "locked by another gitstore process" in proc.stderr


def test_gc_remote_needs_dry_run_yes_and_sole_use(tmp_path: Path, cache: Path) -> None:
    remote = tmp_path / "remote"
    a = new_repo(tmp_path / "a")
    gs(a, "remote", "add", "team", str(remote), "--default")
    write(a / "x.bin", b"kept")
    gs(a, "track", "x.bin")
    git(a, "add", "-A")
    git(a, "commit", "-qm", "x")
    gs(a, "push")
    # an orphan in the remote, and a young one
    for data in (b"orphan", b"young"):
        o = oid(data)
        write(remote / "objects" / o[:2] / o[2:4] / o, data)
    age_everything(remote)
    young = oid(b"young")
    os.utime(remote / "objects" / young[:2] / young[2:4] / young)
    # a published entry names an otherwise unreferenced object
    pub = oid(b"published")
    write(remote / "objects" / pub[:2] / pub[2:4] / pub, b"published")
    os.utime(remote / "objects" / pub[:2] / pub[2:4] / pub, (OLD, OLD))
    manifest = (a / "x.bin.gitstore").read_text().replace(oid(b"kept"), pub)
    write(
        remote / "commits" / "a" / "b" / "c" / "def" / "x.bin.gitstore", manifest + "status: ok\n"
    )

    refused = gs(a, "gc", "--remote", "team", "--grace", "1h", check=False)
    assert refused.returncode != 0 and "--dry-run" in refused.stderr
    assert gs(a, "gc", "--remote", "team", "--yes", "--grace", "1h", check=False).returncode != 0
    dry = json.loads(gs(a, "gc", "--remote", "team", "--dry-run", "--grace", "1h", "--json").stdout)
    assert [d["oid"] for d in dry["deleted"]] == [oid(b"orphan")]
    assert oid(b"orphan") in objects_in(remote)
    gs(a, "gc", "--remote", "team", "--yes", "--grace", "1h")
    left = objects_in(remote)
    assert oid(b"orphan") not in left and {oid(b"kept"), young, pub} <= left
    # another repository uses the remote too: refused unless --shared-ok
    b = new_repo(tmp_path / "b")
    git(b, "commit", "-q", "--amend", "-m", "another repository")
    gs(b, "remote", "add", "team", str(remote), "--default")
    assert gs(b, "gc", "--remote", "team", "--dry-run", check=False).returncode == 1
    proc = gs(a, "gc", "--remote", "team", "--dry-run", check=False)
    assert proc.returncode == 1 and "other repositor" in proc.stderr
    gs(a, "gc", "--remote", "team", "--dry-run", "--shared-ok")
    record("gc", "remote", scenarios=5, wrongly_deleted=0)


def test_a_moved_repository_keeps_its_objects_and_re_registers(tmp_path: Path, cache: Path) -> None:
    # QA: gc from another repository deleted everything a moved one needed
    a = new_repo(tmp_path / "a")
    b = new_repo(tmp_path / "b")
    write(b / "d" / "x.bin", b"only in b, never pushed")
    gs(b, "track", "d")
    git(b, "commit", "-qm", "b")
    age_everything(cache)
    before = objects_in(cache)
    moved = tmp_path / "b-moved"
    b.rename(moved)
    refused = gs(a, "gc", "--grace", "0", check=False)
    assert refused.returncode != 0 and str(b) in refused.stderr
    assert objects_in(cache) == before
    gs(moved, "status")  # any command in the new place registers it there, once
    gs(a, "gc", "--grace", "0")
    gs(moved, "verify", "--complete")
    assert (moved / "d" / "x.bin").read_bytes() == b"only in b, never pushed"


def test_another_repository_with_a_broken_head_stops_gc_cleanly(
    tmp_path: Path, cache: Path
) -> None:
    a = new_repo(tmp_path / "a")
    z = new_repo(tmp_path / "z")
    write(z / "f.bin", b"z data")
    gs(z, "track", "f.bin")
    (z / ".git" / "HEAD").write_text("garbage\n")
    out = gs(a, "gc", "--dry-run", "--grace", "0", check=False)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "cannot read the repository" in out.stderr and "nothing was deleted" in out.stderr


def test_a_work_tree_without_an_index_still_protects_its_manifests(
    tmp_path: Path, cache: Path
) -> None:
    a = new_repo(tmp_path / "a")
    z = new_repo(tmp_path / "z")
    write(z / "d" / "x.bin", b"v1")
    gs(z, "track", "d")
    git(z, "commit", "-qm", "v1")
    write(z / "d" / "x.bin", b"v2, tracked and never committed")
    gs(z, "track", "d")
    git(z, "reset", "-q")
    (z / ".git" / "index").unlink()
    age_everything(cache)
    gs(a, "gc", "--grace", "0")
    assert oid(b"v2, tracked and never committed") in objects_in(cache)
