"""The ``flask-s3`` command: ``python -m flask_s3`` and the console script both run ``run()``.

The console script used to call the click group directly, so a Ctrl-C in the first fifth of a
second (while Python imported click, Flask and our modules, before the command's own handlers
existed) ended in Python's ``KeyboardInterrupt`` traceback or click's "Aborted!". ``run()``
installs the handlers below before it imports anything else of ours; the command installs its
own (``flask_s3.deployer.interrupt``) once it starts to work.
"""

import os
import signal
import sys
from types import FrameType

TYPE_CHECKING = False  # no typing import before the stop is in place
if TYPE_CHECKING:
    from typing import NoReturn

STOPS = {signal.SIGINT, signal.SIGTERM}


def _outside_the_command(signum: int, frame: FrameType | None) -> None:
    # While the command line is imported, nothing was done yet; once the command ran, its
    # outcome was already reported. The command's own handlers (flask_s3.deployer.interrupt) cover
    # the time in between.
    interrupt = sys.modules.get("flask_s3.deployer.interrupt")
    done = interrupt is not None and interrupt.ran[0]
    os.write(
        2,
        b"Interrupted after the command finished.\n"
        if done
        else b"Interrupted before anything was written to S3.\n",
    )
    os._exit(128 + signum)


def run() -> None:
    """Run the command line with a clean stop from its first instruction to its exit code."""
    for stop in STOPS:
        signal.signal(stop, _outside_the_command)
    from .deployer.memory import freeze_after_pauses
    from .headstart import begin

    freeze_after_pauses()  # this process ends with the command
    begin(sys.argv[1:])  # the look of `plan`/`apply` sent before click is imported
    from .cli import main

    try:
        main(prog_name="flask-s3")  # click ends every run, even a successful one, in sys.exit
    except SystemExit as exc:
        code = _status(exc.code)
    else:
        code = 0
    finally:
        # The exit code is decided. Python drops signal handlers while it shuts down, so a
        # signal now would end the process as killed (-15) instead of with that code: hold
        # them off.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOPS)
    leave(code)


def _status(code: object) -> int:
    """The exit status ``sys.exit(code)`` gives, as Python computes it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def leave(code: int) -> "NoReturn":
    """End the process with ``code`` after what Python's exit runs, without its tear-down.

    Python's exit waits for the threads that are not daemons, runs the ``atexit`` functions
    (the local S3 server's stop, logging's flush) and flushes the standard streams; we do the
    same. It then tears the interpreter down while daemon threads (a connection still opening,
    the lock-free look's requests when a stop lands early) may be inside a blocking call: in
    CPython 3.11 such a thread returning into a freed thread state crashes the process
    (SIGSEGV), which a batch of 850 interrupted applies hit once, after the exit message. The
    tear-down frees nothing the kernel does not free at exit, so it is skipped.
    """
    import atexit
    import threading

    shutdown = getattr(threading, "_shutdown", None)  # what Python's exit calls first
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`| head`): nothing more can be said
            code = code or 120  # Python's status when flushing at exit fails
    os._exit(code)


if __name__ == "__main__":
    run()
