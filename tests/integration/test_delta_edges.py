"""The delta checkouts (post-checkout's and ``checkout REV``'s) at the edges found by the fifth QA pass.

- an old manifest that no one parsed (a commit made with ``--no-verify``)
  named ``../`` paths, and switching away from it deleted files outside the
  tracked folder, in another repository;
- a file that becomes a folder (or the reverse) inside a tracked folder
  stopped the delta with an error, and stopped the hook before the other
  folders, leaving them at the old version unmarked;
- a manifest whose totals do not add up was written and recorded as clean,
  where the full checkout refuses it.

Each delta now declines these, and the full checkout (which validates the
whole manifest and orders deletions before writes) takes over.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from gitstore import manifest as mf
from gitstore.hashing import hash_bytes
from tests.integration.test_hook_fastpaths import _delta
from tests.integration.test_hooks import Clone, solo


def _settle(repo: Clone, *folders: str, status: bool = True) -> None:
    """Files older than the racy window, then a status: the clean record vouches for them."""
    past = os.stat(repo.path).st_mtime - 10
    for folder in folders:
        for top, _dirs, names in os.walk(repo.path / folder):
            for name in names:
                os.utime(os.path.join(top, name), (past, past))
    if status:
        repo.gs("status")


def _listing(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_patch_delta_declines_an_old_side_it_cannot_trust(repo: Path) -> None:
    entries = [mf.Entry(f"d/f{i}.bin", f"{i:064x}", 5) for i in range(10)]
    good = mf.dump(mf.build("dir", entries))
    outside = good.replace(b"path: d/f9.bin", b"path: ../../f9.bin")
    # switching away from it would delete ../../f9.bin: that side is checked too
    assert _delta(repo, outside, good) is None
    # a file that becomes a folder, and the reverse
    as_file = mf.dump(mf.build("dir", [*entries[:9], mf.Entry("d/g", "a" * 64, 1)]))
    as_folder = mf.dump(mf.build("dir", [*entries[:9], mf.Entry("d/g/inner", "b" * 64, 1)]))
    assert _delta(repo, as_file, as_folder) is None
    assert _delta(repo, as_folder, as_file) is None
    # totals that the entries do not add up to
    changed = mf.dump(mf.build("dir", [*entries[:9], mf.Entry("d/f9.bin", "c" * 64, 7)]))
    assert _delta(repo, good, changed) is not None  # the size moves by 2, as the entries say
    assert _delta(repo, good, changed.replace(b"\nsize: 52\n", b"\nsize: 999\n")) is None
    assert _delta(repo, good, changed.replace(b"\nsize: 52\n", b"\nsize: 50\n")) is None
    added = mf.dump(mf.build("dir", [*entries, mf.Entry("d/new", "d" * 64, 3)]))
    assert _delta(repo, good, added) is not None
    assert _delta(repo, good, added.replace(b"\nfiles: 11\n", b"\nfiles: 10\n")) is None


def test_switching_away_from_a_hostile_manifest_touches_nothing_outside(tmp_path: Path) -> None:
    victim = solo(tmp_path / "victim", tmp_path / "cache")
    victim.write("results/run1.bin", b"weeks of training output\n")
    victim.gs("track", "results")
    victim.git("commit", "-qm", "results")
    repo = solo(tmp_path / "repo", tmp_path / "cache")  # the same cache: the bytes are there
    for i in range(4):
        repo.write(f"data/f{i}", f"d {i}\n")
    repo.gs("track", "data")
    repo.git("commit", "-qm", "base")
    repo.git("switch", "-q", "-c", "evil")
    oid = hash_bytes(b"weeks of training output\n")
    text = (repo.path / "data.gitstore").read_text().split("\n")
    at = text.index("entries:") + 1
    text.insert(at, f"- {{path: ../../victim/results/run1.bin, blake3: {oid}, size: 25}}")
    text = [
        "files: 5" if x.startswith("files: ") else "size: 41" if x.startswith("size: ") else x
        for x in text
    ]
    (repo.path / "data.gitstore").write_text("\n".join(text))
    repo.git("commit", "-q", "--no-verify", "-am", "evil")
    _settle(repo, "data", status=False)  # status refuses the manifest; the hook's delta did not
    repo.git("switch", "-q", "main")
    assert victim.read("results/run1.bin") == b"weeks of training output\n"
    assert json.loads(victim.gs("status", "--json").stdout)[0]["state"] == "unchanged"
    assert _listing(repo.path / "data") == {f"f{i}": f"d {i}\n".encode() for i in range(4)}


def _flip(repo: Clone) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """data/g a file at tag A and a folder at tag B; zeta/z3 changed too. B on disk."""
    for i in range(6):
        repo.write(f"data/f{i}", f"x {i}\n")
        repo.write(f"zeta/z{i}", f"z {i}\n")
    repo.write("data/g", "a\n")
    repo.gs("track", "data", "zeta")
    repo.git("commit", "-qm", "A")
    repo.git("tag", "A")
    a = {**_listing(repo.path / "data"), **{"z3": b"z 3\n"}}
    (repo.path / "data" / "g").unlink()
    repo.write("data/g/inner", "b\n")
    repo.write("zeta/z3", "zB 3\n")
    repo.gs("track", "data", "zeta")
    repo.git("commit", "-qm", "B")
    repo.git("tag", "B")
    b = {**_listing(repo.path / "data"), **{"z3": b"zB 3\n"}}
    return a, b


def _state(repo: Clone) -> dict[str, bytes]:
    return {**_listing(repo.path / "data"), **{"z3": repo.read("zeta/z3")}}


def test_a_file_that_becomes_a_folder_is_checked_out_both_ways(tmp_path: Path) -> None:
    repo = solo(tmp_path / "repo", tmp_path / "cache")
    a, b = _flip(repo)
    _settle(repo, "data", "zeta")
    repo.gs("checkout", "A")
    assert _state(repo) == a
    _settle(repo, "data", "zeta")
    repo.gs("checkout", "B")
    assert _state(repo) == b
    rows = json.loads(repo.gs("status", "--json").stdout)
    assert {r["path"]: r["state"] for r in rows} == {"data": "unchanged", "zeta": "unchanged"}
    # and through the post-checkout hook, every folder brought along
    repo.gs("checkout", "HEAD")
    _settle(repo, "data", "zeta")
    out = repo.git("switch", "-q", "--detach", "A")
    assert "error" not in out.stderr, out.stderr
    assert _state(repo) == a
    repo.git("switch", "-q", "--detach", "B")
    assert _state(repo) == b
    rows = json.loads(repo.gs("status", "--json").stdout)
    assert {r["path"]: r["state"] for r in rows} == {"data": "unchanged", "zeta": "unchanged"}


def test_a_manifest_whose_totals_do_not_add_up_is_refused_by_the_delta_too(
    tmp_path: Path,
) -> None:
    repo = solo(tmp_path / "repo", tmp_path / "cache")
    for i in range(6):
        repo.write(f"data/f{i}", f"v1 {i}\n")
    repo.gs("track", "data")
    repo.git("commit", "-qm", "v1")
    repo.write("data/f3", "v2 3\n")
    repo.gs("track", "data")
    text = (repo.path / "data.gitstore").read_text()
    size = next(x for x in text.split("\n") if x.startswith("size: "))
    (repo.path / "data.gitstore").write_text(text.replace(size, "size: 999"))
    repo.git("commit", "-q", "--no-verify", "-am", "v2, wrong totals")
    repo.git("tag", "bad")
    repo.git("checkout", "-q", "HEAD~1", "--", "data.gitstore")
    repo.gs("checkout")
    _settle(repo, "data")
    out = repo.gs("checkout", "bad", ok=False)
    assert "size is 999 but the entries add up to" in out.stderr
    assert repo.read("data/f3") == b"v1 3\n"  # nothing written
    assert json.loads(repo.gs("status", "--json").stdout)[0]["state"] == "unchanged"


def test_a_user_folder_where_a_file_comes_is_left_and_the_rest_is_brought(tmp_path: Path) -> None:
    """A user's folder where the new commit has a file: named and left alone, the rest brought.

    Before, the hook stopped at that folder, leaving every later path at the
    old version (marked, so that the next commit did not record their old
    files as new); since the fifteenth QA pass it goes on past it.
    """
    repo = solo(tmp_path / "repo", tmp_path / "cache")
    for i in range(3):
        repo.write(f"data/f{i}", f"x {i}\n")
        repo.write(f"zeta/z{i}", f"z {i}\n")
    repo.gs("track", "data", "zeta")
    repo.git("commit", "-qm", "A")
    repo.git("tag", "A")
    repo.write("data/g", "new\n")
    repo.write("data/h", "new h\n")
    repo.write("zeta/z2", "zB\n")
    repo.gs("track", "data", "zeta")
    repo.git("commit", "-qm", "B")
    repo.git("switch", "-q", "--detach", "A")
    repo.write("data/g/keep", "mine\n")  # the user's folder, where B has a file
    out = repo.git("switch", "-q", "--detach", "main")
    assert "data/g alone: a folder where the manifest has a file" in out.stderr, out.stderr
    assert repo.read("data/g/keep") == b"mine\n"
    assert repo.read("zeta/z2") == b"zB\n" and repo.read("data/h") == b"new h\n"
    commit = repo.git("commit", "-qam", "would record data without data/g", ok=False)
    assert "data/g" in commit.stderr and "gitstore checkout data" in commit.stderr, commit.stderr
    (repo.path / "data" / "g" / "keep").unlink()
    (repo.path / "data" / "g").rmdir()
    repo.gs("checkout")
    assert repo.read("zeta/z2") == b"zB\n" and repo.read("data/g") == b"new\n"
    assert not (repo.path / ".git" / "gitstore" / "unmaterialised.json").exists()
