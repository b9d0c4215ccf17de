"""The benchmark suite's --quick mode still runs and checks every timed command's output.

It asserts no timings: a figure that misses its target is reported in the
table, not failed here; a command that gives a wrong result fails the run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_benchmarks_run_and_check_outputs(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    doc_before = (
        (ROOT / "docs" / "performance.md").read_bytes()
        if (ROOT / "docs" / "performance.md").exists()
        else None
    )
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
            "--quick",
            "--workdir",
            str(tmp_path / "work"),
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    assert result["quick"] is True
    assert not result["failures"]
    figures = result["figures"]
    for key in (
        "W1 track (8 MiB)",
        "W2 track (500 × 4 KiB)",
        "W2 no-op status",
        "W2 checkout (copy)",
        "W2 checkout (hardlink)",
    ):
        assert key in figures, sorted(figures)
        assert figures[key]["gitstore"]["runs"], key
        assert figures[key]["floor"]["runs"], key
    assert any(k.startswith("W4 no-op status") for k in figures)
    # --quick never rewrites the committed results page
    after = (
        (ROOT / "docs" / "performance.md").read_bytes()
        if (ROOT / "docs" / "performance.md").exists()
        else None
    )
    assert after == doc_before
