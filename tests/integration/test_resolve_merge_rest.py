"""`gitstore resolve` in a stopped merge also brings the paths the merge changed cleanly.

git runs no post-merge when any path conflicts, so a tracked path it merged
without a conflict kept our side's files under the merged manifest; the merge
commit was then refused (or kept the manifest with a note) until `gitstore
checkout`. The workflow fuzzer met it 78 times in 17,600 steps. gitstore's
post-index-change hook now brings those paths at the stop; these tests run the
merge and its abort with no hooks, as a git client that runs none (or the
pre-commit framework, which has no post-index-change) does.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.integration.test_hooks import Clone, solo
from tests.integration.users import NO_HOOKS


def _stopped_merge(tmp_path: Path) -> Clone:
    """main and topic both change model.bin (a conflict); topic also changes data/."""
    repo = solo(tmp_path / "repo", tmp_path / "cache")
    repo.write("data/a.bin", b"alpha v1")
    repo.write("data/run.sh", b"echo hi\n")
    repo.write("model.bin", b"model v1")
    repo.gs("track", "data", "model.bin")
    repo.git("commit", "-qm", "v1")
    repo.git("switch", "-qc", "topic")
    repo.write("data/a.bin", b"alpha topic")
    (repo.path / "data" / "run.sh").chmod(0o755)
    repo.write("model.bin", b"model topic")
    repo.gs("track", "data", "model.bin")
    repo.git("commit", "-qm", "topic")
    repo.git("switch", "-q", "main")
    repo.write("model.bin", b"model main")
    repo.gs("track", "model.bin")
    repo.git("commit", "-qm", "main")
    repo.git(*NO_HOOKS, "merge", "topic", ok=False)  # model.bin conflicts; data merges cleanly
    assert repo.read("data/a.bin") == b"alpha v1"  # no hook ran
    return repo


def test_resolve_brings_the_paths_the_merge_changed_cleanly(tmp_path: Path) -> None:
    repo = _stopped_merge(tmp_path)
    repo.gs("resolve", "model.bin", "--ours")
    assert repo.read("model.bin") == b"model main"
    assert repo.read("data/a.bin") == b"alpha topic"
    assert os.access(repo.path / "data" / "run.sh", os.X_OK)
    done = repo.git("commit", "-q", "--no-edit")
    assert "gitstore" not in done.stderr, done.stderr  # neither refused nor a note
    merged = repo.git("show", "HEAD:data.gitstore").stdout
    assert "exec: true" in merged
    assert repo.gs("cat", "data/a.bin", "--rev", "HEAD").stdout == "alpha topic"
    states = {r["path"]: r["state"] for r in json.loads(repo.gs("status", "--json").stdout)}
    assert states == {"data": "unchanged", "model.bin": "unchanged"}


def test_an_abort_after_resolve_keeps_the_other_sides_data_out_of_the_next_commit(
    tmp_path: Path,
) -> None:
    repo = _stopped_merge(tmp_path)
    repo.gs("resolve", "model.bin", "--theirs")
    repo.git(*NO_HOOKS, "merge", "--abort")  # HEAD's manifests are back, topic's files stay
    repo.write("code.py", "print(1)\n")
    repo.git("add", "code.py")
    repo.git("commit", "-qm", "code only", ok=None)
    assert repo.gs("cat", "data/a.bin", "--rev", "HEAD").stdout == "alpha v1"
    assert repo.gs("cat", "model.bin", "--rev", "HEAD").stdout == "model main"
