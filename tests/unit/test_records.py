"""The records that replaced dataclasses on the start-up path behave as the dataclasses did."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import pytest

from gitstore import manifest as mf
from gitstore.checkout import CheckoutResult
from gitstore.config import Config, RemoteConfig
from gitstore.workspace import PathStatus, TrackResult

OID = "ab" * 32


def _samples() -> list[object]:
    entry = mf.Entry("a/b.bin", OID, 3, exec=True, extra=(("note", "x"),))
    result = CheckoutResult()
    result.written.append("data/a")
    result.missing[OID] = ["data/b"]
    status = PathStatus("data", "modified", "data.gitstore", modified=["data/x"])
    status.behind = True
    return [
        entry,
        mf.Manifest("dir", (entry,), (("origin", "s3"),)),
        Config(Path("/cache"), remotes={"r": RemoteConfig("r", "s3://b/p")}),
        TrackResult("data", "data.gitstore", "dir", 1, 3, True, adopted=True),
        status,
        result,
    ]


@pytest.mark.parametrize("value", _samples(), ids=lambda v: type(v).__name__)
def test_records_survive_pickle_and_copy_equal(value: object) -> None:
    """DataLoader workers pickle what a dataset holds; copies must stay equal."""
    for again in (
        pickle.loads(pickle.dumps(value)),
        copy.copy(value),
        copy.deepcopy(value),
    ):
        assert again == value and type(again) is type(value)
        assert repr(again) == repr(value)


def test_immutable_records_refuse_assignment_and_hash_by_their_fields() -> None:
    entry = mf.Entry("a", OID, 1)
    manifest = mf.Manifest("dir", (entry,))
    for record, field in ((entry, "oid"), (manifest, "kind")):
        with pytest.raises(AttributeError):
            setattr(record, field, "x")
    assert hash(manifest) == hash(mf.Manifest("dir", (mf.Entry("a", OID, 1),)))
    assert manifest != mf.Manifest("file", (entry,))
    assert entry._replace(size=2) == mf.Entry("a", OID, 2)


def test_mutable_results_compare_by_fields_and_are_unhashable() -> None:
    a, b = CheckoutResult(), CheckoutResult()
    assert a == b
    b.written.append("x")
    assert a != b
    with pytest.raises(TypeError):
        hash(a)
    assert "written=['x']" in repr(b)
