"""The published layout, read back: per-branch documents, per-commit entries, lookups.

``gitstore publish`` writes into a store, beside ``objects/``:

- ``branches/<url-encoded branch>.yaml``: the branch's watermark (the last
  first-parent commit walked) and the ordered list of published commits, each
  with its committer date, the manifest paths it touched and which of those
  are ``incomplete`` or ``removed``. It changes only through one conditional
  write per batch of commits.
- ``commits/<c[0]>/<c[1]>/<c[2]>/<c[3:]>/<manifest path>``: the manifest as of
  that commit followed by ``commit:``, ``date:`` and ``status:`` (``ok``,
  ``incomplete`` with ``missing:`` oids, or ``removed``).

Everything here answers from the store alone, with no git: "which version of
PATH was current at commit C or date D" is the last published commit at or
before C (or D) that touched PATH's manifest. Used by ``get-published`` and by
``serve``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from . import layout
from .errors import (
    GitstoreError,
    IntegrityError,
    ManifestError,
    ObjectNotFoundError,
    PartialError,
    PathError,
    RevisionError,
    StoreError,
)
from .progress import count

if TYPE_CHECKING:
    from .manifest import Entry, Manifest
    from .stores.base import Store

__all__ = [
    "BranchDocument",
    "PublishedCommit",
    "PublishedEntry",
    "GUESSED_BRANCHES",
    "branch_key",
    "entry_key",
    "find_commit",
    "get_published",
    "manifests_as_of",
    "parse_entry",
    "read_branch",
    "read_entry",
]

DOC_VERSION = 1
RESUME_MIN = 64 << 20  # objects this big are downloaded so that a later run can resume them
PARTIALS_SUFFIX = ".gitstore-partial"  # .NAME.gitstore-partial/<oid>: beside what is written
NAME_MAX = 255  # bytes in one name, on every filesystem gitstore runs on
MANIFEST_SUFFIX = ".gitstore"
STATUSES = ("ok", "incomplete", "removed")


def branch_key(branch: str) -> str:
    """``branches/<url-encoded branch>.yaml`` (``feature/x`` -> ``feature%2Fx``)."""
    return f"branches/{quote(branch, safe='')}.yaml"


def entry_key(commit: str, manifest_path: str) -> str:
    return f"{layout.commit_prefix(commit)}/{manifest_path}"


def _yaml_load(data: bytes, source: str) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(data, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise StoreError(f"{source} is not valid YAML: {exc}") from exc


def _q(text: str) -> str:
    """A YAML scalar that every reader loads as this exact string (JSON is YAML)."""
    import json

    return json.dumps(text, ensure_ascii=False)


@dataclass
class PublishedCommit:
    commit: str
    date: str  # committer date, ISO 8601 with offset
    manifests: list[str]  # every manifest path the commit touched, sorted
    incomplete: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def timestamp(self) -> float:
        return datetime.fromisoformat(self.date).timestamp()

    def status_of(self, manifest_path: str) -> str:
        if manifest_path in self.removed:
            return "removed"
        return "incomplete" if manifest_path in self.incomplete else "ok"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "commit": self.commit,
            "date": self.date,
            "manifests": self.manifests,
        }
        if self.incomplete:
            out["incomplete"] = self.incomplete
        if self.removed:
            out["removed"] = self.removed
        return out

    def to_line(self) -> str:
        parts = [f"commit: {self.commit}", f"date: {_q(self.date)}"]
        for name in ("manifests", "incomplete", "removed"):
            values: list[str] = getattr(self, name)
            if values or name == "manifests":
                parts.append(f"{name}: [{', '.join(_q(v) for v in values)}]")
        return "- {" + ", ".join(parts) + "}\n"


@dataclass
class BranchDocument:
    """The per-branch document; ``version`` is the store's token (None: not written yet)."""

    branch: str
    watermark: str | None = None
    commits: list[PublishedCommit] = field(default_factory=list)
    version: str | None = None

    def dump(self) -> bytes:
        lines = [
            "# gitstore published branch: the watermark and every published commit, oldest first\n",
            f"gitstore: {DOC_VERSION}\n",
            f"branch: {_q(self.branch)}\n",
            f"watermark: {self.watermark or 'null'}\n",
            "commits:\n" if self.commits else "commits: []\n",
        ]
        lines += [c.to_line() for c in self.commits]
        return "".join(lines).encode("utf-8")

    @classmethod
    def parse(cls, data: bytes, version: str | None, source: str) -> BranchDocument:
        raw = _yaml_load(data, source)
        if not isinstance(raw, dict) or "commits" not in raw:
            raise StoreError(f"{source} is not a published branch document")
        if raw.get("gitstore", 1) != DOC_VERSION:
            raise StoreError(f"{source} has format version {raw.get('gitstore')}; upgrade gitstore")
        commits = []
        for item in raw.get("commits") or []:
            try:
                commits.append(
                    PublishedCommit(
                        commit=str(item["commit"]),
                        date=str(item["date"]),
                        manifests=[str(m) for m in item.get("manifests") or []],
                        incomplete=[str(m) for m in item.get("incomplete") or []],
                        removed=[str(m) for m in item.get("removed") or []],
                    )
                )
            except (KeyError, TypeError) as exc:
                raise StoreError(f"{source} has a malformed commit record: {item!r}") from exc
        watermark = raw.get("watermark")
        return cls(
            branch=str(raw.get("branch", "")),
            watermark=str(watermark) if watermark else None,
            commits=commits,
            version=version,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "branch": self.branch,
            "watermark": self.watermark,
            "commits": [c.to_json() for c in self.commits],
        }


def read_branch(store: Store, branch: str) -> BranchDocument:
    """The branch's document from ``store``; an empty one (version None) when absent."""
    key = branch_key(branch)
    doc = store.read_document(key)
    if doc is None:
        return BranchDocument(branch=branch)
    return BranchDocument.parse(doc.data, doc.version, f"{key} in {store.url}")


GUESSED_BRANCHES = ("main", "master")  # tried where a store cannot list its branches


def list_branches(store: Store) -> list[str] | None:
    """Branch names with a document in ``store``; None where the store cannot list
    them (an http(s) store: a static server gives no folder listing), which says
    nothing about what is published there."""
    from urllib.parse import unquote

    from .errors import UnsupportedError

    try:
        keys = list(store.list_documents("branches/"))
    except UnsupportedError:
        return None
    names = []
    for key in keys:
        name = key.rsplit("/", 1)[-1]
        if key.count("/") == 1 and name.endswith(".yaml") and not name.startswith("."):
            names.append(unquote(name[: -len(".yaml")]))
    return sorted(names)


# -- entries -------------------------------------------------------------------


@dataclass
class PublishedEntry:
    manifest_path: str
    commit: str
    date: str
    status: str
    missing: list[str]
    manifest: Manifest | None  # None when removed


def entry_tail(commit: str, date: str, status: str, missing: Sequence[str] = ()) -> bytes:
    lines = [f"commit: {commit}\n", f"date: {_q(date)}\n", f"status: {status}\n"]
    if missing:
        lines.append(f"missing: [{', '.join(_q(oid) for oid in sorted(missing))}]\n")
    return "".join(lines).encode()


def removed_entry(commit: str, date: str) -> bytes:
    head = b"# gitstore published entry: the manifest was removed at this commit\ngitstore: 1\n"
    return head + entry_tail(commit, date, "removed")


def parse_entry(data: bytes, manifest_path: str, source: str) -> PublishedEntry:
    raw = _yaml_load(data, source)
    if not isinstance(raw, dict) or raw.get("status") not in STATUSES:
        raise StoreError(f"{source} is not a published manifest entry")
    manifest = None
    if raw["status"] != "removed":
        from .manifest import parse

        try:
            manifest = parse(data, source)
        except ManifestError as exc:
            raise StoreError(f"{source} holds an invalid manifest: {exc.message}") from exc
    return PublishedEntry(
        manifest_path=manifest_path,
        commit=str(raw.get("commit", "")),
        date=str(raw.get("date", "")),
        status=str(raw["status"]),
        missing=[str(m) for m in raw.get("missing") or []],
        manifest=manifest,
    )


def read_entry(store: Store, commit: str, manifest_path: str) -> PublishedEntry | None:
    key = entry_key(commit, manifest_path)
    doc = store.read_document(key)
    if doc is None:
        return None
    return parse_entry(doc.data, manifest_path, f"{key} in {store.url}")


# -- lookups -------------------------------------------------------------------


def find_commit(doc: BranchDocument, commit: str | None = None, date: str | None = None) -> int:
    """Index in ``doc.commits`` of the last published commit at or before C or D.

    ``commit`` may be a unique prefix of a published commit (4 to 40 hex
    digits); ``date`` follows :func:`gitrepo.parse_when`, and like git's
    ``BRANCH@{DATE}`` the answer is the newest entry (in list order) whose
    committer date is at or before it.
    """
    where = f"branch '{doc.branch}'"
    if not doc.commits:
        raise RevisionError(f"nothing is published for {where}", hint="run `gitstore publish`")
    if commit is not None:
        prefix = commit.lower()
        if not (4 <= len(prefix) <= 40) or any(ch not in "0123456789abcdef" for ch in prefix):
            raise RevisionError(f"'{commit}' is not a commit id (4 to 40 hex digits)")
        found = [i for i, c in enumerate(doc.commits) if c.commit.startswith(prefix)]
        if len({doc.commits[i].commit for i in found}) > 1:
            raise RevisionError(
                f"commit '{commit}' is ambiguous in {where}", hint="give more digits"
            )
        if not found:
            raise RevisionError(
                f"commit {commit} is not published for {where}",
                hint="only commits that changed manifests are listed; try --date",
            )
        return found[-1]
    if date is None:
        return len(doc.commits) - 1
    from .gitrepo import parse_when

    when = parse_when(date)
    for index in range(len(doc.commits) - 1, -1, -1):
        if doc.commits[index].timestamp <= when:
            return index
    raise RevisionError(f"nothing was published for {where} at or before {date}")


def manifests_as_of(doc: BranchDocument, index: int) -> dict[str, PublishedCommit]:
    """{manifest path: the commit whose entry is current} after ``doc.commits[index]``.

    Manifests removed by then are left out.
    """
    out: dict[str, PublishedCommit] = {}
    for published in doc.commits[: index + 1]:
        for path in published.manifests:
            if path in published.removed:
                out.pop(path, None)
            else:
                out[path] = published
    return dict(sorted(out.items()))


def _tracked(manifest_path: str) -> str:
    return manifest_path[: -len(MANIFEST_SUFFIX)]


def covering_manifest(doc: BranchDocument, index: int, path: str) -> tuple[str, PublishedCommit]:
    """The manifest covering PATH as of ``index`` and the commit of its current entry."""
    path = path.strip("/")
    if path.endswith(MANIFEST_SUFFIX):
        path = _tracked(path)
    for manifest_path, published in reversed(list(_touching(doc, index))):
        tracked = _tracked(manifest_path)
        if path == tracked or path.startswith(tracked + "/"):
            if manifest_path in published.removed:
                raise PathError(
                    f"{path} was removed at commit {published.commit[:12]} ({published.date})"
                )
            return manifest_path, published
    raise PathError(f"{path} is not tracked in any published commit of branch '{doc.branch}'")


def _touching(doc: BranchDocument, index: int) -> Iterator[tuple[str, PublishedCommit]]:
    latest: dict[str, PublishedCommit] = {}
    for published in doc.commits[: index + 1]:
        for manifest_path in published.manifests:
            latest.pop(manifest_path, None)
            latest[manifest_path] = published  # insertion order = order of the last touch
    yield from latest.items()


def full_path(tracked: str, manifest: Manifest, entry: Entry) -> str:
    """The repository path of an entry: ``tracked/entry`` for a folder, ``tracked`` for a file."""
    return tracked if manifest.kind == "file" else f"{tracked}/{entry.path}"


@dataclass
class GetResult:
    path: str
    commit: str
    date: str
    manifest_path: str
    kind: str  # "file" (one file written) or "dir"
    files: list[tuple[str, Path]]  # (repository path, where it was written)
    nbytes: int
    # objects taken up where an earlier run stopped: oid -> (bytes found, size)
    resumed: dict[str, tuple[int, int]] = field(default_factory=dict)


def select_entries(
    manifest: Manifest, tracked: str, path: str
) -> tuple[str, list[tuple[Entry, str]]]:
    """(kind, [(entry, path relative to the output)]) for PATH inside a manifest."""
    path = path.strip("/")
    if path.endswith(MANIFEST_SUFFIX):
        path = _tracked(path)
    if manifest.kind == "file" or path != tracked:
        for entry in manifest.entries:
            if full_path(tracked, manifest, entry) == path:
                return "file", [(entry, entry.path.rsplit("/", 1)[-1])]
        below = path[len(tracked) + 1 :] + "/"
        chosen = [(e, e.path[len(below) :]) for e in manifest.entries if e.path.startswith(below)]
        if not chosen:
            raise PathError(f"{path} is not in the published manifest {tracked}{MANIFEST_SUFFIX}")
        return "dir", chosen
    return "dir", [(e, e.path) for e in manifest.entries]


def get_published(
    store: Store,
    branch: str,
    path: str,
    dest: Path | None,
    *,
    commit: str | None = None,
    date: str | None = None,
    jobs: int = 8,
) -> tuple[GetResult, Entry | None]:
    """Write PATH as published at C or D into ``dest``; from ``store`` alone, hash-verified.

    A single file with ``dest`` None is not written: its entry is returned so
    the caller can stream it (``store.open``). Raises PartialError naming what
    the published entry is missing.
    """
    doc = read_branch(store, branch)
    if doc.version is None:
        raise RevisionError(
            f"branch '{branch}' is not published in {store.url}",
            hint="check --branch, or run `gitstore publish`",
        )
    index = find_commit(doc, commit, date)
    manifest_path, published = covering_manifest(doc, index, path)
    entry = read_entry(store, published.commit, manifest_path)
    if entry is None or entry.manifest is None:
        raise StoreError(
            f"{entry_key(published.commit, manifest_path)} is missing from {store.url}",
            hint="the per-branch document names it; republish with --retry-incomplete",
        )
    manifest, tracked = entry.manifest, _tracked(manifest_path)
    kind, chosen = select_entries(manifest, tracked, path)
    lacking = sorted({e.oid for e, _ in chosen} & set(entry.missing))
    if lacking:
        raise PartialError(
            f"{path} at {published.commit[:12]} is incomplete: {count(len(lacking), 'object', 'was')}"
            f" never published, e.g. {lacking[0]}",
            hint="run `gitstore publish --retry-incomplete` where the objects are available",
        )
    result = GetResult(path, published.commit, published.date, manifest_path, kind, [], 0)
    result.nbytes = sum(e.size for e, _ in chosen)
    if kind == "file" and dest is None:
        return result, chosen[0][0]
    if dest is None:
        dest = Path(path.rstrip("/").rsplit("/", 1)[-1])
    if kind == "file":
        _write_file(store, path, dest, chosen[0], jobs, result)
    else:
        _write_folder(store, path, dest, chosen, jobs, result, (tracked, manifest))
    return result, None


def _write_file(
    store: Store, path: str, dest: Path, chosen: tuple[Entry, str], jobs: int, result: GetResult
) -> None:
    """The file PATH at ``dest`` (or in it, under its own name, when it is a folder)."""
    entry, name = chosen
    try:
        target = dest / name if dest.is_dir() else dest
        in_the_way = target.is_dir() and not target.is_symlink()
    except OSError as exc:  # a name too long, a folder that cannot be read
        raise _cannot_write(path, dest, exc) from exc
    if in_the_way:  # known before a byte is downloaded
        raise PathError(
            f"{target} is a folder; get-published writes the file {path} there",
            hint="give the file's own name with -o, or remove the folder first",
        )
    _download(store, [(entry, target)], jobs, _partials_of(target), result.resumed)
    result.files = [(path, target)]


def _write_folder(
    store: Store,
    path: str,
    dest: Path,
    chosen: list[tuple[Entry, str]],
    jobs: int,
    result: GetResult,
    source: tuple[str, Manifest],
) -> None:
    """The folder PATH at ``dest``, whole or not at all: written into a fresh folder
    beside it, renamed into place once every object has arrived and matched its name.
    ``source``: the tracked path and the manifest the entries are from."""
    if dest.name in ("", ".."):
        raise PathError(
            f"cannot write {path} into {dest}: a folder is written whole, under a name of its own",
            hint=f"give a new folder with -o, e.g. -o {dest / Path(path.rstrip('/')).name}",
        )
    try:
        taken = dest.exists() and (not dest.is_dir() or dest.is_symlink() or any(dest.iterdir()))
    except OSError as exc:
        raise _cannot_write(path, dest, exc) from exc
    if taken:
        raise PathError(
            f"{dest} already exists and is not an empty folder; get-published writes {path} whole",
            hint="give a new folder with -o, or remove it first",
        )
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        _sweep_stagings(dest)
        staging = dest.parent / f"{_staging_prefix(dest.name)}{os.urandom(4).hex()}.part"
        staging.mkdir()
    except OSError as exc:
        raise _cannot_write(path, dest, exc) from exc
    held = _hold(staging)  # a later run's sweep leaves a folder being filled alone
    try:
        targets = [(e, _inside(staging, rel)) for e, rel in chosen]
        _download(
            store,
            targets,
            jobs,
            _partials_of(dest),
            result.resumed,
            final=lambda t: dest / t.relative_to(staging),
        )
        try:
            os.replace(staging, dest)  # dest is absent or an empty folder
        except OSError as exc:
            raise _cannot_write(path, dest, exc) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # what is left of it: a failed run's
        if held is not None:
            os.close(held)
    tracked, manifest = source
    result.files = [
        (full_path(tracked, manifest, e), dest / t.relative_to(staging)) for e, t in targets
    ]


def _cannot_write(path: str, dest: Path, exc: OSError) -> GitstoreError:
    return GitstoreError(
        f"cannot write {path} to {dest}: {exc.strerror or exc}",
        hint="choose another place with -o",
    )


def _stem(name: str, tag: str) -> str:
    """``name``, or a digest of it (40 hex digits) where ``.NAME.TAG`` would pass the
    255-byte limit of one name: the same for the same name, so a later run finds what
    a killed one left, and short whatever the name (QA pass 15: names of 241 to 255
    bytes, legal in any work tree, could not be written by get-published)."""
    raw = os.fsencode(name)
    if len(raw) + len(os.fsencode(tag)) + 2 <= NAME_MAX:
        return name
    return hashlib.sha1(raw).hexdigest()


def _hidden_beside(name: str, tag: str) -> str:
    """``.NAME.TAG``, a hidden name beside ``name`` saying whose it is; see :func:`_stem`."""
    return f".{_stem(name, tag)}.{tag}"


def _staging_prefix(name: str) -> str:
    """What the names of the staging folders for ``name`` start with: each is that,
    8 hex digits and ``.part`` (``.NAME.<8 hex>.part``; see :func:`_stem`)."""
    return f".{_stem(name, '01234567.part')}."


def _hold(folder: Path) -> int | None:
    """An open, flock'ed descriptor of ``folder`` (the lock lives as long as this process
    keeps it), or None where folders cannot be locked."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _sweep_stagings(dest: Path) -> None:
    """Remove the staging folders (``.NAME.<8 hex>.part``) that killed runs for ``dest``
    left; one that a live run holds (its flock) is left to it."""
    prefix, suffix = _staging_prefix(dest.name), ".part"
    try:
        names = os.listdir(dest.parent)
    except OSError:
        return
    for name in names:
        middle = name[len(prefix) : -len(suffix)]
        if not (name.startswith(prefix) and name.endswith(suffix)):
            continue
        if len(middle) != 8 or middle.strip("0123456789abcdef"):
            continue
        folder = dest.parent / name
        held = _hold(folder)  # None: a symlink, a file, or a live run's
        if held is None:
            continue
        try:
            shutil.rmtree(folder, ignore_errors=True)
        finally:
            os.close(held)


def _inside(root: Path, rel: str) -> Path:
    from .manifest import validate_entry_path

    problem = validate_entry_path(rel)
    if problem is not None:
        raise PathError(f"refusing to write '{rel}': the path {problem}")
    target = root.joinpath(*rel.split("/"))
    real_root = os.path.realpath(root)
    if not os.path.realpath(target.parent).startswith(real_root.rstrip(os.sep) + os.sep) and (
        os.path.realpath(target.parent) != real_root
    ):
        raise PathError(f"refusing to write {target}: it leads outside {root}")
    return target


def _partials_of(dest: Path) -> Path:
    """Where big objects for ``dest`` are downloaded, for a later run to resume them."""
    if dest.name in ("", ".."):  # "-o .", "-o ..": named by the folder itself
        dest = Path(os.path.abspath(dest))
    return dest.with_name(_hidden_beside(dest.name, PARTIALS_SUFFIX[1:]))


def _download(
    store: Store,
    targets: Iterable[tuple[Entry, Path]],
    jobs: int,
    partials: Path,
    resumed: dict[str, tuple[int, int]],
    final: Callable[[Path], Path] = lambda target: target,
) -> None:
    """Write each entry's object at its target, verified; big ones through ``partials``.
    ``final``: where a target ends up (a folder is written into a staging folder), which
    an error names."""
    todo = list(targets)
    try:
        _download_all(store, todo, jobs, partials, resumed, final)
    except GitstoreError as exc:
        if _kept(partials):
            kept = f"what arrived is kept in {partials}: run the same command again to resume"
            exc.hint = f"{exc.hint}; {kept}" if exc.hint else kept
        else:  # nothing to resume (a full or failing disk discards it): no empty folder left
            try:
                partials.rmdir()  # only when empty; never through a symlink
            except OSError:
                pass
        raise
    _clear_partials(partials)  # every object arrived: nothing to resume


def _clear_partials(partials: Path) -> None:
    """Remove what earlier runs left in ``partials`` (other versions' objects), except
    files another run is writing now, then the folder if that empties it.

    Only what a download leaves there is touched: regular files named by an oid
    and their journals (``<oid>.ranges``). A symlink at ``partials`` is never
    followed and nothing else in the folder is removed: it may be a folder of
    the user's that happens to have that name. A FIFO is never opened.
    """
    from .partial import SUFFIX

    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        dir_fd = os.open(partials, flags)
    except OSError:  # absent, a symlink, not a folder
        return
    try:
        names = os.listdir(dir_fd)
        for name in names:
            if layout.is_oid(name):
                _clear_partial(dir_fd, name, SUFFIX)
        for name in os.listdir(dir_fd):  # journals whose file is gone
            oid = name.removesuffix(SUFFIX)
            if oid != name and layout.is_oid(oid) and not _lexists(oid, dir_fd):
                _unlink_at(name, dir_fd)
    except OSError:
        return
    finally:
        os.close(dir_fd)
    try:
        partials.rmdir()  # only when empty; a symlink put there meanwhile is not removed
    except OSError:
        pass


def _clear_partial(dir_fd: int, name: str, suffix: str) -> None:
    """Remove the partial file ``name`` and its journal unless another run holds it."""
    import stat

    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        return
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _unlink_at(f"{name}{suffix}", dir_fd)
        _unlink_at(name, dir_fd)
    except OSError:
        pass  # another run holds it
    finally:
        os.close(fd)


def _lexists(name: str, dir_fd: int) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return False
    return True


def _unlink_at(name: str, dir_fd: int) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass


def _kept(partials: Path) -> bool:
    if partials.is_symlink():
        return False
    try:
        return any(layout.is_oid(p.name) for p in partials.iterdir())
    except OSError:
        return False


def _download_all(
    store: Store,
    todo: list[tuple[Entry, Path]],
    jobs: int,
    partials: Path,
    resumed: dict[str, tuple[int, int]],
    final: Callable[[Path], Path],
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def one(item: tuple[Entry, Path]) -> None:
        entry, target = item
        tmp = target.with_name(_hidden_beside(target.name, f"{os.urandom(4).hex()}.part"))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _inside(target.parent, target.name)  # a symlinked folder must not lead elsewhere
            found = _get_resumable(store, entry, tmp, partials)
            if found is None:
                store.get(entry.oid, tmp)
            elif found:
                resumed[entry.oid] = (found, entry.size)
            os.chmod(tmp, 0o755 if entry.exec else 0o644)
            os.replace(tmp, target)
        except ObjectNotFoundError as exc:
            raise StoreError(
                f"object {entry.oid} of {target.name} is not in {store.url}", hint=exc.hint
            ) from exc
        except OSError as exc:  # a full disk, a file-size limit: name the file, not a temporary
            space = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
            raise GitstoreError(
                f"cannot write {final(target)}: {exc.strerror or exc}",
                hint="free some space (or choose another place with -o) and run it again"
                if space
                else "choose another place with -o",
            ) from exc
        finally:  # never an error of its own: the one being raised is the one to report
            with contextlib.suppress(OSError):
                tmp.unlink()

    if len(todo) <= 1 or jobs <= 1:
        for item in todo:
            one(item)
        return
    with ThreadPoolExecutor(min(jobs, len(todo))) as pool:
        for future in [pool.submit(one, item) for item in todo]:
            future.result()


def _get_resumable(store: Store, entry: Entry, tmp: Path, partials: Path) -> int | None:
    """Download a big object into ``partials/<oid>`` (resuming what an earlier run left
    there), verified, then rename it to ``tmp``: the bytes found there already (0 for a
    fresh start), or None when the store cannot resume (the caller uses ``get``)."""
    from .partial import SUFFIX, Journal, open_locked
    from .transfer import _retrying

    inner = getattr(store, "inner", store)
    read_into = getattr(inner, "read_into", None)
    if read_into is None or not getattr(inner, "resumes_reads", False):
        return None
    if entry.size < RESUME_MIN:
        return None
    try:
        partials.mkdir(mode=0o700)
    except FileExistsError:
        if partials.is_symlink() or not partials.is_dir():
            return None  # not ours: no resume, nothing written there
    except OSError:  # a folder that refuses it (read-only, full): downloaded whole, as before
        return None
    path = partials / entry.oid
    locked = open_locked(str(path))  # None: another run is at it, or junk is there
    if locked is None:
        return None
    fd = locked
    journal = Journal(f"{path}{SUFFIX}", fd)
    discard = False
    try:
        call: Callable[[], tuple[str, int, Any]] = lambda: read_into(  # noqa: E731
            entry.oid, fd, lambda: journal
        )
        actual = _retrying(store, f"get {entry.oid}", call, lambda: None)[0]
        if actual != entry.oid:
            raise IntegrityError(
                f"object {entry.oid} from {store.url} is corrupt: its bytes hash to {actual}"
            )
        found = journal.resumed
        os.rename(path, tmp)  # still locked: no other run writes it
        journal.remove()
        return found
    except IntegrityError:
        discard = True
        raise
    except OSError as exc:
        # the user needs the space more than a head start; a disk that
        # reported an I/O error under the file cannot be trusted to read it back
        discard = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO)
        raise
    finally:
        if discard:  # before the lock goes: no other run's file is removed
            journal.remove()
            path.unlink(missing_ok=True)
        journal.close()
        os.close(fd)


def open_published_store(
    spec: str, repo_start: Path | None = None, endpoint_url: str | None = None
) -> Store:
    """REMOTE as a configured remote's name (inside a repository) or a URL / folder.

    ``endpoint_url`` applies to an s3:// URL (a configured remote has its own).
    """
    from .stores.registry import open_store

    if endpoint_url is not None:
        return open_store(spec, endpoint_url=endpoint_url, read_only=True)
    if "/" not in spec and "\\" not in spec and ":" not in spec and not os.path.exists(spec):
        try:
            from . import config as cfg
            from .gitrepo import GitRepo

            repo = GitRepo.discover(repo_start or Path.cwd())
            conf = cfg.load(repo.root, repo.common_dir)
        except GitstoreError:
            conf = None
        if conf is not None and spec in conf.remotes:
            from .stores.registry import is_relative_folder

            remote = conf.remotes[spec]
            url = remote.url
            if remote.base is not None and is_relative_folder(url):
                url = os.path.join(remote.base, url)
            return open_store(
                url,
                endpoint_url=remote.endpoint_url,
                region=remote.region,
                profile=remote.profile,
                anonymous=remote.anonymous,
                read_only=True,
            )
        raise StoreError(
            f"'{spec}' is neither a configured remote nor an existing folder",
            hint="give a remote's name inside a repository, a folder, s3:// or http(s):// URL",
        )
    return open_store(spec, read_only=True)
