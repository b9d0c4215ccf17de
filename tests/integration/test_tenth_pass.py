"""Findings of the tenth QA pass (docs/reliability.md, "Tenth pass").

Each test is a finding: what it did to the data before, and what it does now.
"""

from __future__ import annotations

from pathlib import Path

from tests import servers
from tests.conftest import git, tree_of, write

moto_endpoint, s3_env = servers.moto_endpoint, servers.s3_env


def _files(folder: Path) -> dict[str, bytes]:
    """The payload files below ``folder`` (manifests of tracked paths inside it left out)."""
    return {k: v for k, v in tree_of(folder).items() if not k.endswith(".gitstore")}


def test_a_branch_switch_between_a_folder_and_its_parts_keeps_every_file(repo: Path, run) -> None:
    """d/x tracked at one commit, the whole d at the next: `git checkout HEAD~1` and back
    deleted d/x/a (the post-checkout hook took away the files of d/x, no longer tracked,
    after materialising d), and the next `git commit -a` recorded it as deleted. The
    other way (d, then d/x alone) and a split (s into s/p and s/q) lost files too."""
    run(repo, "init")
    main = git(repo, "rev-parse", "--abbrev-ref", "HEAD").stdout.strip()
    write(repo / "d" / "x" / "a", b"1\n")
    write(repo / "d" / "b", b"2\n")
    run(repo, "track", "d/x")
    git(repo, "commit", "-qm", "d/x")
    run(repo, "untrack", "d/x")
    run(repo, "track", "d")
    git(repo, "commit", "-qm", "d")
    whole = {"x/a": b"1\n", "b": b"2\n"}
    git(repo, "checkout", "-q", "HEAD~1")
    assert _files(repo / "d" / "x") == {"a": b"1\n"}
    git(repo, "checkout", "-q", main)
    assert _files(repo / "d") == whole
    assert run(repo, "status").stdout.split() == ["unchanged", "d"]
    # the other way: the whole d on main, only d/x on a branch
    git(repo, "checkout", "-qb", "sub")
    run(repo, "untrack", "d")
    run(repo, "track", "d/x")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "only d/x")
    git(repo, "checkout", "-q", main)
    assert _files(repo / "d") == whole
    git(repo, "checkout", "-q", "sub")
    assert _files(repo / "d" / "x") == {"a": b"1\n"}
    git(repo, "checkout", "-q", main)
    assert _files(repo / "d") == whole
    # a split: s tracked whole, then as s/p and s/q
    write(repo / "s" / "p" / "1", b"p\n")
    write(repo / "s" / "q" / "2", b"q\n")
    run(repo, "track", "s")
    git(repo, "commit", "-qm", "s")
    run(repo, "untrack", "s")
    run(repo, "track", "s/p", "s/q")
    git(repo, "commit", "-qm", "split")
    git(repo, "checkout", "-q", "HEAD~1")
    git(repo, "checkout", "-q", main)
    assert _files(repo / "s") == {"p/1": b"p\n", "q/2": b"q\n"}
    git(repo, "commit", "-qam", "nothing", "--allow-empty")
    assert "d/x/a" in run(repo, "ls", "HEAD").stdout


def test_a_push_after_another_clones_gc_trusts_no_stale_ref(tmp_path: Path) -> None:
    """main was force-pushed to drop commit P, and a fresh clone's `gc --remote` freed P's
    data; bob, whose origin/main still named P, pushed a new branch built on P: the
    pre-push hook took P as on origin (its remote-tracking ref said so) and its index
    said P's object was on the remote, so nothing was uploaded and the branch named
    data the remote no longer had. A gc now leaves a token on the remote; a clone whose
    last push predates it asks the store about every object beyond the refs git has
    just read from the remote."""
    import subprocess

    from tests.integration.test_gc_remote_refs import _age, _collect
    from tests.integration.test_hooks import Clone, make_team, objects_in

    store = tmp_path / "store"
    alice, bob, origin, _ = (*make_team(tmp_path, str(store)), store)
    alice.write("big.bin", b"P's data" * 1000)
    alice.gs("track", "big.bin")
    alice.git("commit", "-qm", "P")
    alice.git("push", "-q", "origin", "main")
    bob.gs("install")
    bob.git("pull", "-q")  # the hook fetches big.bin into bob's cache
    assert bob.read("big.bin") == b"P's data" * 1000
    before = objects_in(store)
    alice.git("reset", "-q", "--hard", "HEAD~1")
    alice.git("push", "-q", "-f", "origin", "main")
    _age(store)
    carol = Clone(tmp_path / "carol", tmp_path / "carol-cache")
    subprocess.run(["git", "clone", "-q", str(origin), str(carol.path)], check=True)
    carol.gs("install")
    _collect(carol)
    freed = before - objects_in(store)
    assert len(freed) == 1  # big.bin's object
    # re-verification: an unrelated push first made the index (and the stale refs)
    # trusted again; the refs are trusted only once fetched since the collection
    bob.git("switch", "-qc", "other", "HEAD~1")
    bob.write("other.bin", b"other")
    bob.gs("track", "other.bin")
    bob.git("commit", "-qm", "other")
    bob.git("push", "-q", "origin", "other")
    bob.git("switch", "-q", "main")
    bob.git("switch", "-qc", "feature")
    bob.write("new.bin", b"new")
    bob.gs("track", "new.bin")
    bob.git("commit", "-qm", "feature")
    bob.git("push", "-q", "origin", "feature")
    assert freed <= objects_in(store), "the pushed branch names an object the remote lacks"
    # once a push found everything there, later pushes trust the index and refs again
    bob.write("new.bin", b"newer")
    bob.gs("track", "new.bin")
    bob.git("commit", "-qm", "more")
    bob.git("push", "-q", "origin", "feature")
    dave = Clone(tmp_path / "dave", tmp_path / "dave-cache")
    subprocess.run(["git", "clone", "-q", "-b", "feature", str(origin), str(dave.path)], check=True)
    dave.gs("pull")
    assert dave.read("big.bin") == b"P's data" * 1000


def test_an_s3_remote_moved_to_another_service_starts_a_new_index(
    tmp_path: Path, moto_endpoint: str, s3_env: dict[str, str]
) -> None:
    """The index of a remote was keyed by `s3://bucket/prefix` alone: moved to another
    S3 service (same bucket and prefix, another --endpoint-url), pushes took every
    object as there. The index (and the users/ record) now names the service too."""
    import boto3

    from tests.integration.test_hooks import solo

    servers.make_bucket(moto_endpoint, "team")
    repo = solo(tmp_path / "r", tmp_path / "cache")
    repo.gs("remote", "add", "team", "s3://team/p", "--endpoint-url", moto_endpoint, "--default")
    repo.write("d/a.bin", b"a")
    repo.gs("track", "d")
    repo.git("commit", "-qm", "d")
    assert "pushed 1 object" in repo.gs("push").stdout
    # the other service has nothing: here, the bucket emptied behind the index's back
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    for item in s3.list_objects_v2(Bucket="team", Prefix="p/").get("Contents", []):
        if "/objects/" in item["Key"]:
            s3.delete_object(Bucket="team", Key=item["Key"])
    other = moto_endpoint.replace("127.0.0.1", "localhost")
    repo.gs("remote", "remove", "team")
    repo.gs("remote", "add", "team", "s3://team/p", "--endpoint-url", other, "--default")
    assert "pushed 1 object" in repo.gs("push").stdout


def test_track_and_untrack_print_names_as_status_does(repo: Path, run) -> None:
    """`untrack` of a top-level `--all` suggested `git add --all` (which stages the whole
    work tree), of `-n` `git add -n` (a dry run); `track` and `untrack` printed control
    characters in names raw (an ESC sequence reached the terminal)."""
    write(repo / "--all" / "a", b"1\n")
    write(repo / "secret.env", b"key\n")
    run(repo, "track", "--", "--all")
    out = run(repo, "untrack", "--", "--all").stdout
    assert "`git add -- --all`" in out, out
    name = "data\x1b[1Ax"
    write(repo / name / "f", b"2\n")
    tracked = run(repo, "track", name).stdout
    assert "\x1b" not in tracked and '"data\\x1b[1Ax"' in tracked, tracked
    untracked = run(repo, "untrack", name).stdout
    assert "\x1b" not in untracked and '"data\\x1b[1Ax"' in untracked, untracked


def test_a_corrupt_object_on_a_remote_is_not_called_absent(tmp_path: Path) -> None:
    """A corrupt object in the remote was reported as "is in no remote ('team') ...:
    ... is corrupt", two statements that contradict each other."""
    import shutil

    from tests.integration.test_hooks import solo

    repo = solo(tmp_path / "r", tmp_path / "cache")
    store = tmp_path / "store"
    repo.gs("remote", "add", "team", str(store), "--default")
    repo.write("d/a.bin", b"alpha")
    repo.gs("track", "d")
    repo.git("commit", "-qm", "d")
    repo.gs("push")
    (obj,) = [p for p in (store / "objects").rglob("*") if p.is_file()]
    obj.chmod(0o644)
    obj.write_bytes(b"alphx")
    shutil.rmtree(tmp_path / "cache")
    failed = repo.gs("fetch", ok=False).stderr
    assert f"{obj.name} could not be fetched from 'team'" in failed, failed
    assert "is in no remote" not in failed


def test_a_branch_that_adds_a_remote_as_the_default_cannot_take_pushes(tmp_path: Path) -> None:
    """A branch that added a committed remote and made it `default_remote` (or mapped
    `remote.origin` to it) redirected teammates' pushes there: trust on first use covered
    only changes to remotes the clone had used. A remote a clone has never used, when it
    has used others, must now be trusted before it receives data."""
    import yaml

    from tests.integration.test_hooks import make_team, objects_in

    team, evil = tmp_path / "team", tmp_path / "evil"
    evil.mkdir()  # a share the branch's author can read
    _alice, bob, _, _ = (*make_team(tmp_path, str(team)), team)
    bob.gs("install")
    bob.gs("pull")  # bob uses 'team'
    for key, value in (("default_remote", "evil"), ("remote", {"origin": "evil"})):
        bob.git("checkout", "-q", "main")
        bob.git("checkout", "-qb", f"fix-{key}")
        path = bob.path / ".gitstore" / "config.yaml"
        doc = yaml.safe_load(path.read_text())
        doc["remotes"]["evil"] = {"url": str(evil)}
        doc[key] = value
        path.write_text(yaml.safe_dump(doc))
        bob.git("commit", "-qam", "tidy config", "--no-verify")  # as if from someone else
        bob.write(f"{key}.bin", b"secret")
        bob.gs("track", f"{key}.bin")
        bob.git("commit", "-qm", "bob's data")
        refused = bob.git("push", "-q", "origin", f"fix-{key}", ok=False).stderr
        assert "remote 'evil'" in refused and "gitstore remote trust evil" in refused, refused
        assert not objects_in(evil)
        # and the list says so, as for a remote a commit changed (twenty-seventh pass)
        listed = {
            line.split("\t")[0]: line for line in bob.gs("remote", "list").stdout.splitlines()
        }
        assert "not trusted" in listed["evil"], listed
        assert "not trusted" not in listed["team"], listed
    bob.gs("remote", "trust", "evil")  # the user looked, and agrees
    bob.git("push", "-q", "origin", "fix-remote")
    assert objects_in(evil)


def test_hard_link_checkouts_see_no_conflict_in_a_link_they_made(repo: Path, run) -> None:
    """With `--link hardlink`, a file about to change whose object another file of the
    same checkout was linked to (or unlinked from) had its ctime changed by that link:
    checkout called it "saved while checkout ran", left the old content and exited 3."""
    write(repo / "d" / "a", b"X\n")
    write(repo / "d" / "b", b"Y\n")
    run(repo, "track", "d")
    git(repo, "commit", "-qm", "v1")
    write(repo / "d" / "a", b"Y\n")  # a takes the content b holds
    write(repo / "d" / "b", b"Z\n")
    run(repo, "track", "d")
    git(repo, "commit", "-qm", "v2")
    run(repo, "checkout", "--link", "hardlink", "HEAD~1")
    assert _files(repo / "d") == {"a": b"X\n", "b": b"Y\n"}
    run(repo, "checkout", "--link", "hardlink", "HEAD")
    assert _files(repo / "d") == {"a": b"Y\n", "b": b"Z\n"}
    # duplicate (empty) files, one deleted and one changed
    write(repo / "e" / "a", b"")
    write(repo / "e" / "b", b"")
    write(repo / "e" / "c", b"")
    run(repo, "track", "e")
    git(repo, "commit", "-qm", "e1")
    (repo / "e" / "a").unlink()
    write(repo / "e" / "b", b"new\n")
    run(repo, "track", "e")
    git(repo, "commit", "-qm", "e2")
    run(repo, "checkout", "--link", "hardlink", "HEAD~1", "e")
    run(repo, "checkout", "--link", "hardlink", "HEAD", "e")
    assert _files(repo / "e") == {"b": b"new\n", "c": b""}


def test_a_commit_says_why_an_emptied_folder_is_not_recorded(repo: Path, run) -> None:
    """Every file of a tracked folder deleted (the folder stays): status calls it not
    materialised, as a folder never checked out, and `git commit -a` committed nothing
    without a word. The commit is still not taken as every file deleted (a clone that
    never pulled looks the same), but the hook now says so and what to run."""
    run(repo, "init")
    write(repo / "d" / "a", b"1\n")
    run(repo, "track", "d")
    git(repo, "commit", "-qm", "d")
    (repo / "d" / "a").unlink()
    done = git(repo, "commit", "-qam", "x", check=False)
    assert "d has no files on disk: not recorded as deleted" in done.stderr, done.stderr
    assert "`gitstore track d` records it empty" in done.stderr
    run(repo, "track", "d")
    git(repo, "commit", "-qm", "emptied")
    assert "files: 0" in git(repo, "show", "HEAD:d.gitstore").stdout


def test_quiet_checkout_of_a_revision_prints_no_line_a_manifest(repo: Path, run) -> None:
    """`gitstore -q checkout REV` printed a "wrote X.gitstore" line per manifest (a
    thousand lines for a thousand paths)."""
    for name in ("a", "b", "c"):
        write(repo / name / "f", name.encode())
    run(repo, "track", "a", "b", "c")
    git(repo, "commit", "-qm", "abc")
    run(repo, "untrack", "a", "b", "c")
    git(repo, "commit", "-qm", "none")
    loud = run(repo, "checkout", "HEAD~1").stdout
    assert loud.count("wrote ") == 3
    run(repo, "checkout", "HEAD")
    quiet = run(repo, "-q", "checkout", "HEAD~1").stdout
    assert "wrote " not in quiet, quiet
    assert (repo / "a" / "f").read_bytes() == b"a"


def test_a_push_during_a_collection_renews_the_old_objects_it_names(tmp_path: Path) -> None:
    """A race: pre-push found an old object already on the remote (so sent nothing),
    while another clone's `gc --remote`, which had judged it unneeded and old, deleted
    it before the push landed. A push now renews such objects, and a collection asks
    each object's age again right before deleting it."""
    import os
    import subprocess
    import sys
    import time

    from tests.integration.test_gc_remote_refs import _age
    from tests.integration.test_hooks import Clone, make_team, objects_in

    store = tmp_path / "store"
    alice, bob, origin, _ = (*make_team(tmp_path, str(store)), store)
    alice.write("data/c.bin", b"charlie")
    alice.commit_data("c")
    alice.git("push", "-q", "origin", "main")
    bob.gs("install")
    bob.git("pull", "-q")  # bob's cache has c.bin's bytes
    before = objects_in(store)
    alice.git("reset", "-q", "--hard", "HEAD~1")  # c dropped from every ref
    alice.git("push", "-q", "-f", "origin", "main")
    _age(store)
    carol = Clone(tmp_path / "carol", tmp_path / "carol-cache")
    subprocess.run(["git", "clone", "-q", str(origin), str(carol.path)], check=True)
    carol.gs("install")
    carol.gs("gc", "--remote", "team", "--dry-run")
    gc = subprocess.Popen(
        [sys.executable, "-m", "gitstore", "gc", "--remote", "team", "--yes"],
        cwd=carol.path,
        env={**carol.env, "GITSTORE_FAULT": "pause-gc:20"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (store / "gc" / "collected").exists():  # written just before the pause
            assert gc.poll() is None and time.monotonic() < deadline, gc.communicate()
            time.sleep(0.1)
        # bob, in the window: a branch that names c.bin's content again
        bob.git("fetch", "-q")
        bob.git("switch", "-qc", "feature", "origin/main")
        bob.write("data/c.bin", b"charlie")
        bob.commit_data("charlie is back")
        bob.git("push", "-q", "origin", "feature")
        assert gc.poll() is None, "the collection did not wait for the push: no race shown"
    finally:
        out, err = gc.communicate(timeout=120)
    assert gc.returncode == 0, err
    assert before <= objects_in(store), "a pushed branch names an object the remote lacks"
    assert "kept 1 object that a push renewed" in out + err, out + err
    assert os.path.exists(store / "gc" / "collected")


def test_a_merge_that_stops_tracking_a_folder_takes_its_files_away(repo: Path, run) -> None:
    """Re-verification: after a merge that split s into s/p and s/q (or a switch to a
    branch where only d/x/y of d is tracked), files of the old folder outside the new
    parts stayed on disk untracked, offered to `git add -A`. The post-merge hook read no
    ORIG_HEAD (dulwich does not take it for a ref), and a manifest of a part counted as
    a file git tracks there."""
    run(repo, "init")
    main = git(repo, "rev-parse", "--abbrev-ref", "HEAD").stdout.strip()
    write(repo / "s" / "p" / "a", b"1\n")
    write(repo / "s" / "q" / "b", b"2\n")
    write(repo / "s" / "top", b"3\n")
    write(repo / "d" / "x" / "y" / "a", b"4\n")
    write(repo / "d" / "b", b"5\n")
    run(repo, "track", "s", "d")
    git(repo, "commit", "-qm", "A")
    git(repo, "checkout", "-qb", "split")
    run(repo, "untrack", "s", "d")
    run(repo, "track", "s/p", "s/q", "d/x/y")  # (s/top and d/b are left out of git too)
    git(repo, "commit", "-qm", "split")
    git(repo, "checkout", "-q", main)
    assert _files(repo / "d") == {"x/y/a": b"4\n", "b": b"5\n"}
    write(repo / "code.py", b"x\n")
    git(repo, "add", "code.py")
    git(repo, "commit", "-qm", "code")
    git(repo, "merge", "-q", "--no-edit", "split")
    assert _files(repo / "s") == {"p/a": b"1\n", "q/b": b"2\n"}
    assert _files(repo / "d") == {"x/y/a": b"4\n"}
    assert git(repo, "status", "--porcelain").stdout == ""


def test_a_rename_in_a_partial_commit_is_refused_until_gitignore_goes_with_it(
    repo: Path, run
) -> None:
    """Re-verification: `git mv g.gitstore h.gitstore; mv g h; git commit -- h.gitstore
    g.gitstore` staged the .gitignore change in git's temporary index only; the next
    commit recorded the old .gitignore again (/g, no /h)."""
    run(repo, "init")
    write(repo / "g", b"2\n")
    run(repo, "track", "g")
    git(repo, "commit", "-qm", "g")
    git(repo, "mv", "g.gitstore", "h.gitstore")
    (repo / "g").rename(repo / "h")
    refused = git(repo, "commit", "-qm", "mv", "--", "h.gitstore", "g.gitstore", check=False)
    assert refused.returncode != 0 and "a partial commit" in refused.stderr, refused.stderr
    git(repo, "commit", "-qm", "mv", "--", "h.gitstore", "g.gitstore", ".gitignore")
    write(repo / "code.py", b"x\n")
    git(repo, "add", "code.py")
    git(repo, "commit", "-qm", "unrelated")
    assert git(repo, "show", "HEAD:.gitignore").stdout == "/h\n"
    assert git(repo, "status", "--porcelain").stdout == ""


def test_a_nested_gitignore_or_gitattributes_is_never_a_tracked_path(repo: Path, run) -> None:
    """Re-verification: the rule for git's own files held at the top only, while git reads
    a .gitignore or .gitattributes in every folder."""
    write(repo / "sub" / ".gitattributes", b"* text\n")
    refused = run(repo, "track", "sub/.gitattributes", ok=False).stderr
    assert "own configuration; it cannot be tracked" in refused
    oid = "0" * 64
    write(
        repo / "sub" / ".gitignore.gitstore",
        "gitstore: 1\nkind: file\nsize: 1\nfiles: 1\nentries:\n"
        f"- {{path: .gitignore, blake3: {oid}, size: 1}}\n",
    )
    status = run(repo, "status", ok=False)
    assert "invalid           sub/.gitignore" in status.stdout
    assert "gitstore never writes there" in status.stderr
