"""`make bench`: flask-s3 against its peers, side by side, on one private SeaweedFS.

    python -m bench.run [--profile loopback,latency,latency-scale,scale,large] [--quick]
                        [--rtt-ms 40]
                        [--reps N] [--cap-s S] [--tools "flask-s3,aws s3 sync"] [--out FILE]

Profiles (all by default):
- loopback: webapp and small trees straight to the server; cold upload, no-op re-run and re-run
  after the same seeded 1% of files changed, each tool on a fresh bucket.
- latency: the webapp tree through the bench's delay proxy (``--rtt-ms``), with round trips,
  the critical path and the floor it implies.
- latency-scale: no-op and 1% runs of 20,000 and 200,000 small files through the delay proxy,
  each bucket seeded straight to the server first (at 200,000 only rclone --checksum
  --fast-list runs beside flask-s3).
- scale: no-op and 1% runs on 2,000 / 20,000 / 200,000 small files, with peak RSS, and a plot.
- large: cold upload of one 1 GiB file, flask-s3 apply against ``aws s3 cp``.
Wall time, client CPU and peak RSS (the tool's process tree), server CPU (SeaweedFS) and the
requests the server counted. Tool order rotates between repetitions. A run longer than
``--cap-s`` is stopped and reported as "over N s". Writes bench/RESULTS.md (and
bench/scale.png) from what it measured; ``--quick`` writes under bench/work/ instead.
"""

from __future__ import annotations

import argparse
import compileall
import dataclasses
import os
import secrets
import signal
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import flask_s3
from flask_s3.tools.seaweedfs import LocalS3

from . import trees
from .proxy import DelayProxy, critical_path
from .tools import HERE, WORK, Target, command, install_peers, versions

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
SPAWN = HERE / "spawn.py"


@dataclass
class Rounds:
    """What the delay proxy saw during one run."""

    connections: int
    requests: int
    critical: int
    startup: float  # process launch to its first connection, s
    floor: float  # startup + critical x RTT, s


@dataclass
class Sample:
    wall: float
    client_cpu: float
    server_cpu: float
    requests: dict[str, int]
    ok: bool
    note: str = ""
    rss_mb: float = 0.0
    capped: bool = False
    rounds: Rounds | None = None
    timeline: list[str] = field(default_factory=list)


@dataclass
class Results:
    samples: dict[tuple[str, str, str], list[Sample]] = field(default_factory=dict)
    elapsed: dict[str, float] = field(default_factory=dict)  # profile -> seconds
    plan_rss: dict[str, float] = field(default_factory=dict)  # section -> MB
    import_ms: dict[str, float] = field(default_factory=dict)  # bench/importtime.py's numbers

    def add(self, tree: str, tool: str, phase: str, sample: Sample) -> None:
        self.samples.setdefault((tree, tool, phase), []).append(sample)

    def good(self, tree: str, tool: str, phase: str) -> list[Sample]:
        return [s for s in self.samples.get((tree, tool, phase), []) if s.ok and not s.capped]

    def median(self, tree: str, tool: str, phase: str) -> float | None:
        got = [s.wall for s in self.good(tree, tool, phase)]
        return statistics.median(got) if got else None


def server_cpu(server: LocalS3) -> float:
    if server.process is None:
        return 0.0
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / ticks


def run_tool(
    tool: str,
    target: Target,
    server: LocalS3,
    proxy: DelayProxy | None = None,
    cap: float | None = None,
    argv0: list[str] | None = None,
) -> Sample:
    """Run ``tool`` once; wall time, CPU and peak RSS of its process tree; killed after ``cap``.

    The tool is started by ``bench/spawn.py`` (see there why), which also times it.
    """
    argv, env = command(tool, target)
    if argv0 is not None:  # another build of the same tool (bench/ab.py)
        argv = [*argv0, *argv[1:]]
    before_counts = server.request_counts()
    before_server = server_cpu(server)
    if proxy is not None:
        proxy.take()
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r") as usage_file,
    ):
        launcher = [sys.executable, "-I", "-S", str(SPAWN), usage_file.name]
        started = time.monotonic()
        child = subprocess.Popen(
            [*launcher, *argv],
            cwd=target.app_dir,
            env=env,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        waiter = threading.Thread(target=child.wait)
        waiter.start()
        waiter.join(cap)
        capped = waiter.is_alive()
        if capped:
            os.killpg(child.pid, signal.SIGKILL)
            waiter.join()
        wall = time.monotonic() - started
        usage = usage_file.read().split()
        rss_mb = cpu = 0.0
        if len(usage) == 5 and not capped:
            rss_mb = int(usage[0]) / 1024
            cpu = float(usage[1]) + float(usage[2])
            started = float(usage[3])  # the tool's own fork, not the launcher's start
            wall = float(usage[4]) - started
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    counts = server.request_counts()
    delta = {
        k: v - before_counts.get(k, 0) for k, v in counts.items() if v != before_counts.get(k, 0)
    }
    ok = child.returncode in (0, 2) and not capped
    if tool == "raw put_object" and ok:
        wall = float(stdout.strip().splitlines()[-1])
    note = "" if ok else (stderr or stdout).strip()[-300:]
    if capped:
        note = f"over {cap:g} s"
    rounds = None
    timeline: list[str] = []
    if proxy is not None:
        time.sleep(0.05)  # let the proxy see the last closes
        window = proxy.take()
        critical = critical_path([(e.start, e.end) for e in window.exchanges])
        startup = (window.first_accept - started) if window.first_accept is not None else wall
        rounds = Rounds(
            window.connections, window.requests, critical, startup, startup + critical * proxy.rtt
        )
        if tool == "flask-s3":
            base = window.first_accept or started
            timeline = [
                f"{e.start - base:8.3f} {e.end - base:8.3f}  conn {e.conn:<3} {e.label}"
                for e in sorted(window.exchanges, key=lambda e: e.start)
            ]
    return Sample(
        wall,
        cpu,
        server_cpu(server) - before_server,
        delta,
        ok,
        note,
        rss_mb,
        capped,
        rounds,
        timeline,
    )


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


def fresh_target(server: LocalS3, app_dir: Path, proxy: DelayProxy | None = None) -> Target:
    """A new, empty bucket on the server and what a tool needs to sync ``app_dir`` to it.

    With ``proxy``, the tool is pointed at the proxy (the bucket is still made directly).
    """
    bucket = f"b-{secrets.token_hex(6)}"
    make_bucket(server, bucket)
    front = proxy or server
    return Target(
        front.endpoint_url,
        front.host,
        server.access_key or "",
        server.secret_key or "",
        bucket,
        app_dir,
    )


def _show(section: str, label: str, tool: str, phase: str, sample: Sample) -> None:
    status = f"{sample.wall:7.2f} s" if sample.ok else "FAILED " + sample.note[:80]
    if sample.capped:
        status = f"{sample.note} (stopped)"
    extra = f"  rss {sample.rss_mb:.0f} MB"
    if sample.rounds:
        r = sample.rounds
        extra += f"  conns {r.connections} reqs {r.requests} critical {r.critical}"
    print(f"  [{section} {label}] {tool:<36} {phase:<11} {status}{extra}", flush=True)


def run_phase(
    tool: str,
    phase: str,
    target: Target,
    change: list[tuple[str, int, int]],
    server: LocalS3,
    proxy: DelayProxy | None = None,
    cap: float | None = None,
    restore: Target | None = None,
) -> Sample:
    """One timed run of ``phase``: the 1% run changes the tree first and puts it back after,
    and with ``restore`` the tool itself puts the bucket back too (not timed)."""
    changed = phase == "1% changed"
    if changed:
        trees.apply_change(target.app_dir, change)
    try:
        return run_tool(tool, target, server, proxy, cap)
    finally:
        if changed:
            trees.undo_change(target.app_dir, change)
            if restore is not None:
                run_tool(tool, restore, server, None, None)


def bench_tree(
    section: str,
    app_dir: Path,
    change: list[tuple[str, int, int]],
    tools: list[str],
    reps: int,
    cold_reps: int,
    server: LocalS3,
    results: Results,
    proxy: DelayProxy | None = None,
    cap: float | None = None,
) -> None:
    """Cold, no-op and 1% runs of every tool, each on a fresh bucket; order rotates per rep."""
    for rep in range(reps):
        order = tools[rep % len(tools) :] + tools[: rep % len(tools)]
        for tool in order:
            if rep >= cold_reps and tool != "flask-s3":
                continue
            target = fresh_target(server, app_dir, proxy)
            phases = PHASES if tool != "raw put_object" else ("cold",)
            for phase in phases:
                sample = run_phase(tool, phase, target, change, server, proxy, cap)
                results.add(section, tool, phase, sample)
                _show(section, f"rep {rep + 1}", tool, phase, sample)
                if sample.capped:
                    break


# Tools whose change detection reads only size, mtime / LastModified and ETag: any uploader's
# objects look the same to them, so at scale they share one bucket seeded by flask-s3's cold run
# (restored by the tool itself after its 1% run) instead of paying 200,000 PUTs each.
SHARED_SEED = ("aws s3 sync", "s3cmd sync", "rclone sync --checksum --fast-list")


def bench_scale(
    files: int,
    tools: list[str],
    server: LocalS3,
    results: Results,
    cap: float,
) -> None:
    spec = trees.scale_spec(files)
    print(f"  building {spec.name} ...", flush=True)
    app_dir = trees.build(spec, WORK / "trees")
    change = trees.changed_files(spec)
    section = f"scale/{files}"
    shared = fresh_target(server, app_dir)

    def phases(tool: str, target: Target, cold: bool, restore: bool) -> None:
        for phase in PHASES if cold else PHASES[1:]:
            # a shared bucket is put back as the seed left it
            back = target if restore else None
            sample = run_phase(tool, phase, target, change, server, None, cap, back)
            results.add(section, tool, phase, sample)
            _show(section, "", tool, phase, sample)
            if sample.capped or not sample.ok:
                why = f"not run ({phase} {sample.note if sample.capped else 'failed'})"
                for later in PHASES[PHASES.index(phase) + 1 :]:
                    results.add(section, tool, later, Sample(0, 0, 0, {}, False, why))
                return

    seed = run_tool("flask-s3", shared, server, None, None)
    if "flask-s3" in tools:
        results.add(section, "flask-s3", "cold", seed)
        _show(section, "", "flask-s3", "cold", seed)
        phases("flask-s3", shared, cold=False, restore=True)
        results.plan_rss[section] = plan_rss(shared)
    for tool in tools:
        if tool in ("flask-s3", "raw put_object"):
            continue
        if tool in SHARED_SEED and not seed.ok:
            for phase in PHASES[1:]:
                results.add(section, tool, phase, Sample(0, 0, 0, {}, False, "not run (no seed)"))
        elif tool in SHARED_SEED:
            phases(tool, shared, cold=False, restore=True)
        else:
            phases(tool, fresh_target(server, app_dir), cold=True, restore=False)


# Peers of the latency-scale profile: the fast ones (plain rclone sync HEADs every object, one
# round trip each, and raw put_object has no no-op); at 200,000 files only the peer.
LATENCY_SCALE_PEERS = (
    "aws s3 sync",
    "rclone sync --checksum --fast-list",
    "s3cmd sync",
    "Flask-S3 0.3.3",
)
LATENCY_SCALE_TOP_PEERS = ("rclone sync --checksum --fast-list",)


def bench_latency_scale(
    files: int,
    tools: list[str],
    reps: int,
    server: LocalS3,
    proxy: DelayProxy,
    results: Results,
    cap: float,
) -> None:
    """No-op and 1% runs at a distance on a big tree: each bucket is seeded straight to the
    server (not timed: a cold upload of 20,000 files through the proxy would take a peer many
    minutes and is not a target), then every timed run goes through the delay proxy and each
    1% run is undone by the same tool straight to the server (not timed)."""
    spec = trees.scale_spec(files)
    print(f"  building {spec.name} ...", flush=True)
    app_dir = trees.build(spec, WORK / "trees")
    change = trees.changed_files(spec)
    section = f"latency/{files}"
    peers = LATENCY_SCALE_TOP_PEERS if files >= 100_000 else LATENCY_SCALE_PEERS
    here = [t for t in tools if t == "flask-s3" or t in peers]
    shared = fresh_target(server, app_dir)  # flask-s3 seeds it; size/ETag peers reuse it
    seed = run_tool("flask-s3", shared, server, None, None)
    targets: dict[str, Target] = {}
    for tool in here:
        if tool == "flask-s3" or tool in SHARED_SEED:
            direct = shared if seed.ok else None
        else:
            direct = fresh_target(server, app_dir)
            if not run_tool(tool, direct, server, None, cap).ok:
                direct = None
        if direct is None:
            for phase in PHASES[1:]:
                results.add(section, tool, phase, Sample(0, 0, 0, {}, False, "not run (no seed)"))
            continue
        targets[tool] = direct
        # One untimed no-op through the proxy: a user's endpoint does not change between runs,
        # so neither does anything a tool keeps per endpoint (flask-s3's endpoint decisions).
        warm = dataclasses.replace(direct, endpoint=proxy.endpoint_url, host=proxy.host)
        run_tool(tool, warm, server, proxy, cap)
    for rep in range(reps):
        order = here[rep % len(here) :] + here[: rep % len(here)]
        for tool in order:
            direct = targets.get(tool)
            if direct is None:
                continue
            via = dataclasses.replace(direct, endpoint=proxy.endpoint_url, host=proxy.host)
            for phase in PHASES[1:]:
                sample = run_phase(tool, phase, via, change, server, proxy, cap, direct)
                results.add(section, tool, phase, sample)
                _show(section, f"rep {rep + 1}", tool, phase, sample)


def bench_large(size: int, reps: int, server: LocalS3, results: Results) -> None:
    app_dir = trees.build_large(WORK / "trees", size)
    section = f"large/{size}"
    tools = ["flask-s3", "aws s3 cp"]
    for rep in range(reps):
        for tool in tools[rep % 2 :] + tools[: rep % 2]:
            sample = run_tool(tool, fresh_target(server, app_dir), server)
            results.add(section, tool, "cold", sample)
            _show(section, f"rep {rep + 1}", tool, "cold", sample)


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


def plan_rss(target: Target) -> float:
    """Peak RSS (MB) of `flask-s3 plan` against ``target`` (through the launcher)."""
    argv, env = command("flask-s3", target)
    argv[1] = "plan"
    with tempfile.NamedTemporaryFile("r") as usage_file:
        subprocess.run(
            [sys.executable, "-I", "-S", str(SPAWN), usage_file.name, *argv],
            cwd=target.app_dir,
            env=env,
            capture_output=True,
            check=False,
        )
        return int(usage_file.read().split()[0]) / 1024


def plan_peak_rss(server: LocalS3, app_dir: Path) -> float:
    """Peak RSS (MB) of `flask-s3 plan` on the tree, after an apply."""
    target = fresh_target(server, app_dir)
    argv, env = command("flask-s3", target)
    subprocess.run(argv, cwd=app_dir, env=env, capture_output=True, check=False)
    return plan_rss(target)


def no_op_imports(server: LocalS3, app_dir: Path) -> dict[str, float]:
    """flask-s3's own import time (ms) on a no-op apply of the tree (bench/importtime.py)."""
    from .importtime import measure

    target = fresh_target(server, app_dir)
    argv, env = command("flask-s3", target)
    subprocess.run(argv, cwd=app_dir, env=env, capture_output=True, check=False)
    return measure(argv[1:], env, str(app_dir))


PROFILES = ("loopback", "latency", "latency-scale", "scale", "large")


def compile_ours(*folders: Path) -> None:
    """Every tool runs from compiled bytecode, as pip leaves an installed package. Our checkout
    is an editable install and uv installs without compiling, so with PYTHONDONTWRITEBYTECODE
    set (as here and on some CI images) flask-s3 and its dependencies (Flask, click, PyYAML)
    would be compiled again on every run and charged to flask-s3: compile them once."""
    site = Path(sysconfig.get_paths()["purelib"])
    for folder in (Path(flask_s3.__file__).parent, site, *folders):
        compileall.compile_dir(folder, quiet=1, workers=0)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small trees, one repetition")
    parser.add_argument(
        "--profile",
        default=",".join(PROFILES),
        help=f"comma-separated subset of {', '.join(PROFILES)} (default: all)",
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--cold-reps-small",
        type=int,
        default=1,
        help="repetitions of the slow runs of peers (small tree, latency profile)",
    )
    parser.add_argument("--rtt-ms", type=float, default=40.0, help="round trip of the proxy")
    parser.add_argument(
        "--cap-s",
        type=float,
        default=None,
        help="stop a run after this many seconds and report 'over N s' (default 300, quick 60)",
    )
    parser.add_argument(
        "--scale-files",
        default=None,
        help="file counts of the scale profile (default 2000,20000,200000; quick 200,1000,4000)",
    )
    parser.add_argument(
        "--latency-files",
        default=None,
        help="file counts of the latency-scale profile (default 20000,200000; quick 1000,4000)",
    )
    parser.add_argument("--large-mib", type=int, default=None, help="default 1024 (quick 128)")
    parser.add_argument("--tools", default=",".join(ALL_TOOLS))
    parser.add_argument(
        "--out",
        default=None,
        help="default bench/RESULTS.md (with --quick: bench/work/RESULTS-quick.md)",
    )
    args = parser.parse_args()
    profiles = [p.strip() for p in args.profile.split(",") if p.strip()]
    unknown = [p for p in profiles if p not in PROFILES]
    if unknown:
        parser.error(f"unknown profile {', '.join(unknown)}; choose from {', '.join(PROFILES)}")
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    reps = 1 if args.quick else args.reps
    shapes = trees.QUICK if args.quick else trees.TREES
    cap = args.cap_s or (60.0 if args.quick else 300.0)
    scale_files = [
        int(n)
        for n in (args.scale_files or ("200,1000,4000" if args.quick else "2000,20000,200000"))
        .replace("_", "")
        .split(",")
    ]
    latency_files = [
        int(n)
        for n in (args.latency_files or ("1000,4000" if args.quick else "20000,200000"))
        .replace("_", "")
        .split(",")
    ]
    large = (args.large_mib or (128 if args.quick else 1024)) * 1024 * 1024
    out = (
        Path(args.out)
        if args.out
        else (WORK / "RESULTS-quick.md" if args.quick else Path(__file__).parent / "RESULTS.md")
    )
    WORK.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    log: list[str] = []
    print("Installing peers (once) ...", flush=True)
    missing = install_peers(log)
    compile_ours()
    tools = [t for t in tools if not any(t.startswith(m) for m in missing)]
    results = Results()
    urls: dict[str, float] = {}
    server = LocalS3(
        access_key="BENCH" + secrets.token_hex(6).upper(), secret_key=secrets.token_urlsafe(24)
    )
    # a stopped bench (SIGTERM) still runs the finally below and takes its server down with it
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    server.start()
    try:
        print(f"SeaweedFS at {server.endpoint_url}", flush=True)
        for profile in profiles:
            began = time.monotonic()
            print(f"Profile {profile}", flush=True)
            if profile == "loopback":
                for name in ("webapp", "small"):
                    spec = shapes[name]
                    app_dir = trees.build(spec, WORK / "trees")
                    cold_reps = reps if name == "webapp" else min(reps, args.cold_reps_small)
                    bench_tree(
                        f"loopback/{name}",
                        app_dir,
                        trees.changed_files(spec),
                        tools,
                        reps,
                        cold_reps,
                        server,
                        results,
                        cap=cap,
                    )
                results.plan_rss["loopback/small"] = plan_peak_rss(
                    server, WORK / "trees" / shapes["small"].name
                )
                results.import_ms = no_op_imports(server, WORK / "trees" / shapes["webapp"].name)
                urls = url_for_bench()
            elif profile == "latency":
                proxy = DelayProxy("127.0.0.1", server.port or 0, args.rtt_ms).start()
                try:
                    spec = shapes["webapp"]
                    bench_tree(
                        "latency/webapp",
                        trees.build(spec, WORK / "trees"),
                        trees.changed_files(spec),
                        [t for t in tools if t != "raw put_object"],
                        reps,
                        min(reps, args.cold_reps_small),
                        server,
                        results,
                        proxy,
                        cap,
                    )
                finally:
                    proxy.stop()
            elif profile == "latency-scale":
                proxy = DelayProxy("127.0.0.1", server.port or 0, args.rtt_ms).start()
                try:
                    for files in latency_files:
                        bench_latency_scale(
                            files,
                            tools,
                            reps if files < 100_000 else min(reps, 2),
                            server,
                            proxy,
                            results,
                            cap,
                        )
                finally:
                    proxy.stop()
            elif profile == "scale":
                for files in scale_files:
                    bench_scale(files, tools, server, results, cap)
            elif profile == "large":
                bench_large(large, reps, server, results)
            results.elapsed[profile] = time.monotonic() - began
            print(f"Profile {profile}: {results.elapsed[profile] / 60:.1f} min", flush=True)
    finally:
        server.stop()
    elapsed = time.monotonic() - started
    from .report import write_report

    write_report(out, results, tools, missing, versions(), urls, elapsed, args, shapes)
    print(f"\nWrote {out} ({elapsed / 60:.1f} min).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
