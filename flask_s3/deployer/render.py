"""Renderers for a plan's dict form: text for a terminal, Markdown for a pull request, JSON.

They read only the dict (``Plan.to_dict()`` or a saved plan.json), so the three cannot
disagree and a saved plan renders exactly as it did when it was made.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

from ..plan import ActionKind
from ..safe_output import mask_data, term_safe

MARKER = "<!-- flask-s3-plan -->"
GITHUB_LIMIT = 65_000

SYMBOLS = {kind.value: kind.symbol for kind in ActionKind}
COLOURS = {"+": "32", "~": "33", "*": "36", "-": "31", "!": "35"}
LEGEND = "+ upload/create   ~ update   * update headers only (no re-upload)   - delete"
CDN_SAMPLE = 10
CDN_LEGEND = "! invalidate cached copies in the CDN (after every upload and delete)"


def human_size(n: int | None) -> str:
    """Decimal units, as S3's console shows them: ``512 B``, ``1.2 kB``, ``3.4 MB``."""
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def summary_line(plan: Mapping[str, Any]) -> str:
    """``Plan: 3 to upload, 1 to update, 0 to delete, 412 unchanged.`` or ``No changes. ...``"""
    counts = plan["counts"]
    if not plan.get("has_changes"):
        return f"No changes. {counts['unchanged']} objects up to date."
    parts = []
    if counts["create_bucket"]:
        parts.append(f"create bucket {plan['bucket']['name']}")
    if counts["update_bucket"]:
        parts.append("update bucket settings")
    parts += [
        f"{counts['upload']} to upload",
        f"{counts['update']} to update",
        f"{counts['update_headers']} to update headers",
        f"{counts['delete']} to delete",
        f"{counts['unchanged']} unchanged",
    ]
    return "Plan: " + ", ".join(parts) + "." + _cdn_summary(plan)


# -- issue 14: the invalidate-cdn action ----------------------------------------------------


def _cdn_action(plan: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return next((a for a in plan["actions"] if a["action"] == "invalidate-cdn"), None)


def _cdn_summary(plan: Mapping[str, Any]) -> str:
    action = _cdn_action(plan)
    if action is None:
        return ""
    sent = len(action["cdn"]["invalidate"])
    why = " (an earlier apply's invalidation never went through)"
    return (
        f" CloudFront: invalidate {sent} path{'s' if sent != 1 else ''}"
        f"{why if action['reason'] == 'pending' else ''}."
    )


def _cdn_head(action: Mapping[str, Any]) -> str:
    cdn = action["cdn"]
    paths, sent = cdn["paths"], cdn["invalidate"]
    head = f"CloudFront {cdn['distribution_id']}: {len(paths)} changed path"
    head += "" if len(paths) == 1 else "s"
    if sent != paths:
        head += f", sent as {len(sent)}"
    return head + (", wait" if cdn.get("wait") else "")


def _cdn_lines(action: Mapping[str, Any]) -> list[str]:
    cdn = action["cdn"]
    lines = [f"    invalidate: {p}" for p in cdn["invalidate"]]
    if cdn["invalidate"] != cdn["paths"]:
        # Each path is an action's key above too: a sample is enough here; JSON has them all.
        lines += [f"    changed: {p}" for p in cdn["paths"][:CDN_SAMPLE]]
        if len(cdn["paths"]) > CDN_SAMPLE:
            lines.append(f"    ... and {len(cdn['paths']) - CDN_SAMPLE} more changed paths")
    return lines


def _where(plan: Mapping[str, Any]) -> str:
    bucket = plan["bucket"]
    where = f"s3://{bucket['name']}/{bucket.get('prefix') or ''}"
    if bucket.get("endpoint_url"):
        # A plan saved before user:password@ was refused may still carry it.
        where += " at " + re.sub(r"://[^/@]*@", "://***@", str(bucket["endpoint_url"]))
    if bucket.get("region"):
        where += f" ({bucket['region']})"
    return where


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True) if value is not None else "(none)"


def _q(value: Any) -> str:
    return "(unset)" if value is None else json.dumps(value)


def render_text(plan: Mapping[str, Any], *, color: bool = False) -> str:
    """The plan for a terminal; ANSI colour only when ``color`` (the CLI: only on a TTY)."""

    plan = mask_data(plan)
    painted: dict[int, str] = {}  # line index -> symbol, coloured once the line is made inert

    def paint(symbol: str, text: str) -> str:
        painted[len(lines)] = symbol
        return text

    lines = [f"flask-s3 plan for {_where(plan)}"]
    actions = plan["actions"]
    if actions:
        lines += [LEGEND, *([CDN_LEGEND] if _cdn_action(plan) else []), ""]
    for action in actions:
        symbol = SYMBOLS[action["action"]]
        kind = action["action"]
        if kind == "invalidate-cdn":
            head = f"{symbol} {kind}  [{action['reason']}]  {_cdn_head(action)}"
            lines.append(paint(symbol, head))
            lines += _cdn_lines(action)
            continue
        if action["key"] is None:
            lines.append(paint(symbol, f"{symbol} {kind} ({action['reason']})"))
            if kind != "create-bucket":
                for label in ("before", "after"):
                    rows = _pretty(action.get(label)).splitlines()
                    lines.append(f"    {label}: {rows[0]}")
                    lines += [f"      {row}" for row in rows[1:]]
            continue
        size = human_size(action.get("size"))
        named = f"{action['key']} ({action['logical']})" if action.get("logical") else action["key"]
        lines.append(paint(symbol, f"{symbol} {named}  [{kind}: {action['reason']}]  {size}"))
        for name, (old, new) in sorted((action.get("changed") or {}).items()):
            lines.append(f"    {name}: {_q(old)} -> {_q(new)}")
    for warning in plan.get("warnings", []):
        lines.append(f"warning: {warning}")
    lines += ["", summary_line(plan)]
    # Names come from file names and saved plans: each line is made one inert line (a newline
    # could forge a CI workflow command, an ESC a terminal escape) before colour is added.
    out = [term_safe(line) for line in lines]
    if color:
        for index, symbol in painted.items():
            out[index] = f"\033[{COLOURS[symbol]}m{out[index]}\033[0m"
    return "\n".join(out) + "\n"


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&!])")
_WORD_JOINER = "\u2060"  # invisible; breaks @mentions and autolinks without changing the look


def md_code(text: str, *, in_table: bool = False) -> str:
    """Untrusted text (a key, a path) as a Markdown code span: never a link, mention or HTML.

    The fence is one backtick longer than any run inside, padded with spaces when the text
    starts or ends with a backtick, so no key can close the span. Control characters are
    written out (one line); in a table cell ``|`` is escaped, as GFM reads it even in a span.
    """
    text = term_safe(text)
    if in_table:
        text = text.replace("|", "\\|")
    if not text:
        return "(empty)"
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_text(text: str) -> str:
    """Untrusted text inside Markdown prose: no emphasis, link, image, HTML, mention, autolink."""
    text = _MD_SPECIAL.sub(r"\\\1", term_safe(text))
    text = text.replace("@", "@" + _WORD_JOINER).replace("://", ":" + _WORD_JOINER + "//")
    return re.sub(r"(?i)\b(www)\.", lambda m: m.group(1) + _WORD_JOINER + ".", text)


def render_markdown(plan: Mapping[str, Any], *, limit: int = GITHUB_LIMIT) -> str:
    """A pull-request comment: summary, counts table, actions in a collapsible section."""
    plan = mask_data(plan)
    counts = plan["counts"]
    head = [
        MARKER,
        f"### flask-s3: {md_text(summary_line(plan))}",
        "",
        f"Bucket: {md_code(_where(plan))}",
        "",
        "| create bucket | bucket settings | upload | update | update headers | delete "
        "| unchanged |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        "| {create_bucket} | {update_bucket} | {upload} | {update} | {update_headers} "
        "| {delete} | {unchanged} |".format(**counts),
        "",
    ]
    for warning in plan.get("warnings", []):
        head.append(f"> warning: {md_text(warning)}")
    actions = plan["actions"]
    if not actions:
        return "\n".join(head) + "\n"
    head += [
        "<details><summary>" + f"{len(actions)} changes" + "</summary>",
        "",
        "| | action | key | size | reason |",
        "| --- | --- | --- | ---: | --- |",
    ]
    tail = ["", "</details>", ""]
    budget = limit - len("\n".join(head + tail)) - 200
    rows: list[str] = []
    for index, action in enumerate(actions):
        key = action["key"]
        label = md_code(key, in_table=True) if key is not None else "(bucket)"
        if action["action"] == "invalidate-cdn":
            sent = ", ".join(md_code(p, in_table=True) for p in action["cdn"]["invalidate"])
            label = f"{md_text(_cdn_head(action))}: {sent}"
        if action.get("logical"):
            label += f" ({md_code(action['logical'], in_table=True)})"
        row = (
            f"| {SYMBOLS[action['action']]} | {md_text(action['action'])} | {label} "
            f"| {human_size(action.get('size'))} | {md_text(str(action['reason']))} |"
        )
        if budget - len(row) - 1 < 0:
            rows.append(f"| | | ... and {len(actions) - index} more | | |")
            break
        budget -= len(row) + 1
        rows.append(row)
    return "\n".join(head + rows + tail)


def render_origin(plan: Mapping[str, Any]) -> str:
    """Where a saved plan says it came from, for ``show``: a reviewer sees what it names.

    ``apply --plan`` takes none of it from the file (it refuses a plan whose spec or app
    differ from the ones given); the values are quoted so control characters stay visible.
    """
    spec, options, tool = plan["spec"], plan["options"], plan.get("tool") or {}
    prune = f"on, at most {options['max_delete']} deletes" if options.get("prune") else "off"
    lines = [
        f"Saved plan made {json.dumps(plan.get('created_at'))} by flask-s3 "
        f"{json.dumps(tool.get('version'))}",
        f"  spec: {json.dumps(spec.get('path'))} ({json.dumps(spec.get('digest'))})",
        f"  app: {json.dumps(plan.get('app')) if plan.get('app') else '(the Flask CLI app)'}",
        f"  options: prune {prune}; force-refresh "
        f"{'on' if options.get('force_refresh') else 'off'}",
        "  `flask-s3 apply SPEC --plan PLAN.json` refuses it unless given this spec and app.",
        "",
    ]
    return "\n".join(lines) + "\n"


def render_json(plan: Mapping[str, Any]) -> str:
    """The plan's JSON form, secrets masked (control characters are escaped by JSON itself)."""
    return json.dumps(mask_data(plan), indent=2, sort_keys=True) + "\n"


RENDERERS: dict[str, Callable[..., str]] = {
    "text": render_text,
    "markdown": render_markdown,
    "json": render_json,
}


def render(
    plan: Mapping[str, Any], fmt: Literal["text", "markdown", "json"] | str, *, color: bool = False
) -> str:
    """Render ``plan`` as ``text``, ``markdown`` or ``json``."""
    if fmt == "text":
        return render_text(plan, color=color)
    return RENDERERS[fmt](plan)
