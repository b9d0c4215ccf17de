"""``gc --remote``: which refs of the git remotes it heeds, and which repositories share a store.

QA findings 3, 4, 5 and 10 of the gc pass, through the real git binary, with a
bare origin and a folder remote: review refs (``refs/changes/*``) and commits
that ls-remote lists but no local ref reaches are protected; a repository
that only pushes is known to the others' collections; clones of one
repository are one repository however ``origin`` is spelled.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.integration.test_hooks import Clone, make_team, objects_in, oid_of, solo


@pytest.fixture
def team(tmp_path: Path) -> tuple[Clone, Clone, Path, Path]:
    """(alice, bob, origin, store): alice has pushed data/ to git and the folder remote ``store``."""
    store = tmp_path / "store"
    return (*make_team(tmp_path, str(store)), store)


def _age(store: Path) -> None:
    """Every object of the folder remote two days old, as if pushed long before the last fetch."""
    past = time.time() - 2 * 86400
    for path in (store / "objects").rglob("*"):
        if path.is_file():
            os.utime(path, (past, past))


def _object_of(clone: Clone, rel: str, store: Path) -> str:
    short = oid_of(clone, rel)
    (found,) = [o for o in objects_in(store) if o.startswith(short)]
    return found


def _collect(clone: Clone, remote: str = "team") -> None:
    clone.gs("gc", "--remote", remote, "--dry-run", "--grace", "0")
    clone.gs("gc", "--remote", remote, "--grace", "0", "--yes")


def _bob_with_data(bob: Clone, content: bytes, branch: str | None = None) -> None:
    bob.gs("install")
    bob.gs("pull")
    if branch:
        bob.git("switch", "-qc", branch)
    bob.write("data/b.bin", content)
    bob.commit_data("bob's data")


def test_a_review_ref_of_the_git_remote_stops_gc_until_every_ref_is_fetched(team) -> None:
    """Finding 3: refs/changes/* (Gerrit; refs/pull/* on GitHub) were not listed; their data went."""
    alice, bob, _origin, store = team
    _bob_with_data(bob, b"bravo under review")
    bob.git("push", "-q", "origin", "HEAD:refs/changes/01/1/1")  # pre-push uploads its data
    reviewed = _object_of(bob, "data/b.bin", store)
    _age(store)

    alice.git("fetch", "-q")
    refused = alice.gs("gc", "--remote", "team", "--dry-run", "--grace", "0", ok=False)
    assert "has refs/changes/01/1/1 at a commit this clone has not fetched" in refused.stderr
    fetch = "git fetch origin '+refs/*:refs/remotes-all/origin/*'"
    assert fetch in refused.stderr

    alice.git("fetch", "-q", "origin", "+refs/*:refs/remotes-all/origin/*")  # as the hint says
    _collect(alice)
    assert reviewed in objects_in(store)


def test_a_branch_of_the_git_remote_at_a_dangling_commit_keeps_its_data(team) -> None:
    """Finding 4: a branch deleted on origin, pruned here, then restored: its commit is here, reachable
    from no local ref; it was taken as fetched and its objects deleted."""
    alice, bob, origin, store = team
    _bob_with_data(bob, b"bravo on x", branch="x")
    bob.git("push", "-q", "origin", "x")
    on_x = _object_of(bob, "data/b.bin", store)
    alice.git("fetch", "-q")  # alice gets x's commit
    subprocess.run(["git", "-C", str(origin), "branch", "-qD", "x"], check=True)
    alice.git("fetch", "-q", "--prune")  # origin/x and its reflog go; the commit stays
    bob.git("push", "-q", "origin", "x")  # the branch restored on the server
    _age(store)

    _collect(alice)
    assert on_x in objects_in(store)


def test_a_repository_that_only_pushes_is_known_to_anothers_gc(tmp_path: Path) -> None:
    """Finding 5: users/<id>.yaml was written by gc --remote alone; a repository that only pushed
    (gitstore push, or git push through the pre-push hook) was invisible, and its data collected."""
    store = tmp_path / "store"
    origin = tmp_path / "b-origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    repos = {}
    for name in ("a", "b"):
        repo = repos[name] = solo(tmp_path / name, tmp_path / f"{name}-cache")
        repo.gs("remote", "add", "shared", str(store), "--default")
        repo.write("f.bin", f"{name}'s data")
        repo.gs("track", "f.bin")
        repo.git("add", "-A")
        repo.git("commit", "-qm", name)
    repos["a"].gs("push")
    repos["b"].git("remote", "add", "origin", str(origin))
    repos["b"].git("push", "-q", "origin", "main")  # the pre-push hook uploads
    assert len(list((store / "users").glob("*.yaml"))) == 2
    repos["a"].gs("push")  # nothing to send: nothing written
    assert len(list((store / "users").glob("*.yaml"))) == 2
    _age(store)

    for repo in repos.values():
        refused = repo.gs("gc", "--remote", "shared", "--dry-run", "--grace", "0", ok=False)
        assert "also used by 1 other repository" in refused.stderr
    assert len(objects_in(store)) == 2

    # a store whose users/ cannot be written never fails a push
    other = tmp_path / "other-store"
    (other / "users").parent.mkdir()
    (other / "users").write_text("not a folder")
    repos["a"].gs("remote", "add", "other", str(other))
    repos["a"].gs("push", "--remote", "other")
    assert len(objects_in(other)) == 1


def test_a_repository_whose_objects_another_uploaded_is_known_to_its_gc(tmp_path: Path) -> None:
    """Left by the sixth pass: a repository whose every object another repository had uploaded
    first went unrecorded (push recorded it only with something to send), so the other's
    ``gc --remote`` could delete what the first one's commits name."""
    store = tmp_path / "store"
    repos = {}
    for name in ("a", "b"):
        repo = repos[name] = solo(tmp_path / name, tmp_path / "shared-cache")
        repo.gs("remote", "add", "shared", str(store), "--default")
        repo.write("f.bin", "the same dataset in both")
        repo.gs("track", "f.bin")
        repo.git("add", "-A")
        repo.git("commit", "-qm", name)
    repos["a"].gs("push")
    assert "pushed 0 objects (0 B) to 'shared'; 1 already there" in repos["b"].gs("push").stdout
    assert len(list((store / "users").glob("*.yaml"))) == 2
    _age(store)
    refused = repos["a"].gs("gc", "--remote", "shared", "--dry-run", "--grace", "0", ok=False)
    assert "also used by 1 other repository" in refused.stderr
    # the record is remembered: a later push asks the store nothing about it
    for record in (store / "users").glob("*.yaml"):
        record.unlink()
    repos["b"].gs("push")
    assert not list((store / "users").glob("*.yaml"))


def test_a_shallow_clone_that_pushes_is_no_other_repository(team, tmp_path: Path) -> None:
    """A CI job's shallow clone records itself when it pushes; its first commit is where its
    history was cut, yet its origin makes it this repository, not one that stops every gc."""
    alice, _bob, origin, store = team
    alice.write("data/a.bin", b"alpha v2")
    alice.commit_data("data v2")
    alice.git("push", "-q", "origin", "main")
    ci = Clone(tmp_path / "ci", tmp_path / "ci-cache")
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{origin}", str(ci.path)],
        check=True,
        capture_output=True,
    )
    ci.gs("install")
    ci.write("data/b.bin", b"bravo from ci")
    ci.gs("track", "data")
    ci.gs("push")
    assert any("shallow: true" in p.read_text() for p in (store / "users").glob("*.yaml"))

    alice.git("fetch", "-q")
    alice.gs("gc", "--remote", "team", "--dry-run")


def _shared_origin(tmp_path: Path) -> tuple[Clone, Path, Path]:
    """(me, origin, store): ``me`` pushed to a bare origin it names by a relative path."""
    origin = tmp_path / "origin.git"
    store = tmp_path / "store"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    me = solo(tmp_path / "me", tmp_path / "me-cache")
    me.gs("remote", "add", "team", str(store), "--default")
    me.write("f.bin", "v1")
    me.gs("track", "f.bin")
    me.git("add", "-A")
    me.git("commit", "-qm", "v1")
    me.git("remote", "add", "origin", "../origin.git")
    me.git("push", "-q", "-u", "origin", "main")
    return me, origin, store


def _clone(tmp_path: Path, name: str, url: str) -> Clone:
    clone = Clone(tmp_path / name, tmp_path / f"{name}-cache")
    subprocess.run(["git", "clone", "-q", url, str(clone.path)], check=True, capture_output=True)
    clone.gs("install")
    return clone


def test_clones_of_one_repository_are_one_user_however_origin_is_spelled(tmp_path: Path) -> None:
    """Finding 10: the id hashed the literal origin URL and HEAD's root, so a file:// clone, an
    orphan branch or an unborn HEAD counted as another repository, and gc refused."""
    me, origin, store = _shared_origin(tmp_path)
    me.gs("gc", "--remote", "team", "--dry-run")
    other = _clone(tmp_path, "other", f"file://{origin}/")
    other.gs("gc", "--remote", "team", "--dry-run")
    _clone(tmp_path, "third", str(origin)).gs("gc", "--remote", "team", "--dry-run")

    me.gs("remote", "add", "here", str(store), "--local")  # orphan branches lack the committed one
    me.git("switch", "-q", "--orphan", "pages")
    me.git("commit", "-q", "--allow-empty", "-m", "pages")
    me.gs("gc", "--remote", "here", "--dry-run")
    me.git("switch", "-q", "--orphan", "unborn")
    me.gs("gc", "--remote", "here", "--dry-run")
    assert len(list((store / "users").glob("*.yaml"))) == 1


def test_a_record_written_before_ids_were_normalised_is_still_this_repository(
    tmp_path: Path,
) -> None:
    """An older gitstore recorded the literal origin URL; the same repository is not "another"."""
    me, origin, store = _shared_origin(tmp_path)
    first = me.git("rev-list", "--max-parents=0", "HEAD").stdout.strip()
    old = {"repository": "0123456789abcdef01234567", "first_commit": first}
    old |= {"origin": "../origin.git", "path": str(me.path)}
    (store / "users").mkdir(exist_ok=True)
    for recorded in (store / "users").glob("*.yaml"):  # as if only an older gitstore had run
        recorded.unlink()
    (store / "users" / f"{old['repository']}.yaml").write_text(yaml.safe_dump(old))
    _clone(tmp_path, "other", f"file://{origin}").gs("gc", "--remote", "team", "--dry-run")

    old |= {"repository": "76543210fedcba9876543210", "first_commit": "f" * 40}
    (store / "users" / f"{old['repository']}.yaml").write_text(yaml.safe_dump(old))
    refused = me.gs("gc", "--remote", "team", "--dry-run", ok=False)
    assert "also used by 1 other repository (76543210fedcba9876543210)" in refused.stderr


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://Example.com/org/repo", "git@example.com:org/repo.git"),
        ("ssh://git@example.com:22/org/repo/", "example.com:org/repo"),
        ("https://user:token@example.com/org/repo.git/", "http://example.com/org/repo"),
        ("../origin.git", "file:///work/origin.git"),
        ("/work/origin.git/", "/work/origin"),
    ],
)
def test_one_spelling_of_a_git_remote_url(a: str, b: str) -> None:
    from gitstore.gc_remote import normalise_url

    assert normalise_url(a, Path("/work/me")) == normalise_url(b, Path("/work/me"))
    assert "token" not in normalise_url(a, Path("/work/me"))


def test_a_push_to_the_git_remote_during_the_collection_stops_it(team, tmp_path: Path) -> None:
    """QA pass 7: ls-remote was asked once, at the start; a teammate's commit pushed while the
    store was listed could name an object already there (so young in no way) and lose it."""
    alice, bob, origin, store = team
    bob.gs("install")
    bob.gs("pull")
    bob.write("data/old.bin", b"an object nobody will name")
    bob.commit_data("soon orphaned")
    bob.git("push", "-q", "origin", "main")
    bob.git("reset", "-q", "--hard", "HEAD~1")
    bob.git("push", "-q", "--force", "origin", "main")
    _age(store)
    alice.git("fetch", "-q")
    alice.gs("gc", "--remote", "team", "--dry-run", "--grace", "0")
    before = objects_in(store)
    # the git remote moves between the collection's first ls-remote and its deletions
    calls, wrapper = tmp_path / "calls", tmp_path / "upload-pack"
    head = subprocess.run(
        ["git", "-C", str(origin), "rev-parse", "main"], capture_output=True, text=True, check=True
    ).stdout.strip()
    wrapper.write_text(
        "#!/bin/sh\n"
        f"echo x >> {calls}\n"
        f'if [ "$(wc -l < {calls})" -ge 2 ]; then'
        f" git -C {origin} update-ref refs/heads/teammate {head}; fi\n"
        'exec git-upload-pack "$@"\n'
    )
    wrapper.chmod(0o755)
    alice.git("config", "remote.origin.uploadpack", str(wrapper))
    refused = alice.gs("gc", "--remote", "team", "--grace", "0", "--yes", ok=False)
    assert "the git remote 'origin' changed (refs/heads/teammate)" in refused.stderr
    assert "nothing was deleted" in refused.stderr
    assert objects_in(store) == before


def _hidden_folders(store: Path) -> dict[str, Path]:
    """Folders as a process killed between making and moving them in leaves them (sharing.make_one)."""
    first = sorted(p for p in (store / "objects").iterdir() if len(p.name) == 2)[0]
    made = {
        "root": store / ".objects.0badf00d.tmp",
        "level1": store / "objects" / ".ab.deadbeef.tmp",
        "level2": first / ".cd.cafebabe.tmp",
        "young": store / "objects" / ".ef.12345678.tmp",
        "not empty": store / "objects" / ".aa.87654321.tmp",
    }
    for path in made.values():
        path.mkdir()
    (made["not empty"] / "x").write_bytes(b"not a killed mkdir's")
    past = time.time() - 3 * 86400
    for name, path in made.items():
        if name != "young":
            os.utime(path, (past, past))
    return made


@pytest.mark.parametrize("where", ["cache", "remote"])
def test_gc_sweeps_the_empty_hidden_folders_a_killed_process_left(team, where: str) -> None:
    """An old, empty ``.NAME.XXXXXXXX.tmp`` folder is removed by gc; a young or full one stays."""
    alice, _bob, _origin, store = team
    place = alice.cache / "gitstore" if where == "cache" else store
    made = _hidden_folders(place)
    before = objects_in(place)
    remote = ("--remote", "team") if where == "remote" else ()
    listed = alice.gs("gc", *remote, "--dry-run", "--json").stdout
    assert all(path.exists() for path in made.values())  # a dry run removes nothing
    assert ".ab.deadbeef.tmp" in listed and ".ef.12345678.tmp" not in listed
    out = alice.gs("gc", *remote, *(("--yes",) if remote else ()), "--json").stdout
    left = {name for name, path in made.items() if path.exists()}
    assert left == {"young", "not empty"}, out
    assert objects_in(place) == before
    assert ".ab.deadbeef.tmp" in out
