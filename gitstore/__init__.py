"""gitstore: version large files and datasets beside code in git.

The Python API (``open``, ``read``, ``get``, ``Repo``) hands tracked files to
training code at any revision; see docs/python-api.md. ``import gitstore`` is
cheap: the API module is imported on first use.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing's import (with re, ~3 ms) is not paid by every start-up
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"
__all__ = ["Repo", "__version__", "errors", "get", "open", "read"]

if TYPE_CHECKING:
    from . import errors
    from .pyapi import Repo, get, open, read

_LAZY = {"Repo": "pyapi", "get": "pyapi", "open": "pyapi", "read": "pyapi"}


def __getattr__(name: str) -> Any:
    import importlib

    if name == "errors":
        return importlib.import_module(".errors", __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gitstore' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
