"""What the resumable-transfer tests share: the one line a resumed object gets."""

from __future__ import annotations


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
