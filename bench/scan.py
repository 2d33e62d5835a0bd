"""The local scan alone, on the seeded 20,000-file tree: the part of every plan that reads disk.

    python -m bench.scan [--fingerprint] [--no-globs] [--reps N]

Times ``scan_sources`` (CPU seconds of this process) after one warm-up run, so the MD5 cache
is warm as on a re-run from the same checkout. By default the spec has two exclude globs and
three header rules; ``--fingerprint`` turns fingerprinting on (every CSS file goes through the
reference finder). To compare with another checkout, copy this file into its ``bench/`` and
run it there (``python -m`` puts the working directory's ``flask_s3`` first).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import flask_s3
from flask_s3.assets.keys import StaticSource
from flask_s3.assets.scan import scan_sources
from flask_s3.spec import spec_from_dict

from . import trees
from .tools import WORK

GLOBS: dict[str, Any] = {
    "exclude": ["**/*.map", "static/drafts/**"],
    "rules": [
        {"match": "static/fonts/**", "headers": {"Cache-Control": "max-age=31536000"}},
        {"match": "**/*.svg", "headers": {"Cache-Control": "max-age=600"}},
        {"match": "static/css/*.css", "headers": {"Cache-Control": "max-age=60"}},
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fingerprint", action="store_true")
    parser.add_argument("--no-globs", action="store_true")
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args()
    app_dir = trees.build(trees.TREES["small"], WORK / "trees")
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["FLASK_S3_CACHE_DIR"] = scratch
        assets: dict[str, Any] = {} if args.no_globs else dict(GLOBS)
        if args.fingerprint:
            manifest = str(Path(scratch) / "manifest.json")
            assets["fingerprint"] = {"enabled": True, "manifest": manifest}
        spec = spec_from_dict({"version": 1, "bucket": {"name": "bench"}, "assets": assets})
        sources = [StaticSource("static", app_dir / "static", "static")]
        started = time.process_time()
        scan_sources(sources, spec)
        cold = time.process_time() - started
        times = []
        for _ in range(args.reps):
            started = time.process_time()
            inventory = scan_sources(sources, spec)
            times.append(time.process_time() - started)
    print(
        f"{flask_s3.__file__}: {len(inventory.assets)} files, CPU s: first {cold:.3f}, "
        f"then median {statistics.median(times):.3f}, min {min(times):.3f}"
    )


if __name__ == "__main__":
    main()
