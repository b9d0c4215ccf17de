"""Sparse files in the cache and the work tree: what a QA pass of the feature found.

Holes are decided by content (docs/cache.md): these tests need a filesystem
with holes and skip where there is none.
"""

from __future__ import annotations

import os
import resource
import subprocess
from pathlib import Path

import pytest

from tests.conftest import GITSTORE, git


def _allocated(path: Path) -> int:
    return path.stat().st_blocks * 512


def _object(oid: str) -> Path:
    root = Path(os.environ["XDG_CACHE_HOME"]) / "gitstore" / "objects"
    return root / oid[:2] / oid[2:4] / oid


def _oid(manifest: Path) -> str:
    return manifest.read_text().split("blake3: ")[1][:64]


def _holes_here(folder: Path) -> None:
    probe = folder / "probe"
    with open(probe, "wb") as f:
        f.truncate(4 << 20)
    allocated = _allocated(probe)
    probe.unlink()
    if allocated:
        pytest.skip("this filesystem has no sparse files")


def test_a_last_partial_block_of_zeros_is_a_hole(repo: Path, run) -> None:
    _holes_here(repo)
    g = repo / "g"
    with open(g, "wb") as f:
        f.truncate((16 << 20) + 100)  # the size is not a multiple of a block
        f.write(b"A" * 4096)
    run(repo, "track", "g")
    obj = _object(_oid(repo / "g.gitstore"))
    assert _allocated(obj) <= 4096
    g.unlink()
    run(repo, "checkout", "--link", "copy")
    assert _allocated(g) <= 4096
    assert g.stat().st_size == (16 << 20) + 100


def test_the_cache_keeps_the_sparse_copy_of_bytes_it_first_got_dense(repo: Path, run) -> None:
    """A dense file of zeros, then a sparse file of the same bytes: the object becomes sparse."""
    _holes_here(repo)
    dense, sparse = repo / "dense.img", repo / "sparse.img"
    dense.write_bytes(bytes(8 << 20))
    with open(sparse, "wb") as f:
        f.truncate(8 << 20)
    run(repo, "track", "dense.img")
    obj = _object(_oid(repo / "dense.img.gitstore"))
    assert _allocated(obj) >= 8 << 20  # a dense file is stored as it is
    run(repo, "track", "sparse.img")
    assert _allocated(obj) == 0
    assert obj.read_bytes() == bytes(8 << 20)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "both")
    sparse.unlink()
    run(repo, "checkout", "--link", "copy")
    assert _allocated(sparse) == 0 and sparse.read_bytes() == bytes(8 << 20)
    run(repo, "verify")


def test_repair_from_the_work_tree_keeps_the_holes(repo: Path, run) -> None:
    _holes_here(repo)
    z = repo / "z.raw"
    with open(z, "wb") as f:
        f.truncate(32 << 20)
        f.seek(16 << 20)
        f.write(b"X")
    run(repo, "track", "z.raw")
    obj = _object(_oid(repo / "z.raw.gitstore"))
    obj.chmod(0o644)
    with open(obj, "r+b") as f:  # damage the object by writing into one of its holes
        f.seek(24 << 20)
        f.write(b"XX")
    obj.chmod(0o444)
    run(repo, "verify", "--repair", ok=None)
    assert _allocated(obj) <= 8192
    assert obj.read_bytes() == z.read_bytes()
    run(repo, "verify")


def test_a_file_size_limit_stops_checkout_with_one_line(repo: Path, run) -> None:
    """EFBIG (ulimit -f) mid-checkout: one error line and the way on, no traceback."""
    big = repo / "ss" / "f"
    big.parent.mkdir()
    big.write_bytes(os.urandom(3 << 20))
    run(repo, "track", "ss")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a")
    big.unlink()
    big.parent.rmdir()

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    proc = subprocess.run(
        [*GITSTORE, "checkout", "--link", "copy", "ss"],
        cwd=repo,
        capture_output=True,
        text=True,
        preexec_fn=limit,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "gitstore: error: checkout of ss stopped: File too large" in proc.stderr
    assert "`gitstore checkout ss` (from the repository's top) finishes it" in proc.stderr
    assert not (repo / "ss").exists()  # whole or not at all
    run(repo, "checkout", "ss")
    assert big.stat().st_size == 3 << 20
