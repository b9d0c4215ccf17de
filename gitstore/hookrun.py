"""What each git hook does (DESIGN.md, "Git hooks"); ``gitstore hook NAME`` calls these.

- pre-commit: refreshes and re-stages the manifest of every tracked path whose
  files changed (``hooks.refresh``), then checks that every staged manifest
  that differs from HEAD is free of conflict markers and names only objects in
  the cache. Never touches the network.
- pre-push: uploads the objects named by the commits the git remote lacks to
  the gitstore remote mapped to it (``remote.<git remote>``, else the default
  remote); any failure refuses the push.
- post-checkout, post-merge, post-rewrite: materialise the manifests that
  changed between the old and the new HEAD, fetching missing objects when
  ``hooks.fetch``; a remote that is down is reported, one line per path, and
  never fails the hook. Nothing happens while a rebase is in progress.

Every function returns a :class:`HookReport` (lines for stderr and the exit
code); nothing here prints. Tracked paths left unmaterialised are remembered in
the clone's state, so that pre-commit never records stale files as a change.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import shlex
import stat
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import config as cfg
from . import manifest as mf
from . import pending as marks_file
from .cleanrecord import (
    CleanRecord,
    Provisional,
    Reached,
    RebaseTouched,
    Stamps,
    TrackChanges,
    manifest_bytes,
)
from .errors import GitstoreError, ManifestError, StoreUnavailableError, TransferError
from .gitrepo import GitRepo, blob_id_of
from .progress import count as counted
from .records import Record

if TYPE_CHECKING:
    from . import hookdelta
    from .api import Context
    from .workspace import PathStatus, ScannedFile, Walked, Workspace

__all__ = [
    "HookReport",
    "materialise_changes",
    "post_checkout",
    "post_merge",
    "post_rewrite",
    "pre_commit",
    "pre_push",
]

ZERO = "0" * 40
_HEX40 = re.compile(r"[0-9a-f]{40}")
EMPTY_DIR = mf.dump(mf.build("dir", []))


class HookReport(Record):
    __slots__ = ("lines", "exit_code")

    def __init__(self, lines: list[str] | None = None, exit_code: int = 0) -> None:
        self.lines: list[str] = [] if lines is None else lines
        self.exit_code = exit_code


def _shown(items: Sequence[str], limit: int = 5) -> str:
    return ", ".join(items[:limit]) + (
        f" and {len(items) - limit} more" if len(items) > limit else ""
    )


# -- state: tracked paths left unmaterialised ----------------------------------
def load_pending(ctx: Context) -> dict[str, str]:
    return marks_file.load(ctx.repo.state_dir)


# -- pre-commit: the clean record ----------------------------------------------
# -- pre-commit ----------------------------------------------------------------
def _vouch(stamps: Stamps, mpath: str, looked: tuple[object, Walked | None, bytes | None]) -> None:
    """Stamp a path that a walk begun after ``stamps.start()`` found in line with its manifest."""
    _sig, walked, data = looked
    if walked is None or data is None:
        stamps.forget(mpath)
    else:
        stamps.vouch(mpath, data, walked.sts)


def pre_commit(ctx: Context) -> HookReport:
    from .workspace import Background

    report = HookReport()
    ws = ctx.workspace
    # what is staged, asked while the walks run; a refresh below re-stages and asks again
    staged_early: Background[_Staged] | None = Background(lambda: _staged(ctx))
    pending = load_pending(ctx)
    if marks_file.INTERRUPTED in pending.values():
        # a checkout marks its paths so while it runs: one at work now (a commit
        # made beside it) is waited for, and its marks read again once it is done
        with ws.lock():
            pass
        pending = load_pending(ctx)
    mpaths = ws.manifest_paths()
    clean = CleanRecord.load(ctx.repo.state_dir)
    stamps = Stamps.load(ctx.repo.state_dir)
    stamps.start()  # before any walk: what the walks find is vouched for as of now
    read = {m: manifest_bytes(ws.root, m) for m in mpaths}
    still = stamps.still(ws.root, {m: d for m, d in read.items() if d is not None})
    looked = {
        m: (clean.entries.get(m), None, read[m]) if m in still else clean.look(ws, m, read[m])
        for m in mpaths
    }
    seen = {m: sig for m, (sig, _files, _data) in looked.items()}
    # the working tree's manifests as read now: usually the staged ones too
    worktree = {m: data for m, (_sig, _files, data) in looked.items() if data is not None}
    todo = [m for m in mpaths if m not in still and not clean.matches(m, seen[m])]
    for m in mpaths:
        if m not in still and m not in todo:
            _vouch(stamps, m, looked[m])
    modified = []
    behind: list[str] = []
    statuses: list[PathStatus] = []
    if todo:
        statuses = []
        for m in todo:
            try:
                statuses.append(ws.status_of(m, _files(looked[m][1]), looked[m][2]))
            except ManifestError:
                if ctx.repo.ls_files([f":(literal){m}"]):
                    raise  # staged: the commit would carry it
                # a file of the user's that only has the suffix, not in this commit
                report.lines.append(
                    f"gitstore: note: {m} is not a manifest, nor staged: left alone"
                )
                todo = [t for t in todo if t != m]
        ws.statcache.save()
        emptied = [
            s.path
            for s in statuses
            if s.state in ("not_materialised", "missing_objects")
            and os.path.isdir(ws.root / s.path)
            and not os.path.islink(ws.root / s.path)
            and s.path not in pending
        ]
        if emptied:  # as a folder never checked out looks: not taken as every file deleted
            report.lines.append(
                f"gitstore: {_shown(emptied)} {'has' if len(emptied) == 1 else 'have'} no files"
                " on disk: not recorded as deleted (a folder not checked out looks the same);"
                f" `gitstore track {emptied[0]}` records it empty, `gitstore checkout"
                f" {emptied[0]}` brings the files back"
            )
        modified = [s.path for s in statuses if s.state == "modified"]
        unchanged = {s.manifest for s in statuses if s.state == "unchanged"}
        # files exactly as they were when they last matched their manifest,
        # under a manifest that changed since (git checkout REV -- X.gitstore,
        # revert, cherry-pick, reset): a refresh would record the old files
        # over the new manifest; there is nothing new on disk to record
        differ = {s.manifest for s in statuses if s.state == "modified"}
        stamped_behind = (
            stamps.still(ws.root, {m: worktree[m] for m in differ if m in worktree}, behind=True)
            if differ
            else set()
        )
        behind = [
            s.path
            for s in statuses
            if s.manifest in differ
            and (
                s.manifest in stamped_behind or clean.files_unchanged(s.manifest, seen[s.manifest])
            )
        ]
        kept_behind = {mf.manifest_path(p) for p in behind}
        clean.save(
            {m: sig for m, sig in seen.items() if m in unchanged or m not in todo}
            | {m: clean.entries[m] for m in kept_behind if m in clean.entries}
        )
        for m in todo:
            if m in unchanged:
                _vouch(stamps, m, looked[m])
            elif m not in kept_behind:  # what they matched: the next commit must see it too
                stamps.forget(m)
    stamps.save()  # before a refresh below, which records its own
    if pending:
        stale = [p for p in modified if p in pending]
        kept = {p: why for p, why in pending.items() if p in stale}
        if kept != pending:  # only those it read: a hook may mark others meanwhile
            marks_file.update(ctx.repo.state_dir, drop=[p for p in pending if p not in kept])
        partial = [p for p in stale if pending[p] == marks_file.PARTIAL]
        if partial:  # checked out in part on purpose: the commit goes on without them
            report.lines.append(
                f"gitstore: {_shown(partial)} {'is' if len(partial) == 1 else 'are'} only"
                f" partly checked out: not refreshed (the commit keeps {'its manifest' if len(partial) == 1 else 'their manifests'});"
                " `gitstore pull PATH` checks out the rest, `gitstore track PATH` would"
                " record the files not checked out as deleted"
            )
            stale = [p for p in stale if p not in partial]
            modified = [p for p in modified if p not in partial]
        brought = marks_file.brought_now(ctx.repo.state_dir) or frozenset()
        under_way = [p for p in stale if pending[p] == marks_file.INTERRUPTED and p in brought]
        if under_way:
            report.lines.append(
                f"gitstore: {_shown(under_way)} {'is' if len(under_way) == 1 else 'are'} still"
                " being brought by another git command (its hook is fetching or writing the"
                " data); commit refused so that the files it has not replaced yet are not"
                " recorded"
            )
            stale = [p for p in stale if p not in under_way]
            if not stale:
                report.lines.append("hint: wait for that command to end, then commit again")
                report.exit_code = 1
                return report
        if stale:
            report.lines.append(
                f"gitstore: {_shown(stale)} {'was' if len(stale) == 1 else 'were'} left"
                f" unmaterialised by the last git command that brought data ({pending[stale[0]]}) and"
                f" {'differs from its manifest' if len(stale) == 1 else 'differ from their manifests'};"
                " commit refused so that stale files are not recorded"
            )
            report.lines.append(
                "hint: run `gitstore pull` (or `gitstore checkout PATH`) to finish it,"
                " or `gitstore track PATH` to record what is on disk"
            )
            report.exit_code = 1
            return report
    if behind:
        report.lines += [
            f"gitstore: {p} still holds the files of an earlier {mf.manifest_path(p)}, which has"
            " changed since (not refreshed, so the commit keeps the manifest); run"
            f" `gitstore checkout {p}` to bring the files in line"
            for p in behind
        ]
        modified = [p for p in modified if p not in behind]
    undoing = _undoing(ctx, [s for s in statuses if s.path in modified]) if modified else {}
    if undoing:
        if ctx.repo.is_rebase_in_progress():
            where = "HEAD, its parent or the tip the rebase started from"
            how = "a rebase stop: the hooks bring no data until the rebase ends"
        else:
            where = "HEAD, its parent or a commit HEAD was at lately"
            how = (
                "a revert, cherry-pick, merge, stash pop, stash --keep-index, rebase --autostash,"
                " rebase --quit, am, restore, checkout REV -- PATH"
            )
        for rel, keys in sorted(undoing.items()):  # every path at once: one round trip
            report.lines.append(
                f"gitstore: {_shown(sorted(keys))} on disk is as at {where} while"
                f" {mf.manifest_path(rel)} names another: git changed the manifest without its"
                f" files ({how}); commit refused, so that a refresh does not undo that change"
            )
        import shlex

        rels = " ".join(shlex.quote(r) for r in sorted(undoing))
        report.lines.append(
            f"hint: run `gitstore checkout {rels}` to bring the files to the manifests,"
            f" or `gitstore track {rels}` to record the files as they are; then commit"
        )
        report.exit_code = 1
        return report
    if modified and _partial_commit():
        report.lines += [
            f"gitstore: {p} changed since its manifest, which a partial commit"
            f" (git commit -- PATHS) does not refresh; run `gitstore track {p}` and commit it"
            for p in modified
        ]
        modified = []
    if modified:
        if not ctx.config.hooks_refresh:
            report.lines.append(
                f"gitstore: tracked paths changed since their manifests: {_shown(modified)}"
            )
            report.lines.append(
                f"hint: run `gitstore track {' '.join(modified)}` and commit again (hooks.refresh is false)"
            )
            report.exit_code = 1
            return report
        if _refused_before_refresh(ctx, report, mpaths, modified):
            return report
        nothing_staged = _nothing_staged(ctx)
        if staged_early is not None:
            staged_early.result()  # its git is done before the index changes
        staged_early = None
        refreshed = ws.track(modified, ws.root)
        changed = [r.manifest for r in refreshed if r.changed]
        for r in refreshed:
            worktree.pop(r.manifest, None)
        if changed and nothing_staged and not _amending():
            report.lines.append(
                f"gitstore: refreshed and staged {_shown(changed)} (the data changed); run"
                f" `{_this_commit()}` again to commit it"
            )
            report.exit_code = 1
            return report
        report.lines += [f"gitstore: refreshed and staged {m}" for m in changed]
    return _check_staged(
        ctx, report, worktree, mpaths, staged_early.result() if staged_early else None
    )


def mark_unfinished(ctx: Context, name: str, args: Sequence[str]) -> None:
    """After Ctrl-C stopped post-checkout, post-merge or post-rewrite before it marked
    what it brings (in its start-up, or its diff of the two commits): mark the path of
    every manifest the git command changed, as :func:`materialise_changes` would have,
    so that the old version's files never pass for edits. A path it had brought already
    is marked too, which says nothing while its files match its manifest."""
    repo = ctx.repo
    if name == "post-checkout":
        if len(args) < 3 or args[2] != "1":
            return
        old: str | None = args[0]
        new: str | None = args[1]
    elif name == "post-merge" or args[:1] == ["rebase"]:
        # git merge and rebase leave where HEAD was before them in ORIG_HEAD (an amend
        # does not, and brings nothing)
        old, new = repo.try_resolve("ORIG_HEAD"), repo.head()
    else:
        return
    if not old or not new or old == new or new == ZERO:
        return
    changed = repo.changed_manifests(old if old != ZERO else None, new)
    rels = [mf.tracked_path(mpath) for mpath, _old, blob in changed if blob is not None]
    marks_file.update(repo.state_dir, dict.fromkeys(rels, marks_file.INTERRUPTED), keep=True)


def _refused_nested(report: HookReport, mpaths: Sequence[str]) -> bool:
    """Refuse the commit when two manifests track one path inside the other (a merge
    brought both), with the way out ``gitstore status`` gives."""
    nested = mf.nesting_error(mpaths)
    if nested is None:
        return False
    report.lines.append(f"gitstore: {nested.message}; commit refused")
    report.lines.append(f"hint: {nested.hint}")
    report.exit_code = 1
    return True


def _refused_before_refresh(
    ctx: Context, report: HookReport, mpaths: Sequence[str], modified: Sequence[str]
) -> bool:
    """What a refresh of ``modified`` must not decide for the user, refused first.

    Nested manifests: the refresh's ``track`` would refuse with its own way out,
    which drops the other branch's files. A tracked path whose files git's index
    holds too (a ``git add -f`` inside it, or a merge of a branch that keeps the
    folder in git with one that tracks it here, which the merge hook left for
    the user to settle): the refresh would move git's files into the manifest
    and record the files the hook did not bring as deleted.
    """
    if _refused_nested(report, mpaths):
        return True
    both = sorted(_tracked_by_git(ctx.workspace, modified))
    if not both:
        return False
    rel = both[0]
    report.lines.append(
        f"gitstore: git tracks files inside {_shown(both)}, which {mf.manifest_path(rel)} tracks"
        " too (a `git add -f`, or a merge of a branch that keeps it in git); commit refused,"
        " so that a refresh does not choose between them for you"
    )
    report.lines.append(
        f"hint: run `git rm -r --cached -q {rel}` (the files stay), then `gitstore track {rel}`"
        f" to record what is on disk, or `gitstore checkout {rel}` to bring its manifest's"
        " version (after a merge); then commit"
    )
    report.exit_code = 1
    return True


def _undoing(ctx: Context, statuses: Sequence[PathStatus]) -> dict[str, list[str]]:
    """{tracked path: its files whose refresh would undo a change the manifest got from git}.

    A refresh sets each entry to what is on disk. When the manifest file is
    not the one ``track`` left (git wrote it: a stash pop, an autostash after
    a rebase's checkout, git checkout REV -- X.gitstore, a revert, a
    cherry-pick, a merge, a rebase's ``edit`` stop), a file on disk that
    holds the version of HEAD or of one of HEAD's parents, or during a rebase
    that of the tip it started from (the hooks materialise nothing until it
    ends), or like them is absent, while the manifest names another is a file
    the manifest's change never reached: the manifest is the newer side, and
    a refresh would silently drop its change.
    After the user's own ``track``, or when the manifest holds the bytes the
    path was last brought whole in line with (:class:`Reached`), the files are
    the newer side (a file put back, or deleted, by hand is recorded as it is).
    Files are compared by content and executable bit.
    """
    from .hashing import hash_bytes
    from .workspace import ScannedFile, is_exec

    head = ctx.repo.head()
    if head is None or not statuses:
        return {}
    ws = ctx.workspace
    repo = ctx.repo
    reached = Reached.load(repo.state_dir)
    out: dict[str, list[str]] = {}
    recent: list[str] | None = None
    for s in statuses:
        try:
            if ws.track_memo.left(s.manifest, os.lstat(ws.root / s.manifest)):
                continue  # track wrote it: the files are the newer side
            if reached.left(s.manifest, (ws.root / s.manifest).read_bytes()):
                continue  # the files reached these very bytes: what differs is an edit
            now = ws.read_manifest(s.manifest)
            earlier = []
            started = repo.rebase_orig_head() if repo.is_rebase_in_progress() else None
            if recent is None:  # where HEAD was before its last moves: `git am`, `rebase --quit`
                recent = [c for c in repo.recent_heads() if repo.has_object(c)]
            blobs: dict[str, None] = {}
            for commit in (
                head,
                *repo.commit_info(head).parents,
                *([started] if started else []),
                *recent,
            ):
                try:
                    blob = repo.blob_id(commit, s.manifest)
                except GitstoreError:  # a reflog's commit gc has pruned since
                    continue
                if blob is not None:
                    blobs[blob] = None
            for blob in blobs:
                data = repo.read_blob(blob)
                if not mf.has_conflict_markers(data):
                    earlier.append(mf.parse_cached(data, "blake3:" + hash_bytes(data), s.manifest))
        except (GitstoreError, OSError):
            continue
        if now is None:
            continue
        versions = [e.by_path() for e in earlier if e.kind == now.kind]
        if not versions:
            continue
        m = now.by_path()
        for key in (*s.added, *s.modified, *s.removed):
            name = key[len(s.path) + 1 :] if now.kind == "dir" else now.entries[0].path
            full = ws.root / key
            # content and executable bit: git brings a mode change without its file too
            try:
                st = os.lstat(full)
                # a folder (or anything else but a file or symlink) in a
                # file's place holds no version of it
                disk: tuple[str | None, bool] | None = (
                    (ws.oid_of(key, ScannedFile("", str(full), st)), is_exec(st))
                    if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)
                    else None
                )
            except FileNotFoundError:
                disk = None
            except (OSError, GitstoreError):  # it changed while read: the next commit sees it
                continue
            if disk != _as_file(m, name) and any(disk == _as_file(v, name) for v in versions):
                out.setdefault(s.path, []).append(key)
    return out


def _as_file(entries: Mapping[str, mf.Entry], name: str) -> tuple[str | None, bool] | None:
    """(oid, executable) of ``name`` in a manifest's entries, None when it has no such file."""
    entry = entries.get(name)
    return None if entry is None else (entry.oid, entry.exec)


def _this_commit() -> str:
    """``git commit``, or ``git commit -a`` when git commits from its locked index.

    With ``-a`` (or ``-i``) git stages into ``index.lock`` and drops it when
    the hook fails: only the same command stages the refreshed manifest again.
    """
    index = os.path.basename(os.environ.get("GIT_INDEX_FILE", ""))
    return "git commit -a" if index == "index.lock" else "git commit"


def _amending() -> bool:
    """Whether the git that runs this hook is a ``git commit --amend`` (read from /proc).

    An amend never stops at "nothing to commit", so a manifest refreshed
    and staged here goes into it: no second run is needed. Where the parent
    cannot be read (not Linux, another hook runner), the answer is no.
    """
    from .hookmain import git_argv, git_command

    words = git_argv()
    return git_command(words) == "commit" and "--amend" in (words or ())


def _partial_commit() -> bool:
    """``git commit -- PATHS`` (``--only``): git commits from a temporary index.

    Staging a refreshed manifest there would put it in the commit (which the
    user did not ask for) and not in the real index, which would then revert
    it at the next commit.
    """
    return os.path.basename(os.environ.get("GIT_INDEX_FILE", "")).startswith("next-index-")


def _files(found: Walked | None) -> list[ScannedFile] | None:
    return None if found is None else found.files()


def _nothing_staged(ctx: Context) -> bool:
    if (ctx.repo.git_dir / "MERGE_HEAD").exists():
        return False
    return ctx.repo.git("diff", "--cached", "--quiet", check=False).returncode == 0


_Staged = tuple[list[tuple[str, str, str]], list[str], list[str]]


def _staged(ctx: Context) -> _Staged:
    """The staged changes: manifests, the other paths added or modified, and the
    manifests deleted.

    Manifests come as (path, HEAD's blob, staged blob), for each staged
    manifest that differs from HEAD's; HEAD's blob is all zeros for a
    manifest new in this commit. Conflicted manifests (unmerged index
    entries) are left out: git refuses to commit them.
    """
    out = ctx.repo.git("diff", "--cached", "--raw", "-z", "--no-abbrev", "--no-renames").stdout
    fields = out.split(b"\0")
    manifests = []
    others = []
    deleted = []
    for i in range(0, len(fields) - 1, 2):
        meta = fields[i].split()
        if len(meta) != 5 or meta[4] == b"U":
            continue
        path = os.fsdecode(fields[i + 1])
        if meta[4] == b"D":
            if path.endswith(mf.SUFFIX):
                deleted.append(path)
        elif path.endswith(mf.SUFFIX):
            manifests.append((path, meta[2].decode(), meta[3].decode()))
        else:
            others.append(path)
    return sorted(manifests), others, sorted(deleted)


_KIND_RE = re.compile(rb"^kind: (dir|file)$", re.M)


def _keep_ignored(
    ctx: Context,
    report: HookReport,
    staged: Sequence[tuple[str, str, str]],
    deleted: Sequence[str],
    worktree: Mapping[str, bytes],
) -> None:
    """Keep .gitignore listing the tracked paths a commit brings and drops by hand.

    A manifest renamed with git (``git mv a.gitstore b.gitstore; mv a b``, as
    a git-annex or DVC user would) left ``/a/`` in .gitignore and no ``/b/``:
    git then offered b's files for ``git add``. Each manifest new in the
    commit gets its line; the line of one the commit deletes goes when its
    path is no longer on disk (a path kept on disk keeps its line: ``gitstore
    untrack`` is the way to hand files to git). What counts is the .gitignore
    git commits, the staged one: a line on disk but not staged (a stash's pop,
    ``git restore --staged .gitignore``) is staged too. .gitignore is staged
    whole when it held no other unstaged change of the user's, else only these
    lines go into the staged one (a .gitignore git does not know yet is all the
    user's unstaged lines: :func:`gitignore.stage_lines`).
    """
    from . import gitignore

    new = [m for m, head_blob, _ in staged if head_blob == ZERO]
    if not new and not deleted:
        return
    root = ctx.workspace.root
    lines = gitignore.read_lines(root / ".gitignore")
    index_file = ctx.repo.staged_file(".gitignore")
    in_index = set(gitignore.split_lines(index_file[1])) if index_file is not None else set()
    on_disk = set(lines)
    add: list[tuple[str, bool]] = []  # not staged (nor, perhaps, on disk)
    for mpath in new:
        data = worktree.get(mpath)
        match = _KIND_RE.search(data, 0, 1024) if data is not None else None
        if match is None:
            continue  # not read here (a partial commit): nothing to go on
        rel, is_dir = mf.tracked_path(mpath), match.group(1) == b"dir"
        if gitignore.entry_for(rel, is_dir) not in in_index:
            add.append((rel, is_dir))
    drop = [
        rel
        for rel in map(mf.tracked_path, deleted)
        if not os.path.lexists(root / rel)
        and not os.path.lexists(root / mf.manifest_path(rel))
        and (in_index | on_disk) & {gitignore.entry_for(rel, True), gitignore.entry_for(rel, False)}
    ]
    if not add and not drop:
        return
    gitignore.add_many(root, add)
    gitignore.remove_many(root, drop)
    if _partial_commit():
        # git commits from a temporary index: .gitignore staged there would go into
        # this commit and not into the real index, whose old .gitignore the next
        # commit would then record again
        report.lines.append(
            f"gitstore: .gitignore must list {_shown([r for r, _ in add] or drop)} with this"
            " change of manifests, and a partial commit (git commit -- PATHS) cannot stage"
            " it; commit refused"
        )
        report.lines.append(
            "hint: .gitignore is updated on disk: add .gitignore to the paths of the"
            " commit, or run `git add .gitignore` and `git commit` without paths"
        )
        report.exit_code = 1
        return
    said = []
    if add:
        said.append(f"now lists {_shown([r for r, _ in add])}")
    if drop:
        said.append(
            f"no longer lists {_shown(drop)} ("
            + (
                "its manifest is deleted and it is not on disk)"
                if len(drop) == 1
                else "their manifests are deleted and they are not on disk)"
            )
        )
    if gitignore.stage_lines(ctx.repo, root, add, drop, index_file):
        report.lines.append(f"gitstore: .gitignore {' and '.join(said)}; staged")
        return
    if index_file is None and not add:  # git has no .gitignore: nothing of it to stage
        report.lines.append(f"gitstore: .gitignore {' and '.join(said)}")
        return
    report.lines.append(
        f"gitstore: .gitignore {' and '.join(said)} in this commit; those lines staged"
        " alone: your other changes to .gitignore stay unstaged"
    )


def _inside_tracked(paths: Sequence[str], mpaths: Sequence[str]) -> dict[str, list[str]]:
    """{tracked path: the ``paths`` inside it}: files that git would hold beside the cache."""
    rels = {mf.tracked_path(m) for m in mpaths}
    found: dict[str, list[str]] = {}
    for path in paths:
        parts = path.split("/")
        for i in range(len(parts), 0, -1):
            head = "/".join(parts[:i])
            if head in rels:
                found.setdefault(head, []).append(path)
                break
    return found


def _check_staged(
    ctx: Context,
    report: HookReport,
    worktree: Mapping[str, bytes],
    mpaths: Sequence[str],
    staged_now: _Staged | None = None,
) -> HookReport:
    """Every object a staged manifest brings must be in the cache; no payload file is staged in git.

    A file staged inside a tracked path (``mpaths``) refuses the commit. A staged manifest is usually the working tree's (``track`` staged it),
    already read by the comparison: then git's object store is not opened
    (dulwich's import alone costs ~40 ms). When ``track`` wrote the staged
    blob starting from HEAD's version, its record (:class:`TrackChanges`)
    names the objects the changed entries brought, and only those are looked
    up: the rest are HEAD's, checked when its commit was made. Otherwise the
    manifest is parsed and every object it names is looked up. Objects are
    looked up in the cache itself, not taken from the stat cache's memory of
    them: this is the check that catches an object deleted from the cache by hand.
    """
    repo = ctx.repo
    ws = ctx.workspace
    staged, others, deleted = staged_now if staged_now is not None else _staged(ctx)
    _keep_ignored(ctx, report, staged, deleted, worktree)
    if report.exit_code:
        return report
    inside = _inside_tracked(others, mpaths) if others else {}
    if inside:
        rel, paths = sorted(inside.items())[0]
        report.lines.append(
            f"gitstore: {_shown(sorted(paths))} staged in git, inside the tracked path {rel}"
            f" ({mf.manifest_path(rel)}), whose files belong in the cache; commit refused"
        )
        report.lines.append(
            f"hint: run `git rm -r --cached -q {rel}` (the files stay), then `gitstore track {rel}`,"
            " which also lists it in .gitignore"
        )
        report.exit_code = 1
        return report
    if _refused_nested(report, mpaths):
        return report
    if not staged:
        return report
    needed: dict[str, str] = {}
    said: dict[str, int] = {}  # oid -> the size a manifest read here gives it
    changes = TrackChanges.load(repo.state_dir)
    for mpath, head_blob, blob in staged:
        brought = changes.introduced(mpath, blob, head_blob)
        if brought is not None:
            for oid, path in brought.items():
                needed.setdefault(oid, path)
            continue
        rel = mf.tracked_path(mpath)
        data = worktree.get(mpath)
        manifest = None
        if data is not None and blob_id_of(data) == blob:
            manifest = ws.parse_manifest(mpath, data)  # None: conflict markers
        if manifest is None:
            data = repo.read_blob(blob)
            if mf.has_conflict_markers(data):
                report.lines.append(
                    f"gitstore: {mpath} still has merge conflict markers; commit refused"
                )
                report.lines.append(f"hint: run `gitstore resolve {rel} --ours|--theirs|--union`")
                report.exit_code = 1
                return report
            manifest = mf.parse_cached(data, blob, mpath)
        for e in manifest.entries:
            needed.setdefault(e.oid, f"{rel}/{e.path}" if manifest.kind == "dir" else rel)
            said.setdefault(e.oid, e.size)
    sizes = ctx.cache.sizes(needed)
    wrong = sorted(needed[o] for o, size in said.items() if sizes.get(o, size) != size)
    if wrong:  # a manifest edited by hand (or a damaged cache object): checkouts would fail
        report.lines.append(
            f"gitstore: staged manifests give {_shown(wrong)} a size that is not its object's;"
            " commit refused"
        )
        report.lines.append(
            "hint: run `gitstore track PATH` to write the manifest from the files on disk;"
            " `gitstore verify` says whether the cache is damaged"
        )
        report.exit_code = 1
        return report
    missing = sorted(set(needed) - sizes.keys())
    if missing:
        paths = sorted(needed[o] for o in missing)
        # the stat cache remembers these objects as cached: forget the files,
        # so that the `gitstore track` of the hint hashes and stores them again
        for path in paths:
            ws.statcache.forget(path)
        ws.statcache.save()
        stamps = Stamps.load(repo.state_dir)  # nor may a stamp let track keep their entries
        for mpath, _head_blob, _blob in staged:
            stamps.forget(mpath)
        stamps.save()
        report.lines.append(
            f"gitstore: {counted(len(missing), 'object')} named by staged manifests {'is' if len(missing) == 1 else 'are'} not in the cache: {_shown(paths)}; commit refused"
        )
        report.lines.append(
            "hint: run `gitstore fetch` to download them, or `gitstore track PATH` to record what is on disk"
        )
        report.exit_code = 1
    return report


# -- pre-push ------------------------------------------------------------------
def _refs_heard_since(repo: GitRepo, remote: str, since: float) -> list[str]:
    """The commits of ``remote``'s remote-tracking refs last updated (fetched, or
    pushed to) after ``since``: what the remote had after a collection seen then.
    A ref with no reflog (packed, never updated here) is not taken."""
    out = repo.git(
        "for-each-ref", "--format=%(objectname) %(refname)", f"refs/remotes/{remote}/"
    ).stdout.decode("utf-8", "replace")
    logs = Path(repo.common_dir) / "logs"
    found = []
    for line in out.splitlines():
        sha, _, ref = line.partition(" ")
        try:
            if (logs / ref).stat().st_mtime > since:
                found.append(sha)
        except OSError:
            continue
    return found


def pre_push(ctx: Context, args: Sequence[str], stdin: bytes, env: Mapping[str, str]) -> HookReport:
    """``args`` are git's (remote name, url); refs come on stdin, or from pre-commit's env."""
    repo = ctx.repo
    if (
        "PRE_COMMIT_TO_REF" in env
        or "PRE_COMMIT_REMOTE_NAME" in env
        or "PRE_COMMIT_LOCAL_BRANCH" in env
    ):
        remote = env.get("PRE_COMMIT_REMOTE_NAME") or (args[0] if args else "")
        local = env.get("PRE_COMMIT_TO_REF") or env.get("PRE_COMMIT_LOCAL_BRANCH") or "HEAD"
        updates = [(local, env.get("PRE_COMMIT_FROM_REF") or ZERO)]
    else:
        remote = args[0] if args else ""
        updates = []
        for line in stdin.decode("utf-8", "replace").splitlines():
            words = line.split()
            if len(words) == 4 and words[1] != ZERO:  # a deletion uploads nothing
                updates.append((words[1], words[3]))
    commits: set[str] = set()
    parents: set[str] = set()
    if not ctx.config.remotes:
        from .remotes import use_upstream

        use_upstream(ctx)  # a branch made from a commit older than the team's remote
    store = ctx.config.git_remote_map.get(remote) or ctx.config.default_remote
    # after another clone's `gc --remote`, this clone's remote-tracking refs may
    # name commits whose data it deleted (a force-push dropped them, a branch was
    # deleted, and this clone has not fetched since): only the refs git has just
    # read from the remote (stdin) and the remote-tracking refs updated since the
    # collection was first seen here are taken as what the remote has
    seen: float | None = None
    unreachable: GitstoreError | None = None
    heads: list[str] | None = None
    if updates and store is not None and remote:
        from . import transfer

        try:
            seen = transfer.remote_gc_seen(ctx, store)
        except StoreUnavailableError as exc:  # asking again below would wait out another deadline
            unreachable = transfer.remote_error(store, exc)
            unreachable.message = f"push to git remote '{remote}' refused: {unreachable.message}"
            unreachable.args = (unreachable.message,)
            # Without the store, its collections cannot be known, nor so whether
            # the remote-tracking refs still stand for data it keeps: only the
            # git remote's own refs, asked now, tell the commits it has (whose
            # data no collection deletes). A push that brings none (a tag or a
            # new branch name on pushed commits) or whose new commits name no
            # object needs nothing of the store.
            heads = _git_remote_heads(repo, remote, args, env)
            if heads is None:
                unreachable.message += (
                    f" (and git remote '{remote}' could not be asked which commits it has,"
                    " to tell whether this push brings data)"
                )
                unreachable.args = (unreachable.message,)
                raise unreachable from exc
        except GitstoreError:
            seen = None  # the push below says what is wrong with the remote
    if updates:
        # one rev-list for every ref (a push of 2,000 tags ran 2,000 of them):
        # what any pushed ref reaches and neither the remote's refs nor any
        # ref's old value there does (commits the remote has already)
        spec = [local for local, _ in updates]
        spec += [
            "^" + remote_sha
            for _, remote_sha in updates
            if remote_sha != ZERO and repo.try_resolve(remote_sha) is not None
        ]
        rev_args = ["rev-list", "--parents", "--stdin"]
        if heads is not None:  # the remote's refs it has here: absent ones are not ours
            spec += ["^" + sha for sha in heads]
            rev_args.append("--ignore-missing")
        elif remote and seen is None:
            rev_args += ["--not", f"--remotes={remote}"]
        elif remote and seen is not None:
            spec += ["^" + sha for sha in _refs_heard_since(repo, remote, seen)]
        out = repo.git(*rev_args, input="".join(f"{x}\n" for x in spec).encode()).stdout
        for line in out.decode("ascii", "replace").splitlines():
            commit, *above = line.split()
            commits.add(commit)
            parents.update(above)
    if not commits:
        return HookReport()
    from . import transfer

    target = f"git remote '{remote}'" if remote else "the git remote"
    try:
        objects = transfer.objects_of_commits(ctx, sorted(commits))
    except GitstoreError as exc:  # a manifest committed with conflict markers, say
        exc.message = f"push to {target} refused: {exc.message}"
        exc.args = (exc.message,)
        raise
    if not objects:
        return HookReport()
    # Objects the new commits bring (named by none of the commits they build
    # on) are asked of the store itself, never taken from this clone's index
    # of the remote: another clone's `gc --remote`, a restored backup or an
    # emptied bucket may have removed them since this clone saw them there.
    boundary = sorted(parents - commits)
    before = transfer.objects_of_commits(ctx, boundary) if boundary else {}
    # what the new commits name that the commits they build on do not: asked of the
    # store, and renewed there if it is an old object (see push_objects)
    introduced = brought = [oid for oid in objects if oid not in before]
    if unreachable is not None:
        # every object is named by a commit the git remote has (a code-only
        # commit), and this clone has seen each on this very store (a fork
        # mapped to its own store, or a store added since, has not had them):
        # pushed there with them, and kept for them by any collection
        if introduced or store is None or not _seen_on(ctx, store, objects):
            raise unreachable
        return HookReport(
            [
                f"gitstore: note: gitstore remote '{store}' could not be reached; the pushed"
                f" commits name only data that commits on git remote '{remote}' already name"
            ]
        )
    if store is None:
        raise GitstoreError(
            f"push to {target} refused: its commits name {counted(len(objects), 'object')} and no gitstore remote is configured to upload them to",
            hint="run `gitstore remote add NAME URL --default`",
        )
    try:
        # a push to another git remote than origin (a fork) is recorded as that
        # repository in the store's users/: its branches need these objects
        pushed_to = None if remote == "origin" else _pushed_url(repo, remote, args, env)
        result = transfer.push_objects(
            ctx,
            objects,
            remote=store,
            confirm=introduced,
            renew=brought,
            pushed_to=pushed_to,
        )
    except GitstoreError as exc:
        exc.message = f"push to {target} refused: {exc.message}"
        exc.args = (exc.message,)
        raise
    if result.failed:
        oid, why = next(iter(result.failed.items()))
        raise TransferError(
            f"push to {target} refused: {counted(len(result.failed), 'object')} could not be uploaded to gitstore remote '{store}': {why}",
            failed=list(result.failed),
            hint=(
                "the cache's copy is damaged: `gitstore verify --repair` mends it from the work tree"
                " or a remote that has it"
                if oid in result.damaged
                else "not in the cache: `gitstore fetch` it, or push from the clone that has it"
                if oid in result.uncached
                else "fix the remote"
            )
            + "; then push again (nothing was pushed to git)",
        )
    lines = []
    if result.transferred:
        from .progress import human_bytes, resumed_lines

        lines.append(
            f"gitstore: uploaded {counted(result.transferred, 'object')} ({human_bytes(result.bytes)})"
            f" to gitstore remote '{store}'"
        )
        lines += resumed_lines(result.resumed, "uploaded")
    lines += [f"gitstore: warning: {line}" for line in result.warnings]
    lacking = [local for local, _ in updates if _uncommitted_remote(ctx, store, local)]
    if lacking:
        shown = ", ".join(_short_ref(r) for r in lacking[:3])
        lines.append(
            f"gitstore: note: remote '{store}' is not in .gitstore/config.yaml as pushed ({shown}):"
            " a teammate's clone will not know where the data is until it is committed and pushed"
        )
    return HookReport(lines)


def _seen_on(ctx: Context, store: str, oids: Iterable[str]) -> bool:
    """Whether this clone's index of the gitstore remote ``store`` records every oid."""
    from . import transfer
    from .remotes import open_remote

    try:
        name, opened = open_remote(ctx, store, for_write=True)
    except GitstoreError:
        return False
    known = transfer.RemoteIndex(ctx, name, opened).load()
    return all(oid in known for oid in oids)


LS_REMOTE_TIMEOUT = 30.0  # seconds: the git remote answered git's push a moment ago


def _git_remote_heads(
    repo: GitRepo, remote: str, args: Sequence[str], env: Mapping[str, str]
) -> list[str] | None:
    """The commits the git remote's refs name now (``git ls-remote``: the remote
    git has just reached), None when it cannot be asked (no prompt is shown)."""
    where = env.get("PRE_COMMIT_REMOTE_URL") or (args[1] if len(args) > 1 else "") or remote
    try:
        proc = repo.git(
            "ls-remote",
            "--",
            where,
            check=False,
            timeout=LS_REMOTE_TIMEOUT,
            extra_env={"GIT_TERMINAL_PROMPT": "0", "SSH_ASKPASS_REQUIRE": "never"},
        )
    except GitstoreError:
        return None
    if proc.returncode != 0:
        return None
    lines = proc.stdout.decode("ascii", "replace").splitlines()
    return sorted({line.split()[0] for line in lines if _HEX40.match(line)})


def _pushed_url(
    repo: GitRepo, remote: str, args: Sequence[str], env: Mapping[str, str]
) -> str | None:
    """The URL a push goes to: git's second argument (pre-commit's env), else the
    push URL of the named git remote; None when it cannot be told."""
    url = env.get("PRE_COMMIT_REMOTE_URL") or (args[1] if len(args) > 1 else "")
    if not url and remote:
        proc = repo.git("remote", "get-url", "--push", remote, check=False)
        url = proc.stdout.decode("utf-8", "replace").strip() if proc.returncode == 0 else ""
    return url or None


def _short_ref(ref: str) -> str:
    return ref[:12] if _HEX40.fullmatch(ref) else ref.removeprefix("refs/heads/")


def _uncommitted_remote(ctx: Context, store: str, commit: str) -> bool:
    """Whether ``store`` is a remote of the committed config file, but not of ``commit``'s."""
    remote = ctx.config.remotes.get(store)
    if remote is None or remote.layer != "committed":
        return False  # a clone's or a user's own remote: kept out of git on purpose
    sha = ctx.repo.try_resolve(commit)
    if sha is None:
        return False
    try:
        data = ctx.repo.read_path(sha, cfg.COMMITTED_FILE)
    except GitstoreError:
        return False  # a tag of a tree or a blob: no config to look at
    if data is None:
        return True
    import yaml

    try:
        committed = yaml.safe_load(data)
    except yaml.YAMLError:
        return False  # the committed file's own problem, reported where it is read
    remotes = committed.get("remotes") if isinstance(committed, dict) else None
    return not isinstance(remotes, dict) or store not in remotes


# -- post-checkout / post-merge / post-rewrite -----------------------------------
def post_checkout(ctx: Context, args: Sequence[str], env: Mapping[str, str]) -> HookReport:
    old = args[0] if len(args) > 0 else env.get("PRE_COMMIT_FROM_REF", "")
    new = args[1] if len(args) > 1 else env.get("PRE_COMMIT_TO_REF", "")
    flag = args[2] if len(args) > 2 else env.get("PRE_COMMIT_CHECKOUT_TYPE", "1")
    if flag != "1" or not new:
        return HookReport()
    # a rebase's checkout of its new base: the end of the rebase (post-rewrite) brings
    # the data, unless there is nothing to pick, when no post-rewrite comes
    if ctx.repo.is_rebase_in_progress() and not ctx.repo.rebase_picks_nothing():
        return HookReport()
    report = _between(ctx, old, new)
    from .hookmain import forced, git_argv, git_command

    words = git_argv()
    if git_command(words) == "rebase" and old and new != ZERO:
        # the apply backend checks out its new base before its rebase folder exists:
        # its end (post-rewrite) brings what this checkout changed whole to the new
        # tip, the paths it took away included (the branch added them)
        changed = ctx.repo.changed_manifests(old if old != ZERO else None, new)
        RebaseTouched.note(ctx.repo, [m for m, _o, _n in changed], starting=True)
    elif forced(words):
        # `git checkout -f`, `git switch --discard-changes`: git also put back the
        # manifests that do not differ between the two commits (a `track` not
        # committed yet), as `git reset --hard` does: their paths follow them too;
        # and it cancels a stopped merge or cherry-pick, as `--abort` does: the path
        # that added goes with its manifest and .gitignore line
        reached = Reached.load(ctx.repo.state_dir)
        stopped = Provisional.on(ctx.repo.state_dir, old)
        found = _untracked_by_undo(ctx, reached, set(), old)
        undone = [change for change in found if stopped.get(change[0])]
        _add_lines(report, materialise_changes(ctx, _unreached(ctx) + undone))
        _say_undone(ctx, report, undone)
        # one a `--no-commit` or `-n` brought: nothing proves the checkout took it away;
        # and one brought into a folder that was there (the folder is the user's)
        unproven = [m for m, _o, _n in found if not stopped.get(m)]
        _say_unignored(ctx, report, unproven + _joined_left(ctx, reached, set(), old))
        # the paths the operation took away came back with the checkout's manifests
        Provisional.forget_kind(ctx.repo.state_dir, Provisional.REMOVED)
    return report


def _add_lines(report: HookReport, more: HookReport) -> None:
    """``more``'s lines after ``report``'s, but those already said (a file left alone
    that a second pass over the same path names again)."""
    report.lines += [line for line in more.lines if line not in report.lines]


def _unreached(
    ctx: Context,
    moved: Collection[str] = (),
    stash: Sequence[str] | None = None,
    reached: Reached | None = None,
    indexed: Mapping[str, str] | None = None,
) -> list[tuple[str, str | None, str | None]]:
    """The work tree's manifests whose tracked path was not last brought whole to their
    bytes (:class:`Reached`): git wrote them with no hook to follow.

    A path not there at all is left out (never checked out here), unless its
    manifest is one of ``moved`` (the command changed it in the index). In a
    stash's pop or apply (``stash``: git's command line), such a path is left
    out only when the stash holds its files (``git stash -a`` took them, and
    the pop puts them back: files in the way would fail it); a stash of a path
    tracked since the last commit took its files away, and the pop brings them.
    A conflicted manifest waits for ``gitstore resolve``; a path checked out
    in part on purpose stays so. ``reached`` and ``indexed`` (the index's
    manifests): as the caller has them read already.
    """
    repo = ctx.repo
    if reached is None:
        reached = Reached.load(repo.state_dir)
    if indexed is None:
        indexed = repo.index_manifests()
    root = ctx.workspace.root
    partly = {r for r, why in load_pending(ctx).items() if why == marks_file.PARTIAL}
    out: list[tuple[str, str | None, str | None]] = []
    absent: list[tuple[str, str]] = []  # (manifest, path) moved, whose path is not there
    for mpath in sorted(set(moved) | reached.records.keys() | indexed.keys()):
        rel = mf.tracked_path(mpath)
        try:
            data = (root / mpath).read_bytes()
        except OSError:
            continue
        if mf.has_conflict_markers(data) or rel in partly:
            continue  # one for resolve; or checked out in part on purpose
        if not os.path.lexists(root / rel):
            # the command put the manifest back (a revert of a removal by hand): brought,
            # whatever bytes the path was once brought to; a stash's pop: see above
            if mpath in moved and stash is not None:
                absent.append((mpath, rel))
            if mpath not in moved or stash is not None:
                continue
        elif reached.left(mpath, data):
            continue  # its files were brought to these very bytes
        out.append((mpath, None, ""))  # "": there, never taken for a manifest gone
    if absent and stash is not None:
        held = _stash_holds(repo, stash, [rel for _m, rel in absent])
        out += [(m, None, "") for m, rel in absent if rel not in held]
    return out


def _stash_holds(repo: GitRepo, git_argv: Sequence[str], rels: list[str]) -> set[str]:
    """Those of ``rels`` that the untracked files of the stash ``git stash pop|apply
    [STASH]`` applies hold (``-u``/``-a``: its third parent); none without them."""
    words = list(git_argv)
    words = words[words.index("stash") + 1 :] if "stash" in words else []
    named = [w for w in words if not w.startswith("-")][1:]  # after pop/apply/branch
    if words and not words[0].startswith("-") and words[0] == "branch":
        named = named[1:]  # `git stash branch NAME [STASH]`
    stash = named[0] if named else "stash@{0}"
    if stash.isdigit():
        stash = f"stash@{{{stash}}}"
    proc = repo.git(
        "ls-tree",
        "-z",
        "--name-only",
        f"{stash}^3",
        "--",
        *rels,
        check=False,
        extra_env={"GIT_LITERAL_PATHSPECS": "1"},
    )
    if proc.returncode != 0:
        return set()
    return {os.fsdecode(p) for p in proc.stdout.split(b"\0") if p}


def post_merge(ctx: Context, args: Sequence[str], env: Mapping[str, str]) -> HookReport:
    squash = (args[0] if args else env.get("PRE_COMMIT_IS_SQUASH_MERGE", "0")) == "1"
    repo = ctx.repo
    if repo.is_rebase_in_progress():
        return HookReport()
    head = repo.head()
    if head is None:
        return HookReport()
    if squash:
        at_head = repo.list_manifests(head)
        staged = repo.index_manifests()
        changes = [(m, at_head.get(m), staged.get(m)) for m in sorted(set(at_head) | set(staged))]
        return materialise_changes(ctx, [c for c in changes if c[1] != c[2]])
    return _between(ctx, repo.try_resolve("ORIG_HEAD") or "", head)


def post_rewrite(
    ctx: Context, args: Sequence[str], stdin: bytes, env: Mapping[str, str]
) -> HookReport:
    command = args[0] if args else env.get("PRE_COMMIT_REWRITE_COMMAND", "amend")
    repo = ctx.repo
    head = repo.head()
    if head is None:
        return HookReport()
    if command == "rebase":  # the end of a rebase: from the tip before it to the new one
        touched = RebaseTouched.take(repo.state_dir)
        # the tip it started from: git still has it in its rebase folder here, where
        # ORIG_HEAD may be a later reset's (an `exec git reset ...` line sets it)
        started = repo.rebase_orig_head() or repo.try_resolve("ORIG_HEAD") or ""
        # each changed manifest's path is brought whole, never by the delta of its
        # lines: the work tree need not hold the old tip's data (the apply backend
        # checks out the new base, hooks and all, before its rebase folder exists)
        report = _between(ctx, started, head, by_lines=False)
        # paths `gitstore resolve` materialised at a stop hold that stop's data, not
        # the old tip's; and with the apply backend, a path only the branch changed
        # holds the new base's: each is brought whole to the new tip
        root = ctx.workspace.root
        again: list[tuple[str, str | None, str | None]] = [
            (m, None, "touched") for m in touched if (root / m).is_file()
        ]
        # and one the new tip lacks, whose path that checkout brought (the branch removed
        # it; the apply backend's checkout of the new base brought it back): it goes
        again += [
            (m, None, None)
            for m in touched
            if not os.path.lexists(root / m) and os.path.lexists(root / mf.tracked_path(m))
        ]
        again += [c for c in _unreached(ctx) if c[0] not in touched]
        if again:
            _add_lines(report, materialise_changes(ctx, again))
        RebaseTouched.take(repo.state_dir)  # what this very hook's checkouts noted
        return report
    # `git commit --amend`: like any commit, it records the index and leaves the work
    # tree as it is, so there is nothing to bring: a manifest the amend drops (`git rm
    # X.gitstore`) keeps its files, as in a plain commit (bringing the old commit's
    # manifests to the new one's deleted them)
    return HookReport()


def post_applypatch(ctx: Context) -> HookReport:
    """After each patch ``git am`` commits: bring the tracked paths its manifests changed.

    ``git am`` writes the patch's manifests and commits them, and no other
    hook of gitstore's follows it. Each changed manifest's path is brought
    whole (the work tree need not hold the parent's data: an earlier patch
    of the series stopped at a conflict, say). A rebase of the apply backend
    (``git am --rebasing``) is left to its post-rewrite.
    """
    repo = ctx.repo
    if (repo.git_dir / "rebase-apply" / "rebasing").exists():
        return HookReport()
    head = repo.head()
    if head is None:
        return HookReport()
    parents = repo.commit_info(head).parents
    # the patch's own manifests only: every patch of a series would otherwise name
    # again a file left alone, or a path a fetch could not bring, that it never touched
    report = _between(ctx, parents[0] if parents else "", head, by_lines=False)
    _said_once_in_am(repo, report)
    return report


def _said_once_in_am(repo: GitRepo, report: HookReport) -> None:
    """Drop the lines an earlier hook of this ``git am`` run said already (a file left
    alone is named at each patch, and again as ``--abort`` or ``--skip`` writes the
    index), and note the new ones: git removes its rebase-apply folder, and this note
    in it, when the run ends."""
    said = repo.git_dir / "rebase-apply" / "gitstore-said"
    if not said.parent.is_dir():
        return
    try:
        before = set(said.read_text("utf-8").splitlines())
    except (OSError, UnicodeDecodeError):
        before = set()
    report.lines = [line for line in report.lines if line.replace("\n", " ") not in before]
    if report.lines:
        with contextlib.suppress(OSError), open(said, "a", encoding="utf-8") as f:
            f.write("".join(line.replace("\n", " ") + "\n" for line in report.lines))


def post_index_change(ctx: Context, git_argv: Sequence[str] | None) -> HookReport:
    """After git rewrote manifests in the work tree with no other hook to follow (a reset,
    revert, cherry-pick, stash): bring their tracked paths in line.

    git runs this hook as soon as it has written the index, before it moves
    HEAD (a reset, each pick of a cherry-pick or revert): the manifests that
    differ between HEAD and the index are the ones the command changed. A
    stash, and a stash pop without ``--index``, change the work tree's
    manifest and not the index: a manifest that differs from the bytes its
    path was last brought whole in line with (:class:`Reached`) is brought
    too (a path removed is forgotten there, so that a reset away and back
    brings it). A path already in line with its manifest (the user's own
    ``track``) is left alone, and so is one brought to these bytes whose
    files are absent: ``git stash -a`` took them into the stash, and its
    pop puts them back (files in the way would fail the pop). A
    conflicted manifest waits for ``gitstore resolve``; nothing runs during a
    rebase (its end brings the data) but at ``git rebase --abort``, nor in a
    merge that post-merge will follow (a clean merge that commits), nor for a
    temporary index of git's (a stash's untracked files are read into one).
    Checkout's rule holds: a file whose content is not in the cache is never
    replaced.
    """
    from .hookmain import git_command, has_option, stash_action

    index_file = os.environ.get("GIT_INDEX_FILE", "")
    if index_file and os.path.basename(index_file) != "index":
        return HookReport()  # not the work tree's index: git's own scratch
    command = git_command(git_argv)
    repo = ctx.repo
    aborting = command == "rebase" and has_option(git_argv, "--abort")
    if repo.is_rebase_in_progress() and not aborting:
        return HookReport()
    if command == "stash" and stash_action(git_argv) not in ("pop", "apply", "branch"):
        # a stash being made writes git's scratch indexes in-process (what the hook
        # then reads is the user's index, staged removals and all); its work tree is
        # reset by a `git reset --hard` of its own, whose hook does the work
        return HookReport()
    if command == "merge" and not (
        has_option(git_argv, "--abort") or has_option(git_argv, "--no-commit")
    ):
        if not repo.ls_unmerged():
            return HookReport()  # a clean merge: post-merge brings its data
    staged, _others, deleted = _staged(ctx)  # HEAD against the index; conflicts left out
    reached = Reached.load(repo.state_dir)
    moved = {m for m, _old, _new in staged}
    # a manifest gone from the index is the command's doing only where gitstore brought
    # its path (untrack forgets it: its files are the user's, as `git rm` leaves them),
    # and never in a stash's pop: it replays the work tree's state, an untrack's too
    changes: list[tuple[str, str | None, str | None]] = [
        (m, None, None) for m in deleted if m in reached.records and command != "stash"
    ]
    if command == "stash" and deleted:  # as the untrack it replays: the files are the user's
        Reached.mark(repo.state_dir, dict.fromkeys(deleted))
        reached = Reached.load(repo.state_dir)
    indexed = repo.index_manifests()
    head = repo.head()
    undone = (
        _untracked_by_undo(ctx, reached, set(deleted), head, indexed) if command != "stash" else []
    )
    unproven: list[str] = []
    if undone and not _in_operation(repo):
        # no merge, cherry-pick, revert or am under way: nothing proves this command
        # took the manifest away (a `cherry-pick -n` the user then untracked by hand)
        unproven, undone = [m for m, _o, _n in undone], []
    if command != "stash":  # and one brought into a folder that was there: named, not removed
        unproven += _joined_left(ctx, reached, set(deleted), head, indexed)
    if command == "reset":
        undone += _stashed_away(ctx, reached, set(deleted), head, indexed)
    changes += undone
    # and every manifest whose path holds files it was not brought whole to: a path
    # with a file left alone (content not in the cache) has no record, yet its other
    # files follow the manifest
    stash = (git_argv or ()) if command == "stash" else None
    changes += _unreached(ctx, moved, stash, reached, indexed)
    changes += _back_with_manifest(ctx, head, changes, command)
    _note_provisional(ctx, head, changes, command)
    report = materialise_changes(ctx, sorted(changes))
    if command == "am":
        _said_once_in_am(repo, report)
    _say_undone(ctx, report, undone)
    _say_unignored(ctx, report, unproven)
    if aborting:  # what `gitstore resolve` brought at the rebase's stops is undone now
        RebaseTouched.take(repo.state_dir)
    return report


def _stashed_away(
    ctx: Context,
    reached: Reached,
    deleted: set[str],
    head: str | None,
    indexed: Mapping[str, str],
) -> list[tuple[str, str | None, str | None]]:
    """In the ``git reset --hard`` that ``git stash`` runs once it has stored the stash:
    the paths tracked since the last commit whose manifest and .gitignore line the stash
    took (its tree holds the manifest): their files go too, their content in the cache,
    and its pop brings them back. Not for any other reset: the stash's own tree is the
    proof that the manifest went with it."""
    from .hookmain import git_ancestry, git_command, has_option, stash_action

    stashing = [
        w
        for w in git_ancestry()
        if git_command(w) == "stash" and stash_action(w) in ("push", "save")
    ]
    if not stashing:
        return []
    root = ctx.workspace.root
    maybe = [m for m in reached.records if not os.path.lexists(root / m) and m not in deleted]
    if not maybe:
        return []
    listed = ctx.repo.git(
        "ls-tree",
        "-z",
        "--name-only",
        "stash@{0}",
        "--",
        *maybe,
        check=False,
        extra_env={"GIT_LITERAL_PATHSPECS": "1"},
    ).stdout
    stashed = {os.fsdecode(p) for p in listed.split(b"\0") if p}
    words = stashing[0]
    if stashed and (has_option(words, "--keep-index") or "-k" in words):
        # git puts the staged manifests and .gitignore back once this reset is done:
        # their paths stay as they are, where the staged .gitignore lists them too
        # (else their files would wait unignored until the pop)
        from . import gitignore

        kept = ctx.repo.git(
            "ls-tree",
            "-z",
            "--name-only",
            "stash@{0}^2",
            "--",
            *sorted(stashed),
            check=False,
            extra_env={"GIT_LITERAL_PATHSPECS": "1"},
        ).stdout
        staged_lines = set(
            gitignore.split_lines(
                ctx.repo.git("show", "stash@{0}^2:.gitignore", check=False).stdout
            )
        )
        stashed -= {
            m
            for m in (os.fsdecode(p) for p in kept.split(b"\0") if p)
            if any(
                gitignore.entry_for(mf.tracked_path(m), d) in staged_lines for d in (True, False)
            )
        }
    if not stashed:
        return []
    return _untracked_by_undo(ctx, reached, deleted, head, indexed, among=stashed)


def _say_undone(
    ctx: Context, report: HookReport, undone: Sequence[tuple[str, str | None, str | None]]
) -> None:
    """Name the paths :func:`_untracked_by_undo` found whose files are gone now: a path
    tracked while a merge was stopped has no manifest left but a dangling blob."""
    root = ctx.workspace.root
    gone = [mf.tracked_path(m) for m, _o, _n in undone]
    gone = [rel for rel in gone if not os.path.lexists(root / rel)]
    if gone:
        one = len(gone) == 1
        report.lines.append(
            f"gitstore: removed {_shown(gone)} with {'its manifest' if one else 'their manifests'}"
            f" and .gitignore {'line' if one else 'lines'}, which git has just taken away (the"
            " change that added them is undone); the content stays in the cache"
        )


def _say_unignored(ctx: Context, report: HookReport, mpaths: Sequence[str]) -> None:
    """Name the paths whose manifest and .gitignore line are gone while their files stay
    (nothing proved they were the command's to remove): `git add -A` would take them."""
    if not mpaths:
        return
    Provisional.forget(ctx.repo.state_dir, mpaths)
    rels = [mf.tracked_path(m) for m in mpaths]
    # only where `git add -A` would take something: not a folder git keeps whole itself
    offered = ctx.repo.git(
        "--literal-pathspecs", "ls-files", "-z", "-o", "--exclude-standard", "--", *rels
    ).stdout.split(b"\0")
    found = [os.fsdecode(p) for p in offered if p]
    rels = [r for r in rels if any(p == r or p.startswith(r + "/") for p in found)]
    if not rels:
        return
    report.lines.append(
        f"gitstore: {_shown(rels)} {'is' if len(rels) == 1 else 'are'} neither tracked nor"
        f" ignored now (no manifest, no .gitignore line): `gitstore track {rels[0]}` keeps"
        " it in the cache, or remove it; `git add -A` would put it into git"
    )


_STOPS = ("MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD")
# the commands that may stop part-way with their state files (written after the index)
_OPERATIONS = ("merge", "cherry-pick", "revert", "am")


def _in_operation(repo: GitRepo) -> bool:
    """Whether git's state files say a merge, cherry-pick, revert or ``git am`` is under
    way (an abandoning ``--abort``, ``--skip``, ``reset --hard`` writes the index before
    it removes them)."""
    git_dir = repo.git_dir
    return (
        any((git_dir / name).exists() for name in _STOPS)
        or (git_dir / "rebase-apply" / "applying").exists()
    )


def _note_provisional(
    ctx: Context,
    head: str | None,
    changes: Sequence[tuple[str, str | None, str | None]],
    command: str | None,
) -> None:
    """In a merge, cherry-pick, revert or ``git am`` (``command``, or one under way: git
    writes ``MERGE_HEAD`` and the like after the index), note the paths these changes
    are about to bring whose manifests HEAD lacks and whose files are not on disk yet
    (:class:`Provisional`): the operation adds them, and abandoning it takes them away.
    A path whose files were there already is the user's, and stays so: it is noted as
    joined, so that abandoning names it. A path of HEAD's whose manifest the operation
    takes away is noted as removed, so that abandoning brings it back."""
    if head is None or not changes:
        return
    if command not in _OPERATIONS and not _in_operation(ctx.repo):
        return
    root = ctx.workspace.root
    brought = [m for m, _old, new in changes if new is not None and os.path.lexists(root / m)]
    gone = [
        m
        for m, _old, new in changes
        if new is None
        and not os.path.lexists(root / m)
        and os.path.lexists(root / mf.tracked_path(m))
    ]
    if not brought and not gone:
        return
    at_head = ctx.repo.list_manifests(head)
    stopped = bool(ctx.repo.ls_unmerged())
    added = [m for m in brought if m not in at_head]
    state = ctx.repo.state_dir
    new = [m for m in added if not os.path.lexists(root / mf.tracked_path(m))]
    if new:
        Provisional.note(state, head, new, stopped)
    joined = [m for m in added if m not in new]
    if joined:
        Provisional.note(state, head, joined, stopped, Provisional.JOINED)
    removed = [m for m in gone if m in at_head]
    if removed:
        Provisional.note(state, head, removed, stopped, Provisional.REMOVED)


def _joined_left(
    ctx: Context,
    reached: Reached,
    deleted: set[str],
    head: str | None,
    indexed: Mapping[str, str] | None = None,
) -> list[str]:
    """The manifests of paths an abandoned operation brought into folders that were there
    already (:class:`Provisional`, noted as joined): manifest and ``.gitignore`` line
    gone, files left neither tracked nor ignored. The folder is the user's, so what is
    in it is named, not removed."""
    if head is None:
        return []
    joined = Provisional.of_kind(ctx.repo.state_dir, head, Provisional.JOINED)
    if not joined:
        return []
    return [m for m, _o, _n in _untracked_by_undo(ctx, reached, deleted, head, indexed, joined)]


def _back_with_manifest(
    ctx: Context,
    head: str | None,
    changes: Sequence[tuple[str, str | None, str | None]],
    command: str | None,
) -> list[tuple[str, str | None, str | None]]:
    """The paths a stopped operation removed with their manifests (:class:`Provisional`,
    noted on ``head``) whose manifests are back, the files not: the operation was
    abandoned (``--abort``, ``reset --hard``, ``reset --merge``), and its HEAD, where
    they are tracked, did not move; they come back as the manifests did."""
    if head is None:
        return []
    if command not in _OPERATIONS and not _in_operation(ctx.repo):
        # the operation ended (committed, or abandoned with a forced checkout): these
        # notes no longer say anything about the work tree
        Provisional.forget_kind(ctx.repo.state_dir, Provisional.REMOVED)
        return []
    root = ctx.workspace.root
    taken = {m for m, _o, _n in changes}
    back = [
        m
        for m in Provisional.of_kind(ctx.repo.state_dir, head, Provisional.REMOVED)
        if m not in taken
        and (root / m).is_file()
        and not os.path.lexists(root / mf.tracked_path(m))
    ]
    Provisional.forget(ctx.repo.state_dir, back)
    return [(m, None, "") for m in back]


def _untracked_by_undo(
    ctx: Context,
    reached: Reached,
    deleted: set[str],
    head: str | None,
    indexed: Mapping[str, str] | None = None,
    among: Collection[str] | None = None,
) -> list[tuple[str, str | None, str | None]]:
    """Manifests gitstore brought that git has taken away with their ``.gitignore`` line,
    in neither HEAD nor the index: the path a stopped merge, cherry-pick or ``git am -3``
    added, undone by its ``--abort`` (``--skip``, ``reset --hard``, a forced checkout).
    Its files, left neither tracked nor ignored, would go into git with the next ``git
    add -A``.

    Only a path noted as that operation's (:class:`Provisional`, on ``head``: the HEAD
    the operation stopped on, which the undoing command has not moved yet) counts: a
    path the user stopped tracking by hand is theirs, whatever later command runs;
    ``among``: these manifests instead of the noted ones (a stash's). A
    manifest the user removed with ``git rm`` keeps its ``.gitignore`` line (so its
    files stay ignored, and stay). The caller removes the files only where git's own
    state proves the operation is being abandoned, and else names them.
    """
    from . import gitignore

    root = ctx.workspace.root
    if among is not None:
        noted = dict.fromkeys(among, True)
    else:
        noted = Provisional.on(ctx.repo.state_dir, head) if head else {}
    candidates = [
        m
        for m in noted
        if (among is not None or m in reached.records)  # ``among``: the callers' own proof
        and m not in deleted
        and not os.path.lexists(root / m)
    ]
    if not candidates:
        return []
    staged = ctx.repo.index_manifests() if indexed is None else indexed
    current = ctx.repo.head()  # where HEAD is now (``head`` may be a checkout's old one)
    at_head = ctx.repo.list_manifests(current) if current is not None else {}
    ignored = set(gitignore.read_lines(root / ".gitignore"))
    out: list[tuple[str, str | None, str | None]] = []
    for mpath in candidates:
        rel = mf.tracked_path(mpath)
        if mpath in staged or mpath in at_head or not os.path.lexists(root / rel):
            continue
        if any(gitignore.entry_for(rel, d) in ignored for d in (True, False)):
            continue  # still ignored: the user's `git rm` of the manifest alone
        out.append((mpath, None, None))
    Provisional.forget(ctx.repo.state_dir, [m for m, _o, _n in out])
    return out


def _between(ctx: Context, old: str, new: str, by_lines: bool = True) -> HookReport:
    """Bring the tracked paths whose manifests differ from ``old`` to ``new``; with
    ``by_lines``, writing only the entries that changed where the path can tell."""
    repo = ctx.repo

    def commit(rev: str) -> str | None:  # git passes full ids: no lookup needed
        return rev if _HEX40.fullmatch(rev) else repo.try_resolve(rev)

    old_commit = commit(old) if old and old != ZERO else None
    if new == ZERO:  # git switch --orphan: no commit, no manifests (git removed them)
        if old_commit is None:
            return HookReport()
        gone = [(m, blob, None) for m, blob in repo.list_manifests(old_commit).items()]
        return materialise_changes(ctx, gone)
    new_commit = commit(new)
    if new_commit is None:
        return HookReport()
    if old_commit == new_commit:  # a checkout of HEAD itself (after clone --no-checkout, say)
        return materialise_changes(ctx, _absent(ctx, new_commit))
    if old_commit is None or not by_lines:
        return materialise_changes(ctx, repo.changed_manifests(old_commit, new_commit))
    from .hookdelta import read_changes

    return materialise_changes(ctx, read_changes(repo, old_commit, new_commit))


def _absent(ctx: Context, commit: str) -> list[tuple[str, str | None, str | None]]:
    """The manifests at ``commit`` (in the work tree too) whose tracked path is not there at all.

    git calls this after every ``git switch -c``/``git checkout -b`` (the same
    commit on both sides), where every tracked path is normally in place. The
    manifests in git's index (the commit's, unless some were staged since)
    answer that first: listing the commit's trees costs dulwich's import and a
    read of every tree (~30 ms on W2, 0.2 s in a code base of 100,000 files);
    the index, one ``git ls-files`` (15 ms there).
    """
    root = ctx.workspace.root
    staged = ctx.repo.ls_files(["*" + mf.SUFFIX])
    if all(os.path.lexists(root / mf.tracked_path(m)) for m in staged if m.endswith(mf.SUFFIX)):
        return []
    return [
        (m, None, blob)
        for m, blob in ctx.repo.list_manifests(commit).items()
        if (root / m).is_file() and not os.path.lexists(root / mf.tracked_path(m))
    ]


def materialise_changes(
    ctx: Context, changes: Sequence[tuple[str, str | None, str | None] | hookdelta.Change]
) -> HookReport:
    """Make the tracked paths of changed manifests match the working tree's manifests.

    A tracked path whose manifest went away has its files deleted when all of
    their content is in the cache (so it can come back), and is left alone
    with a note otherwise. Never raises for a missing object or a remote that
    is down: it reports, one line per tracked path. A change that comes with
    its changed lines (:func:`hookdelta.read_changes`) writes only those
    entries when it can.

    One at a time in a work tree (:class:`_Bringing`): a second git command's
    hook waits for the first one's fetch, and a manifest that git rewrote
    after this one read it is left to the hook of the command that did
    (``CheckoutResult.superseded``). A hook that cannot get its turn marks its
    paths, for ``gitstore pull`` to finish.
    """
    from .errors import LockHeldError

    if not changes:
        return HookReport()
    rels = sorted({mf.tracked_path(_change_path(c)) for c in changes})
    state_dir = ctx.repo.state_dir
    bringing = _Bringing(ctx)
    waited: set[str] = set()  # marked here before waiting for the turn
    try:
        if not bringing.enter(wait=False):
            # another hook's turn: marked while this one waits, so that a kill of it
            # leaves them so (git has written the manifests already)
            before = marks_file.update(
                state_dir, dict.fromkeys(rels, marks_file.INTERRUPTED), keep=True
            )
            waited = {r for r in rels if r not in before}  # a mark there before is real
            bringing.enter(wait=True)
    except GitstoreError as exc:  # its turn did not come (lock_timeout), or no lock at all
        marks_file.update(state_dir, dict.fromkeys(rels, marks_file.INTERRUPTED), keep=True)
        why = (
            "another git command's hook is still bringing data here"
            if isinstance(exc, LockHeldError)
            else exc.message
        )
        return HookReport(
            [
                f"gitstore: left {_shown(rels)} as {'it is' if len(rels) == 1 else 'they are'}:"
                f" {why}; run `gitstore pull` once it has ended"
            ]
        )
    try:
        return _materialise(ctx, changes, bringing, waited)
    finally:
        bringing.__exit__()


def _change_path(change: tuple[str, str | None, str | None] | hookdelta.Change) -> str:
    return change.path if not isinstance(change, tuple) else change[0]


def _materialise(
    ctx: Context,
    changes: Sequence[tuple[str, str | None, str | None] | hookdelta.Change],
    bringing: _Bringing,
    waited: Collection[str] = (),
) -> HookReport:
    """:func:`materialise_changes`, its turn taken (``waited``: the paths it marked
    while it waited, as if unmarked here). The marks of its own paths alone are
    written: other processes may mark others meanwhile."""
    from . import hookdelta
    from .checkout import Checkout, CheckoutResult

    report = HookReport()
    ws = ctx.workspace
    root = ws.root
    pending = load_pending(ctx)
    for rel in waited:
        if pending.get(rel) == marks_file.INTERRUPTED:
            del pending[rel]
    own = {mf.tracked_path(_change_path(c)) for c in changes}

    def save_own() -> None:
        marks_file.update(
            ctx.repo.state_dir,
            {r: pending[r] for r in own if r in pending},
            drop=[r for r in own if r not in pending],
        )

    present: dict[str, bytes] = {}
    needed: set[str] = set()
    deltas: dict[str, hookdelta.Delta] = {}
    read: dict[str, bytes] = {}  # the deltas' manifests, as read
    handled: list[str] = []
    gone: list[str] = []
    new_here: set[str] = set()  # manifests not there before the change
    for change in changes:
        mpath, old, new = change.as_tuple() if isinstance(change, hookdelta.Change) else change
        if not old or old == ZERO:
            new_here.add(mpath)
        try:
            data = (root / mpath).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            if new is None:
                gone.append(mpath)
            continue
        rel = mf.tracked_path(mpath)
        if isinstance(change, hookdelta.Change) and old and rel not in pending:
            delta = hookdelta.patch_delta(change, data)
            if delta is not None and hookdelta.looks_materialised(ws, rel, delta[2]):
                deltas[mpath] = delta
                read[mpath] = data
                handled.append(mpath)
                continue
        if mf.has_conflict_markers(data):
            report.lines.append(
                f"gitstore: {mpath} has merge conflict markers; run `gitstore resolve`"
            )
            continue
        try:
            needed.update(e.oid for e in mf.parse(data, mpath).entries)
        except ManifestError as exc:
            report.lines.append(f"gitstore: {exc.message}")
            continue
        present[mpath] = data
        handled.append(mpath)
    added = [m for m in present if m in new_here]
    if added:  # a manifest there now nesting with another: a merge of two ways of tracking
        from .workspace import nesting_lines

        clash = nesting_lines(ws.manifest_paths())
        for m in [m for m in added if m in clash]:
            report.lines.append(f"gitstore: left {mf.tracked_path(m)} as it is: {clash[m]}")
            del present[m]
            handled.remove(m)
        # and one whose files git's index holds (a merge of a branch that moved the
        # path into gitstore with one that keeps it in git): git's files are not ours
        added = [m for m in added if m in present]
        in_git = _tracked_by_git(ws, [mf.tracked_path(m) for m in added])
        for m in added:
            rel = mf.tracked_path(m)
            if rel in in_git:
                report.lines.append(
                    f"gitstore: left {rel} as it is: git tracks its files, and {m} tracks it"
                    f" too (the branches keep it differently); keep one: `git rm -r --cached"
                    f" {shlex.quote(rel)}` then `gitstore checkout {shlex.quote(rel)}`, or"
                    f" `git rm --cached {shlex.quote(m)}`"
                )
                del present[m]
                handled.remove(m)
    needed.update(e.oid for write, _, _ in deltas.values() for e in write)

    def unfinished() -> None:
        # as an interrupted checkout's: the next checkout clears them, and status and
        # pre-commit say so; git has written the manifests already
        for mpath in handled:
            pending[mf.tracked_path(mpath)] = marks_file.INTERRUPTED
        save_own()

    # named before they are marked: a commit made meanwhile in another terminal
    # tells these paths, under way, from ones a stopped checkout left
    bringing.paths([mf.tracked_path(m) for m in handled])
    try:
        # marked before a fetch, the slow step: a Ctrl-C or a kill there leaves the
        # old version's files under the new manifests, which must not pass for edits
        reasons, down = _fetch_missing(ctx, needed, before=unfinished if handled else None)
        result = (
            Checkout(ws).run(present, write_manifests=False, as_read=True)
            if present
            else CheckoutResult()
        )
        if deltas:
            result.merge(hookdelta.apply_deltas(ws, deltas, as_read=read))
    except BaseException:
        # stopped part-way (a folder where a file should be, a full disk, Ctrl-C): every
        # path it had to bring in line is marked, so that status says so and
        # no commit records what is left of the old version as new (the hook prints why)
        unfinished()
        raise
    if result.superseded:
        # rewritten by a second git command since this hook read them: nothing was
        # written for them here. Marked until that command's hook (waiting for its
        # turn) or `gitstore pull` brings them in line with what is there now, unless
        # the files were last brought to those very bytes (a reset back to them)
        reached = Reached.load(ws.repo.state_dir)
        for mpath in result.superseded:
            rel = mf.tracked_path(mpath)
            now = manifest_bytes(root, mpath)
            if now is not None and reached.left(mpath, now):
                pending.pop(rel, None)
            else:
                pending[rel] = marks_file.INTERRUPTED
            handled.remove(mpath)
    report.lines += [f"gitstore: {exc.message}" for exc in result.invalid]
    # a manifest of a path gitstore never writes (.git.gitstore) was never acted on
    gone = [m for m in gone if mf.tracked_path_problem(mf.tracked_path(m)) is None]
    in_git = _tracked_by_git(ws, [mf.tracked_path(m) for m in gone])
    # the tracked paths at the new HEAD: a path no longer tracked may lie inside
    # one (d/x, now part of d) or hold some (d, now tracked as d/x): their files stay
    tracked_now = [mf.tracked_path(m) for m in ws.manifest_paths()] if gone else []
    for mpath in gone:
        rel = mf.tracked_path(mpath)
        if rel in in_git or any(rel.startswith(t + "/") or rel == t for t in tracked_now):
            # git tracks files there at the new HEAD (a commit from before the
            # path moved into gitstore): git has just written them; or a tracked
            # path's manifest governs them now: leave them
            pending.pop(rel, None)
            continue
        inner = [t for t in tracked_now if t.startswith(rel + "/")]
        kept = _remove_untracked(ws, rel, spare=inner)
        if kept:
            report.lines.append(
                f"gitstore: {mf.tracked_path(mpath)} is no longer tracked here; its files were"
                f" removed but for {len(kept)} whose content is not in the cache: {_shown(kept)}"
            )
        pending.pop(mf.tracked_path(mpath), None)
    # a manifest that comes back later is brought again, not taken for one in place
    Reached.mark(ws.repo.state_dir, dict.fromkeys(gone))
    # a path gone that nested with one still tracked (d/sub gone, d still there, or the
    # reverse) had written that one's files (a stopped merge of a branch that tracks
    # d/sub, then its abort): what is tracked now is brought whole to its manifest
    again = _overlapping(ws, gone, tracked_now, present)
    if again:
        result.merge(Checkout(ws).run(again, write_manifests=False))
        handled += list(again)
    by_path: dict[str, list[str]] = {}
    for oid, keys in result.missing.items():
        for key in keys:
            rel = next(
                (
                    mf.tracked_path(m)
                    for m in handled
                    if key == mf.tracked_path(m) or key.startswith(mf.tracked_path(m) + "/")
                ),
                key,
            )
            by_path.setdefault(rel, []).append(oid)
    for mpath in handled:
        rel = mf.tracked_path(mpath)
        if rel not in by_path:
            pending.pop(rel, None)
    if down is not None and by_path:
        report.lines.append(f"gitstore: could not fetch: {down}")
    for rel, oids in sorted(by_path.items()):
        why = next((reasons[o] for o in oids if o in reasons), "")
        if not why and down is not None:
            report.lines.append(
                f"gitstore: left {rel} unmaterialised: {counted(len(set(oids)), 'object')} not in the cache (the fetch failed, see above); run `gitstore pull` later"
            )
            pending[rel] = f"the fetch failed: {down}"
            continue
        why = why or (
            "hooks.fetch is false"
            if not ctx.config.hooks_fetch
            else "no gitstore remote has them"
            if ctx.config.remotes
            else "no gitstore remote is configured"
        )
        report.lines.append(
            f"gitstore: left {rel} unmaterialised: {counted(len(set(oids)), 'object')} not in the cache ({why}); run `gitstore pull` later"
        )
        pending[rel] = why
    conflicts: dict[str, list[str]] = {}
    for key in result.conflicts:
        rel = next(
            (mf.tracked_path(m) for m in handled if key.startswith(mf.tracked_path(m) + "/")), key
        )
        conflicts.setdefault(rel, []).append(key)
    for rel, keys in sorted(conflicts.items()):
        folders = [
            k for k in keys if os.path.isdir(ws.root / k) and not os.path.islink(ws.root / k)
        ]
        if folders:  # the user's folder where the manifest has a file
            report.lines.append(
                f"gitstore: left {_shown(sorted(folders))} alone: a folder where the manifest"
                f" has a file (move it away, then run `gitstore checkout {rel}`)"
            )
            keys = [k for k in keys if k not in folders]
            if not keys:
                continue
        its = "its content is" if len(keys) == 1 else "their content is"
        report.lines.append(
            f"gitstore: left {_shown(sorted(keys))} alone: {its} not in the cache"
            f" (run `gitstore track {rel}` to keep it, or `gitstore checkout --force {rel}`)"
        )
    own.update(mf.tracked_path(m) for m in handled)  # and those brought again (nested)
    save_own()
    Reached.note(ws, handled, result, {**present, **read})
    RebaseTouched.note(ctx.repo, handled)
    return report


def _tracked_by_git(ws: Workspace, rels: Sequence[str]) -> set[str]:
    """Those of ``rels`` that git's index holds files in (or is itself a file of); the
    manifests of tracked paths inside them do not count (their files are spared)."""
    if not rels:
        return set()
    found = [
        p
        for p in ws.repo.ls_files([":(literal)" + rel for rel in rels])
        if not p.endswith(mf.SUFFIX)
    ]
    return {rel for rel in rels if any(p == rel or p.startswith(rel + "/") for p in found)}


def _overlapping(
    ws: Workspace, gone: Sequence[str], tracked_now: Sequence[str], present: Mapping[str, bytes]
) -> dict[str, bytes]:
    """{manifest: bytes} of the tracked paths that hold or lie inside a path of the
    manifests ``gone``, but for those brought already (``present``)."""
    rels = [mf.tracked_path(m) for m in gone]
    out: dict[str, bytes] = {}
    for t in tracked_now:
        mpath = mf.manifest_path(t)
        if mpath in present or not any(
            t.startswith(r + "/") or r.startswith(t + "/") for r in rels
        ):
            continue
        try:
            data = (ws.root / mpath).read_bytes()
            mf.parse(data, mpath)
        except (OSError, ManifestError):
            continue  # unreadable, or conflicted: said where it is brought
        out[mpath] = data
    return out


def _remove_untracked(ws: Workspace, rel: str, spare: Sequence[str] = ()) -> list[str]:
    """Delete the files of a path no longer tracked whose content is in the cache; the others.

    ``spare``: tracked paths inside ``rel`` (it was tracked as one folder, and
    now parts of it are tracked on their own): their files are left alone.
    """
    from .checkout import Checkout

    full = ws.root / rel
    if spare and full.is_dir() and not full.is_symlink():
        return _remove_sparing(ws, rel, spare)
    if full.is_dir() and not full.is_symlink():
        mpath = mf.manifest_path(rel)
        kept = Checkout(ws).run({mpath: EMPTY_DIR}, write_manifests=False).conflicts
        for folder, _dirs, _files in os.walk(full, topdown=False):  # as git leaves no empty folder
            with contextlib.suppress(OSError):
                os.rmdir(folder)
        _prune_parents(ws.root, rel)
        return kept
    files = ws.current_files(rel, "file")
    if not files:
        return []
    oid = ws.oid_of(rel, files[0])
    if oid is None or not ws.cache.has(oid):
        return [rel]
    with ws.lock():
        full.unlink()
        ws.statcache.entries.pop(rel, None)
        ws.statcache.dirty = True
        ws.statcache.save()
    _prune_parents(ws.root, rel)
    return []


def _prune_parents(root: Path, rel: str) -> None:
    """Remove the folders above ``rel`` that its removal left empty, as git does when it
    deletes a folder's last file: git deleted the manifest while the payload still
    filled the folder, so the folder stayed. Never the top, nor a tracked path's folder."""
    parent = posixpath.dirname(rel)
    while parent:
        if os.path.lexists(root / mf.manifest_path(parent)):
            return
        try:
            os.rmdir(root / parent)
        except OSError:  # not empty, or gone
            return
        parent = posixpath.dirname(parent)


def _remove_sparing(ws: Workspace, rel: str, spare: Sequence[str]) -> list[str]:
    """:func:`_remove_untracked` of a folder, but for the files under ``spare`` (and their
    manifests); the files whose content is not in the cache are kept and returned."""
    kept: list[str] = []
    keep = list(spare)
    with ws.lock():
        for f in ws.current_files(rel, "dir"):
            key = f"{rel}/{f.relpath}"
            if any(key == t or key.startswith(t + "/") or key == mf.manifest_path(t) for t in keep):
                continue
            oid = ws.oid_of(key, f)
            if oid is None or not ws.cache.has(oid):
                kept.append(key)
                continue
            os.unlink(ws.root / key)
            ws.statcache.entries.pop(key, None)
            ws.statcache.dirty = True
        ws.statcache.save()
    for folder, _dirs, _files in os.walk(ws.root / rel, topdown=False):
        at = os.path.relpath(folder, ws.root).replace(os.sep, "/")
        if any(at == t or at.startswith(t + "/") for t in keep):
            continue  # a tracked folder stays, empty or not
        with contextlib.suppress(OSError):
            os.rmdir(folder)
    return kept


class _Bringing:
    """A work tree's data is brought by one hook (or ``resolve``) at a time.

    Held (``.git/gitstore/bringing.lock``, exclusive) from before a hook reads
    the manifests until it has written the files and its marks, the fetch
    included, which :meth:`paths` names in the lock file: pre-commit, ``status``
    and the commands that write tracked paths (:func:`pending.brought_now`)
    tell those paths, under way, from ones a stopped checkout left. A second
    git command's hook waits for its turn (``gitstore.locks.lock_timeout``).
    """

    def __init__(self, ctx: Context) -> None:
        from .locks import FileLock, lock_timeout

        self.path = ctx.repo.state_dir / marks_file.BRINGING_LOCK
        self.lock = FileLock(self.path, str(self.path), timeout=lock_timeout())

    def __enter__(self) -> _Bringing:
        self.lock.__enter__()
        return self

    def enter(self, *, wait: bool) -> bool:
        """Take the turn; without ``wait``, False at once when another holds it."""
        if not wait:
            from .errors import LockHeldError

            timeout, self.lock.timeout = self.lock.timeout, 0.0
            try:
                self.lock.__enter__()
            except LockHeldError:
                return False
            finally:
                self.lock.timeout = timeout
            return True
        self.lock.__enter__()
        return True

    def paths(self, rels: Sequence[str]) -> None:
        marks_file.say_bringing(self.path, rels)

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            marks_file.say_bringing(self.path, ())
        self.lock.__exit__(None, None, None)


def _fetch_missing(
    ctx: Context, needed: set[str], before: Callable[[], None] | None = None
) -> tuple[dict[str, str], str | None]:
    """Fetch what the cache lacks when ``hooks.fetch``: ({oid: why it failed}, why all failed).

    A failure of the whole fetch (a remote down) is said once, not as each
    path's reason: its message names whichever object was asked first.
    ``before``: called once a fetch is certain, before it starts.
    """
    missing = needed - ctx.cache.exists(needed)
    if not missing or not ctx.config.hooks_fetch:
        return {}, None
    from .remotes import fetch_order

    if not fetch_order(ctx):
        return {}, None
    if before is not None:
        before()
        from . import faults

        faults.fetch_pause()
    try:
        from . import transfer

        result = transfer.fetch_objects(ctx, sorted(missing))
    except ImportError:
        return {}, None
    except GitstoreError as exc:
        return {}, exc.message
    return {oid: str(why) for oid, why in result.failed.items()}, None
