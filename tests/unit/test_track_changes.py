"""TrackChanges: which objects track brought since each version it started from."""

from __future__ import annotations

from pathlib import Path

from gitstore.cleanrecord import TrackChanges
from gitstore.gitrepo import blob_id_of

M = "data.gitstore"


def test_bases_chain_across_tracks_and_reload(tmp_path: Path) -> None:
    changes = TrackChanges.load(tmp_path)
    changes.note(M, b"v0", b"v1", {"o1": "data/a"})
    changes.note(M, b"v1", b"v2", {"o2": "data/b"})
    changes.save()
    again = TrackChanges.load(tmp_path)
    digest = blob_id_of(b"v2")
    assert again.introduced(M, digest, blob_id_of(b"v0")) == {"o1": "data/a", "o2": "data/b"}
    assert again.introduced(M, digest, blob_id_of(b"v1")) == {"o2": "data/b"}
    assert again.introduced(M, digest, blob_id_of(b"other")) is None
    assert again.introduced(M, blob_id_of(b"v1"), blob_id_of(b"v0")) is None  # not what track wrote


def test_a_manifest_changed_by_anything_else_restarts_the_chain(tmp_path: Path) -> None:
    changes = TrackChanges.load(tmp_path)
    changes.note(M, b"v0", b"v1", {"o1": "data/a"})
    changes.note(M, b"checked out", b"v2", {"o2": "data/b"})
    digest = blob_id_of(b"v2")
    assert changes.introduced(M, digest, blob_id_of(b"v0")) is None
    assert changes.introduced(M, digest, blob_id_of(b"checked out")) == {"o2": "data/b"}


def test_unknown_changes_and_new_manifests_drop_the_record(tmp_path: Path) -> None:
    changes = TrackChanges.load(tmp_path)
    changes.note(M, b"v0", b"v1", {"o1": "data/a"})
    changes.note(M, b"v1", b"v2", None)
    assert M not in changes.entries
    changes.note(M, None, b"v1", {"o1": "data/a"})
    assert M not in changes.entries


def test_only_the_last_few_bases_are_kept(tmp_path: Path) -> None:
    changes = TrackChanges.load(tmp_path)
    for i in range(TrackChanges.BASES + 2):
        changes.note(M, b"v%d" % i, b"v%d" % (i + 1), {f"o{i}": "data/a"})
    (_digest, bases) = changes.entries[M]
    assert len(bases) == TrackChanges.BASES


def test_a_corrupt_file_is_an_empty_record(tmp_path: Path) -> None:
    (tmp_path / TrackChanges.FILE).write_bytes(b"\x00garbage")
    assert TrackChanges.load(tmp_path).entries == {}
    import marshal

    bad = {M: ("digest", [("base", "not a dict")]), "ok.gitstore": ("d", [("b", {})])}
    (tmp_path / TrackChanges.FILE).write_bytes(marshal.dumps((TrackChanges.MAGIC, bad)))
    assert list(TrackChanges.load(tmp_path).entries) == ["ok.gitstore"]
