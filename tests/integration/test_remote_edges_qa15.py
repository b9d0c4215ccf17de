"""Remote edges of the fifteenth QA pass, through the installed CLI and real servers on 127.0.0.1.

- an http(s) remote whose path holds a raw non-ASCII character (``/café/``), a
  space or a lone ``%`` is read by fetch, get-published and serve, as its
  percent-encoded form is;
- ``remote status`` of a read-only remote names a remote that takes pushes,
  not ``gitstore push``, which it refuses;
- a body shorter than its Content-Length is "the answer ... ended after X of
  Y bytes", not "cannot reach" with a Python repr;
- a site that serves one page for every path (or answers objects with a web
  page) is "not a gitstore store", said once, not each object "corrupt"; a
  real store's corrupt object is still corrupt, and never enters the cache;
- ``remote add`` and ``config set remotes.X.url`` refuse control characters
  and leading or trailing whitespace;
- ``S3://`` is an S3 URL, as ``HTTP://`` is an HTTP one.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitstore import layout
from gitstore.hashing import hash_bytes
from tests import servers
from tests.conftest import git, write
from tests.integration.publish_helpers import serve_process
from tests.servers import StaticServer, make_bucket

moto_endpoint, s3_env = servers.moto_endpoint, servers.s3_env

Run = Callable[..., subprocess.CompletedProcess[str]]


def _one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("gitstore: error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def _project(repo: Path, run: Run, files: dict[str, bytes]) -> None:
    """gitstore initialised in ``repo``, ``files`` tracked and committed."""
    run(repo, "init")
    for name, data in files.items():
        write(repo / name, data)
    run(repo, "track", *files)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")


def _fresh_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str) -> Path:
    """An empty cache for the commands from here on: what they need must be downloaded."""
    cache = tmp_path / name
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(cache))
    return cache


def _objects_in(cache: Path) -> list[Path]:
    return [p for p in (cache / "objects").rglob("*") if p.is_file()]


@pytest.fixture
def serve() -> Iterator[Callable[[type[http.server.BaseHTTPRequestHandler]], str]]:
    """``serve(handler_class) -> base URL`` on 127.0.0.1; every server stops after the test."""
    started: list[http.server.ThreadingHTTPServer] = []

    def start(handler: type[http.server.BaseHTTPRequestHandler]) -> str:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


class _Quiet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def answer(self, status: int, body: bytes, kind: str | None = None, length: int = -1) -> None:
        self.send_response(status)
        if kind:
            self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body) if length < 0 else length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


# -- 1. a non-ASCII character in an HTTP remote's path ------------------------------------
def test_a_non_ascii_path_in_an_http_url_is_read_as_its_percent_encoded_form(
    repo: Path, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA 15 #1: fetch, get-published and serve of http://host/café/ were a UnicodeEncodeError
    traceback (http.client sends ASCII only); http://host/caf%C3%A9/ worked."""
    _project(repo, run, {"f.bin": b"hello\n"})
    folder = tmp_path / "www" / "café 1%"  # non-ASCII, a space and a lone %
    run(repo, "remote", "add", "fold", str(folder), "--default")
    run(repo, "push")
    run(repo, "publish", "fold")
    with StaticServer(tmp_path / "www") as server:
        raw, escaped = f"{server.url}café 1%/", f"{server.url}caf%C3%A9%201%25/"
        run(repo, "remote", "add", "web", raw, "--local")
        run(repo, "remote", "add", "webx", escaped, "--local")
        for name in ("web", "webx"):
            cache = _fresh_cache(monkeypatch, tmp_path, f"cache-{name}")
            fetched = run(repo, "fetch", "--remote", name, "--json")
            assert json.loads(fetched.stdout)["transferred"] == 1
            assert [p.read_bytes() for p in _objects_in(cache)] == [b"hello\n"]
            status = run(repo, "remote", "status", name, "--json")
            assert json.loads(status.stdout)["on_remote"] == 1

        for url in (raw, escaped):
            _fresh_cache(monkeypatch, tmp_path, f"cache-get-{len(url)}")
            got = run(repo, "get-published", url, "f.bin", "-b", "main", "-d", "2100-01-01")
            assert got.stdout == "hello\n"

        with serve_process(repo, raw) as base:
            import urllib.request

            with urllib.request.urlopen(f"{base}/ui/branch/main", timeout=30) as page:
                assert page.status == 200


def test_a_non_ascii_host_goes_out_in_its_ascii_form(
    repo: Path, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, serve: Any
) -> None:
    """A non-ASCII host name goes to the Host header and a proxy's request line as IDNA
    (``xn--``), the path percent-encoded; one that IDNA cannot take is refused when added.
    A proxy on 127.0.0.1 sees the requests, so no name is ever looked up."""
    _project(repo, run, {"f.bin": b"x\n"})
    seen: list[tuple[str, str]] = []

    class Proxy(_Quiet):
        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("Host", "")))
            self.answer(404, b"")

        do_HEAD = do_GET

    proxy = serve(Proxy)
    for key in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("http_proxy", proxy)
    run(repo, "remote", "add", "idn", "http://café.test/dépôt/", "--local")
    _fresh_cache(monkeypatch, tmp_path, "cache2")
    missing = run(repo, "fetch", "--remote", "idn", ok=None)
    assert missing.returncode == 3 and "is in no remote" in missing.stderr, missing.stderr
    oid = hash_bytes(b"x\n")
    wanted = f"http://xn--caf-dma.test/d%C3%A9p%C3%B4t/{layout.object_key(oid)}"
    assert (wanted, "xn--caf-dma.test") in seen, seen

    refused = run(repo, "remote", "add", "bad", f"http://{'é' * 70}.test/", "--local", ok=False)
    assert "is not a host name" in _one_error_line(refused.stderr)


# -- 5. remote status of a read-only remote ----------------------------------------------
def test_remote_status_of_a_read_only_remote_names_one_that_takes_pushes(
    repo: Path, run: Run, tmp_path: Path
) -> None:
    """QA 15 #5: "1 object not pushed yet; run `gitstore push`", and that push was refused."""
    _project(repo, run, {"f.bin": b"status\n"})
    (tmp_path / "www").mkdir()
    (tmp_path / "ro").mkdir()  # `remote add --read-only` does not make it
    with StaticServer(tmp_path / "www") as server:
        run(repo, "remote", "add", "web", server.url, "--local")
        run(repo, "remote", "add", "ro", str(tmp_path / "ro"), "--read-only", "--local")
        for name in ("web", "ro"):
            said = run(repo, "remote", "status", name).stdout
            assert "gitstore push`" not in said and "not pushed yet" not in said, said
            assert "1 object not on this read-only remote" in said, said
            assert "`gitstore remote add NAME URL`" in said, said
            assert json.loads(run(repo, "remote", "status", name, "--json").stdout)["read_only"]

        run(repo, "remote", "add", "team", str(tmp_path / "team"), "--local")
        for name in ("web", "ro"):
            said = run(repo, "remote", "status", name).stdout
            assert "the writable remote 'team' with `gitstore push --remote team`" in said, said
        run(repo, "push", "--remote", "team")  # what it says works

        # a writable remote that is not the default: `gitstore push` alone would go elsewhere
        write(repo / "g.bin", b"more\n")
        run(repo, "track", "g.bin")
        run(repo, "remote", "add", "other", str(tmp_path / "other"), "--local")
        run(repo, "remote", "default", "team", "--local")
        said = run(repo, "remote", "status", "other").stdout
        assert "2 objects not pushed yet; run `gitstore push --remote other`" in said, said
        said = run(repo, "remote", "status", "team").stdout
        assert "1 object not pushed yet; run `gitstore push`" in said, said
        status = json.loads(run(repo, "remote", "status", "team", "--json").stdout)
        assert status["read_only"] is False and len(status["not_pushed"]) == 1


# -- 6. a body cut short -----------------------------------------------------------------
def test_a_body_cut_short_says_how_far_the_answer_came(
    repo: Path, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, serve: Any
) -> None:
    """QA 15 #6: "cannot reach HOST ... IncompleteRead(0 bytes read, 5000 more expected)"
    for a server that was reached and sent 5000 of 10000 bytes."""
    data = os.urandom(10_000)
    _project(repo, run, {"f.bin": data})
    oid = hash_bytes(data)

    class Truncating(_Quiet):
        def do_GET(self) -> None:
            if self.path.endswith(oid):
                self.answer(200, data[:5000], length=len(data))
                self.close_connection = True
            else:
                self.answer(404, b"")

        do_HEAD = do_GET

    run(repo, "remote", "add", "web", serve(Truncating), "--local")
    cache = _fresh_cache(monkeypatch, tmp_path, "cache2")
    monkeypatch.setenv("GITSTORE_RETRY_ATTEMPTS", "2")
    failed = run(repo, "fetch", "--remote", "web", ok=False)
    line = _one_error_line(failed.stderr)
    assert f"the answer for object {oid} from http://127.0.0.1:" in line, line
    assert "ended after 5000 bytes of the 10000 it announced" in line, line
    assert "cannot reach" not in failed.stderr and "IncompleteRead" not in failed.stderr
    assert "closed the connection early" in failed.stderr
    assert not (cache / "objects").exists() or not _objects_in(cache)


# -- 7. a site that serves one page for every path ---------------------------------------
PAGE = b"<!doctype html><html><body><div id=app></div></body></html>"


class _EveryPath(_Quiet):
    """A single-page app's (or a CDN's) fallback: the same page for every path."""

    def do_GET(self) -> None:
        self.answer(200, PAGE, "text/html")

    do_HEAD = do_GET


def test_a_site_serving_one_page_for_every_path_is_not_a_store_said_once(
    repo: Path, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, serve: Any
) -> None:
    """QA 15 #7: fetch, pull and the API called every object "corrupt" on the remote."""
    _project(repo, run, {"a.bin": os.urandom(3000), "b.bin": os.urandom(3000)})
    site = serve(_EveryPath)
    run(repo, "remote", "add", "site", site, "--local", "--default")
    cache = _fresh_cache(monkeypatch, tmp_path, "cache2")
    (repo / "a.bin").unlink()
    for command in (["fetch"], ["pull"]):
        failed = run(repo, *command, ok=False)
        assert failed.returncode == 1, failed.stderr
        line = _one_error_line(failed.stderr)
        assert f"remote 'site': {site} is not a gitstore store" in line, line
        assert "corrupt" not in failed.stderr and "warning" not in failed.stderr, failed.stderr
        assert "holds objects/" in failed.stderr
    assert not (cache / "objects").exists() or not _objects_in(cache)
    assert not (repo / "a.bin").exists()

    api = subprocess.run(
        [
            sys.executable,
            "-c",
            "import gitstore\n"
            "try:\n    gitstore.read('a.bin', rev='HEAD')\n"
            "except Exception as e:\n    print(type(e).__name__, '|', e, '|', e.hint)\n",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert api.stdout.startswith("StoreError |"), api.stdout + api.stderr
    assert "is not a gitstore store" in api.stdout and "corrupt" not in api.stdout


def test_a_site_page_beside_a_good_remote_is_skipped_with_one_warning(
    repo: Path, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, serve: Any
) -> None:
    files = {f"f{i}.bin": os.urandom(2000) for i in range(6)}
    _project(repo, run, files)
    run(repo, "remote", "add", "good", str(tmp_path / "good"), "--local")
    run(repo, "push", "--remote", "good")
    run(repo, "remote", "add", "site", serve(_EveryPath), "--local", "--default")
    cache = _fresh_cache(monkeypatch, tmp_path, "cache2")
    fetched = run(repo, "fetch", "--json")
    assert json.loads(fetched.stdout)["transferred"] == 6
    warnings = [line for line in fetched.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "is not a gitstore store" in warnings[0], fetched.stderr
    assert "corrupt" not in fetched.stderr
    assert sorted(p.read_bytes() for p in _objects_in(cache)) == sorted(files.values())


def test_objects_answered_with_a_web_page_are_not_a_store_but_a_corrupt_object_is_corrupt(
    repo: Path, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, serve: Any
) -> None:
    """A server that is no fallback (404 for what cannot exist) but answers objects with an
    HTML page is not a store either; a real store's wrong bytes, served as a file's bytes
    (application/octet-stream), are still a corrupt object, even when they look like HTML."""
    html = b"<!DOCTYPE html>\n<html><body>a page of ours</body></html>\n"
    _project(repo, run, {"page.html": html})
    oid = hash_bytes(html)
    store = tmp_path / "store"
    run(repo, "remote", "add", "store", str(store), "--local", "--default")
    run(repo, "push")
    wrong = html.replace(b"ours", b"OURS")

    class ErrorPage(_Quiet):
        def do_GET(self) -> None:
            if self.path.endswith(oid):
                self.answer(200, b"<html><body>Oops, something went wrong</body></html>")
            else:
                self.answer(404, b"")

        do_HEAD = do_GET

    class CorruptObject(_Quiet):
        def do_GET(self) -> None:
            if self.path.endswith(oid):
                self.answer(200, wrong, "application/octet-stream")
            else:
                self.answer(404, b"")

        do_HEAD = do_GET

    run(repo, "remote", "add", "oops", serve(ErrorPage), "--local")
    cache = _fresh_cache(monkeypatch, tmp_path, "cache2")
    failed = run(repo, "fetch", "--remote", "oops", ok=False)
    line = _one_error_line(failed.stderr)
    assert "is not a gitstore store" in line and f"object {oid} with a web page" in line, line
    assert not (cache / "objects").exists() or not _objects_in(cache)

    run(repo, "remote", "add", "bad", serve(CorruptObject), "--local")
    failed = run(repo, "fetch", "--remote", "bad", ok=False)
    assert failed.returncode == 3, failed.stderr
    assert f"object {oid} from http://127.0.0.1:" in failed.stderr
    assert f"is corrupt: its bytes hash to {hash_bytes(wrong)}" in failed.stderr
    assert "not a gitstore store" not in failed.stderr
    assert not (cache / "objects").exists() or not _objects_in(cache)

    # the same store served as it is, every object labelled text/html: read as it should be
    class AllHtml(http.server.SimpleHTTPRequestHandler):
        def guess_type(self, path: Any) -> str:
            return "text/html"

        def log_message(self, format: str, *args: Any) -> None:
            pass

    run(repo, "remote", "add", "html", serve(functools.partial(AllHtml, directory=str(store))),
        "--local")  # fmt: skip
    assert json.loads(run(repo, "fetch", "--remote", "html", "--json").stdout)["transferred"] == 1
    assert [p.read_bytes() for p in _objects_in(cache)] == [html]
    assert layout.object_key(oid).endswith(oid)


# -- 8. whitespace and control characters in a remote URL --------------------------------
def test_remote_add_refuses_control_characters_and_surrounding_whitespace(
    repo: Path, run: Run, tmp_path: Path
) -> None:
    """QA 15 #8: " /abs/store" (a copy-paste's stray space) was a relative folder, made and
    pushed into inside the work tree; a line break split `remote list`'s line."""
    _project(repo, run, {"f.bin": b"x\n"})
    config = repo / ".gitstore" / "config.yaml"
    before = config.read_bytes()
    store = tmp_path / "store"
    for url, said in (
        (f" {store}", "begins or ends with whitespace"),
        (f"{store} ", "begins or ends with whitespace"),
        (f"{store}\u00a0", "begins or ends with whitespace"),
        (f"{tmp_path}/a\nb", "holds a control character (\\n)"),
        (f"{tmp_path}/a\tb", "holds a control character (\\t)"),
        (f"{tmp_path}/a\x1b[2Kb", "holds a control character (\\x1b)"),
        ("http://127.0.0.1:9/a\u2028b/", "holds a control character (\\u2028)"),
    ):
        refused = run(repo, "remote", "add", "team", url, "--default", ok=False)
        line = _one_error_line(refused.stderr)
        assert said in line, line
        assert "\n" not in line and "\x1b" not in line
    assert config.read_bytes() == before
    assert not store.exists() and not (repo / " ").exists()
    assert git(repo, "status", "--porcelain").stdout == ""
    assert run(repo, "remote", "list").stdout.startswith("no remotes")

    run(repo, "remote", "add", "team", str(store), "--default")
    refused = run(repo, "config", "set", "remotes.team.url", f"{store}\n", ok=False)
    assert "control character" in _one_error_line(refused.stderr)
    refused = run(repo, "config", "set", "remotes.team.url", f" {store}", ok=False)
    assert "whitespace" in _one_error_line(refused.stderr)
    assert yaml.safe_load(config.read_text())["remotes"]["team"] == {"url": str(store)}

    # a folder whose name really ends with a space: a file URL says so on purpose
    spaced = tmp_path / "spaced "
    run(repo, "remote", "add", "sp", f"file://{tmp_path}/spaced%20", "--local")
    assert spaced.is_dir()
    run(repo, "push", "--remote", "sp")
    assert len([p for p in (spaced / "objects").rglob("*") if p.is_file()]) == 1


def test_the_whitespace_refusal_hint_names_the_file_url_form(repo: Path, run: Run) -> None:
    _project(repo, run, {"f.bin": b"x\n"})
    refused = run(repo, "remote", "add", "team", "/srv/store ", ok=False)
    assert "hint:" in refused.stderr and "file:///path/name%20" in refused.stderr


def test_a_no_break_space_and_a_question_mark_are_named_in_their_refusals(
    repo: Path, run: Run
) -> None:
    """The hint gave %20 for a no-break space (another folder); a '?' in an HTTP path was
    "malformed" without a word on why (sixteenth QA pass)."""
    _project(repo, run, {"f.bin": b"x\n"})
    refused = run(repo, "remote", "add", "team", "/srv/store\u00a0", ok=False)
    assert "%C2%A0" in refused.stderr, refused.stderr
    for url, char in (("http://127.0.0.1:1/a?b/", "%3F"), ("http://127.0.0.1:1/a#b/", "%23")):
        refused = run(repo, "remote", "add", "web", url, ok=False)
        assert char in refused.stderr and "query or fragment" in refused.stderr, refused.stderr
    run(repo, "remote", "add", "web", "http://127.0.0.1:1/a%3Fb/")


# -- smaller: S3:// ------------------------------------------------------------------------
def test_an_s3_scheme_in_capitals_is_an_s3_url(
    repo: Path, run: Run, moto_endpoint: str, s3_env: dict[str, str]
) -> None:
    """`remote add x S3://bucket/p` was refused while HTTP:// and FILE:// were taken."""
    import boto3

    make_bucket(moto_endpoint, "qa15-caps")
    _project(repo, run, {"f.bin": b"capitals\n"})
    run(repo, "remote", "add", "x", "S3://qa15-caps/p", "--endpoint-url", moto_endpoint,
        "--default")  # fmt: skip
    pushed = run(repo, "push", "--json")
    assert json.loads(pushed.stdout)["transferred"] == 1
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="qa15-caps")["Contents"]]
    oid = hash_bytes(b"capitals\n")
    assert f"p/{layout.object_key(oid)}" in keys
    assert json.loads(run(repo, "remote", "status", "--json").stdout)["on_remote"] == 1
