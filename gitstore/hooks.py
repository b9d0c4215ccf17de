"""Installing gitstore's git hooks and drivers, and chaining the hooks that were there.

``install`` writes the thin sh scripts shipped in ``gitstore/hookscripts`` into
the folder git runs hooks from (``core.hooksPath`` when set), each recording
the Python that installed it as a fallback for git clients whose PATH lacks
``gitstore``. A hook that is already there (the user's own, husky's, git-lfs's,
pre-commit's) is never clobbered: it is renamed to ``NAME.gitstore-chained``
and :func:`run_chained` runs it first, with what git wrote on stdin captured
once and handed to both; if it fails, gitstore's part does not run and git sees
its exit code. ``uninstall`` renames it back, so its bytes and mode are exactly
what they were. ``install`` also registers the ``*.gitstore`` merge and diff
drivers in the clone's git config and marks manifests in ``.gitattributes``
(on bytes: the file's own line ending, nothing else touched). Everything is
checked and read before anything is written; a hooks folder that git tracks
(husky v4 to v8) is refused, since its scripts are shared. ``hooks_global``
does the same for ``init.templateDir``. What each hook does is in
``hookrun.py``.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import GitstoreError
from .gitrepo import GitRepo
from .hookmain import CHAINED_SUFFIX, HOOKS
from .records import Record

__all__ = [
    "CHAINED_SUFFIX",
    "HOOKS",
    "InstallResult",
    "gitstore_command",
    "hooks_installed",
    "install",
    "note_missing_hooks",
    "register_drivers",
    "render_hook",
    "run_chained",
    "uninstall",
]

# what a shared (tracked) hooks folder must call: post-index-change, added later, is optional
SHARED_HOOKS = HOOKS[:5]
ADDED_FILE = ".gitstore-added"  # in the hooks folder: the later hooks add_later_hooks wrote
STDIN_HOOKS = ("pre-push", "post-rewrite")
MARKER = b"# gitstore-hook: "
FORMAT = b"(format 1)"
ATTRIBUTES_LINE = "*.gitstore -text merge=gitstore diff=gitstore"
NOTE_FILE = "hooks-note-shown"
LEGACY_SUFFIX = ".legacy"  # where the pre-commit framework's migration mode moves a hook
PYTHON_SLOT = b"@GITSTORE_PYTHON@"
# the "gitstore not found" line of format-1 scripts before it was reworded
FORMER_MISSING_LINE = (
    b'echo "gitstore: the NAME hook needs gitstore, which is not on PATH;'
    b' install it (pip install gitstore) or remove $0" >&2'
)

# the run step of format-1 scripts before a gitstore that cannot run (exit
# 126/127) fell back to the recorded Python; and that comment's old words
FORMER_RUN = b'    exec gitstore hook NAME "$@"\n'
FORMER_RUN_FROM = (b"    gitstore hook ", b"fi\nfallback=")
FORMER_COMMENT = (
    b"else (not there, or it\n# cannot run) the one that installed this script.",
    b"else the one that\n# installed this script.",
)


class InstallResult(Record):
    __slots__ = (
        "hooks_dir",
        "installed",
        "unchanged",
        "chained",
        "skipped",
        "calls",
        "restored",
        "removed",
        "foreign",
        "orphans",
        "legacy",
        "legacy_restored",
        "attributes",
        "framework",
    )

    def __init__(self, hooks_dir: Path, unchanged: list[str] | None = None) -> None:
        self.hooks_dir = hooks_dir
        self.installed: list[str] = []  # written or rewritten
        self.unchanged: list[str] = [] if unchanged is None else unchanged
        self.chained: list[str] = []  # a user's hook kept and run first
        self.skipped: list[str] = []  # an older gitstore's hook, without --force
        self.calls: list[str] = []  # a user's hook that runs `gitstore hook NAME`
        self.restored: list[str] = []  # uninstall: the user's hook put back
        self.removed: list[str] = []  # uninstall: ours deleted
        self.foreign: list[str] = []  # uninstall: not ours, left alone
        self.orphans: list[str] = []  # uninstall: NAME.gitstore-chained put back
        self.legacy: list[str] = []  # uninstall: ours, renamed NAME.legacy, deleted
        self.legacy_restored: list[str] = []  # ... and the user's hook put there
        self.attributes = False  # install: .gitattributes gained the manifests' line
        self.framework = False  # install: the pre-commit framework runs the hooks; drivers only


def gitstore_command() -> str:
    """The shell words that run this gitstore: ``'<python>' -m gitstore``."""
    return f"{shlex.quote(sys.executable)} -m gitstore"


def _template(name: str) -> bytes:
    from importlib import resources  # install only: its import costs ~20 ms per hook run

    return resources.files("gitstore.hookscripts").joinpath(name).read_bytes()


def render_hook(name: str) -> bytes:
    """The script for hook ``name``, with this Python recorded as the fallback."""
    return _template(name).replace(PYTHON_SLOT, shlex.quote(sys.executable).encode())


def _marker(data: bytes) -> bytes | None:
    """Our hook's format marker line when ``data`` is a gitstore hook, else None."""
    for line in data[:512].splitlines():
        if line.startswith(MARKER):
            return line
    return None


def _ours(path: Path) -> bytes | None:
    """Our hook's format marker line when ``path`` is a gitstore hook, else None."""
    try:
        with open(path, "rb") as f:
            return _marker(f.read(512))
    except OSError:
        return None


def _is_gitstore_script(path: Path, name: str) -> bool:
    """True when ``path`` holds exactly a script gitstore renders for ``name`` (any Python)."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    template = _template(name)
    missing = next((x for x in template.splitlines() if x.startswith(b'echo "gitstore:')), b"")
    former = FORMER_MISSING_LINE.replace(b"NAME", name.encode())
    candidates = [template, template.replace(missing, former) if missing else template]
    start, end = template.find(FORMER_RUN_FROM[0]), template.find(FORMER_RUN_FROM[1])
    if 0 <= start < end:  # before 126/127 fell back: `exec gitstore hook NAME "$@"`
        run = FORMER_RUN.replace(b"NAME", name.encode())
        candidates += [c[:start] + run + c[end:] for c in candidates]
        candidates += [c.replace(FORMER_COMMENT[0], FORMER_COMMENT[1]) for c in candidates]
    for candidate in candidates:
        head, _, tail = candidate.partition(PYTHON_SLOT)
        middle = data[len(head) : len(data) - len(tail)]
        if len(data) >= len(head) + len(tail) and data.startswith(head) and data.endswith(tail):
            if b"\n" not in middle:
                return True
    return False


def calls_gitstore_hook(data: bytes, name: str) -> bool:
    """True when a shell script runs ``gitstore hook NAME`` on a line that is not a comment.

    The line docs/hooks.md gives users of husky and of their own scripts; such
    a hook is left as it is, since chaining it would run gitstore's part twice.
    """
    call = re.compile(
        rb"(?:^|[\s;&|('\"/])gitstore\s+hook\s+['\"]?" + re.escape(name.encode()) + rb"\b"
    )
    return any(
        call.search(line) is not None
        for line in data.splitlines()
        if not line.lstrip().startswith(b"#")
    )


def _read(path: Path) -> bytes | None:
    """The bytes at ``path``; None when nothing is there (or a symlink to nothing)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise GitstoreError(f"cannot read {path}: {exc.strerror}") from exc


def _same_hook(a: Path, b: Path) -> bool:
    """``a`` and ``b`` are the same hook: equal bytes, or symlinks to the same place."""
    if a.is_symlink() or b.is_symlink():
        return a.is_symlink() and b.is_symlink() and os.readlink(a) == os.readlink(b)
    return _read(a) == _read(b)


def check_folder(folder: Path, what: str) -> None:
    """Refuse, before anything is written, a folder that is no folder or cannot be made."""
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        if probe == folder:
            raise GitstoreError(f"{what} {folder} is not a folder")
        raise GitstoreError(f"cannot create {what} {folder}: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise GitstoreError(f"cannot write {what} {folder}: {probe} is not writable")


def make_folder(folder: Path, what: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GitstoreError(f"cannot create {what} {folder}: {exc.strerror}") from exc


def _write_hook(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.gitstore-tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o755)
    os.replace(tmp, path)


def plan_hooks(hooks_dir: Path, force: bool) -> list[tuple[str, str]]:
    """(hook, step) for each hook: unchanged, skip, calls, write, chain or rewrap. Reads only."""
    check_folder(hooks_dir, "the hooks folder")
    steps = []
    for name in HOOKS:
        path = hooks_dir / name
        current = _read(path)
        marker = _marker(current) if current is not None else None
        if marker is not None:
            if current == render_hook(name) and not path.is_symlink():
                steps.append((name, "unchanged"))
            elif not marker.endswith(FORMAT) and not force:
                steps.append((name, "skip"))
            else:
                steps.append((name, "write"))
            continue
        chained = hooks_dir / (name + CHAINED_SUFFIX)
        if not os.path.lexists(path):
            steps.append((name, "write"))
        elif calls_gitstore_hook(current or b"", name):  # chaining it would run gitstore twice
            steps.append((name, "calls"))
        elif not os.path.lexists(chained):
            steps.append((name, "chain"))
        elif _same_hook(path, chained):  # a hook manager wrote its hook again: wrap it again
            steps.append((name, "rewrap"))
        else:
            raise GitstoreError(
                f"{path} is not gitstore's (a hook manager may have rewritten it) and differs"
                f" from {chained}, the hook gitstore kept there before",
                hint=f"delete {chained} if {path} replaces it, or merge it into {path} and"
                " delete it; then run `gitstore install` again",
            )
    return steps


def apply_hooks(hooks_dir: Path, steps: list[tuple[str, str]]) -> InstallResult:
    make_folder(hooks_dir, "the hooks folder")
    result = InstallResult(hooks_dir)
    try:
        for name, step in steps:
            path = hooks_dir / name
            if step in ("unchanged", "skip", "calls"):
                {"unchanged": result.unchanged, "skip": result.skipped, "calls": result.calls}[
                    step
                ].append(name)
                continue
            if step in ("chain", "rewrap"):
                os.replace(path, hooks_dir / (name + CHAINED_SUFFIX))
                result.chained.append(name)
            _write_hook(path, render_hook(name))
            result.installed.append(name)
    except OSError as exc:
        raise GitstoreError(f"cannot write {exc.filename or hooks_dir}: {exc.strerror}") from exc
    return result


def install_into(hooks_dir: Path, *, force: bool = False) -> InstallResult:
    """Write gitstore's hooks into ``hooks_dir``, chaining whatever is there."""
    return apply_hooks(hooks_dir, plan_hooks(hooks_dir, force))


def uninstall_from(hooks_dir: Path) -> InstallResult:
    """Remove gitstore's hooks and rename the chained ones back, bytes and mode intact.

    Also put back a ``NAME.gitstore-chained`` left without our ``NAME``, and
    delete our script where the pre-commit framework renamed it ``NAME.legacy``
    (the user's hook kept beside it takes its place, so pre-commit runs it).
    """
    result = InstallResult(hooks_dir)
    try:
        for name in HOOKS:
            _uninstall_hook(hooks_dir, name, result)
        (hooks_dir / ADDED_FILE).unlink(missing_ok=True)
    except OSError as exc:
        raise GitstoreError(f"cannot change {exc.filename or hooks_dir}: {exc.strerror}") from exc
    return result


def _uninstall_hook(hooks_dir: Path, name: str, result: InstallResult) -> None:
    path = hooks_dir / name
    chained = hooks_dir / (name + CHAINED_SUFFIX)
    legacy = hooks_dir / (name + LEGACY_SUFFIX)
    if _ours(path) is not None:
        path.unlink()
        result.removed.append(name)
        if os.path.lexists(chained):
            os.rename(chained, path)
            result.restored.append(name)
    elif os.path.lexists(path):
        result.foreign.append(name)
    elif os.path.lexists(chained):
        os.rename(chained, path)
        result.orphans.append(name)
    if _is_gitstore_script(legacy, name):
        legacy.unlink()
        result.legacy.append(name)
        if os.path.lexists(chained):
            os.rename(chained, legacy)
            result.legacy_restored.append(name)


def install(repo: GitRepo, *, force: bool = False, hooks: bool = True) -> InstallResult:
    """Install the hooks (honouring ``core.hooksPath``) and register the drivers.

    Everything is checked and read before anything is written. ``hooks``
    False, or a ``.pre-commit-config.yaml`` that runs gitstore's hooks
    already (the pre-commit framework): the drivers and ``.gitattributes``
    only, so that no hook runs twice.
    """
    hooks_dir = repo.hooks_dir()
    framework = hooks and _framework_runs_hooks(repo)
    steps = None
    if hooks and not framework and not _calls_gitstore_already(repo, hooks_dir):
        steps = plan_hooks(hooks_dir, force)
    attributes = _attributes_update(repo)
    if steps is None:
        result = InstallResult(hooks_dir, unchanged=list(HOOKS) if hooks and not framework else [])
        result.framework = framework
    else:
        result = apply_hooks(hooks_dir, steps)
    register_drivers(repo)
    if attributes is not None:
        _write_attributes(repo, attributes)
        result.attributes = True
    return result


def _calls_gitstore_already(repo: GitRepo, hooks_dir: Path) -> bool:
    """True when ``hooks_dir`` is a folder git tracks whose hooks call gitstore.

    Refuses such a folder whose hooks do not (husky v4 to v8): its files are
    shared, and gitstore's scripts record this machine's Python.
    """
    if repo.root is None:
        return False
    try:
        rel = Path(os.path.realpath(hooks_dir)).relative_to(os.path.realpath(repo.root))
    except ValueError:
        return False
    shown = rel.as_posix()
    if not repo.ls_files([f":(literal){shown}"]):
        return False
    missing = [
        n
        for n in SHARED_HOOKS
        if b"gitstore hook " + n.encode() not in (_read_quiet(hooks_dir / n))
    ]
    if not missing:
        return True
    lines = "; ".join(f'`gitstore hook {n} "$@"` in {shown}/{n}' for n in missing)
    raise GitstoreError(
        f"core.hooksPath is {shown}/, a folder git tracks in this work tree:"
        " gitstore will not rewrite its shared hook scripts",
        hint=f"call gitstore from your own hook scripts instead, a line each: {lines}",
    )


def _read_quiet(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _attributes_update(repo: GitRepo) -> bytes | None:
    """``.gitattributes`` with the manifests' line added, or None when it has it. Reads only.

    None too in a clone not checked out yet (``git clone --no-checkout``):
    its ``.gitattributes`` is in HEAD, not on disk, and staging a new one
    would make an index of that one file, every other one staged as deleted.
    """
    if repo.root is None or repo.not_checked_out():
        return None
    path = repo.root / ".gitattributes"
    data = _read(path) or b""
    line = ATTRIBUTES_LINE.encode()
    if any(x.strip() == line for x in data.split(b"\n")):
        return None
    first = data.find(b"\n")
    eol = b"\r\n" if first > 0 and data[first - 1 : first] == b"\r" else b"\n"
    return data + (eol if data and not data.endswith(b"\n") else b"") + line + eol


def _write_attributes(repo: GitRepo, data: bytes) -> None:
    path = repo.require_worktree() / ".gitattributes"
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise GitstoreError(f"cannot write {path}: {exc.strerror}") from exc
    repo.stage([".gitattributes"])


def ensure_attributes(repo: GitRepo) -> bool:
    """Mark manifests in ``.gitattributes`` (and stage it); True when it was changed.

    The line is appended with the file's own line ending; every other byte stays.
    """
    data = _attributes_update(repo)
    if data is None:
        return False
    _write_attributes(repo, data)
    return True


def uninstall(repo: GitRepo) -> InstallResult:
    result = uninstall_from(repo.hooks_dir())
    for section in ("merge.gitstore", "diff.gitstore"):
        repo.git("config", "--local", "--remove-section", section, check=False)
    return result


def driver_command() -> str:
    """The shell words git runs for the drivers: this gitstore, or the one on PATH once it is gone.

    As the hook scripts (which try PATH first, then the recorded Python): a
    gitstore reinstalled elsewhere must not turn every manifest merge into a
    conflict ("not found") until someone runs ``gitstore install`` again.
    """
    script = (
        f"p={shlex.quote(sys.executable)}; "
        'if [ -x "$p" ]; then exec "$p" -m gitstore "$@"; fi; exec gitstore "$@"'
    )
    return f"sh -c {shlex.quote(script)} gitstore"


def driver_settings(command: str | None = None) -> dict[str, str]:
    """git config for the ``*.gitstore`` merge driver and diff textconv."""
    command = driver_command() if command is None else command
    return {
        "merge.gitstore.name": "gitstore manifest merge (entry by entry)",
        "merge.gitstore.driver": f"{command} merge-driver %O %A %B %P",
        "diff.gitstore.textconv": f"{command} diff-driver --textconv",
    }


def register_drivers(repo: GitRepo) -> None:
    """The ``*.gitstore`` merge driver and diff textconv, in the clone's git config."""
    for key, value in driver_settings().items():
        if repo.config_get(key) != value:
            repo.config_set(key, value)


# the drivers as gitstores of before 2026-12-04 registered them: that version's
# interpreter alone, so that once its virtualenv is gone every manifest diff fails
# and every manifest merge is a conflict, while the older hook scripts go on
# running the new gitstore from PATH and nothing asks for `gitstore install`
_OLDER_DRIVERS = (b"-m gitstore merge-driver", b"-m gitstore diff-driver")


def refresh_older_drivers(repo: GitRepo) -> None:
    """Register the drivers anew where an older gitstore's form is in the clone's config
    (one read of that file each command or hook; git config runs only to mend it)."""
    try:
        data = (repo.common_dir / "config").read_bytes()
        if any(form in data for form in _OLDER_DRIVERS):
            register_drivers(repo)
    except (OSError, GitstoreError):  # nothing to mend here, or git cannot: as before
        pass


def add_later_hooks(hook_path: str) -> None:
    """Add the hooks an older gitstore did not install beside ``hook_path``, one of ours.

    A clone set up before post-index-change existed runs the new gitstore
    from its older scripts: the first of them to run writes the new hook
    where no file of that name is (one ``lstat`` each run), once: the name
    goes into ``.gitstore-added`` beside it, so a hook the user deletes
    afterwards stays deleted. A hook of the user's there is left alone:
    ``gitstore install`` chains it.
    """
    folder = os.path.dirname(hook_path)
    for name in HOOKS[len(SHARED_HOOKS) :]:
        path = Path(folder, name)
        if os.path.lexists(path):
            continue
        added = Path(folder, ADDED_FILE)
        if name in _read_quiet(added).decode("utf-8", "replace").split():
            continue  # added once, and deleted since
        if _ours(Path(hook_path)) is None:
            return  # not run from a script of ours
        try:
            _write_hook(path, render_hook(name))
            with open(added, "a", encoding="utf-8") as f:
                f.write(name + "\n")
        except OSError:  # a hooks folder this user cannot write: `gitstore install` says so
            return


# -- chaining ------------------------------------------------------------------
def read_hook_stdin(name: str) -> bytes:
    """What git wrote on stdin for hooks that get any; b'' at a terminal."""
    if name not in STDIN_HOOKS:
        return b""
    try:
        if sys.stdin is None or sys.stdin.isatty():
            return b""
        return sys.stdin.buffer.read()
    except (OSError, ValueError):
        return b""


def run_chained(name: str, args: Sequence[str], stdin: bytes) -> int:
    """Run the hook kept beside ours (see the module docstring); its exit code, 0 if none.

    ``GITSTORE_HOOK_PATH``, set by our script, says where git found it. The
    chained hook sees ``$0`` as the original hook path when it is a shell
    script (husky finds its own scripts through ``basename "$0"``).
    """
    hook_path = os.environ.pop("GITSTORE_HOOK_PATH", "")
    if not hook_path:
        return 0
    chained = hook_path + CHAINED_SUFFIX
    if not os.path.isfile(chained) or not os.access(chained, os.X_OK):
        return 0
    argv = [chained, *args]
    shell = _shell_of(chained)
    if shell is not None:
        argv = [shell, "-c", '. "$GITSTORE_CHAINED_HOOK"', hook_path, *args]
    env = dict(os.environ, GITSTORE_CHAINED_HOOK=chained)
    try:
        return subprocess.run(argv, input=stdin, env=env, check=False).returncode
    except OSError as exc:
        raise GitstoreError(f"cannot run the chained hook {chained}: {exc.strerror}") from exc


def _shell_of(path: str) -> str | None:
    """``sh``/``bash``/``dash`` when ``path`` is a script for one of them, else None."""
    try:
        with open(path, "rb") as f:
            first = f.readline(256)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode("utf-8", "replace").split()
    if words and words[0].endswith("/env") and len(words) > 1:
        words = words[1:]
    if len(words) != 1:
        return None
    shell = words[0]
    return shell if os.path.basename(shell) in ("sh", "bash", "dash") else None


# -- "this clone has no hooks" -------------------------------------------------
def hooks_installed(repo: GitRepo) -> bool:
    """True when gitstore's hooks run in this clone, directly or via pre-commit."""
    hooks_dir = repo.hooks_dir()
    if any(_ours(hooks_dir / name) is not None for name in ("pre-commit", "pre-push")):
        return True
    # a shared (tracked) hooks folder whose own scripts call `gitstore hook NAME`
    if all(
        f"gitstore hook {n}".encode() in _read_quiet(hooks_dir / n)
        for n in ("pre-commit", "pre-push")
    ):
        return True
    return _framework_runs_hooks(repo)


def _framework_runs_hooks(repo: GitRepo) -> bool:
    """Whether ``.pre-commit-config.yaml`` runs gitstore's hooks (by id, or as a local entry)."""
    if repo.root is None:
        return False
    data = _read_quiet(repo.root / ".pre-commit-config.yaml")
    return b"gitstore hook" in data or b"gitstore-pre-commit" in data


def note_missing_hooks(repo: GitRepo) -> str | None:
    """A one-time note when this clone has no gitstore hooks; None otherwise or once said."""
    marker = repo.state_dir / NOTE_FILE
    if repo.root is None or marker.exists():
        return None
    if hooks_installed(repo):
        return None
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("the note about missing hooks was shown\n")
    except OSError:
        return None
    return (
        "gitstore: note: this clone has no gitstore hooks, so git commit/push/checkout"
        " do not keep data in step; run `gitstore install` (said once)"
    )
