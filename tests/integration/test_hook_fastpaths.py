"""The hooks' fast paths give the same answers as the full comparison and checkout.

- pre-commit's clean record: a path whose files lstat as they did at the last
  clean comparison is skipped; any change to a file (same size included), a
  new or removed file, or a new manifest brings the full comparison back.
- post-checkout's delta: only changed entries are written; a path never
  materialised, a non-canonical manifest, or a big change take the full checkout.
- ``gitstore checkout REV``'s delta: taken only where the clean record vouches
  for the whole folder; any edit there brings the full checkout (and its
  refusal to overwrite what the cache lacks) back.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from gitstore import hookdelta, hookrun
from gitstore import manifest as mf
from gitstore.api import Context
from gitstore.cleanrecord import RACY_NS, CleanRecord
from tests.conftest import GITSTORE, git, write


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
    """Push every mtime into the past: the clean record only vouches for settled files.

    The ctimes cannot be set back: wait until they are older than the record's
    racy window, which a fast start-up of the next command would otherwise fall in.
    """
    past = os.stat(root).st_mtime - seconds
    for folder, _dirs, names in os.walk(root):
        for name in names:
            os.utime(os.path.join(folder, name), (past, past))
    time.sleep(RACY_NS / 1e9 + 0.01)


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
    shutil.rmtree(repo / "data")
    (repo / ".git" / "gitstore" / "statcache").unlink()
    run(repo, "install")
    git(repo, "checkout", "-q", "other")
    assert (repo / "data" / "d0" / "f000.bin").read_text() == "changed on other"
    assert (repo / "data" / "d2" / "f029.bin").exists()
    assert "unchanged" in run(repo, "status").stdout


def _delta(repo: Path, old: bytes, new: bytes) -> hookdelta.Delta | None:
    """patch_delta of a manifest committed as ``old`` and then as ``new`` (in the work tree)."""
    from gitstore.gitrepo import GitRepo

    (repo / "m.gitstore").write_bytes(old)
    git(repo, "add", "m.gitstore")
    git(repo, "commit", "-q", "--allow-empty", "-m", "old")
    a = git(repo, "rev-parse", "HEAD").stdout.strip()
    (repo / "m.gitstore").write_bytes(new)
    git(repo, "add", "m.gitstore")
    git(repo, "commit", "-q", "--allow-empty", "-m", "new")
    b = git(repo, "rev-parse", "HEAD").stdout.strip()
    changes = hookdelta.read_changes(GitRepo.discover(repo), a, b)
    if old == new:
        assert changes == []
        return [], [], []
    assert [c.path for c in changes] == ["m.gitstore"]
    return hookdelta.patch_delta(changes[0], new)


def test_patch_delta_declines_what_it_cannot_read_line_by_line(repo: Path) -> None:
    entries = [mf.Entry(f"d/f{i}.bin", f"{i:064x}", 5) for i in range(10)]
    old = mf.dump(mf.build("dir", entries))
    changed = [*entries[:3], mf.Entry("d/f3.bin", "b" * 64, 6, True), *entries[5:]]
    changed.append(mf.Entry("z", "c" * 64, 1))
    write_, gone, kept = _delta(repo, old, mf.dump(mf.build("dir", changed))) or ([], [], [])
    assert [e.path for e in write_] == ["d/f3.bin", "z"] and gone == ["d/f4.bin"]
    assert kept == ["d/f2.bin", "d/f5.bin", "d/f9.bin"]  # the context git gave around the changes
    assert write_[0] == mf.Entry("d/f3.bin", "b" * 64, 6, True)
    assert _delta(repo, old, old) == ([], [], [])
    as_file = mf.dump(mf.build("file", [mf.Entry("x", "a" * 64, 1)]))
    assert _delta(repo, old, as_file) is None  # a change of kind
    bad = old.replace(b"path: d/f9.bin", b"path: ../f9.bin")
    assert _delta(repo, old, bad) is None  # the full parse names the problem
    flow = old.replace(b"- {path: d/f9.bin", b"-   {path: d/f9.bin")
    assert _delta(repo, old, flow) is None  # not canonical
    marker = old.replace(b"- {path: d/f9.bin", b"<<<<<<< ours\n- {path: d/f9.bin")
    assert _delta(repo, old, marker) is None  # conflict markers: the full path reports them
    header = old.replace(b"gitstore: 1\n", b"gitstore: 1\nnote: x\n", 1)
    assert _delta(repo, old, header) is None  # a header line other than the counts
    many = [mf.Entry(f"d/f{i:04}.bin", f"{i + 1:064x}", 5) for i in range(1000)]
    big = mf.dump(mf.build("dir", many))
    assert _delta(repo, mf.dump(mf.build("dir", many[:1])), big) is None  # a large change


def test_patch_delta_needs_the_work_tree_to_hold_the_new_blob(repo: Path) -> None:
    entries = [mf.Entry(f"d/f{i}.bin", f"{i:064x}", 5) for i in range(10)]
    old = mf.dump(mf.build("dir", entries))
    new = mf.dump(mf.build("dir", [*entries[:9], mf.Entry("d/f9.bin", "e" * 64, 7)]))
    assert _delta(repo, old, new) is not None
    from gitstore.gitrepo import GitRepo

    a, b = (git(repo, "rev-parse", f"HEAD{s}").stdout.strip() for s in ("~1", ""))
    (change,) = hookdelta.read_changes(GitRepo.discover(repo), a, b)
    edited = new.replace(b"e" * 64, b"f" * 64)  # the work tree's manifest is not the commit's
    assert hookdelta.patch_delta(change, edited) is None


def test_post_checkout_of_small_files_leaves_the_stat_cache_to_the_next_status(
    repo: Path, run
) -> None:  # type: ignore[no-untyped-def]
    _tracked(repo, run)
    run(repo, "install")
    git(repo, "checkout", "-q", "-b", "other")
    write(repo / "data" / "d0" / "f000.bin", "changed on other")
    (repo / "data" / "d1" / "f001.bin").unlink()
    run(repo, "track", "data")
    git(repo, "commit", "-q", "-am", "other")
    git(repo, "checkout", "-q", "main")
    run(repo, "status")
    statcache = repo / ".git" / "gitstore" / "statcache"
    before = [(p.name, p.read_bytes()) for p in sorted(statcache.parent.glob("statcache*"))]
    git(repo, "checkout", "-q", "other")  # the hook writes one small file and deletes one
    after = [(p.name, p.read_bytes()) for p in sorted(statcache.parent.glob("statcache*"))]
    assert after == before  # not loaded, not written
    assert (repo / "data" / "d0" / "f000.bin").read_text() == "changed on other"
    assert not (repo / "data" / "d1" / "f001.bin").exists()
    # the old entry for the rewritten file no longer matches: it is hashed, not trusted
    victim = repo / "data" / "d0" / "f000.bin"
    victim.write_text("edited after!!!!")  # same size as the checked-out bytes
    out = run(repo, "status", "--json").stdout
    assert '"modified"' in out and "data/d0/f000.bin" in out
    victim.write_text("changed on other")
    assert "unchanged" in run(repo, "status").stdout


def test_post_checkout_of_a_big_file_records_it_in_the_stat_cache(repo: Path, run) -> None:  # type: ignore[no-untyped-def]
    _tracked(repo, run)
    run(repo, "install")
    git(repo, "checkout", "-q", "-b", "other")
    write(repo / "data" / "d0" / "big.bin", b"x" * (2 << 20))
    run(repo, "track", "data")
    git(repo, "commit", "-q", "-am", "other")
    git(repo, "checkout", "-q", "main")
    assert not (repo / "data" / "d0" / "big.bin").exists()
    run(repo, "status")
    git(repo, "checkout", "-q", "other")
    assert (repo / "data" / "d0" / "big.bin").stat().st_size == 2 << 20
    from gitstore.statcache import StatCache

    cache = StatCache(repo / ".git" / "gitstore" / "statcache")
    st = os.lstat(repo / "data" / "d0" / "big.bin")
    assert cache.lookup("data/d0/big.bin", st) is not None or st.st_mtime_ns >= cache.written_ns
    assert "data/d0/big.bin" in cache.entries


def _imported(repo: Path, *args: str) -> set[str]:
    """The modules a real ``gitstore ARGS`` imports (``python -X importtime``)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-c",
            "from gitstore.entry import main; main()",
            *args,
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [line for line in proc.stderr.splitlines() if line.startswith("import time:")]
    return {line.rsplit("|", 1)[1].strip() for line in lines}


def test_start_up_leaves_out_what_the_everyday_commands_never_use(repo: Path, run) -> None:  # type: ignore[no-untyped-def]
    _tracked(repo, run)
    # OpenSSL's hashlib, json, the diff types, dulwich, yaml and boto3 would
    # cost every start-up and none is needed here; click brings uuid and
    # datetime, which the hooks (dispatched without click) do without
    never = {"hashlib", "json", "gitstore.manifestdiff", "dulwich", "yaml", "boto3"}
    # nor dataclasses, with the inspect it imports: ~10 ms (item 42)
    never |= {"dataclasses", "inspect"}
    for args, extra in (
        (("hook", "pre-commit"), {"click", "uuid", "datetime"}),
        # a plain status or track: cli_core, without click, and no checkout module
        (("status",), {"click", "gitstore.checkout"}),
        (("status", "data"), {"click", "gitstore.checkout"}),
        (("track", "data"), {"click", "gitstore.checkout"}),
        (("checkout",), {"click"}),
        (("checkout", "--link", "copy", "-f", "data"), {"click"}),
        (("checkout", "--force", "--link=hardlink,copy"), {"click"}),
    ):
        imported = _imported(repo, *args)
        assert "gitstore.manifest" in imported, args  # the probe sees gitstore's own imports
        assert not imported & (never | extra), (args, imported & (never | extra))


def test_plain_track_and_status_print_what_the_click_command_line_prints(repo: Path, run) -> None:  # type: ignore[no-untyped-def]
    """``track X`` and ``status`` skip click; with ``--`` they go through it: the same output."""
    _tracked(repo, run)
    write(repo / "data" / "d0" / "f000.bin", "changed")
    (repo / "data" / "d1" / "f001.bin").unlink()
    write(repo / "data" / "d2" / "added.bin", "added")
    write(repo / "bad" / "x.bin", "x")
    (repo / "bad.gitstore").write_text("not a manifest\n")

    def both(
        plain: tuple[str, ...], routed: tuple[str, ...], stdout: object = None
    ) -> tuple[int, str, str]:
        got = []
        for args in (plain, routed):
            proc = subprocess.run(
                [*GITSTORE, *args],
                cwd=repo,
                capture_output=stdout is None,
                stdout=stdout,  # type: ignore[arg-type]
                stderr=subprocess.PIPE if stdout is not None else None,
                text=True,
            )
            got.append((proc.returncode, proc.stdout, proc.stderr))
        assert got[0] == got[1], args
        return got[0]

    both(("status",), ("status", "--"))
    both(("status", "--json"), ("status", "--json", "--"))
    both(("status", "data"), ("status", "--", "data"))
    with open(os.devnull, "w") as devnull:
        both(("status",), ("status", "--"), stdout=devnull)
    if os.path.exists("/dev/full"):
        with open("/dev/full", "w") as full:
            code, _out, err = both(("status",), ("status", "--"), stdout=full)
            assert (code, err) == (
                1,
                "gitstore: error: cannot write to standard output: No space left on device\n",
            )
    both(("checkout", "nowhere"), ("checkout", "--", "nowhere"))
    both(("track", "nowhere"), ("track", "--", "nowhere"))
    both(("track", "bad.gitstore"), ("track", "--", "bad.gitstore"))
    (repo / "bad.gitstore").unlink()
    plain = subprocess.run([*GITSTORE, "track", "data"], cwd=repo, capture_output=True, text=True)
    git(repo, "checkout", "-q", "HEAD", "--", "data.gitstore")  # as before the plain track
    routed = subprocess.run(
        [*GITSTORE, "track", "--", "data"], cwd=repo, capture_output=True, text=True
    )
    assert (plain.returncode, plain.stdout, plain.stderr) == (
        routed.returncode,
        routed.stdout,
        routed.stderr,
    )
    assert plain.returncode == 0 and plain.stdout.startswith("tracked data (")
    both(("checkout",), ("checkout", "--"))  # nothing to do: "0 written, ..."
    both(("checkout", "data"), ("checkout", "--", "data"))
    # --force and --link: parsed without click as click parses them
    for opts in (("--link", "copy"), ("--link=hardlink,copy", "-f"), ("--force",)):
        got = []
        for args in (("checkout", *opts, "data"), ("checkout", *opts, "--", "data")):
            shutil.rmtree(repo / "data" / "d0")
            proc = subprocess.run([*GITSTORE, *args], cwd=repo, capture_output=True, text=True)
            got.append((proc.returncode, proc.stdout, proc.stderr))
            assert (repo / "data" / "d0" / "f000.bin").exists(), args
        assert got[0] == got[1] and got[0][1].startswith("10 written"), (opts, got)
    both(("checkout", "--link", "bogus"), ("checkout", "--link", "bogus", "--"))
    both(("checkout", "--link=", "data"), ("checkout", "--link=", "--", "data"))


def _two_versions(repo: Path, run) -> dict[str, dict[str, bytes]]:  # type: ignore[no-untyped-def]
    """data at two commits (HEAD~1, HEAD): two files changed, one removed, one added."""
    _tracked(repo, run)
    v1 = {str(p.relative_to(repo)): p.read_bytes() for p in (repo / "data").rglob("*.bin")}
    write(repo / "data" / "d0" / "f000.bin", "changed in v2")
    write(repo / "data" / "d1" / "f004.bin", "changed in v2 too")
    (repo / "data" / "d2" / "f002.bin").unlink()
    write(repo / "data" / "d2" / "new.bin", "new in v2")
    run(repo, "track", "data")
    git(repo, "commit", "-q", "-m", "v2")
    v2 = {str(p.relative_to(repo)): p.read_bytes() for p in (repo / "data").rglob("*.bin")}
    return {"HEAD~1": v1, "HEAD": v2}


def _on_disk(repo: Path) -> dict[str, bytes]:
    return {str(p.relative_to(repo)): p.read_bytes() for p in (repo / "data").rglob("*.bin")}


def test_checkout_rev_takes_the_delta_when_the_folder_is_vouched_for(repo: Path, run) -> None:  # type: ignore[no-untyped-def]
    versions = _two_versions(repo, run)
    _age(repo / "data")
    run(repo, "status")  # records the folder as clean
    old = git(repo, "show", "HEAD~1:data.gitstore").stdout.encode()
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        ws = Context(".").workspace
        delta, walked = hookdelta.clean_delta(
            ws, "data.gitstore", old, None, CleanRecord.load(ws.repo.state_dir)
        )
    finally:
        os.chdir(cwd)
    assert delta is not None and walked is not None
    write_, delete, _kept = delta
    assert sorted(e.path for e in write_) == ["d0/f000.bin", "d1/f004.bin", "d2/f002.bin"]
    assert delete == ["d2/new.bin"]
    out = run(repo, "checkout", "HEAD~1")
    assert "3 written, 1 deleted, 27 unchanged" in out.stdout, out.stdout
    assert _on_disk(repo) == versions["HEAD~1"]
    assert "unchanged" in run(repo, "status").stdout
    _age(repo / "data")
    run(repo, "status")
    out = run(repo, "checkout", "HEAD")
    assert "3 written, 1 deleted, 27 unchanged" in out.stdout, out.stdout
    assert _on_disk(repo) == versions["HEAD"]
    assert git(repo, "status", "--porcelain").stdout.strip() == ""


def test_checkout_rev_delta_never_hides_an_edit_outside_it(repo: Path, run) -> None:  # type: ignore[no-untyped-def]
    versions = _two_versions(repo, run)
    _age(repo / "data")
    run(repo, "status")
    # an edit the cache has never seen, to a file both versions share
    victim = repo / "data" / "d1" / "f007.bin"
    victim.write_bytes(victim.read_bytes().replace(b"file", b"EDIT"))  # same size
    out = run(repo, "checkout", "HEAD~1", ok=None)
    assert out.returncode == 3, out.stdout + out.stderr
    assert "data/d1/f007.bin" in out.stderr
    assert b"EDIT" in victim.read_bytes()  # left alone, as the full checkout does
    rest = {k: v for k, v in _on_disk(repo).items() if k != "data/d1/f007.bin"}
    assert rest == {k: v for k, v in versions["HEAD~1"].items() if k != "data/d1/f007.bin"}


def test_checkout_rev_delta_reports_a_missing_object(repo: Path, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _two_versions(repo, run)
    _age(repo / "data")
    run(repo, "status")
    old = mf.parse(git(repo, "show", "HEAD~1:data.gitstore").stdout.encode(), "data.gitstore")
    oid = next(e.oid for e in old.entries if e.path == "d2/f002.bin")
    cache = Path(os.environ["GITSTORE_CACHE_DIR"]) if "GITSTORE_CACHE_DIR" in os.environ else None
    if cache is None:
        cache = Path(os.environ["XDG_CACHE_HOME"]) / "gitstore"
    obj = cache / "objects" / oid[:2] / oid[2:4] / oid
    os.chmod(obj.parent, 0o755)
    obj.unlink()
    out = run(repo, "checkout", "HEAD~1", ok=None)
    assert out.returncode == 3 and oid in out.stderr, out.stderr
    assert not (repo / "data" / "d2" / "f002.bin").exists()
    (status,) = json.loads(run(repo, "status", "--json").stdout)
    assert status["state"] == "modified" and status["removed"] == ["data/d2/f002.bin"]


def test_checkout_rev_delta_leaves_a_record_that_never_hides_a_later_edit(repo: Path, run) -> None:  # type: ignore[no-untyped-def]
    _tracked(repo, run)
    v1 = _on_disk(repo)
    write(repo / "data" / "d0" / "f000.bin", "changed in v2")  # changes only: no new names,
    write(repo / "data" / "d1" / "f004.bin", "changed in v2 too")  # which a walk may list anywhere
    run(repo, "track", "data")
    git(repo, "commit", "-q", "-m", "v2")
    versions = {"HEAD~1": v1, "HEAD": _on_disk(repo)}
    _age(repo / "data")
    run(repo, "status")
    run(repo, "checkout", "HEAD~1")
    assert _on_disk(repo) == versions["HEAD~1"]
    ws_state = repo / ".git" / "gitstore"
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        ws = Context(".").workspace
        clean = CleanRecord.load(ws_state)
        sig, _found, _data = clean.look(ws, "data.gitstore")
        assert clean.matches("data.gitstore", sig)  # vouched for by the checkout itself
    finally:
        os.chdir(cwd)
    run(repo, "checkout", "HEAD")  # from that record: the delta again
    assert _on_disk(repo) == versions["HEAD"]
    for victim in ("data/d0/f000.bin", "data/d1/f007.bin"):  # one written, one left
        path = repo / victim
        path.write_bytes(path.read_bytes()[:-1] + b"!")
        (state,) = json.loads(run(repo, "status", "--json").stdout)
        assert state["modified"] == [victim], state
        run(repo, "track", "data")
        git(repo, "commit", "-qm", f"edit {victim}")


def test_a_new_branch_at_the_same_commit_brings_back_only_what_is_absent(repo: Path, run) -> None:  # type: ignore[no-untyped-def]
    """`git switch -c` runs post-checkout with the same commit on both sides: a tracked
    path that is not there at all is materialised; present ones are left as they are."""
    _tracked(repo, run)
    write(repo / "model.bin", b"weights v1")
    run(repo, "track", "model.bin")
    git(repo, "commit", "-q", "-m", "model")
    run(repo, "install")
    (repo / "data" / "d1" / "f001.bin").write_text("edited, not tracked yet")
    git(repo, "switch", "-q", "-c", "first")  # everything in place: nothing is touched
    assert (repo / "data" / "d1" / "f001.bin").read_text() == "edited, not tracked yet"
    (repo / "model.bin").unlink()
    git(repo, "switch", "-q", "-c", "second")  # the model is absent: it comes back
    assert (repo / "model.bin").read_bytes() == b"weights v1"
    assert (repo / "data" / "d1" / "f001.bin").read_text() == "edited, not tracked yet"
