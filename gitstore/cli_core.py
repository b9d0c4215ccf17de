"""What the command line does for ``track``, ``status`` and ``checkout``, and how it reports an error: no click.

``gitstore track``, ``status`` and ``checkout`` run many times a day, often
with little to do; importing click is ~16 ms of their start-up. A plain
``gitstore track PATH...``, ``gitstore status [--json] [PATH...]`` or
``gitstore checkout [REV] [PATH...]`` (no other option) is therefore run
from :func:`run_plain`, without click; every other command line goes
through :mod:`gitstore.cli`, whose commands of the same names call the same
functions here, so the two ways print alike.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .errors import GitstoreError

if TYPE_CHECKING:
    from .api import Context
    from .checkout import CheckoutResult


def echo(line: str = "") -> None:
    """A line on stdout, flushed (as ``click.echo`` does); none when stdout is closed
    (``>&-``: Python has no ``sys.stdout`` then), as click leaves it."""
    out = sys.stdout  # a local: writing_stdout finds it in this frame
    if out is None:
        return
    out.write(line + "\n")
    out.flush()


def warn(message: str) -> None:
    if sys.stderr is None:
        return
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def echo_json(value: Any) -> None:
    import json

    echo(json.dumps(value, indent=2, ensure_ascii=False))


def context(*, hooks_note: bool = True) -> Context:
    """The repository the command runs in, its config's notes and a missing-hooks note on stderr."""
    from .api import Context

    ctx = Context(".")
    for note in ctx.config.notes:
        warn(f"gitstore: note: {note}")
    if hooks_note and ctx.repo.root is not None:
        from .hooks import note_missing_hooks, refresh_older_drivers

        missing = note_missing_hooks(ctx.repo)
        if missing:
            warn(missing)
        refresh_older_drivers(ctx.repo)
    return ctx


def error_exit(exc: BaseException, debug: bool = False) -> int | None:
    """Report ``exc`` as the command line does (one line, a hint); its exit code.

    None: not one to report (``debug`` shows a traceback for gitstore's and
    the system's errors): the caller re-raises it.
    """
    from .manifest import printable  # a message may quote a file name

    if isinstance(exc, GitstoreError):
        if debug:
            return None
        for note in getattr(exc, "notes", ()):  # what it did, said before why it stopped short
            warn(printable(note))
        warn(f"gitstore: error: {printable(exc.message)}")
        if exc.hint:
            warn(f"hint: {printable(exc.hint)}")
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        warn("gitstore: interrupted")
        return 130
    if isinstance(exc, BrokenPipeError):
        _stdout_to_devnull()  # a reader that went away: nothing more to say, nor at exit
        return 1
    if isinstance(exc, OSError) and writing_stdout(exc):
        warn(f"gitstore: error: cannot write to standard output: {exc.strerror}")
        return 1
    if isinstance(exc, (OSError, MemoryError)) and not debug:
        from .errors import environment_error_line

        warn(f"gitstore: error: {printable(environment_error_line(exc))}")
        return 1
    return None


def writing_stdout(exc: OSError) -> bool:
    """Whether ``exc`` came from writing standard output (``> /dev/full``, a full disk).

    The innermost Python frame is the one that called ``write`` or ``flush``
    (``click.echo``, ``cat``): it holds the stream, whose descriptor is 1.
    Standard output then goes to /dev/null, so that nothing fails again at exit.
    """
    tb = exc.__traceback__
    if tb is None or exc.filename is not None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    for value in tb.tb_frame.f_locals.values():
        try:
            if value.fileno() == 1:
                break
        except Exception:
            continue
    else:
        return False
    _stdout_to_devnull()
    return True


def _stdout_to_devnull() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass


# -- the commands -------------------------------------------------------------
def track(ctx: Context, paths: Sequence[str], *, quiet: bool = False) -> None:
    from . import api
    from .manifest import one_line

    for r in api.track(ctx, paths):
        verb = "tracked" if r.changed else "unchanged"
        path = one_line(r.path)  # control characters escaped, as status shows them
        if not quiet:  # -q: no line a manifest (what was adopted from git is still said)
            echo(
                f"{verb} {path} ({r.files} file{'s' if r.files != 1 else ''}, {r.size} bytes)"
                f" -> {one_line(r.manifest)}"
            )
        if r.adopted:
            echo(f"  {path} was tracked by git: removed from git's index (the files stay)")


def status(ctx: Context, paths: Sequence[str], as_json: bool) -> None:
    from . import api
    from . import manifest as mf
    from .pending import INTERRUPTED, brought_now
    from .pending import load as load_marks

    result = api.status(ctx, paths)
    marks = load_marks(ctx.repo.state_dir)
    if as_json:  # a mark (why a path differs: a part checked out, a fetch that failed) too
        echo_json(
            [
                s.to_json() | ({"unmaterialised": marks[s.path]} if s.path in marks else {})
                for s in result
            ]
        )
    else:
        if not result:
            echo("no tracked paths")
        for s in result:
            echo(f"{s.state:17} {mf.one_line(s.path)}")
            for word, items in (
                ("added", s.added),
                ("modified", s.modified),
                ("removed", s.removed),
            ):
                for item in items[:50]:
                    echo(f"    {word}: {mf.one_line(item)}")
                if len(items) > 50:
                    echo(f"    ... and {len(items) - 50} more {word}")
    brought = (brought_now(ctx.repo.state_dir) if INTERRUPTED in marks.values() else None) or ()
    for s in result:
        if s.path in brought and marks.get(s.path) == INTERRUPTED and s.state != "unchanged":
            warn(
                f"gitstore: note: {s.path} is being brought by another git command (its hook"
                " is fetching or writing the data): run status again once it has ended"
            )
        elif s.path in marks and s.state != "unchanged":
            # pull, not checkout: the rest's objects may never have been fetched
            warn(
                f"gitstore: note: {s.path} was left part-way ({marks[s.path]});"
                f" `gitstore pull {api.arg_for(ctx, s.path)}` finishes it"
            )
        elif s.state == "conflicted":
            warn(
                f"gitstore: note: {s.manifest} has merge conflict markers; settle it with"
                f" `gitstore resolve {api.arg_for(ctx, s.path)} --ours|--theirs|--union`"
            )
        elif s.behind:
            warn(
                f"gitstore: note: {s.path} holds the files of an earlier {s.manifest} (the manifest"
                f" changed since: git checkout, revert, reset); `gitstore checkout {s.path}` brings"
                f" them in line, `gitstore track {s.path}` would record them instead"
            )
    invalid = [s for s in result if s.error is not None]
    if invalid:  # the other paths are reported above; the exit status says not all were
        from .errors import ManifestError
        from .progress import count

        more = (
            f" (and {count(len(invalid) - 1, 'more invalid manifest')})" if len(invalid) > 1 else ""
        )
        raise ManifestError(f"{invalid[0].error}{more}")


def checkout(
    ctx: Context,
    args: Sequence[str],
    *,
    force: bool = False,
    link: str | None = None,
    quiet: bool = False,
) -> None:
    from . import api

    revs, paths = api.split_args(ctx, args, max_revs=1)
    result = api.checkout(ctx, revs[0] if revs else None, paths, force=force, link=link)
    say_manifests(ctx, result, revs[0] if revs else None, quiet=quiet)
    echo(
        f"{len(result.written)} written, {len(result.deleted)} deleted, {result.unchanged} unchanged"
    )
    if result.invalid and (result.conflicts or result.missing):  # reported by the exit status
        for exc in result.invalid:
            warn(f"gitstore: error: {exc.message}")
    api.raise_for_checkout(result)


def say_manifests(ctx: Context, result: CheckoutResult, rev: str | None, *, quiet: bool) -> None:
    """What a checkout at ``rev`` (checkout REV, pull REV) did to the manifests: the ones
    it wrote, that they now differ from HEAD, the ones it removed or left as they were."""
    from . import api
    from . import manifest as mf

    if not quiet:  # one line a manifest: a thousand for a thousand paths
        for m in result.manifests_written:
            echo(f"wrote {mf.one_line(m)}")
    away = api.differ_from_head(ctx, result.manifests_written) if rev is not None else []
    if away:
        shown = ", ".join(away[:3]) + (f" and {len(away) - 3} more" if len(away) > 3 else "")
        warn(
            f"gitstore: note: {shown} now differ{'s' if len(away) == 1 else ''} from HEAD (as"
            f" `git status` shows): commit to keep {rev}'s data, or `gitstore checkout HEAD`"
            " to return"
        )
    for m in result.manifests_removed:
        echo(f"removed {m} (not tracked at {rev}; brought by an earlier checkout)")
    if result.manifests_not_at_rev:
        kept = [mf.tracked_path(m) for m in result.manifests_not_at_rev]
        shown = ", ".join(kept[:3]) + (f" and {len(kept) - 3} more" if len(kept) > 3 else "")
        warn(
            f"gitstore: note: {shown} {'is' if len(kept) == 1 else 'are'} tracked here but not at"
            f" {rev}: left as {'it is' if len(kept) == 1 else 'they are'}, as `git checkout {rev}"
            " -- .` leaves files the revision lacks (`gitstore checkout HEAD` returns)"
        )
    if result.manifests_outside_sparse:
        left = [mf.tracked_path(m) for m in result.manifests_outside_sparse]
        shown = ", ".join(left[:3]) + (f" and {len(left) - 3} more" if len(left) > 3 else "")
        warn(
            f"gitstore: note: {shown} left out: outside the sparse checkout's patterns"
            " (`git sparse-checkout add PATH`, then `gitstore checkout REV PATH`, to work on it)"
        )
    touched = result.written + result.deleted
    for m in result.manifests_kept:
        rel = mf.tracked_path(m)
        if not any(k == rel or k.startswith(rel + "/") for k in touched):
            continue  # nothing there changed: it still matches its manifest
        warn(
            f"gitstore: note: only part of {rel} is now as at {rev or 'REV'}; {m} was left as it was,"
            f" so `gitstore status` shows {rel} modified (`gitstore checkout {api.arg_for(ctx, rel)}` returns it)"
        )


def plain(argv: Sequence[str]) -> bool:
    """Whether :func:`run_plain` runs ``argv`` (the rest: :mod:`gitstore.cli`).

    ``track`` with at least one path, ``status`` with paths and ``--json``,
    ``checkout`` with revisions, paths, ``--force`` and one ``--link MODES``;
    anything else that starts with a dash (``--help``, ``--``, ``-q``, a
    name like ``-x``) goes to click, which knows what it means.
    """
    if not argv or argv[0] not in ("track", "status", "checkout"):
        return False
    if argv[0] == "checkout":
        return _checkout_options(argv[1:]) is not None
    rest = [a for a in argv[1:] if not (argv[0] == "status" and a == "--json")]
    if any(a.startswith("-") for a in rest):
        return False
    return argv[0] != "track" or bool(rest)


def _checkout_options(
    argv: Sequence[str],
) -> tuple[list[str], bool, str | None] | None:
    """(revisions and paths, --force, --link) of a plain checkout; None: click's to parse."""
    args: list[str] = []
    force = False
    link: str | None = None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-f", "--force"):
            force = True
        elif a == "--link" or a.startswith("--link="):
            if link is not None:
                return None  # given twice: click says which one counts
            if a == "--link":
                i += 1
                if i == len(argv):
                    return None  # click's "requires an argument"
                link = argv[i]
            else:
                link = a[len("--link=") :]
            if link.startswith("-"):
                return None
        elif a.startswith("-"):
            return None
        else:
            args.append(a)
        i += 1
    return args, force, link


def run_plain(argv: Sequence[str]) -> int:
    """Run a :func:`plain` command line; its exit code."""
    try:
        ctx = context()
        if argv[0] == "track":
            track(ctx, argv[1:])
        elif argv[0] == "checkout":
            parsed = _checkout_options(argv[1:])
            assert parsed is not None  # plain() said so
            args, force, link = parsed
            checkout(ctx, args, force=force, link=link)
        else:
            status(ctx, [a for a in argv[1:] if a != "--json"], "--json" in argv[1:])
        return 0
    except (GitstoreError, KeyboardInterrupt, OSError, MemoryError) as exc:
        code = error_exit(exc)
        if code is None:
            raise
        return code
