"""Re-track patches the manifest line by line: always the same bytes as a full rebuild."""

from __future__ import annotations

import random
from pathlib import Path

from gitstore import manifest as mf
from gitstore.hashing import hash_bytes
from gitstore.workspace import Row, TrackMemo, splice
from tests.conftest import write

AWKWARD = ["true", '"true"', "a, b", "q {x}", "#hash", "-dash", "sp ace", "ünï", "null", "1e3"]


def _dump(rows: list[Row]) -> bytes:
    return mf.dump(mf.build("dir", [mf.Entry(*r) for r in rows]))


def _rows(n: int, rnd: random.Random) -> list[Row]:
    names = [f"d{i % 7}/f{i}" for i in range(n)] + [f"odd/{a}" for a in AWKWARD]
    return sorted(
        (name, hash_bytes(name.encode()), rnd.randrange(1000), rnd.random() < 0.1) for name in names
    )


def test_splice_equals_a_full_rebuild() -> None:
    rnd = random.Random(7)
    for _round in range(100):
        rows = _rows(200, rnd)
        old = _dump(rows)
        new = list(rows)
        for _ in range(rnd.randrange(1, 12)):
            i = rnd.randrange(len(new))
            path, oid, size, exe = new[i]
            what = rnd.randrange(4)
            if what == 0:
                new[i] = (path, hash_bytes(oid.encode()), size + 1, exe)
            elif what == 1:
                new[i] = (path, oid, size, not exe)
            elif what == 2:  # renamed: same count, other path
                new[i] = (rnd.choice(AWKWARD) + f"-{i}", oid, size, exe)
            else:
                new[i] = (path, "0" * 64, size, exe)  # an oid dump must quote
        new.sort()
        if len({r[0] for r in new}) != len(new):
            continue
        got = splice(old, new)
        if got is not None:
            assert got == _dump(new)


def test_renamed_path_that_looks_like_the_old_quoted_line_is_rewritten() -> None:
    """'true' is written quoted; a file named '"true"' must not reuse that line."""
    oid = hash_bytes(b"x")
    old = _dump([("true", oid, 1, False)] + [(f"z{i}", oid, 1, False) for i in range(9)])
    assert b'path: "true"' in old
    new = [('"true"', oid, 1, False)] + [(f"z{i}", oid, 1, False) for i in range(9)]
    assert splice(old, new) == _dump(new)


def test_too_many_changes_or_another_shape_mean_a_rebuild() -> None:
    rnd = random.Random(1)
    rows = _rows(300, rnd)
    old = _dump(rows)
    changed = [(p, hash_bytes(o.encode()), s, e) for p, o, s, e in rows]
    assert splice(old, changed) is None
    assert splice(old, rows[:-1]) is None  # a file fewer
    assert splice(old + b"extra: 1\n", rows) is None


def test_retrack_with_memo_matches_retrack_without(repo: Path, run) -> None:
    for i in range(120):
        write(repo / "d" / f"s{i % 3}" / f"f{i}", b"%d" % i)
    write(repo / "d" / "a, b", b"comma")
    run(repo, "track", "d")
    write(repo / "d" / "s1" / "f4", b"changed")
    write(repo / "d" / "a, b", b"comma changed")
    (repo / "d" / "s2" / "f5").chmod(0o755)
    run(repo, "track", "d")
    spliced = (repo / "d.gitstore").read_bytes()
    (repo / ".git" / "gitstore" / TrackMemo.FILE).unlink()
    run(repo, "track", "d")
    assert (repo / "d.gitstore").read_bytes() == spliced
    assert mf.dump(mf.parse(spliced, "d.gitstore")) == spliced
    assert hash_bytes(b"changed") in spliced.decode()


def test_hand_edited_manifest_is_rebuilt_not_patched(repo: Path, run) -> None:
    for i in range(100):
        write(repo / "d" / f"f{i}", b"%d" % i)
    run(repo, "track", "d")
    canonical = (repo / "d.gitstore").read_bytes()
    # same meaning, other bytes (a comment); track must write canonical bytes again
    (repo / "d.gitstore").write_bytes(canonical.replace(b"entries:\n", b"entries: # hi\n"))
    run(repo, "track", "d")
    assert (repo / "d.gitstore").read_bytes() == canonical


def test_quoted_oid_lines_are_kept_when_unchanged() -> None:
    oid = hash_bytes(b"x")
    rows = [(f"f{i}", oid, 1, False) for i in range(10)] + [("z", "0b" + "1" * 62, 2, True)]
    old = _dump(rows)
    assert b'"0b111' in old
    new = [("f0", hash_bytes(b"y"), 1, False), *rows[1:]]
    assert splice(old, new) == _dump(new)
