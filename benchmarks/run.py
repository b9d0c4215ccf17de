"""Run gitstore's benchmark suite and write the results table.

    python benchmarks/run.py [--quick] [--peers] [--only NAME...] [--repeat N]
                             [--workdir DIR] [--json OUT] [--no-doc]

Groups (for --only): W1 W2 W3 W4, and the other engineers' modules when
present: history (bench_history.py), remote (bench_remote.py), publish
(bench_publish.py). Each figure is the median of --repeat runs (default 3; 1
with --quick) with min and max, against a floor measured in the same run.
The table goes into docs/performance.md between the results markers (not
with --quick unless --doc is given), the raw figures into --json (default
benchmarks/results.json, git-ignored).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import suites  # noqa: E402
import trash  # noqa: E402
from harness import CheckFailed, Env, Figure, PartlyFailed, markdown  # noqa: E402

ROOT = HERE.parent
DOC = ROOT / "docs" / "performance.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
GROUPS = ("W1", "W2", "W3", "W4", "history", "remote", "publish", "hooks")
EXTERNAL = {
    "history": "bench_history",
    "remote": "bench_remote",
    "publish": "bench_publish",
    "hooks": "bench_hooks",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--quick", action="store_true", help="small workloads, one run each (CI smoke test)"
    )
    p.add_argument("--peers", action="store_true", help="also time DVC, git-lfs and git-annex")
    p.add_argument(
        "--only", nargs="+", choices=GROUPS, metavar="NAME", help=f"groups: {' '.join(GROUPS)}"
    )
    p.add_argument("--repeat", type=int, help="runs per figure (default 3, 1 with --quick)")
    p.add_argument(
        "--workdir",
        type=Path,
        default=HERE / "work",
        help="scratch folder (default benchmarks/work)",
    )
    p.add_argument(
        "--json",
        type=Path,
        default=HERE / "results.json",
        help="raw figures (default benchmarks/results.json)",
    )
    p.add_argument("--doc", action="store_true", help="write docs/performance.md even with --quick")
    p.add_argument("--no-doc", action="store_true", help="do not touch docs/performance.md")
    return p.parse_args(argv)


def machine() -> dict[str, object]:
    info: dict[str, object] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        mem = Path("/proc/meminfo").read_text().split()[1]
        info["memory_gib"] = round(int(mem) / (1 << 20), 1)
    except OSError:
        pass
    return info


def run_external(
    group: str, bench: suites.Bench, out: dict[str, object], peers: bool = False
) -> None:
    name = EXTERNAL[group]
    if not (HERE / f"{name}.py").exists():
        bench.notes.append(f"{group}: skipped, benchmarks/{name}.py does not exist yet")
        return
    module = importlib.import_module(name)
    workdir = bench.workdir / "ext" / group
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        if peers and "peers" in inspect.signature(module.run).parameters:
            figures = module.run(workdir, bench.quick, peers=True)  # DVC on S3 (bench_remote)
        else:
            figures = module.run(workdir, bench.quick)
    except PartlyFailed as exc:  # keep what the other workloads measured, then fail
        out[group] = {k: round(float(v), 4) for k, v in exc.figures.items()}
        raise
    out[group] = {k: round(float(v), 4) for k, v in figures.items()}


def external_markdown(external: dict[str, object]) -> str:
    if not external:
        return ""
    lines = ["", "| suite | figure | value |", "| --- | --- | --- |"]
    for group, figures in external.items():
        assert isinstance(figures, dict)
        for key, value in figures.items():
            lines.append(f"| {group} | {key} | {value:g} |")
    return "\n".join(lines) + "\n"


def write_doc(table: str) -> None:
    text = DOC.read_text() if DOC.exists() else f"# Performance\n\n{START}\n{END}\n"
    if START not in text or END not in text:
        text += f"\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    _old, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{START}\n{table}{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    repeat = args.repeat or (1 if args.quick else 3)
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    env = Env(workdir)
    bench = suites.Bench(env, workdir, args.quick, repeat, notes=[])
    # no timed run may follow a mass deletion (trash.py): outputs go to the
    # trash, which is emptied between workloads, then the allocator settles
    trash.configure(workdir / "trash")
    settle = not args.quick
    groups = args.only or list(GROUPS)
    started = time.time()
    # byte-compile gitstore once, as an installed package would be, before any timing
    env.run([*env.gitstore, "--version"], workdir)
    env.run([*env.gitstore, "status"], workdir, check=False)

    figures: list[Figure] = []
    external: dict[str, object] = {}
    peer_names: list[str] = []
    failures: list[str] = []

    def attempt(label: str, fn, *a):  # type: ignore[no-untyped-def]
        trash.empty(settle)
        print(f"[bench] {label} ...", file=sys.stderr, flush=True)
        try:
            return fn(*a)
        except CheckFailed as exc:
            failures.append(f"{label}: {exc}")
        except Exception:  # a broken group must not hide the others' figures
            failures.append(f"{label}: {traceback.format_exc()}")
        return None

    repos: dict[str, tuple] = {}
    for name in ("W1", "W2", "W3"):
        if name not in groups:
            continue
        got = attempt(f"{name} track", suites.track_suite, bench, name)
        if got is None:
            continue
        figs, repo, src = got
        figures += figs
        repos[name] = (repo, src)
        if name == "W2":
            figures += attempt("W2 status", suites.status_suites, bench, repo) or []
        figures += attempt(f"{name} checkout", suites.checkout_suite, bench, name, repo, src) or []
    if "W4" in groups:
        figures += attempt("W4", suites.w4_suite, bench) or []
    for group in ("history", "remote", "publish", "hooks"):
        if group in groups:
            attempt(group, run_external, group, bench, external, args.peers)
    if args.peers:
        import peers

        peer_names = list(peers.PEERS)
        attempt("peers", peers.run_all, bench, figures, repos)

    trash.empty(settle=False)
    result = {
        "quick": args.quick,
        "repeat": repeat,
        "machine": machine(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(time.time() - started, 1),
        "figures": {f.key: f.to_json() for f in figures},
        "external": external,
        "notes": bench.notes,
        "failures": failures,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    table = markdown(figures, peer_names) + external_markdown(external)
    mode = "quick" if args.quick else "full"
    table = (
        f"Run of {result['when']} ({mode} mode, {repeat} run(s) per figure, warm page cache, "
        f"{result['machine'].get('cpus')} CPUs, Python {result['machine']['python']}, "
        f"{result['seconds']} s in all).\n\n{table}"
    )
    if bench.notes:
        table += "\n" + "".join(f"- {n}\n" for n in bench.notes)
    if failures:
        table += "\n" + "".join(f"- FAILED: {f.splitlines()[0]}\n" for f in failures)
    print(table)
    if not args.no_doc and (not args.quick or args.doc):
        write_doc(table)
    for f in failures:
        print(f"[bench] FAILED {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
