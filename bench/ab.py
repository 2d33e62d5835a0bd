"""Two builds of flask-s3 side by side on one server and tree: ``python -m bench.ab --base DIR``.

``DIR`` is a checkout of another commit (``git archive REV | tar -x -C DIR``); it runs with this
venv's Python and ``DIR`` first on ``PYTHONPATH``. Runs alternate (base, this, base, this...) so
a loaded machine slows both alike; the no-op and 1% medians, their ratio pair by pair, and the
critical path behind the delay proxy are printed. Nothing is written into RESULTS.md.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
from pathlib import Path

from flask_s3.tools.seaweedfs import LocalS3

from . import trees
from .proxy import DelayProxy
from .run import Sample, compile_ours, fresh_target, run_tool
from .tools import WORK

ROOT = Path(__file__).resolve().parent.parent


def launcher(folder: Path, name: str) -> list[str]:
    script = WORK / f"ab-{name}.sh"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(
        f'#!/bin/sh\nPYTHONPATH="{folder}" exec "{sys.executable}" -m flask_s3 "$@"\n'
    )
    script.chmod(0o755)
    return [str(script)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True, help="a checkout of the other commit")
    parser.add_argument("--this", default="", help="a checkout to measure (default: this one)")
    parser.add_argument("--rtt-ms", type=float, default=40.0, help="0: loopback, no proxy")
    parser.add_argument("--tree", default="webapp", choices=["webapp", "small"])
    parser.add_argument("--files", type=int, default=0, help="a scale tree instead of --tree")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--phases", default="no-op,1%")
    args = parser.parse_args()
    spec = trees.chosen(args.tree, args.files, args.quick)
    app_dir = trees.build(spec, WORK / "trees")
    change = trees.changed_files(spec)
    this = Path(args.this).resolve() if args.this else ROOT
    compile_ours(Path(args.base).resolve(), this)
    sides = {"base": launcher(Path(args.base).resolve(), "base"), "this": launcher(this, "this")}
    server = LocalS3(
        access_key="BENCH" + secrets.token_hex(6).upper(), secret_key=secrets.token_urlsafe(24)
    ).start()
    proxy = DelayProxy("127.0.0.1", server.port or 0, args.rtt_ms).start() if args.rtt_ms else None
    try:
        targets = {}
        for name, argv0 in sides.items():
            targets[name] = fresh_target(server, app_dir, proxy)
            cold = run_tool(
                "flask-s3", fresh_direct(targets[name], server), server, None, None, argv0
            )
            assert cold.ok, cold.note
        print(f"{spec.files} files, rtt {args.rtt_ms:g} ms, {args.reps} pairs")
        for phase in args.phases.split(","):
            got: dict[str, list[Sample]] = {name: [] for name in sides}
            for rep in range(args.reps):
                order = list(sides) if rep % 2 == 0 else list(reversed(sides))
                for name in order:
                    if phase == "1%":
                        trees.apply_change(app_dir, change)
                    try:
                        sample = run_tool(
                            "flask-s3", targets[name], server, proxy, None, sides[name]
                        )
                    finally:
                        if phase == "1%":
                            # put back through the same endpoint, as one machine redeploying
                            # does (bench.run's latency profile runs every phase that way)
                            trees.undo_change(app_dir, change)
                            run_tool("flask-s3", targets[name], server, proxy, None, sides[name])
                    assert sample.ok, sample.note
                    got[name].append(sample)
            for name, samples in got.items():
                walls = [s.wall for s in samples]
                crit = [s.rounds.critical for s in samples if s.rounds]
                reqs = [s.rounds.requests + s.rounds.connections for s in samples if s.rounds]
                starts = [s.rounds.startup for s in samples if s.rounds]
                print(
                    f"{phase:6} {name:5} wall median {statistics.median(walls):.3f} s "
                    f"(min {min(walls):.3f}, max {max(walls):.3f})"
                    + (
                        f", critical path {statistics.median(crit):g}, round trips "
                        f"{statistics.median(reqs):g}, start-up {statistics.median(starts):.3f} s"
                        if crit
                        else ""
                    )
                    + f", cpu {statistics.median(s.client_cpu for s in samples):.2f} s"
                    + f", rss {statistics.median(s.rss_mb for s in samples):.0f} MB"
                )
            ratios = [t.wall / b.wall for t, b in zip(got["this"], got["base"], strict=True)]
            print(f"{phase:6} this/base median ratio {statistics.median(ratios):.2f}")
            if got["this"][-1].timeline:
                print("   last 'this' run:\n   " + "\n   ".join(got["this"][-1].timeline[:40]))
    finally:
        if proxy is not None:
            proxy.stop()
        server.stop()
    return 0


def fresh_direct(target, server):  # type: ignore[no-untyped-def]
    """The same bucket, straight to the server (set-up runs are not measured)."""
    from dataclasses import replace

    return replace(target, endpoint=server.endpoint_url, host=server.host)


if __name__ == "__main__":
    sys.exit(main())
