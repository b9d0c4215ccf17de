"""Which objects pre-push renews on the remote (``Store.touch``; on S3 a copy onto itself).

Renewal closes a race with another clone's ``gc --remote`` (docs/reliability.md,
tenth pass) for old objects a new commit names again. It was applied to every
such object, so the common `gitstore push` then `git push` copied every object
it had just uploaded once more on S3 (a request each, and the bytes again on
the server). An object this clone wrote there minutes ago is young on the
remote, and no collection judges it; only the others are renewed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.integration.test_gc_remote_refs import _age
from tests.integration.test_hooks import make_team, objects_in


def _mtimes(store: Path) -> dict[str, float]:
    return {p.name: p.stat().st_mtime for p in (store / "objects").rglob("*") if p.is_file()}


def test_git_push_after_gitstore_push_renews_nothing_it_just_sent(tmp_path: Path) -> None:
    store = tmp_path / "store"
    alice, _bob, _origin = make_team(tmp_path, str(store))
    before = objects_in(store)
    alice.write("data/new.bin", os.urandom(2000))
    alice.commit_data("new")
    alice.gs("push")  # the objects go up now; `git push` follows
    sent = objects_in(store) - before
    assert len(sent) == 1
    _age(store)  # as if long ago: a renewal would show as a fresh mtime
    aged = _mtimes(store)
    alice.git("push", "-q", "origin", "main")
    assert _mtimes(store) == aged, "pre-push renewed objects this clone had just sent"

    # once its record of them is old, a new commit naming one again renews it
    data = alice.read("data/new.bin")
    (alice.path / "data" / "new.bin").unlink()
    alice.commit_data("gone")
    alice.git("push", "-q", "origin", "main")
    record = next((alice.path / ".git" / "gitstore" / "remotes").glob("*.sent"))
    header, *rows = record.read_text().splitlines()
    past = f"{time.time() - 3600:.0f}"
    record.write_text("\n".join([header, *(past + row[row.index(" ") :] for row in rows)]) + "\n")
    (oid,) = sent
    alice.write("data/new.bin", data)
    alice.commit_data("back")
    alice.git("push", "-q", "origin", "main")
    after = _mtimes(store)
    assert after[oid] > aged[oid] + 86400, "an old object a new commit names was not renewed"
    assert all(after[o] == aged[o] for o in aged if o != oid)
