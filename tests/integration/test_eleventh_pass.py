"""Findings of the eleventh pass that are not about big files or partial clones."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import git, write
from tests.integration.test_hooks import make_team


def test_a_push_refused_for_a_damaged_manifest_in_history_names_the_commit(
    tmp_path: Path,
) -> None:
    """A commit made with --no-verify held a manifest gitstore cannot read; a later commit
    mended it. pre-push refused, naming the file and line but not which commit to mend."""
    alice, _bob, _origin = make_team(tmp_path, str(tmp_path / "store"))
    manifest = alice.path / "data.gitstore"
    good = manifest.read_text()
    damaged = good.replace("blake3: ", "blake3: 00", 1)  # an oid of 66 digits
    assert damaged != good
    write(manifest, damaged)
    alice.git("commit", "-q", "--no-verify", "-am", "damaged")
    bad = alice.git("rev-parse", "HEAD").stdout.strip()
    write(manifest, good)
    alice.git("commit", "-q", "--no-verify", "-am", "mended")
    refused = alice.git("push", "-q", "origin", "main", ok=False)
    errors = [x for x in refused.stderr.splitlines() if x.startswith("gitstore: error:")]
    assert len(errors) == 1, refused.stderr
    assert "data.gitstore line" in errors[0] and f"as committed in {bad[:12]}" in errors[0]
    assert f"git rebase -i {bad[:12]}^" in refused.stderr
    assert "Traceback" not in refused.stderr
    git(alice.path, "reset", "-q", "--hard", "HEAD~2")  # the user drops both
    alice.git("push", "-q", "origin", "main")


def test_a_temporary_file_beside_a_tracked_file_is_never_offered_to_git(repo: Path, run) -> None:
    """A checkout killed while replacing a tracked file leaves `.NAME.gitstore-tmp` beside it
    until the next checkout of that path; nothing ignored it, so `git add -A` committed it."""
    exclude = repo / ".git" / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    exclude.write_text("# the user's own\n*.swp")  # no final newline
    write(repo / "model.bin", b"v1")
    run(repo, "track", "model.bin")
    git(repo, "commit", "-qm", "v1")
    write(repo / "model.bin", b"v2")
    run(repo, "track", "model.bin")
    git(repo, "commit", "-qm", "v2")
    run(repo, "checkout", "HEAD~1")  # writes model.bin
    write(repo / ".model.bin.gitstore-tmp", b"half of v")  # what a kill -9 leaves
    git(repo, "add", "-A")
    assert ".gitstore-tmp" not in git(repo, "status", "--porcelain", "--ignored=no").stdout
    assert ".gitstore-tmp" not in git(repo, "diff", "--cached", "--name-only").stdout
    lines = exclude.read_text().splitlines()
    assert lines == ["# the user's own", "*.swp", ".*.gitstore-tmp"]
    run(repo, "checkout", "HEAD")
    assert exclude.read_text().splitlines() == lines  # once


def test_a_path_outside_the_sparse_checkout_is_named_as_such(repo: Path, run) -> None:
    """untrack, pull and checkout of a tracked path whose manifest a sparse checkout left
    out said it was not tracked at all."""
    write(repo / "code" / "x.py", b"x\n")
    write(repo / "sets" / "a" / "f.bin", b"1\n")
    run(repo, "track", "sets/a")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "one")
    git(repo, "sparse-checkout", "set", "code")
    assert not (repo / "sets" / "a.gitstore").exists()
    for args in (("untrack", "sets/a"), ("pull", "sets/a"), ("checkout", "sets/a")):
        refused = run(repo, *args, ok=False)
        assert "outside the sparse checkout" in refused.stderr, (args, refused.stderr)
        assert "git sparse-checkout add sets`" in refused.stderr
    git(repo, "sparse-checkout", "add", "sets")
    run(repo, "checkout", "sets/a")
    assert (repo / "sets" / "a" / "f.bin").read_bytes() == b"1\n"


def test_track_in_a_clone_never_checked_out_lists_the_temporaries_too(repo: Path, run) -> None:
    """Only a checkout that wrote added the line: a track killed while writing its manifest
    (`.data.gitstore.gitstore-tmp`, beside it) in a fresh clone left the file offered to git."""
    write(repo / "data" / "a", b"1")
    run(repo, "track", "data")
    assert ".*.gitstore-tmp" in (repo / ".git" / "info" / "exclude").read_text().splitlines()
    write(repo / ".data.gitstore.gitstore-tmp", b"half")
    assert ".gitstore-tmp" not in git(repo, "status", "--porcelain").stdout
