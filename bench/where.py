"""Where flask-s3's no-op and 1% runs spend their time, on loopback and through the delay proxy.

    python -m bench.where [--rtt-ms 40] [--tree webapp|small] [--quick]

For each link and phase: wall time of the plain command; interpreter start (``python -c
pass``) and the import of the CLI (``-X importtime``); main-thread time in each stage from
cProfile (``cumtime`` of the stage's function: loading the app, the local scan, the remote
scan, the bucket settings, the plan, the lock, the uploads, the manifest write); and, behind
the proxy, every round trip with its start and end. Nothing here is written into RESULTS.md:
it is for reading, and for a report on where the time goes.
"""

from __future__ import annotations

import argparse
import pstats
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from flask_s3.tools.seaweedfs import LocalS3

from . import trees
from .proxy import DelayProxy
from .run import fresh_target, run_tool
from .tools import WORK, command

# (file, function, label): main-thread cumulative time of each stage of `flask-s3 apply`
STAGES = [
    ("snapshot.py", "snapshot", "snapshot: local scan || remote gather, then plan"),
    ("remote/inventory.py", "gather_remote", "  gather_remote (main thread waits here)"),
    ("remote/inventory.py", "bucket_exists", "    bucket exists?"),
    ("remote/inventory.py", "list_under", "    listing"),
    ("bucket.py", "read_settings", "    bucket settings (policy / CORS GETs)"),
    ("concurrent/futures/_base.py", "result", "  waiting on other threads (scan, manifest)"),
    ("remote/inventory.py", "gather_heads", "  HEADs of keys the manifest does not vouch for"),
    ("planner.py", "make_plan", "  make_plan"),
    ("apply.py", "apply_plan", "apply_plan (lock, uploads, manifest)"),
    ("lock.py", "_acquire", "  lock acquire"),
    ("apply.py", "run_concurrently", "  uploads"),
    ("apply.py", "write_manifest", "  manifest write"),
]


def _cum(stats: pstats.Stats, file_end: str, func: str) -> float:
    total = 0.0
    for (path, _line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        if name == func and path.endswith(file_end):
            total = max(total, row[3])
    return total


def _python_start() -> float:
    best = float("inf")
    for _ in range(5):
        began = time.monotonic()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        best = min(best, time.monotonic() - began)
    return best


def _imports(argv: list[str], cwd: str, env: dict[str, str]) -> tuple[float, list[str]]:
    """Seconds spent importing during one real run (``-X importtime``), and the top imports."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "flask_s3", *argv[1:]],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
    )
    total = 0
    by_package: dict[str, int] = {}
    for line in result.stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[2].strip():
            continue
        try:
            self_us, cumulative_us = int(parts[0].split(":")[1]), int(parts[1])
        except (ValueError, IndexError):
            continue  # the header line
        name = parts[2].strip()
        package = name.split(".")[0]
        by_package[package] = by_package.get(package, 0) + self_us
        if not parts[2].startswith("  "):
            total += cumulative_us
    best = sorted(by_package.items(), key=lambda kv: -kv[1])[:14]
    return total / 1e6, [
        f"{us / 1e6:7.3f}  {name} (self time, all its modules)" for name, us in best
    ]


def _py_spy(argv: list[str], cwd: str, env: dict[str, str]) -> list[str]:
    """Busy samples of every thread, charged to the innermost flask_s3 function (or import)."""
    spy = str(Path(sys.executable).parent / "py-spy")
    with tempfile.NamedTemporaryFile(suffix=".txt") as raw:
        subprocess.run(
            [
                *(spy, "record", "-r", "250", "--threads", "-f", "raw", "-o", raw.name, "--"),
                *(sys.executable, "-m", "flask_s3", *argv[1:]),
            ],
            cwd=cwd,
            env=env,
            capture_output=True,
            check=False,
        )
        text = Path(raw.name).read_text()
    counts: dict[str, int] = {}
    total = 0
    for line in text.splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        total += int(n)
        frames = stack.split(";")
        where = "other (interpreter, stdlib)"
        if any("_find_and_load" in f for f in frames):
            where = "imports"
        else:
            for frame in reversed(frames):
                if "flask_s3/" in frame:
                    name, _, loc = frame.partition(" (")
                    where = f"{loc.split('flask_s3/')[1].split(':')[0]} {name}"
                    break
        counts[where] = counts.get(where, 0) + int(n)
    best = sorted(counts.items(), key=lambda kv: -kv[1])[:15]
    return [f"{n / max(total, 1):6.1%}  {where}" for where, n in best]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rtt-ms", type=float, default=40.0)
    parser.add_argument("--tree", default="webapp", choices=["webapp", "small"])
    parser.add_argument("--files", type=int, default=0, help="a scale tree instead of --tree")
    parser.add_argument("--links", default="loopback,latency", help="loopback, latency or both")
    parser.add_argument(
        "--py-spy", action="store_true", help="also sample every thread with py-spy (bench extra)"
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    spec = trees.chosen(args.tree, args.files, args.quick)
    app_dir = trees.build(spec, WORK / "trees")
    change = trees.changed_files(spec)
    server = LocalS3(
        access_key="BENCH" + secrets.token_hex(6).upper(), secret_key=secrets.token_urlsafe(24)
    ).start()
    proxy = DelayProxy("127.0.0.1", server.port or 0, args.rtt_ms).start()
    try:
        print(f"python -c pass: {_python_start():.3f} s (best of 5)")
        links = [("loopback", None), (f"{args.rtt_ms:.0f} ms RTT", proxy)]
        for link, front in links:
            if ("loopback" if front is None else "latency") not in args.links:
                continue
            target = fresh_target(server, app_dir, front)
            print(f"\n== {link}: {spec.files} files")
            run_tool("flask-s3", target, server, None, None)  # cold, not reported
            argv, env = command("flask-s3", target)
            total, top = _imports(argv, str(app_dir), env)
            print(f"imports during a no-op run (-X importtime): {total:.3f} s; largest:")
            print("   " + "\n   ".join(top))
            for phase in ("no-op", "1% changed"):
                walls = []
                for _ in range(args.reps):
                    if phase == "1% changed":
                        trees.apply_change(app_dir, change)
                    try:
                        sample = run_tool("flask-s3", target, server, front, None)
                    finally:
                        if phase == "1% changed":
                            trees.undo_change(app_dir, change)
                            run_tool("flask-s3", target, server, None, None)
                    walls.append(sample.wall)
                print(f"\n-- {phase}: wall {sorted(walls)[len(walls) // 2]:.3f} s (median)")
                if sample.rounds:
                    r = sample.rounds
                    print(
                        f"   round trips {r.connections + r.requests} ({r.connections} "
                        f"connections), critical path {r.critical}, start-up {r.startup:.3f} s,"
                        f" floor {r.floor:.3f} s"
                    )
                    print("   " + "\n   ".join(sample.timeline))
                if phase == "1% changed":
                    trees.apply_change(app_dir, change)
                argv, env = command("flask-s3", target)
                with tempfile.NamedTemporaryFile(suffix=".prof") as prof:
                    began = time.monotonic()
                    subprocess.run(
                        [
                            sys.executable,
                            "-m",
                            "cProfile",
                            "-o",
                            prof.name,
                            "-m",
                            "flask_s3",
                            *argv[1:],
                        ],
                        cwd=app_dir,
                        env=env,
                        capture_output=True,
                        check=False,
                    )
                    wall = time.monotonic() - began
                    if phase == "1% changed":
                        trees.undo_change(app_dir, change)
                        run_tool("flask-s3", target, server, None, None)
                    stats = pstats.Stats(prof.name)
                print(f"   cProfile run: wall {wall:.3f} s; main-thread cumulative seconds:")
                for file_end, func, label in STAGES:
                    print(f"   {_cum(stats, file_end, func):7.3f}  {label}")
                if args.py_spy:
                    if phase == "1% changed":
                        trees.apply_change(app_dir, change)
                    try:
                        lines = _py_spy(argv, str(app_dir), env)
                    finally:
                        if phase == "1% changed":
                            trees.undo_change(app_dir, change)
                            run_tool("flask-s3", target, server, None, None)
                    print("   py-spy, busy samples of all threads by flask-s3 function:")
                    print("   " + "\n   ".join(lines))
    finally:
        proxy.stop()
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
