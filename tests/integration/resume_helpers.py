"""What the resumable-transfer tests share: the one line a resumed object gets."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from gitstore.hashing import hash_bytes
from tests.conftest import GITSTORE
from tests.integration.test_remotes import Clone


def resumed_mib(stderr: str, oid: str, done: str = "downloaded", size: str = "80.0 MiB") -> float:
    """The MiB already there, from the one ``gitstore: resumed OID: X MiB of SIZE were
    already DONE`` line ``stderr`` must hold."""
    lines = [x for x in stderr.splitlines() if x.startswith("gitstore: resumed ")]
    assert len(lines) == 1, stderr
    head = f"gitstore: resumed {oid}: "
    tail = f" of {size} were already {done}"
    assert lines[0].startswith(head) and lines[0].endswith(tail), lines[0]
    found = lines[0][len(head) : -len(tail)]
    assert found.endswith(" MiB") or found.endswith(" GiB"), found
    return float(found[:-4]) * (1024 if found.endswith(" GiB") else 1)


def track_model(a: Clone, mib: int = 80) -> tuple[bytes, str]:
    """``gitstore init`` and ``track model.bin`` (``mib`` MiB of random bytes) in ``a``:
    (the bytes, their oid)."""
    a.gs("init")
    data = os.urandom(1 << 20) * mib
    (a.path / "model.bin").write_bytes(data)
    a.gs("track", "model.bin")
    return data, hash_bytes(data)


def model_on_folder(a: Clone, nas: Path) -> tuple[bytes, str]:
    """:func:`track_model` in ``a``, with the folder ``nas`` as its default remote,
    committed (not pushed): (the bytes, their oid)."""
    data, oid = track_model(a)
    a.gs("remote", "add", "nas", str(nas), "--default")
    a.commit("model")
    return data, oid


def killed(a: Clone, fault: str, *args: str) -> None:
    """Run ``gitstore ARGS`` in ``a`` with ``GITSTORE_FAULT=fault``; it must die of SIGKILL."""
    env = {**os.environ, "XDG_CACHE_HOME": str(a.cache), "GITSTORE_FAULT": fault}
    proc = subprocess.run([*GITSTORE, *args], cwd=a.path, env=env, capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
