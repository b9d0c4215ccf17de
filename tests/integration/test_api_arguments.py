"""The Python API's arguments as training code passes them (third QA pass).

A wrong type is a TypeError naming the argument, raised at the API's door,
not from inside pathlib or git; paths come as str, Path or bytes; a single
path given as ``paths=`` is one path, not a list of letters.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import gitstore
from gitstore.errors import PathError
from tests.integration.test_history import tagged  # noqa: F401 (fixture)


@pytest.fixture
def api(tagged: Path) -> gitstore.Repo:  # noqa: F811
    return gitstore.Repo(tagged)


def test_paths_as_str_path_and_bytes(api: gitstore.Repo) -> None:
    assert api.read("data/cats/1", rev="v1") == b"one"
    assert api.read(Path("data/cats/1"), rev="v1") == b"one"
    assert api.read(b"data/cats/1", rev="v1") == b"one"
    assert api.read("data/../data/cats/1", rev="v1") == b"one"


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda r: r.read(None), "path must be a str or os.PathLike, not NoneType"),
        (lambda r: r.read(5), "path must be a str or os.PathLike, not int"),
        (lambda r: r.get(3), "path must be a str or os.PathLike, not int"),
        (lambda r: r.read("data/cats/1", rev=b"v1"), "rev must be a str"),
        (lambda r: r.read("data/cats/1", rev=Path("v1")), "rev must be a str"),
        (lambda r: r.log("data/cats/1", n="x"), "n must be a positive int or None"),
        (lambda r: r.diff("v1", "v2", paths=5), "paths must be a list of paths"),
    ],
)
def test_wrong_types_say_which_argument(api: gitstore.Repo, call, words: str) -> None:
    with pytest.raises(TypeError, match=words):
        call(api)


def test_a_count_below_one_is_a_value_error(api: gitstore.Repo) -> None:
    for n in (0, -1):
        with pytest.raises(ValueError, match="n must be a positive int or None"):
            api.log("data/cats/1", n=n)


def test_repo_of_a_wrong_type(tagged: Path) -> None:  # noqa: F811
    with pytest.raises(TypeError, match="repo must be a str or os.PathLike, not NoneType"):
        gitstore.Repo(None)  # type: ignore[arg-type]
    with pytest.raises(PathError, match="NUL"):
        gitstore.read("a\0b", repo=tagged)


def test_one_path_given_as_paths_is_one_path(api: gitstore.Repo) -> None:
    (status,) = api.status(paths="data")
    assert status.path == "data"
    diff = api.diff("v1", "v2", paths="data/cats")
    assert [a.path for a in diff.added] == ["data/cats/3"]


def test_a_repo_reads_the_working_tree_as_it_changes(api: gitstore.Repo, tagged: Path, run) -> None:  # noqa: F811
    """A Repo remembers the manifests it read: a manifest that changed on disk is read again."""
    assert api.read("data/cats/1") == b"one, edited"
    assert api.read("data/cats/1", rev="v1") == b"one"
    (tagged / "data" / "cats" / "1").write_bytes(b"one, edited twice")
    run(tagged, "track", "data")
    assert api.read("data/cats/1") == b"one, edited twice"
    assert api.read("data/cats/1", rev="v1") == b"one"
