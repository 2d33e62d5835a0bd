"""Ctrl-C and SIGTERM during a command: stop at the next safe point, say what was done.

Outside the writing part of an apply a signal raises ``Interrupted`` (a ``KeyboardInterrupt``)
at once, as usual (nothing has been written). Inside it (``deferred``), the signal is only
recorded: uploads in flight finish, nothing new starts, no delete is sent, the manifest records
what was done, the lock is released, and the command exits 130 (SIGINT) or 143 (SIGTERM) with
the counts. A second signal stops the process at once; the next apply repairs what it left.

A signal that lands inside the import system's own bookkeeping is not raised there: CPython runs
a module lock's weakref callback between taking the global import lock and its ``try``, and an
exception raised at that point is swallowed (callbacks cannot raise) and leaves the import lock
held, so every other thread that imports hangs for ever. The stop is then raised a few
milliseconds later, from a timer, once the main thread is back in ordinary code. A stop raised
in any other callback or finalizer, whose exception Python swallows, is raised again the same way;
so is one landing under a ``__set_name__`` call, which Python 3.10/3.11 would turn into a
RuntimeError.
"""

from __future__ import annotations

import os
import signal
import sys
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
_pending = [False]  # a stop is asked for and waits for the main thread to leave unsafe code
_previous_hook = [sys.__unraisablehook__]  # the hook ours passes everything else on to
ran = [False]  # a command ran under our handlers (python -m flask_s3 words its last message)
SIGNALS = (signal.SIGINT, signal.SIGTERM)
RETRY_S = 0.005  # how soon a stop that landed in unsafe code is tried again
# Code a stop must not be raised in: the import system's locks (frozen in CPython 3.11+, a
# file in older ones), and finalizers, whose exceptions are swallowed.
_UNSAFE_FILES = ("<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>")
_UNSAFE_SUFFIXES = ("importlib/_bootstrap.py", "importlib/_bootstrap_external.py")
_TIMER = hasattr(signal, "setitimer")  # not on Windows: there a stop is raised where it lands


def requested() -> bool:
    """True once a stop was asked for (only ever with our handlers installed)."""
    return bool(_received)


def exit_code() -> int:
    """128 + the signal: 130 for Ctrl-C (the default), 143 for SIGTERM."""
    return 128 + (_received[0] if _received else signal.SIGINT)


def _unsafe(frame: FrameType | None) -> bool:
    """True when ``frame``, the code the main thread was running, must not get an exception."""
    if frame is None:
        return False
    code = frame.f_code
    name = code.co_filename
    if name in _UNSAFE_FILES or name.endswith(_UNSAFE_SUFFIXES) or code.co_name == "__del__":
        return True
    # Python 3.10 and 3.11 turn whatever is raised under a __set_name__ call (a dataclass
    # field's, while a class is made) into RuntimeError: the stop would become a traceback.
    caller: FrameType | None = frame
    while caller is not None:
        if caller.f_code.co_name == "__set_name__":
            return True
        caller = caller.f_back
    return False


def _later() -> None:
    """Raise the stop asked for from the timer (``_retry``, in the main thread), not now."""
    _pending[0] = True
    signal.setitimer(signal.ITIMER_REAL, RETRY_S)


def _raise_when_safe(frame: FrameType | None) -> None:
    if _TIMER and _unsafe(frame):
        _later()
        return
    _pending[0] = False
    raise Interrupted


def _retry(signum: int, frame: FrameType | None) -> None:
    if _pending[0] and not _deferring[0]:
        _raise_when_safe(frame)


def _unraisable(unraisable: Any) -> None:
    """A stop raised in a callback or finalizer was swallowed: raise it again from the timer."""
    stop = isinstance(unraisable.exc_value, Interrupted) and _received and not _deferring[0]
    if stop and _TIMER:
        _later()
        return
    _previous_hook[0](unraisable)


def _handle(signum: int, frame: FrameType | None) -> None:
    if _pending[0]:  # the first stop has not been raised yet: this one is not a second
        if not _deferring[0]:
            _raise_when_safe(frame)
        return
    if _received:
        os.write(
            2,
            b"Interrupted again: stopped at once. Run apply again: it finishes what this one "
            b"left and removes its lock.\n",
        )
        os._exit(128 + _received[0])
    _received.append(signum)
    if not _deferring[0]:
        _raise_when_safe(frame)


@contextmanager
def handlers() -> Iterator[None]:
    """Install our SIGINT/SIGTERM handlers for the block (main thread only), then restore."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {}
    for sig in SIGNALS:
        previous[int(sig)] = signal.signal(sig, _handle)
    if _TIMER:
        previous[int(signal.SIGALRM)] = signal.signal(signal.SIGALRM, _retry)
    _previous_hook[0], sys.unraisablehook = sys.unraisablehook, _unraisable
    _received.clear()
    _pending[0] = False
    try:
        yield
    finally:
        ran[0] = True
        if _TIMER:
            signal.setitimer(signal.ITIMER_REAL, 0)
        sys.unraisablehook = _previous_hook[0]
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        _received.clear()  # a library apply later in this process is not asked to stop
        _pending[0] = False


@contextmanager
def deferred() -> Iterator[None]:
    """A block a signal does not cut short: the code in it polls ``requested()``."""
    _deferring[0] += 1
    _pending[0] = False  # a stop not raised yet is seen by the block's polling instead
    try:
        yield
    finally:
        _deferring[0] -= 1


def stop_here() -> None:
    """Raise ``KeyboardInterrupt`` at a safe point when a stop was asked for."""
    if _received:
        raise Interrupted
