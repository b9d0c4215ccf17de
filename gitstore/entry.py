"""The ``gitstore`` console script: git's hooks go straight to their runner, the rest to click.

Git runs a hook on every commit, checkout and push, so its start-up is paid
many times a day: ``gitstore hook NAME ...`` (what the installed scripts
call) is dispatched here without importing click or the command modules.
A plain ``track``, ``status`` or ``checkout`` goes to :mod:`gitstore.cli_core`,
also without click. Every other command line, including ``gitstore hook --help``
and anything with a global option first, goes to :func:`gitstore.cli.main`.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing's import would come before the early finds
if TYPE_CHECKING:
    from typing import NoReturn

SUBMODULE = ""  # the submodule git ran this hook for (--recurse-submodules), from its prefix


def _hang_up_as_ctrl_c() -> None:
    """A closed terminal (SIGHUP) stops gitstore as Ctrl-C does: through the same clean-up
    (temporary files removed, marks written), where the default would end it at once
    and leave them, as a kill does. Not where SIGHUP is ignored (``nohup``)."""
    import _signal  # type: ignore[import-not-found]  # built in: signal.py would import enum

    if hasattr(_signal, "SIGHUP") and _signal.getsignal(_signal.SIGHUP) == _signal.SIG_DFL:
        _signal.signal(_signal.SIGHUP, _signal.default_int_handler)


def main() -> None:
    _hang_up_as_ctrl_c()
    try:
        _main()
    except KeyboardInterrupt:  # in the imports, before a command's own handler runs
        sys.stderr.write("gitstore: interrupted\n")
        argv = sys.argv[1:]
        if len(argv) >= 2 and argv[0] == "hook" and argv[1].startswith("post-"):
            try:
                from .hookmain import mark_unfinished_quietly

                mark_unfinished_quietly(argv[1], argv[2:])
            except BaseException:
                pass
        sys.exit(130)


def _exit(code: int) -> NoReturn:
    """End the process with ``code`` without the interpreter's teardown, where it would do nothing.

    Freeing every module and object at exit costs ~6 ms, paid by every hook
    git runs and every plain ``track`` or ``status``. What an exit must do
    is done here: the atexit functions (this process's writer files and
    leftovers, dulwich's packs closed), then the standard streams flushed.
    While a thread that is not a daemon still runs, when a flush fails (a
    closed pipe), or under a profiler or a debugger (``python -m cProfile -o``
    writes its file after the program returns), the ordinary exit takes over.
    """
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)  # a profiler or a debugger writes its findings at the ordinary exit
    threading = sys.modules.get("threading")
    if threading is not None and any(
        t.is_alive() and not t.daemon and t is not threading.main_thread()
        for t in threading.enumerate()
    ):
        sys.exit(code)
    import atexit

    atexit._run_exitfuncs()  # and forgets them: the ordinary exit would not run them twice
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except BaseException:  # noqa: BLE001 - the ordinary exit reports it as it always has
        sys.exit(code)
    os._exit(code)


def _main() -> None:
    # set by git for a submodule's hooks under `checkout --recurse-submodules`; every
    # git command gitstore runs there (rev-parse first) would refuse to run with it
    global SUBMODULE
    SUBMODULE = os.environ.pop("GIT_INTERNAL_SUPER_PREFIX", "").rstrip("/")
    argv = sys.argv[1:]
    if len(argv) >= 2 and argv[0] == "hook":
        from .hookmain import HOOKS, run_hook_cli

        if argv[1] in HOOKS:
            _exit(run_hook_cli(argv[1], argv[2:]))
    if argv[:1] in (["status"], ["track"]):  # at the top of the work tree: find runs as we import
        from . import prefind

        state_dir = prefind.from_git_dir_of(os.getcwd())
        if state_dir is not None and argv[0] == "status":
            prefind.start(state_dir, os.getcwd())
        elif state_dir is not None:  # the folders named, as they are written from the top
            named = [os.path.normpath(a) for a in argv[1:] if not a.startswith("-")]
            prefind.start(state_dir, os.getcwd(), named, lock=True)
    from . import cli_core

    if cli_core.plain(argv):  # without click's import (~16 ms)
        _exit(cli_core.run_plain(argv))
    from .cli import main as cli_main
    from .cli_core import writing_stdout

    try:
        cli_main()
    except OSError as exc:  # --version and --help print before any command's handler runs
        if not writing_stdout(exc):
            raise
        sys.stderr.write(f"gitstore: error: cannot write to standard output: {exc.strerror}\n")
        sys.exit(1)
