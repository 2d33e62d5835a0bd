"""The large profile as an A/B: ``python -m bench.abl --base DIR [--reps N] [--mib M]``.

A cold ``flask-s3 apply`` of the one-big-file tree by two builds (``DIR``, a ``git archive`` of
another commit, and this checkout), beside ``aws s3 cp --recursive`` of the same folder, each on
a fresh bucket of one private SeaweedFS. Runs rotate (base, this, aws; this, aws, base; ...) so a
loaded machine slows all alike. Prints each run, then medians of wall time, client CPU, server
CPU and peak RSS, and the this/base and this/aws ratios taken pair by pair. Writes nothing into
RESULTS.md.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
from pathlib import Path

from flask_s3.tools.seaweedfs import LocalS3

from . import trees
from .ab import launcher
from .run import Sample, compile_ours, fresh_target, run_tool
from .tools import WORK

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", default="", help="a checkout of the other commit (or none)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--mib", type=int, default=1024, help="the file's size in MiB")
    parser.add_argument("--no-aws", action="store_true", help="flask-s3 builds only")
    args = parser.parse_args()
    app_dir = trees.build_large(WORK / "trees", args.mib * 1024 * 1024)
    sides: dict[str, list[str] | None] = {}
    if args.base:
        base = Path(args.base).resolve()
        compile_ours(base, ROOT)
        sides["base"] = launcher(base, "base")
    sides["this"] = launcher(ROOT, "this")
    if not args.no_aws:
        sides["aws"] = None
    server = LocalS3(
        access_key="BENCH" + secrets.token_hex(6).upper(), secret_key=secrets.token_urlsafe(24)
    ).start()
    got: dict[str, list[Sample]] = {name: [] for name in sides}
    try:
        names = list(sides)
        for rep in range(args.reps):
            for name in names[rep % len(names) :] + names[: rep % len(names)]:
                tool = "aws s3 cp" if name == "aws" else "flask-s3"
                target = fresh_target(server, app_dir)
                sample = run_tool(tool, target, server, None, None, sides[name])
                assert sample.ok, sample.note
                got[name].append(sample)
                print(
                    f"rep {rep + 1} {name:5} wall {sample.wall:6.2f} s  "
                    f"cpu {sample.client_cpu:5.2f} s  server cpu {sample.server_cpu:5.2f} s  "
                    f"rss {sample.rss_mb:4.0f} MB",
                    flush=True,
                )
    finally:
        server.stop()
    print(f"{args.mib} MiB, {args.reps} runs each (medians)")
    for name, samples in got.items():
        walls = [s.wall for s in samples]
        print(
            f"{name:5} wall {statistics.median(walls):6.2f} s (min {min(walls):.2f}, max "
            f"{max(walls):.2f})  cpu {statistics.median(s.client_cpu for s in samples):5.2f} s"
            f"  server cpu {statistics.median(s.server_cpu for s in samples):5.2f} s"
            f"  rss {statistics.median(s.rss_mb for s in samples):4.0f} MB"
        )
    for other in ("base", "aws"):
        if other in got:
            ratios = [t.wall / o.wall for t, o in zip(got["this"], got[other], strict=True)]
            print(f"this/{other} median ratio {statistics.median(ratios):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
