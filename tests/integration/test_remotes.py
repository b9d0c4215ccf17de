"""Remotes end to end: push, fetch and pull between two clones through real stores.

Each clone has its own cache (its own XDG_CACHE_HOME), so objects travel only
through the remote: a folder, S3 on a moto server on 127.0.0.1, or a folder
served read-only over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
import yaml

from gitstore.hashing import hash_file
from tests import servers
from tests.conftest import git, write
from tests.servers import make_bucket

moto_endpoint, s3_env, static_http = servers.moto_endpoint, servers.s3_env, servers.static_http

Run = Callable[..., subprocess.CompletedProcess[str]]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def remote_objects(root: Path) -> dict[str, Path]:
    objects = root / "objects"
    return {p.name: p for p in objects.glob("*/*/*")} if objects.exists() else {}


class Clone:
    """A clone with its own cache; ``gs(...)`` runs gitstore in it with that cache."""

    def __init__(self, path: Path, cache: Path, run: Run, mp: pytest.MonkeyPatch) -> None:
        self.path, self.cache, self._run, self._mp = path, cache, run, mp

    def gs(self, *args: str, ok: bool | None = True) -> subprocess.CompletedProcess[str]:
        self._mp.setenv("XDG_CACHE_HOME", str(self.cache))
        return self._run(self.path, *args, ok=ok)

    def json(self, *args: str, ok: bool | None = True) -> dict:
        cut = args.index("--") if "--" in args else len(args)
        return json.loads(self.gs(*args[:cut], "--json", *args[cut:], ok=ok).stdout)

    def commit(self, message: str = "change") -> None:
        git(self.path, "add", "-A")
        git(self.path, "commit", "-qm", message)


@pytest.fixture
def origin(repo: Path, run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Clone:
    """The repository with gitstore set up and data/ (3 files) and model.bin tracked."""
    a = Clone(repo, tmp_path / "cache-a", run, monkeypatch)
    a.gs("init")
    for i in range(3):
        write(repo / "data" / f"f{i}.txt", f"file {i}\n" * (i + 1))
    write(repo / "model.bin", os.urandom(300_000))
    a.gs("track", "data", "model.bin")
    return a


def clone_of(a: Clone, tmp_path: Path, name: str = "b") -> Clone:
    git(tmp_path, "clone", "-q", str(a.path), name)
    return Clone(tmp_path / name, tmp_path / f"cache-{name}", a._run, a._mp)


def same_files(a: Path, b: Path) -> None:
    for rel in ("data/f0.txt", "data/f1.txt", "data/f2.txt", "model.bin"):
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


# -- round trips ----------------------------------------------------------------
def test_folder_round_trip_and_second_push_sends_nothing(origin: Clone, tmp_path: Path) -> None:
    store = tmp_path / "shared" / "store"  # created on first push
    origin.gs("remote", "add", "team", str(store), "--default")
    origin.commit("track data")
    first = origin.json("push")
    assert first["transferred"] == 4 and first["failed"] == []
    assert len(remote_objects(store)) == 4
    again = origin.json("push")
    assert again["transferred"] == 0 and again["present"] == 4
    # what the index answers for is said to come from it
    assert "4 as earlier transfers recorded" in origin.gs("push").stdout

    b = clone_of(origin, tmp_path)
    out = b.gs("pull")
    assert "fetched 4 objects" in out.stdout
    same_files(origin.path, b.path)
    assert b.json("fetch")["transferred"] == 0
    listing = b.gs("remote", "ls", "team").stdout.split("\n")
    assert len([line for line in listing if line]) == 4


def test_dry_run_sends_nothing(origin: Clone, tmp_path: Path) -> None:
    origin.gs("remote", "add", "team", str(tmp_path / "store"), "--default")
    result = origin.json("push", "--dry-run")
    assert len(result["planned"]) == 4 and result["transferred"] == 0
    assert remote_objects(tmp_path / "store") == {}


def test_push_only_named_paths(origin: Clone, tmp_path: Path) -> None:
    """As `dvc push TARGET`: push takes paths as fetch and pull do (it took revisions only,
    and `push data/f1.txt` said "unknown revision")."""
    store = tmp_path / "store"
    origin.gs("remote", "add", "team", str(store), "--default")
    origin.commit()
    assert origin.json("push", "data/f1.txt")["transferred"] == 1
    assert origin.json("push", "HEAD", "--", "data")["transferred"] == 2
    refused = origin.gs("push", "data/nope.txt", ok=False)
    assert "data/nope.txt is not a file or folder of a tracked path" in refused.stderr
    assert len(remote_objects(store)) == 3  # model.bin not yet
    assert origin.json("push")["transferred"] == 1


def test_a_commit_after_a_partial_pull_keeps_the_files_not_pulled(
    origin: Clone, tmp_path: Path
) -> None:
    """QA pass 9: `pull data/f1.txt` in a fresh clone, then any commit: the pre-commit hook
    refreshed data.gitstore and the commit dropped the files never pulled."""
    origin.gs("remote", "add", "team", str(tmp_path / "store"), "--default")
    write(origin.path / "code.py", "print(1)\n")
    origin.commit()
    origin.gs("push")
    b = clone_of(origin, tmp_path)
    b.gs("install")
    manifest = (b.path / "data.gitstore").read_bytes()
    b.gs("pull", "data/f1.txt")
    assert sorted(p.name for p in (b.path / "data").iterdir()) == ["f1.txt"]
    assert "only part of it is checked out" in b.gs("status").stderr
    data = next(s for s in b.json("status") if s["path"] == "data")
    assert data["unmaterialised"] == "only part of it is checked out"
    write(b.path / "code.py", "print(2)\n")
    git(b.path, "commit", "-qam", "code only")
    assert git(b.path, "show", "HEAD:data.gitstore").stdout.encode() == manifest
    assert git(b.path, "show", "--name-only", "--format=", "HEAD").stdout.split() == ["code.py"]
    b.gs("fetch", "data/f2.txt")
    b.gs("checkout", "data/f2.txt")  # still a part
    write(b.path / "code.py", "print(3)\n")
    git(b.path, "commit", "-qam", "code only again")
    assert git(b.path, "show", "HEAD:data.gitstore").stdout.encode() == manifest
    b.gs("pull", "data/f0.txt")  # the last part: nothing is absent, the mark goes
    assert not (b.path / ".git" / "gitstore" / "unmaterialised.json").exists()
    write(b.path / "data" / "f1.txt", "edited\n")
    status = b.gs("status")
    assert status.stdout.split()[:2] == ["modified", "data"] and "part" not in status.stderr


def test_fetch_only_named_paths(origin: Clone, tmp_path: Path) -> None:
    origin.gs("remote", "add", "team", str(tmp_path / "store"), "--default")
    origin.commit()
    origin.gs("push")
    b = clone_of(origin, tmp_path)
    assert b.json("fetch", "--", "data/f1.txt")["transferred"] == 1
    assert b.json("fetch", "HEAD", "data")["transferred"] == 2
    assert b.json("fetch")["transferred"] == 1  # model.bin, the rest is cached


def test_s3_round_trip_through_moto_server(
    origin: Clone, tmp_path: Path, moto_endpoint: str, s3_env: dict[str, str]
) -> None:
    make_bucket(moto_endpoint, "team-data")
    origin.gs("remote", "add", "s3", "s3://team-data/proj/cache", "--default",
              "--endpoint-url", moto_endpoint)  # fmt: skip
    origin.commit()
    assert origin.json("push")["transferred"] == 4
    assert origin.json("push")["transferred"] == 0

    b = clone_of(origin, tmp_path)
    status = b.json("remote", "status")
    assert status["on_remote"] == 4 and status["missing"] == {}
    b.gs("pull")
    same_files(origin.path, b.path)
    assert len(b.gs("remote", "ls", "s3").stdout.split()) == 8


def test_a_bucket_that_is_not_there_is_named_not_read_as_empty(
    origin: Clone, moto_endpoint: str, s3_env: dict[str, str]
) -> None:
    # QA pass 12: a HEAD has no body, so its 404 for an object in a missing bucket
    # read as "no such object": `remote status` said 0 of 4 present, exit 0
    origin.gs("remote", "add", "typo", "s3://no-such-bucket/proj", "--default",
              "--endpoint-url", moto_endpoint)  # fmt: skip
    origin.gs("untrack", "data")  # one object left: asked with a HEAD, not listed
    origin.commit()
    for command in (("remote", "status"), ("remote", "status", "typo"), ("push",)):
        out = origin.gs(*command, ok=False)
        assert "bucket 'no-such-bucket' does not exist" in one_error(out), command
    # a bucket deleted after a push: the next push trusts its index for every
    # object, and said "1 already there" with exit 0
    make_bucket(moto_endpoint, "gone-later")
    origin.gs("remote", "add", "later", "s3://gone-later/proj", "--default",
              "--endpoint-url", moto_endpoint)  # fmt: skip
    origin.gs("push")
    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    for item in s3.list_objects_v2(Bucket="gone-later")["Contents"]:
        s3.delete_object(Bucket="gone-later", Key=item["Key"])
    s3.delete_bucket(Bucket="gone-later")
    assert "bucket 'gone-later' does not exist" in one_error(origin.gs("push", ok=False))


def test_a_cache_object_damaged_by_hand_never_reaches_s3_as_good(
    origin: Clone, moto_endpoint: str, s3_env: dict[str, str]
) -> None:
    make_bucket(moto_endpoint, "damaged")
    origin.gs("remote", "add", "s3", "s3://damaged/p", "--default", "--endpoint-url", moto_endpoint)
    origin.commit()
    model = next(
        p
        for p in (origin.cache / "gitstore" / "objects").glob("*/*/*")
        if p.stat().st_size == 300_000
    )
    model.chmod(0o644)
    with open(model, "r+b") as f:
        f.seek(1000)
        f.write(b"XXXX")
    out = origin.gs("push", ok=False)
    assert model.name in out.stderr and "does not hash" in out.stderr, out.stderr
    assert model.name not in origin.gs("remote", "ls", "s3").stdout


def test_pull_through_read_only_http_remote(
    origin: Clone, tmp_path: Path, static_http: Callable[[Path], str]
) -> None:
    store = tmp_path / "published"
    origin.gs("remote", "add", "team", str(store), "--default")
    origin.commit()
    origin.gs("push")
    url = static_http(store)

    b = clone_of(origin, tmp_path)
    b.gs("remote", "add", "web", url, "--local", "--default")
    b.gs("pull", "--remote", "web")
    same_files(origin.path, b.path)
    refused = b.gs("push", "--remote", "web", ok=False)
    assert refused.returncode == 1 and "read-only" in refused.stderr


def test_a_site_that_answers_every_path_with_a_page_holds_no_object(origin: Clone) -> None:
    """QA pass 7: a single-page app's or a CDN's fallback (200 and its index page for any
    path) was reported as holding every object; while a server that guesses types serves a
    tracked HTML file as text/html, and that object is there like any other."""
    import functools
    import http.server
    import threading

    first = threading.Event()

    class Fallback(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            if not first.is_set():  # a hiccup on the first ask must not pass the check
                first.set()
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", "16")
            self.end_headers()

        def do_GET(self) -> None:
            self.do_HEAD()
            self.wfile.write(b"<html>app</html>")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Fallback)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        origin.gs("remote", "add", "web", f"http://127.0.0.1:{server.server_port}/", "--local")
        origin.commit()
        refused = origin.gs("remote", "status", "web", ok=False)
        assert "serves a page for every path" in one_error(refused)
    finally:
        server.shutdown()
        server.server_close()
    store = origin.path.parent / "store"
    origin.gs("remote", "add", "team", str(store), "--default")
    origin.gs("push")

    class AllHtml(http.server.SimpleHTTPRequestHandler):
        def guess_type(self, path: object) -> str:
            return "text/html"

        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(AllHtml, directory=str(store))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        origin.gs("remote", "add", "html", f"http://127.0.0.1:{server.server_port}/", "--local")
        status = origin.json("remote", "status", "html")
        assert status["on_remote"] == 4 and not status["not_pushed"]
    finally:
        server.shutdown()
        server.server_close()


# -- remote order ---------------------------------------------------------------
def test_missing_object_is_found_in_the_next_remote_and_a_down_one_is_skipped(
    origin: Clone, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    origin.gs("remote", "add", "second", str(second))
    origin.commit()
    origin.gs("push", "--remote", "second")
    b = clone_of(origin, tmp_path)
    b.gs("remote", "add", "first", str(first), "--local", "--default")
    result = b.json("fetch")
    assert result["transferred"] == 4 and result["failed"] == []

    c = clone_of(origin, tmp_path, "c")
    c.gs(
        "remote", "add", "down", f"http://127.0.0.1:{closed_port()}/cache/", "--local", "--default"
    )
    monkeypatch.setenv("GITSTORE_RETRY_ATTEMPTS", "2")
    monkeypatch.setenv("GITSTORE_RETRY_DEADLINE", "3")
    out = c.gs("fetch")
    assert "fetched 4 objects" in out.stdout
    warnings = [line for line in out.stderr.splitlines() if "skipping remote 'down'" in line]
    assert len(warnings) == 1


def test_corrupt_object_on_a_remote_is_named_and_never_cached(
    origin: Clone, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    origin.gs("remote", "add", "team", str(store), "--default")
    origin.commit()
    origin.gs("push")
    oid = hash_file(origin.path / "model.bin")[0]
    bad = remote_objects(store)[oid]
    bad.chmod(0o644)
    bad.write_bytes(b"not the model")

    b = clone_of(origin, tmp_path)
    out = b.gs("pull", ok=False)
    assert out.returncode == 3
    assert "'team'" in out.stderr and oid in out.stderr and "corrupt" in out.stderr
    assert not (b.cache / "gitstore" / "objects" / oid[:2] / oid[2:4] / oid).exists()
    assert list((b.cache / "gitstore" / "tmp").iterdir()) == []
    assert (b.path / "data" / "f2.txt").read_text() == "file 2\n" * 3  # the rest is checked out
    assert not (b.path / "model.bin").exists()


def test_object_missing_everywhere_names_oid_and_path(origin: Clone, tmp_path: Path) -> None:
    store = tmp_path / "store"
    origin.gs("remote", "add", "team", str(store), "--default")
    origin.commit()
    origin.gs("push")
    oid = hash_file(origin.path / "data" / "f0.txt")[0]
    path = remote_objects(store)[oid]
    path.chmod(0o644)
    path.unlink()
    b = clone_of(origin, tmp_path)
    out = b.gs("pull", ok=False)
    assert out.returncode == 3 and oid in out.stderr and "data/f0.txt" in out.stderr
    assert (b.path / "data" / "f1.txt").exists() and (b.path / "model.bin").exists()


# -- errors -------------------------------------------------------------------------
def one_error(out: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in out.stderr.splitlines() if line.startswith("gitstore: error:")]
    assert len(lines) == 1, out.stderr
    return lines[0]


def test_remote_errors_are_one_clear_line(origin: Clone, tmp_path: Path) -> None:
    out = origin.gs("push", ok=False)
    assert "no remote is configured" in one_error(out)
    assert "gitstore remote add NAME URL --default" in out.stderr
    assert "malformed remote URL" in one_error(
        origin.gs("remote", "add", "x", "gs:/bucket", ok=False)
    )
    origin.gs("remote", "add", "ro", str(tmp_path / "ro"), "--read-only")
    read_only = origin.gs("push", "--remote", "ro", ok=False)
    assert "read-only" in one_error(read_only)
    assert "`gitstore remote default NAME`" in read_only.stderr  # git push has no --remote
    assert "unknown remote 'nope'" in one_error(origin.gs("fetch", "--remote", "nope", ok=False))
    assert "already exists" in one_error(origin.gs("remote", "add", "ro", "/x", ok=False))
    # QA pass 7: memory:// was taken, and a push "uploaded" into the pushing process's memory
    assert "a remote cannot be one" in one_error(
        origin.gs("remote", "add", "mem", "memory://team", ok=False)
    )
    assert "memory://" not in out.stderr


def test_a_folder_whose_name_holds_a_colon_stays_a_folder(origin: Clone) -> None:
    """QA pass 7: `./store:v1` was written `store:v1`, which reads as a URL scheme."""
    origin.gs("remote", "add", "nas", "./store:v1", "--default")
    assert "nas\t./store:v1" in origin.gs("remote", "list").stdout
    origin.commit("track data")
    assert origin.json("push")["transferred"] == 4
    assert len(remote_objects(origin.path / "store:v1")) == 4


def test_s3_faults(
    origin: Clone, moto_endpoint: str, s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    origin.gs("remote", "add", "nobucket", "s3://no-such-bucket/p", "--endpoint-url", moto_endpoint)
    assert "does not exist" in one_error(origin.gs("push", "--remote", "nobucket", ok=False))

    make_bucket(moto_endpoint, "creds")
    origin.gs("remote", "add", "creds", "s3://creds/p", "--endpoint-url", moto_endpoint)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    err = one_error(origin.gs("push", "--remote", "creds", ok=False))
    assert "no AWS credentials" in err and "AWS_PROFILE" in err

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("GITSTORE_RETRY_ATTEMPTS", "2")
    monkeypatch.setenv("GITSTORE_RETRY_DEADLINE", "5")
    endpoint = f"http://127.0.0.1:{closed_port()}"
    origin.gs("remote", "add", "gone", "s3://gone-bucket/p", "--endpoint-url", endpoint)
    out = origin.gs("push", "--remote", "gone", ok=False)
    assert out.returncode == 1 and endpoint in one_error(out)


def test_credentials_in_a_remote_url_are_refused_and_never_shown(origin: Clone) -> None:
    out = origin.gs("remote", "add", "web", "http://user:s3cret@127.0.0.1:9/x/", ok=False)
    assert "carries credentials" in one_error(out) and "s3cret" not in out.stderr
    config = origin.path / ".gitstore" / "config.yaml"
    assert not config.exists() or "s3cret" not in config.read_text()


def test_secrets_are_refused(origin: Clone) -> None:
    err = one_error(origin.gs("config", "set", "remotes.x.secret_key", "abc", ok=False))
    assert "looks like a secret" in err
    committed = origin.path / ".gitstore" / "config.yaml"
    committed.write_text("gitstore: 1\nremotes:\n  t: {url: /tmp/x, aws_secret_access_key: abc}\n")
    out = origin.gs("push", ok=False)
    assert "looks like a secret" in one_error(out) and "AWS" in out.stderr


def test_config_precedence(origin: Clone, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gs = origin.gs
    gs("remote", "add", "committed", str(tmp_path / "c"), "--default")
    gs("remote", "add", "mine", str(tmp_path / "u"), "--user")
    gs("remote", "default", "mine", "--user")
    assert gs("config", "get", "default_remote").stdout.strip() == "committed"
    gs("config", "unset", "default_remote")
    assert gs("config", "get", "default_remote").stdout.strip() == "mine"
    gs("remote", "add", "clone", str(tmp_path / "l"), "--local")
    gs("remote", "default", "clone", "--local")
    assert gs("config", "get", "default_remote").stdout.strip() == "clone"
    monkeypatch.setenv("GITSTORE_REMOTE", "committed")
    assert gs("config", "get", "default_remote").stdout.strip() == "committed"
    monkeypatch.delenv("GITSTORE_REMOTE")
    # a remote of the same name in a higher layer replaces the lower one whole
    gs("remote", "add", "committed", str(tmp_path / "override"), "--local")
    assert gs("config", "get", "remotes.committed.url").stdout.strip() == str(tmp_path / "override")
    assert gs("config", "get", "--user", "remotes.mine.url").stdout.strip() == str(tmp_path / "u")
    gs("config", "set", "transfer.jobs", "3")
    monkeypatch.setenv("GITSTORE_JOBS", "5")
    assert gs("config", "get", "transfer.jobs").stdout.strip() == "5"
    assert "not honoured from the committed file" in one_error(
        gs("config", "set", "cache.dir", "/x", ok=False)
    )
    remotes = json.loads(gs("remote", "list", "--json").stdout)
    assert [r["name"] for r in remotes][:2] == ["clone", "committed"]
    assert gs("config", "get", "hooks.nothing", ok=False).returncode == 1


# -- trust on first use -----------------------------------------------------------
def test_a_commit_that_changes_a_remote_is_not_trusted(origin: Clone, tmp_path: Path) -> None:
    origin.gs("remote", "add", "team", str(tmp_path / "good"), "--default")
    origin.commit()
    origin.gs("push")
    b = clone_of(origin, tmp_path)
    b.gs("pull")  # first use: recorded
    trust = yaml.safe_load((b.path / ".git" / "gitstore" / "trust.yaml").read_text())
    assert trust["remotes"]["team"]["url"] == str(tmp_path / "good")

    git(origin.path, "checkout", "-qb", "hostile")
    committed = origin.path / ".gitstore" / "config.yaml"
    evil = tmp_path / "evil"
    committed.write_text(committed.read_text().replace(str(tmp_path / "good"), str(evil)))
    origin.commit("move the remote")
    git(b.path, "fetch", "-q", "origin")
    git(b.path, "checkout", "-q", "-b", "hostile", "origin/hostile")
    write(b.path / "new.txt", "new data")
    b.gs("track", "new.txt")
    out = b.gs("push", ok=False)
    err = one_error(out)
    assert "remote 'team' was changed by a commit" in err and str(evil) in err
    assert "gitstore remote trust team" in out.stderr
    assert "changed by a commit" in one_error(b.gs("fetch", "--remote", "team", ok=False))
    assert not evil.exists()
    b.gs("remote", "trust", "team")
    assert b.json("push")["transferred"] == 5


# -- resuming -------------------------------------------------------------------------
def test_killed_push_resumes_with_only_the_rest(origin: Clone, tmp_path: Path, run: Run) -> None:
    store = tmp_path / "store"
    for i in range(200):
        write(origin.path / "many" / f"{i:03}.bin", os.urandom(256 << 10))
    origin.gs("track", "many")
    origin.gs("remote", "add", "team", str(store), "--default")
    origin.commit()
    env = {**os.environ, "XDG_CACHE_HOME": str(origin.cache)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gitstore", "push", "-j", "1"],
        cwd=origin.path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while len(remote_objects(store)) < 20 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = len(remote_objects(store))
    assert 0 < before < 204, f"push was not interrupted mid-way ({before} objects sent)"
    assert (origin.path / ".git" / "gitstore" / "queue" / "push-team").exists()
    for oid, path in remote_objects(store).items():
        assert hash_file(path)[0] == oid  # nothing partial is visible

    result = origin.json("push")
    assert result["transferred"] == 204 - before and result["failed"] == []
    assert len(remote_objects(store)) == 204
    assert not (origin.path / ".git" / "gitstore" / "queue" / "push-team").exists()


def test_disk_full_during_fetch_leaves_no_partial_object(origin: Clone, tmp_path: Path) -> None:
    import resource

    origin.gs("remote", "add", "team", str(tmp_path / "store"), "--default")
    origin.commit()
    origin.gs("push")
    b = clone_of(origin, tmp_path)

    def small_disk() -> None:  # writes past 100 KiB fail as on a full disk (EFBIG)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100 << 10, 100 << 10))

    env = {**os.environ, "XDG_CACHE_HOME": str(b.cache)}
    out = subprocess.run(
        [sys.executable, "-m", "gitstore", "fetch", "-j", "1"],
        cwd=b.path, env=env, capture_output=True, text=True, preexec_fn=small_disk,
    )  # fmt: skip
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "cannot write object" in one_error(out) and "into the cache" in out.stderr
    model = hash_file(origin.path / "model.bin")[0]
    cache = b.cache / "gitstore"
    assert not (cache / "objects" / model[:2] / model[2:4] / model).exists()
    assert list((cache / "tmp").iterdir()) == []
    for path in cache.glob("objects/*/*/*"):
        assert hash_file(path)[0] == path.name
    assert b.json("fetch")["failed"] == []  # with room again, the rest arrives


def test_gc_remote_sweeps_what_killed_uploads_left(
    origin: Clone, tmp_path: Path, moto_endpoint: str, s3_env: dict[str, str]
) -> None:
    # QA: a push killed mid-way left a partial file in a folder remote's tmp/
    # and an unfinished S3 multipart upload that nothing ever removed
    import boto3

    store = tmp_path / "store"
    origin.gs("remote", "add", "team", str(store), "--default")
    origin.commit()
    origin.gs("push")
    leftover = store / "tmp" / "partial"
    write(leftover, b"x" * 1000)
    os.utime(leftover, (1, 1))
    dry = origin.json("gc", "--remote", "team", "--dry-run")
    assert dry["tmp_deleted"] == ["tmp/partial"] and leftover.exists()
    origin.gs("gc", "--remote", "team", "--yes")
    assert not leftover.exists()

    make_bucket(moto_endpoint, "sweep")
    origin.gs("remote", "add", "s3", "s3://sweep/p", "--endpoint-url", moto_endpoint)
    origin.gs("push", "--remote", "s3")
    client = boto3.client("s3", endpoint_url=moto_endpoint)
    from gitstore import layout
    from gitstore.hashing import hash_bytes

    # a key of the store's own layout (only those are swept: tenth QA pass)
    own = "p/" + layout.object_key(hash_bytes(b"x"))
    client.create_multipart_upload(Bucket="sweep", Key=own)
    client.create_multipart_upload(Bucket="sweep", Key="elsewhere/x")  # not under the prefix
    origin.gs("gc", "--remote", "s3", "--dry-run", "--grace", "0")
    origin.gs("gc", "--remote", "s3", "--yes", "--grace", "0")
    left = [u["Key"] for u in client.list_multipart_uploads(Bucket="sweep").get("Uploads", [])]
    assert left == ["elsewhere/x"]
