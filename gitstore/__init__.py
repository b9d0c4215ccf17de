"""gitstore: version large files and datasets beside code in git.

The Python API (``open``, ``read``, ``get``, ``Repo``) hands tracked files to
training code at any revision; see docs/python-api.md.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
