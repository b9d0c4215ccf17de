"""QA of the resumable push to a folder remote (commits 3aedfdf, a7e2203, 3c4ca7c).

Each test here failed when it was written and states the behaviour expected
instead. What held up (kills at random moments, journals that lie, symlinks,
folders and FIFOs at the partial names, a damaged cache copy, a full disk, a
remote on another filesystem) is covered by test_resume_folder_push.py and
tests/unit/test_partial.py, or needed no test.
"""

from __future__ import annotations

import os
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gitstore import faults, layout, partial
from gitstore.errors import GitstoreError
from gitstore.hashing import hash_bytes
from gitstore.stores.local import LocalStore
from tests.conftest import GITSTORE, unprivileged
from tests.integration.resume_helpers import killed, resumed_mib, track_model
from tests.integration.test_remotes import Clone

Run = Callable[..., subprocess.CompletedProcess[str]]
MIB = 1 << 20


def _left(nas: Path) -> list[str]:
    tmp = nas / "tmp"
    return sorted(os.listdir(tmp)) if tmp.is_dir() else []


def _remote(a: Clone, tmp_path: Path) -> tuple[bytes, str, Path]:
    data, oid = track_model(a)
    nas = tmp_path / "nas"
    nas.mkdir()
    a.gs("remote", "add", "nas", str(nas), "--default")
    a.commit("model")
    return data, oid, nas


def _as_plain_user(a: Clone, *args: str, fault: str = "") -> subprocess.CompletedProcess[str]:
    """``gitstore ARGS`` in ``a`` as a user that file modes apply to (root without
    CAP_DAC_OVERRIDE and CAP_FOWNER; anyone else as is)."""
    prefix = unprivileged()  # what a plain user meets on a NAS (tmp/ read-only, another's file)
    if prefix is None:
        pytest.skip("root, and cannot drop CAP_DAC_OVERRIDE here")
    env = {**os.environ, "XDG_CACHE_HOME": str(a.cache)}
    if fault:
        env["GITSTORE_FAULT"] = fault
    return subprocess.run(
        [*prefix, *GITSTORE, *args], cwd=a.path, env=env, capture_output=True, text=True
    )


def _store(tmp_path: Path, mib: int = 24) -> tuple[LocalStore, Path, bytes, str]:
    """A folder remote (that must exist, as `gitstore push` opens one) taking up
    objects of 1 MiB or more, and a source of ``mib`` MiB: (store, source, bytes, oid)."""
    root = tmp_path / "nas"
    root.mkdir()
    store = LocalStore(root, remote=True)
    store.resume_min = MIB
    data = os.urandom(mib * MIB)
    src = tmp_path / "src"
    src.write_bytes(data)
    return store, src, data, hash_bytes(data)


# -- the remote folder goes away mid-copy ---------------------------------------------
def test_a_remote_folder_that_goes_away_mid_copy_is_not_made_again_on_the_local_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The NAS is unmounted (or its folder moved) while a big object is copied into it.

    Now the failing push's install makes ``objects/ab/cd`` with all its parents:
    the remote's folder is made again on the local disk (under the mount point),
    the error says only "No such file or directory", and the next `gitstore
    push` "pushes" into that local folder (reproduced with a bind mount and
    `umount -l`: "pushed 1 object (80.0 MiB) to 'nas'" while the NAS was not
    mounted; the index then says the object is on the remote, and once the NAS
    is mounted again the local folder is hidden under it).

    Expected: the push fails saying the remote folder is gone, makes nothing
    where it was, and once it is back the next push resumes the partial file.
    """
    store, src, data, oid = _store(tmp_path)
    away = tmp_path / "away"
    mark = partial.Journal.mark

    def unmounted_after_the_first_record(self: partial.Journal, start: int, position: int) -> None:
        mark(self, start, position)
        if store.root.exists():
            os.rename(store.root, away)  # the copy goes on into the open partial file

    monkeypatch.setattr(partial.Journal, "mark", unmounted_after_the_first_record)
    with pytest.raises(GitstoreError) as failed:
        store.put(oid, src)
    monkeypatch.undo()
    assert not store.root.exists(), [str(p) for p in store.root.rglob("*")]
    assert any(w in failed.value.message for w in ("does not exist", "not mounted", "moved")), (
        failed.value.message
    )

    os.rename(away, store.root)  # mounted again
    again = LocalStore(store.root, remote=True)
    again.resume_min = MIB
    again.put(oid, src)
    assert again.object_path(oid).read_bytes() == data
    assert again.resumed_uploads[oid][0] >= 8 * MIB
    assert _left(store.root) == []


# -- gc --remote while a push is writing -------------------------------------------------
def test_gc_of_the_remote_leaves_a_partial_file_a_push_holds(tmp_path: Path) -> None:
    """`gitstore gc --remote nas --yes --grace 0` run while a push copies a big object.

    Now the sweep of the remote's tmp/ deletes the partial file and its journal
    under the push (it never looks at the push's lock); reproduced with the CLI:
    the push fails with "cannot write object <oid> to .../nas: No such file or
    directory". The cache's gc already leaves what a live process holds (views,
    docs/reliability.md). Expected: a partial file a push holds is left, and its
    journal with it.
    """
    store, _, data, oid = _store(tmp_path)
    store.tmp_dir.mkdir()
    part = store.tmp_dir / f"{partial.PREFIX}{oid}"
    part.write_bytes(data[: 8 * MIB])
    journal = Path(f"{part}{partial.SUFFIX}")
    journal.write_text(f"{partial.MAGIC} {len(data)} {len(data)}\n0 {8 * MIB}\n")
    held = partial.open_locked(str(part))  # the push copying it now
    assert held is not None
    try:
        for path in (part, journal):
            os.utime(path, (time.time() - 5, time.time() - 5))
        swept = store.sweep_leftovers(time.time())  # what --grace 0 asks
    finally:
        os.close(held)
    assert part.exists() and journal.exists(), swept


def test_a_push_never_installs_bytes_it_did_not_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Push A is copying; `gc --remote --grace 0` sweeps A's partial file; push B of
    the same object (a teammate) makes a new one at the same name and starts to
    copy; A finishes and installs by *name*.

    Now A renames B's half-written file into ``objects/``: the remote holds an
    object whose bytes are not its oid (here: 8 MiB, then zeros), and A reports
    success. If B is then interrupted the object stays wrong for good. Expected:
    A installs only the file it hashed (or fails); never another one.
    """
    store, src, data, oid = _store(tmp_path)
    path = store.tmp_dir / f"{partial.PREFIX}{oid}"
    other: list[int] = []

    def gc_then_push_b(where: object = "") -> None:
        LocalStore(store.root).sweep_leftovers(time.time() + 1)  # gc --remote --grace 0
        fd = partial.open_locked(str(path))  # push B: a fresh partial file, locked
        if fd is None:  # A's file is still there and held: B copies on its own
            return
        os.ftruncate(fd, len(data))
        os.pwrite(fd, data[: 8 * MIB], 0)  # B is 8 MiB in
        other.append(fd)

    monkeypatch.setattr(faults, "object_write", gc_then_push_b)  # just before A installs
    try:
        try:
            store.put(oid, src)
        except GitstoreError:
            pass  # failing is fine; installing wrong bytes is not
        monkeypatch.undo()
        dest = store.object_path(oid)
        if dest.exists():
            assert hash_bytes(dest.read_bytes()) == oid, "the remote's object is not its bytes"
    finally:
        for fd in other:
            os.close(fd)


# -- hostile things at the partial names ------------------------------------------------
@pytest.mark.parametrize("suffix", ["", partial.SUFFIX], ids=["partial", "journal"])
def test_a_hard_link_at_a_partial_name_never_writes_the_file_it_links(
    repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, suffix: str
) -> None:
    """A hard link at ``tmp/partial-<oid>`` (or its ``.ranges``) to a file outside the
    remote: a symlink there is refused (O_NOFOLLOW), a hard link is not.

    Now the push truncates the user's file and writes the object into it, then
    renames it into ``objects/`` and makes it read-only (the user's file *is* the
    remote's object from then on: an edit of it changes the object); with the
    link at the journal's name the file is overwritten with the journal.
    Expected: the file outside the remote is never written, truncated or
    chmodded (a partial file or journal with more than one link is not ours:
    copy through a temporary file of our own, as for a symlink).
    """
    a = Clone(repo, tmp_path / "cache-a", run, monkeypatch)
    data, oid, nas = _remote(a, tmp_path)
    notes = tmp_path / "notes.txt"
    notes.write_text("precious\n")
    os.chmod(notes, 0o644)
    (nas / "tmp").mkdir()
    os.link(notes, nas / "tmp" / f"{partial.PREFIX}{oid}{suffix}")

    a.gs("push")
    assert (nas / layout.object_key(oid)).read_bytes() == data
    assert notes.read_bytes() == b"precious\n"
    assert stat.S_IMODE(notes.stat().st_mode) == 0o644


def test_gc_of_the_remote_sweeps_a_symlink_planted_at_a_partial_name(tmp_path: Path) -> None:
    """A symlink (or FIFO) at ``tmp/partial-<oid>`` in the remote is never used: every
    push of that object copies it whole, for ever.

    Now `gc --remote` sweeps only regular files, so nothing ever removes it
    (`gitstore gc` sweeps such things in the cache: gitstore/gc.py, _sweep_tmp).
    Expected: an old one is swept as every leftover, and only the link goes.
    """
    store, _, _, oid = _store(tmp_path, mib=1)
    store.tmp_dir.mkdir()
    target = tmp_path / "notes.txt"
    target.write_text("precious\n")
    link = store.tmp_dir / f"{partial.PREFIX}{oid}"
    link.symlink_to(target)
    day_ago = time.time() - 86400
    os.utime(link, (day_ago, day_ago), follow_symlinks=False)
    store.sweep_leftovers(time.time() - 3600)
    assert not os.path.lexists(link)
    assert target.read_text() == "precious\n"


# -- permissions ----------------------------------------------------------------------
def test_a_partial_file_whose_rename_was_refused_is_resumed_next_time(
    repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The resumed push copies the rest, but the remote refuses the rename into
    ``objects/`` (tmp/ read-only for a while: a snapshot, an admin).

    Now install chmods the partial file 0444 before the rename that fails: the
    next push, once tmp/ is writable again, cannot open it for writing, copies
    the object whole through a temporary file of its own (no "resumed" line),
    and leaves the 80 MiB partial file and its journal in tmp/ for good.
    Expected: the next push resumes it and leaves nothing in tmp/.
    """
    a = Clone(repo, tmp_path / "cache-a", run, monkeypatch)
    data, oid, nas = _remote(a, tmp_path)
    assert _as_plain_user(a, "push", fault="kill-range:3").returncode == -9
    os.chmod(nas / "tmp", 0o555)
    try:
        refused = _as_plain_user(a, "push")
    finally:
        os.chmod(nas / "tmp", 0o755)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr

    out = _as_plain_user(a, "push")
    assert out.returncode == 0, out.stderr
    assert resumed_mib(out.stderr, oid, done="uploaded") >= 24
    assert (nas / layout.object_key(oid)).read_bytes() == data
    assert _left(nas) == []


def test_another_users_writable_partial_file_does_not_fail_every_push(
    repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A partial file of another user that this user may write (mode 0666, or a
    group-writable one on a share).

    Now the push takes it up, copies, and then fails at the chmod before the
    rename: "cannot write object <oid> to .../nas: Operation not permitted", with
    a hint about the group's setgid folders that does not apply; every later
    push does the same (the object never reaches the remote). Expected: the
    object is pushed (a file it cannot make its own is copied around, as one
    it cannot open is).
    """
    if os.geteuid() != 0:
        pytest.skip("needs root to give the partial file to another user")
    a = Clone(repo, tmp_path / "cache-a", run, monkeypatch)
    data, oid, nas = _remote(a, tmp_path)
    killed(a, "kill-range:3", "push")
    os.chmod(nas / "tmp", 0o777)
    for name in (f"{partial.PREFIX}{oid}", f"{partial.PREFIX}{oid}{partial.SUFFIX}"):
        os.chown(nas / "tmp" / name, 65534, 65534)
        os.chmod(nas / "tmp" / name, 0o666)

    out = _as_plain_user(a, "push")
    assert out.returncode == 0, out.stderr
    assert (nas / layout.object_key(oid)).read_bytes() == data
