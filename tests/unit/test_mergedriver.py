"""The manifest merge driver, the resolver and the diff rendering, without git."""

from __future__ import annotations

import pytest

from gitstore import manifest as mf
from gitstore.diffdriver import render
from gitstore.errors import ConflictError
from gitstore.mergedriver import merge_bytes, resolve_text, split_sides


def oid(n: int) -> str:
    return f"{n:064x}".replace("0", "a")


def entry(path: str, n: int, size: int = 10, exec: bool = False) -> mf.Entry:
    return mf.Entry(path, oid(n), size, exec)


def dump(*entries: mf.Entry, kind: str = "dir") -> bytes:
    return mf.dump(mf.build(kind, entries))


BASE = dump(entry("a", 1), entry("b", 2), entry("c", 3))


def test_one_sided_changes_merge_cleanly_and_totals_are_recomputed() -> None:
    ours = dump(entry("a", 11, 100), entry("b", 2), entry("c", 3), entry("d", 4))
    theirs = dump(entry("a", 1), entry("b", 22, 5), entry("e", 5, 7))  # c removed
    result = merge_bytes(BASE, ours, theirs)
    assert result.conflicts == []
    merged = mf.parse(result.data, "merged")
    assert [(e.path, e.oid) for e in merged.entries] == [
        ("a", oid(11)),
        ("b", oid(22)),
        ("d", oid(4)),
        ("e", oid(5)),
    ]
    assert result.data == mf.dump(merged)  # canonical, size and files right
    assert merged.size == 100 + 5 + 10 + 7


def test_same_change_on_both_sides_is_clean() -> None:
    both = dump(entry("a", 9), entry("b", 2), entry("c", 3))
    assert merge_bytes(BASE, both, both).conflicts == []


def test_both_sides_change_one_entry_differently_is_a_conflict_around_it() -> None:
    ours = dump(entry("a", 11), entry("b", 2), entry("c", 3))
    theirs = dump(entry("a", 12), entry("b", 2), entry("c", 33))
    result = merge_bytes(BASE, ours, theirs)
    assert result.conflicts == ["a"]
    text = result.data.decode()
    assert mf.has_conflict_markers(result.data)
    block = text.split("<<<<<<< ours\n")[1].split(">>>>>>> theirs\n")[0]
    assert oid(11) in block and oid(12) in block and oid(33) not in block
    assert oid(33) in text  # theirs' clean change is kept outside the markers
    assert mf.parse(resolve_text(result.data, "ours", "m"), "m").by_path()["a"].oid == oid(11)
    theirs_side = mf.parse(resolve_text(result.data, "theirs", "m"), "m").by_path()
    assert theirs_side["a"].oid == oid(12) and theirs_side["c"].oid == oid(33)


def test_modify_delete_conflict_and_union() -> None:
    ours = dump(entry("a", 11), entry("b", 2), entry("c", 3))  # a modified
    theirs = dump(entry("b", 2), entry("c", 3))  # a deleted
    result = merge_bytes(BASE, ours, theirs)
    assert result.conflicts == ["a"]
    assert [e.path for e in mf.parse(resolve_text(result.data, "theirs", "m"), "m").entries] == [
        "b",
        "c",
    ]
    union = mf.parse(resolve_text(result.data, "union", "m"), "m")
    assert union.by_path()["a"].oid == oid(11)


def test_union_refuses_one_path_with_two_oids() -> None:
    result = merge_bytes(BASE, dump(entry("a", 11)), dump(entry("a", 12)))
    with pytest.raises(ConflictError, match="'?a'?"):
        resolve_text(result.data, "union", "m")


def test_add_add_without_base() -> None:
    result = merge_bytes(b"", dump(entry("x", 1)), dump(entry("y", 2)))
    assert result.conflicts == []
    assert [e.path for e in mf.parse(result.data, "m").entries] == ["x", "y"]


def test_kind_change_and_garbage_conflict_the_whole_file() -> None:
    as_file = dump(entry("a", 5), kind="file")
    whole = merge_bytes(BASE, as_file, dump(entry("a", 1)))
    assert whole.conflicts == ["*"]
    assert resolve_text(whole.data, "ours", "m") == as_file
    garbage = merge_bytes(BASE, b"not: [a manifest", dump(entry("a", 1)))
    assert garbage.conflicts == ["*"]
    assert resolve_text(garbage.data, "theirs", "m") == dump(entry("a", 1))


def test_file_folder_clash_is_a_conflict() -> None:
    result = merge_bytes(
        BASE,
        dump(*mf.parse(BASE, "b").entries, entry("d", 4)),
        dump(*mf.parse(BASE, "b").entries, entry("d/x", 5)),
    )
    assert result.conflicts == ["*"]


def test_git_text_markers_with_diff3_are_understood() -> None:
    ours, theirs = dump(entry("a", 11)), dump(entry("a", 12))
    lines_o, lines_t = ours.decode().splitlines(True), theirs.decode().splitlines(True)
    marked = (
        "".join(lines_o[:3])
        + "<<<<<<< HEAD\n"
        + "".join(lines_o[3:])
        + "||||||| base\nold\n=======\n"
    )
    marked += "".join(lines_t[3:]) + ">>>>>>> other\n"
    o, t = split_sides(marked.encode())
    assert mf.parse(o, "o").entries[0].oid == oid(11)
    assert mf.parse(t, "t").entries[0].oid == oid(12)


def test_diff_rendering_names_files_and_sizes() -> None:
    text = render(dump(entry("cats/1.jpg", 1, 4096), entry("run.sh", 2, 3, exec=True))).decode()
    assert text.splitlines()[0] == "gitstore dir: 2 files, 4.0 KiB (4099 bytes)"
    assert f"cats/1.jpg  4.0 KiB  {oid(1)[:12]}" in text
    assert "run.sh  3 B" in text and "executable" in text
    assert render(b"<<<<<<< ours\n") == b"<<<<<<< ours\n"


def test_diff_rendering_cannot_be_forged_by_a_name_and_shows_unknown_keys() -> None:
    """QA pass 7: a name with a line break printed a forged line that a reviewer took for an
    unchanged file and an added one; a change of an unknown entry key rendered no change."""
    forged = f"b  3 B  {oid(2)[:12]}\nREADME.txt"
    lines = render(dump(entry("a", 1), entry(forged, 2))).decode().splitlines()
    assert len(lines) == 3 and f'"b  3 B  {oid(2)[:12]}\\nREADME.txt"  10 B' in lines[2]
    labelled = mf.build("dir", [mf.Entry("a", oid(1), 10, False, (("label", "cat"),))])
    relabelled = mf.build("dir", [mf.Entry("a", oid(1), 10, False, (("label", "dog"),))])
    assert render(mf.dump(labelled)) != render(mf.dump(relabelled))
    assert "label: dog" in render(mf.dump(relabelled)).decode()
    assert mf.one_line("plain name") == "plain name"
    assert mf.one_line('a\tb"c') == '"a\\tb\\"c"'
