"""The console script's exit without the interpreter's teardown (gitstore.entry._exit).

Hooks and plain commands end through ``os._exit`` after doing what an exit
must: the atexit functions, the standard streams flushed. These check that
nothing an ordinary exit does for the user is lost on the way.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _run(script: str, tmp_path: Path, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-c", "from gitstore.entry import _exit\n" + script, str(tmp_path)],
        timeout=60,
        **kwargs,  # type: ignore[call-overload]
    )


def test_buffered_output_is_written_and_the_code_kept(tmp_path: Path) -> None:
    proc = _run(
        "import sys\nsys.stdout.write('x' * 200_000)\nsys.stderr.write('said')\n_exit(3)\n",
        tmp_path,
        capture_output=True,
    )
    assert proc.returncode == 3
    assert proc.stdout == b"x" * 200_000
    assert proc.stderr == b"said"


@pytest.mark.parametrize(
    ("script", "code", "name", "written"),
    [
        pytest.param(  # gitstore's own (a writer's files in the cache) are registered there
            "import atexit, sys\n"
            "atexit.register(lambda: open(sys.argv[1] + '/ran', 'a').write('once\\n'))\n"
            "_exit(0)\n",
            0,
            "ran",
            "once\n",
            id="atexit-functions-run-once",
        ),
        pytest.param(  # a thread that is not a daemon: the ordinary exit, which waits for it
            "import sys, threading, time\n"
            "def late():\n"
            "    time.sleep(0.3)\n"
            "    open(sys.argv[1] + '/late', 'w').write('done')\n"
            "threading.Thread(target=late).start()\n"
            "_exit(5)\n",
            5,
            "late",
            "done",
            id="a-running-thread-is-waited-for",
        ),
    ],
)
def test_what_an_exit_must_do_is_done(
    tmp_path: Path, script: str, code: int, name: str, written: str
) -> None:
    proc = _run(script, tmp_path)
    assert proc.returncode == code
    assert (tmp_path / name).read_text() == written


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_an_output_that_cannot_be_written_is_not_a_success(tmp_path: Path) -> None:
    with open("/dev/full", "wb") as full:
        proc = _run(
            "import sys\nsys.stdout.write('x' * 100)\n_exit(0)\n",
            tmp_path,
            stdout=full,
            stderr=subprocess.PIPE,
        )
    assert proc.returncode != 0
    assert b"No space left on device" in proc.stderr


def test_a_profiler_still_gets_to_write_its_findings(tmp_path: Path) -> None:
    """``python -m cProfile -o FILE`` writes FILE once the program has returned."""
    script = tmp_path / "prog.py"
    script.write_text("from gitstore.entry import _exit\n_exit(0)\n")
    out = tmp_path / "prof.out"
    proc = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(out), str(script)], timeout=60
    )
    assert proc.returncode == 0
    assert out.stat().st_size > 0
