"""``gitstore diff`` and ``gitstore log``: click only; the work is in ``history.py``."""

from __future__ import annotations

from typing import Any

import click

from .cli import RevPathCommand, State, pass_state
from .cli_core import echo_json


def _repo_paths(ctx: Any, paths: tuple[str, ...] | list[str]) -> list[str]:
    """Paths typed by the user (relative to the current folder) -> repository-relative.

    The repository's root (``.`` at the top) is every tracked path, as git's
    pathspec ``.``: no path at all.
    """
    if ctx.repo.root is None:
        return list(paths)
    rels = [ctx.workspace.relpath(p, ctx.cwd, whole=True) for p in paths]
    return [] if "" in rels else rels


@click.command(cls=RevPathCommand)
@click.argument("args", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
@click.option(
    "--markdown", is_flag=True, help="Print a summary table and a list, for a pull request."
)
@click.option("--stat", is_flag=True, help="Print one line per tracked path.")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Files listed by --markdown.",
)
@pass_state
def diff(
    state: State, args: tuple[str, ...], as_json: bool, markdown: bool, stat: bool, limit: int
) -> None:
    """Show what changed in tracked data: diff [A [B]] [--] [PATH...].

    A defaults to HEAD and B to the working tree (the files on disk, or the
    manifest of a tracked path that is not checked out).
    """
    from . import history
    from .errors import UsageError

    if as_json + markdown + stat > 1:
        raise UsageError("--json, --markdown and --stat cannot be combined")
    ctx = state.context()
    revs, paths = ctx.repo.split_revs_and_paths(args, max_revs=2)
    a, b = (revs + [None, None])[:2]
    result = history.diff(ctx, a, b, _repo_paths(ctx, paths))
    if as_json:
        echo_json(result.to_json())
    elif markdown:
        click.echo(history.format_markdown(result, limit=limit), nl=False)
    elif stat:
        click.echo(history.format_stat(result), nl=False)
    else:
        click.echo(history.format_text(result), nl=False)


@click.command()
@click.argument("path", required=False)
@click.option("--rev", help="Start from this revision (default HEAD).")
@click.option("-n", "--max-count", "n", type=click.IntRange(min=0), help="Show at most N commits.")
@click.option("--all", "all_parents", is_flag=True, help="Follow every parent, not only the first.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@pass_state
def log(
    state: State, path: str | None, rev: str | None, n: int | None, all_parents: bool, as_json: bool
) -> None:
    """List the commits where a tracked file or folder changed, newest first.

    Without PATH, or with a folder that holds tracked paths: every commit
    that changed tracked data (there), with the tracked paths it changed.
    """
    from . import history
    from . import manifest as mf
    from .errors import PathError

    ctx = state.context()

    def data_log(under: str | None) -> bool:
        changes = history.data_log(ctx, rev=rev, n=n, all_parents=all_parents, under=under)
        if under is not None and not changes:
            return False
        if as_json:
            echo_json([c.to_json() for c in changes])
            return True
        for c in changes:
            shown = ", ".join(map(mf.one_line, c.paths[:5])) + (
                f" and {len(c.paths) - 5} more" if len(c.paths) > 5 else ""
            )
            click.echo(f"{c.commit[:12]} {c.date} {shown}  {c.message}  ({c.author})")
        return True

    if path is None:
        data_log(None)
        return
    rels = _repo_paths(ctx, [path])
    if not rels:  # the repository's root: every tracked path
        data_log(None)
        return
    (rel,) = rels
    try:
        entries = history.log(ctx, rel, rev=rev, n=n, all_parents=all_parents)
    except PathError:
        # a folder that holds tracked paths (as `git log -- FOLDER`): the commits that
        # changed any of them, with the paths each changed
        if data_log(rel or None):
            return
        raise
    if as_json:
        echo_json([e.to_json() for e in entries])
        return
    for e in entries:
        what = "removed" if e.removed else (e.oid[:12] if e.oid else "folder")
        size = "" if e.removed else f" {history.human_size(e.size)}"
        click.echo(f"{e.commit[:12]} {e.date} {what}{size}  {e.message}  ({e.author})")


def register(main: click.Group) -> None:
    main.add_command(diff)
    main.add_command(log)
