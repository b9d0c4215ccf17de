"""Manifest format: canonical bytes, validation, quoting, the fast reader, diff."""

from __future__ import annotations

import datetime
import re
import time

import pytest
import yaml

from gitstore import manifest as m
from gitstore import manifestdiff as md
from gitstore.errors import ManifestError
from gitstore.manifest import Entry

OID1 = "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"
OID2 = "d4735e3a265e16eee03f59718b9b5d03019c07d8b6c51f90da3a666eec13ab35"
DIGITS_OID = "1234567890" * 6 + "1234"
FLOAT_OID = "1" * 30 + "e" + "2" * 33
BINARY_OID = "0b" + "01" * 31
SOURCE = "data/images.gitstore"

DESIGN_EXAMPLE = (
    "# gitstore manifest: run `gitstore checkout` to materialise, `gitstore status` to compare\n"
    "gitstore: 1\n"
    "kind: dir\n"
    "size: 8192\n"
    "files: 2\n"
    "entries:\n"
    f"- {{path: cats/001.jpg, blake3: {OID1}, size: 4096}}\n"
    f"- {{path: cats/002.jpg, blake3: {OID2}, size: 4096, exec: true}}\n"
).encode()

LOADERS = [yaml.SafeLoader] + ([yaml.CSafeLoader] if hasattr(yaml, "CSafeLoader") else [])

# YAML 1.2 core schema (yq, Go): what a plain scalar must not look like.
YAML12_CORE = re.compile(
    r"null|Null|NULL|~|"
    r"true|True|TRUE|false|False|FALSE|"
    r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+|"
    r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|"
    r"[-+]?(\.inf|\.Inf|\.INF)|\.nan|\.NaN|\.NAN|"
)

ADVERSARIAL = [
    "1234",
    "0123",
    "0o17",
    "0x1F",
    "0b101",
    "1e3",
    "1E3",
    "1_000",
    "+1",
    "-1",
    ".5",
    "1.",
    "12:30",
    "1:20:30",
    "2024-01-01",
    "2024-1-1",
    "2001-12-14t21:59:43.10-05:00",
    "2001-12-14 21:59:43.10 -5",
    "off",
    "Off",
    "OFF",
    "on",
    "yes",
    "no",
    "y",
    "n",
    "Y",
    "true",
    "False",
    "null",
    "Null",
    "~",
    ".inf",
    "-.inf",
    ".nan",
    ".NaN",
    "<<",
    "=",
    "a, b",
    "{a}",
    "[a]",
    "a: b",
    "a:b",
    "a #b",
    "a#b",
    "#a",
    "-a",
    "- a",
    "--- a",
    "...",
    "... a",
    "?a",
    "? a",
    "!a",
    "&a",
    "*a",
    "|a",
    ">a",
    "'a",
    '"a',
    "a'b",
    'a"b',
    "%a",
    "@a",
    "`a",
    " a",
    "a ",
    "a  b",
    "a\tb",
    "a\nb",
    "a\rb",
    "a\x85b",
    "a\u2028b",
    "a\u2029b",
    "\ufeffa",
    "a\xa0b",
    "a\\b",
    "a\x7fb",
    "a\x01b",
    "日本語/ファイル.txt",
    "emoji 😀.png",
    "a\U000e0001b",
    "",
]


def entry(path: str, oid: str = OID1, size: int = 1, exec: bool = False) -> Entry:
    return Entry(path, oid, size, exec)


def canonical(*lines: str, kind: str = "dir", size: int | None = None) -> bytes:
    """A canonical manifest holding the given entry lines, size and files computed."""
    sizes = [int(re.search(r"size: (\d+)", line).group(1)) for line in lines]  # type: ignore[union-attr]
    head = f"{m.HEADER}gitstore: 1\nkind: {kind}\nsize: {sum(sizes) if size is None else size}\n"
    body = "entries:\n" + "".join(line + "\n" for line in lines) if lines else "entries: []\n"
    return (head + f"files: {len(lines)}\n" + body).encode()


def parse_both(data: bytes) -> m.Manifest:
    """Parse with the fast reader and the generic one; they must agree."""
    fast = m.parse(data, SOURCE)
    assert m._parse_generic(data, SOURCE) == fast
    return fast


def error_of(data: bytes, *, generic: bool = False) -> str:
    with pytest.raises(ManifestError) as info:
        (m._parse_generic if generic else m.parse)(data, SOURCE)
    message = str(info.value)
    assert message.startswith(SOURCE)
    return message


# --- canonical bytes and round trips --------------------------------------------


def test_design_example_bytes_are_canonical() -> None:
    manifest = m.build(
        "dir", [entry("cats/002.jpg", OID2, 4096, True), entry("cats/001.jpg", OID1, 4096)]
    )
    assert m.dump(manifest) == DESIGN_EXAMPLE
    assert manifest.size == 8192 and manifest.files == 2
    assert [e.path for e in manifest.entries] == ["cats/001.jpg", "cats/002.jpg"]


def test_design_example_parses_on_the_fast_path() -> None:
    fast = m._parse_fast(DESIGN_EXAMPLE.decode())
    assert fast is not None
    assert fast == parse_both(DESIGN_EXAMPLE)
    assert fast.by_path()["cats/002.jpg"] == Entry("cats/002.jpg", OID2, 4096, True)


def test_empty_dir_and_file_kind_round_trip() -> None:
    empty = m.build("dir", [])
    assert m.dump(empty).endswith(b"size: 0\nfiles: 0\nentries: []\n")
    assert parse_both(m.dump(empty)) == empty
    single = m.build("file", [entry("model.pt", OID2, 10, True)])
    assert parse_both(m.dump(single)) == single
    assert m.dump(parse_both(m.dump(single))) == m.dump(single)


def test_sorting_is_by_codepoint() -> None:
    paths = ["b", "a/b", "a-b", "A", "é", "a b", "a"]
    manifest = m.build("dir", [entry(p) for p in paths if p != "a"])
    assert [e.path for e in manifest.entries] == sorted(p for p in paths if p != "a")
    assert parse_both(m.dump(manifest)) == manifest


def test_unsorted_input_is_sorted_by_both_readers() -> None:
    data = canonical(
        f"- {{path: b, blake3: {OID1}, size: 1}}", f"- {{path: a, blake3: {OID2}, size: 2}}"
    )
    manifest = parse_both(data)
    assert [e.path for e in manifest.entries] == ["a", "b"]


def test_dump_refuses_unsorted_manifest() -> None:
    with pytest.raises(ValueError):
        m.dump(m.Manifest("dir", (entry("b"), entry("a"))))


def test_generic_reader_accepts_hand_written_yaml() -> None:
    data = (
        "gitstore: 1   # hand written\r\n"
        "kind: dir\r\n"
        "entries:\r\n"
        f"  - path: 'x y'\r\n    blake3: \"{OID1}\"\r\n    size: 3\r\n    exec: false\r\n"
    ).encode()
    manifest = m.parse(data, SOURCE)
    assert m._parse_fast(data.decode()) is None
    assert manifest.entries == (Entry("x y", OID1, 3, False),)


def test_manifest_paths() -> None:
    assert m.manifest_path("data/images") == "data/images.gitstore"
    assert m.manifest_path("data/images/") == "data/images.gitstore"
    assert m.manifest_path("models/model.pt") == "models/model.pt.gitstore"
    assert m.tracked_path("data/images.gitstore") == "data/images"
    for bad in ("data/images", ".gitstore", "x.gitstore.bak"):
        with pytest.raises(ValueError):
            m.tracked_path(bad)


# --- unknown keys ---------------------------------------------------------------------


def test_unknown_keys_are_preserved_after_known_ones_in_sorted_order() -> None:
    data = (
        canonical(f"- {{path: a, blake3: {OID1}, size: 1, exec: true, zeta: 1, alpha: [x, 2]}}")
        + b"zz: {b: 1, a: yes}\nmeta: hello world\n"
    )
    manifest = parse_both(data)
    assert manifest.entries[0].extra == (("alpha", ["x", 2]), ("zeta", 1))
    assert manifest.extra == (("meta", "hello world"), ("zz", {"a": True, "b": 1}))
    out = m.dump(manifest).decode()
    assert "size: 1, exec: true, alpha: [x, 2], zeta: 1}\n" in out
    assert out.endswith(
        "entries:\n"
        + out.split("entries:\n")[1].split("\n")[0]
        + "\nmeta: hello world\nzz: {a: true, b: 1}\n"
    )
    again = m.dump(parse_both(out.encode()))
    assert again == out.encode()
    assert m._parse_fast(out) == manifest  # canonical unknown keys stay on the fast path


def test_unknown_values_of_every_type_round_trip() -> None:
    values = {
        "none": None,
        "bools": [True, False],
        "ints": [0, -5, 10**30],
        "floats": [1.5, -0.0, 1e16, 1e-5, float("inf"), float("-inf")],
        "strings": ["", "1e3", "off", "a: b", "x\ny", "日本"],
        "nested": {"k": [{"deep": [[]]}], "1e3": {}},
        "date": datetime.date(2024, 1, 2),
        "naive": datetime.datetime(2024, 1, 2, 3, 4, 5, 600000),
        "aware": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
    }
    manifest = m.build("dir", [Entry("a", OID1, 1, extra=tuple(values.items()))], values.items())
    data = m.dump(manifest)
    assert parse_both(data) == manifest
    for loader in LOADERS:
        assert yaml.load(data, Loader=loader)["entries"][0]["nested"] == values["nested"]


def test_build_rejects_bad_unknown_keys() -> None:
    with pytest.raises(ManifestError, match="not an extra key"):
        m.build("dir", [], [("kind", 1)])
    with pytest.raises(ManifestError, match="not an extra key"):
        m.build("dir", [Entry("a", OID1, 1, extra=(("blake3", 1),))])
    with pytest.raises(ManifestError, match="not a string"):
        m.build("dir", [], [(1, 1)])  # type: ignore[list-item]


# --- validation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../x", "contains '..'"),
        ("a/../x", "contains '..'"),
        ("a/..", "contains '..'"),
        ("/abs", "is absolute"),
        ("C:/x", "drive prefix"),
        ("c:x", "drive prefix"),
        ("a\\b", "backslash"),
        ("a\x00b", "NUL"),
        ("a//b", "empty segment"),
        ("a/", "ends with '/'"),
        ("./a", "'.' segment"),
        ("a/./b", "'.' segment"),
        (".git/config", "'.git' segment"),
        ("x/.GIT/hooks/pre-commit", "'.git' segment"),
        ("x/.git./a", "'.git' segment"),
        ("x/.git ./a", "'.git' segment"),
        ("GIT~1/config", "'.git' segment"),
        ("", "is empty"),
        ("bad\udcff", "UTF-8"),
    ],
)
def test_invalid_paths_are_rejected_with_line(path: str, reason: str) -> None:
    assert reason in (m.validate_entry_path(path) or "")
    line = f"- {{path: {m._quote(path)}, blake3: {OID1}, size: 1}}"
    ok = f"- {{path: ok, blake3: {OID1}, size: 1}}"
    data = canonical(ok, line) if path > "ok" else canonical(line, ok)
    row = 8 if path > "ok" else 7
    for generic in (False, True):
        message = error_of(data, generic=generic)
        if reason == "UTF-8":  # libyaml refuses a surrogate escape itself
            assert "line 7" in message or "line 8" in message
            continue
        assert message == f"{SOURCE} line {row}: entry path {path!r} {m.validate_entry_path(path)}"
    with pytest.raises(ManifestError, match=re.escape(reason)):
        m.build("dir", [entry(path)])


def test_valid_unusual_paths_pass() -> None:
    for path in [
        ".gitignore",
        ".github/x",
        "a/.gitkeep",
        "git",
        "...",
        "..a",
        "a..",
        "a/b c/-d",
        "ab:y",
    ]:
        assert m.validate_entry_path(path) is None, path


def test_duplicate_paths_are_rejected() -> None:
    a = f"- {{path: a, blake3: {OID1}, size: 1}}"
    message = error_of(canonical(a, f"- {{path: b, blake3: {OID1}, size: 1}}", a))
    assert message == f"{SOURCE} line 9: entry path 'a' is listed twice"
    assert (
        error_of(canonical(a, a), generic=True)
        == f"{SOURCE} line 8: entry path 'a' is listed twice"
    )


def test_file_that_is_also_a_folder_is_rejected() -> None:
    data = canonical(
        f"- {{path: a, blake3: {OID1}, size: 1}}",
        f"- {{path: a-b, blake3: {OID1}, size: 1}}",
        f"- {{path: a/b/c, blake3: {OID1}, size: 1}}",
    )
    for generic in (False, True):
        message = error_of(data, generic=generic)
        assert (
            message
            == f"{SOURCE} line 7: entry path 'a' is both a file and a folder of other entries"
        )
    with pytest.raises(ManifestError, match="both a file and a folder"):
        m.build("dir", [entry("x/y"), entry("x/y/z/w")])


def test_kind_file_needs_exactly_one_entry_without_slash() -> None:
    one = f"- {{path: a, blake3: {OID1}, size: 1}}"
    two = f"- {{path: b, blake3: {OID1}, size: 1}}"
    assert "exactly one entry" in error_of(canonical(one, two, kind="file"))
    assert "exactly one entry" in error_of(canonical(kind="file"))
    assert "exactly one entry" in error_of(
        canonical(f"- {{path: a/b, blake3: {OID1}, size: 1}}", kind="file")
    )


def test_totals_must_match() -> None:
    data = canonical(f"- {{path: a, blake3: {OID1}, size: 1}}", size=5)
    settle = "(if a merge left it so, `gitstore resolve data/images --ours` recomputes the totals)"
    assert error_of(data) == f"{SOURCE} line 4: size is 5 but the entries add up to 1 {settle}"
    data = data.replace(b"files: 1", b"files: 3").replace(b"size: 5", b"size: 1")
    assert error_of(data) == f"{SOURCE} line 5: files is 3 but there are 1 entries {settle}"
    assert error_of(data, generic=True) == error_of(data)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "gitstore: 2\nkind: dir\nentries: []\n",
            "line 1: uses manifest version 2; upgrade gitstore",
        ),
        ("gitstore: '1'\nkind: dir\nentries: []\n", "line 1: gitstore: must be a version number"),
        ("gitstore: true\nkind: dir\nentries: []\n", "version number"),
        ("kind: dir\nentries: []\n", "not a gitstore manifest"),
        ("- 1\n", "not a gitstore manifest"),
        ("", "not a gitstore manifest"),
        ("gitstore: 1\nkind: folder\nentries: []\n", "line 2: kind must be 'file' or 'dir'"),
        ("gitstore: 1\nkind: dir\n", "has no 'entries:' list"),
        ("gitstore: 1\nkind: dir\nentries: {}\n", "line 3: entries must be a list"),
        ("gitstore: 1\nkind: dir\nentries:\n- 5\n", "line 4: entry must be a mapping"),
        ("gitstore: 1\nkind: dir\nentries:\n- {blake3: x}\n", "line 4: entry has no path"),
        ("gitstore: 1\nkind: dir\nentries:\n- {path: 5}\n", "line 4: entry path must be a string"),
        ("gitstore: 1\nkind: dir\nentries:\n- {path: a, size: 1}\n", "has no blake3"),
        (f"gitstore: 1\nkind: dir\nentries:\n- {{path: a, blake3: {OID1}}}\n", "has no size"),
        (
            f"gitstore: 1\nkind: dir\nentries:\n- {{path: a, blake3: {OID1.upper()}, size: 1}}\n",
            "invalid blake3",
        ),
        (
            f"gitstore: 1\nkind: dir\nentries:\n- {{path: a, blake3: {DIGITS_OID}, size: 1}}\n",
            "invalid blake3",
        ),
        (
            f"gitstore: 1\nkind: dir\nentries:\n- {{path: a, blake3: {OID1[:-1]}, size: 1}}\n",
            "invalid blake3",
        ),
        (
            f"gitstore: 1\nkind: dir\nentries:\n- {{path: a, blake3: {OID1}, size: -1}}\n",
            "non-negative",
        ),
        (
            f"gitstore: 1\nkind: dir\nentries:\n- {{path: a, blake3: {OID1}, size: true}}\n",
            "non-negative",
        ),
        (
            f"gitstore: 1\nkind: dir\nentries:\n- {{path: a, blake3: {OID1}, size: '1'}}\n",
            "non-negative",
        ),
        (
            f"gitstore: 1\nkind: dir\nentries:\n- {{path: a, blake3: {OID1}, size: 1.0}}\n",
            "non-negative",
        ),
        (
            f"gitstore: 1\nkind: dir\nentries:\n- {{path: a, blake3: {OID1}, size: 1, exec: 1}}\n",
            "exec must be true or false",
        ),
        (
            f"gitstore: 1\nkind: dir\nentries:\n- {{path: a, blake3: {OID1}, size: 1, 3: x}}\n",
            "key 3 is not a string",
        ),
        (
            "gitstore: 1\nkind: dir\nsize: -1\nentries: []\n",
            "line 3: size must be a non-negative integer",
        ),
        (
            "gitstore: 1\nkind: dir\nfiles: x\nentries: []\n",
            "line 3: files must be a non-negative integer",
        ),
        ("gitstore: 1\nkind: dir\nentries: []\n5: x\n", "line 4: top-level key 5 is not a string"),
        ("gitstore: 1\nkind: dir\nkind: file\nentries: []\n", "line 3: has the key 'kind' twice"),
        (
            "gitstore: 1\nkind: dir\nentries:\n- {path: a, path: b}\n",
            "line 4: has the key 'path' twice",
        ),
        ("gitstore: 1\nkind: dir\nentries: []\nx: {<<: {a: 1}}\n", "line 4: uses a YAML merge key"),
        ("gitstore: 1\nkind: &k dir\nentries: []\nx: *k\n", "line 2: uses a YAML anchor or alias"),
        ("gitstore: 1\nkind: !!str dir\nentries: []\n", "line 2: uses the YAML tag"),
        ("gitstore: 1\nkind: ! dir\nentries: []\n", "uses the YAML tag"),
        ("gitstore: 1\nkind: dir\nentries: []\nx: !!binary aGk=\n", "uses the YAML tag"),
        ("gitstore: 1\nkind: dir\nentries: []\n---\ngitstore: 1\n", "more than one YAML document"),
        ("gitstore: 1\nkind: dir\nentries: [\n", "is not valid YAML"),
        ("gitstore: 1\nkind: dir\nentries: []\nx: " + "[" * 40 + "]" * 40 + "\n", "nests deeper"),
        ("gitstore: 1\nkind: dir\nentries: []\nx: 2024-02-30\n", "cannot read"),
        ("gitstore: 1\nkind: dir\nentries: []\n{[1]: 2}: 3\n", "SOURCE"),
    ],
)
def test_invalid_documents(text: str, expected: str) -> None:
    message = error_of(text.encode())
    if expected != "SOURCE":
        assert expected in message
    assert error_of(text.encode(), generic=True) == message


def test_version_error_has_a_hint() -> None:
    with pytest.raises(ManifestError) as info:
        m.parse(b"gitstore: 7\nkind: dir\nentries: []\n", SOURCE)
    assert info.value.hint is not None and "upgrade" in info.value.hint


def test_billion_laughs_is_refused_quickly() -> None:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    start = time.perf_counter()
    assert "anchor or alias" in error_of("\n".join(lines).encode())
    assert time.perf_counter() - start < 1


def test_size_cap_is_checked_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(m, "MAX_MANIFEST_BYTES", 100)
    message = error_of(DESIGN_EXAMPLE)
    assert "over the limit" in message


def test_text_must_be_utf8() -> None:
    assert (
        error_of(DESIGN_EXAMPLE + b"x: \xff\n") == f"{SOURCE} line 9: manifest is not valid UTF-8"
    )


def test_build_validates_entries() -> None:
    with pytest.raises(ManifestError, match="invalid blake3"):
        m.build("dir", [entry("a", "x")])
    with pytest.raises(ManifestError, match="non-negative"):
        m.build("dir", [entry("a", size=-1)])
    with pytest.raises(ManifestError, match="non-negative"):
        m.build("dir", [Entry("a", OID1, True)])
    with pytest.raises(ManifestError, match="kind must be"):
        m.build("folder", [])
    with pytest.raises(ManifestError, match=r"^models/x\.gitstore: entry path 'a' is listed twice"):
        m.build("dir", [entry("a"), entry("a")], source="models/x.gitstore")


# --- quoting ---------------------------------------------------------------------


@pytest.mark.parametrize("text", ADVERSARIAL)
def test_adversarial_scalars_survive_both_loaders(text: str) -> None:
    written = m._scalar(text)
    if written == text:  # plain: no YAML 1.2 core resolver may see a non-string
        assert YAML12_CORE.fullmatch(text) is None
    for loader in LOADERS:
        assert yaml.load(f"{{k: {written}, j: [{written}]}}", Loader=loader) == {
            "k": text,
            "j": [text],
        }
        assert yaml.load(f"{written}: 1\n", Loader=loader) == {text: 1}


@pytest.mark.parametrize("text", [t for t in ADVERSARIAL if m.validate_entry_path(t) is None])
def test_adversarial_paths_round_trip(text: str) -> None:
    manifest = m.build("dir", [entry(text), entry("zzz", OID2, 5, True)])
    data = m.dump(manifest)
    assert parse_both(data) == manifest
    for loader in LOADERS:
        paths = [item["path"] for item in yaml.load(data, Loader=loader)["entries"]]
        assert sorted(paths) == sorted([text, "zzz"])


@pytest.mark.parametrize("oid", [DIGITS_OID, FLOAT_OID, BINARY_OID, "0" * 64, "e" + "1" * 63, OID1])
def test_oids_that_look_like_numbers_are_quoted(oid: str) -> None:
    manifest = m.build("dir", [entry("a", oid)])
    data = m.dump(manifest)
    for loader in LOADERS:
        assert yaml.load(data, Loader=loader)["entries"][0]["blake3"] == oid
    written = m._oid_scalar(oid)
    assert (written == oid) == m._plain_ok(oid)
    if written == oid:
        assert YAML12_CORE.fullmatch(oid) is None
    assert parse_both(data) == manifest
    assert m._parse_fast(data.decode()) == manifest


def test_plain_oid_that_yaml_reads_as_a_number_is_not_misread() -> None:
    data = canonical(f"- {{path: a, blake3: {DIGITS_OID}, size: 1}}")
    assert m._parse_fast(data.decode()) is None
    assert "invalid blake3" in error_of(data)


def yaml11_tag(text: str) -> str:
    return str(yaml.resolver.Resolver().resolve(yaml.ScalarNode, text, (True, False)))


@pytest.mark.parametrize("text", ADVERSARIAL)
def test_risky_covers_pyyaml_and_yaml12_resolvers(text: str) -> None:
    if yaml11_tag(text) != "tag:yaml.org,2002:str" or YAML12_CORE.fullmatch(text):
        assert m._risky(text)


# --- fast reader declines what is not canonical -----------------------------------


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t.replace("\n", "\r\n"),
        lambda t: t.replace("size: 4096}", "size: 4096} # c", 1),
        lambda t: t.replace("{path: cats/001.jpg, blake3", "{blake3", 1).replace(
            f"{OID1}, size: 4096}}", f"{OID1}, path: cats/001.jpg, size: 4096}}"
        ),
        lambda t: t.replace("- {path: cats/001.jpg", "-  {path: cats/001.jpg", 1),
        lambda t: t.replace("cats/001.jpg", "&a cats/001.jpg", 1),
        lambda t: t.replace("cats/001.jpg", "!!str cats/001.jpg", 1),
        lambda t: t.replace("size: 4096}", "size: 04096}", 1),
        lambda t: t.replace("exec: true", "exec: false"),
        lambda t: t.replace("exec: true", "exec: True"),
        lambda t: t.replace("cats/002.jpg", "off", 1),
        lambda t: t.replace("cats/002.jpg", '"cats/00\\t2.jpg"', 1),
        lambda t: t.replace("cats/002.jpg", '"cats/\\ud800.jpg"', 1),
        lambda t: t.rstrip("\n"),
        lambda t: t + "---\n",
        lambda t: t + "# trailing comment\n",
        lambda t: t + "- {path: z, blake3: " + OID1 + ", size: 0}\n",
        lambda t: t + "kind: file\n",
        lambda t: t.replace("gitstore: 1\n", "gitstore: 1\nextra: 1\n"),
        lambda t: "\ufeff" + t,
    ],
)
def test_fast_reader_declines_or_agrees(mutate: object) -> None:
    text = mutate(DESIGN_EXAMPLE.decode())  # type: ignore[operator]
    data = text.encode()
    try:
        expected: object = m._parse_generic(data, SOURCE)
    except ManifestError as exc:
        expected = str(exc)
    try:
        fast = m._parse_fast(text)
    except m._Invalid as exc:
        fast = str(exc.to_error(SOURCE))
    assert fast is None or fast == expected
    try:
        got: object = m.parse(data, SOURCE)
    except ManifestError as exc:
        got = str(exc)
    assert got == expected


# --- cache ---------------------------------------------------------------------------


def test_parse_cached_returns_the_cached_object() -> None:
    first = m.parse_cached(DESIGN_EXAMPLE, "b1" * 20, SOURCE)
    assert m.parse_cached(b"not even yaml: [", "b1" * 20, SOURCE) is first
    assert m.parse_cached(DESIGN_EXAMPLE, b"b2" * 20, SOURCE) is not first
    with pytest.raises(ManifestError):
        m.parse_cached(b"gitstore: 9\n", "b3" * 20, SOURCE)
    with pytest.raises(ManifestError):  # failures are not cached
        m.parse_cached(b"gitstore: 9\n", "b3" * 20, SOURCE)


def test_parse_cached_is_bounded() -> None:
    for i in range(m._CACHE_SIZE + 5):
        m.parse_cached(DESIGN_EXAMPLE, f"bounded{i}", SOURCE)
    assert len(m._cache) <= m._CACHE_SIZE
    assert "bounded0" not in m._cache


# --- conflict markers ---------------------------------------------------------------


def test_conflict_markers() -> None:
    assert not m.has_conflict_markers(DESIGN_EXAMPLE)
    merged = b"gitstore: 1\n<<<<<<< HEAD\nkind: dir\n=======\nkind: file\n>>>>>>> other\n"
    assert m.has_conflict_markers(merged)
    assert m.has_conflict_markers(b"a\n>>>>>>> theirs\n")
    assert m.has_conflict_markers(b"=======\n")
    assert not m.has_conflict_markers(b"x: '<<<<<<< not at line start'\n")


# --- diff -------------------------------------------------------------------------------


def oid(n: int) -> str:
    return f"{n:064x}".replace("0", "a")


def test_diff_added_removed_modified() -> None:
    old = [entry("a", oid(1), 1), entry("b", oid(2), 2), entry("c", oid(3), 3)]
    new = [entry("a", oid(1), 1), entry("b", oid(9), 9), entry("d", oid(4), 4, True)]
    changes = md.diff_entries(old, new, prefix="data/images/")
    assert changes.added == [md.Added("data/images/d", oid(4), 4, True)]
    assert changes.removed == [md.Removed("data/images/c", oid(3), 3, False)]
    assert changes.modified == [md.Modified("data/images/b", oid(2), oid(9), 2, 9, False, False)]
    assert changes.renamed == []
    assert changes
    assert not md.diff_entries(old, {e.path: e for e in old})


def test_diff_exec_only_change_is_modified() -> None:
    changes = md.diff_entries([entry("run.sh", oid(1))], [entry("run.sh", oid(1), exec=True)])
    assert changes.modified == [md.Modified("run.sh", oid(1), oid(1), 1, 1, False, True)]
    assert not changes.added and not changes.removed and not changes.renamed


def test_diff_renames_only_when_oid_is_unique_on_each_side() -> None:
    old = [entry("old", oid(1)), entry("dup1", oid(2)), entry("dup2", oid(2)), entry("x", oid(3))]
    new = [entry("new", oid(1)), entry("moved", oid(2)), entry("y1", oid(3)), entry("y2", oid(3))]
    changes = md.diff_entries(old, new, prefix="p/")
    assert changes.renamed == [md.Renamed("p/old", "p/new", oid(1), 1, False)]
    assert [c.path for c in changes.removed] == ["p/dup1", "p/dup2", "p/x"]
    assert [c.path for c in changes.added] == ["p/moved", "p/y1", "p/y2"]


def test_diff_rename_ignores_unchanged_copies_and_needs_same_exec() -> None:
    old = [entry("keep", oid(1)), entry("a", oid(1))]
    new = [entry("keep", oid(1)), entry("b", oid(1))]
    assert md.diff_entries(old, new).renamed == [md.Renamed("a", "b", oid(1), 1, False)]
    changes = md.diff_entries([entry("a", oid(1))], [entry("b", oid(1), exec=True)])
    assert not changes.renamed and len(changes.added) == len(changes.removed) == 1


def test_diff_of_100000_entries_with_1000_changed() -> None:
    old = {f"d/{i:06d}": entry(f"d/{i:06d}", oid(i), i) for i in range(100_000)}
    new = dict(old)
    for i in range(0, 100_000, 100):
        new[f"d/{i:06d}"] = old[f"d/{i:06d}"]._replace(oid=oid(i + 10**6))
    changes = md.diff_entries(old, new, prefix="data/")
    assert len(changes.modified) == 1000
    assert changes.modified[0] == md.Modified(
        "data/d/000000", oid(0), oid(10**6), 0, 0, False, False
    )
    assert not (changes.added or changes.removed or changes.renamed)


# --- scale ----------------------------------------------------------------------------


def test_100k_entries_round_trip_on_the_fast_path() -> None:
    manifest = m.build(
        "dir", [entry(f"cats/{i:06d}.jpg", oid(i), i, i % 7 == 0) for i in range(100_000)]
    )
    start = time.perf_counter()
    data = m.dump(manifest)
    dumped = time.perf_counter() - start
    start = time.perf_counter()
    assert m.parse(data, SOURCE) == manifest
    parsed = time.perf_counter() - start
    assert dumped < 2 and parsed < 2  # generous for slow CI; benchmarks hold the real floor
