"""CLI for keeping a cache healthy: ``gitstore gc`` and ``gitstore verify``.

Click only: each command parses its options, calls one library function
(:func:`gitstore.gc.collect`, :func:`gitstore.gc_remote.collect_remote`,
:func:`gitstore.maintenance.verify`) and renders the result.
"""

from __future__ import annotations

from typing import Any

import click

from .cli import State, pass_state
from .cli_core import echo_json
from .progress import count


def _human(n: int) -> str:
    from .progress import human_bytes

    return human_bytes(n)


@click.command()
@click.option("-n", "--dry-run", is_flag=True, help="Show what would be deleted; delete nothing.")
@click.option(
    "--grace",
    default="24h",
    show_default=True,
    help="Keep anything newer than this (0, 90m, 24h, 7d).",
)
@click.option("--remote", "remote", metavar="NAME", help="Collect a remote instead of the cache.")
@click.option(
    "--yes", is_flag=True, help="With --remote: really delete what the last --dry-run listed."
)
@click.option(
    "--shared-ok",
    is_flag=True,
    help="With --remote: collect even though other repositories use it.",
)
@click.option(
    "--forget-missing",
    is_flag=True,
    help="Forget repositories that used the cache and are gone (their objects become garbage).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@pass_state
def gc(
    state: State,
    dry_run: bool,
    grace: str,
    remote: str | None,
    yes: bool,
    shared_ok: bool,
    forget_missing: bool,
    as_json: bool,
) -> None:
    """Delete objects that no manifest, ref, stash, reflog or live view needs."""
    from .gc import collect, parse_duration

    seconds = parse_duration(grace)
    if remote is None and (yes or shared_ok):
        from .errors import UsageError

        raise UsageError("--yes and --shared-ok apply to `gc --remote NAME` only")
    ctx = state.context()
    if remote is not None:
        from .gc_remote import collect_remote

        result = collect_remote(
            ctx, remote, grace=seconds, dry_run=dry_run, yes=yes, shared_ok=shared_ok
        )
    else:
        result = collect(ctx, grace=seconds, dry_run=dry_run, forget_missing=forget_missing)
    if as_json:
        echo_json(result.to_json())
        return
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    verb = "would delete" if dry_run else "deleted"
    for oid, size in result.deleted:
        click.echo(f"{verb} {oid} ({_human(size)})")
    for view in result.views_deleted:
        click.echo(f"{verb} view {view} (unused for longer than {grace})")
    if result.tmp_deleted:
        click.echo(
            f"{verb} {count(len(result.tmp_deleted), 'temporary file')} left by interrupted writes"
        )
    where = f"remote '{result.remote}'" if result.remote else "cache"
    click.echo(
        f"{verb} {count(len(result.deleted), 'object')} from the {where}, {_human(result.freed)}"
        f" {'would be ' if dry_run else ''}freed; kept {result.kept_needed} needed"
        f" and {result.kept_young} newer than {grace}"
    )
    if dry_run and result.remote and result.deleted:
        same = f" --grace {grace}" if grace != "24h" else ""
        same += " --shared-ok" if shared_ok else ""
        click.echo(
            f"run `gitstore gc --remote {result.remote}{same} --yes` to delete them", err=True
        )


class _Bar:
    """Adapts the CLI's stderr bar (shown only on a terminal)."""

    def __init__(self, quiet: bool) -> None:
        from .progress import NullProgress, StderrBar

        self.impl: Any = NullProgress() if quiet else StderrBar()

    def start(self, what: str, objects: int, nbytes: int | None = None) -> None:
        self.impl.start(what, objects, nbytes)

    def advance(self, nbytes: int, objects: int = 1) -> None:
        self.impl.advance(nbytes, objects)

    def done(self) -> None:
        self.impl.done()


@click.command()
@click.option(
    "--remote", "remote", metavar="NAME", help="Verify a remote by streaming its objects."
)
@click.option(
    "--repair", is_flag=True, help="Replace bad or missing objects from a good copy elsewhere."
)
@click.option(
    "--complete",
    is_flag=True,
    help="Objects the working tree needs but the store lacks are an error.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@pass_state
def verify(state: State, remote: str | None, repair: bool, complete: bool, as_json: bool) -> None:
    """Re-hash every object in the cache (or a remote) and report any that do not match."""
    from .maintenance import raise_for_verify
    from .maintenance import verify as run_verify

    report = run_verify(
        state.context(), remote=remote, repair=repair, complete=complete, progress=_Bar(state.quiet)
    )
    if as_json:
        echo_json(report.to_json())
    else:
        from .progress import objects

        _say(f"checked {objects(report.checked)} in the {report.where}")
        for oid in report.corrupt:
            named = f" ({report.paths[oid]})" if oid in report.paths else ""
            _say(f"gitstore: corrupt in the {report.where}: {oid}{named}", err=True)
        for oid, why in report.unreadable.items():
            _say(f"gitstore: unreadable in the {report.where}: {oid}: {why}", err=True)
        kind = "" if complete else "note: "
        shown = MISSING_SHOWN if complete else MISSING_NOTED
        for oid, paths in list(report.missing.items())[:shown]:
            _say(f"gitstore: {kind}missing from the {report.where}: {oid} ({paths[0]})", err=True)
        if len(report.missing) > shown:
            more = len(report.missing) - shown
            _say(
                f"gitstore: {kind}and {more} more missing from the {report.where}"
                " (`gitstore verify --json` lists them all)",
                err=True,
            )
        for oid, source in report.repaired.items():
            _say(f"repaired {oid} from {source}")
        for oid, why in report.unrepaired.items():
            _say(f"gitstore: could not repair {oid}: {why}", err=True)
        for oid, where in report.moved_aside.items():
            if oid in report.repaired:
                _say(f"kept the corrupt bytes of {oid} at {where}")
                continue
            named = f" (needed by {report.paths[oid]})" if oid in report.paths else ""
            _say(
                f"gitstore: moved the corrupt {oid}{named} aside to {where}: the cache has no copy"
                " until `gitstore fetch` finds a good one",
                err=True,
            )
        for rel in report.links_kept:
            _say(f"{rel}: its link into the cache is now a file holding the same bytes")
        for view in report.views_dropped:
            _say(
                f"deleted the Python API's view {view}: it linked a corrupt object"
                " (the next gitstore.get builds it again)"
            )
    raise_for_verify(report)


MISSING_NOTED = 10  # missing objects named one a line: as a note (verify without --complete)
MISSING_SHOWN = 50  # and as errors (--complete)


def register(main: click.Group) -> None:
    main.add_command(gc)
    main.add_command(verify)


def _say(text: str, err: bool = False) -> None:
    """A line of verify's report: it names files, whose names may hold control characters."""
    from .manifest import printable

    click.echo(printable(text), err=err)
