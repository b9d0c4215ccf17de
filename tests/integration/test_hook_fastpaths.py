"""The hooks' fast paths give the same answers as the full comparison and checkout.

- pre-commit's clean record: a path whose files lstat as they did at the last
  clean comparison is skipped; any change to a file (same size included), a
  new or removed file, or a new manifest brings the full comparison back.
- post-checkout's delta: only changed entries are written; a path never
  materialised, a non-canonical manifest, or a big change take the full checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

from gitstore import hookdelta, hookrun
from gitstore import manifest as mf
from gitstore.api import Context
from tests.conftest import git, write


def _files(root: Path, n: int = 30) -> None:
    for i in range(n):
        write(root / "data" / f"d{i % 3}" / f"f{i:03}.bin", f"file {i}\n" * 10)


def _tracked(repo: Path, run) -> None:  # type: ignore[no-untyped-def]
    _files(repo)
    run(repo, "init")
    run(repo, "track", "data")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "track")


def _age(root: Path, seconds: int = 10) -> None:
    """Push every mtime into the past: the clean record only vouches for settled files."""
    past = os.stat(root).st_mtime - seconds
    for folder, _dirs, names in os.walk(root):
        for name in names:
            os.utime(os.path.join(folder, name), (past, past))


def _pre_commit(repo: Path) -> hookrun.HookReport:
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        return hookrun.pre_commit(Context("."))
    finally:
        os.chdir(cwd)


def test_pre_commit_clean_record_never_hides_a_change(repo: Path, run) -> None:  # type: ignore[no-untyped-def]
    _tracked(repo, run)
    _age(repo / "data")
    run(repo, "status")
    assert _pre_commit(repo).exit_code == 0
    record = repo / ".git" / "gitstore" / hookrun.CleanRecord.FILE
    assert record.exists()
    assert _pre_commit(repo).exit_code == 0  # from the record
    victim = repo / "data" / "d0" / "f000.bin"
    victim.write_bytes(victim.read_bytes().replace(b"file", b"FILE"))  # same size
    report = _pre_commit(repo)
    assert report.exit_code == 1 and "refreshed and staged data.gitstore" in report.lines[0]
    git(repo, "commit", "-q", "-m", "refresh")
    _age(repo / "data")
    assert _pre_commit(repo).exit_code == 0
    (repo / "data" / "d1" / "f001.bin").unlink()
    assert _pre_commit(repo).exit_code == 1
    git(repo, "commit", "-q", "-m", "removed")
    write(repo / "data" / "d2" / "new.bin", "new")
    assert _pre_commit(repo).exit_code == 1


def test_post_checkout_writes_only_changed_entries(repo: Path, run) -> None:  # type: ignore[no-untyped-def]
    _tracked(repo, run)
    run(repo, "install")
    git(repo, "checkout", "-q", "-b", "other")
    write(repo / "data" / "d0" / "f000.bin", "changed on other")
    (repo / "data" / "d1" / "f001.bin").unlink()
    write(repo / "data" / "d2" / "added.bin", "added on other")
    run(repo, "track", "data")
    git(repo, "commit", "-q", "-am", "other")
    git(repo, "checkout", "-q", "main")
    assert (repo / "data" / "d0" / "f000.bin").read_text() == "file 0\n" * 10
    assert (repo / "data" / "d1" / "f001.bin").exists()
    assert not (repo / "data" / "d2" / "added.bin").exists()
    untouched = repo / "data" / "d0" / "f003.bin"
    before = os.stat(untouched).st_ino
    git(repo, "checkout", "-q", "other")
    assert (repo / "data" / "d0" / "f000.bin").read_text() == "changed on other"
    assert not (repo / "data" / "d1" / "f001.bin").exists()
    assert (repo / "data" / "d2" / "added.bin").read_text() == "added on other"
    assert os.stat(untouched).st_ino == before  # not rewritten
    assert "unchanged" in run(repo, "status").stdout


def test_post_checkout_of_a_path_never_materialised_writes_everything(repo: Path, run) -> None:  # type: ignore[no-untyped-def]
    _tracked(repo, run)
    git(repo, "checkout", "-q", "-b", "other")
    write(repo / "data" / "d0" / "f000.bin", "changed on other")
    run(repo, "track", "data")
    git(repo, "commit", "-q", "-am", "other")
    git(repo, "checkout", "-q", "main")
    run(repo, "checkout")
    import shutil

    shutil.rmtree(repo / "data")
    (repo / ".git" / "gitstore" / "statcache").unlink()
    run(repo, "install")
    git(repo, "checkout", "-q", "other")
    assert (repo / "data" / "d0" / "f000.bin").read_text() == "changed on other"
    assert (repo / "data" / "d2" / "f029.bin").exists()
    assert "unchanged" in run(repo, "status").stdout


def test_entry_delta_declines_what_it_cannot_read_line_by_line() -> None:
    entries = [mf.Entry(f"d/f{i}.bin", f"{i:064x}", 5) for i in range(10)]
    old = mf.dump(mf.build("dir", entries))
    changed = [*entries[:3], mf.Entry("d/f3.bin", "b" * 64, 6, True), *entries[5:]]
    changed.append(mf.Entry("z", "c" * 64, 1))
    write_, gone, kept = hookdelta.entry_delta(old, mf.dump(mf.build("dir", changed))) or (
        [],
        [],
        0,
    )
    assert [e.path for e in write_] == ["d/f3.bin", "z"] and gone == ["d/f4.bin"] and kept == 8
    assert hookdelta.entry_delta(old, old) == ([], [], 10)
    as_file = mf.dump(mf.build("file", [mf.Entry("x", "a" * 64, 1)]))
    assert hookdelta.entry_delta(old, as_file) is None  # a change of kind
    bad = old.replace(b"path: d/f9.bin", b"path: ../f9.bin")
    assert hookdelta.entry_delta(old, bad) is None  # the full parse names the problem
    flow = old.replace(b"- {path: d/f9.bin", b"-   {path: d/f9.bin")
    assert hookdelta.entry_delta(old, flow) is None  # not canonical
    many = [mf.Entry(f"d/f{i}.bin", f"{i + 1:064x}", 5) for i in range(1000)]
    big = mf.dump(mf.build("dir", many))
    assert hookdelta.entry_delta(mf.dump(mf.build("dir", many[:1])), big) is None
