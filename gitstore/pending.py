"""Tracked paths whose files do not match their manifests because a materialisation did not finish.

A checkout replaces files one by one. Until it finishes, a tracked path holds
some old files and some new ones; if the process dies there (``kill -9``, a
crash, a remote that was down), the path reads as ``modified``, and the next
``git commit`` would have the pre-commit hook record that mixture as a new
version. So each path is marked here before its first file changes and
unmarked once it matches its manifest; pre-commit refuses to refresh a marked
path, and ``status`` says why it differs. The hooks also mark paths they
could not materialise (objects missing, a remote down), with the reason.

The marks live in the clone's state folder (``unmaterialised.json``): a
small JSON map of tracked path to reason, absent when nothing is marked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

FILE = "unmaterialised.json"
INTERRUPTED = "a checkout did not finish"
PARTIAL = "only part of it is checked out"
# held by a hook while it brings data (hookrun._Bringing), the paths named in it
BRINGING_LOCK = "bringing.lock"
UPDATE_LOCK = "unmaterialised.lock"  # taken by update(): one writer of the marks at a time


def load(state_dir: Path) -> dict[str, str]:
    try:
        text = (state_dir / FILE).read_text("utf-8", "replace")
    except OSError:
        return {}  # the usual case: nothing marked, and no json import at start-up
    import json

    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def say_bringing(lock_path: Path, rels: Iterable[str]) -> None:
    """Name, in the lock file its holder holds, the tracked paths a hook is bringing."""
    import json

    with open(lock_path, "w", encoding="utf-8") as f:
        f.write(json.dumps(sorted(rels)))


def brought_now(state_dir: Path) -> frozenset[str] | None:
    """The tracked paths a git command's hook is bringing here now: it holds
    :data:`BRINGING_LOCK` and names them in it (the marks of those paths say
    INTERRUPTED until it is done). None when no hook is at work: marks left
    then are a stopped checkout's."""
    import fcntl
    import os

    try:
        fd = os.open(state_dir / BRINGING_LOCK, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            import json  # only then: a plain track or status never needs it

            with os.fdopen(os.dup(fd), "rb") as f:
                text = f.read(1 << 20)
            try:
                named = json.loads(text)
            except ValueError:  # being written: none named yet
                return frozenset()
            return frozenset(str(r) for r in named) if isinstance(named, list) else frozenset()
        except OSError:
            return None
        return None
    finally:
        os.close(fd)  # and with it the lock, if this took it


def refuse_if_brought(state_dir: Path, rels: Iterable[str]) -> None:
    """Refuse a command that would read or write tracked paths a hook is still bringing
    (a slow fetch after a branch switch): ``track`` would record the files it has not
    replaced yet, ``checkout`` and ``pull`` race with it."""
    brought = brought_now(state_dir)
    if not brought:
        return
    asked = list(rels)
    clash = sorted(
        b
        for b in brought
        if not asked or any(b == r or b.startswith(r + "/") or r.startswith(b + "/") for r in asked)
    )
    if clash:
        from .errors import LockHeldError

        shown = ", ".join(clash[:3]) + (f" and {len(clash) - 3} more" if len(clash) > 3 else "")
        raise LockHeldError(
            f"{shown} {'is' if len(clash) == 1 else 'are'} still being brought by another git"
            " command (its hook is fetching or writing the data)",
            hint="wait for that command to end, then run this one again",
        )


def update(
    state_dir: Path,
    marks: Mapping[str, str] = {},  # noqa: B006 - read only
    drop: Iterable[str] = (),
    *,
    keep: bool = False,
) -> dict[str, str]:
    """Set ``marks`` and clear ``drop``, leaving every other path's mark as it is on disk
    now (another process may have written some since the caller read them); ``keep``:
    a path marked already keeps its reason. One writer at a time; the marks as they
    were before it."""
    import fcntl
    import os

    try:
        fd: int | None = os.open(
            state_dir / UPDATE_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666
        )
    except OSError:  # a read-only state folder: the save below says why
        fd = None
    try:
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        now = load(state_dir)
        after = dict(now)
        for rel in drop:
            after.pop(rel, None)
        for rel, why in marks.items():
            if not (keep and rel in after):
                after[rel] = why
        if after != now:
            save(state_dir, after)
        return now
    finally:
        if fd is not None:
            os.close(fd)


def save(state_dir: Path, marks: Mapping[str, str]) -> None:
    path = state_dir / FILE
    if not marks:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    import json

    from .stores.local import replace_with

    data = json.dumps(dict(sorted(marks.items())), indent=1).encode("utf-8")
    # synced: a mark must survive what it guards against
    replace_with(path, data, tmp=path.with_name(path.name + ".tmp"), sync=True)


class Marks:
    """The marks of one checkout run: set before a path's first change, cleared when it is done."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self._marked: set[str] = set()
        self._new: set[str] = set()  # marked by this run (not before it)
        self._done: set[str] = set()
        self._ahead: set[str] = set()  # marked by premark, not (yet) changed
        self._touched: set[str] = set()
        self._later: list[str] = []  # premark's paths, marked at the first change

    def changing(self, rel: str) -> None:
        """``rel``'s files are about to change: mark it (durably) unless it is marked already."""
        self._touched.add(rel)
        if rel in self._marked:
            return
        marks = load(self.state_dir)
        ahead = [r for r in self._later if r not in marks and r not in self._marked]
        self._marked.update(self._later)
        self._later = []
        fresh = rel not in marks
        if fresh or ahead:  # a mark another process wrote since keeps its reason
            update(
                self.state_dir, {rel: INTERRUPTED, **dict.fromkeys(ahead, INTERRUPTED)}, keep=True
            )
        if fresh:
            self._new.add(rel)
        self._new.update(ahead)
        self._ahead.update(ahead)
        self._marked.add(rel)

    def premark(self, rels: Iterable[str]) -> None:
        """Have the first :meth:`changing` of this run mark all of ``rels`` in one durable write.

        One write per path rewrote the whole file each time: a checkout of
        4,000 tracked files spent 30 s there. A path marked ahead that the
        run never changes loses its mark at :meth:`finish` (as if never
        marked); a run that stops half-way leaves it marked, which only
        asks for one checkout more. A run that changes nothing writes nothing.
        """
        self._later = list(rels)

    @property
    def new(self) -> frozenset[str]:
        """The paths this run marked (none of them was marked before it)."""
        return frozenset(self._new)

    def adopt(self, marked: Iterable[str]) -> None:
        """Paths marked earlier in the same command (pull's early writes): as if marked here."""
        self._marked.update(marked)
        self._new.update(marked)

    def done(self, rel: str) -> None:
        """``rel`` now matches its manifest (every file written or already right)."""
        self._done.add(rel)

    def part_done(self, rel: str) -> None:
        """A part of ``rel`` was checked out in full: the rest is as it was before this run.

        So the mark goes only if this run set it; one set before (a killed
        pull, a hook that could not fetch) stays until the whole path is done.
        """
        if rel in self._new:
            self._done.add(rel)

    def leave_partial(self, rel: str) -> None:
        """A part of ``rel`` was checked out and some of the rest is not on disk: its mark
        stays, saying so, until a checkout of the whole path (a commit in between must
        not take the files never checked out for files deleted). A mark set for
        another reason (a checkout that did not finish, a fetch that failed) stays as it is."""
        marks = load(self.state_dir)
        if (rel not in marks or rel in self._new) and marks.get(rel) != PARTIAL:
            update(self.state_dir, {rel: PARTIAL})  # this run's own mark, or none: a part
        self._marked.add(rel)
        self._touched.add(rel)
        self._done.discard(rel)

    def partial_filled(self, rel: str) -> None:
        """A part of ``rel`` was checked out and nothing of it is absent any more: a mark
        saying only part of it was checked out goes (one with another reason stays)."""
        if load(self.state_dir).get(rel) == PARTIAL:
            self._done.add(rel)

    def finish(self) -> None:
        """Clear the marks of the paths done, whatever their reason: they match their manifests."""
        clear = self._done | (self._ahead - self._touched)
        if not clear:
            return
        update(self.state_dir, drop=clear)
        self._done.clear()
        self._ahead.clear()
