"""CLI commands of the git integration: install, uninstall, resolve, and the hidden
entry points git itself calls (hook, merge-driver, diff-driver). Click only."""

from __future__ import annotations

import os
import shlex
import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from .hooks import InstallResult
    from .hooks_global import GlobalInstall, GlobalUninstall

__all__ = ["register"]


def _context() -> object:
    from .api import Context

    return Context(".")


@click.command()
@click.option("--force", is_flag=True, help="Replace hooks left by an older gitstore.")
@click.option(
    "--global",
    "global_",
    is_flag=True,
    help="Set the hooks up for every new clone (init.templateDir).",
)
@click.option(
    "--server", is_flag=True, help="Install the server-side hook of a bare repository (publish)."
)
@click.option(
    "--no-hooks",
    "no_hooks",
    is_flag=True,
    help="Only the merge and diff drivers and .gitattributes (hooks run by another manager).",
)
def install(force: bool, global_: bool, server: bool, no_hooks: bool) -> None:
    """Install gitstore's git hooks and its merge and diff drivers in this clone.

    A hook that is already there is kept and runs first; `gitstore uninstall`
    puts it back as it was.
    """
    from . import hooks

    if global_:
        from .hooks_global import install_global

        _echo_global_install(install_global(force=force))
        return
    ctx = _context()
    if server:
        try:
            from . import publish
        except ModuleNotFoundError as exc:
            from .errors import UsageError

            raise UsageError(
                "this gitstore has no server-side hook (publishing is not available)"
            ) from exc
        path = publish.install_server_hook(ctx.repo)  # type: ignore[attr-defined]
        click.echo(f"installed the server-side hook {path}")
        return
    result = hooks.install(ctx.repo, force=force, hooks=not no_hooks)  # type: ignore[attr-defined]
    if result.framework:
        click.echo(
            "the pre-commit framework runs gitstore's hooks here (.pre-commit-config.yaml):"
            " installed no hooks of its own"
        )
    _echo_install(result)
    click.echo("registered the *.gitstore merge and diff drivers in this clone's git config")


def _echo_global_install(done: GlobalInstall) -> None:
    _echo_install(done.result)
    template = done.template
    if done.own:
        click.echo(
            f"new clones get gitstore's hooks from {template} (git config --global init.templateDir)"
        )
    else:
        click.echo(
            f"your init.templateDir is {template}: gitstore's hooks went into its hooks/ folder,"
            " after the hooks you had there, and the setting is unchanged"
        )
    click.echo("registered the *.gitstore merge and diff drivers in the global git config")


def _echo_install(result: object) -> None:
    where = result.hooks_dir  # type: ignore[attr-defined]
    for name in result.chained:  # type: ignore[attr-defined]
        click.echo(f"kept your {name} hook: it runs first (saved as {name}.gitstore-chained)")
    if result.installed:  # type: ignore[attr-defined]
        click.echo(f"installed {', '.join(result.installed)} in {where}")  # type: ignore[attr-defined]
    for name in result.calls:  # type: ignore[attr-defined]
        click.echo(f"left your {name} hook as it is: it runs `gitstore hook {name}` itself")
    if result.unchanged and not result.installed:  # type: ignore[attr-defined]
        click.echo(f"hooks already installed in {where}")
    for name in result.skipped:  # type: ignore[attr-defined]
        click.echo(
            f"left {name}: installed by an older gitstore (use --force to replace it)", err=True
        )


@click.command()
@click.option("--global", "global_", is_flag=True, help="Remove the hooks for new clones.")
def uninstall(global_: bool) -> None:
    """Remove gitstore's hooks and drivers; put back any hook they had kept."""
    from . import hooks

    if global_:
        from .hooks_global import uninstall_global

        _echo_global_uninstall(uninstall_global())
    else:
        _echo_uninstall(hooks.uninstall(_context().repo))  # type: ignore[attr-defined]


def _echo_global_uninstall(done: GlobalUninstall) -> None:
    for result in done.results:
        _echo_uninstall(result)
    if done.unset_template is not None:
        click.echo(f"unset init.templateDir (it named gitstore's template {done.unset_template})")
    if done.removed_keys:
        click.echo(f"removed {', '.join(done.removed_keys)} from the global git config")


def _echo_uninstall(result: InstallResult) -> None:
    where = result.hooks_dir
    for name in result.removed:
        click.echo(f"removed {name} from {where}")
    for name in result.restored:
        click.echo(f"restored your {name} hook")
    for name in result.orphans:
        click.echo(f"restored your {name} hook from {name}.gitstore-chained (gitstore's was gone)")
    for name in result.legacy:
        click.echo(
            f"removed {name}.legacy: gitstore's hook, moved there by the pre-commit framework"
        )
    for name in result.legacy_restored:
        click.echo(f"restored your {name} hook as {name}.legacy (the pre-commit framework runs it)")
    for name in result.foreign:
        click.echo(f"left {name} in {where}: it is not gitstore's", err=True)


@click.command(
    hidden=True, context_settings={"ignore_unknown_options": True, "allow_extra_args": True}
)
@click.argument("name")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def hook(click_ctx: click.Context, name: str, args: tuple[str, ...]) -> None:
    """Run gitstore's part of git hook NAME (what the installed scripts call)."""
    from .errors import UsageError
    from .hookmain import run_hook
    from .hooks import HOOKS

    if name not in HOOKS:
        raise UsageError(f"unknown hook '{name}'; gitstore has {', '.join(HOOKS)}")
    click_ctx.exit(run_hook(name, args))


@click.command()
@click.argument("path")
@click.option("--ours", is_flag=True, help="Take our side of each conflicting entry.")
@click.option("--theirs", is_flag=True, help="Take their side of each conflicting entry.")
@click.option(
    "--union",
    is_flag=True,
    help="Keep both where paths differ; refuse where one path has two contents.",
)
def resolve(path: str, ours: bool, theirs: bool, union: bool) -> None:
    """Settle a conflicted manifest (PATH or PATH.gitstore), stage it and materialise it."""
    from . import mergedriver
    from .errors import UsageError

    sides = [
        name for name, given in (("ours", ours), ("theirs", theirs), ("union", union)) if given
    ]
    if not sides:
        raise UsageError("say which side to keep: --ours, --theirs or --union")
    if len(sides) > 1:
        raise UsageError(f"--{' and --'.join(sides)} cannot be combined: give one of them")
    (side,) = sides
    mpath, lines = mergedriver.resolve_path(_context(), path, side)  # type: ignore[arg-type]
    click.echo(f"resolved {mpath} ({side}) and staged it")
    for line in lines:
        click.echo(line, err=True)


@click.command(name="merge-driver", hidden=True)
@click.argument("base")
@click.argument("ours")
@click.argument("theirs")
@click.argument("path", required=False, default="manifest")
def merge_driver(base: str, ours: str, theirs: str, path: str) -> None:
    """git's merge driver for *.gitstore: merge BASE OURS THEIRS into OURS."""
    from . import mergedriver

    def read(name: str) -> bytes:
        try:
            with open(name, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    result = mergedriver.merge_bytes(read(base), read(ours), read(theirs), path)
    tmp = ours + ".gitstore-tmp"
    with open(tmp, "wb") as f:
        f.write(result.data)
    os.replace(tmp, ours)
    if result.conflicts:
        shown = "the whole file" if result.conflicts == ["*"] else ", ".join(result.conflicts[:5])
        click.echo(f"gitstore: conflict in {path}: {shown}", err=True)
        click.echo(
            f"hint: settle it with `gitstore resolve {shlex.quote(path)} --ours|--theirs|--union`"
            " (it stages the result), or edit the entries between the markers and `git add` it",
            err=True,
        )
        sys.exit(1)


@click.command(name="diff-driver", hidden=True)
@click.option(
    "--textconv", "textconv", is_flag=True, help="Print a text rendering of one manifest."
)
@click.argument("files", nargs=-1)
def diff_driver(textconv: bool, files: tuple[str, ...]) -> None:
    """git's textconv for *.gitstore: one line per tracked file."""
    from . import diffdriver

    out = sys.stdout.buffer
    for name in files:
        with open(name, "rb") as f:
            out.write(diffdriver.render(f.read(), name))
    out.flush()


def register(main: click.Group) -> None:
    for command in (install, uninstall, hook, resolve, merge_driver, diff_driver):
        main.add_command(command)
