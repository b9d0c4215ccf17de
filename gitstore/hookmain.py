"""``gitstore hook NAME ARGS...``: run the chained hook, then gitstore's part; no click.

Shared by the console script's fast dispatch (:mod:`gitstore.entry`) and the
click command ``gitstore hook`` (:mod:`gitstore.cli_hooks`), so both behave
the same: the user's own hook runs first and a failure of it is git's
answer; a post-* hook never fails git (problems become report lines); a
pre-* hook's error is one line (and a hint) on stderr with its exit code.
"""

from __future__ import annotations

import os
import sys

from .errors import GitstoreError

TYPE_CHECKING = False  # typing's import (with re) would come before the early find
if TYPE_CHECKING:
    from collections.abc import Sequence

POST_HOOKS = ("post-checkout", "post-merge", "post-rewrite")
CHAINED_SUFFIX = ".gitstore-chained"  # the user's hook, kept beside ours (gitstore.hooks)


def _chained_hook(hook_path: str) -> bool:
    """Whether a hook of the user's may run before ours (``hooks.run_chained`` decides which)."""
    return not hook_path or os.path.lexists(hook_path + CHAINED_SUFFIX)


def _start_find() -> None:
    """The stamps' ``find`` for the pre-commit hook (gitstore.prefind), begun before the imports."""
    from . import prefind

    state_dir = prefind.from_git_dir_of(os.getcwd())
    if state_dir is not None:
        prefind.start(state_dir, os.getcwd())


def run_hook(name: str, args: Sequence[str]) -> int:
    """Run hook ``name``; print its report lines on stderr; its exit code.

    A :class:`GitstoreError` of a pre-* hook propagates (the caller renders it).
    """
    if name == "post-checkout" and len(args) >= 3 and args[2] == "1":  # a branch switch
        from . import prefind

        prefind.start_diff(args[0], args[1])  # two commits' diff: runs while we import
    early = name == "pre-commit" and not _chained_hook(os.environ.get("GITSTORE_HOOK_PATH", ""))
    if early:  # no hook of the user's to run first: the find runs from now, while we import
        _start_find()
    from . import hooks

    stdin = hooks.read_hook_stdin(name)
    code = hooks.run_chained(name, args, stdin)
    if code != 0:
        return code
    if name == "pre-commit" and not early:  # after the user's hook, which may change files
        _start_find()
    from . import hookrun
    from .api import Context

    env = dict(os.environ)
    try:
        ctx = Context(".")
        hooks.refresh_older_drivers(ctx.repo)
        if name == "pre-commit":
            report = hookrun.pre_commit(ctx)
        elif name == "pre-push":
            report = hookrun.pre_push(ctx, args, stdin, env)
        elif name == "post-checkout":
            report = hookrun.post_checkout(ctx, args, env)
        elif name == "post-merge":
            report = hookrun.post_merge(ctx, args, env)
        else:
            report = hookrun.post_rewrite(ctx, args, stdin, env)
    except GitstoreError as exc:
        if name not in POST_HOOKS:
            raise
        report = hookrun.HookReport([f"gitstore: {name}: {exc.message}"])  # never fail a post hook
    if report.lines:
        from .manifest import printable

        sys.stderr.write("".join(printable(line) + "\n" for line in report.lines))
        sys.stderr.flush()
    return report.exit_code


def run_hook_cli(name: str, args: Sequence[str]) -> int:
    """:func:`run_hook` with errors rendered as the CLI renders them (``--debug`` aside)."""
    try:
        return run_hook(name, args)
    except GitstoreError as exc:
        from .manifest import printable

        sys.stderr.write(f"gitstore: error: {printable(exc.message)}\n")
        if exc.hint:
            sys.stderr.write(f"hint: {printable(exc.hint)}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("gitstore: interrupted\n")
        return 130
    except (OSError, MemoryError) as exc:  # a full disk, a state file root left read-only
        from .errors import environment_error_line
        from .manifest import printable

        sys.stderr.write(f"gitstore: error: {printable(environment_error_line(exc))}\n")
        return 1
