"""The ``gitstore`` command line: click only — parse, call one api function, render.

Output for people goes to stdout, progress and warnings to stderr, ``--json``
gives a stable machine-readable shape. A :class:`GitstoreError` becomes one
line on stderr (plus a hint line) and its exit code; a traceback is shown only
with ``--debug``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from . import __version__
from .cli_core import echo_json
from .errors import GitstoreError

F = TypeVar("F", bound=Callable[..., Any])


class State:
    def __init__(self) -> None:
        self.verbose = 0
        self.debug = False
        self.quiet = False

    def context(self, *, hooks_note: bool = True) -> Any:
        from .cli_core import context

        return context(hooks_note=hooks_note)


pass_state = click.make_pass_decorator(State, ensure=True)


class RevPathCommand(click.Command):
    """A command taking ``[REV...] [--] [PATH...]``: the ``--`` reaches the command.

    click consumes a bare ``--``; doubling the first one leaves a literal ``--``
    among the arguments, where ``GitRepo.split_revs_and_paths`` honours it.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            i = args.index("--")
            args = [*args[:i], "--", *args[i:]]
        return super().parse_args(ctx, args)


class GitstoreGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (GitstoreError, KeyboardInterrupt, OSError, MemoryError) as exc:
            from .cli_core import error_exit

            state = ctx.find_object(State)
            code = error_exit(exc, debug=state is not None and state.debug)
            if code is None:
                raise
            ctx.exit(code)


@click.group(cls=GitstoreGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gitstore")
@click.option("-v", "--verbose", count=True, help="Say more about what is done.")
@click.option(
    "-q", "--quiet", is_flag=True, help="No progress output, nor a line per manifest written."
)
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: bool, debug: bool) -> None:
    """Version large files and datasets beside code in git."""
    state = ctx.ensure_object(State)
    state.verbose, state.quiet, state.debug = verbose, quiet, debug
    if verbose:
        import logging

        logging.basicConfig(
            level=logging.DEBUG if verbose > 1 else logging.INFO, format="%(message)s"
        )


@main.command()
@pass_state
def init(state: State) -> None:
    """Set the repository up for gitstore (idempotent)."""
    from . import api

    ctx = state.context(hooks_note=False)  # init installs them
    for line in api.init(ctx):
        click.echo(line)
    click.echo(f"gitstore is set up in {ctx.repo.root}")


@main.command()
@click.argument("paths", nargs=-1, required=True)
@pass_state
def track(state: State, paths: tuple[str, ...]) -> None:
    """Track files or folders: cache their bytes and write PATH.gitstore manifests.

    Every path, and every file name in every folder, is checked before
    anything is written. Refused: symlinks, pipes and other special files,
    names that are not UTF-8 or hold a line break, backslashes or a .git
    segment, .gitignore, .gitattributes, .gitmodules and .gitstore/, the
    repository's root, and one path inside another.
    """
    from . import cli_core

    cli_core.track(state.context(), paths, quiet=state.quiet)


@main.command()
@click.argument("paths", nargs=-1, required=True)
@pass_state
def untrack(state: State, paths: tuple[str, ...]) -> None:
    """Stop tracking paths: remove their manifests and .gitignore lines, keep the files."""
    from . import api
    from .manifest import one_line

    ctx = state.context()
    root = ctx.repo.require_worktree()
    for rel in api.untrack(ctx, paths):
        if not os.path.lexists(root / rel):
            click.echo(
                f"untracked {one_line(rel)} (it was not on disk: its data now lives only in"
                " history and on the remotes; `gitstore pull` it before untracking to keep a copy)"
            )
            continue
        if state.quiet:  # -q: no line a manifest, as for track (the warning above stays)
            continue
        arg = one_line(api.arg_for(ctx, rel))
        # `git add -- -n` (a name that starts with a dash is no option of git's)
        add = f"git add -- {arg}" if arg.startswith("-") else f"git add {arg}"
        click.echo(
            f"untracked {one_line(rel)} (files left in place; `{add}` to keep them in git instead)"
        )


@main.command()
@click.argument("paths", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@pass_state
def status(state: State, paths: tuple[str, ...], as_json: bool) -> None:
    """Compare every tracked path with its manifest."""
    from . import cli_core

    cli_core.status(state.context(), paths, as_json)


@main.command(cls=RevPathCommand)
@click.argument("args", nargs=-1)
@click.option(
    "-f", "--force", is_flag=True, help="Overwrite workspace files whose content is not cached."
)
@click.option("--link", help="Link modes in order of preference: reflink,hardlink,symlink,copy.")
@pass_state
def checkout(state: State, args: tuple[str, ...], force: bool, link: str | None) -> None:
    """Materialise tracked paths: checkout [REV] [PATH...]."""
    from . import cli_core

    cli_core.checkout(state.context(), args, force=force, link=link, quiet=state.quiet)


@main.command(name="ls")
@click.argument("rev", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def ls_cmd(state: State, rev: str | None, as_json: bool) -> None:
    """List every tracked file at a revision (default: the working tree)."""
    from . import api
    from . import manifest as mf

    files = api.ls(state.context(), rev)
    if as_json:
        echo_json([f.to_json() for f in files])
        return
    for f in files:
        click.echo(f"{f.oid[:12]} {f.size:>12} {mf.one_line(f.path)}")


@main.command()
@click.argument("path")
@click.option("--rev", help="Revision (default: the working tree's manifest).")
@pass_state
def cat(state: State, path: str, rev: str | None) -> None:
    """Write one tracked file's bytes at a revision to stdout."""
    from . import api

    out = sys.stdout.buffer
    for block in api.cat(state.context(), path, rev):
        out.write(block)
    out.flush()


# Commands of the other layers live in their own cli_* modules (click only,
# heavy imports inside the commands), each exposing register(main).
_COMMAND_MODULES = ("cli_remote", "cli_hooks", "cli_history", "cli_publish", "cli_maint")


def _register_commands() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"{__package__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{name}":
                raise
            continue
        module.register(main)


_register_commands()
