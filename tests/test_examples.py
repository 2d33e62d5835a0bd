"""The example app, and the CI recipe whose commands must exist with the flags it uses."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml
from click.testing import CliRunner

from flask_s3.cli import main

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "examples" / "ci" / "github-actions.yml"


def flask_s3_commands() -> list[list[str]]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    commands = []
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            for line in str(step.get("run", "")).splitlines():
                line = line.split(">", 1)[0].strip()
                if line.startswith("flask-s3 "):
                    commands.append(shlex.split(line)[1:])
    return commands


def test_workflow_commands_and_flags_exist():
    commands = flask_s3_commands()
    assert {c[0] for c in commands} == {"plan", "apply"}
    for command in commands:
        help_text = CliRunner().invoke(main, [command[0], "--help"]).output
        assert "Usage: " in help_text, command
        for flag in (a for a in command[1:] if a.startswith("--")):
            assert re.search(rf"(^|\s){re.escape(flag)}\b", help_text), (command[0], flag)


def test_workflow_updates_one_comment_found_by_the_renderers_marker():
    from flask_s3.render import MARKER

    text = WORKFLOW.read_text()
    assert MARKER in text and "updateComment" in text and "createComment" in text
    assert "--format markdown" in text and "--out plan.json" in text
    assert "aws_secret_access_key" not in text.lower()


def test_example_page_uses_s3_urls_and_local_ones_when_off():
    from examples.shop import create_app

    html = create_app().test_client().get("/").get_data(as_text=True)
    assets = re.findall(r'(?:href|src)="([^"]+)"', html)
    assert assets and all(
        a.startswith("https://flask-s3-example.s3.amazonaws.com/") for a in assets
    )
    local = create_app(USE_S3=False).test_client().get("/").get_data(as_text=True)
    local_assets = re.findall(r'(?:href|src)="([^"]+)"', local)
    assert local_assets and all(a.startswith(("/static/", "/admin/assets/")) for a in local_assets)
    client = create_app(USE_S3=False).test_client()
    for url in local_assets:
        assert client.get(url).status_code == 200, url
