"""gitstore serve: the published layout read back over HTTP; pages, JSON, ranges and refusals."""

from __future__ import annotations

import http.client
import json
import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import git, write
from tests.integration.publish_helpers import build_published, head, serve_process, serving


@pytest.fixture(scope="module")
def published_once(tmp_path_factory: pytest.TempPathFactory):
    return build_published(tmp_path_factory)


@pytest.fixture
def published(published_once, tmp_path: Path):
    h, pub = published_once
    copy = tmp_path / "pub"
    shutil.copytree(pub, copy, symlinks=True)
    return h, copy


def request(base: str, method: str, path: str, headers: dict[str, str] | None = None):
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_http_remote_reads_the_served_store(published, run, tmp_path: Path) -> None:
    h, pub = published
    c, f = h.commits, h.files
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with serve_process(tmp_path, str(pub)) as base:
        out = run(
            elsewhere, "get-published", base + "/", "data/imgs/a.txt", "--commit", c["c3"][:8]
        )
        assert out.stdout.encode() == f["a2"]
        run(elsewhere, "get-published", base + "/", "data/imgs", "--date", "2024-01-02", "-o", "d")
        assert {p.name: p.read_bytes() for p in (elsewhere / "d").iterdir()} == {
            "a.txt": f["a1"],
            "b.txt": f["b"],
            "c.txt": f["c"],
        }
        from gitstore.stores.http import HttpStore

        store = HttpStore(base + "/")
        oids = {p.name for p in (pub / "objects").glob("*/*/*")}
        assert store.exists(oids | {"0" * 64}) == oids
        oid = sorted(oids)[0]
        store.get(oid, tmp_path / "one")
        assert (tmp_path / "one").read_bytes() == next(
            (pub / "objects").glob(f"*/*/{oid}")
        ).read_bytes()
        assert store.stat(oid).size == (tmp_path / "one").stat().st_size
        doc = store.read_document("branches/main.yaml")
        assert doc is not None and c["c5"] in doc.data.decode()
        store.close()


def test_pages_and_json(published) -> None:
    h, pub = published
    c = h.commits
    with serving(pub) as base:
        status, headers, body = request(base, "GET", "/", {"Accept": "application/json"})
        assert status == 200 and headers["Content-Type"] == "application/json"
        index = json.loads(body)
        assert [b["branch"] for b in index["branches"]] == ["main"]
        assert index["branches"][0]["commits"] == 6

        _, _, body = request(base, "GET", "/ui/branch/main", {"Accept": "application/json"})
        listing = json.loads(body)
        assert [x["commit"] for x in listing["commits"]][0] == c["c5"]  # newest first

        _, _, body = request(
            base, "GET", f"/ui/commit/{c['merge'][:9]}", {"Accept": "application/json"}
        )
        tree = {v["manifest"]: v for v in json.loads(body)["tree"]}
        assert set(tree) == {"data/imgs.gitstore", "model.bin.gitstore"}
        assert (
            tree["model.bin.gitstore"]["changed_here"] and tree["model.bin.gitstore"]["size"] == 800
        )
        assert (
            tree["data/imgs.gitstore"]["commit"] == c["c3"]
            and tree["data/imgs.gitstore"]["files"] == 3
        )

        status, _, body = request(
            base,
            "GET",
            f"/ui/commit/{c['merge']}/data/imgs.gitstore?branch=main",
            {"Accept": "application/json"},
        )
        files = json.loads(body)["files"]
        assert [x["path"] for x in files] == [
            "data/imgs/a.txt",
            "data/imgs/b.txt",
            "data/imgs/c.txt",
        ]
        status, headers, data = request(base, "GET", files[0]["url"])
        assert status == 200 and data == h.files["a2"]
        assert 'filename="a.txt"' in headers["Content-Disposition"]

        _, _, body = request(
            base, "GET", f"/ui/diff/{c['c1']}/{c['c4']}", {"Accept": "application/json"}
        )
        diff = {m["manifest"]: m["changes"] for m in json.loads(body)["manifests"]}
        assert {(x["change"], x["path"]) for x in diff["data/imgs.gitstore"]} == {
            ("added", "data/imgs/c.txt"),
            ("modified", "data/imgs/a.txt"),
        }
        assert [x["change"] for x in diff["model.bin.gitstore"]] == ["removed"]
        assert [(x["change"], x["path"]) for x in diff["weights.bin.gitstore"]] == [
            ("added", "weights.bin")
        ]

        status, headers, body = request(base, "GET", "/ui/branch/main")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert f"/ui/commit/{c['c1']}?branch=main" in body.decode()
        assert request(base, "GET", "/ui/commit/ffffffff")[0] == 404
        assert request(base, "GET", "/ui/branch/nope")[0] == 404


def published_branch(repo: Path, run, tmp_path: Path, folder: str, branch: str) -> tuple[Path, str]:
    """``folder`` tracked and committed, then published from a new ``branch``: (store, sha)."""
    run(repo, "init")
    write(repo / folder / "f.txt", b"f")
    run(repo, "track", folder)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", folder)
    git(repo, "checkout", "-qb", branch)
    pub = tmp_path / "pub"
    run(repo, "publish", str(pub))
    return pub, head(repo)


def test_html_is_escaped(repo: Path, run, tmp_path: Path) -> None:
    name = "x<i>&'y"
    pub, sha = published_branch(repo, run, tmp_path, name, "b<script>")
    with serving(pub) as base:
        index = request(base, "GET", "/")[2].decode()
        assert "b&lt;script&gt;" in index and "<script>" not in index
        page = request(base, "GET", f"/ui/commit/{sha}")[2].decode()
        assert "x&lt;i&gt;&amp;&#x27;y" in page and "<i>" not in page


def test_ranges(published) -> None:
    _, pub = published
    obj = max((pub / "objects").glob("*/*/*"), key=lambda p: p.stat().st_size)
    data = obj.read_bytes()
    url = "/" + obj.relative_to(pub).as_posix()
    with serving(pub) as base:
        status, headers, body = request(base, "GET", url, {"Range": "bytes=10-19"})
        assert (status, body) == (206, data[10:20])
        assert headers["Content-Range"] == f"bytes 10-19/{len(data)}"
        assert request(base, "GET", url, {"Range": "bytes=-5"})[2] == data[-5:]
        assert request(base, "GET", url, {"Range": "bytes=700-"})[2] == data[700:]
        status, headers, _ = request(base, "GET", url, {"Range": f"bytes={len(data)}-"})
        assert status == 416 and headers["Content-Range"] == f"bytes */{len(data)}"
        assert request(base, "GET", url, {"Range": "bytes=0-1,5-6"})[:3:2] == (200, data)
        status, headers, body = request(base, "HEAD", url)
        assert status == 200 and body == b"" and headers["Content-Length"] == str(len(data))


def test_traversal_and_methods_refused(published, tmp_path: Path) -> None:
    _, pub = published
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    os.symlink(tmp_path, pub / "commits" / "escape")
    os.symlink(secret, pub / "branches" / "leak.yaml")
    with serving(pub) as base:
        for path in (
            "/objects/../../secret.txt",
            "/objects/%2e%2e/%2e%2e/secret.txt",
            "/commits/..%2f..%2fsecret.txt",
            "/branches/%2E%2E%2F%2E%2E%2Fsecret.txt",
            "/commits/escape/secret.txt",
            "/branches/leak.yaml",
            "/..%5c..%5csecret.txt",
            "/tmp/x",
            "/commits/%00",
            "/commits/%ff",
            "//etc/passwd",
        ):
            status, _, body = request(base, "GET", path)
            assert status in (400, 404), (path, status)
            assert b"top secret" not in body
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND"):
            status, headers, _ = request(base, method, "/branches/main.yaml")
            assert status == 405 and headers["Allow"] == "GET, HEAD", method
        assert request(base, "GET", "/branches/main.yaml")[0] == 200


def test_a_branch_with_a_slash_has_its_page(repo: Path, run, tmp_path: Path) -> None:
    pub, sha = published_branch(repo, run, tmp_path, "data", "feature/x")
    with serving(pub) as base:
        index = request(base, "GET", "/")[2].decode()
        assert "/ui/branch/feature%2Fx" in index  # the link the index gives...
        status, _, body = request(base, "GET", "/ui/branch/feature%2Fx")
        assert status == 200 and sha[:12] in body.decode()  # ...is the branch's page
        for bad in ("/ui/branch/..%2F..%2Fsecret", "/ui/branch/a%2F%2Fb", "/branches/%2E%2E%2Fx"):
            assert request(base, "GET", bad)[0] in (400, 404), bad


def test_publishing_a_tag_or_a_remote_branch_says_what_to_do(repo: Path, run) -> None:
    run(repo, "init")
    git(repo, "tag", "v1")
    git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    git(repo, "update-ref", "refs/remotes/origin/release", "HEAD")
    proc = run(repo, "publish", "--branch", "v1", "pub", ok=False)
    assert proc.returncode == 1
    assert "'v1' is a tag" in proc.stderr and "git branch --contains v1" in proc.stderr
    proc = run(repo, "publish", "--branch", "origin/release", "pub", ok=False)
    assert "'origin/release' is a remote-tracking branch" in proc.stderr
    assert "git branch release origin/release" in proc.stderr
    proc = run(repo, "publish", "--branch", "origin/main", "pub", ok=False)
    assert "git merge --ff-only origin/main" in proc.stderr  # main is here already
