"""Ctrl-C reaches the main thread only: transfer threads look here between parts.

The main thread, interrupted while it waits for its transfer threads, sets
:data:`EVENT`; a thread in the middle of one big object (a multipart upload, a
ranged download) then stops between two parts or blocks, leaving what it did
for the next run to resume, instead of sending the whole object first.
"""

from __future__ import annotations

import threading

EVENT = threading.Event()


def check() -> None:
    """Raise KeyboardInterrupt in this thread if the command is being interrupted."""
    if EVENT.is_set():
        raise KeyboardInterrupt
