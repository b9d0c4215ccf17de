"""Names near the 255-byte limit in published stores (QA pass 15, findings 3 and 4).

Every name here is legal in a work tree, and track, commit, push and checkout
handle it; the temporary and staging names that publish and get-published
derived from it by adding bytes did not fit, and the command failed with
"File name too long".
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import git, write

Run = Callable[..., subprocess.CompletedProcess[str]]


def _names_in(root: Path) -> list[str]:
    return sorted(name for _dir, dirs, files in os.walk(root) for name in dirs + files)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, which a shared store's folders must not follow (see sharing.py)."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


# -- finding 3: publish to a folder store ---------------------------------------------


@pytest.mark.parametrize("length", [229, 246])
def test_a_long_file_name_is_published_to_a_folder(
    tmp_path: Path, repo: Path, run: Run, length: int
) -> None:
    """Its manifest's name is 238 or 255 bytes; the store's temporary name for the
    published entry (``.NAME.<12 hex>.tmp``) was 18 bytes longer, publish failed, and
    no later commit of the branch was published either."""
    name = "f" * length
    run(repo, "init")
    write(repo / name, b"data\n")
    run(repo, "track", name)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "long")
    write(repo / "small.bin", b"more\n")
    run(repo, "track", "small.bin")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "small")
    store = tmp_path / "store"
    run(repo, "publish", str(store))

    out = tmp_path / "out"
    out.mkdir()
    got = run(out, "get-published", str(store), name, "-b", "main", "-d", "2100-01-01")
    assert got.stdout == "data\n"
    got = run(out, "get-published", str(store), "small.bin", "-b", "main", "-d", "2100-01-01")
    assert got.stdout == "more\n"
    assert not [n for n in _names_in(store) if n.endswith(".tmp")]  # none left behind


def test_a_long_folder_name_is_published_to_a_shared_folder(
    tmp_path: Path, repo: Path, run: Run, umask_022: None
) -> None:
    """A store shared by a team (mode 2775) makes each folder under a hidden name and
    moves it in; that name (``.NAME.<8 hex>.tmp``) was 14 bytes longer than the folder's,
    so a tracked file inside a folder of 242 to 255 bytes could not be published."""
    folder = "d" * 250
    run(repo, "init")
    write(repo / folder / "x.bin", b"inside\n")
    run(repo, "track", f"{folder}/x.bin")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "long folder")
    store = tmp_path / "store"
    store.mkdir()
    os.chmod(store, 0o2775)
    run(repo, "publish", str(store))

    got = run(
        tmp_path, "get-published", str(store), f"{folder}/x.bin", "-b", "main", "-d", "2100-01-01"
    )
    assert got.stdout == "inside\n"
    made = [Path(d) for d, _, _ in os.walk(store / "commits")]
    assert any(p.name == folder for p in made)
    assert all(os.stat(p).st_mode & 0o2775 == 0o2775 for p in made)  # shared as the store is
    assert not [n for n in _names_in(store) if n.endswith(".tmp")]
