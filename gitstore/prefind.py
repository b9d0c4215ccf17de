"""Start the stamps' ``find`` before the imports, so that the two run at once.

The pre-commit hook spends ~25 ms importing its modules and ~40 ms (for
20,000 files) waiting on ``find`` (:class:`gitstore.cleanrecord.Stamps`);
on two cores the two can overlap. :func:`start` reads the stamps file with
nothing but the standard library and starts one ``find`` per stamp time;
:func:`result` hands its answer to ``Stamps.still`` when it covers the paths
asked. Whatever it cannot do here (no stamps, an unusual ``.git``), it
leaves to ``Stamps.still``, which runs its own ``find``: only a head start.

``gitstore track`` starts one too, for the folders it is given (a re-track
reads only what ``find`` lists). A re-track stamps the folder anew, so the
time it stamps must come before that ``find`` began, and no other gitstore
process may write the workspace in between: ``start(..., lock=True)`` takes
the workspace lock first (only if it is free), reads the clock under it,
and hands both to the track (:func:`held_lock`, :func:`clock`).
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False  # not typing's: importing typing (with re) before the find costs ~3 ms
if TYPE_CHECKING:
    from collections.abc import Sequence


def _restored_signals() -> tuple[int, ...]:
    # _signal is built in and already loaded (signal.py would import enum)
    import _signal  # type: ignore[import-not-found]

    return tuple(
        getattr(_signal, name) for name in ("SIGPIPE", "SIGXFSZ") if hasattr(_signal, name)
    )


_RESTORED_SIGNALS = _restored_signals()


class Spawned:
    """A program (``find``, ``git diff-tree``) started with ``os.posix_spawnp`` in this folder.

    As ``subprocess.Popen`` would start it (stdin from ``/dev/null``, stdout
    and stderr into pipes, every other descriptor close-on-exec as Python
    makes them, and the signals Python ignores for itself, SIGPIPE and
    SIGXFSZ, back to their defaults in the child), without ``subprocess``'s
    imports (~5 ms, with ``locale``, ``signal``, ``threading`` and
    ``selectors``), so that it starts that much sooner. Its output is read by :meth:`communicate`, as
    ``Popen.communicate`` reads it.
    """

    def __init__(self, argv: list[str]):
        self.returncode: int | None = None
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            self.pid = os.posix_spawnp(
                argv[0],
                argv,
                os.environ,
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, out_w, 1),
                    (os.POSIX_SPAWN_DUP2, err_w, 2),
                ],
                setsigdef=_RESTORED_SIGNALS,
            )
        except BaseException:
            for fd in (out_r, out_w, err_r, err_w):
                os.close(fd)
            raise
        os.close(out_w)
        os.close(err_w)
        self._fds: tuple[int, ...] = (out_r, err_r)

    def communicate(self) -> tuple[bytes, bytes]:
        """Everything it wrote to stdout and stderr, once it has exited (both read at once)."""
        import select

        out_fd, err_fd = self._fds
        chunks: dict[int, list[bytes]] = {out_fd: [], err_fd: []}
        poller = select.poll()
        for fd in chunks:
            poller.register(fd, select.POLLIN)
        left = set(chunks)
        try:
            while left:
                for fd, _event in poller.poll():
                    data = os.read(fd, 1 << 16)
                    if data:
                        chunks[fd].append(data)
                    else:  # its end closed: find has exited (or closed it)
                        poller.unregister(fd)
                        left.discard(fd)
        finally:
            self._close()
            self._reap()
        return b"".join(chunks[out_fd]), b"".join(chunks[err_fd])

    def kill(self) -> None:
        """Stop it (if it still runs) and reap it; its output is dropped."""
        import signal

        if self.returncode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._close()
        self._reap()

    def _close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds = ()

    def _reap(self) -> None:
        if self.returncode is None:
            _pid, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)


_RUNNING: dict[tuple[str, int], tuple[frozenset[str], Spawned]] = {}


class _TrackFind:
    """track's ``find`` for one stamp time: the paths not taken yet, and its answer once read."""

    def __init__(self, rels: Sequence[str], proc: Spawned):
        self.rels = set(rels)
        self.proc = proc
        self.answer: list[str] | None = None  # None: not read yet, or find failed (once read)
        self.read = False

    def take(self, rel: str) -> list[str] | None:
        self.rels.discard(rel)
        if not self.read:
            out, err = self.proc.communicate()
            self.read = True
            self.answer = parse(out) if self.proc.returncode == 0 and not err else None
        if self.answer is None:
            return None
        prefix = rel + "/"
        return [p for p in self.answer if p == rel or p.startswith(prefix)]


_FOR_TRACK: dict[tuple[str, int], _TrackFind] = {}  # (state dir, T) -> track's find
_LOCK: dict[tuple[int, int], int] = {}  # the workspace lock file's (st_dev, st_ino) -> our fd
_CLOCK: dict[str, tuple[int, int, tuple[str, int, int]]] = {}  # state dir -> clock read
_LOCK_FILE = "workspace.lock"
CLOCK_FILE = "clock"
MARGIN_NS = 5_000_000  # below T: a change in the clock tick that read T counts as after


def find_argv(rels: Sequence[str], t: int, *, first: bool = False) -> list[str]:
    """``find`` listing what under ``rels`` has a ctime or mtime at or after ``t`` (ns).

    ``first``: stop at the first one (enough to know that one path changed).
    """
    stamp = f"@{t // 1_000_000_000}.{t % 1_000_000_000:09d}"
    # ctime, which nobody can set; and mtime, for a filesystem that does not keep ctime
    test = ["(", "-newerct", stamp, "-o", "-newermt", stamp, ")"]
    # -prune: a changed folder stands for what is in it
    then = ["-print0", "-quit"] if first else ["-print0", "-prune"]
    return ["find", "-P", *("./" + r for r in rels), *test, *then]


def parse(out: bytes) -> list[str]:
    return [os.fsdecode(p)[2:] for p in out.split(b"\0") if p]


def start(
    state_dir: str, root: str, only: Sequence[str] | None = None, *, lock: bool = False
) -> None:
    """Start ``find`` for every stamped path of the work tree at ``root`` (cwd-relative is fine).

    ``only``: for those paths alone; ``lock``: for ``track`` (module docstring).
    """
    import marshal

    try:
        with open(os.path.join(state_dir, "clean-stamps"), "rb") as f:
            data = marshal.loads(f.read())
        _magic, entries = data
        groups: dict[int, list[str]] = {}
        for mpath, record in entries.items():
            rel = mpath[: -len(".gitstore")]
            if only is not None and rel not in only:
                continue
            st = os.lstat(os.path.join(root, rel))
            if st.st_dev == record[2] and not os.path.islink(os.path.join(root, rel)):
                groups.setdefault(record[1], []).append(rel)
        if not groups or os.path.realpath(root) != os.path.realpath("."):
            return  # (find runs where we are: posix_spawn cannot change folder)
        key_dir = os.path.realpath(state_dir)
        if lock:
            if not _take_lock(key_dir):
                return  # another gitstore process is at work here: track runs its own find
            read = read_clock(key_dir)
            if read is None:
                return
            _CLOCK[key_dir] = read
        for t, rels in groups.items():
            proc = Spawned(find_argv(rels, t))
            if lock:
                _FOR_TRACK[(key_dir, t)] = _TrackFind(rels, proc)
            else:
                _RUNNING[(key_dir, t)] = (frozenset(rels), proc)
    except Exception:  # only a head start: anything odd is left to Stamps.still
        return


def _take_lock(key_dir: str) -> bool:
    """The workspace lock, if no one holds it (``gitstore.locks.FileLock``'s file and mode)."""
    import fcntl

    fd = os.open(os.path.join(key_dir, _LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        return False
    _LOCK[(st.st_dev, st.st_ino)] = fd
    return True


def held_lock(path: str) -> int | None:
    """The fd that holds the workspace lock at ``path`` since :func:`start`, handed over once.

    From then on the caller holds the lock; while it does, :func:`take`
    answers from the ``find`` begun under it.
    """
    if not _LOCK:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return _LOCK.pop((st.st_dev, st.st_ino), None)


def clock(state_dir: str) -> tuple[int, int, tuple[str, int, int]] | None:
    """The clock :func:`start` read before its ``find`` (for ``Stamps.start``), once."""
    return _CLOCK.pop(os.path.realpath(state_dir), None)


def take(state_dir: str, t: int, rel: str) -> list[str] | None:
    """What changed under ``rel`` since ``t``, from track's ``find``; None: run one.

    Only while the lock :func:`start` took is still held, by the caller
    that :func:`held_lock` gave it to: the answer is as of a time no other
    gitstore process could have written in between.
    """
    if _LOCK:
        return None  # never handed over: not under the lock that started it
    found = _FOR_TRACK.get((os.path.realpath(state_dir), t))
    if found is None or rel not in found.rels:
        return None
    return found.take(rel)


def released() -> None:
    """The lock :func:`held_lock` handed over is let go: no answer of track's ``find`` holds now."""
    _FOR_TRACK.clear()


def machine_clocks() -> tuple[str, int, int] | None:
    """(boot id, wall clock, time since boot): what tells a clock set back since."""
    try:
        with open("/proc/sys/kernel/random/boot_id", "rb") as f:
            boot = f.read().strip().decode("ascii")
        return boot, time.time_ns(), time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    except (OSError, AttributeError, UnicodeDecodeError):
        return None


def read_clock(state_dir: str) -> tuple[int, int, tuple[str, int, int]] | None:
    """(T, st_dev, the machine's clocks): T off the filesystem's clock, less :data:`MARGIN_NS`.

    The clock is a write to a file, so that its time comes from where the
    times of the files' own changes come from (a file server, for one).
    """
    clocks = machine_clocks()
    if clocks is None:
        return None
    try:
        fd = os.open(
            os.path.join(state_dir, CLOCK_FILE), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644
        )
        try:
            os.write(fd, b"0")
            st = os.fstat(fd)
        finally:
            os.close(fd)
    except OSError:
        return None
    return min(st.st_mtime_ns, st.st_ctime_ns) - MARGIN_NS, st.st_dev, clocks


def result(state_dir: str, t: int, rels: Sequence[str]) -> list[str] | None:
    """What the started ``find`` for ``t`` listed, if it covered ``rels``; None: run one."""
    running = _RUNNING.pop((os.path.realpath(state_dir), t), None)
    if running is None:
        return None
    covered, proc = running
    if not covered.issuperset(rels):
        proc.kill()  # and reaped
        return None
    out, err = proc.communicate()
    if proc.returncode != 0 or err:
        return None
    return parse(out)


# -- post-checkout's diff of the two commits -----------------------------------
# the patch hookdelta reads: one line of context, no driver, full ids
PATCH_OPTIONS = ("-U1", "--no-ext-diff", "--no-textconv", "--no-color", "--full-index")
_DIFFS: dict[tuple[str, str], Spawned] = {}
# git's variables that gitrepo.GitRepo.git() drops or sets for its own calls
# (gitrepo._SCRUBBED is made of these): with any of them set, the diff is left to it
GIT_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_LITERAL_PATHSPECS",
    "GIT_GLOB_PATHSPECS",
    "GIT_NOGLOB_PATHSPECS",
    "GIT_ICASE_PATHSPECS",
    "GIT_INDEX_FILE",
)


def diff_tree_args(old: str, new: str) -> list[str]:
    """``git diff-tree`` of the manifests between two commits, with the changed lines."""
    return [
        "diff-tree",
        "-r",
        "-z",
        "--raw",
        "-p",
        "--no-renames",
        "--no-commit-id",
        *PATCH_OPTIONS,
        old,
        new,
        "--",
        "*.gitstore",
    ]


def start_diff(old: str, new: str) -> None:
    """Start post-checkout's ``git diff-tree`` of two commits now, before the imports (~25 ms).

    What two commits hold never changes, so the answer cannot go stale; it is
    started only where ``GitRepo.git`` would run it the same way: at the top
    of a work tree, with none of the variables it changes set.
    """
    try:
        if (
            not (_is_sha(old) and _is_sha(new))
            or old == new
            or old == "0" * 40
            or new == "0" * 40
            or any(v in os.environ for v in GIT_VARIABLES)
            or from_git_dir_of(".") is None
        ):
            return
        _DIFFS[(old, new)] = Spawned(["git", *diff_tree_args(old, new)])
    except Exception:  # only a head start
        return


def diff_result(old: str, new: str) -> bytes | None:
    """The started diff's output, if it was started for these commits and succeeded; None: run it."""
    found = _DIFFS.pop((old, new), None)
    if found is None:
        return None
    out, _err = found.communicate()
    return out if found.returncode == 0 else None


def _is_sha(text: str) -> bool:
    return len(text) == 40 and all(c in "0123456789abcdef" for c in text)


def from_git_dir_of(cwd: str) -> str | None:
    """The state folder of the work tree git runs a hook in (its top): ``.git/gitstore``."""
    dot = os.path.join(cwd, ".git")
    if os.path.isdir(dot):
        return os.path.join(dot, "gitstore")
    try:
        with open(dot, encoding="utf-8") as f:
            line = f.readline().strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not line.startswith("gitdir: "):
        return None
    return os.path.join(cwd, line[len("gitdir: ") :], "gitstore")
