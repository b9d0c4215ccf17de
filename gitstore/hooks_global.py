"""gitstore's hooks for every new clone: ``git config --global init.templateDir``.

As ``git lfs install`` sets its filter globally, ``install_global`` puts the
hooks where git copies them from into each new repository: the user's own
template folder when ``init.templateDir`` names one (chained with the hooks
there, the setting left as it is), else gitstore's own template, made from
git's default one. The merge and diff drivers go into the global git config.
A global ``core.hooksPath`` is refused: git never runs a template's hooks
then. ``uninstall_global`` undoes only what gitstore did.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import GitstoreError
from .hooks import (
    InstallResult,
    apply_hooks,
    check_folder,
    driver_settings,
    make_folder,
    plan_hooks,
    uninstall_from,
)

__all__ = ["GlobalInstall", "GlobalUninstall", "install_global", "uninstall_global"]


@dataclass
class GlobalInstall:
    template: Path  # the folder set as init.templateDir
    own: bool  # gitstore's own template (False: the user's, left set as it was)
    result: InstallResult


@dataclass
class GlobalUninstall:
    results: list[InstallResult]
    unset_template: Path | None  # gitstore's template, no longer init.templateDir
    removed_keys: list[str]  # the global merge.gitstore.* / diff.gitstore.* keys removed


def _own_template() -> Path:
    from .config import xdg_config_home

    return xdg_config_home() / "gitstore" / "template"


def _git_config(*args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    try:
        proc = subprocess.run(["git", "config", *args], capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise GitstoreError("git is not installed or not on PATH") from exc
    if check and proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitstoreError(f"git config failed: {message[0] if message else 'no message'}")
    return proc


def _config_get(scope: str, key: str, *, path: bool = False) -> str | None:
    proc = _git_config(scope, *(["--path"] if path else []), "--get", key, check=False)
    if proc.returncode == 1:
        return None
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitstoreError(f"git config failed: {message[0] if message else 'no message'}")
    return proc.stdout.decode("utf-8", "replace").rstrip("\n") or None


def _same_path(a: Path, b: Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _refuse_global_hooks_path() -> None:
    for scope in ("--system", "--global"):
        value = _config_get(scope, "core.hooksPath", path=True)
        if value:
            raise GitstoreError(
                f"core.hooksPath is set ({scope[2:]} git config) to {value}: git never runs"
                " init.templateDir's hooks, so new clones would push data-less commits",
                hint=f"`gitstore install` inside a repository installs into {value}, which"
                " then affects every repository (or unset core.hooksPath first)",
            )


def _default_template() -> Path | None:
    """git's own template folder (``description``, ``info/exclude``), if it can be found."""
    candidates = []
    try:
        proc = subprocess.run(["git", "--exec-path"], capture_output=True, check=False)
        if proc.returncode == 0:
            exec_path = Path(os.fsdecode(proc.stdout.strip()))
            candidates.append(exec_path / ".." / ".." / "share" / "git-core" / "templates")
    except OSError:
        pass
    candidates.append(Path("/usr/share/git-core/templates"))
    return next((c for c in candidates if c.is_dir()), None)


def _copy_missing(source: Path, target: Path) -> None:
    """Copy the files of ``source`` that ``target`` lacks; never overwrite."""
    try:
        for folder, _dirs, files in os.walk(source):
            here = target / Path(folder).relative_to(source)
            here.mkdir(exist_ok=True)
            for name in files:
                if not os.path.lexists(here / name):
                    shutil.copy2(Path(folder) / name, here / name)
    except OSError as exc:
        raise GitstoreError(
            f"cannot copy git's template {source} into {target}: {exc.strerror}"
        ) from exc


def install_global(force: bool = False) -> GlobalInstall:
    """Hooks for every new clone, in the folder ``init.templateDir`` names.

    A template folder of the user's own gets gitstore's hooks chained with
    its own, and the setting stays; otherwise gitstore's template (a copy of
    git's default one) is set. The drivers are set globally too.
    """
    _refuse_global_hooks_path()
    own = _own_template()
    current = _config_get("--global", "init.templateDir", path=True)
    template = Path(current) if current and not _same_path(Path(current), own) else own
    check_folder(template, "the template folder")
    steps = plan_hooks(template / "hooks", force)
    if template == own:
        make_folder(own, "the template folder")
        source = _default_template()
        if source is not None:
            _copy_missing(source, own)
    result = apply_hooks(template / "hooks", steps)
    # the drivers too, as `git lfs install` sets its filter: a clone made from
    # the template has the hooks but no local config, and without the merge
    # driver git merges manifests as text (false conflicts)
    settings = driver_settings()
    if template == own and not current:
        settings["init.templateDir"] = str(own)
    for key, value in settings.items():
        if _config_get("--global", key) != value:
            _git_config("--global", key, value)
    return GlobalInstall(template, template == own, result)


def uninstall_global() -> GlobalUninstall:
    """Undo :func:`install_global`: hooks out of the template, gitstore's global keys unset."""
    own = _own_template()
    current = _config_get("--global", "init.templateDir", path=True)
    folders = [own / "hooks"]
    if current and not _same_path(Path(current), own):
        folders.insert(0, Path(current) / "hooks")
    results = [uninstall_from(folder) for folder in folders if folder.is_dir()]
    unset = None
    if current and _same_path(Path(current), own):
        _git_config("--global", "--unset-all", "init.templateDir")
        unset = own
    removed = []
    for key, value in driver_settings("gitstore").items():  # ours, whichever gitstore wrote it
        found = _config_get("--global", key)
        if found is not None and found.endswith(value):
            _git_config("--global", "--unset-all", key)
            removed.append(key)
    for section in ("merge.gitstore", "diff.gitstore"):
        left = _git_config("--global", "--get-regexp", f"^{section}\\.", check=False)
        if removed and left.returncode == 1:
            _git_config("--global", "--remove-section", section, check=False)
    return GlobalUninstall(results, unset, removed)
