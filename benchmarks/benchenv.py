"""The hermetic environment every benchmark module runs gitstore and git in.

Its own XDG folders under the work folder, no inherited GIT_*/GITSTORE_*
variables, no system git config, a fixed author, and this checkout's
gitstore first on PYTHONPATH. Never the user's real cache or config.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def hermetic_env(
    workdir: Path,
    *,
    cache: str = "cache",
    scrub: tuple[str, ...] = ("GIT_", "GITSTORE_"),
    home: bool = False,
    bytecode: bool = False,
    extra: Mapping[str, str] = {},
) -> dict[str, str]:
    """``os.environ`` made hermetic for one benchmark (see the module docstring).

    ``bytecode``: load modules from bytecode cached under the work folder, as an
    installed gitstore does, even where PYTHONDONTWRITEBYTECODE is set.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(scrub)}
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    if home:
        env["HOME"] = str(workdir / "home")
    env.update(extra)
    env.update(
        XDG_CACHE_HOME=str(workdir / cache),
        XDG_CONFIG_HOME=str(workdir / "config"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@example.com",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@example.com",
        PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )
    return env
