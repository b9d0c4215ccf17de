"""Removing a benchmark's outputs without slowing down the next timed run.

This machine's root filesystem is ext4 without a journal. There, the inode
allocator skips every free inode that was freed in the last 60 s (360 s
while its inode-table block is still dirty) and looks each one up on the
way (fs/ext4/ialloc.c: ``find_inode_bit`` -> ``recently_deleted``). Right
after deleting the 40,000 files and folders of one W2 run, creating a file
costs about 250 us instead of 25 us (measured: ``perf record`` shows the
time in ``find_get_block_common`` and ``recently_deleted``). A timed run
that follows a deletion is therefore timed against the deletion, not
against its own work, and by how much depends on which run happened to
follow which.

So no timed run here follows a deletion: :func:`discard` moves a folder
into a trash folder with one rename, and :func:`empty` deletes the trash
between workloads, then (unless told not to) waits out the allocator's
window. gitstore, the floors and the peers are all treated alike.

Outputs of a few large files (W1, W3) are the other way round: their
deletion frees a handful of inodes but gigabytes of page cache, and on this
virtual machine (a virtio balloon with free page reporting) a write into
page cache that cannot reuse memory freed moments before runs up to 3x
slower. Measured with W1 track: gitstore 1.0-1.2 s and the floor 0.8-1.8 s
when each run follows the deletion of its own previous output, but 3.3 s
for gitstore against 0.8 s when gitstore's cache went to the trash while the
floor deleted its copy. So for those, :func:`delete_now` deletes each side's
previous output right before its own run, for gitstore and floor alike.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import time
from pathlib import Path

WINDOW = 65.0  # seconds: ext4's 60 s window for recently freed inodes, and a margin
LOW_SPACE = 20 << 30  # below this much free space the trash is emptied at once

_root: Path | None = None
_count = itertools.count()
_dirty = False


def configure(root: Path) -> None:
    """Put the trash in ``root`` (on the same filesystem as everything discarded)."""
    global _root
    _root = root
    root.mkdir(parents=True, exist_ok=True)


def ensure(root: Path) -> None:
    """:func:`configure` unless a caller (run.py) already did."""
    if _root is None:
        configure(root)


def _delete(path: Path) -> None:
    subprocess.run(["chmod", "-R", "u+w", str(path)], check=False)  # read-only objects
    shutil.rmtree(path, ignore_errors=True)


def delete_now(path: Path) -> None:
    """Delete ``path`` (a file or a folder of a few large files) at once: see the module's note."""
    path = Path(path)
    if path.is_file() or path.is_symlink():
        path.unlink()
    elif path.exists():
        _delete(path)


def clear(path: Path, now: bool) -> None:
    """:func:`delete_now` when ``now`` (few large files), else :func:`discard`."""
    if now:
        delete_now(path)
    else:
        discard(path)


def discard(path: Path) -> None:
    """Remove ``path`` (a file or a folder) from where it is, now; delete it later."""
    global _dirty
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return
    if path.is_file() or path.is_symlink():
        path.unlink()  # one inode: nothing for the allocator to skip
        return
    if _root is None:
        _delete(path)
        return
    if shutil.disk_usage(_root).free < LOW_SPACE:
        empty(settle=False)  # a full disk would cost more than a slow run
    target = _root / f"{os.getpid()}-{next(_count)}"
    try:
        os.rename(path, target)
    except OSError:  # another filesystem: delete in place
        _delete(path)
        return
    _dirty = True


def empty(settle: bool = True) -> None:
    """Delete the trash; with ``settle``, wait until ext4 reuses the freed inodes freely."""
    global _dirty
    if _root is None or not _dirty:
        return
    for child in list(_root.iterdir()):
        _delete(child)
    _dirty = False
    if settle:
        os.sync()
        time.sleep(WINDOW)
