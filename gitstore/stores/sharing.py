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

import errno
import os
import stat
from collections.abc import Callable
from typing import Any

_SHARED = 0o022  # group or other may write: the folder is meant to be shared


def shared_bits(mode: int) -> int:
    """The mode of every folder made inside a store whose own folder has ``mode``:
    its group and other bits with all rights for the owner, and the setgid bit
    (as git's ``core.sharedRepository`` sets it), so that what is made inside
    keeps the group; 0 when that folder is not shared (then the umask decides)."""
    if not mode & _SHARED:
        return 0
    return 0o700 | (mode & 0o077) | stat.S_ISGID


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


def make_folder(path: str, bits: int, gid: int = -1) -> None:
    """Give a folder this process has just made the shared mode ``bits`` (if any)
    and the store's group ``gid`` (when the store's folder lacks the setgid bit,
    a new folder gets its maker's own group).

    Best effort: a filesystem that refuses (some network mounts) leaves the
    folder as the umask made it, and a teammate's write there then fails
    with the permission error, naming the folder.
    """
    if bits:
        if gid >= 0:
            try:
                os.chown(path, -1, gid)
            except OSError:
                pass
        try:
            os.chmod(path, bits)
        except OSError:
            pass


def make_dirs(
    path: str | os.PathLike[str],
    bits: int,
    gid: int = -1,
    top: str | os.PathLike[str] | None = None,
) -> bool:
    """``os.makedirs(path, exist_ok=True)``, each folder made getting ``bits`` and
    ``gid`` (if any) before it appears at its name: a teammate writing into it at
    the same moment never finds it with the umask's mode. ``top``: a folder that
    is never made (FileNotFoundError when it is not there), nor any above it.
    Whether this call made ``path`` itself."""
    if not bits and top is None:
        return _made(os.makedirs, os.fspath(path))
    stop = os.fspath(top) if top is not None else None
    missing = []
    here = os.fspath(path)
    while not os.path.isdir(here):
        if here == stop:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), here)
        missing.append(here)
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    made = False
    for folder in reversed(missing):
        made = make_one(folder, bits, gid) if bits else _made(os.mkdir, folder)
    return made


def _made(mkdir: Callable[[str], None], folder: str) -> bool:
    """``mkdir(folder)``: whether it made it (False: a folder was there already)."""
    try:
        mkdir(folder)
        return True
    except FileExistsError:
        if os.path.isdir(folder):
            return False
        raise


def plain_mkdir(bits: int, gid: int) -> bool:
    """Whether a plain ``mkdir`` already makes what :func:`make_one` would: the umask
    leaves the group the rights ``bits`` give it (umask 002) and the setgid bit of
    the store's folder hands down its group and setgid (``gid`` is -1)."""
    return gid < 0 and bits == (0o777 & ~umask()) | stat.S_ISGID


def make_one(folder: str, bits: int, gid: int) -> bool:
    """Make ``folder`` (its parent exists) under a hidden name beside it, give it its
    mode, move it in unless another process made it meanwhile: whether it is ours.

    The hidden name (``.gitstore-<24 hex>.tmp``) is as long whatever ``folder``'s
    name is: one derived from it passed the 255-byte limit for names near it (QA
    pass 15); the sweep of killed mkdirs (``LocalStore.sweep_hidden_folders``)
    knows it by its leading dot and ``.tmp``."""
    head = os.path.dirname(folder)
    tmp = os.path.join(head, f".gitstore-{os.urandom(12).hex()}.tmp")
    os.mkdir(tmp)
    try:
        make_folder(tmp, bits, gid)
        moved = _rename_noreplace(tmp, folder)
    except BaseException:
        _rmdir(tmp)
        raise
    if moved:
        return True
    _rmdir(tmp)
    if moved is False:
        return False  # another process made it, whole
    # no rename without replacing here (NFS, older kernels): make it in place,
    # and a teammate's write in the instant before the chmod may be refused
    try:
        os.mkdir(folder)
    except FileExistsError:
        if os.path.isdir(folder):
            return False
        raise
    make_folder(folder, bits, gid)
    return True


def _rmdir(path: str) -> None:
    try:
        os.rmdir(path)
    except OSError:
        pass


_RENAME_NOREPLACE = 1
_renameat2: Any = None


def _rename_noreplace(src: str, dst: str) -> bool | None:
    """``renameat2(src, dst, RENAME_NOREPLACE)``: True when moved, False when ``dst``
    exists, None when the system or filesystem cannot (then nothing was moved).
    A plain rename would replace an empty folder another process has just made
    and is about to write into (its write then finds a deleted folder)."""
    global _renameat2
    if _renameat2 is None:
        import ctypes

        try:
            func = ctypes.CDLL(None, use_errno=True).renameat2
            func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
            func.argtypes += [ctypes.c_uint]
            func.restype = ctypes.c_int
            _renameat2 = func
        except (AttributeError, OSError):  # a libc without it (older glibc, musl, macOS)
            _renameat2 = False
    if not _renameat2:
        return None
    import ctypes

    fdcwd = -100  # AT_FDCWD
    if _renameat2(fdcwd, os.fsencode(src), fdcwd, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
        return True
    err = ctypes.get_errno()
    if err == errno.EEXIST or err == errno.ENOTEMPTY:
        return False
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return None
    raise OSError(err, os.strerror(err), src, None, dst)


def adopt(fd: int, bits: int, gid: int = -1) -> None:
    """A file this process just made in a shared store (see :func:`shared_bits`):
    readable by whoever the store lets in, and in the store's group ``gid``."""
    if not bits:
        return
    st = os.fstat(fd)
    if st.st_uid != os.geteuid():
        return  # another user's: theirs to set (and ours cannot be changed)
    mode = stat.S_IMODE(st.st_mode)
    try:
        if gid >= 0 and st.st_gid != gid:
            os.fchown(fd, -1, gid)
        if file_mode(bits, mode) != mode:
            os.fchmod(fd, file_mode(bits, mode))
    except OSError:
        pass


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


def unshared_folders(root: str | os.PathLike[str], bits: int, limit: int = 3) -> list[str]:
    """Folders inside the shared store at ``root`` (object folders two levels deep,
    and every other folder) whose group may not do what ``bits`` let it: made
    before the store was shared, or by hand. At most ``limit``, with a count of
    the rest as a last item ("and N more")."""
    want = bits & 0o070
    found: list[str] = []
    more = 0
    for folder, subfolders, _files in os.walk(root):
        for name in subfolders:
            path = os.path.join(folder, name)
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                continue
            if name.startswith(".") or not stat.S_ISDIR(mode) or mode & want == want:
                continue
            if len(found) < limit:
                found.append(path)
            else:
                more += 1
        parts = os.path.relpath(folder, root).split(os.sep)
        if parts[0] == "objects" and len(parts) == 2:
            subfolders[:] = []  # objects/ab/: its cd folders hold only objects
    if more:
        found.append(f"and {more} more")
    return found
