"""bench/RESULTS.md from the measured samples (nothing here is typed by hand)."""

from __future__ import annotations

import os
import platform
import statistics
from argparse import Namespace
from pathlib import Path
from typing import Any

TARGETS = """\
Targets (issue 28; medians, ratios from one run):
- 40 ms RTT: webapp cold <= 0.5x best peer; webapp and 20k no-op and 1% <= 0.75x best peer.
- Loopback: webapp no-op and 1% <= 1.0x best peer; 20k no-op and 1% <= 0.75x.
- 200,000 files: no-op <= 0.5x rclone --checksum --fast-list, and at 40 ms RTT <= 0.25x;
  `plan` peak RSS <= 300 MB.
- A 1 GiB file <= 1.1x `aws s3 cp`, RSS <= 150 MB.
- flask_s3's own import under 50 ms on the no-op path."""

PHASES = ("cold", "no-op", "1% changed")
NOT_PEERS = ("flask-s3", "raw put_object", "aws s3 cp")

LATENCY_METHOD = """\
Method. Every tool talks to the bench's own proxy (`bench/proxy.py`) on loopback instead of
the server. The proxy delays every byte by half the RTT in each direction, keeps order within a
direction and has no bandwidth cap; a new connection costs one RTT before its first byte may
leave (the TCP handshake; no TLS here, so HTTPS would add one more). Per client connection it
records the handshake as one exchange and every request/response exchange as one more: an
exchange starts when the first client byte after the server last spoke would have been sent,
and ends when the last byte of the answer is delivered. *Round trips* counts all of them
(handshakes included). *Critical path* is the longest chain of exchanges, across all
connections, in which each starts only after the previous one ended: round trips this tool
did one after another and never overlapped. *Floor* = start-up (process launch to its first
connection, measured) + critical path x RTT: the time this tool's sequence of round trips
cannot beat on this link, however fast its CPU work; wall minus floor is time spent on work
that did not overlap the network (local scan, hashing, parsing, bandwidth-bound bodies)."""


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


def _med(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _cell(results: Any, section: str, tool: str, phase: str) -> str:
    """Median seconds, or why there is none ("over N s", "failed", "not run: ...")."""
    samples = results.samples.get((section, tool, phase), [])
    if not samples:
        return ""
    good = results.good(section, tool, phase)
    if good:
        return f"{_med([s.wall for s in good]):.2f}"
    capped = [s for s in samples if s.capped]
    if capped:
        return capped[0].note
    note = samples[0].note
    return note if note.startswith("not run") else "failed"


def _best_peer(
    results: Any, section: str, tools: list[str], phase: str
) -> tuple[float, str] | None:
    meds = [(results.median(section, p, phase), p) for p in tools if p not in NOT_PEERS]
    found = [(m, p) for m, p in meds if m is not None]
    return min(found) if found else None


def _requests(good: list[Any]) -> str:
    keys = sorted({k for s in good for k in s.requests})
    reqs = {k: _med([s.requests.get(k, 0) for s in good]) for k in keys}
    return ", ".join(f"{k} {int(v)}" for k, v in reqs.items() if v) or "none"


def _phase_table(results: Any, section: str, tools: list[str], phase: str) -> list[str]:
    aws = results.median(section, "aws s3 sync", phase)
    best = _best_peer(results, section, tools, phase)
    latency = section.startswith("latency/")
    head = "| tool | median s | min-max | n | vs aws | vs best peer | requests (server) "
    rule = "| --- | ---: | ---: | ---: | ---: | ---: | --- "
    if latency:
        head += "| connections | round trips | critical path | start-up s | floor s "
        rule += "| ---: | ---: | ---: | ---: | ---: "
    head += "| client CPU s | server CPU s | peak RSS MB |"
    rule += "| ---: | ---: | ---: |"
    lines = [f"### {phase}", "", head, rule]
    for tool in tools:
        samples = results.samples.get((section, tool, phase), [])
        if not samples:
            continue
        good = results.good(section, tool, phase)
        if not good:
            blanks = "| | | | | " if latency else ""
            reason = _cell(results, section, tool, phase)
            note = samples[0].note[:60].replace("|", "/").replace("\n", " ")
            lines.append(f"| {tool} | {reason} | | {len(samples)} | | | {note} {blanks}| | | |")
            continue
        walls = [s.wall for s in good]
        med = _med(walls)
        row = (
            f"| {tool} | {med:.2f} | {min(walls):.2f}-{max(walls):.2f} | {len(good)} | "
            f"{f'{med / aws:.2f}x' if aws else ''} | "
            f"{f'{med / best[0]:.2f}x' if best else ''} | {_requests(good)} | "
        )
        if latency:
            rounds = [s.rounds for s in good if s.rounds]
            row += (
                f"{_med([r.connections for r in rounds]):.0f} | "
                f"{_med([r.connections + r.requests for r in rounds]):.0f} | "
                f"{_med([r.critical for r in rounds]):.0f} | "
                f"{_med([r.startup for r in rounds]):.2f} | "
                f"{_med([r.floor for r in rounds]):.2f} | "
            )
        row += (
            f"{_med([s.client_cpu for s in good]):.2f} | "
            f"{_med([s.server_cpu for s in good]):.2f} | "
            f"{_med([s.rss_mb for s in good]):.0f} |"
        )
        lines.append(row)
    if best:
        lines += ["", f"Fastest peer: {best[1]} ({best[0]:.2f} s)."]
    return [*lines, ""]


def _name(section: str) -> str:
    """``large/1073741824`` -> ``1 GiB file``; ``scale/200000`` -> ``200,000 files``."""
    kind, _, rest = section.partition("/")
    if kind == "large":
        return f"{int(rest) / 2**30:g} GiB file"
    if kind == "scale":
        return f"{int(rest):,} files"
    if kind == "latency" and rest.isdigit():
        return f"40 ms RTT, {int(rest):,} files"
    return section


def _ratio_target(
    results: Any, section: str, tools: list[str], phase: str, limit: float, peer: str | None
) -> str:
    ours = results.median(section, "flask-s3", phase)
    if peer is None:
        best = _best_peer(results, section, tools, phase)
    else:
        cands = [(results.median(section, p, phase), p) for p in tools if p.startswith(peer)]
        found = [(m, p) for m, p in cands if m is not None]
        best = min(found) if found else None
    if ours is None or best is None:
        return f"- {_name(section)} {phase} <= {limit}x {peer or 'best peer'}: not measured"
    ratio = ours / best[0]
    verdict = "met" if ratio <= limit else "MISSED"
    return (
        f"- {_name(section)} {phase} <= {limit}x {peer or 'best peer'}: **{verdict}**, "
        f"{ratio:.2f}x ({ours:.2f} s vs {best[1]} {best[0]:.2f} s)"
    )


def target_lines(results: Any, tools: list[str], scale_files: list[int], large: str) -> list[str]:
    out: list[str] = []

    def present(sec: str) -> bool:
        return any(k[0] == sec for k in results.samples)

    if present("latency/webapp"):
        out.append(_ratio_target(results, "latency/webapp", tools, "cold", 0.5, None))
    for sec in ("latency/webapp", "latency/20000"):
        if present(sec):
            for phase in PHASES[1:]:
                out.append(_ratio_target(results, sec, tools, phase, 0.75, None))
    for sec, limit in (("loopback/webapp", 1.0), ("loopback/small", 0.75)):
        if present(sec):
            for phase in PHASES[1:]:
                out.append(_ratio_target(results, sec, tools, phase, limit, None))
    top_latency = "latency/200000"
    if present(top_latency):
        out.append(
            _ratio_target(results, top_latency, tools, "no-op", 0.25, "rclone sync --checksum")
        )
    if scale_files:
        top = f"scale/{max(scale_files)}"
        if any(k[0] == top for k in results.samples):
            out.append(_ratio_target(results, top, tools, "no-op", 0.5, "rclone sync --checksum"))
            rss = results.plan_rss.get(top)
            if rss is not None:
                verdict = "met" if rss <= 300 else "MISSED"
                out.append(
                    f"- {_name(top)} peak RSS of `plan` <= 300 MB: **{verdict}**, {rss:.0f} MB"
                )
            mid = sorted(scale_files)[-2] if len(scale_files) > 1 else None
            for phase in PHASES[1:]:
                a = results.median(f"scale/{mid}", "flask-s3", phase) if mid else None
                b = results.median(top, "flask-s3", phase)
                if a and b and mid:
                    growth = b / a
                    files = max(scale_files) / mid
                    verdict = "met" if growth <= files else "MISSED"
                    out.append(
                        f"- {_name(top)} {phase} grows no faster than linearly from {mid:,}: "
                        f"**{verdict}**, x{growth:.1f} time for x{files:.0f} files "
                        f"({a:.2f} s -> {b:.2f} s)"
                    )
    own = getattr(results, "import_ms", {}).get("own")
    if own is not None:
        verdict = "met" if own < 50 else "MISSED"
        out.append(
            f"- flask_s3's own import on the no-op path < 50 ms (`-X importtime`): **{verdict}**, "
            f"{own:.0f} ms ({results.import_ms['with_deps']:.0f} ms with what it imports "
            "beyond Flask; bench/importtime.py)"
        )
    if large and any(k[0] == large for k in results.samples):
        out.append(_ratio_target(results, large, ["aws s3 cp"], "cold", 1.1, "aws s3 cp"))
        good = results.good(large, "flask-s3", "cold")
        if good:
            rss = _med([s.rss_mb for s in good])
            verdict = "met" if rss <= 150 else "MISSED"
            out.append(f"- {_name(large)} flask-s3 peak RSS <= 150 MB: **{verdict}**, {rss:.0f} MB")
    return out


def _scale_tables(results: Any, tools: list[str], sizes: list[int], plot: str | None) -> list[str]:
    lines = [
        "## Scale (loopback, small files of 1-8 KiB)",
        "",
        "Seeded trees from `bench/trees.py` (`scale_spec`). aws s3 sync, s3cmd sync and rclone "
        "--checksum --fast-list decide from size, mtime / LastModified and ETag only, so they "
        "share one bucket seeded by flask-s3's cold run (each puts it back after its 1% run, "
        "untimed); flask-s3 uses that bucket too. rclone sync (modtime in metadata) and Flask-S3 "
        "0.3.3 (its `.file-hashes`) need their own cold run first, stopped at the cap. Peak RSS "
        "is the tool's process tree during the run.",
        "",
    ]
    cols = " | ".join(f"{n:,}" for n in sizes)
    rule = " | ".join("---:" for _ in sizes)
    row_tools = [t for t in tools if t != "raw put_object"]
    for phase, what in (
        ("no-op", "time s"),
        ("1% changed", "time s"),
        ("no-op", "peak RSS MB"),
        ("cold", "time s"),
    ):
        lines += [f"### {phase}, {what}", "", f"| tool | {cols} |", f"| --- | {rule} |"]
        for tool in row_tools:
            cells = []
            for n in sizes:
                sec = f"scale/{n}"
                if what == "time s":
                    cells.append(_cell(results, sec, tool, phase))
                else:
                    good = results.good(sec, tool, phase)
                    cells.append(f"{_med([s.rss_mb for s in good]):.0f}" if good else "")
            if any(cells):
                lines.append(f"| {tool} | {' | '.join(cells)} |")
        lines.append("")
    rss = [
        f"{results.plan_rss[f'scale/{n}']:.0f}" for n in sizes if f"scale/{n}" in results.plan_rss
    ]
    if rss:
        lines += [
            f"Peak RSS of `flask-s3 plan`: {' / '.join(rss)} MB at "
            f"{' / '.join(f'{n:,}' for n in sizes)} files.",
            "",
        ]
    if plot:
        lines += [f"![time against file count]({plot})", ""]
    return lines


def _large_table(results: Any, section: str) -> list[str]:
    size = int(section.split("/")[1])
    aws = results.median(section, "aws s3 cp", "cold")
    lines = [
        f"## One large file ({size / 2**30:.2f} GiB), cold upload, loopback",
        "",
        "flask-s3 `apply` of a tree holding only that file, against `aws s3 cp --recursive` of "
        "the same folder (boto3's multipart transfer: 8 MiB parts, 10 threads).",
        "",
        "| tool | median s | min-max | n | vs aws s3 cp | requests (server) | client CPU s "
        "| peak RSS MB |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for tool in ("flask-s3", "aws s3 cp"):
        good = results.good(section, tool, "cold")
        samples = results.samples.get((section, tool, "cold"), [])
        if not good:
            if samples:
                lines.append(f"| {tool} | failed | | | | {samples[0].note[:80]} | | |")
            continue
        walls = [s.wall for s in good]
        med = _med(walls)
        lines.append(
            f"| {tool} | {med:.2f} | {min(walls):.2f}-{max(walls):.2f} | {len(good)} | "
            f"{f'{med / aws:.2f}x' if aws else ''} | {_requests(good)} | "
            f"{_med([s.client_cpu for s in good]):.2f} | {_med([s.rss_mb for s in good]):.0f} |"
        )
    return [*lines, ""]


def make_plot(results: Any, tools: list[str], sizes: list[int], path: Path) -> str | None:
    """Time against file count for every tool (no-op, 1%, cold); None without matplotlib.

    Cold runs of the tools that share flask-s3's seeded bucket are not measured at scale.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.5))
    for ax, phase in zip(axes, (*PHASES[1:], PHASES[0]), strict=True):
        for tool in tools:
            if tool == "raw put_object":
                continue
            xs, ys, over_x, over_y = [], [], [], []
            for n in sizes:
                sec = f"scale/{n}"
                med = results.median(sec, tool, phase)
                capped = [s for s in results.samples.get((sec, tool, phase), []) if s.capped]
                if med is not None:
                    xs.append(n)
                    ys.append(med)
                elif capped:
                    over_x.append(n)
                    over_y.append(capped[0].wall)
            if not xs and not over_x:
                continue
            (line,) = ax.plot(xs, ys, marker="o", label=tool)
            if over_x:
                ax.plot(over_x, over_y, marker="^", linestyle="none", color=line.get_color())
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(sizes, [f"{n:,}" for n in sizes])
        ax.minorticks_off()
        ax.set_xlabel("files")
        ax.set_title(f"{phase} (loopback; ^ = stopped at the cap)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("wall seconds (median)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def write_report(
    out: Path,
    results: Any,
    tools: list[str],
    missing: dict[str, str],
    versions: dict[str, str],
    urls: dict[str, float],
    elapsed: float,
    args: Namespace,
    shapes: dict[str, Any],
) -> None:
    sections = {k[0] for k in results.samples}
    sizes = sorted({int(s.split("/")[1]) for s in sections if s.startswith("scale/")})
    large = next((s for s in sections if s.startswith("large/")), "")
    flags = " ".join(f for f in (f"--profile {args.profile}", "--quick" if args.quick else "") if f)
    lines = [
        "# flask-s3 benchmark results",
        "",
        f"Written by `python -m bench.run {flags}` in {elapsed / 60:.1f} minutes "
        f"({', '.join(f'{p} {t / 60:.1f} min' for p, t in results.elapsed.items())}). "
        f"Machine: {machine()}.",
        "Server: one private SeaweedFS (`weed mini`) on loopback for every tool, fresh bucket per "
        "tool and repetition unless said otherwise. Times are wall-clock seconds of the whole "
        "command (start-up included); medians with min-max over the repetitions shown in `n`. "
        f"Runs longer than {args.cap_s or (60 if args.quick else 300):.0f} s are stopped and "
        'shown as "over N s".',
        "",
        TARGETS,
        "",
        "## Targets met or missed (computed from the tables below)",
        "",
        *target_lines(results, tools, sizes, large),
        "",
    ]
    for tree, shape in shapes.items():
        section = f"loopback/{tree}"
        if section not in sections:
            continue
        lines += [f"## Loopback: {tree} ({shape.files} files)", ""]
        for phase in PHASES:
            lines += _phase_table(results, section, tools, phase)
    if "latency/webapp" in sections:
        lines += [
            f"## {args.rtt_ms:.0f} ms RTT: webapp ({shapes['webapp'].files} files)",
            "",
            LATENCY_METHOD,
            "",
        ]
        for phase in PHASES:
            lines += _phase_table(results, "latency/webapp", tools, phase)
        for phase in PHASES[1:]:
            good = results.good("latency/webapp", "flask-s3", phase)
            if not good:
                continue
            sample = sorted(good, key=lambda s: s.wall)[len(good) // 2]
            more = len(sample.timeline) - 80
            lines += [
                f"flask-s3 {phase} round trips as the proxy saw them (seconds from the first "
                "connection: start, end, connection, request):",
                "",
                "```",
                *sample.timeline[:80],
                *([f"... {more} more"] if more > 0 else []),
                "```",
                "",
            ]
    for files in sorted(
        int(s.split("/")[1]) for s in sections if s.startswith("latency/") and s[8:].isdigit()
    ):
        lines += [
            f"## {args.rtt_ms:.0f} ms RTT: {files:,} small files (no-op and 1%)",
            "",
            "Each bucket was seeded straight to the server by the tool itself (flask-s3's seed "
            "is shared by the tools that compare size and ETag only), then every timed run went "
            "through the delay proxy, as in the webapp section.",
            "",
        ]
        for phase in PHASES[1:]:
            lines += _phase_table(results, f"latency/{files}", tools, phase)
    if sizes:
        plot_path = out.parent / ("scale-quick.png" if args.quick else "scale.png")
        lines += _scale_tables(results, tools, sizes, make_plot(results, tools, sizes, plot_path))
    if large:
        lines += _large_table(results, large)
    flask = urls.get("flask_template")
    if flask:
        lines += ["## url_for (ns per call, 1,000 file names)", ""]
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
        *(
            [
                "## Peak RSS of `flask-s3 plan` on the small tree: "
                f"{results.plan_rss['loopback/small']:.0f} MB",
                "",
            ]
            if "loopback/small" in results.plan_rss
            else []
        ),
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
        "- aws s3 cp (large file only): `aws s3 cp --recursive static s3://BUCKET/static "
        "--endpoint-url URL --only-show-errors`",
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
