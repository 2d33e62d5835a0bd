"""Renderers: golden files pin text, Markdown and JSON for sample plans in tests/plans/.

To update the golden files deliberately after a change to a renderer, run
`UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_render.py` and review the diff.
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from flask_s3.deployer.render import (
    MARKER,
    human_size,
    render,
    render_json,
    render_markdown,
    render_text,
    summary_line,
)
from flask_s3.errors import PlanError
from flask_s3.plan import Plan, validate_plan_dict

HERE = Path(__file__).parent
PLANS = {p.stem: p for p in sorted((HERE / "plans").glob("*.json"))}
GOLDEN = HERE / "golden"
SUFFIX = {"text": "txt", "markdown": "md", "json": "json"}


def load(name: str) -> dict[str, Any]:
    return dict(json.loads(PLANS[name].read_text()))


CASES = [(n, f) for n in ("nochange", "mixed", "cdn") for f in SUFFIX] + [("large", "markdown")]


@pytest.mark.parametrize("name, fmt", CASES)
def test_output_matches_golden(name: str, fmt: str):
    out = render(load(name), fmt)
    golden = GOLDEN / f"{name}.{SUFFIX[fmt]}"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(out)
    assert out == golden.read_text()


@pytest.mark.parametrize("name", sorted(PLANS))
def test_sample_plans_fit_the_schema_and_round_trip(name: str):
    data = load(name)
    validate_plan_dict(data)
    assert Plan.from_dict(data).to_dict() == data
    assert json.loads(render_json(data)) == data


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: d.pop("counts"), "damaged"),
        (
            lambda d: d["actions"].append({"action": "explode", "key": "x", "reason": "new"}),
            "damaged",
        ),
        (lambda d: d.update(format_version=99), "made by a newer flask-s3 \\(plan format 99"),
        (lambda d: d["actions"][3].pop("md5"), "damaged"),
    ],
)
def test_broken_plans_are_refused_with_a_reason(damage: Any, message: str):
    data = copy.deepcopy(load("mixed"))
    damage(data)
    with pytest.raises(PlanError, match=message):
        validate_plan_dict(data)


@pytest.mark.parametrize(
    "damage",
    [
        lambda a: a.pop("cdn"),
        lambda a: a.update(key="v2/static/css/page00.css"),
        lambda a: a["cdn"].update(invalidate=[]),
        lambda a: a["cdn"].update(paths=["static/no-leading-slash.css"]),
        lambda a: a.update(reason="etag"),
    ],
)
def test_damaged_cdn_actions_are_refused(damage: Any):
    data = copy.deepcopy(load("cdn"))
    damage(data["actions"][-1])
    with pytest.raises(PlanError, match="damaged"):
        validate_plan_dict(data)


def test_cdn_data_only_on_the_invalidate_cdn_action():
    data = copy.deepcopy(load("cdn"))
    data["actions"][0]["cdn"] = data["actions"][-1]["cdn"]
    with pytest.raises(PlanError, match="damaged"):
        validate_plan_dict(data)


def test_markdown_stays_under_the_limit_and_says_how_many_are_left():
    data = load("large")
    out = render_markdown(data)
    assert len(out) < 65_000
    shown = out.count("| + | upload |")
    match = re.search(r"\.\.\. and (\d+) more", out)
    assert match and shown + int(match.group(1)) == 2000
    small = render_markdown(data, limit=5_000)
    assert len(small) < 5_000 and "... and" in small


def test_markdown_escapes_hostile_keys():
    out = render_markdown(load("mixed"))
    assert out.startswith(MARKER)
    # Keys are code spans: HTML inside one is shown, not run; "|" is escaped for the table.
    assert "| `v2/static/old <script>.js` |" in out
    assert "`v2/static/img/hero a\\|b.png`" in out
    rows = [line for line in out.splitlines() if line.startswith(("| + |", "| ~ |", "| - |"))]
    assert all(line.count(" | ") == 4 for line in rows)


def test_colour_only_when_asked():
    data = load("mixed")
    assert "\033[" not in render_text(data)
    coloured = render_text(data, color=True)
    assert "\033[32m+ v2/static/css/app.css" in coloured
    assert "\033[31m- v2/static/old <script>.js" in coloured


def test_summary_line_is_built_from_counts():
    data = load("mixed")
    assert summary_line(data) == (
        "Plan: create bucket shop-assets, update bucket settings, 2 to upload, 2 to update, "
        "1 to update headers, 1 to delete, 409 unchanged."
    )
    data["counts"]["upload"] = 7
    assert "7 to upload" in summary_line(data)
    assert summary_line(load("nochange")) == "No changes. 412 objects up to date."


@pytest.mark.parametrize(
    "size, shown", [(0, "0 B"), (999, "999 B"), (1000, "1.0 kB"), (1_500_000, "1.5 MB")]
)
def test_human_size(size: int, shown: str):
    assert human_size(size) == shown
