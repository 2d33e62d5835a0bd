"""``python -m flask_s3`` runs the ``flask-s3`` command line."""

import os
import signal
from types import FrameType


def _before_the_command(signum: int, frame: FrameType | None) -> None:
    # A signal while the command line is still being imported: nothing was done yet. The
    # command's own handlers (flask_s3.interrupt) take over once it runs.
    os.write(2, b"Interrupted before anything was written to S3.\n")
    os._exit(128 + signum)


for _signal in (signal.SIGINT, signal.SIGTERM):
    signal.signal(_signal, _before_the_command)

from .cli import main  # noqa: E402

main(prog_name="flask-s3")
