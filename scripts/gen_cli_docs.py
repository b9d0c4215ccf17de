"""Write docs/cli.md from the commands' own --help, so the reference never drifts."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gitstore.cli import main

HEAD = """# CLI reference

Generated from each command's `--help` by `python scripts/gen_cli_docs.py`.

Exit codes (every command): 0 success; 1 error; 2 usage; 3 partial — the
command did what it could but some objects are missing or some files were
refused (pull, checkout, resolve, publish's `incomplete`); 4 conflict — a lock is held,
a conditional write lost, a merge conflicts. Errors are one line on stderr
(`gitstore: error: ...`), plus at most a `hint:` line naming the command to run;
`--debug` shows a traceback instead. Output into a pipe that closes early (`gitstore ls | head`)
ends the command quietly, with exit 1 (under `PYTHONUNBUFFERED=1`, Python's unbuffered standard
output takes a write the closing pipe cut short for done, and a command with one big `--json` or
`diff` answer exits 0).

"""


def walk(cmd: click.Command, path: list[str], out: list[str]) -> None:
    ctx = click.Context(
        cmd,
        info_name=" ".join(path),
        terminal_width=88,
        max_content_width=88,
        help_option_names=["-h", "--help"],  # as gitstore's group sets for every command
    )
    if getattr(cmd, "hidden", False):
        return
    out.append(f"## `{' '.join(path)}`\n\n```text\n{cmd.get_help(ctx)}\n```\n")
    if isinstance(cmd, click.Group):
        for name in sorted(cmd.commands):
            walk(cmd.commands[name], [*path, name], out)


def render() -> str:
    out: list[str] = [HEAD]
    walk(main, ["gitstore"], out)
    return "\n".join(out)


if __name__ == "__main__":
    target = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
    target.write_text(render())
    sys.stdout.write(f"wrote {target}\n")
