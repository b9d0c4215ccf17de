"""gitstore publish / get-published: first-parent history into a remote, read back without git."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests import servers
from tests.conftest import git, write
from tests.integration.publish_helpers import (
    branch_doc,
    entry,
    head,
    make_history,
    published_shas,
)

GITSTORE = [sys.executable, "-m", "gitstore"]


def _oids(remote: Path) -> set[str]:
    return {p.name for p in (remote / "objects").glob("*/*/*")}


def _local_config(repo: Path, text: str) -> None:
    write(repo / ".git/gitstore/config.yaml", text)


def test_publishes_first_parent_history_and_only_new_commits(
    repo: Path, run, tmp_path: Path
) -> None:
    h = make_history(repo, run)
    c = h.commits
    pub = tmp_path / "pub"
    result = json.loads(run(repo, "publish", str(pub), "--json").stdout)
    expected = [c["c1"], c["c2"], c["c3"], c["merge"], c["c4"], c["c5"]]
    assert [p["commit"] for p in result["published"]] == expected
    doc = branch_doc(pub)
    assert [x["commit"] for x in doc["commits"]] == expected
    assert c["side"] not in json.dumps(doc)  # the merge's second parent is not walked
    assert doc["watermark"] == c["c6"]  # c6 changes no manifest: walked, not listed
    by_sha = {x["commit"]: x for x in doc["commits"]}
    assert by_sha[c["merge"]]["manifests"] == ["model.bin.gitstore"]
    assert by_sha[c["c4"]]["manifests"] == ["model.bin.gitstore", "weights.bin.gitstore"]
    assert by_sha[c["c4"]]["removed"] == ["model.bin.gitstore"]
    assert by_sha[c["c5"]]["removed"] == ["data/imgs.gitstore"]
    assert by_sha[c["c1"]]["date"] == "2024-01-01T10:00:00+00:00"

    first = entry(pub, c["c1"], "data/imgs.gitstore")
    assert (first["status"], first["commit"], first["kind"]) == ("ok", c["c1"], "dir")
    assert first["date"] == "2024-01-01T10:00:00+00:00"
    assert [e["path"] for e in first["entries"]] == ["a.txt", "b.txt"]
    assert entry(pub, c["c5"], "data/imgs.gitstore")["status"] == "removed"
    assert entry(pub, c["c4"], "weights.bin.gitstore")["status"] == "ok"
    named = {
        e["blake3"]
        for path in (pub / "commits").rglob("*.gitstore")
        for e in (yaml.safe_load(path.read_text()).get("entries") or [])
    }
    assert named and named <= _oids(pub)

    again = json.loads(run(repo, "publish", str(pub), "--json").stdout)
    assert again["published"] == [] and again["watermark"] == c["c6"]

    shutil.copy(repo / "weights.bin.gitstore", repo / "copy.bin.gitstore")
    git(repo, "add", "copy.bin.gitstore")
    git(repo, "commit", "-qm", "c7")
    c7 = head(repo)
    write(repo / "README", "again\n")
    git(repo, "commit", "-qam", "c8")
    git(repo, "rm", "-q", "copy.bin.gitstore")
    git(repo, "commit", "-qm", "c9")
    c9 = head(repo)
    out = run(repo, "publish", str(pub))
    assert out.stdout.count("published ") == 2, out.stdout
    assert published_shas(pub) == [*expected, c7, c9]


def test_get_published_from_the_remote_alone(
    repo: Path, run, tmp_path: Path, hermetic: Path
) -> None:
    h = make_history(repo, run)
    c, f = h.commits, h.files
    pub = tmp_path / "pub"
    run(repo, "publish", str(pub))
    shutil.rmtree(hermetic / ".cache", ignore_errors=True)  # no cache: the remote alone
    elsewhere = tmp_path / "elsewhere"  # no git repository here
    elsewhere.mkdir()

    def get(*args: str, ok: bool | None = True) -> subprocess.CompletedProcess[str]:
        return run(elsewhere, "get-published", str(pub), *args, ok=ok)

    assert get("data/imgs/a.txt", "--commit", c["c2"][:7]).stdout == f["a1"].decode()
    assert get("data/imgs/a.txt", "--date", "2024-01-03").stdout == f["a1"].decode()
    assert get("data/imgs/a.txt", "--date", "2024-01-04").stdout == f["a2"].decode()
    # the merge did not touch data/imgs: its version is c3's
    run(elsewhere, "get-published", str(pub), "data/imgs", "--commit", c["merge"], "-o", "out")
    got = {p.name: p.read_bytes() for p in (elsewhere / "out").iterdir()}
    assert got == {"a.txt": f["a2"], "b.txt": f["b"], "c.txt": f["c"]}
    # a folder is written whole: never merged into what is there (c1 has no c.txt)
    again = get("data/imgs", "--commit", c["c1"], "-o", "out", ok=False)
    assert "not an empty folder" in again.stderr
    assert sorted(p.name for p in (elsewhere / "out").iterdir()) == ["a.txt", "b.txt", "c.txt"]
    # a damaged object on the remote: nothing written, not even to stdout
    bad = next(p for p in (pub / "objects").glob("*/*/*") if p.read_bytes() == f["b"])
    saved = bad.read_bytes()
    bad.chmod(0o644)
    bad.write_bytes(b"EVIL!!\n")
    damaged = get("data/imgs/b.txt", "--commit", c["c3"], ok=False)
    assert damaged.stdout == "" and bad.name in damaged.stderr
    get("data/imgs", "--commit", c["c3"], "-o", "out2", ok=False)
    assert not (elsewhere / "out2").exists()
    assert [p.name for p in elsewhere.iterdir() if p.name.startswith(".")] == []
    bad.write_bytes(saved)
    target = elsewhere / "w.bin"
    run(elsewhere, "get-published", str(pub), "weights.bin", "--commit", c["c4"], "-o", str(target))
    assert target.read_bytes() == f["m2"]
    gone = get("model.bin", "--commit", c["c4"], ok=False)
    assert "removed" in gone.stderr and gone.returncode == 1
    early = get("data/imgs/a.txt", "--date", "2023-12-31", ok=False)
    assert "at or before 2023-12-31" in early.stderr
    unknown = get("data/imgs/a.txt", "--commit", "deadbeef", ok=False)
    assert "not published" in unknown.stderr
    assert get("x", "--commit", "abcd", "--date", "2024-01-01", ok=False).returncode == 2

    # inside the repository, REMOTE may be a configured remote's name
    _local_config(repo, f"gitstore: 1\nremotes:\n  pub: {{url: '{pub}'}}\n")
    out = run(repo, "get-published", "pub", "model.bin", "--commit", c["c1"])
    assert out.stdout.encode() == f["m1"]


def _cache_object(home: Path, oid: str) -> Path:
    return home / ".cache" / "gitstore" / "objects" / oid[:2] / oid[2:4] / oid


def test_missing_object_is_incomplete_exit_3_then_retry(
    repo: Path, run, tmp_path: Path, hermetic: Path
) -> None:
    run(repo, "init")
    write(repo / "data/x.bin", b"x" * 1000)
    write(repo / "data/y.bin", b"y" * 1000)
    run(repo, "track", "data")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    sha = head(repo)
    manifest = yaml.safe_load((repo / "data.gitstore").read_text())
    lost = next(e["blake3"] for e in manifest["entries"] if e["path"] == "x.bin")
    obj = _cache_object(hermetic, lost)
    saved = obj.read_bytes()
    obj.unlink()

    pub = tmp_path / "pub"
    out = run(repo, "publish", str(pub), ok=False)
    assert out.returncode == 3, out.stderr
    assert lost in out.stderr
    published = entry(pub, sha, "data.gitstore")
    assert published["status"] == "incomplete" and published["missing"] == [lost]
    doc = branch_doc(pub)
    assert doc["watermark"] == sha  # incomplete does not block the watermark
    assert doc["commits"][0]["incomplete"] == ["data.gitstore"]
    assert lost not in _oids(pub)
    # the rest of the data is there: get-published of the other file works, of x fails (exit 3)
    assert (
        run(tmp_path, "get-published", str(pub), "data/y.bin", "--commit", sha).stdout == "y" * 1000
    )
    assert (
        run(tmp_path, "get-published", str(pub), "data/x.bin", "--commit", sha, ok=False).returncode
        == 3
    )

    # the object turns up in a configured remote: --retry-incomplete upgrades the commit
    team = tmp_path / "team"
    write(team / "objects" / lost[:2] / lost[2:4] / lost, saved)
    _local_config(repo, f"gitstore: 1\ndefault_remote: team\nremotes:\n  team: {{url: '{team}'}}\n")
    out = run(repo, "publish", str(pub), "--retry-incomplete")
    assert f"upgraded {sha[:12]}" in out.stdout
    assert entry(pub, sha, "data.gitstore")["status"] == "ok"
    assert "incomplete" not in branch_doc(pub)["commits"][0]
    assert lost in _oids(pub)


def _fast_import_commits(repo: Path, count: int, template: bytes) -> list[str]:
    """``count`` commits on main, each adding one manifest (no new objects): fast."""
    parent = head(repo)
    stream = []
    for i in range(count):
        msg = f"commit {i}".encode()
        stream.append(
            b"commit refs/heads/main\n"
            + f"committer T <t@e> {1700000000 + i} +0000\n".encode()
            + b"data %d\n%s\n" % (len(msg), msg)
            + (f"from {parent}\n".encode() if i == 0 else b"")
            + f"M 100644 inline gen/m{i:04d}.gitstore\n".encode()
            + b"data %d\n%s\n" % (len(template), template)
        )
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=b"".join(stream), check=True)
    git(repo, "reset", "-q", "--hard", "main")
    out = git(repo, "rev-list", "--reverse", f"{parent}..main").stdout.split()
    assert len(out) == count
    return out


def _seed(repo: Path, run) -> bytes:
    run(repo, "init")
    write(repo / "seed.bin", b"seed")
    run(repo, "track", "seed.bin")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "seed")
    return (repo / "seed.bin.gitstore").read_bytes()


def test_kill_9_mid_run_then_resume(repo: Path, run, tmp_path: Path) -> None:
    template = _seed(repo, run)
    seed = head(repo)
    commits = [seed, *_fast_import_commits(repo, 300, template)]
    pub = tmp_path / "pub"
    doc_path = pub / "branches" / "main.yaml"
    proc = subprocess.Popen(
        [*GITSTORE, "publish", str(pub), "--batch-size", "1"],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if doc_path.read_text().count("- {commit") >= 5:
                break
        except (FileNotFoundError, OSError):
            pass
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, "the publisher finished before it could be killed"
    # a kill inside the document's compare-and-rename leaves no lock: it is an flock
    before = published_shas(pub)
    assert 5 <= len(before) < len(commits)
    assert before == commits[: len(before)]

    result = json.loads(run(repo, "publish", str(pub), "--json").stdout)
    resumed = [p["commit"] for p in result["published"]]
    assert resumed == commits[len(before) :]  # nothing listed twice, nothing skipped
    assert published_shas(pub) == commits
    assert branch_doc(pub)["watermark"] == commits[-1]
    for sha in commits[1:]:
        assert entry(pub, sha, f"gen/m{commits.index(sha) - 1:04d}.gitstore")["status"] == "ok"


# -- two publishers at once against S3 (moto on loopback) -------------------------------


@pytest.fixture
def moto_endpoint(monkeypatch: pytest.MonkeyPatch):
    moto_server = pytest.importorskip("moto.server")
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    servers.atomic_conditional_writes()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    import boto3

    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="published")
    yield endpoint
    server.stop()


def _conditional_writes_honoured(url: str, endpoint: str | None) -> bool:
    from gitstore.errors import UnsupportedError
    from gitstore.stores.registry import open_store

    try:
        open_store(url, endpoint_url=endpoint).probe_conditional_writes()
    except UnsupportedError:
        return False
    return True


@pytest.mark.parametrize("rounds", [4, pytest.param(10, marks=pytest.mark.slow)])
def test_two_publishers_at_once_exactly_one_advances(
    repo: Path, run, tmp_path: Path, moto_endpoint: str, rounds: int
) -> None:
    template = _seed(repo, run)
    url = "s3://published/mirror"
    _local_config(
        repo,
        f"gitstore: 1\nremotes:\n  s3pub: {{url: '{url}', endpoint_url: '{moto_endpoint}'}}\n"
        f"  folder: {{url: '{tmp_path / 'folder'}'}}\n",
    )
    remote = "s3pub"
    if not _conditional_writes_honoured(url, moto_endpoint):
        refused = run(repo, "publish", remote, ok=False)
        assert "conditional" in refused.stderr  # refused clearly; race on a folder instead
        remote = "folder"
    run(repo, "publish", remote)
    if remote == "s3pub":  # read back by URL, without the repository's config
        got = run(
            tmp_path, "get-published", url, "seed.bin", "--commit", head(repo),
            "--endpoint-url", moto_endpoint,
        )  # fmt: skip
        assert got.stdout == "seed"
    expected = published_shas_via(repo, remote)
    outcomes = {"advanced": 0, "conflict": 0, "up to date": 0}
    for i in range(rounds):
        shutil.copy(repo / "seed.bin.gitstore", repo / f"r{i}.bin.gitstore")
        git(repo, "add", f"r{i}.bin.gitstore")
        git(repo, "commit", "-qm", f"round {i}")
        expected.append(head(repo))
        procs = [
            subprocess.Popen(
                [*GITSTORE, "publish", remote],
                cwd=repo,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        results = [(p.wait(60), *p.communicate()) for p in procs]
        winners = [r for r in results if r[0] == 0 and "published " in r[1]]
        assert len(winners) == 1, results
        for rc, out, err in results:
            assert "Traceback" not in err
            if rc == 4:
                assert "another publisher" in err
                outcomes["conflict"] += 1
            elif "published " in out:
                outcomes["advanced"] += 1
            else:
                assert rc == 0 and "up to date" in out, (rc, out, err)
                outcomes["up to date"] += 1
        assert published_shas_via(repo, remote) == expected  # consistent after every round
    assert outcomes["advanced"] == rounds
    assert outcomes["conflict"] + outcomes["up to date"] == rounds
    assert template


def published_shas_via(repo: Path, remote: str) -> list[str]:
    from gitstore.publish import PublishContext, open_target
    from gitstore.published import read_branch

    ctx = PublishContext(repo)
    _, store = open_target(ctx, remote)
    return [c.commit for c in read_branch(store, "main").commits]


# -- a bare mirror publishing from its post-receive hook -----------------------------------


def test_bare_mirror_publishes_from_post_receive(
    repo: Path, run, tmp_path: Path, hermetic: Path
) -> None:
    from gitstore.gitrepo import GitRepo
    from gitstore.publish import install_server_hook

    run(repo, "init")
    write(repo / "data/a.txt", b"alpha\n")
    run(repo, "track", "data")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    first = head(repo)
    bare = tmp_path / "server.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    team, pub, server_cache = tmp_path / "team", tmp_path / "pub", tmp_path / "server-cache"
    team.mkdir()  # a folder remote written into config by hand must exist (remote add makes it)
    pub.mkdir()
    write(
        bare / "gitstore" / "config.yaml",
        f"gitstore: 1\ndefault_remote: team\nremotes:\n  team: {{url: '{team}'}}\n"
        f"  pub: {{url: '{pub}'}}\ncache: {{dir: '{server_cache}'}}\n",
    )
    hook = install_server_hook(GitRepo.discover(bare), remote="pub")
    assert hook == bare / "hooks" / "post-receive" and os.access(hook, os.X_OK)
    # the clone's pre-push hook uploads the objects to team; the server fetches them from there
    _local_config(repo, f"gitstore: 1\ndefault_remote: team\nremotes:\n  team: {{url: '{team}'}}\n")

    git(repo, "remote", "add", "origin", str(bare))
    pushed = git(repo, "push", "-q", "origin", "main", check=False)
    assert pushed.returncode == 0, pushed.stderr
    assert "published " in pushed.stderr, pushed.stderr
    assert published_shas(pub) == [first]
    assert entry(pub, first, "data.gitstore")["status"] == "ok"
    assert any(server_cache.rglob("objects/*/*/*"))  # fetched from team into the server's cache

    write(repo / "data/b.txt", b"beta\n")
    run(repo, "track", "data")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "more")
    second = head(repo)
    git(repo, "push", "-q", "origin", "main")
    assert published_shas(pub) == [first, second]
    out = run(tmp_path, "get-published", str(pub), "data/b.txt", "--commit", second[:8])
    assert out.stdout == "beta\n"


def test_follow_publishes_new_commits_until_interrupted(repo: Path, run, tmp_path: Path) -> None:
    write(repo / "d" / "a", b"one")
    run(repo, "track", "d")
    git(repo, "commit", "-qm", "first")
    pub = tmp_path / "pub"
    proc = subprocess.Popen(
        [*GITSTORE, "publish", str(pub), "--follow", "--interval", "0.2"],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(_shas_or_empty(pub)) < 1:
            time.sleep(0.05)
        assert _shas_or_empty(pub) == [head(repo)]
        write(repo / "d" / "a", b"two")
        run(repo, "track", "d")
        git(repo, "commit", "-qm", "second")
        while time.monotonic() < deadline and len(_shas_or_empty(pub)) < 2:
            time.sleep(0.05)
        assert _shas_or_empty(pub)[-1] == head(repo)
        assert proc.poll() is None  # still following
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert "stopped following" in err
    assert "Traceback" not in err
    assert entry(pub, head(repo), "d.gitstore")["status"] == "ok"


def _shas_or_empty(pub: Path) -> list[str]:
    try:
        return published_shas(pub)
    except (FileNotFoundError, TypeError, KeyError, yaml.YAMLError):
        return []


def test_a_rewritten_branch_withdraws_the_commits_it_abandoned(
    repo: Path, run, tmp_path: Path
) -> None:
    # QA: after a force-push, get-published at a new commit answered with the
    # files of an abandoned one (and a path the new commit does not have)
    from tests.integration.publish_helpers import commit

    pub = tmp_path / "pub"
    run(repo, "init")
    write(repo / "c.txt", b"c1")
    run(repo, "track", "c.txt")
    git(repo, "add", "-A")
    commit(repo, "A")
    write(repo / "a.txt", b"a1")
    run(repo, "track", "a.txt")
    git(repo, "add", "-A")
    b = commit(repo, "B")
    write(repo / "b.txt", b"bX")
    write(repo / "c.txt", b"cX")
    run(repo, "track", "b.txt", "c.txt")
    git(repo, "add", "-A")
    x = commit(repo, "X")
    run(repo, "publish", str(pub))
    git(repo, "reset", "-q", "--hard", b)
    run(repo, "checkout")
    write(repo / "a.txt", b"a2")
    run(repo, "track", "a.txt")
    git(repo, "add", "-A")
    y = commit(repo, "Y")
    out = run(repo, "publish", str(pub))
    assert f"withdrew {x[:12]}" in out.stdout
    assert x not in published_shas(pub) and y in published_shas(pub)
    got = run(tmp_path, "get-published", str(pub), "c.txt", "--commit", y)
    assert got.stdout == "c1"
    gone = run(tmp_path, "get-published", str(pub), "b.txt", "--commit", y, ok=False)
    assert gone.returncode != 0


def test_a_damaged_cache_object_is_published_from_a_remote_s_good_copy(
    repo: Path, run, tmp_path: Path, hermetic: Path
) -> None:
    # QA: one damaged cache object stopped publish although a remote had it
    from blake3 import blake3

    from tests.integration.publish_helpers import commit

    run(repo, "init")
    team = tmp_path / "team"
    run(repo, "remote", "add", "team", str(team), "--default")
    write(repo / "d" / "a.bin", b"good bytes " * 100)
    write(repo / "d" / "b.bin", b"other bytes " * 100)
    run(repo, "track", "d")
    git(repo, "add", "-A")
    commit(repo, "data")
    run(repo, "push")
    oid = blake3(b"good bytes " * 100).hexdigest()
    cached = _cache_object(hermetic, oid)
    cached.chmod(0o644)
    cached.write_bytes(b"rotten bytes" * 92)
    pub = tmp_path / "pub"
    run(repo, "publish", str(pub))
    (published,) = list(pub.glob(f"objects/*/*/{oid}"))
    assert blake3(published.read_bytes()).hexdigest() == oid
    assert blake3(cached.read_bytes()).hexdigest() == oid  # the cache was mended too
