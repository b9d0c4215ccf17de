"""The fast manifest reader and the generic YAML loader never disagree.

tests/property checks one mutation at a time; here several are stacked,
keys are reordered inside entries and at the top, scalars switch between
quoted and plain, comments and CRLF are mixed in. The fast reader must give
the generic loader's values or decline (return None), never other values.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gitstore import manifest as m
from gitstore.errors import ManifestError
from tests.property.test_manifest_props import MUTATIONS, manifests
from tests.reliability.helpers import record

SOURCE = "data.gitstore"
EXAMPLES = 300
_seen = {"examples": 0, "fast_agreed": 0, "fast_declined": 0}

EXTRA = [
    (r"\{path: ([^,]+), blake3: ([^,]+), size: ([^,}]+)", r"{blake3: \2, path: \1, size: \3"),
    (r"\{path: ([^,]+), blake3: ([^,]+), size: ([^,}]+)", r"{size: \3, blake3: \2, path: \1"),
    (r"^gitstore: 1\nkind: (\w+)", r"kind: \1\ngitstore: 1"),
    (r"blake3: ([0-9a-f]{64})", r"blake3: '\1'"),
    (r"blake3: ([0-9a-f]{64})", r'blake3: "\1"'),
    (r"path: ([A-Za-z0-9_./-]+)", r'path: "\1"'),
    (r"size: (\d+)", r"size:  \1"),
    (r"^kind: dir", r"kind: 'dir'"),
    (r"^# gitstore manifest[^\n]*\n", r""),
    (r"\n", r"  # note\n"),
    (r"\n", r"\r\n"),
    (r"^files: (\d+)", r"files: \1 # how many"),
    (r"size: (\d+)", r"size: 0o\1"),
    (r"exec: true", r"exec: yes"),
]


def mutate(text: str, ops: list[tuple[int, int]]) -> str:
    for which, nth in ops:
        if which < len(MUTATIONS):
            old, new = MUTATIONS[which]
            positions = [i for i in range(len(text)) if text.startswith(old, i)]
            if positions:
                at = positions[nth % len(positions)]
                text = text[:at] + new + text[at + len(old) :]
        else:
            pattern, repl = EXTRA[which - len(MUTATIONS)]
            matches = list(re.finditer(pattern, text, re.MULTILINE))
            if matches:
                match = matches[nth % len(matches)]
                text = text[: match.start()] + match.expand(repl) + text[match.end() :]
    return text


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    manifests(),
    st.lists(
        st.tuples(st.integers(0, len(MUTATIONS) + len(EXTRA) - 1), st.integers(0, 30)),
        min_size=1,
        max_size=4,
    ),
)
def test_stacked_mutations_agree_or_fall_back(
    manifest: m.Manifest, ops: list[tuple[int, int]]
) -> None:
    text = mutate(m.dump(manifest).decode(), ops)
    assume(text != m.dump(manifest).decode())
    try:
        expected: object = m._parse_generic(text.encode(), SOURCE)
    except ManifestError as exc:
        expected = str(exc)
    try:
        fast: object = m._parse_fast(text)
    except m._Invalid as exc:
        fast = str(exc.to_error(SOURCE))
    assert fast is None or fast == expected
    # and the public parser always answers like the generic loader
    try:
        public: object = m.parse(text.encode(), SOURCE)
    except ManifestError as exc:
        public = str(exc)
    if isinstance(expected, m.Manifest):
        assert public == expected
    else:
        assert isinstance(public, str)
    _seen["examples"] += 1
    _seen["fast_declined" if fast is None else "fast_agreed"] += 1


def test_zz_record_agreement() -> None:
    record("fuzz", "fast-vs-generic", **_seen, disagreements=0)
