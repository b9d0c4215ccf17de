"""Merging manifests entry by entry, and settling the conflicts left behind.

git calls ``gitstore merge-driver %O %A %B %P`` for ``*.gitstore`` files
(``.gitattributes`` says ``merge=gitstore``). :func:`merge3` compares each
entry of ours and theirs with the base: an entry changed on one side only takes
that side; an entry changed differently on both sides is a conflict, written as
that entry's lines between ``<<<<<<< ours``, ``=======`` and ``>>>>>>> theirs``
(an empty side means that side deleted it). ``size`` and ``files`` of a clean
result are recomputed; a conflicted result states them for ours. A change of
``kind``, a file/folder clash or input that does not parse conflicts the whole
file. :func:`resolve_text` settles a marked manifest (ours, theirs, or union:
both entries where only one side has one, refused where one path has two
different contents).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import gitignore
from . import manifest as mf
from .cache import tmp_name
from .errors import ConflictError, ManifestError, PartialError

if TYPE_CHECKING:
    from .api import Context
    from .workspace import PathStatus

__all__ = ["MergeResult", "merge3", "merge_bytes", "resolve_path", "resolve_text", "split_sides"]

OURS, SEP, THEIRS = "<<<<<<< ours", "=======", ">>>>>>> theirs"


class ResolvedPartlyError(PartialError):
    """``resolve`` settled and staged the manifest but left its files out of line (exit 3).

    ``notes``: the lines that say which files and why (refused, not in the
    cache); the command line shows them before the error, as checkout's.
    """

    def __init__(self, message: str, notes: list[str], hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.notes = notes


@dataclass(frozen=True)
class MergeResult:
    data: bytes
    conflicts: list[str]  # entry paths, or ["*"] when the whole file conflicts


def _same(a: mf.Entry | None, b: mf.Entry | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.oid, a.size, a.exec, a.extra) == (b.oid, b.size, b.exec, b.extra)


def _entry_text(entry: mf.Entry) -> str:
    """The canonical line of one entry (as ``dump`` writes it)."""
    data = mf.dump(mf.build("dir", [entry])).decode("utf-8")
    return next(line for line in data.splitlines() if line.startswith("- "))


def _whole(ours: bytes, theirs: bytes) -> MergeResult:
    def body(data: bytes) -> str:
        text = data.decode("utf-8", "replace")
        return text if not text or text.endswith("\n") else text + "\n"

    text = f"{OURS}\n{body(ours)}{SEP}\n{body(theirs)}{THEIRS}\n"
    return MergeResult(text.encode("utf-8"), ["*"])


def _parse_or_none(data: bytes, source: str) -> mf.Manifest | None:
    if not data.strip():
        return None
    return mf.parse(data, source)


def merge_bytes(base: bytes, ours: bytes, theirs: bytes, path: str = "manifest") -> MergeResult:
    """The driver's work: merge three manifest texts (base may be empty)."""
    try:
        b = _parse_or_none(base, f"{path} (base)")
        o = mf.parse(ours, f"{path} (ours)")
        t = mf.parse(theirs, f"{path} (theirs)")
    except ManifestError:
        return _whole(ours, theirs)
    return merge3(b, o, t, ours, theirs)


def merge3(
    base: mf.Manifest | None,
    ours: mf.Manifest,
    theirs: mf.Manifest,
    ours_raw: bytes = b"",
    theirs_raw: bytes = b"",
) -> MergeResult:
    if ours.kind != theirs.kind or (
        base is not None and base.kind != ours.kind and base.kind != theirs.kind
    ):
        return _whole(ours_raw or mf.dump(ours), theirs_raw or mf.dump(theirs))
    b = base.by_path() if base is not None else {}
    o, t = ours.by_path(), theirs.by_path()
    clean: list[mf.Entry] = []
    conflicts: dict[str, tuple[mf.Entry | None, mf.Entry | None]] = {}
    for path in sorted(b.keys() | o.keys() | t.keys()):
        be, oe, te = b.get(path), o.get(path), t.get(path)
        if _same(oe, te):
            chosen = oe
        elif _same(oe, be):
            chosen = te
        elif _same(te, be):
            chosen = oe
        else:
            conflicts[path] = (oe, te)
            continue
        if chosen is not None:
            clean.append(chosen)
    extra = _merge_extra(base.extra if base else (), ours.extra, theirs.extra)
    if extra is None:
        return _whole(ours_raw or mf.dump(ours), theirs_raw or mf.dump(theirs))
    try:
        as_ours = mf.build(
            ours.kind, clean + [e for e, _ in conflicts.values() if e is not None], extra
        )
        if not conflicts:
            return MergeResult(mf.dump(as_ours), [])
        mf.build(theirs.kind, clean + [e for _, e in conflicts.values() if e is not None], extra)
    except ManifestError:
        return _whole(ours_raw or mf.dump(ours), theirs_raw or mf.dump(theirs))
    return MergeResult(_with_markers(as_ours, clean, conflicts), sorted(conflicts))


def _merge_extra(
    base: tuple[tuple[str, object], ...],
    ours: tuple[tuple[str, object], ...],
    theirs: tuple[tuple[str, object], ...],
) -> tuple[tuple[str, object], ...] | None:
    b, o, t = dict(base), dict(ours), dict(theirs)
    out = {}
    for key in sorted(b.keys() | o.keys() | t.keys()):
        bv, ov, tv = b.get(key, _MISSING), o.get(key, _MISSING), t.get(key, _MISSING)
        if ov == tv or tv == bv:
            value = ov
        elif ov == bv:
            value = tv
        else:
            return None
        if value is not _MISSING:
            out[key] = value
    return tuple(out.items())


_MISSING = object()


def _with_markers(
    as_ours: mf.Manifest,
    clean: list[mf.Entry],
    conflicts: Mapping[str, tuple[mf.Entry | None, mf.Entry | None]],
) -> bytes:
    head = (
        mf.dump(mf.Manifest(as_ours.kind, (), as_ours.extra))
        .decode("utf-8")
        .splitlines(keepends=True)
    )
    # the canonical header lines, with ours' totals, then every entry in path order
    lines = [ln for ln in head if not ln.startswith(("entries:", "size:", "files:"))]
    extra_at = next(i for i, ln in enumerate(lines) if ln.startswith("kind:")) + 1
    out = lines[:extra_at] + [f"size: {as_ours.size}\n", f"files: {as_ours.files}\n", "entries:\n"]
    rows: list[tuple[str, str]] = [(e.path, _entry_text(e) + "\n") for e in clean]
    for path, (oe, te) in conflicts.items():
        block = OURS + "\n" + (_entry_text(oe) + "\n" if oe else "") + SEP + "\n"
        block += (_entry_text(te) + "\n" if te else "") + THEIRS + "\n"
        rows.append((path, block))
    out += [text for _, text in sorted(rows)]
    out += lines[extra_at:]
    return "".join(out).encode("utf-8")


# -- resolve -------------------------------------------------------------------
def split_sides(data: bytes) -> tuple[bytes, bytes]:
    """(ours, theirs) texts of a file with conflict markers (any labels, diff3 too).

    ``size:`` and ``files:`` lines are dropped: the sides' totals are recomputed.
    """
    ours: list[str] = []
    theirs: list[str] = []
    where = "both"
    for line in data.decode("utf-8", "replace").splitlines(keepends=True):
        if line.startswith("<<<<<<<"):
            where = "ours"
            continue
        if line.startswith("|||||||") and where == "ours":
            where = "base"
            continue
        if line.rstrip("\r\n") == "=======" and where in ("ours", "base"):
            where = "theirs"
            continue
        if line.startswith(">>>>>>>") and where == "theirs":
            where = "both"
            continue
        if line.startswith(("size:", "files:")):
            continue
        if where in ("both", "ours"):
            ours.append(line)
        if where in ("both", "theirs"):
            theirs.append(line)
    return _listed(ours), _listed(theirs)


def _listed(lines: list[str]) -> bytes:
    """A side's text, its ``entries:`` line made an empty list when no entry follows it.

    A conflict block whose side is empty (that side deleted the file) can leave
    a side with no entry at all, and a bare ``entries:`` is YAML's null.
    """
    for i, line in enumerate(lines):
        if line.rstrip("\r\n") == "entries:" and not (
            i + 1 < len(lines) and lines[i + 1].startswith("- ")
        ):
            lines = [*lines[:i], "entries: []\n", *lines[i + 1 :]]
            break
    return "".join(lines).encode("utf-8")


def resolve_text(data: bytes, side: str, source: str) -> bytes:
    """A clean canonical manifest from a marked one; ``side`` is ours, theirs or union."""
    ours_text, theirs_text = split_sides(data)
    if side == "ours":
        return mf.dump(mf.parse(ours_text, f"{source} (ours)"))
    if side == "theirs":
        return mf.dump(mf.parse(theirs_text, f"{source} (theirs)"))
    ours = mf.parse(ours_text, f"{source} (ours)")
    theirs = mf.parse(theirs_text, f"{source} (theirs)")
    if ours.kind != theirs.kind:
        raise ConflictError(
            f"{source}: cannot take the union of a file and a folder; choose --ours or --theirs"
        )
    merged = ours.by_path()
    clashes = []
    for path, entry in theirs.by_path().items():
        mine = merged.get(path)
        if mine is None:
            merged[path] = entry
        elif not _same(mine, entry):
            clashes.append(path)
    if clashes:
        raise ConflictError(
            f"{source}: {', '.join(sorted(clashes)[:5])} has different content on each side; a union cannot keep both",
            hint="choose --ours or --theirs, or track the path again after settling it by hand",
        )
    try:
        return mf.dump(mf.build(ours.kind, merged.values(), ours.extra, source=source))
    except ManifestError as exc:
        raise ConflictError(
            f"the union of both sides is not a valid manifest: {exc.message}"
        ) from None


def resolve_path(ctx: Context, user_path: str, side: str) -> tuple[str, list[str]]:
    """Settle the conflict of one manifest, stage it, materialise it; (manifest, notes)."""
    from .errors import PathError
    from .hookrun import materialise_changes

    ws = ctx.workspace
    rel = ws.relpath(user_path, ctx.cwd)
    mpath = rel if rel.endswith(mf.SUFFIX) else mf.manifest_path(rel)
    full = ws.root / mpath
    if full.is_dir():  # not a manifest: "Is a directory" would not say which path, nor why
        raise PathError(f"{mpath} is a folder, not the manifest of a tracked path")
    try:
        data = full.read_bytes()
    except FileNotFoundError:
        data = b""
    conflicts = ctx.repo.index_conflicts()
    if mpath not in conflicts and not os.path.lexists(full):
        raise PathError(f"{rel} is not a tracked path ({mpath} is neither on disk nor in conflict)")
    if mpath in conflicts:
        # from the three sides git kept, entry by entry: git's own text merge
        # (no merge driver configured) puts neighbouring lines changed on
        # different sides in one conflict block, and taking a side of it
        # would drop the other side's clean change
        stages = [ctx.repo.git("show", f":{n}:{mpath}", check=False) for n in (1, 2, 3)]
        base, ours, theirs = (p.stdout if p.returncode == 0 else b"" for p in stages)
        gone = [n for n, p in (("ours", stages[1]), ("theirs", stages[2])) if p.returncode != 0]
        if len(gone) == 1 and side != ("theirs" if gone == ["ours"] else "ours"):
            # a modify/delete conflict: one side untracked the path
            kept = "theirs" if gone == ["ours"] else "ours"
            who = "our" if gone == ["ours"] else "their"
            raise ConflictError(
                f"{mpath}: {who} side deletes it and the other changes it; there is no {side} side to take",
                hint=f"to delete it, run `gitstore untrack {rel}`; to keep it, `gitstore resolve {rel} --{kept}`",
            )
        data = merge_bytes(base, ours, theirs, mpath).data
    elif not mf.has_conflict_markers(data):
        try:
            mf.parse(data, mpath)
        except ManifestError:
            # a merge without the driver (an octopus merge, a clone without
            # it) can leave a manifest whose size: and files: lines are the
            # sum of neither side: every entry is kept, the totals recomputed
            pass
        else:
            raise PathError(f"{mpath} has no merge conflict to resolve")
    clean = resolve_text(data, side, mpath)
    from .stores.local import replace_with

    replace_with(full, clean, tmp=full.with_name(tmp_name(full.name)))
    # the other side may have untracked the path, and git merged .gitignore
    # without its line: the files must stay out of git
    manifest = mf.parse(clean, mpath)
    listed = gitignore.add(ws.root, mf.tracked_path(mpath), manifest.kind == "dir")
    ctx.repo.stage([mpath, ".gitignore"] if listed else [mpath])
    notes = materialise_changes(ctx, [(mpath, None, "resolved")]).lines
    rest = _merged_cleanly(ctx, mpath)
    if rest:
        notes += materialise_changes(ctx, rest).lines
    brought = [mf.tracked_path(m) for m, _old, new in rest if new is not None]  # not removed
    behind = [
        s for s in _record_clean(ctx, [mf.tracked_path(mpath), *brought]) if s.state != "unchanged"
    ]
    if behind:  # files refused or objects missing: partial, as checkout's exit 3
        raise ResolvedPartlyError(
            f"resolved {mpath} ({side}) and staged it, but the files of "
            + ", ".join(f"{s.path} ({s.state.replace('_', ' ')})" for s in behind[:3])
            + (f" and {len(behind) - 3} more" if len(behind) > 3 else "")
            + " do not match it yet",
            notes=notes,
            hint=None if notes else "`gitstore status` shows what differs",
        )
    return mpath, notes


def _merged_cleanly(ctx: Context, settled: str) -> list[tuple[str, str | None, str | None]]:
    """The manifests a stopped merge, cherry-pick or revert changed without a conflict.

    git runs no hook when any path conflicts: those it merged cleanly still
    hold our side's files, and the commit that ends the merge would be
    refused (or keep the manifest with a note) until ``gitstore checkout``.
    The first ``resolve`` brings them too: (path, HEAD's blob, staged blob).
    """
    repo = ctx.repo
    if not any(
        (repo.git_dir / n).exists() for n in ("MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD")
    ):
        return []
    head = repo.head()
    if head is None:
        return []
    at_head = repo.list_manifests(head)
    staged = repo.index_manifests()
    conflicted = set(repo.index_conflicts())
    return [
        (m, at_head.get(m), staged.get(m))
        for m in sorted(set(at_head) | set(staged))
        if m != settled and m not in conflicted and at_head.get(m) != staged.get(m)
    ]


def _record_clean(ctx: Context, rels: list[str]) -> list[PathStatus]:
    """Record ``rels`` as matching their manifests (the clean record), as status would.

    A `git merge --abort` (or a cherry-pick's, a rebase's) runs no hook: it puts
    the earlier manifest back and leaves the files resolve wrote. With this
    record, the next commit and status see files exactly as when they matched a
    manifest that has changed since, so they keep the manifest and say to run
    `gitstore checkout`; without it, a commit took those files for an edit and
    recorded the other side's data. The full checkout that materialised them
    records nothing, and files written this moment are not vouched for (the
    racy rule), hence the wait.
    """
    import time

    from .cleanrecord import RACY_NS

    time.sleep(RACY_NS / 1e9)
    return ctx.workspace.status(only=rels)
