"""Renderers for a verify report's dict form (``VerifyReport.to_dict()``): text, Markdown, JSON.

Like the plan's renderers they read only the dict, so the three cannot disagree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..safe_output import printable
from .render import GITHUB_LIMIT, md_code, md_text

MARKER = "<!-- flask-s3-verify -->"


def summary(report: Mapping[str, Any]) -> str:
    """``Verify: all 12 URLs hold.`` / ``Verify: 2 of 12 URLs differ.``"""
    checked, failed = report["checked"], report["failed"]
    of = (
        f" (a sample of {checked} of {report['total']}, seed {report['seed']})"
        if (report.get("sample") is not None and checked < report["total"])
        else ""
    )
    noun = "URL" if checked == 1 else "URLs"
    if failed:
        return f"Verify: {failed} of {checked} {noun} differ{of}."
    return f"Verify: all {checked} {noun} hold{of}."


def _how(report: Mapping[str, Any]) -> str:
    if report["mode"] == "anonymous":
        return "anonymously, as a browser"
    return "signed, through the S3 API"


def _safe_line(text: str) -> str:
    # A file name may hold a newline or a control character, a URL a masked secret: one
    # report line stays one inert line (a CI log reads "::warning::" at a line start).
    return printable(text)


def render_text(report: Mapping[str, Any], *, color: bool = False) -> str:
    """For a terminal: what was fetched, how, each failing URL with what differs."""
    lines = [
        f"Fetched {report['checked']} URLs under {_safe_line(report['base'])} "
        f"({_how(report)}) in {report['seconds']:.1f} s."
    ]
    for failure in report["failures"]:
        mark = "x"
        if color:
            mark = "\x1b[31mx\x1b[0m"
        kept = "  [kept from an earlier deploy]" if failure.get("kept") else ""
        lines.append(f"{mark} {_safe_line(failure['url'])}{kept}")
        for problem in failure["problems"]:
            lines.append(f"    {_safe_line(problem)}")
    for note in report["notes"]:
        lines.append(f"note: {_safe_line(note)}")
    lines += ["", summary(report)]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    """A table cell from text a server or a file name chose: no table break, HTML, link,
    image or @-mention."""
    return md_text(printable(text))


def _code(url: str) -> str:
    """A URL in a code span that nothing in it can close, in a table cell."""
    return md_code(printable(url), in_table=True)


def render_markdown(report: Mapping[str, Any], *, limit: int = GITHUB_LIMIT) -> str:
    """For a job summary or a pull request: the verdict, counts, and a table of failures."""
    verdict = "passed" if report["ok"] else "FAILED"
    head = [
        MARKER,
        f"### flask-s3 verify {verdict}: {summary(report)}",
        "",
        f"Fetched {_code(report['base'])} {_how(report)} in {report['seconds']:.1f} s.",
        "",
        "| checked | passed | failed |",
        "| ---: | ---: | ---: |",
        f"| {report['checked']} | {report['passed']} | {report['failed']} |",
        "",
    ]
    for note in report["notes"]:
        head.append(f"> note: {_md(note)}")
    failures = report["failures"]
    if not failures:
        return "\n".join(head) + "\n"
    head += ["", "| URL | what differs |", "| --- | --- |"]
    budget = limit - len("\n".join(head)) - 200
    rows: list[str] = []
    for index, failure in enumerate(failures):
        kept = " (kept from an earlier deploy)" if failure.get("kept") else ""
        problems = "<br>".join(_md(p) for p in failure["problems"])
        row = f"| {_code(failure['url'])}{kept} | {problems} |"
        if budget - len(row) - 1 < 0:
            rows.append(f"| ... and {len(failures) - index} more | |")
            break
        budget -= len(row) + 1
        rows.append(row)
    return "\n".join(head + rows) + "\n"


def render_json(report: Mapping[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=True) + "\n"


def render(report: Mapping[str, Any], fmt: str, *, color: bool = False) -> str:
    """Render ``report`` as ``text``, ``markdown`` or ``json``."""
    if fmt == "markdown":
        return render_markdown(report)
    if fmt == "json":
        return render_json(report)
    return render_text(report, color=color)
