"""QA of folder remotes and caches shared by a team of Unix users (commit 86604de).

Each test acts as real users (see users.py) and states what a team on a NAS or
a shared GPU server expects; each failed when it was written.
"""

from __future__ import annotations

import dataclasses
import os
import stat
import threading
from pathlib import Path

from .users import (
    NEEDS_ROOT,
    NO_HOOKS,
    TEAM_GID,
    Result,
    User,
    make_users,
    object_in,
    oid_of,
    same_folder_as,
    shared_folder,
    team_base,
    team_origin,
    write_as,
)

pytestmark = NEEDS_ROOT


def _repo(user: User, base: Path, data: bytes, env: dict[str, str], commit: bool = True) -> Path:
    """A repository of ``user``'s own with ``data/f.bin`` tracked (and committed)."""
    repo = base / user.name
    user.git(base, "init", "-q", str(repo))
    write_as(user, repo / "data" / "f.bin", data)
    user.gitstore(repo, "track", "data", **env)
    if commit:
        user.git(repo, "add", "-A")
        user.git(repo, *NO_HOOKS, "commit", "-qm", "data")
    return repo


def _made_before(root: Path, *only: str) -> None:
    """Every folder inside ``root`` (or inside ``root/ONLY`` and those) as the umask 022
    made it before the team shared it."""
    for top in [root / name for name in only] or [root]:
        for folder, _, _ in os.walk(top):
            if Path(folder) != root:
                os.chmod(folder, 0o2755)


def _one_error_line(result: Result) -> str:
    assert result.code != 0, result
    assert "Traceback" not in result.err, result.err
    lines = [x for x in result.err.splitlines() if x.startswith("gitstore: error")]
    assert len(lines) == 1, result.err
    return lines[0]


def _says_how_to_mend(result: Result, root: Path) -> None:
    """The refusal names the folder inside ``root`` that refused and the owner's commands."""
    line = _one_error_line(result)
    assert "Permission denied" in line, line
    assert f"({root}/" in line, line  # the folder that refused
    assert f"find {root} -type d -exec chmod g+ws" in result.err, result.err


# -- a shared cache: gc ----------------------------------------------------------------
def test_gc_of_a_shared_cache_calls_a_private_repository_unreadable_not_gone() -> None:
    """carol (umask 077) uses the team's cache; her clone is hers alone. docs/cache.md:
    a repository another user cannot read stops the collection with one line. It must
    not be called moved or deleted, nor the way out be ``--forget-missing``."""
    with team_base() as base:
        cache = shared_folder(base / "cache")
        env = {"GITSTORE_CACHE_DIR": str(cache)}
        alice, carol = make_users(base, ("alice", 0o022), ("carol", 0o077))
        a = _repo(alice, base, b"alice's data\n" * 50, env)
        c = _repo(carol, base, b"carol's data\n" * 50, env)

        refused = alice.gitstore(a, "gc", "--dry-run", ok=False, **env)
        line = _one_error_line(refused)
        assert str(c / ".git") in line, line
        assert "Permission denied" in line or "cannot read" in line, line
        assert "is not there" not in line and "another repository is there" not in line, line
        assert "--forget-missing" not in refused.err, refused.err


def test_gc_forget_missing_never_drops_a_repository_it_merely_cannot_read() -> None:
    """``gc --forget-missing`` forgets repositories that are gone. carol's is there, only
    unreadable to alice: alice's gc must not drop its registration and delete the object
    carol tracked (and has not pushed anywhere)."""
    with team_base() as base:
        cache = shared_folder(base / "cache")
        env = {"GITSTORE_CACHE_DIR": str(cache)}
        alice, carol = make_users(base, ("alice", 0o022), ("carol", 0o077))
        a = _repo(alice, base, b"alice's data\n" * 50, env)
        carols = b"carol's only copy\n" * 50
        c = _repo(carol, base, carols, env)
        markers = sorted(p.name for p in (cache / "repos").iterdir())

        alice.gitstore(a, "gc", "--forget-missing", "--grace", "0", ok=False, **env)
        assert object_in(cache, carols).is_file(), (
            "alice's gc deleted what carol's repository needs"
        )
        assert sorted(p.name for p in (cache / "repos").iterdir()) == markers
        os.unlink(c / "data" / "f.bin")
        carol.gitstore(c, "checkout", **env)
        assert (c / "data" / "f.bin").read_bytes() == carols


def test_gc_of_a_shared_cache_after_a_umask_077_user_made_its_lock_file() -> None:
    """carol (umask 077) was the first to write to the team's cache: gc.lock is hers,
    mode 0600. alice's gc must still run (the folder is the team's: the lock file can
    be opened, or made anew), not stop on a lock file she may not open."""
    with team_base() as base:
        cache = shared_folder(base / "cache")
        env = {"GITSTORE_CACHE_DIR": str(cache)}
        alice, carol = make_users(base, ("alice", 0o022), ("carol", 0o077))
        _repo(carol, base, b"carol's data\n" * 50, env)
        for p in [base / "carol", *(base / "carol").rglob("*")]:  # readable by alice:
            os.chmod(p, os.stat(p).st_mode | (0o055 if p.is_dir() else 0o044))  # only the lock
        a = _repo(alice, base, b"alice's data\n" * 50, env)

        collected = alice.gitstore(a, "gc", ok=False, **env)
        assert collected.code == 0, collected


# -- a shared folder remote: publish ---------------------------------------------------
def test_publish_a_branch_a_umask_077_teammate_published_before() -> None:
    """carol (umask 077) publishes main first; alice publishes her next commit of main.
    The branch document's lock file (branches/main.yaml.lock, 0600 carol's) must not
    stop her: the folder is the team's."""
    with team_base() as base:
        remote = shared_folder(base / "nas")
        origin = team_origin(base)
        alice, carol = make_users(base, ("alice", 0o022), ("carol", 0o077))
        c = base / "c"
        carol.git(base, "clone", "-q", str(origin), str(c))
        carol.gitstore(c, "init")
        carol.gitstore(c, "remote", "add", "nas", str(remote), "--default")
        write_as(carol, c / "data" / "one.bin", b"carol's file\n" * 20)
        carol.gitstore(c, "track", "data")
        carol.git(c, "add", "-A")
        carol.git(c, *NO_HOOKS, "commit", "-qm", "one")
        carol.gitstore(c, "push")
        carol.gitstore(c, "publish", "nas")
        carol.git(c, *NO_HOOKS, "push", "-q", "origin", "main")

        a = base / "a"
        alice.git(base, "clone", "-q", str(origin), str(a))
        alice.gitstore(a, "pull")
        write_as(alice, a / "data" / "two.bin", b"alice's file\n" * 20)
        alice.gitstore(a, "track", "data")
        alice.git(a, *NO_HOOKS, "commit", "-qam", "two")
        alice.gitstore(a, "push")
        published = alice.gitstore(a, "publish", "nas", ok=False)
        assert published.code == 0, published


def test_publish_into_folders_made_before_names_the_folder_and_how_to_mend_it() -> None:
    """As a push does (test_shared_folders.py): one line naming the folder that refused,
    and the commands its owner runs."""
    with team_base() as base:
        remote = shared_folder(base / "nas")
        origin = team_origin(base)
        alice, bob = make_users(base, ("alice", 0o022), ("bob", 0o022))
        a = base / "a"
        alice.git(base, "clone", "-q", str(origin), str(a))
        alice.gitstore(a, "init")
        alice.gitstore(a, "remote", "add", "nas", str(remote), "--default")
        write_as(alice, a / "data" / "one.bin", b"alice's file\n" * 20)
        alice.gitstore(a, "track", "data")
        alice.git(a, "add", "-A")
        alice.git(a, *NO_HOOKS, "commit", "-qm", "one")
        alice.gitstore(a, "push")
        alice.gitstore(a, "publish", "nas")
        alice.git(a, *NO_HOOKS, "push", "-q", "origin", "main")
        _made_before(remote, "commits", "branches")  # objects/ and tmp/ are the team's

        b = base / "b"
        bob.git(base, "clone", "-q", str(origin), str(b))
        bob.gitstore(b, "pull")
        write_as(bob, b / "data" / "two.bin", b"bob's file\n" * 20)
        bob.gitstore(b, "track", "data")
        bob.git(b, *NO_HOOKS, "commit", "-qam", "two")
        bob.gitstore(b, "push")  # the objects go in: only the published entries are refused
        refused = bob.gitstore(b, "publish", "nas", ok=False)
        _says_how_to_mend(refused, remote)


# -- folders made before the team shared them: gc, track ----------------------------------
def test_gc_of_a_cache_in_folders_made_before_names_the_folder_and_how_to_mend_it() -> None:
    with team_base() as base:
        cache = shared_folder(base / "cache")
        env = {"GITSTORE_CACHE_DIR": str(cache)}
        alice, bob = make_users(base, ("alice", 0o022), ("bob", 0o002))
        a = _repo(alice, base, b"a first version\n" * 50, env, commit=False)
        write_as(alice, a / "data" / "f.bin", b"the second version\n" * 50)
        alice.gitstore(a, "track", "data", **env)  # the first one is garbage now
        alice.git(a, "add", "-A")
        alice.git(a, *NO_HOOKS, "commit", "-qm", "data")
        b = _repo(bob, base, b"bob's data\n" * 50, env)
        _made_before(cache)

        refused = bob.gitstore(b, "gc", "--grace", "0", ok=False, **env)
        _says_how_to_mend(refused, cache)


def test_gc_of_a_remote_in_folders_made_before_names_the_folder_and_how_to_mend_it() -> None:
    with team_base() as base:
        remote = shared_folder(base / "nas")
        alice, bob = make_users(base, ("alice", 0o022), ("bob", 0o002))
        a = _repo(alice, base, b"alice's old data\n" * 50, {})
        alice.gitstore(a, "remote", "add", "nas", str(remote), "--default", "--local")
        alice.gitstore(a, "push", "--all")
        b = _repo(bob, base, b"bob's data\n" * 50, {})
        bob.gitstore(b, "remote", "add", "nas", str(remote), "--default", "--local")
        bob.gitstore(b, "push", "--all")
        _made_before(remote)

        gc = ("gc", "--remote", "nas", "--grace", "0", "--shared-ok")
        planned = bob.gitstore(b, *gc, "--dry-run")
        assert "would delete 1 object" in planned.out, planned
        refused = bob.gitstore(b, *gc, "--yes", ok=False)
        _says_how_to_mend(refused, remote)


def test_track_into_a_cache_in_folders_made_before_names_the_folder_and_how_to_mend_it() -> None:
    with team_base() as base:
        cache = shared_folder(base / "cache")
        env = {"GITSTORE_CACHE_DIR": str(cache)}
        alice, bob = make_users(base, ("alice", 0o022), ("bob", 0o002))
        _repo(alice, base, b"alice's data\n" * 50, env)
        _made_before(cache)
        os.chmod(cache / "repos", 0o2775)  # bob can register: objects/, tmp/ are in the way
        b = base / "b"
        bob.git(base, "init", "-q", str(b))
        write_as(bob, b / "data" / "f.bin", b"bob's data\n" * 50)
        refused = bob.gitstore(b, "track", "data", ok=False, **env)
        _says_how_to_mend(refused, cache)


# -- the Python API on a shared cache ----------------------------------------------------
def _api_get(user: User, repo: Path, path: str, env: dict[str, str]) -> Result:
    def body() -> int:
        import gitstore.pyapi

        got = gitstore.pyapi.get(path, repo=str(repo))
        print(got)
        return 0

    return user._run(repo, body, env)


def test_python_api_views_of_folders_in_a_shared_cache() -> None:
    """Training code on a GPU server: ``gitstore.get("data")`` materialises a folder view
    under the cache's views/. alice's view made views/ (umask 022: 0755); bob's own
    view must still be made there, and views/ be the team's like every other folder."""
    with team_base() as base:
        cache = shared_folder(base / "cache")
        env = {"GITSTORE_CACHE_DIR": str(cache)}
        alice, bob = make_users(base, ("alice", 0o022), ("bob", 0o002))
        a = _repo(alice, base, b"alice's dataset\n" * 50, env)
        b = _repo(bob, base, b"bob's dataset\n" * 50, env)

        got = _api_get(alice, a, "data", env)
        assert got.code == 0, got
        got = _api_get(bob, b, "data", env)
        assert got.code == 0 and "Traceback" not in got.err, got
        assert (Path(got.out.strip()) / "f.bin").read_bytes() == b"bob's dataset\n" * 50
        views = cache / "views"
        assert stat.S_IMODE(views.stat().st_mode) == 0o2775, oct(views.stat().st_mode)


# -- two users at once -------------------------------------------------------------------
def test_two_users_pushing_at_once_to_a_new_shared_remote() -> None:
    """Two teammates push the same dataset at the same moment to a new team folder. Each
    folder is made (with the umask) and then given the team's mode: in between, the other
    user must not be refused (the folders all end 2775, so the hint to chmod is wrong)."""
    with team_base() as base:
        alice, bob = make_users(base, ("alice", 0o022), ("bob", 0o002))
        files = {f"f{i}.bin": os.urandom(64) for i in range(300)}
        for user in (alice, bob):
            repo = base / user.name
            user.git(base, "init", "-q", str(repo))
            for name, data in files.items():
                write_as(user, repo / "data" / name, data)
            user.gitstore(repo, "track", "data")
        for round_ in range(2):
            remote = shared_folder(base / f"nas{round_}")
            results: dict[str, Result] = {}
            for user in (alice, bob):
                user.gitstore(
                    base / user.name, "remote", "add", remote.name, str(remote), "--local"
                )

            def push(user: User, name: str = remote.name, results: dict = results) -> None:
                results[user.name] = user.gitstore(
                    base / user.name, "push", "--all", "-r", name, "-j", "16", ok=False
                )

            threads = [threading.Thread(target=push, args=(user,)) for user in (alice, bob)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for name, result in results.items():
                assert result.code == 0, (round_, name, result)
            for oid_data in files.values():
                assert object_in(remote, oid_data).is_file()


# -- a group-writable root without the setgid bit ----------------------------------------
@dataclasses.dataclass
class _Member(User):
    """A user whose primary group is their own (user private groups), in team as well."""

    primary: int = 0

    def _child(self, out, err, cwd, body, env):  # type: ignore[no-untyped-def]
        setgroups, setgid = os.setgroups, os.setgid
        os.setgroups = lambda _groups: setgroups([self.primary, TEAM_GID])  # type: ignore[assignment]
        os.setgid = lambda _gid: setgid(self.primary)  # type: ignore[assignment]
        try:
            super()._child(out, err, cwd, body, env)
        finally:  # (the child never returns; the parent's functions are untouched)
            os.setgroups, os.setgid = setgroups, setgid


def test_a_group_writable_root_without_setgid_still_gives_its_folders_setgid() -> None:
    """The administrator ran ``chgrp team DIR; chmod 775 DIR`` (no ``g+s``). As git's
    core.sharedRepository does, every folder gitstore makes inside gets the setgid bit
    (the feature: the root's bits plus setgid), so that it keeps the team's group and a
    teammate whose primary group is another can write there."""
    with team_base() as base:
        remote = shared_folder(base / "nas", 0o775)
        alice = _Member("alice", 61001, base, 0o002, primary=61011)
        bob = _Member("bob", 61002, base, 0o002, primary=61012)
        one = b"alice's file\n"
        two = same_folder_as(oid_of(one), b"bob ")
        for user, data in ((alice, one), (bob, two)):
            user.setup()
            repo = base / user.name
            user.git(base, "init", "-q", str(repo))
            user.gitstore(repo, "remote", "add", "nas", str(remote), "--default", "--local")
            write_as(user, repo / "data" / "f.bin", data)
            user.gitstore(repo, "track", "data")
            pushed = user.gitstore(repo, "push", "--all", ok=False)
            assert pushed.code == 0, (user.name, pushed)
        for folder, _, _ in os.walk(remote):
            if folder == str(remote):
                continue  # the administrator's, as they made it
            st = os.stat(folder)
            assert st.st_mode & stat.S_ISGID and st.st_gid == TEAM_GID, (folder, oct(st.st_mode))
