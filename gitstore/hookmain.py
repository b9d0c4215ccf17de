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
    from collections.abc import Iterator, Sequence

HOOKS = (
    "pre-commit",
    "pre-push",
    "post-checkout",
    "post-merge",
    "post-rewrite",
    "post-index-change",
    "post-applypatch",
)
POST_HOOKS = HOOKS[2:]
CHAINED_SUFFIX = ".gitstore-chained"  # the user's hook, kept beside ours (gitstore.hooks)
# git commands whose own hook brings the data (post-checkout, post-rewrite): their
# post-index-change leaves it to that hook. A rebase's picks wait for its end. A merge
# is decided later (hookrun.post_index_change): one that stops at a conflict, and
# `git merge --abort`, run no post-merge.
COVERED = frozenset({"checkout", "switch", "pull", "rebase", "clone", "commit"})
# git's global options that take their value as the next word
_GIT_VALUED = frozenset(
    {"-c", "-C", "--git-dir", "--work-tree", "--namespace", "--config-env", "--super-prefix"}
)


def _chained_hook(hook_path: str) -> bool:
    """Whether a hook of the user's may run before ours (``hooks.run_chained`` decides which)."""
    return not hook_path or os.path.lexists(hook_path + CHAINED_SUFFIX)


def _start_find() -> None:
    """The stamps' ``find`` for the pre-commit hook (gitstore.prefind), begun before the imports."""
    from . import prefind

    state_dir = prefind.from_git_dir_of(os.getcwd())
    if state_dir is not None:
        prefind.start(state_dir, os.getcwd())


def _git_processes(levels: int) -> Iterator[list[str]]:
    """The command lines of the ``git`` processes above this one, nearest first, reading
    /proc up ``levels`` processes (git, or the hook script's shell and then git); stops
    where /proc cannot be read (not Linux, another hook runner)."""
    pid = os.getppid()
    for _ in range(levels):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                words = [os.fsdecode(w) for w in f.read().split(b"\0")[:-1]]
            if words and os.path.basename(words[0]).split("-", 1)[0] == "git":
                yield words
            with open(f"/proc/{pid}/stat", "rb") as f:
                pid = int(f.read().rpartition(b")")[2].split()[1])  # the field after the state
        except (OSError, ValueError, IndexError):
            return
        if pid <= 1:
            return


def git_argv(levels: int = 3) -> list[str] | None:
    """The command line of the git that runs this hook, read from /proc; None where it
    cannot be read."""
    return next(_git_processes(levels), None)


def git_ancestry(levels: int = 8) -> list[list[str]]:
    """The command lines of every ``git`` process above this hook, nearest first: a
    ``git reset --hard`` that ``git stash`` runs shows both. Empty where /proc cannot
    be read."""
    return list(_git_processes(levels))


def has_option(words: Sequence[str] | None, option: str) -> bool:
    """Whether git command line ``words`` gives long ``option`` (``--abort``), or a prefix
    of it git would take (``--abo``: git refuses one that is ambiguous before any hook)."""
    return any(len(w) > 3 and w.startswith("--") and option.startswith(w) for w in words or ())


def git_command(words: Sequence[str] | None) -> str | None:
    """The subcommand of git command line ``words`` (``reset``); None if it has none."""
    if not words:
        return None
    program = os.path.basename(words[0])
    if program.startswith("git-"):  # git-core's dashed form
        return program[4:]
    rest = iter(words[1:])
    for word in rest:
        if word in _GIT_VALUED:
            next(rest, None)
        elif not word.startswith("-"):
            return word
    return None


def forced(words: Sequence[str] | None) -> bool:
    """Whether git command line ``words`` is a checkout or switch that discards local
    changes (``-f``, ``--force``, ``--discard-changes``)."""
    command = git_command(words)
    if command not in ("checkout", "switch") or words is None:
        return False
    rest = words[words.index(command) + 1 :]
    if "--f" in rest or has_option(rest, "--force") or has_option(rest, "--discard-changes"):
        return True  # (git takes --f for --force: no other option begins so)
    valued = iter(rest)
    for word in valued:
        if word == "--":
            break
        if word in ("-b", "-B", "-c", "-C", "--orphan"):
            next(valued, None)  # a branch name, which may well hold an f
        elif word.startswith("-") and not word.startswith("--"):
            for ch in word[1:]:
                if ch in "bBcC":
                    break  # the rest of the word is the branch name
                if ch == "f":
                    return True
    return False


def stash_action(words: Sequence[str] | None) -> str:
    """What ``git stash ...`` does (``push`` when no action is named)."""
    rest = list(words or ())
    rest = rest[rest.index("stash") + 1 :] if "stash" in rest else []
    return next((w for w in rest if not w.startswith("-")), "push")


def _index_change_is_ours(args: Sequence[str], words: Sequence[str] | None) -> bool:
    """Whether a post-index-change is one gitstore may act on: git updated the work tree
    (the first argument is 1: a reset, revert, cherry-pick, stash...) in a command
    (git's command line ``words``) that no other hook of gitstore's follows. Checked
    before any import: git writes the index on every ``git add`` and ``git commit``."""
    if not args or args[0] != "1":
        return False
    command = git_command(words)
    return command not in COVERED or (command == "rebase" and has_option(words, "--abort"))


def run_hook(name: str, args: Sequence[str]) -> int:
    """Run hook ``name``; print its report lines on stderr; its exit code.

    A :class:`GitstoreError` of a pre-* hook propagates (the caller renders it).
    """
    words = git_argv() if name == "post-index-change" and args and args[0] == "1" else None
    if git_command(words) == "read-tree":
        # a merge strategy of git's own scripts (octopus, resolve) writes the index with
        # read-tree: the merge above it is the command, whose options decide
        words = next((w for w in git_ancestry() if git_command(w) == "merge"), words)
    if name == "post-index-change" and not _index_change_is_ours(args, words):
        if not _chained_hook(os.environ.get("GITSTORE_HOOK_PATH", "")):
            return 0  # nothing to run: no import at all
        from . import hooks

        return hooks.run_chained(name, args, b"")
    if name == "post-checkout" and len(args) >= 3 and args[2] == "1":  # a branch switch
        from . import prefind

        prefind.start_diff(args[0], args[1])  # two commits' diff: runs while we import
    early = name == "pre-commit" and not _chained_hook(os.environ.get("GITSTORE_HOOK_PATH", ""))
    if early:  # no hook of the user's to run first: the find runs from now, while we import
        _start_find()
    from . import hooks

    hook_path = os.environ.get("GITSTORE_HOOK_PATH", "")
    if hook_path and name != "post-index-change":
        hooks.add_later_hooks(hook_path)
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
        if name in POST_HOOKS:
            from . import faults

            faults.hook_started()
        if name == "pre-commit":
            report = hookrun.pre_commit(ctx)
        elif name == "pre-push":
            report = hookrun.pre_push(ctx, args, stdin, env)
        elif name == "post-checkout":
            report = hookrun.post_checkout(ctx, args, env)
        elif name == "post-merge":
            report = hookrun.post_merge(ctx, args, env)
        elif name == "post-index-change":
            report = hookrun.post_index_change(ctx, words)
        elif name == "post-applypatch":
            report = hookrun.post_applypatch(ctx)
        else:
            report = hookrun.post_rewrite(ctx, args, stdin, env)
    except GitstoreError as exc:
        if name not in POST_HOOKS:
            raise
        report = hookrun.HookReport([f"gitstore: {name}: {exc.message}"])  # never fail a post hook
    if report.lines:
        from .entry import SUBMODULE as submodule
        from .manifest import printable

        if submodule:  # run for a submodule (--recurse-submodules): its paths are its own
            report.lines.insert(0, f"gitstore: in submodule {submodule} (paths below are in it):")
        sys.stderr.write("".join(printable(line) + "\n" for line in report.lines))
        sys.stderr.flush()
    return report.exit_code


def mark_unfinished_quietly(name: str, args: Sequence[str]) -> None:
    """:func:`hookrun.mark_unfinished`, as best it can: a second Ctrl-C or any error
    leaves it undone (the hook has said it was interrupted)."""
    try:
        from . import hookrun
        from .api import Context

        hookrun.mark_unfinished(Context("."), name, args)
    except BaseException:  # noqa: BLE001 - interrupted again, or nothing to mark
        return


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
        if name in ("post-checkout", "post-merge", "post-rewrite"):
            mark_unfinished_quietly(name, args)
        return 130
    except (OSError, MemoryError) as exc:  # a full disk, a state file root left read-only
        from .errors import environment_error_line
        from .manifest import printable

        sys.stderr.write(f"gitstore: error: {printable(environment_error_line(exc))}\n")
        return 1
