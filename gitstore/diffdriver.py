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
    lines += [f"{key}: {_value(value)}" for key, value in manifest.extra]
    for e in manifest.entries:
        flag = "  executable" if e.exec else ""
        extra = "".join(f"  {key}: {_value(value)}" for key, value in e.extra)
        lines.append(f"{mf.one_line(e.path)}  {human_size(e.size)}  {e.oid[:12]}{flag}{extra}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def _value(value: object) -> str:
    """An unknown key's value on one line (the keys are kept by every writer, DESIGN.md)."""
    import json

    return mf.one_line(value if isinstance(value, str) else json.dumps(value, default=str))
