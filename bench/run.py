"""`make bench`: flask-s3 against its peers, side by side, on one private SeaweedFS.

    python -m bench.run [--quick] [--reps N] [--tools "flask-s3,aws s3 sync"] [--out FILE]

Phases per tool, each on a fresh bucket: cold upload, no-op re-run, re-run after the same
seeded 1% of files changed. Wall time, client CPU (the tool's process tree), server CPU
(SeaweedFS) and the requests the server counted. Tool order rotates between repetitions.
Writes bench/RESULTS.md from what it measured.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import secrets
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import flask_s3
from flask_s3.seaweedfs import LocalS3

from . import trees
from .tools import WORK, Target, command, install_peers, versions

ALL_TOOLS = [
    "flask-s3",
    "aws s3 sync",
    "rclone sync",
    "rclone sync --checksum --fast-list",
    "s3cmd sync",
    "Flask-S3 0.3.3",
    "raw put_object",
]
PEERS = [t for t in ALL_TOOLS if t not in ("flask-s3", "raw put_object")]
PHASES = ("cold", "no-op", "1% changed")


@dataclass
class Sample:
    wall: float
    client_cpu: float
    server_cpu: float
    requests: dict[str, int]
    ok: bool
    note: str = ""


@dataclass
class Results:
    samples: dict[tuple[str, str, str], list[Sample]] = field(default_factory=dict)

    def add(self, tree: str, tool: str, phase: str, sample: Sample) -> None:
        self.samples.setdefault((tree, tool, phase), []).append(sample)

    def median(self, tree: str, tool: str, phase: str) -> float | None:
        got = [s.wall for s in self.samples.get((tree, tool, phase), []) if s.ok]
        return statistics.median(got) if got else None


def server_cpu(server: LocalS3) -> float:
    if server.process is None:
        return 0.0
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / ticks


def run_tool(tool: str, target: Target, server: LocalS3) -> Sample:
    argv, env = command(tool, target)
    before_counts = server.request_counts()
    before_server = server_cpu(server)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=target.app_dir, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    counts = server.request_counts()
    delta = {
        k: v - before_counts.get(k, 0) for k, v in counts.items() if v != before_counts.get(k, 0)
    }
    ok = result.returncode in (0, 2)
    if tool == "raw put_object" and ok:
        wall = float(result.stdout.strip().splitlines()[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    note = "" if ok else (result.stderr or result.stdout).strip()[-300:]
    return Sample(wall, cpu, server_cpu(server) - before_server, delta, ok, note)


def make_bucket(server: LocalS3, name: str) -> None:
    import boto3
    from botocore.config import Config

    boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        config=Config(s3={"addressing_style": "path"}),
    ).create_bucket(Bucket=name)


def fresh_target(server: LocalS3, app_dir: Path) -> Target:
    """A new, empty bucket on the server and what a tool needs to sync ``app_dir`` to it."""
    bucket = f"b-{secrets.token_hex(6)}"
    make_bucket(server, bucket)
    return Target(
        server.endpoint_url,
        server.host,
        server.access_key or "",
        server.secret_key or "",
        bucket,
        app_dir,
    )


def bench_tree(
    name: str,
    spec: trees.TreeSpec,
    tools: list[str],
    reps: int,
    cold_reps: int,
    server: LocalS3,
    results: Results,
) -> None:
    app_dir = trees.build(spec, WORK / "trees")
    change = trees.changed_files(spec)
    for rep in range(reps):
        order = tools[rep % len(tools) :] + tools[: rep % len(tools)]
        for tool in order:
            if rep >= cold_reps and tool != "flask-s3":
                continue
            target = fresh_target(server, app_dir)
            phases = PHASES if tool != "raw put_object" else ("cold",)
            for phase in phases:
                if phase == "1% changed":
                    trees.apply_change(app_dir, change)
                try:
                    sample = run_tool(tool, target, server)
                finally:
                    if phase == "1% changed":
                        trees.undo_change(app_dir, change)
                results.add(name, tool, phase, sample)
                status = f"{sample.wall:7.2f} s" if sample.ok else "FAILED " + sample.note[:80]
                print(f"  [{name} rep {rep + 1}] {tool:<36} {phase:<11} {status}", flush=True)


def url_for_bench() -> dict[str, float]:
    """ns per call, cycling over 1,000 file names."""
    script = Path(__file__).parent / "urlfor.py"
    out: dict[str, float] = {}
    for python, label in (
        (sys.executable, "new"),
        (str(WORK / "flask-s3-0.3.3/bin/python"), "old"),
    ):
        result = subprocess.run([python, str(script), label], capture_output=True, text=True)
        for line in result.stdout.splitlines():
            key, value = line.split("=")
            out[key] = float(value)
    return out


def plan_peak_rss(server: LocalS3, app_dir: Path) -> float:
    """Peak RSS (MB) of `flask-s3 plan` on the tree, after an apply."""
    target = fresh_target(server, app_dir)
    argv, env = command("flask-s3", target)
    subprocess.run(argv, cwd=app_dir, env=env, capture_output=True, check=False)
    argv[1] = "plan"
    child = subprocess.Popen(
        argv, cwd=app_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, _, usage = os.wait4(child.pid, 0)
    return usage.ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small trees, one repetition")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--cold-reps-small",
        type=int,
        default=1,
        help="repetitions of the slow small-tree runs of peers",
    )
    parser.add_argument("--tools", default=",".join(ALL_TOOLS))
    parser.add_argument("--out", default=str(Path(__file__).parent / "RESULTS.md"))
    args = parser.parse_args()
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    reps = 1 if args.quick else args.reps
    shapes = trees.QUICK if args.quick else trees.TREES
    WORK.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    log: list[str] = []
    print("Installing peers (once) ...", flush=True)
    missing = install_peers(log)
    # Every tool runs from compiled bytecode, as pip leaves an installed package. Our checkout
    # is an editable install, and with PYTHONDONTWRITEBYTECODE set (as on some CI images) its
    # bytecode would otherwise be recompiled on every run and charged to flask-s3.
    compileall.compile_dir(Path(flask_s3.__file__).parent, quiet=1)
    tools = [t for t in tools if not any(t.startswith(m) for m in missing)]
    results = Results()
    server = LocalS3(
        access_key="BENCH" + secrets.token_hex(6).upper(), secret_key=secrets.token_urlsafe(24)
    )
    server.start()
    try:
        print(f"SeaweedFS at {server.endpoint_url}", flush=True)
        bench_tree("webapp", shapes["webapp"], tools, reps, reps, server, results)
        bench_tree(
            "small", shapes["small"], tools, reps, min(reps, args.cold_reps_small), server, results
        )
        rss = plan_peak_rss(server, WORK / "trees" / "small")
    finally:
        server.stop()
    urls = url_for_bench()
    elapsed = time.perf_counter() - started
    from .report import write_report

    write_report(
        Path(args.out), results, tools, missing, versions(), urls, rss, elapsed, args, shapes
    )
    print(f"\nWrote {args.out} ({elapsed / 60:.1f} min).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
