"""A disk that fills up while a big object is being resumed: a real full filesystem.

The resumable transfers (docs/remotes.md) promise that a full disk discards the
partial file (the user needs the space more than a head start), with one
line saying so, and that the next run once there is room goes through. Tested
until now with a simulated error only; here the cache or the remote is a
small tmpfs that really fills up (mounting one needs root, as CI has).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gitstore import layout, partial
from tests.integration.resume_helpers import killed, model_on_folder
from tests.integration.test_remotes import Clone, clone_of

Run = Callable[..., subprocess.CompletedProcess[str]]
MIB = 1 << 20


@contextmanager
def small_disk(path: Path, mib: int) -> Iterator[Path]:
    """A tmpfs of ``mib`` MiB mounted at ``path`` for the block's duration."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={mib}m", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(disk: Path, leave_mib: int) -> Path:
    """A file that leaves about ``leave_mib`` MiB free on ``disk``."""
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize
    filler = disk / "filler"
    with open(filler, "wb") as f:
        f.truncate(0)
        chunk = b"\0" * MIB
        for _ in range(max(0, free // MIB - leave_mib)):
            f.write(chunk)
    return filler


def _partials(tmp: Path) -> list[str]:
    return (
        sorted(n for n in os.listdir(tmp) if n.startswith(partial.PREFIX)) if tmp.is_dir() else []
    )


def _one_error(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [x for x in stderr.splitlines() if x.startswith("gitstore: error")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_a_resumed_fetch_into_a_full_cache_gives_the_space_back(
    repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    a = Clone(repo, tmp_path / "cache-a", run, monkeypatch)
    data, oid = model_on_folder(a, tmp_path / "nas")
    a.gs("push")
    b = clone_of(a, tmp_path)
    with small_disk(b.cache, 110) as disk:
        killed(b, "kill-range:3", "fetch")  # 24 MiB or more in the partial file
        tmp = disk / "gitstore" / "tmp"
        assert _partials(tmp) == [
            f"{partial.PREFIX}{oid}",
            f"{partial.PREFIX}{oid}{partial.SUFFIX}",
        ]
        filler = _fill(disk, 20)  # the other 56 MiB cannot fit

        failed = b.gs("pull", ok=False)
        assert failed.returncode != 0
        line = _one_error(failed.stderr)
        assert oid in line or "space" in line.lower(), line
        assert "No space left" in failed.stderr or "free" in failed.stderr, failed.stderr
        assert _partials(tmp) == []  # given back
        assert not (b.path / "model.bin").exists()

        filler.unlink()
        b.gs("pull")
        assert (b.path / "model.bin").read_bytes() == data


def test_a_push_to_a_full_folder_remote_leaves_nothing_there_and_goes_through_later(
    repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    a = Clone(repo, tmp_path / "cache-a", run, monkeypatch)
    with small_disk(tmp_path / "nas", 110) as nas:
        data, oid = model_on_folder(a, nas)
        killed(a, "kill-range:2", "push")  # 16 MiB or more in the remote's partial file
        assert _partials(nas / "tmp") == [
            f"{partial.PREFIX}{oid}",
            f"{partial.PREFIX}{oid}{partial.SUFFIX}",
        ]
        filler = _fill(nas, 20)

        failed = a.gs("push", ok=False)
        assert failed.returncode != 0
        line = _one_error(failed.stderr)
        assert "'nas'" in line and oid in line, failed.stderr
        assert "No space left" in failed.stderr, failed.stderr
        assert f"hint: free some space in {nas}" in failed.stderr, failed.stderr
        assert _partials(nas / "tmp") == []  # the share needs the space
        assert not (nas / layout.object_key(oid)).exists()

        filler.unlink()
        a.gs("push")
        assert (nas / layout.object_key(oid)).read_bytes() == data
        assert _partials(nas / "tmp") == []
