"""Commands ``publish``, ``get-published`` and ``serve``: click only, the work is in the library."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from .cli import State, pass_state
from .cli_core import echo_json, warn
from .progress import count


def register(main: click.Group) -> None:
    main.add_command(publish_cmd)
    main.add_command(get_published_cmd)
    main.add_command(serve_cmd)


def _line(published: Any) -> str:
    notes = []
    if published.incomplete:
        notes.append(f"{len(published.incomplete)} incomplete")
    if published.removed:
        notes.append(f"{len(published.removed)} removed")
    extra = f" ({', '.join(notes)})" if notes else ""
    count = len(published.manifests)
    plural = "s" if count != 1 else ""
    return f"published {published.commit[:12]} {published.date} {count} manifest{plural}{extra}"


def _report_missing(result: Any) -> None:
    for oid, where in sorted(result.missing.items()):
        commit, path = where[0]
        if oid in result.damaged:
            warn(
                f"missing: {oid} ({path} at {commit[:12]}): the cache's copy is damaged and no"
                " remote has it; run `gitstore verify --repair`"
            )
            continue
        warn(f"missing: {oid} ({path} at {commit[:12]}) is in no store gitstore can read")


@click.command(name="publish")
@click.argument("remote", required=False)
@click.option("--branch", "-b", help="Branch to publish (default: the current branch).")
@click.option("--since", help="With no watermark yet, start after this commit.")
@click.option("--follow", is_flag=True, help="Keep polling the branch until interrupted.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Seconds between polls with --follow.",
)
@click.option("--retry-incomplete", is_flag=True, help="Revisit incomplete commits.")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=200,
    show_default=True,
    help="Commits per advance of the per-branch document.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_state
def publish_cmd(
    state: State,
    remote: str | None,
    branch: str | None,
    since: str | None,
    follow: bool,
    interval: float,
    retry_incomplete: bool,
    batch_size: int,
    as_json: bool,
) -> None:
    """Publish the branch's history to REMOTE as a browsable, point-in-time cache.

    Exit 3 when some objects were in no store (their commits are published
    as incomplete), 4 when another publisher advanced the branch first.
    """
    from .errors import PartialError
    from .publish import PublishContext, publish

    ctx = PublishContext(".")
    on_commit = None if as_json else (lambda c: click.echo(_line(c)))
    kwargs = dict(branch=branch, since=since, batch_size=batch_size, on_commit=on_commit)
    if follow:
        _follow(ctx, remote, interval, retry_incomplete, kwargs)
        return
    result = publish(ctx, remote, retry_incomplete=retry_incomplete, **kwargs)  # type: ignore[arg-type]
    if as_json:
        echo_json(result.to_json())
    else:
        for sha in result.withdrawn:
            click.echo(f"withdrew {sha[:12]}: no longer on {result.branch} (history rewritten)")
        for published in result.upgraded:
            click.echo(f"upgraded {published.commit[:12]} {published.date}")
        if result.up_to_date and not result.withdrawn and not state.quiet:
            click.echo(f"{result.branch} is up to date in {result.remote}")
    _report_missing(result)
    if result.missing:
        raise PartialError(
            f"{count(len(result.missing), 'object', 'is')} in no store; their commits are published as incomplete",
            hint="push them from a clone that has them, then `gitstore publish --retry-incomplete`",
        )


def _follow(
    ctx: Any, remote: str | None, interval: float, retry: bool, kwargs: dict[str, Any]
) -> None:
    from .errors import ConflictError, GitstoreError
    from .publish import publish

    try:
        while True:
            try:
                result = publish(ctx, remote, retry_incomplete=retry, **kwargs)
                _report_missing(result)
            except ConflictError as exc:
                warn(f"gitstore: {exc.message}; retrying in {interval:g}s")
            except GitstoreError as exc:
                warn(f"gitstore: error: {exc.message}; retrying in {interval:g}s")
            time.sleep(interval)
    except KeyboardInterrupt:
        warn("gitstore: stopped following")


@click.command(name="get-published")
@click.argument("remote")
@click.argument("path")
@click.option("--branch", "-b", help="Published branch (default: the current branch, else main).")
@click.option("--commit", "-c", help="A published commit, or a prefix of one.")
@click.option("--date", "-d", help="YYYY-MM-DD[THH:MM[:SS]][Z|+HH:MM]: the version current then.")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="File or folder to write (default: a file to stdout, a folder by its name).",
)
@click.option(
    "--endpoint-url",
    metavar="URL",
    help="For an s3:// REMOTE: the S3-compatible service (else AWS_ENDPOINT_URL, else AWS).",
)
@click.option("--json", "as_json", is_flag=True, help="Describe what was written as JSON.")
@pass_state
def get_published_cmd(
    state: State,
    remote: str,
    path: str,
    branch: str | None,
    commit: str | None,
    date: str | None,
    output: Path | None,
    endpoint_url: str | None,
    as_json: bool,
) -> None:
    """Write PATH as published at --commit or --date, from REMOTE alone (no git needed)."""
    from .errors import UsageError
    from .progress import resumed_lines
    from .published import get_published, open_published_store

    if (commit is None) == (date is None):
        raise UsageError("give exactly one of --commit and --date")
    store = open_published_store(remote, endpoint_url=endpoint_url)
    result, single = get_published(
        store, branch or _default_branch(), path, output, commit=commit, date=date
    )
    for line in resumed_lines(result.resumed, "downloaded"):
        click.echo(line, err=True)
    if single is not None:
        # fetched whole and checked (store.get) before a byte reaches stdout:
        # a reader of the pipe must never see bytes that do not match their name
        import shutil
        import tempfile

        with tempfile.TemporaryDirectory(prefix="gitstore-get-") as tmp:
            part = Path(tmp) / "object"
            store.get(single.oid, part)
            with open(part, "rb") as stream:
                shutil.copyfileobj(stream, sys.stdout.buffer, 1 << 20)
        sys.stdout.buffer.flush()
        return
    if as_json:
        echo_json(
            {
                "path": result.path,
                "commit": result.commit,
                "date": result.date,
                "manifest": result.manifest_path,
                "kind": result.kind,
                "bytes": result.nbytes,
                "files": [{"path": p, "written": str(t)} for p, t in result.files],
            }
        )
    elif not state.quiet:
        where = result.files[0][1] if result.kind == "file" else output or Path(path).name
        click.echo(
            f"wrote {count(len(result.files), 'file')}, {count(result.nbytes, 'byte')} of {result.path}"
            f" as of {result.commit[:12]} ({result.date}) to {where}",
            err=True,
        )


def _default_branch() -> str:
    from .errors import GitstoreError
    from .gitrepo import GitRepo

    try:
        return GitRepo.discover(".").current_branch() or "main"
    except GitstoreError:
        return "main"


@click.command(name="serve")
@click.argument("store")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@pass_state
def serve_cmd(state: State, store: str, host: str, port: int) -> None:
    """Serve STORE (a remote's name, URL or folder) read-only over HTTP, with browsing pages."""
    from .published import open_published_store
    from .server import make_server

    server = make_server(open_published_store(store), host, port, quiet=state.quiet)
    bound_port = server.server_address[1]
    click.echo(f"serving {store} read-only on http://{host}:{bound_port}/", err=True)
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
