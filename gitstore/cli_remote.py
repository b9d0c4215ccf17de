"""CLI commands for remotes, config and transfers: remote, config, push, fetch, pull.

Click only; the library (``gitstore.remotes``, ``gitstore.transfer``) is
imported inside each command so that hook start-up stays cheap.
"""

from __future__ import annotations

from typing import Any

import click

from .cli import RevPathCommand
from .progress import count


def _state() -> Any:
    from .cli import State

    return click.get_current_context().ensure_object(State)


def _context() -> Any:
    return _state().context()


def _progress() -> Any:
    from .progress import StderrBar

    return None if _state().quiet else StderrBar()


def _echo_json(value: Any) -> None:
    from .cli_core import echo_json

    echo_json(value)


def _layer(local: bool, user: bool, default: str | None = "committed") -> str | None:
    if local and user:
        raise click.UsageError("--local and --user cannot be used together")
    return "local" if local else "user" if user else default


def _layer_options(fn: Any) -> Any:
    fn = click.option("--user", is_flag=True, help="The user's file ($XDG_CONFIG_HOME/gitstore).")(
        fn
    )
    return click.option("--local", is_flag=True, help="This clone's file (.git/gitstore).")(fn)


def _say_resumed(result: Any, done: str = "downloaded") -> None:
    """One stderr line per object whose interrupted transfer was taken up again."""
    from .progress import resumed_lines

    for line in resumed_lines(result.resumed, done):
        click.echo(line, err=True)


def _report(result: Any, verb: str, where: str, as_json: bool, dry_run: bool = False) -> None:
    """Render a TransferResult; failures become one error line and exit 3."""
    from .errors import TransferError
    from .progress import human_bytes, objects

    for line in result.warnings:
        click.echo(f"gitstore: warning: {line}", err=True)
    _say_resumed(result, "uploaded" if verb == "push" else "downloaded")
    if as_json:
        _echo_json(result.to_json())
    elif result.planned or dry_run:
        click.echo(
            f"would {verb} {objects(len(result.planned))} ({human_bytes(result.bytes)}) {where};"
            f" {result.present} already there"
        )
    else:
        indexed = result.present_indexed
        by_index = (
            f" ({indexed} as earlier transfers recorded; `gitstore remote status` asks the remote)"
            if indexed
            else ""
        )
        click.echo(
            f"{verb}ed {objects(result.transferred)} ({human_bytes(result.bytes)}) {where};"
            f" {result.present} already there{by_index}"
        )
    if result.failed:
        reasons = sorted(result.failed.values())
        for reason in reasons[1:20]:
            click.echo(f"  missing: {reason}", err=True)
        _warn_invalid(result.invalid)
        raise TransferError(
            f"{count(len(result.failed), 'object')} could not be {verb}ed: {reasons[0]}",
            failed=list(result.failed),
        )
    if result.invalid:
        from .api import invalid_manifests_error

        raise invalid_manifests_error(result.invalid)


def _warn_invalid(invalid: list[Any]) -> None:
    """The manifests left out, when another error is the one the exit status reports."""
    for exc in invalid:
        click.echo(f"gitstore: error: {exc.message}", err=True)


def register(main: click.Group) -> None:
    main.add_command(remote)
    main.add_command(config)
    main.add_command(push)
    main.add_command(fetch)
    main.add_command(pull)


# -- remote ---------------------------------------------------------------------
@click.group()
def remote() -> None:
    """Manage remotes: the stores objects are pushed to and fetched from."""


@remote.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--default", "make_default", is_flag=True, help="Make it the default remote.")
@click.option("--read-only", is_flag=True, help="Never push to it.")
@click.option("--endpoint-url", help="S3-compatible endpoint (MinIO, R2, GCS...).")
@click.option("--region", help="S3 region.")
@click.option("--profile", help="AWS profile to take credentials from.")
@click.option("--anonymous", is_flag=True, help="Read a public bucket without signing.")
@_layer_options
def remote_add(name: str, url: str, make_default: bool, read_only: bool, endpoint_url: str | None,
               region: str | None, profile: str | None, anonymous: bool, local: bool, user: bool) -> None:  # fmt: skip
    """Add a remote (to the committed .gitstore/config.yaml unless --local/--user)."""
    from . import remotes

    ctx = _context()
    layer = _layer(local, user) or "committed"
    path = remotes.remote_add(ctx, name, url, layer=layer, default=make_default, read_only=read_only,
                              endpoint_url=endpoint_url, region=region, profile=profile,
                              anonymous=anonymous)  # fmt: skip
    click.echo(f"added remote '{name}' ({url}) to {path}")
    if layer == "committed":
        click.echo("staged it: commit it to share the remote with the repository")


@remote.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def remote_list(as_json: bool) -> None:
    """List the remotes, the default first."""
    from . import remotes

    ctx = _context()
    order = {n: i for i, n in enumerate(remotes.fetch_order(ctx))}
    rows = sorted(
        ctx.config.remotes.values(), key=lambda r: (order.get(r.name, len(order)), r.name)
    )
    out = []
    shown_refused: dict[str, bool] = {}  # a push there would be refused (text list only)
    for rc in rows:
        item = {
            k: getattr(rc, k)
            for k in (
                "name",
                "url",
                "endpoint_url",
                "region",
                "profile",
                "anonymous",
                "read_only",
                "layer",
            )
        }
        item["default"] = rc.name == ctx.config.default_remote
        item["trust"] = remotes.trust_state(ctx, rc)
        refused = item["trust"] != "trusted" and remotes.not_trusted(ctx, rc)
        out.append(item)
        shown_refused[rc.name] = refused
    if as_json:
        _echo_json(out)
        return
    if not out:
        click.echo(f"no remotes; {remotes.NO_REMOTE_HINT}")
    for item in out:
        untrusted = "changed: not trusted" if item["trust"] == "changed" else "not trusted"
        flags = [w for w, on in (("default", item["default"]), ("read-only", item["read_only"]),
                                 (untrusted, shown_refused[item["name"]])) if on]  # fmt: skip
        extra = f" ({', '.join(flags)})" if flags else ""
        click.echo(f"{item['name']}\t{item['url']}\t[{item['layer']}]{extra}")


@remote.command("remove")
@click.argument("name")
def remote_remove(name: str) -> None:
    """Remove a remote from the file that defines it."""
    from . import remotes

    path = remotes.remote_remove(_context(), name)
    click.echo(f"removed remote '{name}' from {path}")


@remote.command("default")
@click.argument("name")
@_layer_options
def remote_default(name: str, local: bool, user: bool) -> None:
    """Make NAME the default remote (committed: NAME must be a committed remote; or --local/--user)."""
    from . import remotes

    path = remotes.remote_default(_context(), name, _layer(local, user) or "committed")
    click.echo(f"default remote is now '{name}' ({path})")


@remote.command("trust")
@click.argument("name")
def remote_trust(name: str) -> None:
    """Trust a committed remote as it is configured now (after a commit changed it)."""
    from . import remotes

    rc = remotes.trust_remote(_context(), name)
    click.echo(f"trusting remote '{name}' at {rc.url}")


@remote.command("status")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def remote_status(name: str | None, as_json: bool) -> None:
    """What the remote holds of what HEAD and the working tree need."""
    from . import remotes, transfer
    from .manifest import one_line

    ctx = _context()
    status = transfer.remote_status(ctx, name)
    if as_json:
        read_only = remotes.is_read_only(remotes.remote_config(ctx, status.remote))
        data = status.to_json()
        _echo_json({"remote": data.pop("remote"), "url": data.pop("url"),
                    "read_only": read_only, **data})  # fmt: skip
        return
    click.echo(
        f"remote '{status.remote}' ({status.url}): {status.on_remote} of {status.needed} objects present"
    )
    if status.not_pushed:
        click.echo(remotes.not_pushed_advice(ctx, status.remote, len(status.not_pushed)))
    for oid, paths in list(status.missing.items())[:20]:
        shown = one_line(paths[0]) if paths else "?"
        click.echo(f"not here nor in the cache: {oid} ({shown})")
    if status.missing:  # another remote may well have them: only this one was asked
        click.echo(
            f"{count(len(status.missing), 'object')} not in the cache; `gitstore fetch`"
            " brings them from another remote, if one has them, for `gitstore push`"
        )
    if status.unshared:
        from .stores.sharing import team_hint

        click.echo(
            f"folders its group cannot write to, so teammates' pushes there fail:"
            f" {', '.join(status.unshared)}; {team_hint(status.root)}"
        )


@remote.command("ls")
@click.argument("name")
def remote_ls(name: str) -> None:
    """List the objects on a remote with their sizes."""
    from . import transfer

    for oid, size in transfer.remote_ls(_context(), name):
        click.echo(f"{oid} {size}")


# -- config ---------------------------------------------------------------------
@click.group()
def config() -> None:
    """Read and write settings (merged view unless --local/--user)."""


@config.command("get")
@click.argument("key")
@_layer_options
def config_get(key: str, local: bool, user: bool) -> None:
    """Print a setting's value; exit 1 when it is not set."""
    from . import remotes

    value = remotes.config_get(_context(), key, _layer(local, user, None))
    if value is None:
        raise SystemExit(1)
    click.echo(remotes.format_value(value))


@config.command("set")
@click.argument("key")
@click.argument("value")
@_layer_options
def config_set(key: str, value: str, local: bool, user: bool) -> None:
    """Set a setting in the committed file (or --local/--user)."""
    from . import remotes

    path = remotes.config_set(_context(), key, value, _layer(local, user) or "committed")
    click.echo(f"set {key} in {path}")


@config.command("unset")
@click.argument("key")
@_layer_options
def config_unset(key: str, local: bool, user: bool) -> None:
    """Remove a setting from the committed file (or --local/--user).

    Exit 1, naming the file, when the setting is not set in it.
    """
    from . import remotes
    from .errors import ConfigError, GitstoreError

    ctx = _context()
    layer = _layer(local, user) or "committed"
    if remotes.config_unset(ctx, key, layer):
        return
    # one line naming the file, as `config set` names the file it wrote (git's is a silent exit 5)
    hint = None
    for other, flag in (("local", "--local "), ("user", "--user "), ("committed", "")):
        try:
            found = other != layer and remotes.config_get(ctx, key, other) is not None
            shown = _shown_path(ctx, remotes.layer_path(ctx, other)) if found else ""
        except GitstoreError:  # no such file here (a bare repository has no committed one)
            continue
        if found:
            hint = f"it is set in {shown}: `gitstore config unset {flag}{key}` removes it there"
            break
    raise ConfigError(
        f"{key} is not set in {_shown_path(ctx, remotes.layer_path(ctx, layer))}", hint=hint
    )


def _shown_path(ctx: Any, path: Any) -> str:
    """A config file's path as the user would type it: from the repository's top if inside it."""
    import os

    root = ctx.repo.root
    if root is not None:
        rel: str = os.path.relpath(path, root)
        if not rel.startswith(".."):
            return rel
    return str(path)


@config.command("list")
@_layer_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def config_list(local: bool, user: bool, as_json: bool) -> None:
    """Every setting: merged, or one file's with --local/--user."""
    from . import remotes

    values = remotes.config_list(_context(), _layer(local, user, None))
    if as_json:
        _echo_json(values)
        return
    for key, value in values.items():
        click.echo(f"{key}={remotes.format_value(value)}")


# -- transfers ------------------------------------------------------------------
_jobs = click.option(
    "-j", "--jobs", type=click.IntRange(1, 256), help="Parallel transfers (transfer.jobs)."
)
_remote = click.option(
    "-r", "--remote", "remote_name", help="Remote name (default: the default remote)."
)


@click.command(cls=RevPathCommand)
@click.argument("args", nargs=-1)
@_remote
@click.option("--all", "all_refs", is_flag=True, help="Every commit of every branch and tag.")
@_jobs
@click.option("--dry-run", is_flag=True, help="Only say what would be uploaded.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def push(args: tuple[str, ...], remote_name: str | None, all_refs: bool, jobs: int | None,
         dry_run: bool, as_json: bool) -> None:  # fmt: skip
    """Upload the objects of REVs (default: HEAD and the working tree) the remote lacks: push [REV...] [--] [PATH...]."""
    from . import transfer

    ctx = _context()
    revs, paths = ctx.repo.split_revs_and_paths(args)
    result = transfer.push(ctx, revs or None, paths, remote=remote_name, all_refs=all_refs,
                           jobs=jobs, dry_run=dry_run, progress=_progress())  # fmt: skip
    _report(result, "push", f"to '{result.remote}'", as_json, dry_run)


@click.command(cls=RevPathCommand)
@click.argument("args", nargs=-1)
@_remote
@_jobs
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def fetch(args: tuple[str, ...], remote_name: str | None, jobs: int | None, as_json: bool) -> None:
    """Download into the cache what REVs need (default: the working tree): fetch [REV...] [--] [PATH...]."""
    from . import transfer

    ctx = _context()
    revs, paths = ctx.repo.split_revs_and_paths(args)
    result = transfer.fetch(
        ctx, revs or None, paths, remote=remote_name, jobs=jobs, progress=_progress()
    )
    _report(result, "fetch", "into the cache", as_json)


@click.command(cls=RevPathCommand)
@click.argument("args", nargs=-1)
@_remote
@_jobs
@click.option(
    "-f", "--force", is_flag=True, help="Overwrite workspace files whose content is not cached."
)
def pull(args: tuple[str, ...], remote_name: str | None, jobs: int | None, force: bool) -> None:
    """Fetch, then check out: pull [REV] [PATH...]."""
    from . import api, transfer

    ctx = _context()
    revs, paths = ctx.repo.split_revs_and_paths(args, max_revs=1)
    fetched, result = transfer.pull(ctx, revs[0] if revs else None, paths, remote=remote_name,
                                    jobs=jobs, force=force, progress=_progress())  # fmt: skip
    for line in fetched.warnings:
        click.echo(f"gitstore: warning: {line}", err=True)
    _say_resumed(fetched)
    from .cli_core import say_manifests

    say_manifests(ctx, result, revs[0] if revs else None, quiet=_state().quiet)  # as checkout's
    click.echo(
        f"fetched {fetched.transferred} objects; {len(result.written)} written,"
        f" {len(result.deleted)} deleted, {result.unchanged} unchanged"
    )
    if fetched.failed:
        from .errors import TransferError

        reasons = sorted(fetched.failed.values())
        for reason in reasons[1:20]:
            click.echo(f"  missing: {reason}", err=True)
        _warn_invalid(result.invalid)
        raise TransferError(
            f"checked out what could be; {count(len(fetched.failed), 'object', 'is')} missing: {reasons[0]}",
            failed=list(fetched.failed),
        )
    if result.conflicts or result.missing:
        _warn_invalid(result.invalid)
    api.raise_for_checkout(result)
