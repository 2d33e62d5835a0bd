"""A short run of the soak (tests/soak.py): about a minute, seeded, on the suite's SeaweedFS.

Faults, kills and concurrent applies, then the invariants; ``make soak ROUNDS=N`` runs long ones.
"""

from __future__ import annotations

from pathlib import Path

from soak import child_env, soak

from flask_s3.tools.seaweedfs import LocalS3


def test_a_short_soak_keeps_every_invariant(s3_server: LocalS3, tmp_path: Path):
    env = child_env(s3_server.access_key or "", s3_server.secret_key or "", tmp_path)
    figures = soak(s3_server.endpoint_url, env, tmp_path, rounds=1000, seed=23, seconds=40)
    print(figures.report(0))
    assert figures.violations == []
    assert figures.rounds >= 3
    assert figures.applies > figures.rounds
