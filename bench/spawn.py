"""Run a command and write its peak RSS and CPU to a file: ``python -I -S spawn.py OUT CMD...``.

A child's ``ru_maxrss`` starts from its parent's high-water mark at fork time (Linux carries
it across exec), so a tool forked straight from the bench process (boto3 loaded, ~60 MB) could
never report less than that. This launcher is a fresh, bare interpreter (a few MB); the tool it
forks starts from that, and the numbers it writes are the tool's own (and its waited-for
children's), with the monotonic clock at fork and at exit so the launcher's own start is
not charged to the tool. Standard library only, imports nothing at start-up it does not need.
"""

import os
import sys
import time


def main() -> None:
    out, argv = sys.argv[1], sys.argv[2:]
    began = time.monotonic()  # CLOCK_MONOTONIC: comparable with the bench's own clock
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    ended = time.monotonic()
    with open(out, "w") as f:
        f.write(f"{usage.ru_maxrss} {usage.ru_utime} {usage.ru_stime} {began} {ended}\n")
    sys.exit(os.waitstatus_to_exitcode(status) % 256)


if __name__ == "__main__":
    main()
