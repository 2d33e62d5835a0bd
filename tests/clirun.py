"""``flask-s3`` as a user runs it: a subprocess, in a folder, with the test's environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any


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
