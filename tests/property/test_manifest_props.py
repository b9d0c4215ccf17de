"""Manifest properties: dump/parse round trip, fast reader == generic reader, no crashes."""

from __future__ import annotations

import re
import string

import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from gitstore import manifest as m
from gitstore.errors import ManifestError
from gitstore.manifest import Entry

SOURCE = "x/y.gitstore"
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
YAML12_CORE = re.compile(
    r"null|Null|NULL|~|true|True|TRUE|false|False|FALSE|[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+|"
    r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?(\.inf|\.Inf|\.INF)|\.nan|\.NaN|\.NAN|"
)

# Characters that make YAML interesting, plus any printable or not.
TRICKY = " #:-?,[]{}&*!|>'\"%@`~.0123456789eExXoObB+_=<\t\\\x85\u2028\xa0\ufeff"
segment_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(TRICKY),
        st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00\\"),
    ),
    min_size=1,
    max_size=12,
)
segments = segment_text.filter(lambda s: m.validate_entry_path(s) is None) | st.sampled_from(
    ["123", "0123", "off", "-a", "#x", "a b", "1e3", "2024-01-01", "~", "null", "12:30", "日本"]
)
paths = st.lists(segments, min_size=1, max_size=4).map("/".join)
oids = st.one_of(
    st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    st.text(alphabet="0123456789", min_size=64, max_size=64),
    st.builds(
        lambda a, b: a + "e" + b, st.text("0123456789", min_size=1, max_size=62), st.just("")
    ).map(lambda s: (s + "1" * 64)[:64]),
    st.text(alphabet="01", min_size=62, max_size=62).map(lambda s: "0b" + s),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=10).filter(lambda s: "\x00" not in s and not re.search("[\ud800-\udfff]", s)),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(string.ascii_letters, max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
extra_keys = st.text(min_size=1, max_size=8).filter(
    lambda s: "\x00" not in s and not re.search("[\ud800-\udfff]", s)
)


def no_clash(entries: list[Entry]) -> bool:
    found = {e.path for e in entries}
    return len(found) == len(entries) and m._folder_clash(sorted(found)) is None


@st.composite
def manifests(draw: st.DrawFn) -> m.Manifest:
    kind = draw(st.sampled_from(["dir", "dir", "file"]))
    if kind == "file":
        path_st = segments
        count = 1
    else:
        path_st = paths
        count = draw(st.integers(0, 8))
    entries = []
    for _ in range(count):
        extra = (
            draw(st.lists(st.tuples(extra_keys, values), max_size=2))
            if draw(st.integers(0, 5)) == 0
            else []
        )
        extra = [(k, v) for k, v in dict(extra).items() if k not in m._ENTRY_KEYS]
        entries.append(
            Entry(
                draw(path_st),
                draw(oids),
                draw(st.integers(0, 2**40)),
                draw(st.booleans()),
                tuple(extra),
            )
        )
    assume(no_clash(entries))
    top = draw(st.lists(st.tuples(extra_keys, values), max_size=2)) if draw(st.booleans()) else []
    top = [(k, v) for k, v in dict(top).items() if k not in m._TOP_KEYS]
    return m.build(kind, entries, top)


@SETTINGS
@given(manifests())
def test_round_trip_and_fast_equals_generic(manifest: m.Manifest) -> None:
    data = m.dump(manifest)
    assert m._parse_generic(data, SOURCE) == manifest
    fast = m._parse_fast(data.decode())
    assert fast == manifest  # the writer's output always takes the fast path
    assert m.parse(data, SOURCE) == manifest
    assert m.dump(m.parse(data, SOURCE)) == data
    for loader in (yaml.SafeLoader, yaml.CSafeLoader):
        loaded = yaml.load(data, Loader=loader)
        assert [item["path"] for item in loaded["entries"]] == [e.path for e in manifest.entries]
        assert [item["blake3"] for item in loaded["entries"]] == [e.oid for e in manifest.entries]


@SETTINGS
@given(st.text(max_size=20))
@example("1e3")
@example("0b10")
@example("12:30:00")
@example("2001-12-14 21:59:43.10 -5")
def test_plain_scalars_are_strings_in_yaml11_and_yaml12(text: str) -> None:
    written = m._scalar(text) if not re.search("[\ud800-\udfff]", text) else None
    assume(written is not None and "\x00" not in text)
    if written == text:
        assert YAML12_CORE.fullmatch(text) is None
        tag = yaml.resolver.Resolver().resolve(yaml.ScalarNode, text, (True, False))
        assert tag == "tag:yaml.org,2002:str"
    for loader in (yaml.SafeLoader, yaml.CSafeLoader):
        assert yaml.load(f"- {{k: {written}}}\n- {written}\n", Loader=loader) == [{"k": text}, text]


@SETTINGS
@given(
    st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
    | st.text("0123456789e", min_size=64, max_size=64)
)
def test_oid_quoting_matches_plain_rule(oid: str) -> None:
    assert (m._oid_scalar(oid) == oid) == m._plain_ok(oid)


@SETTINGS
@given(st.text(alphabet="0123456789_.+-:~<= \tabcdefilnorstuxyzABCDEFILNORSTUXYZ", max_size=12))
def test_risky_covers_every_resolver(text: str) -> None:
    tag = yaml.resolver.Resolver().resolve(yaml.ScalarNode, text, (True, False))
    if tag != "tag:yaml.org,2002:str" or YAML12_CORE.fullmatch(text):
        assert m._risky(text)


@SETTINGS
@given(st.text(max_size=12))
def test_risky_needs_only_risky_chars(text: str) -> None:
    if m._RISKY_RE.fullmatch(text):
        assert not text.strip(m._RISKY_CHARS)


MUTATIONS = [
    (" ", "  "),
    (", ", ","),
    ("\n", "\r\n"),
    ("{", "{ "),
    ("}", " }"),
    ("size: ", "size: 0"),
    ("size: ", "size: +"),
    ('"', "'"),
    ("true", "True"),
    ("- {", "-  {"),
    ("\n", "\n\n"),
    ("\n", " # c\n"),
    ("path", "Path"),
    ("blake3: ", "blake3: !!str "),
    ("\\", "\\\\"),
    ("\\u", "\\x"),
    ("entries:\n", "entries:\n- {path: zz, blake3: " + "a" * 64 + ", size: 0}\n"),
]


def mutate(text: str, mutation: tuple[str, str], nth: int) -> str | None:
    """``text`` with the ``nth`` (modulo) occurrence of ``mutation[0]`` replaced; None
    when it has none."""
    old, new = mutation
    positions = [i for i in range(len(text)) if text.startswith(old, i)]
    if not positions:
        return None
    at = positions[nth % len(positions)]
    return text[:at] + new + text[at + len(old) :]


@SETTINGS
@given(manifests(), st.sampled_from(MUTATIONS), st.integers(0, 50))
def test_fast_reader_declines_or_agrees_on_near_canonical_text(
    manifest: m.Manifest, mutation: tuple[str, str], nth: int
) -> None:
    mutated = mutate(m.dump(manifest).decode(), mutation, nth)
    assume(mutated is not None)
    assert mutated is not None
    try:
        expected: object = m._parse_generic(mutated.encode(), SOURCE)
    except ManifestError as exc:
        expected = str(exc)
    try:
        fast: object = m._parse_fast(mutated)
    except m._Invalid as exc:
        fast = str(exc.to_error(SOURCE))
    assert fast is None or fast == expected


@SETTINGS
@given(
    st.lists(
        st.text(max_size=6)
        | st.sampled_from(["..", ".", "", ".git", ".GIT.", "C:", "a\\b", "\x00"]),
        min_size=1,
        max_size=4,
    )
)
def test_invalid_paths_always_raise_manifest_error(parts: list[str]) -> None:
    path = "/".join(parts)
    assume(m.validate_entry_path(path) is not None)
    try:
        m.build("dir", [Entry(path, "a" * 64, 1)])
    except ManifestError:
        pass
    else:
        raise AssertionError(f"build accepted {path!r}")
    if re.search("[\ud800-\udfff]", path):
        return
    line = f"- {{path: {m._quote(path)}, blake3: {'a' * 64}, size: 1}}\n"
    data = f"{m.HEADER}gitstore: 1\nkind: dir\nsize: 1\nfiles: 1\nentries:\n{line}".encode()
    for reader in (m.parse, m._parse_generic):
        try:
            reader(data, SOURCE)
        except ManifestError as exc:
            assert str(exc).startswith(SOURCE)
        else:
            raise AssertionError(f"parse accepted {path!r}")


@SETTINGS
@given(
    st.binary(max_size=200)
    | st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass"))
)
def test_garbage_only_ever_raises_manifest_error(data: bytes) -> None:
    for reader in (m.parse, m._parse_generic):
        try:
            reader(data, SOURCE)
        except ManifestError:
            pass


# file names as a folder scan meets them: no '/', no NUL, never empty, '.' or '..'
# only as whole names; ASCII-heavy so that the joined fast path is taken often
name_text = st.text(
    alphabet=st.one_of(
        st.sampled_from("abcgitGITı.:\\ \n~1-_"),
        st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
    ),
    min_size=1,
    max_size=8,
)
real_paths = st.lists(name_text, min_size=1, max_size=4).map("/".join)


@SETTINGS
@given(st.lists(real_paths, max_size=30))
@example(["a/b", "c/.git"])
@example(["a", ".hidden"])
@example(["a", "x\n.git"])
@example(["d/GIT~1/x"])
@example(["c:/x"])
def test_first_invalid_path_agrees_with_validate_entry_path(paths: list[str]) -> None:
    expected = next(
        ((p, why) for p in paths if (why := m.validate_entry_path(p)) is not None), None
    )
    assert m.first_invalid_path(paths) == expected
    assert m.first_invalid_path(iter(paths)) == expected


def _generic_forms(manifest: m.Manifest) -> list[bytes]:
    """The manifest written by a generic YAML writer in several styles: block, flow,
    every scalar double-quoted, and folded at a narrow width (where a long quoted
    scalar continues on the next line after a backslash)."""
    value = {
        "gitstore": 1,
        "kind": manifest.kind,
        "size": manifest.size,
        "files": len(manifest.entries),
        "entries": [{"path": e.path, "blake3": e.oid, "size": e.size} for e in manifest.entries],
    }
    styles: list[dict[str, object]] = [
        {},
        {"default_flow_style": True},
        {"default_style": '"'},
        {"default_style": '"', "width": 20},
        {"default_style": "'", "width": 20},
    ]
    forms = [yaml.safe_dump(value, allow_unicode=True, **style).encode() for style in styles]
    # a double-quoted oid spelled with an escape, or continued on the next line
    # after a backslash: the only ways YAML has to write one other than literally
    block = forms[0].decode()
    for e in manifest.entries:
        escaped = f'"\\x{ord(e.oid[0]):02x}{e.oid[1:]}"'
        continued = f'"{e.oid[:30]}\\\n    {e.oid[30:]}"'
        for spelling in (escaped, continued):
            found = re.search(f"blake3: '?{e.oid}'?", block)
            assert found is not None
            spelt = f"{block[: found.start()]}blake3: {spelling}{block[found.end() :]}"
            assert spelt != block and yaml.safe_load(spelt) == yaml.safe_load(block)
            forms.append(spelt.encode())
    return forms


@SETTINGS
@given(st.lists(manifests(), min_size=1, max_size=4), st.sampled_from(MUTATIONS), st.integers())
def test_oid_union_keeps_whatever_a_manifest_names(
    versions: list[m.Manifest], mutation: tuple[str, str], nth: int
) -> None:
    """gc's line-by-line union of many manifests names every oid that reading each
    one names: canonical, mutated (still loading or not) and generically written."""
    from gitstore.gc import OidUnion, oids_in_manifest

    blobs = []
    for manifest in versions:
        text = m.dump(manifest).decode()
        if (mutated := mutate(text, mutation, nth)) is not None:
            blobs.append(mutated.encode())
        blobs.append(text.encode())
        blobs.extend(_generic_forms(manifest))
    union = OidUnion()
    expected: set[str] = set()
    for data in blobs:
        alone = OidUnion()
        alone.add(data, SOURCE)
        named = oids_in_manifest(data, SOURCE)
        assert named <= alone.oids, data
        union.add(data, SOURCE)
        expected |= named
    assert expected <= union.oids
    for manifest in versions:
        assert {e.oid for e in manifest.entries} <= union.oids


@SETTINGS
@given(st.lists(manifests(), min_size=1, max_size=4))
def test_new_entries_over_versions_give_every_entry(versions: list[m.Manifest]) -> None:
    """Reading each version of a manifest by its new lines gathers exactly the
    entries that parsing every version in full does (push --all's walk)."""
    seen: set[str] = set()
    gathered: set[str] = set()
    expected: set[str] = set()
    for manifest in versions:
        added = m.new_entries(m.dump(manifest), seen)
        if manifest.kind != "dir" or manifest.extra:  # declined: parsed in full instead
            assert added is None
            continue
        assert added is not None
        gathered.update(map(m._entry_line, added))
        expected.update(map(m._entry_line, manifest.entries))
    assert gathered == expected


@SETTINGS
@given(manifests(), st.sampled_from(MUTATIONS), st.integers(0, 50))
def test_new_entries_declines_or_agrees_on_near_canonical_text(
    manifest: m.Manifest, mutation: tuple[str, str], nth: int
) -> None:
    mutated = mutate(m.dump(manifest).decode(), mutation, nth)
    assume(mutated is not None)
    assert mutated is not None
    added = m.new_entries(mutated.encode(), set())
    if added is None:
        return
    try:
        parsed = m._parse_generic(mutated.encode(), SOURCE)
    except ManifestError:
        return  # a whole-manifest rule (totals, order): new_entries reads lines only
    assert parsed.kind == "dir"
    assert added == list(parsed.entries)


@SETTINGS
@given(st.lists(manifests(), min_size=1, max_size=4), st.sampled_from(MUTATIONS), st.integers())
def test_version_reader_equals_parse(
    versions: list[m.Manifest], mutation: tuple[str, str], nth: int
) -> None:
    """publish's reader of many versions gives what parse gives, errors included, on
    canonical versions and on near-canonical ones read after them."""
    reader = m.VersionReader()
    for manifest in versions:
        text = m.dump(manifest).decode()
        blobs = [text.encode()]
        if (mutated := mutate(text, mutation, nth)) is not None:
            blobs.append(mutated.encode())
        # the same paths again with other sizes (read by the totals alone), then
        # with a stated total that is wrong
        grown = [Entry(e.path, e.oid, e.size + 1, e.exec, e.extra) for e in manifest.entries]
        again = m.dump(m.build(manifest.kind, grown, list(manifest.extra))).decode()
        blobs.append(again.encode())
        blobs.append(again.replace("\nsize: ", "\nsize: 1", 1).encode())
        blobs.append(again.replace("\nfiles: ", "\nfiles: 1", 1).encode())
        entry_lines = [line for line in text.splitlines(keepends=True) if line.startswith("- {")]
        if entry_lines:  # a line listed twice, and the lines in reverse order
            blobs.append((text + entry_lines[nth % len(entry_lines)]).encode())
            head = text[: text.index(entry_lines[0])]
            blobs.append((head + "".join(reversed(entry_lines))).encode())
        for data in blobs:
            try:
                expected: object = m.parse(data, SOURCE)
            except ManifestError as exc:
                expected = str(exc)
            try:
                got: object = reader.parse(data, SOURCE)
            except ManifestError as exc:
                got = str(exc)
            assert got == expected
