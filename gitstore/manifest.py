"""Manifests: the small YAML files in git that name the objects of a tracked path.

``data/images.gitstore`` tracks ``data/images``; it lists every file below the
tracked path with its BLAKE3 oid, size and executable bit, sorted by path, one
entry a line (the format is in DESIGN.md, "Manifest format (version 1)"). This
module parses, validates, writes and diffs manifests and never touches the disk.
:func:`dump` writes canonical bytes that load to the same values under YAML 1.1
(PyYAML) and the YAML 1.2 core schema. :func:`parse` reads that canonical form
with a line-based reader and hands anything else to libyaml, through a loader
that refuses duplicate keys, anchors, aliases, tags and deep nesting; both
readers validate the same way and name the manifest and the line in every error.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import operator
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from gitstore.errors import ManifestError
from gitstore.layout import is_oid

if TYPE_CHECKING:  # yaml is imported on first use: the canonical form never needs it
    import yaml

__all__ = [
    "HEADER",
    "MAX_MANIFEST_BYTES",
    "SUFFIX",
    "Entry",
    "VersionReader",
    "Manifest",
    "build",
    "dump",
    "first_invalid_path",
    "has_conflict_markers",
    "manifest_path",
    "new_entries",
    "parse",
    "parse_cached",
    "tracked_path",
    "validate_entry_path",
]

SUFFIX = ".gitstore"
MAX_MANIFEST_BYTES = 256 * 1024 * 1024
HEADER = (
    "# gitstore manifest: run `gitstore checkout` to materialise, `gitstore status` to compare\n"
)
VERSION = 1
KINDS = ("file", "dir")
MAX_DEPTH = 32
_TOP_KEYS = frozenset({"gitstore", "kind", "size", "files", "entries"})
_ENTRY_KEYS = frozenset({"path", "blake3", "size", "exec"})
_PATH = operator.attrgetter("path")
_SIZE = operator.attrgetter("size")
_HEAD_OF = operator.itemgetter(0)
_FIRST_ENTRY_LINE = 7  # canonical: header, gitstore, kind, size, files, entries, then entries


class Entry(NamedTuple):
    """One file below a tracked path; ``extra`` holds unknown keys, sorted by key.

    A named tuple, not a dataclass: the ``dataclasses`` module and the
    classes it builds cost ~10 ms of every command's start-up (see
    docs/performance.md, item 42); a tuple is as immutable and is made in C.
    """

    path: str
    oid: str
    size: int
    exec: bool = False
    extra: tuple[tuple[str, Any], ...] = ()


class Manifest:
    """A parsed manifest: ``entries`` sorted by path, unknown top-level keys in ``extra``.

    Immutable, compared and hashed by its fields, as a frozen dataclass would
    be (a plain class: :class:`Entry` says why); weakly referable, for
    ``_read_by_lines``.
    """

    __slots__ = ("kind", "entries", "extra", "__weakref__")
    kind: str
    entries: tuple[Entry, ...]
    extra: tuple[tuple[str, Any], ...]

    def __init__(
        self, kind: str, entries: tuple[Entry, ...], extra: tuple[tuple[str, Any], ...] = ()
    ) -> None:
        _set_kind(self, kind)
        _set_entries(self, entries)
        _set_extra(self, extra)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: a Manifest is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: a Manifest is immutable")

    def __reduce__(self) -> tuple[type[Manifest], tuple[Any, ...]]:
        # pickle and copy through __init__: their default sets the slots by assignment
        return Manifest, self._fields()

    def _fields(self) -> tuple[str, tuple[Entry, ...], tuple[tuple[str, Any], ...]]:
        return self.kind, self.entries, self.extra

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Manifest:
            return NotImplemented
        return self._fields() == other._fields()  # type: ignore[attr-defined,unused-ignore]

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return f"Manifest(kind={self.kind!r}, entries={self.entries!r}, extra={self.extra!r})"

    @property
    def size(self) -> int:
        return sum(entry.size for entry in self.entries)

    @property
    def files(self) -> int:
        return len(self.entries)

    def by_path(self) -> dict[str, Entry]:
        return {entry.path: entry for entry in self.entries}


_MANIFEST_SLOTS: dict[str, Any] = dict(Manifest.__dict__)  # the slots' descriptors set them
_set_kind = _MANIFEST_SLOTS["kind"].__set__
_set_entries = _MANIFEST_SLOTS["entries"].__set__
_set_extra = _MANIFEST_SLOTS["extra"].__set__


def manifest_path(tracked: str) -> str:
    """``data/images`` (or ``data/images/``) -> ``data/images.gitstore``."""
    return tracked.rstrip("/") + SUFFIX


def overlaps(a: str, b: str) -> bool:
    """Whether repository paths ``a`` and ``b`` are the same, or one lies inside the other."""
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def nesting_error(mpaths: Iterable[str]) -> ManifestError | None:
    """The error for manifests of which one tracks a path inside another's, else None.

    ``track`` refuses to make such a pair, but a merge (or a commit made
    without the hooks) of a branch that tracked ``d/x`` with one that tracked
    the whole of ``d`` brings both: the files of ``d/x`` would be two
    manifests' at once, and a checkout of ``d`` would delete ``d/x.gitstore``.
    """
    tracked = _tracked_paths(mpaths)
    pair = _nested_pair(tracked, tracked)
    if pair is None:
        return None
    rel, outer = pair
    return ManifestError(
        f"{manifest_path(rel)} tracks {rel}, which is inside {outer}, tracked by"
        f" {manifest_path(outer)} (a merge brought both)",
        hint=f"keep one: `gitstore untrack {rel}` then `gitstore checkout {outer}`"
        f" (its merged version), or `gitstore untrack {outer}` then `gitstore"
        f" checkout {rel}`; then commit",
    )


def checkout_nesting_error(
    writing: Iterable[str], staying: Iterable[str], rev: str
) -> ManifestError | None:
    """The error for a ``checkout REV`` that would write a manifest nesting with one it leaves.

    REV's manifest of ``d/sub`` written beside the work tree's of ``d`` lands
    inside a tracked, ignored folder: the next commit records it as a file of
    ``d``. REV's of ``d`` beside the work tree's of ``d/sub`` would take
    ``d/sub``'s files as its own. Only pairs across the two sets count:
    :func:`nesting_error` answers for one set.
    """
    import shlex

    written, kept = _tracked_paths(writing), _tracked_paths(staying)
    pair = _nested_pair(written, kept) or _nested_pair(kept, written)
    if pair is None:
        return None
    rel, outer = pair  # rel inside outer; one of them REV's, the other the work tree's
    theirs, ours = (rel, outer) if rel in written else (outer, rel)
    return ManifestError(
        f"{rev}'s {manifest_path(theirs)} and the working tree's {manifest_path(ours)} would"
        f" nest ({rel} is inside {outer}); checkout {rev} refused, nothing was written",
        hint=f"`gitstore untrack {shlex.quote(ours)}` first, or `gitstore checkout"
        f" {shlex.quote(rev)} PATH` with paths that do not nest",
    )


def _tracked_paths(mpaths: Iterable[str]) -> set[str]:
    return {tracked_path(m) for m in mpaths if m.endswith(SUFFIX) and m != SUFFIX}


def _nested_pair(inner: set[str], outer: set[str]) -> tuple[str, str] | None:
    """The first (path of ``inner``, path of ``outer`` that holds it), by name."""
    for rel in sorted(inner):
        parts = rel.split("/")
        for i in range(1, len(parts)):
            above = "/".join(parts[:i])
            if above in outer:
                return rel, above
    return None


def tracked_path(manifest_path: str) -> str:
    """``data/images.gitstore`` -> ``data/images``; ValueError without the suffix."""
    if not manifest_path.endswith(SUFFIX) or len(manifest_path) == len(SUFFIX):
        raise ValueError(f"not a manifest path: {manifest_path!r}")
    return manifest_path[: -len(SUFFIX)]


# --- paths -------------------------------------------------------------------


class _LazyPattern:
    """A regular expression compiled when first used.

    Compiling this module's expressions cost ~5 ms of every command's
    start-up, while most commands (a hook with nothing to parse, a status
    answered by the clean record) use none of them. After the first use the
    compiled methods sit in the instance: no cost per call.
    """

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern = pattern
        self.flags = flags

    def __getattr__(self, name: str) -> Any:
        compiled = re.compile(self.pattern, self.flags)
        for method in ("match", "fullmatch", "search", "findall", "finditer", "sub", "split"):
            self.__dict__[method] = getattr(compiled, method)
        return getattr(compiled, name)


_GIT_SEGMENT_RE = _LazyPattern(r"\.git[. ]*|git~1", re.IGNORECASE)
_DRIVE_RE = _LazyPattern(r"[A-Za-z]:")
_SURROGATE_RE = _LazyPattern("[\ud800-\udfff]")
_GIT_SLASHED_RE = _LazyPattern(r"/(?:\.git[. ]*|git~1)/", re.IGNORECASE)
_DRIVE_JOINED_RE = _LazyPattern(r"(?:^|\x00)[A-Za-z]:")


def printable(text: str) -> str:
    """A message line with its control characters escaped (``\\r``, ``\\x1b``).

    Messages name files, and a file name may hold a carriage return or an
    escape sequence that would erase or recolour the terminal's line.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def one_line(path: str) -> str:
    """``path`` as text output prints it: as it is, or quoted with escapes (``"a\\nb"``), as
    git quotes a name with a control character, so that no name can forge a line of output."""
    if path.isprintable():
        return path
    quoted = path.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{printable(quoted)}"'


def validate_entry_path(path: str) -> str | None:
    """None when ``path`` may appear in a manifest, else why not (``"contains '..'"``)."""
    if not isinstance(path, str):
        return "is not a string"
    if path == "":
        return "is empty"
    if "\x00" in path:
        return "contains a NUL byte"
    if "\\" in path:
        return "contains a backslash"
    if _SURROGATE_RE.search(path):
        return "is not valid UTF-8"
    if path.startswith("/"):
        return "is absolute"
    if _DRIVE_RE.match(path):
        return f"starts with a drive prefix ('{path[:2]}', as Windows names a drive)"
    if path.endswith("/"):
        return "ends with '/'"
    for segment in path.split("/"):
        if segment == "":
            return "has an empty segment"
        if segment == ".":
            return "has a '.' segment"
        if segment == "..":
            return "contains '..'"
        if _GIT_SEGMENT_RE.fullmatch(segment):
            return "has a '.git' segment"
    return None


# git's and gitstore's own files at the top of a work tree: never a tracked path
OWN_FILES = (".gitignore", ".gitattributes", ".gitmodules", ".gitstore")


def tracked_path_problem(rel: str) -> str | None:
    """None when a manifest may describe the tracked path ``rel``, else why not.

    ``track`` refuses such paths; a manifest found in the work tree or at a
    revision (a hostile branch, a hand-made file) is held to the same rule
    before anything is written: ``.git.gitstore`` must never replace ``.git``.
    """
    problem = validate_entry_path(rel)
    if problem is not None:
        return f"describes the path {rel!r}, which {problem}; gitstore never writes there"
    if is_own_file(rel):
        return (
            f"describes {rel}, git's or gitstore's own configuration; gitstore never writes there"
        )
    return None


def is_own_file(rel: str) -> bool:
    """Whether ``rel`` is git's or gitstore's configuration: ``.gitstore/``, ``.gitmodules``
    at the top, and a ``.gitignore`` or ``.gitattributes`` in any folder (git reads them all)."""
    name = rel.rsplit("/", 1)[-1]
    return (
        rel in OWN_FILES or rel.startswith(".gitstore/") or name in (".gitignore", ".gitattributes")
    )


# what validate_entry_path can refuse in a path made of real file names (no
# NUL, no empty segment): keep in step with it
_MAYBE_INVALID_RE = _LazyPattern(
    r"\\|^[A-Za-z]:|[\ud800-\udfff]|^\.\.?(?:/|$)|/\.\.?(?:/|$)|git", re.I
)


def first_invalid_path(paths: Iterable[str]) -> tuple[str, str] | None:
    """(path, why) for the first of ``paths`` that validate_entry_path refuses, else None.

    For the relative paths of a folder's files, before they are hashed: one
    search each, and the full check only for the few that might fail it.
    Before that, plain ASCII paths are joined and searched for what the
    search looks for with ``in`` (2 ms for 20,000 paths, against 20 ms of
    regular-expression searches): most folders hold nothing of the kind.
    """
    paths = list(paths)
    joined = "\n".join(paths)
    if (
        joined.isascii()
        and joined.count("\n") == len(paths) - 1  # no path holds a line break
        and "\\" not in joined
        and ":" not in joined
        and "/." not in joined
        and "\n." not in joined
        and not joined.startswith(".")
        and "git" not in joined.lower()
    ):
        return None
    maybe = _MAYBE_INVALID_RE.search
    for path in paths:
        if maybe(path) is not None:
            problem = validate_entry_path(path)
            if problem is not None:
                return path, problem
    return None


# --- validation shared by both readers and build() ----------------------------


# git's octopus merge (which ignores merge drivers) or a clone without the
# driver can leave totals that are neither side's
_TOTALS_HINT = "if a merge left it so, `gitstore resolve PATH --ours` recomputes the totals"


class NewerVersionError(ManifestError):
    """A manifest of a version this gitstore does not know: read by none, rewritten by none.

    ``track`` rewrites a manifest it cannot read (a mangled one is mended
    from the files on disk), but not this one: a newer gitstore wrote it, and
    a version-1 rewrite would drop whatever that version records.
    """


class _Invalid(Exception):
    """A validation failure at ``line`` (1-based, or None), before the source is known."""

    def __init__(
        self, line: int | None, message: str, hint: str | None = None, *, newer: bool = False
    ) -> None:
        super().__init__(message)
        self.line = line
        self.message = message
        self.hint = hint
        self.newer = newer

    def to_error(self, source: str) -> ManifestError:
        where = source if self.line is None else f"{source} line {self.line}"
        if self.newer:
            return NewerVersionError(f"{where}: {self.message}", hint=self.hint)
        if self.hint is _TOTALS_HINT:  # said in the message: hooks and status show only that
            path = source.split(" ")[0]
            path = tracked_path(path) if path.endswith(SUFFIX) else "PATH"
            return ManifestError(f"{where}: {self.message} ({_TOTALS_HINT.replace('PATH', path)})")
        return ManifestError(f"{where}: {self.message}", hint=self.hint)


def _entry_problem(entry: Entry) -> str | None:
    if not isinstance(entry.path, str):
        return f"entry path must be a string, not {entry.path!r}"
    if not is_oid(entry.oid):
        return (
            f"entry {entry.path!r} has an invalid blake3 oid {entry.oid!r}"
            " (expected 64 lower-case hex characters)"
        )
    if type(entry.size) is not int or entry.size < 0:
        return f"entry {entry.path!r} size must be a non-negative integer, not {entry.size!r}"
    if type(entry.exec) is not bool:
        return f"entry {entry.path!r} exec must be true or false, not {entry.exec!r}"
    return None


def _finish(
    kind: str,
    entries: list[Entry],
    lines: Sequence[int] | None,
    extra: tuple[tuple[str, Any], ...],
    size: tuple[int, int | None] | None = None,
    files: tuple[int, int | None] | None = None,
) -> Manifest:
    """Check paths, duplicates, prefixes, kind and totals, then sort by path.

    ``lines[i]`` is the line of ``entries[i]`` (None when there is no text);
    ``size`` and ``files`` are the stated value and its line, when stated.
    """
    paths = list(map(_PATH, entries))
    if paths and _suspect(paths):
        for index, path in enumerate(paths):
            reason = validate_entry_path(path)
            if reason is not None:
                raise _Invalid(_at(lines, index), f"entry path {path!r} {reason}")
    if any(map(operator.ge, paths, itertools.islice(paths, 1, None))):
        order = sorted(range(len(entries)), key=paths.__getitem__)
        for before, after in zip(order, order[1:], strict=False):
            if paths[before] == paths[after]:
                where = _at(lines, max(before, after))
                raise _Invalid(where, f"entry path {paths[before]!r} is listed twice")
        entries = [entries[index] for index in order]
        paths = [paths[index] for index in order]
        lines = None if lines is None else [lines[index] for index in order]
    clash = _folder_clash(paths)
    if clash is not None:
        where = _at(lines, paths.index(clash))
        raise _Invalid(where, f"entry path {clash!r} is both a file and a folder of other entries")
    if kind == "file" and (len(entries) != 1 or "/" in entries[0].path):
        raise _Invalid(None, "a manifest of kind 'file' must have exactly one entry, without '/'")
    total = sum(map(_SIZE, entries))
    if size is not None and size[0] != total:
        raise _Invalid(
            size[1], f"size is {size[0]} but the entries add up to {total}", hint=_TOTALS_HINT
        )
    if files is not None and files[0] != len(entries):
        raise _Invalid(
            files[1], f"files is {files[0]} but there are {len(entries)} entries", hint=_TOTALS_HINT
        )
    return Manifest(kind, tuple(entries), extra)


def _suspect(paths: list[str]) -> bool:
    """False when every path is valid; True when some may not be (then check each)."""
    joined = "\x00".join(paths)
    if joined.count("\x00") != len(paths) - 1 or "\\" in joined:
        return True
    if not joined.isascii() and _SURROGATE_RE.search(joined):
        return True
    if ":" in joined and _DRIVE_JOINED_RE.search(joined):
        return True
    slashed = "/" + joined.replace("\x00", "/") + "/"  # every segment is now between '/'
    if "//" in slashed or "/./" in slashed or "/../" in slashed:
        return True
    lowered = "/." in slashed or "~1/" in slashed
    return lowered and _GIT_SLASHED_RE.search(slashed) is not None


def _at(lines: Sequence[int] | None, index: int) -> int | None:
    return None if lines is None else lines[index]


def _folder_clash(paths: list[str]) -> str | None:
    """The first path that is also a folder holding other paths, if any."""
    parents = set(map(_HEAD_OF, map(str.rpartition, paths, itertools.repeat("/"))))
    parents.discard("")  # the parent of a path without '/'
    folders = set(parents)
    for parent in parents:
        while "/" in parent:
            parent = parent.rpartition("/")[0]
            if parent in folders:
                break
            folders.add(parent)
    clashes = folders.intersection(paths)
    return min(clashes) if clashes else None


def _check_extra(
    extra: Iterable[tuple[Any, Any]], known: frozenset[str], what: str
) -> tuple[tuple[str, Any], ...]:
    """Unknown keys sorted by key; they must be strings and not shadow a known key."""
    pairs = list(extra)
    for key, _ in pairs:
        if not isinstance(key, str):
            raise _Invalid(None, f"{what} key {key!r} is not a string")
        if key in known:
            raise _Invalid(None, f"{what} key {key!r} is not an extra key")
        if len(key) > 512:
            raise _Invalid(None, f"{what} key {key[:40]!r}... is longer than 512 characters")
    if len({key for key, _ in pairs}) != len(pairs):
        raise _Invalid(None, f"{what} keys are not unique")
    return tuple(sorted(pairs, key=lambda pair: pair[0]))


def build(
    kind: str,
    entries: Iterable[Entry],
    extra: Iterable[tuple[str, Any]] = (),
    *,
    source: str = "new manifest",
) -> Manifest:
    """A validated manifest with entries sorted by path; ManifestError naming ``source``."""
    try:
        if kind not in KINDS:
            raise _Invalid(None, f"kind must be 'file' or 'dir', not {kind!r}")
        checked = []
        for entry in entries:
            problem = _entry_problem(entry)
            if problem is not None:
                raise _Invalid(None, problem)
            if entry.extra:
                pairs = _check_extra(entry.extra, _ENTRY_KEYS, f"entry {entry.path!r}")
                if pairs != entry.extra:
                    entry = Entry(entry.path, entry.oid, entry.size, entry.exec, pairs)
            checked.append(entry)
        return _finish(kind, checked, None, _check_extra(extra, _TOP_KEYS, "top-level"))
    except _Invalid as exc:
        raise exc.to_error(source) from None


# --- writing -------------------------------------------------------------------

# A "safe plain" scalar: no YAML indicator first, no flow indicator, ':' or '#'
# anywhere, no leading or trailing space, printable, and no resolver of YAML 1.1
# or 1.2 (nor the looser ones of older Go and JavaScript readers) reads it as
# anything but a string. Everything else is double-quoted.
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _ascii_or_beyond(allowed_ascii: str) -> str:
    """A character class: the given ASCII characters and every non-ASCII one.

    Written as the complement of the other ASCII characters, because a class
    spelling out ``\\u0080-\\U0010ffff`` costs ~0.1 s to compile at import.
    """
    others = "".join(chr(c) for c in range(128) if chr(c) not in allowed_ascii)
    return "[^" + "".join("\\" + ch if not ch.isalnum() else ch for ch in others) + "]"


_PLAIN_FIRST = _ascii_or_beyond(_ALNUM + "_./(~^$+;")
_PLAIN_BODY_CHARS = _ALNUM + "_./()~=^$+;'@!%&*<> -"
_PLAIN = (
    rf"(?!\.\.\.){_PLAIN_FIRST}"
    rf"(?:{_ascii_or_beyond(_PLAIN_BODY_CHARS)}*{_ascii_or_beyond(_PLAIN_BODY_CHARS.replace(' ', ''))})?"
)
_PLAIN_RE = _LazyPattern(_PLAIN)
_RISKY_RE = _LazyPattern(
    r"""(?ix)  # keep _RISKY_CHARS in step: every character this can match
    | ~ | null | y | n | yes | no | on | off | true | false | <<? | =
    | [-+]? \.(?: inf | nan )
    | [-+]? (?: [0-9][0-9_]* (?: \.[0-9_]* )? | \.[0-9_]+ ) (?: e [-+]? [0-9_]* )?
    | [-+]? 0 [box] [0-9a-f_]*
    | [-+]? [0-9][0-9_]* (?: :[0-9_]* )+ (?: \.[0-9_]* )?
    | [0-9]{4} - [0-9]{1,2} - [0-9]{1,2} (?: [t\x20\t] [0-9:.\x20\t+\-z]* )?
    """
)
_RISKY_CHARS = "0123456789_.+-:~<= \tabcdefilnorstuxyzABCDEFILNORSTUXYZ"
# The hex strings that _RISKY_RE matches: an oid outside these is a safe plain scalar.
_RISKY_OID_RE = _LazyPattern(r"[0-9]+(?:e[0-9]*)?|0b[0-9a-f]*")


def _risky(text: str) -> bool:
    """True when some YAML reader would resolve plain ``text`` to a non-string."""
    if text.strip(_RISKY_CHARS):  # holds a character that no resolver matches
        return False
    return _RISKY_RE.fullmatch(text) is not None


def _plain_ok(text: str) -> bool:
    """True when ``text`` may be written as a plain scalar (see above)."""
    return _PLAIN_RE.fullmatch(text) is not None and text.isprintable() and not _risky(text)


_PLAIN_LINES_RE = _LazyPattern(rf"(?:{_PLAIN}\n)*")
# Lines made only of characters some resolver matches: the few worth a _risky() call.
_RISKY_LINES_RE = _LazyPattern("^[" + re.escape(_RISKY_CHARS) + "]+$", re.MULTILINE)


def _all_plain_ok(texts: Sequence[str]) -> bool:
    """``all(map(_plain_ok, texts))``, faster."""
    lines = "\n".join(texts) + "\n"
    if _PLAIN_LINES_RE.fullmatch(lines) is None:
        return False
    if not lines.isascii() and not lines.replace("\n", "").isprintable():
        return False
    return not any(map(_risky, _RISKY_LINES_RE.findall(lines)))


def _quote(text: str) -> str:
    """A double-quoted scalar: JSON-style escapes for '"', '\\' and non-printables."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    out = []
    for char in text:
        if char == '"' or char == "\\":
            out.append("\\" + char)
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return '"' + "".join(out) + '"'


def _scalar(text: str) -> str:
    return text if _plain_ok(text) else _quote(text)


def _oid_scalar(oid: str) -> str:
    return f'"{oid}"' if _RISKY_OID_RE.fullmatch(oid) else oid


def _flow(value: Any, depth: int = 0) -> str:
    """``value`` as one line of flow YAML (unknown keys only)."""
    if depth > MAX_DEPTH:
        raise ValueError("extra value nested too deeply")
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, str):
        return _scalar(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return ".nan"
        if value in (float("inf"), float("-inf")):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        return text.replace("e", ".0e", 1) if "." not in text else text
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(item, depth + 1) for item in value) + "]"
    if isinstance(value, dict):
        items = list(value.items())
        if all(isinstance(key, str) for key in value):
            items.sort(key=lambda item: str(item[0]))
        pairs = (f"{_flow(k, depth + 1)}: {_flow(v, depth + 1)}" for k, v in items)
        return "{" + ", ".join(pairs) + "}"
    import datetime  # rare: timestamps among unknown keys

    if isinstance(value, datetime.datetime):
        return value.isoformat(" ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    raise ValueError(f"cannot write {type(value).__name__} value {value!r} in a manifest")


def _entry_line(entry: Entry) -> str:
    path = entry.path if _plain_ok(entry.path) else _quote(entry.path)
    line = f"- {{path: {path}, blake3: {_oid_scalar(entry.oid)}, size: {entry.size}"
    if entry.exec:
        line += ", exec: true"
    for key, value in entry.extra:
        line += f", {_scalar(key)}: {_flow(value)}"
    return line + "}\n"


def _extra_lines(extra: Iterable[tuple[str, Any]]) -> str:
    return "".join(f"{_scalar(key)}: {_flow(value)}\n" for key, value in extra)


def dump(manifest: Manifest) -> bytes:
    """The canonical bytes of ``manifest`` (same content, same bytes)."""
    entries = manifest.entries
    if any(a.path >= b.path for a, b in zip(entries, entries[1:], strict=False)):
        raise ValueError("manifest entries are not sorted by path; use manifest.build()")
    parts = [
        HEADER,
        f"gitstore: {VERSION}\nkind: {manifest.kind}\n",
        f"size: {manifest.size}\nfiles: {len(entries)}\n",
        "entries:\n" if entries else "entries: []\n",
    ]
    parts.extend(map(_entry_line, entries))
    parts.append(_extra_lines(manifest.extra))
    return "".join(parts).encode("utf-8")


# --- reading: the generic path -----------------------------------------------

_MERGE_TAG = "tag:yaml.org,2002:merge"
_loader: Any = None


def _loader_class() -> Any:
    """libyaml's safe loader that refuses duplicate and merge keys (made on first use)."""
    global _loader
    if _loader is not None:
        return _loader
    import yaml

    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class _Loader(base):  # type: ignore[misc]
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                line = key_node.start_mark.line + 1
                if key_node.tag == _MERGE_TAG:
                    raise _Invalid(line, "uses a YAML merge key '<<'")
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                except TypeError:
                    raise _Invalid(line, "has a mapping key that is not a scalar") from None
                if duplicate:
                    raise _Invalid(line, f"has the key {key!r} twice in one mapping")
                seen.add(key)
            result: dict[Any, Any] = super().construct_mapping(node, deep=deep)
            return result

    _loader = _Loader
    return _loader


def strict_yaml(text: bytes | str) -> Any:
    """YAML by the safe loader of :func:`_loader_class`: duplicate and merge keys refused.

    For the files people edit by hand (config): a key written twice, where
    the generic loader keeps the last silently, is a ValueError naming its line.
    """
    import yaml

    try:
        return yaml.load(text, Loader=_loader_class())
    except _Invalid as exc:
        raise ValueError(f"line {exc.line} {exc.message}") from None


def _check_events(text: str) -> None:
    """Refuse anchors, aliases, explicit tags, several documents and deep nesting."""
    import yaml

    loader = _loader_class()(text)
    try:
        depth = documents = 0
        while True:
            event = loader.get_event()
            line = event.start_mark.line + 1 if event.start_mark else None
            if isinstance(event, yaml.StreamEndEvent):
                return
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise _Invalid(line, "uses a YAML anchor or alias")
            if getattr(event, "tag", None) is not None:
                raise _Invalid(line, f"uses the YAML tag {event.tag}")
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _Invalid(line, f"nests deeper than {MAX_DEPTH} levels")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            elif isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise _Invalid(line, "holds more than one YAML document")
    finally:
        loader.dispose()


def _load(text: str) -> tuple[Any, yaml.Node | None]:
    """The value and node tree of one YAML document; _Invalid on any problem."""
    import yaml

    try:
        _check_events(text)
        loader = _loader_class()(text)
        try:
            node = loader.get_single_node()
            value = None if node is None else loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise _Invalid(line, f"is not valid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise _Invalid(None, f"is not valid YAML: {exc}") from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise _Invalid(None, f"holds a value YAML cannot read: {exc}") from None
    return value, node


def _key_lines(node: yaml.Node | None) -> dict[Any, tuple[int, yaml.Node]]:
    import yaml

    if not isinstance(node, yaml.MappingNode):
        return {}
    return {
        key.value: (key.start_mark.line + 1, value)
        for key, value in node.value
        if isinstance(key, yaml.ScalarNode)
    }


def _count(value: Any, name: str, line: int | None) -> int:
    if type(value) is not int or value < 0:
        raise _Invalid(line, f"{name} must be a non-negative integer, not {value!r}")
    return value


def _entry_from_yaml(item: Any, line: int | None) -> Entry:
    if not isinstance(item, dict):
        raise _Invalid(line, f"entry must be a mapping, not {item!r}")
    path = item.get("path")
    if "path" not in item:
        raise _Invalid(line, "entry has no path")
    if not isinstance(path, str):
        raise _Invalid(line, f"entry path must be a string, not {path!r}")
    if "blake3" not in item:
        raise _Invalid(line, f"entry {path!r} has no blake3 oid")
    if "size" not in item:
        raise _Invalid(line, f"entry {path!r} has no size")
    extra = [(key, value) for key, value in item.items() if key not in _ENTRY_KEYS]
    entry = Entry(
        path,
        item["blake3"],
        item["size"],
        item.get("exec", False),
        _check_extra(extra, _ENTRY_KEYS, f"entry {path!r}") if extra else (),
    )
    problem = _entry_problem(entry)
    if problem is not None:
        raise _Invalid(line, problem)
    return entry


def _from_yaml(value: Any, node: yaml.Node | None) -> Manifest:
    if not isinstance(value, dict) or "gitstore" not in value:
        raise _Invalid(None, "is not a gitstore manifest (no 'gitstore:' key at the top)")
    lines = _key_lines(node)

    def line(key: str) -> int | None:
        return lines[key][0] if key in lines else None

    version = value["gitstore"]
    if type(version) is not int:
        raise _Invalid(line("gitstore"), f"gitstore: must be a version number, not {version!r}")
    if version != VERSION:
        raise _Invalid(
            line("gitstore"),
            f"uses manifest version {version}; upgrade gitstore to read it",
            hint="pip install --upgrade gitstore",
            newer=True,
        )
    kind = value.get("kind")
    if kind not in KINDS:
        raise _Invalid(line("kind"), f"kind must be 'file' or 'dir', not {kind!r}")
    if "entries" not in value:
        raise _Invalid(None, "has no 'entries:' list")
    items = value["entries"]
    if not isinstance(items, list):
        raise _Invalid(line("entries"), f"entries must be a list, not {items!r}")
    entries_node = lines["entries"][1] if "entries" in lines else None
    item_lines: list[int] | None = None
    import yaml

    if isinstance(entries_node, yaml.SequenceNode):
        item_lines = [item.start_mark.line + 1 for item in entries_node.value]
    entries = [_entry_from_yaml(item, _at(item_lines, i)) for i, item in enumerate(items)]
    size = files = None
    if "size" in value:
        size = (_count(value["size"], "size", line("size")), line("size"))
    if "files" in value:
        files = (_count(value["files"], "files", line("files")), line("files"))
    extra = [(key, val) for key, val in value.items() if key not in _TOP_KEYS]
    try:
        pairs = _check_extra(extra, _TOP_KEYS, "top-level")
    except _Invalid as exc:
        bad = next((k for k, _ in extra if not isinstance(k, str) or len(k) > 512), None)
        raise _Invalid(None if bad is None else line(str(bad)), exc.message) from None
    return _finish(kind, entries, item_lines, pairs, size, files)


def _decode(data: bytes, source: str) -> str:
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(
            f"{source}: manifest is {len(data)} bytes, over the limit of {MAX_MANIFEST_BYTES}",
            hint="split the tracked folder into several tracked folders",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ManifestError(f"{source} line {line}: manifest is not valid UTF-8") from None


def _parse_generic(data: bytes, source: str) -> Manifest:
    """Parse with the generic YAML loader only (the fast reader's reference)."""
    text = _decode(data, source)
    try:
        return _from_yaml(*_load(text))
    except _Invalid as exc:
        raise exc.to_error(source) from None


# --- reading: the fast path for the canonical form ---------------------------

_HEAD_RE = _LazyPattern(
    re.escape(HEADER)
    + r"gitstore: 1\nkind: (file|dir)\nsize: (0|[1-9][0-9]{0,18})\n"
    + r"files: (0|[1-9][0-9]{0,18})\nentries:( \[\])?\n"
)
_QUOTED = r'"((?:[^"\\\n]|\\["\\]|\\u[0-9a-fA-F]{4}|\\U[0-9a-fA-F]{8})*)"'
_ENTRY_RE = _LazyPattern(
    r'^- \{path: (?:([^"\n,][^,\n]*)|' + _QUOTED + r"), "
    r'blake3: (?:([0-9a-f]{64})|"([0-9a-f]{64})"), '
    r"size: (0|[1-9][0-9]{0,18})(, exec: true)?(, [^\n]*)?\}\n",
    re.MULTILINE,
)
_SIMPLE_ENTRY_RE = _LazyPattern(
    r'^- \{path: ([^"\n,][^,\n]*), blake3: ([0-9a-f]{64}), '
    r"size: (0|[1-9][0-9]{0,18})(, exec: true)?\}\n",
    re.MULTILINE,
)
_ESCAPE_RE = _LazyPattern(r'\\(["\\]|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})')


def _unescape(match: re.Match[str]) -> str:
    code = match.group(1)
    return code if len(code) == 1 else chr(int(code[1:], 16))


def _unquote(body: str) -> str | None:
    """The value of a double-quoted scalar as the writer makes them, else None."""
    if not body.isprintable():
        return None
    if "\\" not in body:
        return body
    try:
        value = _ESCAPE_RE.sub(_unescape, body)
    except ValueError:  # beyond U+10FFFF
        return None
    return None if _SURROGATE_RE.search(value) else value


_QUOTED_PATH_RE = _LazyPattern(_QUOTED + ", blake3: ")


def line_path(line: str) -> str | None:
    """The path of an entry line as :func:`dump` writes it, plain or quoted; None for anything else."""
    if not line.startswith("- {path: "):
        return None
    if line[9:10] != '"':
        path, sep, _rest = line[9:].partition(", blake3: ")
        return path if sep and "," not in path else None
    m = _QUOTED_PATH_RE.match(line, 9)
    return None if m is None else _unquote(m.group(1))


def _parse_fast(text: str) -> Manifest | None:
    """The manifest of canonical ``text``; None (decline) when it is not canonical.

    Whatever it accepts, the generic reader reads to the same values, and both
    then share one validation, so they fail alike too.
    """
    head = _HEAD_RE.match(text)
    if head is None:
        return None
    kind, size, files, empty = head.groups()
    end = head.end()
    entries: list[Entry] = []
    if not empty:
        last = text.rfind("\n- ", end - 1)  # the last line that starts with "- "
        if last < 0:
            return None
        newline = text.find("\n", last + 1)
        if newline < 0:
            return None
        block = text[end : newline + 1]
        end += len(block)
        with _gc_paused():
            found = _fast_entries(block)
        if not found:
            return None
        entries = found
    extra: tuple[tuple[str, Any], ...] = ()
    if end < len(text):
        tail = _fast_tail(text[end:])
        if tail is None:
            return None
        extra = tail
    lines = range(_FIRST_ENTRY_LINE, _FIRST_ENTRY_LINE + len(entries))
    return _finish(kind, entries, lines, extra, (int(size), 4), (int(files), 5))


def _fast_entries(block: str) -> list[Entry] | None:
    """The entries of a block of entry lines, or None unless each is canonical.

    Column by column: one ``findall`` over the block, then checks and
    constructors mapped over whole columns, so no Python code runs per line
    except for quoted paths and lines with unknown keys.
    """
    count = block.count("\n")
    rows = [] if '"' in block else _SIMPLE_ENTRY_RE.findall(block)
    if len(rows) == count:  # the common case: no quotes, no unknown keys
        plain, oid, sizes, execs = zip(*rows, strict=True)
        if not _all_plain_ok(plain) or _risky_plain_oid(block):
            return None
        return _make_entries(plain, oid, sizes, execs)
    full_rows = _ENTRY_RE.findall(block)
    if len(full_rows) != count:
        return None
    plain, quoted, oid, quoted_oid, sizes, execs, rest = zip(*full_rows, strict=True)
    paths: Sequence[str]
    oids: Sequence[str]
    if any(rest):
        return _fast_rows(full_rows, block.split("\n"))
    plain_paths = list(filter(None, plain))
    if (plain_paths and not _all_plain_ok(plain_paths)) or _risky_plain_oid(block):
        return None
    paths = plain
    if len(plain_paths) != count:  # some are quoted: unquote those
        listed = list(plain)
        for index in itertools.compress(range(count), map(operator.not_, plain)):
            unquoted = _unquote(quoted[index])
            if unquoted is None:
                return None
            listed[index] = unquoted
        paths = listed
    oids = oid
    if any(quoted_oid):
        oids = [a or b for a, b in zip(oid, quoted_oid, strict=True)]
    return _make_entries(paths, oids, sizes, execs)


_MAYBE_RISKY_OID_RE = _LazyPattern(r"blake3: [0-9be]{64},")


def _risky_plain_oid(block: str) -> bool:
    """True when a plain (unquoted) oid in ``block`` would not read as a string."""
    candidates = _MAYBE_RISKY_OID_RE.findall(block)  # only digits, 'b' and 'e': rare
    return any(_RISKY_OID_RE.fullmatch(c[8:72]) for c in candidates)


_new_entry = tuple.__new__


def _make_entries(
    paths: Sequence[str], oids: Sequence[str], sizes: Sequence[str], execs: Sequence[str]
) -> list[Entry]:
    """``Entry(path, oid, int(size), bool(exec))`` for each row, column by column (in C)."""
    count = len(paths)
    rows = zip(
        paths, oids, map(int, sizes), map(bool, execs), itertools.repeat((), count), strict=True
    )
    return list(map(_new_entry, itertools.repeat(Entry, count), rows))


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic GC while many objects are made at once (it halves the time; as Mercurial)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _fast_rows(rows: list[tuple[str, ...]], raw_lines: list[str]) -> list[Entry] | None:
    """Entries of matched lines with quoted scalars or unknown keys; None to decline."""
    entries = []
    for index, (plain, quoted, oid, quoted_oid, entry_size, exec_, rest) in enumerate(rows):
        if rest:
            parsed = _fast_line(raw_lines[index] + "\n", _FIRST_ENTRY_LINE + index)
            if parsed is None:
                return None
            entries.append(parsed)
            continue
        if plain:
            if not _plain_ok(plain):
                return None
            path = plain
        else:
            unquoted = _unquote(quoted)
            if unquoted is None:
                return None
            path = unquoted
        if oid and _RISKY_OID_RE.fullmatch(oid):
            return None
        entries.append(Entry(path, oid or quoted_oid, int(entry_size), exec_ != ""))
    return entries


def _fast_line(line: str, number: int) -> Entry | None:
    """An entry line with unknown keys, accepted only when it is written canonically."""
    try:
        value, _ = _load(line)
        if not isinstance(value, list) or len(value) != 1:
            return None
        entry = _entry_from_yaml(value[0], number)
    except _Invalid:
        return None
    return entry if _entry_line(entry) == line else None


def _fast_tail(tail: str) -> tuple[tuple[str, Any], ...] | None:
    """Unknown top-level keys after the entries, accepted only when written canonically."""
    try:
        value, _ = _load(tail)
        if not isinstance(value, dict) or not value:
            return None
        extra = _check_extra(value.items(), _TOP_KEYS, "top-level")
        if _extra_lines(extra) != tail:
            return None
    except (_Invalid, ValueError):
        return None
    return extra


# Manifests the fast reader read (by id: hashing a Manifest hashes every entry):
# their entries are one a line, each line read on its own, so diff_manifests
# may compare their lines.
_read_by_lines: weakref.WeakValueDictionary[int, Manifest] = weakref.WeakValueDictionary()


def parse(data: bytes, source: str) -> Manifest:
    """Parse and validate manifest bytes; ManifestError names ``source`` and the line."""
    try:
        text = _decode(data, source)
        manifest = _parse_fast(text)
        if manifest is None:
            return _from_yaml(*_load(text))
    except _Invalid as exc:
        raise _unparsable(data, source, exc.to_error(source)) from None
    except ManifestError as exc:
        raise _unparsable(data, source, exc) from None
    _read_by_lines[id(manifest)] = manifest
    return manifest


def _unparsable(data: bytes, source: str, error: ManifestError) -> ManifestError:
    """``error``, unless ``data`` failed because a merge left conflict markers in it, or
    it is the diff driver's view of a manifest (a patch made with plain ``git diff``)."""
    name = source.split(" ", 1)[0]  # sources read "d.gitstore" or "d.gitstore at REV"
    if _DIFF_VIEW.match(data):
        return ManifestError(
            f"{source} holds the readable view `git diff` shows of a manifest, not a manifest"
            " (a patch made with `git diff` and applied?)",
            hint=f"undo what wrote it (`git checkout HEAD -- {name}` if HEAD has it, else"
            f" `git rm -f {name}`) and make patches with `git diff --no-textconv` or"
            " `git format-patch`",
        )
    if not has_conflict_markers(data):
        return error
    tracked = name[: -len(SUFFIX)] if name.endswith(SUFFIX) and name != SUFFIX else "PATH"
    return ManifestError(
        f"{source} has merge conflict markers",
        hint=f"run `gitstore resolve {tracked} --ours|--theirs|--union`",
    )


# the first line of gitstore.diffdriver.render's view of a manifest
_DIFF_VIEW = re.compile(rb"gitstore (dir|file): \d+ files?, [^\n]* \(\d+ bytes\)\n")
_CACHE_SIZE = 32
_CACHE_MAX_ENTRIES = 2_000_000
_cache: OrderedDict[str | bytes, Manifest] = OrderedDict()
_cache_lock = threading.Lock()


def parse_cached(data: bytes, blob_id: str | bytes, source: str) -> Manifest:
    """:func:`parse`, remembering the last few results by git blob id (or another digest of the bytes)."""
    with _cache_lock:
        manifest = _cache.get(blob_id)
        if manifest is not None:
            _cache.move_to_end(blob_id)
            return manifest
    manifest = parse(data, source)
    with _cache_lock:
        _cache[blob_id] = manifest
        total = sum(len(cached.entries) for cached in _cache.values())
        while len(_cache) > 1 and (len(_cache) > _CACHE_SIZE or total > _CACHE_MAX_ENTRIES):
            _, evicted = _cache.popitem(last=False)
            total -= len(evicted.entries)
    return manifest


def new_entries(data: bytes, seen: set[str]) -> list[Entry] | None:
    """The entries of a folder manifest's lines that ``seen`` lacks, which then holds them;
    None unless ``data`` is a canonical folder manifest (parse it instead).

    For walks over many versions of one manifest that want what each version
    adds to the ones before (``push --all``, the pre-push hook): versions in
    history differ in a few lines, which are all that is read here (~3 ms for
    20,000 entries, against ~45 ms for a parse). Each new line gets the fast
    reader's checks (a 64-hex oid, a size, a path that reads back as itself);
    the checks of a whole manifest (order, duplicates, totals) are left to
    whoever reads a version to materialise it, so give the first version of
    each manifest to :func:`parse`.
    """
    if len(data) > MAX_MANIFEST_BYTES:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    head = _HEAD_RE.match(text)
    if head is None or head.group(1) != "dir":
        return None
    start = head.end()
    if head.group(4):  # "entries: []"
        return [] if start == len(text) else None
    last = text.rfind("\n- ", start - 1)
    if last < 0 or not text.endswith("\n") or text.find("\n", last + 1) != len(text) - 1:
        return None  # no entries, or unknown keys after them
    new = [line for line in text[start:-1].split("\n") if line not in seen]
    if not new:
        return []
    with _gc_paused():
        found = _fast_entries("\n".join(new) + "\n")
    if found is None:
        return None
    seen.update(new)
    return found


class VersionReader:
    """:func:`parse` for many versions of manifests, each distinct entry line read once.

    Every version is checked in full as :func:`parse` checks it, and the
    result equals :func:`parse`'s; only reading each canonical entry line is
    remembered across versions (its :class:`Entry`), so a version that differs
    from earlier ones in a few lines costs a lookup per line and the checks of
    the whole (~12 ms for 20,000 entries, against ~55 ms). Anything not
    canonical, and any error, goes to :func:`parse`, whose message stands.
    """

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}
        # the lists of paths (in order) that passed the path checks: most versions
        # change oids and sizes only, and need the totals checked, not the paths
        self._checked: set[tuple[str, ...]] = set()

    def parse(self, data: bytes, source: str) -> Manifest:
        manifest = self._read(data) if len(data) <= MAX_MANIFEST_BYTES else None
        if manifest is None:
            return parse(data, source)
        _read_by_lines[id(manifest)] = manifest
        return manifest

    def _read(self, data: bytes) -> Manifest | None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        head = _HEAD_RE.match(text)
        if head is None or head.group(4) or not text.endswith("\n"):
            return None  # "entries: []", or no final line break: parse() reads those
        kind, size, files = head.group(1), head.group(2), head.group(3)
        start = head.end()
        last = text.rfind("\n- ", start - 1)
        if last < 0 or text.find("\n", last + 1) != len(text) - 1:
            return None  # no entries, or unknown keys after them
        lines = text[start:-1].split("\n")
        known = self._entries
        new = list(dict.fromkeys(line for line in lines if line not in known))
        if new:
            with _gc_paused():
                found = _fast_entries("\n".join(new) + "\n")
            if found is None:
                return None
            known.update(zip(new, found, strict=True))
        entries = [known[line] for line in lines]
        paths = tuple(map(_PATH, entries))
        if kind == "dir" and paths in self._checked:  # valid, in order: the totals are left
            if int(size) != sum(map(_SIZE, entries)) or int(files) != len(entries):
                return None
            return Manifest(kind, tuple(entries), ())
        numbers = range(_FIRST_ENTRY_LINE, _FIRST_ENTRY_LINE + len(entries))
        try:
            manifest = _finish(kind, entries, numbers, (), (int(size), 4), (int(files), 5))
        except _Invalid:
            return None
        if kind == "dir" and tuple(map(_PATH, manifest.entries)) == paths:
            self._checked.add(paths)  # not sorted by _finish: the order was right
        return manifest


# --- merge conflicts ---------------------------------------------------------

_CONFLICT_MARKERS = (b"<<<<<<< ", b"=======", b">>>>>>> ", b"||||||| ")


def has_conflict_markers(data: bytes) -> bool:
    """True when a line starts with a git conflict marker (``<<<<<<< ``, ``=======``...).

    Substring searches (a few ms for a 100,000-entry manifest), not a
    multi-line regular expression, which tries every position (30 ms).
    """
    return any(data.startswith(m) or b"\n" + m in data for m in _CONFLICT_MARKERS)
