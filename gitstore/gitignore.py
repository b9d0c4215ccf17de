"""The top-level ``.gitignore`` entries that keep tracked payloads out of git.

Each tracked path gets one anchored line: ``/data/images/`` for a folder,
``/models/model.pt`` for a file, escaped as gitignore requires (``#`` and
``!`` at the start, ``*``, ``?``, ``[``, ``\\`` anywhere, trailing spaces).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .gitrepo import GitRepo

MARK = "# gitstore"


def escape(relpath: str) -> str:
    out = []
    for ch in relpath:
        if ch in "*?[\\":
            out.append("\\" + ch)
        else:
            out.append(ch)
    text = "".join(out)
    # trailing spaces are trimmed by git unless escaped
    stripped = text.rstrip(" ")
    text = stripped + "\\ " * (len(text) - len(stripped))
    if text.startswith(("#", "!")):
        text = "\\" + text
    return text


def entry_for(relpath: str, is_dir: bool) -> str:
    return "/" + escape(relpath) + ("/" if is_dir else "")


def read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []


def _newline(path: Path) -> str:
    """The file's own line ending: a .gitignore written on Windows keeps its CRLF."""
    try:
        with open(path, "rb") as f:
            head = f.read(65536)
    except OSError:
        return "\n"
    return "\r\n" if b"\r\n" in head else "\n"


def _write(path: Path, lines: list[str]) -> None:
    from .stores.local import replace_with

    end = _newline(path)
    data = "".join(line + end for line in lines).encode("utf-8")
    replace_with(path, data, tmp=path.with_name(".gitignore.gitstore-tmp"))


def conflicted(root: Path) -> bool:
    """Whether the top-level .gitignore holds a merge's conflict markers: staged so, the
    conflict would pass for resolved and the markers go into the commit."""
    lines = read_lines(root / ".gitignore")
    return any(line.startswith("<<<<<<< ") for line in lines) and any(
        line.startswith(">>>>>>> ") for line in lines
    )


def add(root: Path, relpath: str, is_dir: bool) -> bool:
    """Add the entry for ``relpath`` (replacing the other kind's); True if the file changed."""
    return bool(add_many(root, [(relpath, is_dir)]))


def add_many(root: Path, items: Sequence[tuple[str, bool]]) -> set[str]:
    """:func:`add` for many paths, reading and writing the file once; the paths whose
    line it added (the file changed when there are any)."""
    path = root / ".gitignore"
    lines = read_lines(path)
    present = set(lines)
    drop: set[str] = set()
    added: set[str] = set()
    for relpath, is_dir in items:
        want, other = entry_for(relpath, is_dir), entry_for(relpath, not is_dir)
        if other in present:
            drop.add(other)
            present.discard(other)
        if want not in present:
            lines.append(want)
            present.add(want)
            drop.discard(want)
            added.add(relpath)
    if drop:
        lines = [line for line in lines if line not in drop]
    if added or drop:
        _write(path, lines)
    return added


def split_lines(data: bytes) -> list[str]:
    """The lines of a .gitignore's bytes (read from git, say), as :func:`read_lines` reads."""
    return data.decode("utf-8", "replace").splitlines()


def edited(data: bytes, add: Sequence[tuple[str, bool]], drop: Sequence[str]) -> bytes:
    """The bytes of a .gitignore ``data`` with :func:`add_many`'s and :func:`remove_many`'s
    changes, in its own line ending: what git's index gets when only these lines are
    staged."""
    end = "\r\n" if b"\r\n" in data[:65536] else "\n"
    lines = split_lines(data)
    gone = {entry_for(r, d) for r in drop for d in (True, False)}
    for relpath, is_dir in add:
        gone.add(entry_for(relpath, not is_dir))
        gone.discard(entry_for(relpath, is_dir))
    lines = [line for line in lines if line not in gone]
    present = set(lines)
    for relpath, is_dir in add:
        want = entry_for(relpath, is_dir)
        if want not in present:
            lines.append(want)
            present.add(want)
    return "".join(line + end for line in lines).encode("utf-8")


_UNREAD: Any = object()


def stage_lines(
    repo: GitRepo,
    root: Path,
    add: Sequence[tuple[str, bool]],
    drop: Sequence[str] = (),
    staged: tuple[str, bytes] | None = _UNREAD,
) -> bool:
    """Stage the lines :func:`add_many` wrote for ``add`` and :func:`remove_many` took
    out for ``drop``: the whole file when that is all it differs from git's index by,
    else only those lines, so that the user's own unstaged changes to it stay unstaged.

    A .gitignore git's index lacks is the user's unstaged lines but for HEAD's (``git
    rm --cached .gitignore`` leaves the lines of the paths tracked so far there):
    unless it holds nothing else, git's index gets HEAD's lines and these (and
    nothing for a removal). ``staged``: :meth:`GitRepo.staged_file` of it, if the
    caller has read it. True when the whole file was staged.
    """
    if staged is _UNREAD:
        staged = repo.staged_file(".gitignore")
    if staged is None and not add:
        return False  # git has no line of ours to take out
    if staged is None:
        staged = repo.committed_file(".gitignore")
    mode, text = staged if staged is not None else ("100644", b"")
    lines = edited(text, add, drop)
    if split_lines(lines) == read_lines(root / ".gitignore"):
        repo.stage([".gitignore"])  # as git would store it (its own filters)
        return True
    repo.stage_blob(".gitignore", mode, lines)
    return False


def remove(root: Path, relpath: str) -> bool:
    """Remove both forms of the entry for ``relpath``; True if the file changed."""
    return remove_many(root, [relpath])


def remove_many(root: Path, relpaths: Sequence[str]) -> bool:
    """:func:`remove` for many paths, reading and writing the file once."""
    if not relpaths:
        return False
    path = root / ".gitignore"
    lines = read_lines(path)
    drop = {entry_for(r, is_dir) for r in relpaths for is_dir in (True, False)}
    kept = [line for line in lines if line not in drop]
    if kept == lines:
        return False
    _write(path, kept)
    return True


TEMPORARIES = ".*.gitstore-tmp"  # cache.tmp_name's files, beside a tracked file being written


def exclude_temporaries(common_dir: Path) -> None:
    """List gitstore's temporary files in the clone's ``info/exclude`` (never committed).

    A checkout killed while it replaced a tracked *file* leaves its
    ``.NAME.gitstore-tmp`` beside it until the next checkout of that path;
    a tracked folder's line ignores what is inside it, but nothing ignored
    this one, so ``git add -A`` in between would have committed it. Cheap
    when the line is there: one read of a small file.
    """
    exclude(common_dir, TEMPORARIES)


def exclude(common_dir: Path, line: str) -> None:
    """Add ``line`` to the clone's ``info/exclude`` unless it is there already."""
    path = Path(common_dir) / "info" / "exclude"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        text = ""
    except OSError:
        return  # unreadable: git status shows the file, as before
    if line in text.splitlines():
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(("" if not text or text.endswith("\n") else "\n") + line + "\n")
    except OSError:
        pass  # a read-only .git: git status shows the file, as before
