"""Hooks at their edges (fifteenth QA pass, docs/reliability.md): each test is a finding.

Run through the real git binary with gitstore's hooks installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from tests.integration.test_git_workflows_fifth import _states
from tests.integration.test_hooks import objects_in, solo
from tests.integration.test_hooks import team as _team

team = _team  # the fixture: alice has pushed data/ to a folder remote ``store``


def test_a_folder_where_the_other_branch_has_a_file(team) -> None:
    """The switch brings the path's other files and names the folder; the commit is
    refused with the ways out, never with "changed while being read"."""
    alice, _bob, _origin, _store = team
    alice.git("switch", "-qc", "feat")
    alice.write("data/f9", b"feat f9")
    alice.write("data/sub/x", b"feat x")
    alice.gs("track", "data")
    alice.git("commit", "-qm", "feat: data/f9 and data/sub/x")
    alice.git("switch", "-q", "main")
    alice.write("data/f9/inner", b"my own file")  # a folder of the user's own
    switched = alice.git("switch", "feat")
    assert "data/f9" in switched.stderr, switched.stderr
    assert alice.read("data/sub/x") == b"feat x"  # the rest of the path was brought
    assert alice.read("data/f9/inner") == b"my own file"
    alice.write("code.py", "print(2)\n")
    refused = alice.git("commit", "-qam", "code only", ok=False)
    assert "data/f9" in refused.stderr and "gitstore checkout data" in refused.stderr
    assert "changed while being read" not in refused.stderr, refused.stderr
    shutil.move(alice.path / "data" / "f9", alice.path / "mine")
    alice.gs("checkout", "data")
    assert alice.read("data/f9") == b"feat f9"
    alice.git("commit", "-qam", "code only")
    assert _states(alice) == {"data": "unchanged"}


def _unmount(store: Path) -> Path:
    away = store.with_name("store-away")
    store.rename(away)
    return away


def test_a_push_that_brings_no_data_needs_no_gitstore_remote(team) -> None:
    """A tag, a new branch name on pushed commits, a code-only commit: through while
    the store is unreachable; a commit that brings data is still refused."""
    alice, _bob, origin, store = team
    away = _unmount(store)
    alice.git("tag", "v1.0")
    alice.git("push", "-q", "origin", "v1.0")
    alice.git("push", "-q", "origin", "main:refs/heads/release")
    alice.write("code.py", "print(2)\n")
    alice.git("commit", "-qam", "code only")
    pushed = alice.git("push", "origin", "main")
    assert "could not be reached" in pushed.stderr, pushed.stderr
    alice.write("data/c.bin", b"charlie")
    alice.commit_data("new data")
    refused = alice.git("push", "origin", "main", ok=False)
    assert "push to git remote 'origin' refused" in refused.stderr
    assert "mount the share" in refused.stderr, refused.stderr
    head = alice.git("rev-parse", "HEAD").stdout.strip()
    assert head not in alice.git("ls-remote", str(origin)).stdout
    away.rename(store)
    alice.git("push", "-q", "origin", "main")
    assert head in alice.git("ls-remote", str(origin)).stdout


def test_a_new_empty_folder_where_the_store_was_gets_every_object_pushed(team) -> None:
    """The clone's index remembers objects there; a folder made anew at its path holds
    none, so a push sends all its commits' objects rather than only the new one."""
    alice, _bob, _origin, store = team
    _unmount(store)
    store.mkdir()
    alice.write("data/c.bin", b"charlie")
    alice.commit_data("new data")
    alice.git("push", "-q", "origin", "main")
    needed = {row["oid"] for row in json.loads(alice.gs("ls", "--json").stdout)}
    assert len(needed) == 3 and needed <= objects_in(store)


def test_push_dry_run_with_nothing_to_send_says_would(team) -> None:
    alice, _bob, _origin, _store = team
    out = alice.gs("push", "--dry-run").stdout
    assert out.startswith("would push 0 objects"), out


def test_a_pushed_manifest_with_conflict_markers_names_the_git_remote(team) -> None:
    alice, _bob, _origin, _store = team
    manifest = alice.path / "data.gitstore"
    manifest.write_text(manifest.read_text() + "<<<<<<< ours\n=======\n>>>>>>> theirs\n")
    alice.git("commit", "-qam", "broken", "--no-verify")
    refused = alice.git("push", "origin", "main", ok=False)
    assert "push to git remote 'origin' refused" in refused.stderr, refused.stderr
    assert "conflict markers" in refused.stderr


def test_a_commit_beside_a_running_checkout_waits_for_it(tmp_path: Path) -> None:
    """pre-commit read a running checkout's marks as one that did not finish and refused,
    telling the user to run `gitstore pull`; it now waits for the checkout's lock."""
    import fcntl
    import time

    repo = solo(tmp_path / "repo", tmp_path / "cache")
    repo.write("data/a.bin", b"alpha v1")
    repo.gs("track", "data")
    repo.git("commit", "-qm", "data")
    state = repo.path / ".git" / "gitstore"
    # what a checkout at work leaves: its lock held, its path marked, a file half-way
    fd = os.open(state / "workspace.lock", os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(fd, fcntl.LOCK_EX)
    (state / "unmaterialised.json").write_text('{"data": "a checkout did not finish"}')
    repo.write("data/a.bin", b"half-way")
    repo.write("notes.txt", "notes\n")
    repo.git("add", "notes.txt")
    commit = subprocess.Popen(
        ["git", "commit", "-qm", "notes"],
        cwd=repo.path,
        env=repo.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.5)
    assert commit.poll() is None  # waiting, not refused
    repo.write("data/a.bin", b"alpha v1")  # the checkout finishes
    (state / "unmaterialised.json").unlink()
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
    _out, err = commit.communicate(timeout=60)
    assert commit.returncode == 0, err
    assert "notes.txt" in repo.git("show", "--name-only", "HEAD").stdout


def test_an_unreachable_store_that_never_had_the_data_refuses_a_code_only_push(team) -> None:
    """A fork mapped to a store of its own: its commits' data is on the team's store
    only, so a code-only push to it with that store away must not go through (sixteenth
    QA pass: it did, with a note)."""
    alice, _bob, origin, _store = team
    fork = origin.with_name("fork.git")
    subprocess.run(["git", "clone", "-q", "--bare", str(origin), str(fork)], check=True)
    alice.git("remote", "add", "fork", str(fork))
    forkstore = origin.with_name("forkstore")
    alice.gs("remote", "add", "forkstore", str(forkstore), "--local")
    alice.gs("config", "set", "remote.fork", "forkstore", "--local")
    shutil.rmtree(forkstore)  # its share is not mounted
    alice.write("code.py", "print(2)\n")
    alice.git("commit", "-qam", "code only")
    refused = alice.git("push", "fork", "main", ok=False)
    assert "push to git remote 'fork' refused" in refused.stderr, refused.stderr
    forkstore.mkdir()
    alice.git("push", "-q", "fork", "main")
    assert len(objects_in(forkstore)) == 2


def test_a_git_remote_that_cannot_be_asked_is_named_in_the_refusal(team, tmp_path: Path) -> None:
    """With the store away, pre-push asks the git remote which commits it has; when that
    fails too (an ssh that needs a password, a server that stops answering) the refusal
    says so, rather than blaming the store alone (sixteenth QA pass)."""
    alice, _bob, origin, store = team
    fake = tmp_path / "fakessh"  # serves pushes, fails every other request (no network)
    fake.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do cmd="$a"; done\n'
        'case "$cmd" in *git-receive-pack*) eval "exec $cmd";; *) exit 1;; esac\n'
    )
    fake.chmod(0o755)
    alice.env["GIT_SSH_COMMAND"] = str(fake)
    alice.git("remote", "add", "sshr", f"ssh://127.0.0.1{origin}")
    alice.write("code.py", "print(2)\n")
    alice.git("commit", "-qam", "code only")
    _unmount(store)
    refused = alice.git("push", "sshr", "main", ok=False)
    assert "git remote 'sshr' could not be asked" in refused.stderr, refused.stderr
