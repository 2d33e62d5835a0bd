"""``flask-s3`` as a user runs it: a subprocess, in a folder, with the test's environment."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# Runs argv[2:] with this stdio, then writes its peak RSS (KiB) to argv[1]: the only child of
# this wrapper, so nothing else counts (pytest's own RUSAGE_CHILDREN holds the largest child
# it ever reaped, an earlier test's included).
PEAK_WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "with open(sys.argv[1], 'w') as out:\n"
    "    out.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(code)\n"
)


def flask_s3(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120, **kw: Any
) -> subprocess.CompletedProcess[str]:
    """``python -m flask_s3 ARGS`` in ``cwd``; ``env`` defaults to this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "flask_s3", *args],
        cwd=cwd,
        env=env if env is not None else dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )


def flask_s3_peak(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> tuple[subprocess.CompletedProcess[str], int]:
    """``flask_s3`` that also gives that process's own peak RSS, in KiB."""
    command = [sys.executable, "-m", "flask_s3", *args]
    with tempfile.NamedTemporaryFile("r") as peak:
        result = subprocess.run(
            [sys.executable, "-c", PEAK_WRAPPER, peak.name, *command],
            cwd=cwd,
            env=env if env is not None else dict(os.environ),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return result, int(peak.read() or 0)
