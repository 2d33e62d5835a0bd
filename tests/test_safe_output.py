"""Issue 22: what flask-s3 prints is safe to print. Hostile file names render inert in the
Markdown comment and the terminal; interpolated secrets are masked in every output; prefixes
and endpoint URLs that would leak or misroute are refused by `validate`.

Run through the command line (a subprocess, as in tests/test_cli.py) against the real local
S3, and a Hypothesis fuzz of both renderers; Markdown is read back with markdown-it-py (a
CommonMark parser, with GFM tables) to see what a reader would get."""

from __future__ import annotations

import copy
import json
import os
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from clirun import flask_s3 as run
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from flask_s3.cli import main
from flask_s3.deployer.render import render_markdown, render_text

HERE = Path(__file__).parent
APP = """
from flask import Flask

def create_app():
    return Flask(__name__, static_folder="static")
"""
HOSTILE_NAMES = [
    "[click me](https:__evil.example_x).css",
    "![pixel](https:__evil.example_p.png).png",
    "@everyone.txt",
    "cc @acme_org @acme-org.txt",
    "<img src=x onerror=alert(1)>.html",
    "tick`s ``and``` more`",
    "www.evil.example.js",
    "mail me@evil.example.txt",
    "x\n::warning title=forged::pwned.txt",
    "osc\x1b]8;;https:__evil.example\x07link\x1b]8;;\x07.txt",
    "bell\x07\rback\x9b2J.txt",
    "rtl\u202egnp.exe",
    "pipe|cell.txt",
    "*bold* _it_ ~~gone~~ <b>.txt",
]


def write_project(root: Path, bucket: str, host: str, names: list[str], extra: str = "") -> None:
    (root / "hostileapp.py").write_text(APP)
    static = root / "static"
    static.mkdir(parents=True, exist_ok=True)
    for name in names:
        (static / name).write_text("x")
    (root / "deploy.yaml").write_text(
        textwrap.dedent(
            f"""\
            version: 1
            app: "hostileapp:create_app()"
            bucket:
              name: {bucket}
              endpoint_url: ${{S3_ENDPOINT}}
              region: us-east-1
            urls:
              scheme: http
              style: path
              bucket_domain: {host}
            """
        )
        + extra
    )


@pytest.fixture
def env(s3_env: Any, s3_server: Any) -> dict[str, str]:
    return {**os.environ, "S3_ENDPOINT": s3_server.endpoint_url}


# -- reading Markdown back ----------------------------------------------------------------


def parse_markdown(text: str) -> list[Token]:
    return MarkdownIt("commonmark").enable("table").enable("strikethrough").parse(text)


def walk(tokens: list[Token]) -> Iterator[Token]:
    for token in tokens:
        yield token
        if token.children:
            yield from walk(token.children)


MENTION = re.compile(r"(?<![\w`])@[A-Za-z0-9]")
AUTOLINK = re.compile(r"(?i)\b(?:https?://|www\.)|[\w.+-]+@[\w-]+\.[\w.]+")
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def assert_inert_markdown(text: str) -> list[Token]:
    """Nothing a reader would click or that would notify anyone; the table intact."""
    tokens = list(walk(parse_markdown(text)))
    ours = re.compile(r"<!-- flask-s3-plan -->|<details><summary>\d+ changes</summary>|</details>")
    html = [t.content for t in tokens if t.type == "html_block"]
    assert all(ours.fullmatch(block.strip()) for block in html), html
    live = {t.type for t in tokens} & {"link_open", "image", "html_inline", "s_open"}
    assert not live, (live, text)
    for token in tokens:
        if token.type == "text":
            # GitHub and GitLab link mentions and bare URLs in text, never in code spans.
            assert not MENTION.search(token.content), token.content
            assert not AUTOLINK.search(token.content), token.content
    assert not CONTROL.search(text)
    heads = cells = 0
    for token in tokens:  # every row has as many cells as its table's header
        if token.type == "thead_open":
            heads = 0
        elif token.type == "th_open":
            heads += 1
        elif token.type == "tr_open":
            cells = 0
        elif token.type == "td_open":
            cells += 1
        elif token.type == "tr_close" and cells:
            assert cells == heads, text
    return tokens


def assert_inert_text(text: str) -> None:
    """One line per item: no control character, no line a CI runner reads as a command."""
    assert not CONTROL.search(text), repr(text)
    for line in text.splitlines():
        assert not line.lstrip().startswith(("::", "##[")), line


# -- through the command line ---------------------------------------------------------------


def test_hostile_file_names_render_inert_in_markdown_and_text(
    tmp_path: Path, env: dict[str, str], s3_server: Any, bucket_name: str
):
    write_project(tmp_path, bucket_name, s3_server.host, HOSTILE_NAMES)
    md = run(tmp_path, "plan", "deploy.yaml", "--format", "markdown", env=env)
    assert md.returncode == 0, md.stderr
    tokens = assert_inert_markdown(md.stdout)
    spans = {t.content for t in tokens if t.type == "code_inline"}
    # Every name is there, whole, in a code span: the backticks did not close it early.
    assert "static/tick`s ``and``` more`" in spans
    assert "static/[click me](https:__evil.example_x).css" in spans
    assert "static/x\\n::warning title=forged::pwned.txt" in spans
    assert "static/<img src=x onerror=alert(1)>.html" in spans
    assert sum(1 for s in spans if s.startswith("static/")) == len(HOSTILE_NAMES)

    text = run(tmp_path, "plan", "deploy.yaml", env=env)
    assert text.returncode == 0, text.stderr
    assert_inert_text(text.stdout + text.stderr)
    assert "static/x\\n::warning title=forged::pwned.txt" in text.stdout
    assert "osc\\x1b]8;;https:__evil.example\\x07link" in text.stdout
    assert "rtl\\u202egnp.exe" in text.stdout and "back\\x9b2J" in text.stdout


def test_a_forged_saved_plan_puts_no_workflow_command_on_stderr(
    tmp_path: Path, env: dict[str, str], s3_server: Any, bucket_name: str
):
    """A saved plan is an artifact a pull request can write: its keys reach the stale-plan
    message on stderr, where a newline would start a `::warning::` line in the CI log."""
    write_project(tmp_path, bucket_name, s3_server.host, ["app.css"])
    assert run(tmp_path, "plan", "deploy.yaml", "--out", "p.json", env=env).returncode == 0
    saved = tmp_path / "p.json"
    data = json.loads(saved.read_text())
    forged = "static/x\n::warning title=forged::pwned\x1b[2J"
    for action in data["actions"]:
        if action["key"] == "static/app.css":
            action["key"] = forged
    saved.write_text(json.dumps(data))
    shown = run(tmp_path, "show", "p.json", env=env)
    assert shown.returncode == 0, shown.stderr
    applied = run(tmp_path, "apply", "deploy.yaml", "--plan", "p.json", env=env)
    assert applied.returncode == 1 and "plan is stale" in applied.stderr
    for text in (shown.stdout, shown.stderr, applied.stdout, applied.stderr):
        assert_inert_text(text)
    assert "static/x\\n::warning title=forged::pwned\\x1b[2J" in applied.stderr
    assert "static/x\\n::warning title=forged::pwned\\x1b[2J" in shown.stdout


def test_an_interpolated_secret_is_masked_in_every_output(
    tmp_path: Path, env: dict[str, str], s3_server: Any, bucket_name: str
):
    secret = env["AWS_SECRET_ACCESS_KEY"]
    extra = "  prefix: v-${AWS_SECRET_ACCESS_KEY}\n"  # inside urls:
    write_project(tmp_path, bucket_name, s3_server.host, ["app.css"], extra)
    outputs = []
    for fmt in ("markdown", "text", "json"):
        result = run(tmp_path, "plan", "deploy.yaml", "--format", fmt, "--out", "p.json", env=env)
        assert result.returncode == 0, result.stderr
        assert "v-***/static/app.css" in result.stdout
        outputs += [result.stdout, result.stderr, (tmp_path / "p.json").read_text()]
    shown = run(tmp_path, "show", "p.json", "--format", "markdown", env=env)
    applied = run(tmp_path, "apply", "deploy.yaml", "--plan", "p.json", env=env)
    assert applied.returncode == 0, applied.stderr
    outputs += [shown.stdout, shown.stderr, applied.stdout, applied.stderr]
    assert all(secret not in text for text in outputs)
    assert "1 uploaded" in applied.stdout
    # The saved plan held only the masked keys, yet the real ones were written.
    assert "No changes" in run(tmp_path, "plan", "deploy.yaml", env=env).stdout


def validate(root: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str] | None = None) -> Any:
    """`flask-s3 validate deploy.yaml` in-process (no S3 needed; a subprocess costs 1 s)."""
    monkeypatch.chdir(root)
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    return CliRunner().invoke(main, ["validate", "deploy.yaml"])


def write_spec(root: Path, body: str) -> Path:
    spec = root / "deploy.yaml"
    spec.write_text("version: 1\nbucket:\n  name: shop-assets\n" + body)
    return spec


def test_schema_errors_mask_an_interpolated_secret(tmp_path: Path, monkeypatch):
    write_spec(tmp_path, "  region: ${DB_PASSWORD}\nurls:\n  scheme: ${URL_SCHEME}\n")
    result = validate(
        tmp_path, monkeypatch, {"DB_PASSWORD": "hunter2-but-longer", "URL_SCHEME": "gopher"}
    )
    assert result.exit_code == 1
    assert "deploy.yaml:4:3: bucket.region: a region looks like" in result.output
    assert 'got "***"' in result.output
    assert "hunter2-but-longer" not in result.output
    # A variable whose name does not look secret is shown: the reviewer needs to see it.
    assert 'deploy.yaml:6:3: urls.scheme: expected one of relative, http, https; got "gopher"' in (
        result.output
    )


@pytest.mark.parametrize(
    "url", ["http://user:${S3_SECRET}@127.0.0.1:9000", "https://admin:pass@s3.example.com/"]
)
def test_credentials_in_the_endpoint_url_are_refused(tmp_path: Path, monkeypatch, url: str):
    write_spec(tmp_path, f"  endpoint_url: {url}\n")
    result = validate(tmp_path, monkeypatch, {"S3_SECRET": "p4ssw0rd-very-secret"})
    assert result.exit_code == 1, result.output
    assert "deploy.yaml:4:3: bucket.endpoint_url: credentials in the URL" in result.output
    assert "AWS credential chain" in result.output
    for leaked in ("p4ssw0rd-very-secret", "admin:pass"):
        assert leaked not in result.output


@pytest.mark.parametrize(
    "prefix, message",
    [
        ("../other", "no . or .. parts"),
        ("./x", "no . or .. parts"),
        ("a/../../b", "no . or .. parts"),
        ("/", "only slashes is the bucket root"),
        ("//", "only slashes is the bucket root"),
        ("a//b", "no empty folder names"),
        ('"a\\\\b"', "not \\"),
        ('"v\\x1b[2J"', "no control characters"),
    ],
)
def test_unsafe_prefixes_fail_validate_located(
    tmp_path: Path, monkeypatch, prefix: str, message: str
):
    write_spec(tmp_path, f"urls:\n  prefix: {prefix}\n")
    result = validate(tmp_path, monkeypatch)
    assert result.exit_code == 1, result.output
    assert "deploy.yaml:5:3: urls.prefix: a prefix " in result.output
    assert message in result.output and result.exception is not None
    assert isinstance(result.exception, SystemExit)  # a clean exit, no traceback


@pytest.mark.parametrize("prefix", ["v2", "/v2/", "assets/shop", "v2.1", "..v2", "a.b/c..d"])
def test_ordinary_prefixes_still_validate(tmp_path: Path, monkeypatch, prefix: str):
    write_spec(tmp_path, f"urls:\n  prefix: {prefix}\n")
    result = validate(tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output


# -- fuzz: the renderers on hostile names ------------------------------------------------------

FRAGMENTS = st.sampled_from(
    [
        "a",
        "Z",
        "0",
        ".",
        "/",
        " ",
        "-",
        "_",
        "*",
        "~",
        "!",
        "[",
        "]",
        "(",
        ")",
        "<",
        ">",
        "|",
        "`",
        "``",
        "```",
        "\\",
        "&",
        "#",
        ":",
        "@",
        "@everyone",
        "@org/team",
        "everyone",
        "http://",
        "https://evil.example",
        "www.",
        "evil.example",
        "<script>",
        "&lt;",
        "&#64;",
        "](",
        "![",
        "\n",
        "\r",
        "\t",
        "\x1b",
        "\x1b]8;;",
        "\x07",
        "\x00",
        "\x7f",
        "\x9b",
        "\u202e",
        "\u2066",
        "\u2028",
        "::warning title=x::",
        "\n::error::",
        "é",
        "\u200b",
    ]
)
NAMES = st.lists(FRAGMENTS, min_size=1, max_size=12).map("".join)
MIXED = json.loads((HERE / "plans" / "mixed.json").read_text())


def hostile_plan(names: list[str], prefix: str, warning: str) -> dict[str, Any]:
    plan = copy.deepcopy(MIXED)
    objects = [a for a in plan["actions"] if a["key"] is not None]
    for action, name in zip(objects, names, strict=False):
        action["key"] = f"{prefix}/{name}"
        if action.get("logical"):
            action["logical"] = name
    plan["bucket"]["prefix"] = prefix
    plan["warnings"] = [warning]
    return plan


@settings(max_examples=150, deadline=None)
@given(names=st.lists(NAMES, min_size=1, max_size=6), prefix=NAMES, warning=NAMES)
def test_fuzz_renderers_keep_hostile_names_inert(names: list[str], prefix: str, warning: str):
    plan = hostile_plan(names, prefix, warning)
    assert_inert_markdown(render_markdown(plan))
    assert_inert_text(render_text(plan))
    assert_inert_text(render_text(plan, color=True).replace("\x1b[", "[esc]"))
