"""Ctrl-C and SIGTERM during a command: stop at the next safe point, say what was done.

Outside the writing part of an apply a signal raises ``Interrupted`` (a ``KeyboardInterrupt``)
at once, as usual (nothing has been written). Inside it (``deferred``), the signal is only
recorded: uploads in flight finish, nothing new starts, no delete is sent, the manifest records
what was done, the lock is released, and the command exits 130 (SIGINT) or 143 (SIGTERM) with
the counts. A second signal stops the process at once; the next apply repairs what it left.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


class Interrupted(KeyboardInterrupt):
    """The stop a signal asks for. A subclass: CPython 3.11 exits through SIGINT (-2) at the
    end when a plain KeyboardInterrupt ever crossed an import, even one that was caught."""


_received: list[int] = []  # the signals received since the handlers were installed
_deferring = [0]  # depth of nested ``deferred`` blocks
ran = [False]  # a command ran under our handlers (python -m flask_s3 words its last message)
SIGNALS = (signal.SIGINT, signal.SIGTERM)


def requested() -> bool:
    """True once a stop was asked for (only ever with our handlers installed)."""
    return bool(_received)


def exit_code() -> int:
    """128 + the signal: 130 for Ctrl-C (the default), 143 for SIGTERM."""
    return 128 + (_received[0] if _received else signal.SIGINT)


def _handle(signum: int, frame: FrameType | None) -> None:
    if _received:
        os.write(
            2,
            b"Interrupted again: stopped at once. Run apply again: it finishes what this one "
            b"left and removes its lock.\n",
        )
        os._exit(128 + _received[0])
    _received.append(signum)
    if not _deferring[0]:
        raise Interrupted


@contextmanager
def handlers() -> Iterator[None]:
    """Install our SIGINT/SIGTERM handlers for the block (main thread only), then restore."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {}
    for sig in SIGNALS:
        previous[int(sig)] = signal.signal(sig, _handle)
    _received.clear()
    try:
        yield
    finally:
        ran[0] = True
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        _received.clear()  # a library apply later in this process is not asked to stop


@contextmanager
def deferred() -> Iterator[None]:
    """A block a signal does not cut short: the code in it polls ``requested()``."""
    _deferring[0] += 1
    try:
        yield
    finally:
        _deferring[0] -= 1


def stop_here() -> None:
    """Raise ``KeyboardInterrupt`` at a safe point when a stop was asked for."""
    if _received:
        raise Interrupted
