"""bench/RESULTS.md from the measured samples (nothing here is typed by hand)."""

from __future__ import annotations

import os
import platform
import statistics
from argparse import Namespace
from pathlib import Path
from typing import Any

TARGETS = """\
Targets (from issue 4): cold upload no slower than the fastest peer; no-op and 1% runs at most
0.75x the fastest peer; `url_for` in templates at most 1.2x `flask.url_for`; `flask-s3 plan`
on 20,000 files at most 150 MB peak RSS."""


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {cpu}, {mem:.0f} GiB, {platform.platform()}"


def write_report(
    out: Path,
    results: Any,
    tools: list[str],
    missing: dict[str, str],
    versions: dict[str, str],
    urls: dict[str, float],
    rss: float,
    elapsed: float,
    args: Namespace,
    shapes: dict[str, Any],
) -> None:
    lines = [
        "# flask-s3 benchmark results",
        "",
        f"Written by `python -m bench.run{' --quick' if args.quick else ''}` in "
        f"{elapsed / 60:.1f} minutes. Machine: {machine()}.",
        "Server: one private SeaweedFS (`weed mini`) on loopback for every tool, fresh bucket per "
        "tool and repetition. Times are wall-clock seconds of the whole command (start-up "
        "included); medians with min-max over the repetitions shown in `n`.",
        "",
        TARGETS,
        "",
    ]
    peers = [t for t in tools if t not in ("flask-s3", "raw put_object")]
    for tree, shape in shapes.items():
        size = "" if not hasattr(shape, "files") else f" ({shape.files} files)"
        lines += [f"## {tree}{size}", ""]
        for phase in ("cold", "no-op", "1% changed"):
            aws = results.median(tree, "aws s3 sync", phase)
            peer_meds = [(results.median(tree, p, phase), p) for p in peers]
            peer_meds = [(m, p) for m, p in peer_meds if m is not None]
            best = min(peer_meds) if peer_meds else None
            lines += [
                f"### {phase}",
                "",
                "| tool | median s | min-max | n | vs aws | vs best peer | requests (server) "
                "| client CPU s | server CPU s |",
                "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
            ]
            for tool in tools:
                samples = results.samples.get((tree, tool, phase), [])
                good = [s for s in samples if s.ok]
                if not samples:
                    continue
                if not good:
                    lines.append(
                        f"| {tool} | failed | | {len(samples)} | | | {samples[0].note[:60]} | | |"
                    )
                    continue
                walls = [s.wall for s in good]
                med = statistics.median(walls)
                reqs = {
                    k: statistics.median([s.requests.get(k, 0) for s in good])
                    for k in good[0].requests
                }
                req_text = ", ".join(f"{k} {int(v)}" for k, v in sorted(reqs.items()) if v)
                vs_aws = f"{med / aws:.2f}x" if aws else ""
                vs_best = f"{med / best[0]:.2f}x" if best else ""
                lines.append(
                    f"| {tool} | {med:.2f} | {min(walls):.2f}-{max(walls):.2f} | {len(good)} | "
                    f"{vs_aws} | {vs_best} | {req_text or 'none'} | "
                    f"{statistics.median(s.client_cpu for s in good):.2f} | "
                    f"{statistics.median(s.server_cpu for s in good):.2f} |"
                )
            if best:
                lines.append("")
                lines.append(f"Fastest peer: {best[1]} ({best[0]:.2f} s).")
            lines.append("")
    flask = urls.get("flask_template")
    lines += ["## url_for (ns per call, 1,000 file names)", ""]
    if flask:
        lines += ["| call | ns | vs flask.url_for in a template |", "| --- | ---: | ---: |"]
        for key, label in (
            ("flask_template", "flask.url_for, template"),
            ("flask_s3_template", "flask-s3 url_for, template"),
            ("flask_direct", "flask.url_for, from Python"),
            ("flask_s3_direct", "flask-s3 url_for, from Python"),
            ("flask_s3_fp_template", "flask-s3 url_for, template, fingerprinting on"),
            ("flask_s3_fp_direct", "flask-s3 url_for, from Python, fingerprinting on"),
            ("flask_s3_033_template", "Flask-S3 0.3.3, template"),
        ):
            if key in urls:
                lines.append(f"| {label} | {urls[key]:.0f} | {urls[key] / flask:.2f}x |")
        if "flask_s3_fp_direct" in urls and "flask_s3_direct" in urls:
            extra = urls["flask_s3_fp_direct"] - urls["flask_s3_direct"]
            lines += ["", f"Fingerprinting adds {extra:.0f} ns per direct call (one dict lookup)."]
    lines += [
        "",
        f"## Peak RSS of `flask-s3 plan` on the small tree: {rss:.0f} MB",
        "",
        "## Versions",
        "",
        *[f"- {k}: {v}" for k, v in versions.items()],
        "",
    ]
    if missing:
        lines += ["## Unavailable", "", *[f"- {k}: {v}" for k, v in missing.items()], ""]
    lines += [
        "## Commands",
        "",
        "Each tool syncs `TREE/static` to `s3://BUCKET/static` on the same endpoint with the same "
        "credentials (see `bench/tools.py` for the exact argv):",
        "",
        "- flask-s3: `flask-s3 apply deploy.yaml` (16 concurrent requests)",
        "- aws: `aws s3 sync static s3://BUCKET/static --endpoint-url URL --only-show-errors`",
        "- rclone: `rclone sync static bench:BUCKET/static` (and `--checksum --fast-list`)",
        "- s3cmd: `s3cmd -c CFG sync --no-progress --quiet static/ s3://BUCKET/static/`",
        "- Flask-S3 0.3.3: `flask_s3.create_all(app)` with `FLASKS3_ONLY_MODIFIED=True`, "
        "endpoint from `AWS_ENDPOINT_URL_S3`",
        "- raw put_object: 16 threads of boto3 `put_object` with bodies already in memory, no "
        "hashing; only the upload loop is timed",
        "",
        "flask-s3 keeps a local MD5 cache keyed by size, mtime and inode "
        "(`FLASK_S3_CACHE_DIR`, one per bucket here); the trees have fixed mtimes, so no-op and "
        "1% runs hit it as a re-run from the same checkout would. A fresh CI checkout would hash "
        "every file.",
        "",
    ]
    out.write_text("\n".join(lines))
