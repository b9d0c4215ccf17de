"""The speed paths of manifest reading and diffing agree with the plain ones.

``diff_manifests`` (compare raw entry lines first) must equal ``diff_entries``
over the full entries; the column-wise fast reader must agree with the
generic YAML reader on mixes of plain and quoted paths and oids.
"""

from __future__ import annotations

import random

import pytest

from gitstore import manifest as mf
from gitstore import manifestdiff as md


def _oid(n: int) -> str:
    return f"{n:064x}".replace("0", "c")


def _entries(rng: random.Random, count: int) -> dict[str, mf.Entry]:
    names = ["plain", "with space", "dä ta", "#hash", "ab: c", "0123", "yes", "x.bin"]
    out = {}
    for i in range(count):
        path = f"{rng.choice(names)}/{i:04}-{rng.choice(names)}"
        oid = rng.choice([_oid(rng.randrange(10**6)), "1" * 64, "1e" + "2" * 62, "0b" + "a" * 62])
        out[path] = mf.Entry(path, oid, rng.randrange(10**6), rng.random() < 0.1)
    return out


def _mutate(rng: random.Random, entries: dict[str, mf.Entry]) -> dict[str, mf.Entry]:
    out = dict(entries)
    for path in rng.sample(sorted(out), k=min(len(out), 12)):
        e = out.pop(path)
        action = rng.randrange(5)
        if action == 0:  # removed
            continue
        if action == 1:  # renamed
            out["renamed/" + path] = mf.Entry("renamed/" + path, e.oid, e.size, e.exec)
        elif action == 2:  # exec bit only
            out[path] = mf.Entry(path, e.oid, e.size, not e.exec)
        elif action == 3:  # content
            out[path] = mf.Entry(path, _oid(rng.randrange(10**9)), e.size + 1, e.exec)
        else:  # unchanged, plus a new file
            out[path] = e
            out[path + ".new"] = mf.Entry(path + ".new", _oid(rng.randrange(10**9)), 7)
    return out


@pytest.mark.parametrize("seed", range(25))
def test_line_diff_equals_entry_diff(seed: int) -> None:
    rng = random.Random(seed)
    before = _entries(rng, rng.randrange(1, 60))
    after = _mutate(rng, before)
    old_data = mf.dump(mf.build("dir", before.values()))
    new_data = mf.dump(mf.build("dir", after.values()))
    old, new = mf.parse(old_data, "old"), mf.parse(new_data, "new")
    assert mf._read_by_lines.get(id(old)) is old  # the line diff runs, not the fallback
    expected = md.diff_entries(old.entries, new.entries, prefix="d/")
    assert md.diff_manifests(old, new, old_data, new_data, prefix="d/") == expected
    generic_old = mf._parse_generic(old_data, "old")
    assert generic_old.entries == old.entries


def test_line_diff_of_non_canonical_manifests_falls_back() -> None:
    entries = [mf.Entry("a", _oid(1), 1), mf.Entry("b", _oid(2), 2)]
    canonical = mf.dump(mf.build("dir", entries))
    # block style: not the one-entry-a-line form, read by the generic loader
    block = canonical.replace(b"- {path: b, ", b"- path: b\n  ").replace(
        b", size: 2}", b"\n  size: 2"
    )
    block = block.replace(
        b"blake3: " + _oid(2).encode() + b"\n", b"blake3: " + _oid(3).encode() + b"\n"
    )
    old, new = mf.parse(canonical, "old"), mf.parse(block, "new")
    assert new.entries[1].oid == _oid(3)
    changes = md.diff_manifests(old, new, canonical, block)
    assert changes == md.diff_entries(old.entries, new.entries)
    assert [m.path for m in changes.modified] == ["b"]


def test_empty_and_all_quoted() -> None:
    empty = mf.dump(mf.build("dir", []))
    quoted = [mf.Entry(f"#{i}", _oid(i), i) for i in range(5)]
    data = mf.dump(mf.build("dir", quoted))
    assert b'"#0"' in data
    m_empty, m_quoted = mf.parse(empty, "e"), mf.parse(data, "q")
    assert m_quoted.entries == tuple(quoted)
    changes = md.diff_manifests(m_empty, m_quoted, empty, data)
    assert [a.path for a in changes.added] == [e.path for e in quoted]
    assert md.diff_manifests(m_quoted, m_empty, data, empty).removed[0].path == "#0"


def test_fast_constructed_entries_behave_like_entries() -> None:
    data = mf.dump(mf.build("dir", [mf.Entry("a/b", _oid(1), 3, True)]))
    (entry,) = mf.parse(data, "m").entries
    assert entry == mf.Entry("a/b", _oid(1), 3, True)
    assert hash(entry) == hash(mf.Entry("a/b", _oid(1), 3, True))
    assert entry.extra == ()
    with pytest.raises(AttributeError):
        entry.size = 4  # type: ignore[misc]
