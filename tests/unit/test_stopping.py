"""Ctrl-C during a transfer: the threads stop at their next part, and the flag that
tells them so is down again once the transfer has ended (a caller of the Python API
may catch the interrupt and transfer again)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from gitstore import stopping, transfer


def test_an_interrupted_transfer_stops_its_threads_and_lowers_the_flag() -> None:
    parts_after: list[int] = []
    going = threading.Event()

    def work(item: str) -> None:
        if item == "interrupt":
            going.wait(5)  # the main thread waits in its join by then
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C: the main thread gets it
            return
        for part in range(2000):  # a big object, part by part
            if part == 5:
                going.set()
            stopping.check()
            time.sleep(0.005)
            parts_after.append(part)

    with pytest.raises(KeyboardInterrupt):
        transfer._run(["big", "interrupt"], 2, work)
    assert 5 <= len(parts_after) < 2000  # stopped between two parts, not at the end
    assert not stopping.EVENT.is_set()
    done = []
    transfer._run(["a", "b"], 2, done.append)  # the next transfer runs whole
    assert sorted(done) == ["a", "b"]


def test_a_second_ctrl_c_leaves_the_flag_up_until_the_threads_have_stopped() -> None:
    """Lowered at once, it let threads still on their part go on to the object's end."""
    going = threading.Event()
    parts_after: list[int] = []

    def work(item: str) -> None:
        if item == "interrupt":
            going.wait(5)
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C again
            return
        for part in range(200):  # a big object whose parts take a while each
            if part == 1:
                going.set()
            stopping.check()
            time.sleep(0.3)
            parts_after.append(part)

    with pytest.raises(KeyboardInterrupt):
        transfer._run(["big", "interrupt"], 2, work)
    assert stopping.EVENT.is_set()  # the big object's thread is still on its part
    deadline = time.monotonic() + 5
    while stopping.EVENT.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not stopping.EVENT.is_set()
    assert len(parts_after) < 200
