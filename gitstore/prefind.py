"""Start the stamps' ``find`` before the imports, so that the two run at once.

The pre-commit hook spends ~25 ms importing its modules and ~40 ms (for
20,000 files) waiting on ``find`` (:class:`gitstore.cleanrecord.Stamps`);
on two cores the two can overlap. :func:`start` reads the stamps file with
nothing but the standard library and starts one ``find`` per stamp time;
:func:`result` hands its answer to ``Stamps.still`` when it covers the paths
asked. Whatever it cannot do here (no stamps, an unusual ``.git``), it
leaves to ``Stamps.still``, which runs its own ``find``: only a head start.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence

_RUNNING: dict[tuple[str, int], tuple[frozenset[str], subprocess.Popen[bytes]]] = {}


def find_argv(rels: Sequence[str], t: int, *, first: bool = False) -> list[str]:
    """``find`` listing what under ``rels`` has a ctime or mtime at or after ``t`` (ns).

    ``first``: stop at the first one (enough to know that one path changed).
    """
    stamp = f"@{t // 1_000_000_000}.{t % 1_000_000_000:09d}"
    # ctime, which nobody can set; and mtime, for a filesystem that does not keep ctime
    test = ["(", "-newerct", stamp, "-o", "-newermt", stamp, ")"]
    # -prune: a changed folder stands for what is in it
    then = ["-print0", "-quit"] if first else ["-print0", "-prune"]
    return ["find", "-P", *("./" + r for r in rels), *test, *then]


def parse(out: bytes) -> list[str]:
    return [os.fsdecode(p)[2:] for p in out.split(b"\0") if p]


def start(state_dir: str, root: str) -> None:
    """Start ``find`` for every stamped path of the work tree at ``root`` (cwd-relative is fine)."""
    import marshal

    try:
        with open(os.path.join(state_dir, "clean-stamps"), "rb") as f:
            data = marshal.loads(f.read())
        _magic, entries = data
        groups: dict[int, list[str]] = {}
        for mpath, record in entries.items():
            rel = mpath[: -len(".gitstore")]
            st = os.lstat(os.path.join(root, rel))
            if st.st_dev == record[2] and not os.path.islink(os.path.join(root, rel)):
                groups.setdefault(record[1], []).append(rel)
        for t, rels in groups.items():
            proc = subprocess.Popen(
                find_argv(rels, t),
                cwd=root,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            _RUNNING[(os.path.realpath(state_dir), t)] = (frozenset(rels), proc)
    except Exception:  # only a head start: anything odd is left to Stamps.still
        return


def result(state_dir: str, t: int, rels: Sequence[str]) -> list[str] | None:
    """What the started ``find`` for ``t`` listed, if it covered ``rels``; None: run one."""
    running = _RUNNING.pop((os.path.realpath(state_dir), t), None)
    if running is None:
        return None
    covered, proc = running
    if not covered.issuperset(rels):
        proc.kill()
        proc.communicate()
        return None
    out, err = proc.communicate()
    if proc.returncode != 0 or err:
        return None
    return parse(out)


def from_git_dir_of(cwd: str) -> str | None:
    """The state folder of the work tree git runs a hook in (its top): ``.git/gitstore``."""
    dot = os.path.join(cwd, ".git")
    if os.path.isdir(dot):
        return os.path.join(dot, "gitstore")
    try:
        with open(dot, encoding="utf-8") as f:
            line = f.readline().strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not line.startswith("gitdir: "):
        return None
    return os.path.join(cwd, line[len("gitdir: ") :], "gitstore")
