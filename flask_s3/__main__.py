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
    from .cli import main

    try:
        main(prog_name="flask-s3")
    finally:
        # The exit code is decided. Python drops signal handlers while it shuts down, so a
        # signal now would end the process as killed (-15) instead of with that code: hold
        # them off.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOPS)


if __name__ == "__main__":
    run()
