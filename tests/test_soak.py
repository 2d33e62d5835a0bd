"""A short run of the soak (tests/soak.py): four seeded rounds on the suite's SeaweedFS.

Faults, kills and concurrent applies, then the invariants; ``make soak ROUNDS=N`` runs long ones.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from soak import child_env, soak

from flask_s3.tools.seaweedfs import LocalS3


def test_a_short_soak_keeps_every_invariant(s3_server: LocalS3, tmp_path: Path):
    env = child_env(s3_server.access_key or "", s3_server.secret_key or "", tmp_path)
    # A fixed number of rounds, not a time budget: a slow machine runs the same faults and kills
    # (a budget once ran two rounds on a loaded CI machine and failed on the count).
    started = time.monotonic()
    figures = soak(s3_server.endpoint_url, env, tmp_path, rounds=4, seed=23, seconds=math.inf)
    print(figures.report(time.monotonic() - started))
    assert figures.violations == []
    assert figures.rounds == 4
    assert figures.applies > figures.rounds
