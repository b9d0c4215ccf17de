"""Hostile input: manifests from an untrusted branch can only ever raise ManifestError.

The parser is fuzzed with hostile YAML (anchors, tags, duplicate keys, deep
nesting, huge sizes, odd paths); checkout is fuzzed with random manifests in a
real repository, and nothing outside the tracked path may change — including
through a symlink planted where a tracked folder's subfolder should be.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest
from blake3 import blake3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitstore import api, gitignore
from gitstore import manifest as m
from gitstore.errors import GitstoreError, ManifestError
from tests.conftest import git, write
from tests.reliability.helpers import gs, new_repo, record

OID = "a" * 64
_count = {"parser": 0, "checkout": 0}

HOSTILE = [
    "gitstore: 1\nkind: dir\nsize: 0\nfiles: 0\nentries: &a [*a]\n",
    "gitstore: 1\nkind: dir\nkind: file\nsize: 0\nfiles: 0\nentries: []\n",
    "gitstore: !!python/object:os.system 1\nkind: dir\nsize: 0\nfiles: 0\nentries: []\n",
    "gitstore: 1\nkind: dir\nsize: 0\nfiles: 0\nentries: " + "[" * 5000 + "]" * 5000 + "\n",
    "gitstore: 1\nkind: dir\nsize: 0\nfiles: 0\nentries:\n- {path: a, blake3: "
    + OID
    + ", size: 99999999999999999999999999}\n",
    "gitstore: 1\nkind: dir\nsize: 0\nfiles: 1\nentries:\n- {path: a, path: b, blake3: "
    + OID
    + ", size: 0}\n",
    "gitstore: 1\nkind: dir\nsize: 0\nfiles: 1\nentries:\n- {path: !!binary YQ==, blake3: "
    + OID
    + ", size: 0}\n",
    "gitstore: 2\nkind: dir\nsize: 0\nfiles: 0\nentries: []\n",
    "\ufeffgitstore: 1\nkind: dir\nsize: 0\nfiles: 0\nentries: []\n",
    "gitstore: 1\nkind: dir\nsize: 0\nfiles: 0\nentries: []\n---\ngitstore: 1\n",
    "%YAML 1.2\n---\ngitstore: 1\nkind: dir\nsize: 0\nfiles: 0\nentries: []\n",
    "gitstore: 1\nkind: dir\nsize: 0\nfiles: 0\nentries: <<: {a: 1}\n",
]

path_parts = st.one_of(
    st.sampled_from(
        [
            "..",
            ".",
            "",
            ".git",
            ".GIT",
            "a",
            "A",
            "sub",
            "/etc",
            "C:",
            "x\x00y",
            "\\..\\x",
            "~",
            "café",
        ]
    ),
    st.text(min_size=1, max_size=6),
)
entry_paths = st.lists(path_parts, min_size=1, max_size=4).map("/".join)


def manifest_text(kind: str, entries: list[tuple[str, str, int]]) -> str:
    lines = [
        f"gitstore: 1\nkind: {kind}\nsize: {sum(s for _, _, s in entries)}\nfiles: {len(entries)}\nentries:\n"
    ]
    for path, oid, size in entries:
        quoted = '"' + path.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'
        lines.append(f"- {{path: {quoted}, blake3: {oid}, size: {size}}}\n")
    return "".join(lines)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_yaml_only_raises_manifest_error(text: str) -> None:
    try:
        m.parse(text.encode(), "evil.gitstore")
    except ManifestError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.tuples(
            entry_paths, st.sampled_from([OID, "B" * 64, "1" * 64, "x"]), st.integers(-5, 2**70)
        ),
        max_size=5,
    )
)
def test_fuzzed_entries_only_raise_manifest_error(entries: list[tuple[str, str, int]]) -> None:
    _count["parser"] += 1
    try:
        parsed = m.parse(manifest_text("dir", entries).encode(), "fuzz.gitstore")
    except ManifestError:
        return
    for e in parsed.entries:  # anything accepted is a safe relative path
        assert m.validate_entry_path(e.path) is None


def _snapshot(root: Path, skip: Path) -> dict[str, str]:
    out = {}
    for folder, dirs, files in os.walk(root):
        if Path(folder) == skip or skip in Path(folder).parents:
            continue
        dirs[:] = [d for d in dirs if d != "gitstore"]  # gitstore's own state in .git
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            full = os.path.join(folder, name)
            if name in ("index", "gc.lock", "workspace.lock") or name.endswith(".gitstore"):
                continue
            data = os.readlink(full).encode() if os.path.islink(full) else Path(full).read_bytes()
            out[os.path.relpath(full, root)] = hashlib.sha256(data).hexdigest()
    return out


@pytest.fixture
def arena(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    """A repository with a few objects in the cache, and a folder beside it to watch."""
    repo = new_repo(tmp_path / "repo")
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(repo)
    blobs = [b"one", b"two", b"three"]
    for i, data in enumerate(blobs):
        write(repo / "seed" / f"{i}", data)
    gs(repo, "track", "seed")
    # the one line the first writing checkout adds to .git/info/exclude (gitstore's own
    # temporary files), added now: any other change there is still caught below
    gitignore.exclude_temporaries(repo / ".git")
    write(tmp_path / "outside" / "keep.txt", "precious")
    return repo, [str(blake3(d).hexdigest()) for d in blobs]


def test_fuzzed_checkout_never_writes_outside_the_tracked_path(
    arena: tuple[Path, list[str]],
) -> None:
    repo, oids = arena
    top = repo.parent
    ctx = api.Context(repo)

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.lists(
            st.tuples(
                entry_paths
                | st.sampled_from(["A/x", "a/x", "café", unicodedata.normalize("NFD", "café")]),
                st.sampled_from(oids),
                st.integers(0, 2**64),
            ),
            max_size=6,
        )
    )
    def one(entries: list[tuple[str, str, int]]) -> None:
        _count["checkout"] += 1
        before = _snapshot(top, repo / "data")
        (repo / "data.gitstore").write_text(manifest_text("dir", entries))
        try:
            api.checkout(ctx, None, ["data"], force=True)
        except GitstoreError:
            pass
        assert _snapshot(top, repo / "data") == before
        for folder, _dirs, files in os.walk(repo / "data"):
            for name in files:
                real = os.path.realpath(os.path.join(folder, name))
                assert real.startswith(str((repo / "data").resolve()) + os.sep)

    one()


def test_symlink_where_a_subfolder_should_be(arena: tuple[Path, list[str]]) -> None:
    repo, oids = arena
    outside = repo.parent / "outside"
    (repo / "data").mkdir()
    os.symlink(outside, repo / "data" / "sub")
    (repo / "data.gitstore").write_text(
        manifest_text("dir", [("sub/keep.txt", oids[0], 3), ("sub/new.txt", oids[1], 3)])
    )
    proc = gs(repo, "checkout", check=False)  # the symlink is not ours: refused
    assert proc.returncode != 0, proc.stdout
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]
    gs(repo, "checkout", "--force")  # --force replaces the symlink itself, never follows it
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]
    assert (outside / "keep.txt").read_text() == "precious"
    assert (
        not (repo / "data" / "sub").is_symlink()
        and (repo / "data" / "sub" / "new.txt").read_bytes() == b"two"
    )
    shutil.rmtree(repo / "data")
    # the same with the tracked path itself a symlink
    os.symlink(outside, repo / "data")
    proc = gs(repo, "checkout", "--force", check=False)
    assert proc.returncode != 0
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]
    record("fuzz", "symlink-escape", attempts=2, escapes=0)


def test_manifest_over_the_size_cap(arena: tuple[Path, list[str]]) -> None:
    repo, _ = arena
    big = repo / "huge.gitstore"
    with open(big, "wb") as f:  # sparse: no real disk used
        f.truncate(m.MAX_MANIFEST_BYTES + 1)
    for args in (("status",), ("checkout", "huge")):
        proc = gs(repo, *args, check=False)
        assert proc.returncode == 1, proc.stderr
        assert "huge.gitstore" in proc.stderr and str(m.MAX_MANIFEST_BYTES) in proc.stderr
    big.unlink()


def test_zz_record_fuzz() -> None:
    record("fuzz", "parser", examples=_count["parser"] + len(HOSTILE), non_manifest_errors=0)
    record("fuzz", "checkout", examples=_count["checkout"], writes_outside=0)


def test_hostile_branch_cannot_touch_git(arena: tuple[Path, list[str]]) -> None:
    repo, oids = arena
    before = (repo / ".git" / "config").read_bytes()
    for path in (".git/config", "x/../.git/config", ".git"):
        (repo / "data.gitstore").write_text(manifest_text("dir", [(path, oids[0], 3)]))
        proc = gs(repo, "checkout", "--force", check=False)
        assert proc.returncode == 1 and "data.gitstore" in proc.stderr
    (repo / ".git.gitstore").write_text(manifest_text("file", [("config", oids[0], 3)]))
    gs(repo, "checkout", "--force", check=False)
    assert (repo / ".git" / "config").read_bytes() == before
    git(repo, "status")


def test_manifests_of_gits_own_paths_are_never_acted_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tenth pass: a branch holding `.git.gitstore` (a manifest whose tracked path is the
    repository's .git) made `gitstore checkout --force` delete .git, and a commit's
    pre-commit refresh try to track it; `.gitignore.gitstore` made a branch switch
    remove .gitignore. Such manifests are now named as invalid and never acted on."""
    repo = new_repo(tmp_path / "repo")
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(tmp_path / "cache"))
    env = None
    gs(repo, "init", env=env)
    config = (repo / ".git" / "config").read_bytes()
    write(repo / "seed" / "config", config)  # .git/config's bytes are in the cache
    gs(repo, "track", "seed", env=env)
    git(repo, "commit", "-qm", "seed")
    ignore = b"/seed/\n/seed2/\n"  # .gitignore once seed2 is tracked: in the cache too
    write(repo / "seed2" / "i", ignore)
    gs(repo, "track", "seed2", env=env)
    assert (repo / ".gitignore").read_bytes() == ignore
    git(repo, "commit", "-qm", "seed2")
    main = git(repo, "rev-parse", "--abbrev-ref", "HEAD").stdout.strip()
    git(repo, "checkout", "-qb", "hostile")
    oid = str(blake3(config).hexdigest())
    (repo / ".git.gitstore").write_text(manifest_text("dir", [("config", oid, len(config))]))
    ioid = str(blake3(ignore).hexdigest())
    (repo / ".gitignore.gitstore").write_text(
        manifest_text("file", [(".gitignore", ioid, len(ignore))])
    )
    write(repo / "s" / ".GIT.gitstore", manifest_text("dir", [("x", oid, len(config))]))
    git(repo, "add", "-f", ".git.gitstore", ".gitignore.gitstore", "s/.GIT.gitstore")
    git(repo, "commit", "-qm", "hostile", "--no-verify")
    listing = sorted(os.listdir(repo / ".git"))

    def intact() -> None:
        assert sorted(os.listdir(repo / ".git")) == listing
        assert (repo / ".git" / "config").read_bytes() == config
        assert (repo / ".gitignore").read_bytes() == ignore
        assert not (repo / "s" / ".GIT").exists()
        git(repo, "fsck", "--no-progress")

    for args in (("checkout", "--force"), ("checkout", "--force", "hostile"), ("checkout",)):
        done = gs(repo, *args, env=env, check=False)
        assert done.returncode == 1, done.stderr
        assert ".git.gitstore: describes the path '.git'" in done.stderr, done.stderr
        intact()
    status = gs(repo, "status", env=env, check=False).stdout
    assert "invalid           .git\n" in status and "invalid           .gitignore\n" in status
    refused = git(repo, "commit", "--allow-empty", "-qm", "x", check=False)
    assert refused.returncode != 0 and "never writes there" in refused.stderr
    intact()
    git(repo, "checkout", "-q", main)  # the hook: manifests gone between revisions
    intact()
    back = git(repo, "checkout", "-q", "hostile")
    assert "gitstore never writes there" in back.stderr
    intact()


def test_a_size_edited_by_hand_is_caught_before_it_is_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA pass 7: status said unchanged and pre-commit accepted it; every checkout of that
    commit then failed, blaming the cache, with a `verify --repair` hint that mended nothing."""
    monkeypatch.setenv("GITSTORE_CACHE_DIR", str(tmp_path / "cache"))
    repo = new_repo(tmp_path / "repo")
    gs(repo, "init")
    write(repo / "data" / "a", b"a1\n")
    write(repo / "data" / "b", b"b1\n")
    gs(repo, "track", "data")
    git(repo, "commit", "-qm", "data")
    manifest = repo / "data.gitstore"
    text = manifest.read_text()
    edited = text.replace("size: 6\n", "size: 7\n").replace(", size: 3}", ", size: 4}", 1)
    assert edited.count("size: 4}") == 1
    manifest.write_text(edited)
    status = gs(repo, "status").stdout
    assert "modified          data" in status and "modified: data/a" in status
    git(repo, "add", "data.gitstore")
    refused = subprocess.run(
        ["git", "commit", "-qm", "x"], cwd=repo, capture_output=True, text=True
    )
    assert refused.returncode != 0
    assert "give data/a a size that is not its object's; commit refused" in refused.stderr
    (repo / "data" / "a").unlink()
    wrong = gs(repo, "checkout", "data", check=False)
    assert (
        "the manifest's size was edited" in wrong.stderr and "`gitstore track PATH`" in wrong.stderr
    )
