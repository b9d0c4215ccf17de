"""Names at the system's limits (third QA pass): one clear line, never a traceback mid-way."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import write


def test_a_255_byte_file_name_checks_out(run, repo: Path) -> None:
    """Its temporary name (.NAME.gitstore-tmp) would pass the limit: a digest stands in."""
    name = "x" * 255
    write(repo / "d" / name, b"long\n")
    run(repo, "track", "d")
    (repo / "d" / name).unlink()
    run(repo, "checkout")
    assert (repo / "d" / name).read_bytes() == b"long\n"
    assert sorted(p.name for p in (repo / "d").iterdir()) == [name]


def test_a_top_level_name_too_long_for_its_manifest_is_refused(run, repo: Path) -> None:
    name = "y" * 250
    write(repo / name, b"payload\n")
    refused = run(repo, "track", name, ok=False)
    errors = [line for line in refused.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "the name is too long to track" in errors[0]
    assert not (repo / ".gitignore").exists()
    ok = "z" * 246  # its manifest's name is 255 bytes: fine
    write(repo / ok, b"payload\n")
    run(repo, "track", ok)
    assert (repo / (ok + ".gitstore")).is_file()
