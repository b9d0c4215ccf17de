"""Re-verification of the eleventh pass's changes (trust, renewal, S3 slow client, info/exclude)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git
from tests.integration import test_s3_slow_answers as slow
from tests.reliability.helpers import gs, objects_in
from tests.reliability.test_untrusted_config import _team_and_a_hostile_branch, _work_and_push


def _partial_clone_of_hostile(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(author, clone, evil): a blob:none partial clone of branch `hostile`, whose
    origin/HEAD (main) config blob was never fetched."""
    author, _team, evil, _env = _team_and_a_hostile_branch(tmp_path)
    git(author, "config", "uploadpack.allowFilter", "true")
    git(author, "config", "uploadpack.allowAnySHA1InWant", "true")
    clone = tmp_path / "clone"
    subprocess.run(
        [
            "git",
            "clone",
            "-q",
            "--filter=blob:none",
            "-b",
            "hostile",
            f"file://{author}",
            str(clone),
        ],
        check=True,
    )
    main_config = git(clone, "rev-parse", "origin/HEAD:.gitstore/config.yaml").stdout.strip()
    listed = git(clone, "rev-list", "--objects", "--missing=print", "origin/HEAD").stdout
    assert f"?{main_config}" in listed, "origin/HEAD's config came with the clone: no case shown"
    return author, clone, evil


def test_a_partial_clone_that_cannot_read_the_default_branchs_config_trusts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A partial clone (--filter=blob:none) of a hostile branch lacks origin/HEAD's
    .gitstore/config.yaml; with the git remote out of reach (offline, VPN down) that
    read failed and the clone fell back to trust on first use: its first push went to
    the branch's own remote. A default branch it cannot read vouches for nothing."""
    author, clone, evil = _partial_clone_of_hostile(tmp_path)
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(tmp_path / "cache"))
    author.rename(tmp_path / "author-away")  # the git server is out of reach
    before = objects_in(evil)
    proc = _work_and_push(clone)
    assert proc.returncode != 0 and "remote trust evil" in proc.stderr, proc.stderr
    assert objects_in(evil) == before, "the clone's data went to the branch's remote"


def test_a_partial_clone_reads_the_default_branchs_config_when_it_can(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same clone with its git remote in reach: the missing blob is fetched, and
    the branch's remote is refused for what the default branch says, not for a failure."""
    _author, clone, evil = _partial_clone_of_hostile(tmp_path)
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(tmp_path / "cache"))
    before = objects_in(evil)
    proc = _work_and_push(clone)
    assert proc.returncode != 0 and "remote trust evil" in proc.stderr, proc.stderr
    assert objects_in(evil) == before
    gs(clone, "remote", "trust", "evil")
    gs(clone, "push")
    assert len(objects_in(evil)) == len(before) + 1
    assert os.path.exists(clone / ".git" / "gitstore" / "trust.yaml")


def test_a_forks_tag_named_like_the_default_branch_does_not_vouch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """refs/remotes/origin/HEAD was resolved as a revision name: in a clone without it
    (CI's checkout, `git clone --single-branch -b`, `git remote set-head origin -d`),
    git's name rules went on to refs/tags/refs/remotes/origin/HEAD, which a fork's tag
    of that name becomes once `git fetch fork` follows it. The fork's hostile commit
    then vouched for its remote, even in a clone that had used the team's remote."""
    author, _team, evil, _env = _team_and_a_hostile_branch(tmp_path)
    fork = tmp_path / "fork"
    git(tmp_path, "clone", "-q", "-b", "hostile", str(author), str(fork))
    git(fork, "tag", "refs/remotes/origin/HEAD")  # a valid tag name, at the hostile commit
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(author), str(clone))
    git(clone, "remote", "set-head", "origin", "-d")  # as in a CI checkout
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(tmp_path / "cache"))
    gs(clone, "pull")  # team, used first: trust on first use records it
    git(clone, "remote", "add", "fork", str(fork))
    git(clone, "fetch", "-q", "fork")
    refs = git(clone, "for-each-ref", "--format=%(refname)").stdout.split()
    assert "refs/tags/refs/remotes/origin/HEAD" in refs, refs
    git(clone, "checkout", "-q", "-b", "theirs", "fork/hostile")
    before = objects_in(evil)
    proc = _work_and_push(clone)
    assert proc.returncode != 0 and "remote trust evil" in proc.stderr, proc.stderr
    assert objects_in(evil) == before, "a fork's tag vouched for the fork's remote"


# -- S3: the slow client's quick requests -------------------------------------------
moto_endpoint, s3_env, proxied = slow.moto_endpoint, slow.s3_env, slow.proxied
# Seconds the proxy holds an answer back; the store's read timeout is 1 s. Giving up takes a
# few 1 s tries (about 6 s on a loaded 2-core CI machine); the client with the long read
# timeout would wait for the whole hold. The gap between the two must outlast the machine's
# noise: a hold of 8 s failed CI once at 6.3 s. The held answers sleep in daemon threads, so
# a long hold costs the suite nothing.
HELD = 30.0


@pytest.mark.parametrize(
    "held",
    [
        pytest.param(("POST", "?uploads"), id="create-multipart-upload"),
        pytest.param(("PUT", "partNumber="), id="upload-part"),
    ],
)
def test_a_big_push_to_a_server_that_stops_answering_gives_up_in_short_timeouts(
    proxied: Any, tmp_path: Path, held: tuple[str, str]
) -> None:
    """A push of an object of multipart_threshold bytes or more went wholly through the
    slow client (300 s read timeout, 3 tries): a server that answered the push's HEADs
    and then stopped answering held it for up to 15 minutes (a 70 MB push with
    GITSTORE_RETRY_DEADLINE=2 was still waiting after 90 s), where one of 63 MB gave up
    in 4 s. Only the completion may answer late; its other requests answer at once."""
    from gitstore.errors import StoreUnavailableError

    store, rules = proxied
    src, _data, oid = slow._source(tmp_path, 6 << 20)
    method, marker = held

    def hold(m: str, path: str, headers: Any) -> float | None:
        if m == method and marker in path and not headers.get("x-amz-copy-source"):
            return HELD
        return None

    rules[0] = hold
    start = time.monotonic()
    with pytest.raises(StoreUnavailableError):
        store.put(oid, src)
    assert time.monotonic() - start < HELD - 2, "waited for the held answer"


def test_a_renewal_asks_the_objects_size_in_a_short_timeout(proxied: Any, tmp_path: Path) -> None:
    """touch (a managed copy) asks the object's size with a HEAD first: on the slow client,
    a server that stopped answering held every renewal of a push for 3 x 300 s."""
    from gitstore.errors import StoreUnavailableError

    store, rules = proxied
    src, _data, oid = slow._source(tmp_path, 200 << 10)
    store.put(oid, src)
    rules[0] = lambda m, path, headers: HELD if m == "HEAD" else None
    start = time.monotonic()
    with pytest.raises(StoreUnavailableError):
        store.touch(oid)
    assert time.monotonic() - start < HELD - 2, "waited for the held answer"
