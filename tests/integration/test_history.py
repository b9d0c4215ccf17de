"""`gitstore diff` and `gitstore log` through the real CLI and the real git binary,
and the Python API in a fresh clone that fetches from a folder remote."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import blake3
import pytest

from tests.conftest import git, write


def oid(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


@pytest.fixture
def tagged(repo: Path, run) -> Path:
    """v1: data/ (cats/1, cats/2, run.sh) and model.pt; v2: edits, a rename, an
    exec-bit change and a new tracked file extra.bin; v3: model.pt untracked."""
    write(repo / "data" / "cats" / "1", b"one")
    write(repo / "data" / "cats" / "2", b"two")
    write(repo / "data" / "run.sh", b"#!/bin/sh\n", 0o644)
    write(repo / "model.pt", b"weights v1")
    run(repo, "track", "data", "model.pt")
    git(repo, "commit", "-qm", "v1")
    git(repo, "tag", "v1")
    write(repo / "data" / "cats" / "1", b"one, edited")
    (repo / "data" / "cats" / "2").rename(repo / "data" / "cats" / "2b")
    write(repo / "data" / "cats" / "3", b"three")
    (repo / "data" / "run.sh").chmod(0o755)
    write(repo / "extra.bin", b"extra")
    run(repo, "track", "data", "extra.bin")
    git(repo, "commit", "-qm", "v2")
    git(repo, "tag", "v2")
    run(repo, "untrack", "model.pt")
    git(repo, "commit", "-qm", "v3")
    git(repo, "tag", "v3")
    return repo


def test_diff_between_tags_json_shape(tagged: Path, run) -> None:
    out = json.loads(run(tagged, "diff", "v1", "v2", "--json").stdout)
    assert out == {
        "added": [
            {"path": "data/cats/3", "oid": oid(b"three"), "size": 5},
            {"path": "extra.bin", "oid": oid(b"extra"), "size": 5},
        ],
        "removed": [],
        "modified": [
            {
                "path": "data/cats/1",
                "old_oid": oid(b"one"),
                "new_oid": oid(b"one, edited"),
                "old_size": 3,
                "new_size": 11,
                "old_exec": False,
                "new_exec": False,
            },
            {
                "path": "data/run.sh",
                "old_oid": oid(b"#!/bin/sh\n"),
                "new_oid": oid(b"#!/bin/sh\n"),
                "old_size": 10,
                "new_size": 10,
                "old_exec": False,
                "new_exec": True,
            },
        ],
        "renamed": [
            {"old_path": "data/cats/2", "path": "data/cats/2b", "oid": oid(b"two"), "size": 3}
        ],
    }


def test_diff_tracked_path_removed_as_a_whole(tagged: Path, run) -> None:
    out = json.loads(run(tagged, "diff", "v2", "v3", "--json").stdout)
    assert out == {
        "added": [],
        "removed": [{"path": "model.pt", "oid": oid(b"weights v1"), "size": 10}],
        "modified": [],
        "renamed": [],
    }
    back = json.loads(run(tagged, "diff", "v3", "v2", "--json").stdout)
    assert back["added"] == out["removed"] and back["removed"] == []


def test_diff_restricted_to_paths(tagged: Path, run) -> None:
    out = json.loads(run(tagged, "diff", "v1", "v2", "data/cats", "--json").stdout)
    assert [a["path"] for a in out["added"]] == ["data/cats/3"]
    assert [m["path"] for m in out["modified"]] == ["data/cats/1"]
    assert [r["path"] for r in out["renamed"]] == ["data/cats/2b"]
    only = json.loads(run(tagged, "diff", "v1", "v2", "extra.bin", "--json").stdout)
    assert [a["path"] for a in only["added"]] == ["extra.bin"] and not only["modified"]
    # from a subfolder, paths are relative to it
    sub = json.loads(run(tagged / "data", "diff", "v1", "v2", "run.sh", "--json").stdout)
    assert [m["path"] for m in sub["modified"]] == ["data/run.sh"] and not sub["added"]
    # QA pass 7: a name inside a tracked folder that no side has was "no change", exit 0
    for args in (("v1", "v2", "data/cats/A"), ("v2", "--", "data/nosuch"), ("--", "data/x/y")):
        refused = run(tagged, "diff", *args, ok=False)
        assert "is not a tracked path on either side of the diff" in refused.stderr, args
    (tagged / "data" / "new").write_bytes(b"on disk only")
    assert run(tagged, "diff", "--", "data/new").stdout.startswith("added")


def test_diff_tag_against_working_tree(tagged: Path, run) -> None:
    assert json.loads(run(tagged, "diff", "--json").stdout) == {
        "added": [],
        "removed": [],
        "modified": [],
        "renamed": [],
    }
    write(tagged / "data" / "cats" / "3", b"three, changed on disk")
    (tagged / "data" / "cats" / "1").unlink()
    write(tagged / "data" / "dogs" / "1", b"dog")
    out = json.loads(run(tagged, "diff", "--json").stdout)  # HEAD vs the files on disk
    assert [a["path"] for a in out["added"]] == ["data/dogs/1"]
    assert [r["path"] for r in out["removed"]] == ["data/cats/1"]
    assert out["modified"][0]["path"] == "data/cats/3"
    assert out["modified"][0]["new_oid"] == oid(b"three, changed on disk")
    vs_tag = json.loads(run(tagged, "diff", "v1", "--json").stdout)
    assert {r["path"] for r in vs_tag["removed"]} == {"data/cats/1", "model.pt"}
    assert {a["path"] for a in vs_tag["added"]} == {"data/cats/3", "data/dogs/1", "extra.bin"}
    assert [(r["old_path"], r["path"]) for r in vs_tag["renamed"]] == [
        ("data/cats/2", "data/cats/2b")
    ]
    # a tracked path that is not materialised is compared through its manifest
    shutil.rmtree(tagged / "data")
    out = json.loads(run(tagged, "diff", "--json").stdout)
    assert out == {"added": [], "removed": [], "modified": [], "renamed": []}


def test_diff_human_stat_and_markdown(tagged: Path, run) -> None:
    text = run(tagged, "diff", "v1", "v2").stdout.splitlines()
    assert "added     data/cats/3 (5 B)" in text
    assert "renamed   data/cats/2 -> data/cats/2b" in text
    assert "modified  data/run.sh (exec false -> true)" in text
    assert "modified  data/cats/1 (3 B -> 11 B)" in text

    stat = run(tagged, "diff", "v1", "v2", "--stat").stdout.splitlines()
    assert stat[0].split() == ["data", "|", "4", "+1", "-0", "~2", ">1", "+13", "B"]
    assert stat[1].split()[:2] == ["extra.bin", "|"] and stat[1].endswith("(added)")
    assert stat[-1].strip().startswith("2 tracked paths changed, 2 added, 0 removed, 2 modified")

    md = run(tagged, "diff", "v1", "v2", "--markdown").stdout
    assert md.startswith("### gitstore diff `v1` → `v2`\n")
    assert "| tracked path | added | removed | modified | renamed | size change |" in md
    assert "| `data` | 1 | 0 | 2 | 1 | +13 B |" in md
    assert "| `extra.bin` (added) | 1 | 0 | 0 | 0 | +5 B |" in md
    assert "| **total** | **2** | **0** | **2** | **1** | **+18 B** |" in md
    assert "<details><summary>5 changed files</summary>" in md
    assert "- renamed `data/cats/2` → `data/cats/2b`" in md
    assert md.rstrip().endswith("</details>")
    short = run(tagged, "diff", "v1", "v2", "--markdown", "--limit", "2").stdout
    assert "- … and 3 more" in short
    assert short.count("\n- ") == 3


def test_diff_errors(tagged: Path, run) -> None:
    proc = run(tagged, "diff", "v1", "other/nope", ok=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("gitstore: error: other/nope is not a tracked path")
    proc = run(tagged, "diff", "v9", ok=False)
    assert proc.returncode == 1
    assert "'v9' is neither a known revision nor a tracked path" in proc.stderr
    proc = run(tagged, "diff", "v1", "v2", "--json", "--stat", ok=False)
    assert proc.returncode == 2
    proc = run(tagged, "diff", "v1", "v2", "v3", ok=False)  # v3 is read as a path
    assert "'v3' is neither a known revision nor a tracked path" not in proc.stderr
    assert "v3 is not a tracked path on either side" in proc.stderr


def _merge_history(repo: Path, run) -> dict[str, str]:
    """main: c1 (adds data), c2 (b changes), side: s1 (a changes); main: c3 (z
    changes); merge of side; c4 untracks data. Same-length edits keep the
    manifest's size line unchanged, so git merges the manifest text cleanly."""
    names = ["a", "b", "c", "d", "e", "f", "g", "z"]
    for name in names:
        write(repo / "data" / name, f"{name}-0".encode())
    run(repo, "track", "data")
    git(repo, "commit", "-qm", "c1")
    shas = {"c1": git(repo, "rev-parse", "HEAD").stdout.strip()}
    write(repo / "data" / "b", b"b-1")
    run(repo, "track", "data")
    git(repo, "commit", "-qm", "c2")
    shas["c2"] = git(repo, "rev-parse", "HEAD").stdout.strip()
    git(repo, "checkout", "-qb", "side")
    write(repo / "data" / "a", b"a-1")
    run(repo, "track", "data")
    git(repo, "commit", "-qm", "s1")
    shas["s1"] = git(repo, "rev-parse", "HEAD").stdout.strip()
    git(repo, "checkout", "-q", "main")
    run(repo, "checkout")
    write(repo / "data" / "z", b"z-1")
    run(repo, "track", "data")
    git(repo, "commit", "-qm", "c3")
    shas["c3"] = git(repo, "rev-parse", "HEAD").stdout.strip()
    git(repo, "merge", "-q", "--no-edit", "side")
    shas["merge"] = git(repo, "rev-parse", "HEAD").stdout.strip()
    return shas


def test_log_of_file_inside_folder_across_a_merge(repo: Path, run) -> None:
    shas = _merge_history(repo, run)
    first = json.loads(run(repo, "log", "data/a", "--json").stdout)
    assert [e["commit"] for e in first] == [shas["merge"], shas["c1"]]
    assert first[0]["oid"] == oid(b"a-1") and first[0]["size"] == 3
    assert first[0]["message"].startswith("Merge branch 'side'")
    assert first[1]["oid"] == oid(b"a-0") and first[1]["message"] == "c1"
    assert set(first[0]) == {"commit", "date", "author", "message", "oid", "size"}
    assert first[1]["author"] == "Test Author <author@example.com>"
    assert first[1]["date"][:4].isdigit() and first[1]["date"].endswith("+00:00")
    every = json.loads(run(repo, "log", "data/a", "--json", "--all").stdout)
    assert [e["commit"] for e in every] == [shas["s1"], shas["c1"]]
    b_log = json.loads(run(repo, "log", "data/b", "--json").stdout)
    assert [e["commit"] for e in b_log] == [shas["c2"], shas["c1"]]
    limited = json.loads(run(repo, "log", "data/b", "--json", "-n", "1").stdout)
    assert [e["commit"] for e in limited] == [shas["c2"]]
    folder = json.loads(run(repo, "log", "data", "--json").stdout)
    assert [e["commit"] for e in folder] == [shas["merge"], shas["c3"], shas["c2"], shas["c1"]]
    assert all(e["oid"] is None and e["size"] == 24 for e in folder)
    # removal is listed with oid null and size 0
    run(repo, "untrack", "data")
    git(repo, "commit", "-qm", "c4")
    gone = json.loads(run(repo, "log", "data/z", "--json").stdout)
    assert gone[0]["message"] == "c4" and gone[0]["oid"] is None and gone[0]["size"] == 0
    assert [e["message"] for e in gone[1:]] == ["c3", "c1"]
    text = run(repo, "log", "data/z").stdout.splitlines()
    assert " removed " in text[0] and text[0].startswith(gone[0]["commit"][:12])


def test_log_errors(tagged: Path, run) -> None:
    proc = run(tagged, "log", "data/cats/nope", ok=False)
    assert proc.stderr.startswith("gitstore: error: data/cats/nope is not tracked")
    proc = run(tagged, "log", "data", "--rev", "nope", ok=False)
    assert "unknown revision 'nope'" in proc.stderr


def test_api_in_a_fresh_clone_fetches_from_a_folder_remote(
    tagged: Path, run, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    run(tagged, "remote", "add", "origin-store", str(store), "--default")
    git(tagged, "commit", "-qm", "remote")
    run(tagged, "push", "--all")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(tagged), str(clone))
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "empty-cache"))
    script = """
import gitstore, json, os, stat, sys
print(json.dumps({
    "v1": gitstore.read("data/cats/1", rev="v1").decode(),
    "head": gitstore.read("data/cats/1").decode(),
    "model": gitstore.open("model.pt", rev="v2").read().decode(),
    "log": [e.message for e in gitstore.Repo().log("data/cats/1")],
    "diff": [a.path for a in gitstore.Repo(".").diff("v1", "v2").added],
}))
view = gitstore.get("data", rev="v1")
files = sorted(p.relative_to(view).as_posix() for p in view.rglob("*") if p.is_file())
print(json.dumps(files))
print(all(not os.access(p, os.W_OK) or os.geteuid() == 0 for p in view.rglob("*") if p.is_file()))
print(oct(os.stat(view / "run.sh").st_mode & 0o222))
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=clone, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert json.loads(lines[0]) == {
        "v1": "one",
        "head": "one, edited",
        "model": "weights v1",
        "log": ["v2", "v1"],
        "diff": ["data/cats/3", "extra.bin"],
    }
    assert json.loads(lines[1]) == ["cats/1", "cats/2", "run.sh"]
    assert lines[3] == "0o0"
    assert not (clone / "data").exists()  # nothing was checked out
    cache = tmp_path / "empty-cache" / "gitstore"
    assert (cache / "objects").is_dir()
    assert len(list((cache / "views").glob("*/.gitstore-view"))) == 1


def test_log_without_a_path_lists_every_data_commit(tagged: Path, run) -> None:
    """As `git log` does: every commit that changed tracked data, and which paths."""
    git(tagged, "commit", "-q", "--allow-empty", "-m", "code only")
    out = json.loads(run(tagged, "log", "--json").stdout)
    assert [(e["message"], e["paths"]) for e in out] == [
        ("v3", ["model.pt"]),
        ("v2", ["data", "extra.bin"]),
        ("v1", ["data", "model.pt"]),
    ]
    assert all(len(e["commit"]) == 40 and e["date"][:2] == "20" for e in out)
    text = run(tagged, "log", "-n", "1").stdout.splitlines()
    assert len(text) == 1 and " model.pt  v3  (" in text[0]
    assert run(tagged, "log", "--rev", "v2", "--json").stdout.count('"commit"') == 2


def test_a_name_with_a_line_break_prints_on_one_line(repo: Path, run) -> None:
    """QA pass 7: ls, status and the text diff printed the raw line break, so a name could
    forge a line of output (``b`` looked unchanged and ``README.txt`` added)."""
    write(repo / "data" / "a", b"a")
    run(repo, "track", "data")
    git(repo, "commit", "-qm", "v1")
    write(repo / "data" / "b\nREADME.txt", b"b")
    write(repo / "data" / "c\r- removed `x`", b"c")  # CommonMark ends a line at a lone CR
    assert '    added: "data/b\\nREADME.txt"' in run(repo, "status").stdout.splitlines()
    run(repo, "track", "data")
    git(repo, "commit", "-qm", "v2")
    listed = run(repo, "ls").stdout.splitlines()
    assert len(listed) == 3 and listed[1].endswith(' "data/b\\nREADME.txt"')
    diff = run(repo, "diff", "HEAD~1", "HEAD").stdout.splitlines()
    assert diff == [
        'added     "data/b\\nREADME.txt" (1 B)',
        'added     "data/c\\r- removed `x`" (1 B)',
    ]
    assert len(run(repo, "diff", "HEAD~1", "HEAD", "--stat").stdout.splitlines()) == 2
    markdown = run(repo, "diff", "HEAD~1", "HEAD", "--markdown").stdout
    assert '`"data/b\\nREADME.txt"`' in markdown and "\r" not in markdown
    assert [x for x in markdown.splitlines() if x.startswith("- ")] == [
        '- added `"data/b\\nREADME.txt"` (1 B)',
        '- added `` "data/c\\r- removed `x`" `` (1 B)',
    ]
    logged = run(repo, "log", "data/b\nREADME.txt").stdout.splitlines()
    assert len(logged) == 1
    # errors and hook lines too: an escape sequence and a CR would erase the terminal's line
    refused = run(repo, "cat", "data/x\x1b[2K\rOK", ok=False).stderr
    assert "\x1b" not in refused and "\r" not in refused and "data/x\\x1b[2K\\rOK" in refused


def test_a_full_disk_under_standard_output_is_one_line(tagged: Path) -> None:
    """QA pass 7: `gitstore cat X > out` on a full disk printed a traceback."""
    from tests.conftest import GITSTORE

    for args in (
        ("cat", "--rev", "v1", "model.pt"),
        ("ls",),
        ("log", "data"),
        ("status",),
        ("--version",),  # printed before any command runs
        ("--help",),
    ):
        with open("/dev/full", "w") as full:
            proc = subprocess.run(
                [*GITSTORE, *args], cwd=tagged, stdout=full, stderr=subprocess.PIPE, text=True
            )
        assert proc.returncode == 1, (args, proc.stderr)
        assert proc.stderr == (
            "gitstore: error: cannot write to standard output: No space left on device\n"
        ), args


def test_a_bad_manifest_in_history_is_named_with_its_commit(repo: Path, run) -> None:
    """QA pass 7: log and diff said "data.gitstore line 8: ..." without saying which commit."""
    write(repo / "data" / "a", b"a")
    write(repo / "data" / "b", b"b")
    run(repo, "track", "data")
    git(repo, "commit", "-qm", "good")
    text = (repo / "data.gitstore").read_text()
    lines = text.splitlines(keepends=True)
    (repo / "data.gitstore").write_text(text + lines[-2])  # entry a listed twice
    git(repo, "add", "data.gitstore")
    git(repo, "commit", "-qm", "bad", "--no-verify")
    bad = git(repo, "rev-parse", "HEAD").stdout.strip()[:12]
    for args in (("log", "data/a"), ("diff", "HEAD~1", "HEAD")):
        refused = run(repo, *args, ok=False)
        assert f"data.gitstore at {bad} line" in refused.stderr, (args, refused.stderr)


def test_log_of_every_parent_lists_a_merge_with_its_paths_and_cat_takes_a_manifest_name(
    repo: Path, run
) -> None:
    """QA pass 7: `log --all` listed a merge with no path; `cat X.gitstore` was refused."""
    write(repo / "data" / "a", b"a1")
    write(repo / "model.bin", b"m1")
    run(repo, "track", "data", "model.bin")
    git(repo, "commit", "-qm", "base")
    git(repo, "switch", "-qc", "side")
    write(repo / "data" / "a", b"a on side")
    run(repo, "track", "data")
    git(repo, "commit", "-qm", "side")
    git(repo, "switch", "-q", "-")
    write(repo / "model.bin", b"m2")
    run(repo, "track", "model.bin")
    git(repo, "commit", "-qm", "main")
    git(repo, "merge", "-q", "--no-edit", "side")
    logged = json.loads(run(repo, "log", "--all", "--json").stdout)
    assert [(e["message"][:5], e["paths"]) for e in logged] == [
        ("Merge", ["data"]),
        ("main", ["model.bin"]),
        ("side", ["data"]),
        ("base", ["data", "model.bin"]),
    ]
    assert run(repo, "cat", "model.bin.gitstore").stdout == "m2"


def test_log_of_a_folder_that_holds_tracked_paths(repo: Path, run) -> None:
    """QA pass 9 left: `log FOLDER` of a folder holding tracked paths (not one itself)
    said it was not tracked; as `git log -- FOLDER`, it lists the commits that changed
    any of them, with the paths each changed (the folder's name taken literally)."""
    top = "da[t]a*"
    write(repo / top / "x" / "f", b"1")
    write(repo / top / "y" / "g", b"2")
    write(repo / "dat" / "z" / "h", b"3")  # matched by the pattern, not by the name
    run(repo, "track", f"{top}/x", f"{top}/y", "dat/z")
    git(repo, "commit", "-qm", "one")
    write(repo / top / "x" / "f", b"11")
    run(repo, "track", f"{top}/x")
    git(repo, "commit", "-qm", "two")
    write(repo / "dat" / "z" / "h", b"33")
    run(repo, "track", "dat/z")
    git(repo, "commit", "-qm", "three")
    rows = json.loads(run(repo, "log", top, "--json").stdout)
    assert [(r["message"], r["paths"]) for r in rows] == [
        ("two", [f"{top}/x"]),
        ("one", [f"{top}/x", f"{top}/y"]),
    ]
    text = run(repo / top, "log", ".").stdout
    assert " two " in text and " three " not in text
    assert "is not tracked in the history" in run(repo, "log", "nothere", ok=False).stderr
