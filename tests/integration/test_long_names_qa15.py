"""Names near the 255-byte limit in published stores, and serve of an http(s) store
(QA pass 15, findings 3, 4 and 9).

Every name here is legal in a work tree, and track, commit, push and checkout
handle it; the temporary and staging names that publish and get-published
derived from it by adding bytes did not fit, and the command failed with
"File name too long". Serve's front page of a store read over HTTP said that
nothing was published there.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import GITSTORE, git, write

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


# -- finding 4: get-published ---------------------------------------------------------

MIB = 1 << 20
DATE = ("-b", "main", "-d", "2100-01-01")


def _publish_folder(tmp_path: Path, repo: Path, run: Run, files: dict[str, bytes]) -> Path:
    """``d/`` holding ``files``, tracked, committed and published to a folder: the store."""
    run(repo, "init")
    for name, data in files.items():
        write(repo / "d" / name, data)
    run(repo, "track", "d")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "d")
    store = tmp_path / "store"
    run(repo, "publish", str(store))
    return store


def _fresh(tmp_path: Path) -> Path:
    out = tmp_path / "fresh"
    out.mkdir()
    return out


def test_a_folder_with_long_file_names_is_got(tmp_path: Path, repo: Path, run: Run) -> None:
    """Each file was staged as ``.NAME.<8 hex>.part``, 15 bytes longer than its name:
    a folder holding a name of 241 to 255 bytes could not be got at all."""
    files = {"short.txt": b"a\n", "n" * 241: b"b\n", "m" * 255: b"c\n"}
    store = _publish_folder(tmp_path, repo, run, files)
    here = _fresh(tmp_path)
    run(here, "get-published", str(store), "d", *DATE, "-o", "out")
    run(here, "get-published", str(store), "d", *DATE)  # under its own name
    for got in (here / "out", here / "d"):
        assert {p.name: p.read_bytes() for p in got.iterdir()} == files
    assert sorted(os.listdir(here)) == ["d", "out"]  # no staging folder left


def test_a_file_is_got_under_a_long_name(tmp_path: Path, repo: Path, run: Run) -> None:
    """``-o`` naming a file of 241 to 255 bytes: its temporary name did not fit."""
    store = _publish_folder(tmp_path, repo, run, {"x.bin": b"payload\n"})
    here = _fresh(tmp_path)
    for length in (241, 255):
        run(here, "get-published", str(store), "d/x.bin", *DATE, "-o", "o" * length)
        assert (here / ("o" * length)).read_bytes() == b"payload\n"
    long_dir = here / ("p" * 255)
    long_dir.mkdir()  # -o FOLDER: the file goes in under its own name
    run(here, "get-published", str(store), "d/x.bin", *DATE, "-o", long_dir.name)
    assert os.listdir(long_dir) == ["x.bin"]
    assert sorted(os.listdir(here)) == sorted(["o" * 241, "o" * 255, long_dir.name])


def test_a_folder_is_got_under_a_long_name(tmp_path: Path, repo: Path, run: Run) -> None:
    """``-o`` naming a folder of 241 to 255 bytes: its staging folder's name did not fit."""
    store = _publish_folder(tmp_path, repo, run, {"x.bin": b"payload\n"})
    here = _fresh(tmp_path)
    name = "q" * 250
    run(here, "get-published", str(store), "d", *DATE, "-o", name)
    assert (here / name / "x.bin").read_bytes() == b"payload\n"
    assert os.listdir(here) == [name]


def test_a_name_past_the_limit_says_what_could_not_be_written(
    tmp_path: Path, repo: Path, run: Run
) -> None:
    """A name the system cannot hold (256 bytes) is the user's to change: the error said
    only "File name too long: NAME", not that get-published was writing it."""
    store = _publish_folder(tmp_path, repo, run, {"x.bin": b"payload\n"})
    here = _fresh(tmp_path)
    for path in ("d/x.bin", "d"):
        failed = run(here, "get-published", str(store), path, *DATE, "-o", "r" * 256, ok=False)
        first = failed.stderr.splitlines()[0]
        assert first.startswith(f"gitstore: error: cannot write {path} to rrr"), first
        assert first.endswith(": File name too long"), first
        assert "hint: choose another place with -o" in failed.stderr
    assert os.listdir(here) == []


def test_a_big_file_with_a_long_name_resumes(tmp_path: Path, repo: Path, run: Run) -> None:
    """A big object goes through ``.NAME.gitstore-partial/<oid>`` so that a killed run
    resumes; for a name of 238 bytes or more that folder's name did not fit and the
    object was downloaded whole each time. A digest of the name now stands in for it:
    the next run of the same command finds what the killed one left."""
    data = os.urandom(MIB) * 72  # past the 64 MiB from which downloads resume
    store = _publish_folder(tmp_path, repo, run, {"big.bin": data})
    here = _fresh(tmp_path)
    name = "b" * 250
    cmd = [*GITSTORE, "get-published", str(store), "d/big.bin", *DATE, "-o", name]
    env = {**os.environ, "GITSTORE_FAULT": "kill-range:3"}
    killed = subprocess.run(cmd, cwd=here, env=env, capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    (partials,) = os.listdir(here)  # the partial folder, and nothing at the name
    assert partials.endswith(".gitstore-partial") and len(partials) < 100, partials

    again = subprocess.run(cmd, cwd=here, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "gitstore: resumed " in again.stderr
    assert (here / name).read_bytes() == data
    assert os.listdir(here) == [name]  # the partial folder is gone


# -- finding 9: serve of an http(s) store ---------------------------------------------


def _get_page(base: str, path: str, json_too: bool = False) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    headers = {"Accept": "application/json"} if json_too else {}
    request = urllib.request.Request(base + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _publish_branches(tmp_path: Path, repo: Path, run: Run, branches: list[str]) -> Path:
    """One commit of tracked data on each branch, each published to one folder store."""
    run(repo, "init")
    store = tmp_path / "store"
    for branch in branches:
        git(repo, "checkout", "-qB", branch)
        write(repo / f"{branch}.bin", branch.encode())
        run(repo, "track", f"{branch}.bin")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", branch)
        run(repo, "publish", str(store), "-b", branch)
    return store


def test_serve_of_an_http_store_says_it_cannot_list_branches(
    tmp_path: Path, repo: Path, run: Run
) -> None:
    """A static web server gives no listing of ``branches/``: the front page said
    "Nothing is published here yet." (JSON: ``"branches": []``) although every
    branch's page worked. It now says the list cannot be read, how to open a branch,
    and lists those of main and master that are published."""
    from tests.integration.publish_helpers import serve_process
    from tests.servers import StaticServer

    store = _publish_branches(tmp_path, repo, run, ["main", "feature"])
    with StaticServer(store) as static, serve_process(tmp_path, static.url) as base:
        status, page = _get_page(base, "/")
        assert status == 200
        assert "Nothing is published" not in page
        assert "cannot be read from" in page and "/ui/branch/&lt;name&gt;" in page
        assert 'href="/ui/branch/main"' in page
        assert 'href="/ui/branch/feature"' not in page  # not guessed: opened by its name
        assert _get_page(base, "/ui/branch/feature")[0] == 200

        status, body = _get_page(base, "/", json_too=True)
        index = json.loads(body)
        assert index["listed"] is False and index["tried"] == ["main", "master"]
        assert [b["branch"] for b in index["branches"]] == ["main"]
        assert index["branches"][0]["commits"] == 1

    # the same store served from its folder lists every branch, and says it did
    from tests.integration.publish_helpers import serving

    with serving(store) as base:
        index = json.loads(_get_page(base, "/", json_too=True)[1])
        assert index["listed"] is True and "tried" not in index
        assert [b["branch"] for b in index["branches"]] == ["feature", "main"]


def test_serve_of_an_http_store_with_neither_main_nor_master(
    tmp_path: Path, repo: Path, run: Run
) -> None:
    from tests.integration.publish_helpers import serve_process
    from tests.servers import StaticServer

    store = _publish_branches(tmp_path, repo, run, ["trunk"])
    with StaticServer(store) as static, serve_process(tmp_path, static.url) as base:
        page = _get_page(base, "/")[1]
        assert "Neither main nor master is published here." in page
        assert "/ui/branch/&lt;name&gt;" in page and "Nothing is published" not in page
        assert json.loads(_get_page(base, "/", json_too=True)[1])["branches"] == []
        assert _get_page(base, "/ui/branch/trunk")[0] == 200
