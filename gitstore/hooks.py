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
drivers in the clone's git config. What each hook does is in ``hookrun.py``.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import GitstoreError
from .gitrepo import GitRepo

__all__ = [
    "CHAINED_SUFFIX",
    "HOOKS",
    "InstallResult",
    "gitstore_command",
    "hooks_installed",
    "install",
    "install_global",
    "note_missing_hooks",
    "register_drivers",
    "render_hook",
    "run_chained",
    "uninstall",
]

HOOKS = ("pre-commit", "pre-push", "post-checkout", "post-merge", "post-rewrite")
STDIN_HOOKS = ("pre-push", "post-rewrite")
CHAINED_SUFFIX = ".gitstore-chained"
MARKER = b"# gitstore-hook: "
FORMAT = b"(format 1)"
ATTRIBUTES_LINE = "*.gitstore -text merge=gitstore diff=gitstore"
NOTE_FILE = "hooks-note-shown"


@dataclass
class InstallResult:
    hooks_dir: Path
    installed: list[str] = field(default_factory=list)  # written or rewritten
    unchanged: list[str] = field(default_factory=list)
    chained: list[str] = field(default_factory=list)  # a user's hook kept and run first
    skipped: list[str] = field(default_factory=list)  # an older gitstore's hook, without --force
    restored: list[str] = field(default_factory=list)  # uninstall: the user's hook put back
    removed: list[str] = field(default_factory=list)  # uninstall: ours deleted
    foreign: list[str] = field(default_factory=list)  # uninstall: not ours, left alone


def gitstore_command() -> str:
    """The shell words that run this gitstore: ``'<python>' -m gitstore``."""
    return f"{shlex.quote(sys.executable)} -m gitstore"


def render_hook(name: str) -> bytes:
    """The script for hook ``name``, with this Python recorded as the fallback."""
    from importlib import resources  # install only: its import costs ~20 ms per hook run

    template = resources.files("gitstore.hookscripts").joinpath(name).read_bytes()
    return template.replace(b"@GITSTORE_PYTHON@", shlex.quote(sys.executable).encode())


def _ours(path: Path) -> bytes | None:
    """Our hook's format marker line when ``path`` is a gitstore hook, else None."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    for line in head.splitlines():
        if line.startswith(MARKER):
            return line
    return None


def _write_hook(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.gitstore-tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o755)
    os.replace(tmp, path)


def install_into(hooks_dir: Path, *, force: bool = False) -> InstallResult:
    """Write gitstore's hooks into ``hooks_dir``, chaining whatever is there."""
    hooks_dir.mkdir(parents=True, exist_ok=True)
    result = InstallResult(hooks_dir)
    for name in HOOKS:
        path = hooks_dir / name
        data = render_hook(name)
        marker = _ours(path)
        if marker is not None:
            if path.read_bytes() == data and not path.is_symlink():
                result.unchanged.append(name)
                continue
            if not marker.endswith(FORMAT) and not force:
                result.skipped.append(name)
                continue
            _write_hook(path, data)
            result.installed.append(name)
            continue
        if os.path.lexists(path):
            chained = hooks_dir / (name + CHAINED_SUFFIX)
            if os.path.lexists(chained):
                raise GitstoreError(
                    f"{path} is not gitstore's, and {chained.name} is already kept beside it",
                    hint="merge the two by hand, then run `gitstore install` again",
                )
            os.rename(path, chained)
            result.chained.append(name)
        _write_hook(path, data)
        result.installed.append(name)
    return result


def uninstall_from(hooks_dir: Path) -> InstallResult:
    """Remove gitstore's hooks and rename the chained ones back, bytes and mode intact."""
    result = InstallResult(hooks_dir)
    for name in HOOKS:
        path = hooks_dir / name
        chained = hooks_dir / (name + CHAINED_SUFFIX)
        if _ours(path) is None:
            if os.path.lexists(path):
                result.foreign.append(name)
            continue
        path.unlink()
        result.removed.append(name)
        if os.path.lexists(chained):
            os.rename(chained, path)
            result.restored.append(name)
    return result


def install(repo: GitRepo, *, force: bool = False) -> InstallResult:
    """Install the hooks (honouring ``core.hooksPath``) and register the drivers."""
    result = install_into(repo.hooks_dir(), force=force)
    register_drivers(repo)
    ensure_attributes(repo)
    return result


def ensure_attributes(repo: GitRepo) -> bool:
    """Mark manifests in ``.gitattributes`` (and stage it); True when it was changed."""
    if repo.root is None:
        return False
    attributes = repo.root / ".gitattributes"
    existing = attributes.read_text().splitlines() if attributes.exists() else []
    if ATTRIBUTES_LINE in existing:
        return False
    attributes.write_text("".join(x + "\n" for x in existing + [ATTRIBUTES_LINE]))
    repo.stage([".gitattributes"])
    return True


def uninstall(repo: GitRepo) -> InstallResult:
    result = uninstall_from(repo.hooks_dir())
    for section in ("merge.gitstore", "diff.gitstore"):
        repo.git("config", "--local", "--remove-section", section, check=False)
    return result


def driver_settings() -> dict[str, str]:
    """git config for the ``*.gitstore`` merge driver and diff textconv."""
    command = gitstore_command()
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


def install_global(force: bool = False) -> tuple[Path, InstallResult]:
    """Hooks for every new clone: a template folder set as ``init.templateDir``."""
    from .config import xdg_config_home

    template = xdg_config_home() / "gitstore" / "template"
    result = install_into(template / "hooks", force=force)
    # the drivers too, as `git lfs install` sets its filter: a clone made from
    # the template has the hooks but no local config, and without the merge
    # driver git merges manifests as text (false conflicts)
    settings = {"init.templateDir": str(template), **driver_settings()}
    for key, value in settings.items():
        proc = subprocess.run(
            ["git", "config", "--global", key, value], capture_output=True, check=False
        )
        if proc.returncode != 0:
            message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise GitstoreError(
                f"git config --global failed: {message[0] if message else 'no message'}"
            )
    return template, result


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
    if repo.root is not None:
        try:
            return b"gitstore hook" in (repo.root / ".pre-commit-config.yaml").read_bytes()
        except OSError:
            return False
    return False


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
