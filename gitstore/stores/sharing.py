"""Folders shared by several users: a team's folder remote, a cache on a shared machine.

What git does for ``core.sharedRepository=group``, read off the store's own
folder instead of a setting: when that folder lets its group (or everyone)
write, every folder gitstore makes inside it gets the same permissions, and
the setgid bit that keeps the group, whatever the umask of the user making
it. Otherwise the first user to push an object whose name starts ``ab/cd``
would own ``objects/ab/cd/`` with mode 0755 (the usual umask 022), and no
teammate could put another object there. The files gitstore makes in such a
store (objects, documents) are readable by everyone its folder lets in; none
needs to be writable by others, as they are replaced by rename, never
rewritten, and an ``flock`` works on a read-only descriptor.

A store whose folder is not group- or world-writable is left to the umask, as
before: one user's cache, a remote only its owner writes to.
"""

from __future__ import annotations

import os
import stat

_SHARED = 0o022  # group or other may write: the folder is meant to be shared


def shared_bits(mode: int) -> int:
    """The mode of every folder made inside a store whose own folder has ``mode``:
    its group and other bits and its setgid bit, with all rights for the owner;
    0 when that folder is not shared (then the umask decides, as for any folder)."""
    if not mode & _SHARED:
        return 0
    return 0o700 | (mode & (0o077 | stat.S_ISGID))


def file_mode(bits: int, base: int) -> int:
    """``base`` (a file's mode) plus read rights for whoever ``bits`` lets into the folder."""
    if bits & 0o070:
        base |= 0o040
    if bits & 0o007:
        base |= 0o004
    return base


def umask() -> int:
    """This process's umask, read without changing it (other threads may be creating
    files); asked once per cache or document write, not per file."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022  # no /proc: assume the common default


def needs_chmod(bits: int, mode: int) -> bool:
    """Whether a file created with ``mode`` (before the umask) lacks read rights that
    ``bits`` (see :func:`shared_bits`) call for."""
    if not bits:
        return False
    made = mode & ~umask()
    return file_mode(bits, made) != made


def make_folder(path: str, bits: int) -> None:
    """Give a folder this process has just made the shared mode ``bits`` (if any).

    Best effort: a filesystem that refuses (some network mounts) leaves the
    folder as the umask made it, and a teammate's write there then fails
    with the permission error, naming the folder.
    """
    if bits:
        try:
            os.chmod(path, bits)
        except OSError:
            pass


def make_dirs(path: str | os.PathLike[str], bits: int) -> None:
    """``os.makedirs(path, exist_ok=True)``, each folder made getting ``bits`` (if any)."""
    if not bits:
        os.makedirs(path, exist_ok=True)
        return
    missing = []
    here = os.fspath(path)
    while not os.path.isdir(here):
        missing.append(here)
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder)
        except FileExistsError:
            if os.path.isdir(folder):
                continue  # another process made it (and gave it the mode)
            raise
        make_folder(folder, bits)


def refused(exc: OSError) -> str:
    """`` (FOLDER)`` naming the folder a permission error came from, if it can be told."""
    if not isinstance(exc, PermissionError):
        return ""
    for name in (exc.filename2, exc.filename):
        if name is None:
            continue
        folder = os.path.dirname(os.fsdecode(name))
        if folder and os.path.isdir(folder) and not os.access(folder, os.W_OK):
            return f" ({folder})"
    return ""


def team_hint(root: str | os.PathLike[str]) -> str:
    """How a team makes a store's folder theirs (see the module's doc)."""
    root = os.fspath(root)
    return (
        f"if several users write to {root}, give it to their group with write and setgid"
        f" rights (chgrp -R GROUP {root}; find {root} -type d -exec chmod g+ws {{}} +):"
        " gitstore then makes every folder inside it alike"
    )
