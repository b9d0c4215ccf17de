"""The git diff textconv for manifests: one readable line per tracked file.

``gitstore install`` sets ``diff.gitstore.textconv`` to ``gitstore diff-driver
--textconv``; ``.gitattributes`` says ``diff=gitstore`` for ``*.gitstore``. git
then diffs :func:`render` of each side, so ``git diff`` and ``git log -p``
show which files were added (``+``), removed (``-``) or modified (a ``-``/``+``
pair on the same path) with their sizes, instead of raw YAML. Anything that
does not parse (conflict markers, a newer format) is shown as it is.
"""

from __future__ import annotations

from . import manifest as mf
from .errors import ManifestError

__all__ = ["human_size", "render"]


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def render(data: bytes, source: str = "manifest") -> bytes:
    """The text git diffs for one manifest."""
    if not data.strip():
        return b""
    try:
        manifest = mf.parse(data, source)
    except ManifestError:
        return data
    files = "file" if manifest.files == 1 else "files"
    lines = [
        f"gitstore {manifest.kind}: {manifest.files} {files}, {human_size(manifest.size)} ({manifest.size} bytes)"
    ]
    for e in manifest.entries:
        flag = "  executable" if e.exec else ""
        lines.append(f"{e.path}  {human_size(e.size)}  {e.oid[:12]}{flag}")
    return ("\n".join(lines) + "\n").encode("utf-8")
