"""A team of Unix users sharing a folder remote (a NAS) or one cache (a GPU server).

The folder is set up as an administrator would: group ``team``, mode 2775.
Each user has their own umask; the default 022 made the first pusher the
only one able to write into ``tmp/`` and every ``objects/ab/cd/`` folder
they created (git's ``core.sharedRepository``, DVC's ``cache.shared``).
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from .users import (
    NEEDS_ROOT,
    NO_HOOKS,
    TEAM_GID,
    User,
    make_users,
    oid_of,
    same_folder_as,
    shared_folder,
    team_base,
    team_origin,
    write_as,
)

pytestmark = NEEDS_ROOT


def _folders(root: Path) -> list[Path]:
    return [Path(d) for d, _, _ in os.walk(root) if Path(d) != root]


def _share(user: User, repo: Path, name: str, data: bytes) -> str:
    """Add data/NAME, track, commit, push the object and the commit: gitstore push's output."""
    write_as(user, repo / "data" / name, data)
    user.gitstore(repo, "track", "data")
    user.git(repo, *NO_HOOKS, "commit", "-qm", name)
    pushed = user.gitstore(repo, "push").out
    user.git(repo, *NO_HOOKS, "push", "-q", "origin", "main")
    return pushed


def test_a_team_pushes_to_one_folder_remote_whatever_their_umask() -> None:
    with team_base() as base:
        remote = shared_folder(base / "nas")
        origin = team_origin(base)
        alice, bob, carol = make_users(base, ("alice", 0o022), ("bob", 0o022), ("carol", 0o077))
        one = b"alice's first file\n" * 100
        two = same_folder_as(oid_of(one), b"bob ")
        three = b"carol's file, written with umask 077\n"

        a = base / "a"
        alice.git(base, "clone", "-q", str(origin), str(a))
        alice.gitstore(a, "init")
        alice.gitstore(a, "remote", "add", "nas", str(remote), "--default")
        _share(alice, a, "one.bin", one)

        b = base / "b"
        bob.git(base, "clone", "-q", str(origin), str(b))
        bob.gitstore(b, "pull")
        assert (b / "data" / "one.bin").read_bytes() == one
        # into tmp/ and objects/ab/cd/, both made by alice
        pushed = _share(bob, b, "two.bin", two)
        assert "pushed 1 object" in pushed, pushed

        c = base / "c"
        carol.git(base, "clone", "-q", str(origin), str(c))
        carol.gitstore(c, "pull")
        assert (c / "data" / "two.bin").read_bytes() == two
        _share(carol, c, "three.bin", three)

        # alice reads what carol's umask 077 would have kept to herself
        alice.git(a, *NO_HOOKS, "pull", "-q", "--ff-only")
        alice.gitstore(a, "pull")
        assert (a / "data" / "three.bin").read_bytes() == three
        assert (a / "data" / "two.bin").read_bytes() == two

        # both publish the branch's history there (branches/, commits/...)
        alice.gitstore(a, "publish", "nas")
        bob.git(b, *NO_HOOKS, "pull", "-q", "--ff-only")
        _share(bob, b, "four.bin", b"bob again\n")
        bob.gitstore(b, "publish", "nas")
        head = bob.git(b, "rev-parse", "HEAD").out.strip()
        got = carol.gitstore(
            c, "get-published", "nas", "data/four.bin", "--commit", head, "-o", str(c / "four")
        )
        assert (c / "four").read_bytes() == b"bob again\n", got

        for folder in _folders(remote):
            st = folder.stat()
            assert stat.S_IMODE(st.st_mode) == 0o2775, (folder, oct(st.st_mode))
            assert st.st_gid == TEAM_GID, folder
        for path in remote.rglob("*"):
            if path.is_file():
                assert path.stat().st_mode & 0o044 == 0o044, (path, oct(path.stat().st_mode))
        verified = bob.gitstore(b, "verify", "--remote", "nas")
        assert verified.code == 0, verified


def test_a_folder_remote_nobody_shares_keeps_the_umask() -> None:
    with team_base() as base:
        (alice,) = make_users(base, ("alice", 0o022))
        remote = base / "mine"
        remote.mkdir()
        os.chown(remote, alice.uid, alice.gid)
        os.chmod(remote, 0o755)
        a = base / "a"
        alice.git(base, "init", "-q", str(a))
        alice.gitstore(a, "init")
        alice.gitstore(a, "remote", "add", "mine", str(remote), "--default")
        write_as(alice, a / "data" / "x.bin", b"x" * 1000)
        alice.gitstore(a, "track", "data")
        alice.gitstore(a, "push", "--all")
        for folder in _folders(remote):
            assert stat.S_IMODE(folder.stat().st_mode) == 0o755, folder


def test_a_cache_shared_by_a_group_on_one_machine() -> None:
    with team_base() as base:
        cache = shared_folder(base / "cache")
        alice, bob = make_users(base, ("alice", 0o022), ("bob", 0o077))
        x = b"alice's dataset file\n" * 50
        y = same_folder_as(oid_of(x), b"bob ")
        env = {"GITSTORE_CACHE_DIR": str(cache)}

        a, b = base / "a", base / "b"
        alice.git(base, "init", "-q", str(a))
        write_as(alice, a / "data" / "x.bin", x)
        alice.gitstore(a, "track", "data", **env)

        bob.git(base, "init", "-q", str(b))
        write_as(bob, b / "data" / "y.bin", y)
        write_as(bob, b / "data" / "copy-of-x.bin", x)
        # y goes into objects/ab/cd/, made by alice; x is there already
        bob.gitstore(b, "track", "data", **env)
        os.unlink(b / "data" / "copy-of-x.bin")
        bob.gitstore(b, "checkout", **env)
        assert (b / "data" / "copy-of-x.bin").read_bytes() == x

        # alice reads the object bob wrote with umask 077
        write_as(alice, a / "data" / "copy-of-y.bin", y)
        alice.gitstore(a, "track", "data", **env)
        os.unlink(a / "data" / "copy-of-y.bin")
        alice.gitstore(a, "checkout", **env)
        assert (a / "data" / "copy-of-y.bin").read_bytes() == y

        for folder in _folders(cache):
            assert stat.S_IMODE(folder.stat().st_mode) == 0o2775, folder
        # gc by bob reads alice's repository and keeps what both need
        collected = bob.gitstore(b, "gc", **env)
        assert collected.code == 0, collected
        for data in (x, y):
            oid = oid_of(data)
            assert (cache / "objects" / oid[:2] / oid[2:4] / oid).is_file()


def test_a_remote_shared_before_gitstore_kept_its_folders_so_says_how_to_mend_it() -> None:
    """Folders made by an older gitstore (or by hand) under the umask: the teammate's
    push names the folder that refused and says what the owner runs; after that it works."""
    with team_base() as base:
        remote = shared_folder(base / "nas")
        alice, bob = make_users(base, ("alice", 0o022), ("bob", 0o022))
        one = b"made before the team came\n"
        two = same_folder_as(oid_of(one), b"bob ")
        a, b = base / "a", base / "b"
        alice.git(base, "init", "-q", str(a))
        alice.gitstore(a, "remote", "add", "nas", str(remote), "--default", "--local")
        write_as(alice, a / "data" / "one.bin", one)
        alice.gitstore(a, "track", "data")
        alice.gitstore(a, "push", "--all")
        for folder in _folders(remote):
            os.chmod(folder, 0o2755)  # as the umask made them before

        bob.git(base, "init", "-q", str(b))
        bob.gitstore(b, "remote", "add", "nas", str(remote), "--default", "--local")
        write_as(bob, b / "data" / "two.bin", two)
        bob.gitstore(b, "track", "data")
        refused = bob.gitstore(b, "push", "--all", ok=False)
        assert refused.code != 0
        assert "Traceback" not in refused.err
        error = [line for line in refused.err.splitlines() if line.startswith("gitstore: error")]
        assert len(error) == 1, refused.err
        assert "'nas'" in error[0] and "Permission denied" in error[0], error
        assert f"({remote}/" in error[0], error  # the folder that refused
        assert f"find {remote} -type d -exec chmod g+ws" in refused.err, refused.err

        # what the hint says, run by whoever owns the folders: here the administrator
        subprocess.run(["chgrp", "-R", str(TEAM_GID), str(remote)], check=True)
        subprocess.run(
            ["find", str(remote), "-type", "d", "-exec", "chmod", "g+ws", "{}", "+"], check=True
        )
        bob.gitstore(b, "push", "--all")
        oid = oid_of(two)
        assert (remote / "objects" / oid[:2] / oid[2:4] / oid).read_bytes() == two


def test_remote_status_names_the_folders_a_shared_remote_keeps_from_its_group() -> None:
    with team_base() as base:
        remote = shared_folder(base / "nas")
        (alice,) = make_users(base, ("alice", 0o022))
        a = base / "a"
        alice.git(base, "init", "-q", str(a))
        alice.gitstore(a, "remote", "add", "nas", str(remote), "--default", "--local")
        write_as(alice, a / "data" / "one.bin", b"one\n")
        alice.gitstore(a, "track", "data")
        alice.gitstore(a, "push", "--all")
        clean = alice.gitstore(a, "remote", "status")
        assert "cannot write" not in clean.out, clean.out
        oid = oid_of(b"one\n")
        made_before = remote / "objects" / oid[:2] / oid[2:4]
        os.chmod(made_before, 0o2755)
        said = alice.gitstore(a, "remote", "status")
        assert (
            f"folders its group cannot write to, so teammates' pushes there fail: {made_before};"
            in said.out
        ), said.out
        assert f"find {remote} -type d -exec chmod g+ws" in said.out
        as_json = alice.gitstore(a, "remote", "status", "--json")
        assert str(made_before) in as_json.out
