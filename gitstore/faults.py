"""Fault injection for the reliability tests: one switch, off unless set.

``GITSTORE_FAULT=enospc:N`` makes the N-th object write of this process (and
every later one: a full disk stays full) fail with ``OSError(ENOSPC)``. An
"object write" is writing an object's bytes into the cache (track's ingest),
moving a downloaded object into the cache (fetch, verify --repair) or writing
an object into a folder store (push to a folder remote). The error takes the
same path a real full disk would: the temporary file is removed and the
command fails with one line naming the store.

``GITSTORE_FAULT=kill:N`` makes the N-th file that a checkout writes into the
work tree kill the process (SIGKILL) just before it is written: a checkout
interrupted at a known point, as ``kill -9`` or a crash would leave it.

``GITSTORE_FAULT=edit-before:N`` (``edit-after:N``) appends a line to the
N-th file that a checkout replaces in the work tree just before (just after)
it renames the new version into place: a user saving the file at the worst
moment. ``GITSTORE_FAULT=edit-same:N`` edits that file just after the
rename without changing its size or mtime (the first byte changes and the
mtime is put back, as ``cp -p`` or ``rsync -t`` would leave it), within the
clock tick of the rename. ``GITSTORE_FAULT=create-before:N`` has the user save a new file at
the N-th place where a checkout writes a file into a folder that has nothing
there, just before the checkout's file appears.

``GITSTORE_FAULT=pause-gc:SECONDS`` makes ``gc --remote --yes`` wait that long
between judging the remote's objects and deleting them: a teammate's push
can then land in the window a slow collection of a big store leaves.

``GITSTORE_FAULT=pause-verify:SECONDS`` makes ``verify`` wait that long between
listing the cache's objects and reading them: a ``gc`` deleting meanwhile.

``GITSTORE_FAULT=pause-fetch:SECONDS`` makes a post-checkout, post-merge or
post-rewrite hook wait that long once it has marked its paths unfinished,
before it fetches what the cache lacks: a slow remote.

``GITSTORE_FAULT=kill-range:N`` kills the process (SIGKILL) right after the
N-th progress record of a resumable download (gitstore/partial.py): a big
fetch interrupted part-way, with some ranges written and others not.

``GITSTORE_FAULT=int-range:N`` sends the process SIGINT (a Ctrl-C) instead,
and ``hup-range:N`` SIGHUP (a terminal closed): the download must stop at its
next block, its progress kept for the next run.

``GITSTORE_FAULT=int-hook:1`` interrupts a post-checkout, post-merge or
post-rewrite hook (SIGINT) once it has opened the repository, before it has
looked at what the git command changed.

``GITSTORE_FAULT=eio-write:N`` makes the N-th block that a resumable
download writes into its partial file fail with ``OSError(EIO)`` (and every
later one: a failing disk), and ``eio-read:N`` the N-th block read back from
a partial file when a download resumes: a disk that reports an I/O error
under a partial file.

``GITSTORE_FAULT=kill-part:N`` kills the process (SIGKILL) right after the
N-th part of a multipart upload to S3 was sent: a big push interrupted
part-way, with an unfinished upload left in the bucket.

This is a test-only switch (tests/reliability uses it where it cannot mount a
small tmpfs), read once when the process starts: unset, it costs a global
lookup per write.
"""

from __future__ import annotations

import errno
import os
import threading

ENV = "GITSTORE_FAULT"
_SPEC = os.environ.get(ENV) or ""
_lock = threading.Lock()
_writes = 0


def object_write(where: object = "") -> None:
    """Count one object write; raise the configured fault when its turn has come."""
    spec = _SPEC
    if not spec:
        return
    kind, _, number = spec.partition(":")
    if kind != "enospc":
        return
    try:
        limit = int(number or "1")
    except ValueError:
        return
    global _writes
    with _lock:
        _writes += 1
        count = _writes
    if count >= limit:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(where))


_workspace_writes = 0


def workspace_write() -> None:
    """Count one file written into the work tree; with ``kill:N``, the N-th kills the process."""
    spec = _SPEC
    if not spec or not spec.startswith("kill:"):
        return
    try:
        limit = int(spec[5:])
    except ValueError:
        return
    global _workspace_writes
    with _lock:
        _workspace_writes += 1
        count = _workspace_writes
    if count >= limit:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


_replaces = 0


def user_edit(path: str, when: str) -> None:
    """With ``edit-before:N`` / ``edit-after:N``: edit the N-th replaced file at that moment."""
    spec = _SPEC
    if not spec or not spec.startswith("edit-"):
        return
    kind, _, number = spec.partition(":")
    if kind != f"edit-{when}" and not (kind == "edit-same" and when == "after"):
        return
    global _replaces
    with _lock:
        _replaces += 1
        count = _replaces
    if count != int(number or "1"):
        return
    if kind == "edit-same":
        st = os.lstat(path)
        with open(path, "r+b") as f:
            first = f.read(1)
            f.seek(0)
            f.write(b"!" if first != b"!" else b"?")
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        return
    with open(path, "ab") as f:
        f.write(b"saved by the user\n")


_creates = 0


def user_create(path: str) -> None:
    """With ``create-before:N``: save a file at the N-th new file's place, just before it appears."""
    spec = _SPEC
    if not spec or not spec.startswith("create-before:"):
        return
    global _creates
    with _lock:
        _creates += 1
        count = _creates
    if count == int(spec.partition(":")[2] or "1"):
        with open(path, "ab") as f:
            f.write(b"saved by the user\n")


def gc_pause() -> None:
    """Wait as ``pause-gc:SECONDS`` says, before a collection's first delete."""
    _pause("pause-gc:")


def verify_pause() -> None:
    """Wait as ``pause-verify:SECONDS`` says, between listing the cache and reading its
    objects: a ``gc`` of the same cache can delete some of those meanwhile."""
    _pause("pause-verify:")


def fetch_pause() -> None:
    """Wait as ``pause-fetch:SECONDS`` says, when a hook has marked its paths and is
    about to fetch: a slow remote, with a commit made meanwhile in another terminal."""
    _pause("pause-fetch:")


def _pause(prefix: str) -> None:
    spec = _SPEC
    if not spec.startswith(prefix):
        return
    import time

    try:
        time.sleep(float(spec.partition(":")[2]))
    except ValueError:
        return


def range_written() -> None:
    """Count one progress record of a resumable download; ``kill-range:N`` kills at the N-th,
    ``int-range:N`` interrupts (SIGINT, as Ctrl-C), ``hup-range:N`` hangs up at the N-th."""
    _kill_at("kill-range:")
    _kill_at("int-range:", "SIGINT")
    _kill_at("hup-range:", "SIGHUP")


def partial_write() -> None:
    """Count one block written into a partial file; ``eio-write:N`` fails from the N-th on."""
    _eio_from("eio-write:")


def partial_read() -> None:
    """Count one block of a partial file read back; ``eio-read:N`` fails from the N-th on."""
    _eio_from("eio-read:")


def _eio_from(kind: str) -> None:
    turn = _turn(kind)
    if turn is not None and turn[0] >= turn[1]:
        raise OSError(errno.EIO, os.strerror(errno.EIO))


def hook_started() -> None:
    """A post-* hook has read its repository; ``int-hook:1`` interrupts it there (SIGINT,
    as Ctrl-C in its start-up), before it has looked at what changed."""
    _kill_at("int-hook:", "SIGINT")


def part_sent() -> None:
    """Count one part of a multipart upload sent; ``kill-part:N`` kills at the N-th."""
    _kill_at("kill-part:")


_counts: dict[str, int] = {}


def _turn(kind: str) -> tuple[int, int] | None:
    """With ``GITSTORE_FAULT=<kind>N``: count one more of ``kind``, (the count, N); else None."""
    spec = _SPEC
    if not spec or not spec.startswith(kind):
        return None
    try:
        limit = int(spec[len(kind) :])
    except ValueError:
        return None
    with _lock:
        count = _counts[kind] = _counts.get(kind, 0) + 1
    return count, limit


def _kill_at(kind: str, signal_name: str = "SIGKILL") -> None:
    turn = _turn(kind)
    if turn is not None and turn[0] == turn[1]:
        import signal

        os.kill(os.getpid(), getattr(signal, signal_name))
