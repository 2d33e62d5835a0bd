"""The flask-s3 command line, run as a user would: a subprocess against the real local S3."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from clirun import flask_s3 as run

APP_MODULE = """
from flask import Blueprint, Flask

def create_app():
    app = Flask(__name__, static_folder="static")
    bp = Blueprint("shop", __name__, static_folder="shop_static", static_url_path="/s")
    app.register_blueprint(bp, url_prefix="/shop")
    return app
"""


@pytest.fixture
def project(tmp_path: Path, s3_server: Any, bucket_name: str) -> Path:
    (tmp_path / "shopapp.py").write_text(APP_MODULE)
    for rel, data in {
        "static/app.css": "body{}",
        "static/app.js": "1;",
        "static/img/a b+c.png": "png",
        "shop_static/shop.css": ".shop{}",
    }.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(data)
    (tmp_path / "deploy.yaml").write_text(
        textwrap.dedent(
            f"""\
            version: 1
            app: "shopapp:create_app()"
            bucket:
              name: {bucket_name}
              endpoint_url: ${{S3_ENDPOINT}}
              region: us-east-1
              public_read_policy: true
            urls:
              scheme: http
              style: path
              bucket_domain: {s3_server.host}
            assets:
              headers: {{Cache-Control: "max-age=300"}}
              prune: true
            """
        )
    )
    return tmp_path


@pytest.fixture
def env(s3_env: Any, s3_server: Any) -> dict[str, str]:
    return {**os.environ, "S3_ENDPOINT": s3_server.endpoint_url}


def test_plan_apply_noop_cycle(
    project: Path, env: dict[str, str], s3_server: Any, bucket_name: str
):
    result = run(project, "plan", "deploy.yaml", "--detailed-exitcode", env=env)
    assert result.returncode == 2, result.stderr
    assert "4 to upload" in result.stdout
    assert "Traceback" not in result.stderr

    result = run(project, "apply", "deploy.yaml", env=env)
    assert result.returncode == 0, result.stderr
    assert "4 uploaded" in result.stdout

    result = run(project, "plan", "deploy.yaml", "--detailed-exitcode", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes" in result.stdout

    url = f"{s3_server.endpoint_url}/{bucket_name}/static/img/a%20b%2Bc.png"
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.read() == b"png"
        assert resp.headers["Cache-Control"] == "max-age=300"


def test_plan_formats_and_saved_plan(project: Path, env: dict[str, str]):
    result = run(project, "plan", "deploy.yaml", "--format", "json", "--out", "plan.json", env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["counts"]["upload"] == 4
    assert json.loads((project / "plan.json").read_text()) == data

    md = run(project, "plan", "deploy.yaml", "--format", "markdown", env=env)
    assert md.returncode == 0 and "<details>" in md.stdout

    shown = run(project, "show", "plan.json", env={"PATH": os.environ.get("PATH", "")})
    assert shown.returncode == 0, shown.stderr
    assert "4 to upload" in shown.stdout

    applied = run(project, "apply", "deploy.yaml", "--plan", "plan.json", env=env)
    assert applied.returncode == 0, applied.stderr
    # The same saved plan again: the bucket changed since, so it is stale.
    stale = run(project, "apply", "deploy.yaml", "--plan", "plan.json", env=env)
    assert stale.returncode == 1
    assert "plan is stale" in stale.stderr
    assert "Traceback" not in stale.stderr


def test_saved_plan_applies_when_nothing_changed(project: Path, env: dict[str, str]):
    run(project, "apply", "deploy.yaml", env=env)
    (project / "static/app.css").write_text("body{color:red}")
    assert run(project, "plan", "deploy.yaml", "--out", "p.json", env=env).returncode == 0
    applied = run(project, "apply", "deploy.yaml", "--plan", "p.json", env=env)
    assert applied.returncode == 0, applied.stderr
    assert "1 updated" in applied.stdout


@pytest.mark.parametrize(
    "change, message",
    [
        ({"AWS_SECRET_ACCESS_KEY": "not-the-secret-123"}, "SignatureDoesNotMatch"),
        ({"AWS_ACCESS_KEY_ID": "AKIDONTKNOW"}, "InvalidAccessKeyId"),
        ({"S3_ENDPOINT": "http://127.0.0.1:9"}, "cannot reach the S3 endpoint"),
    ],
)
def test_bad_credentials_and_endpoint_fail_cleanly(
    project: Path, env: dict[str, str], change: dict[str, str], message: str
):
    result = run(project, "plan", "deploy.yaml", env={**env, **change})
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    for secret in (env["AWS_SECRET_ACCESS_KEY"], "not-the-secret-123"):
        assert secret not in result.stdout + result.stderr


def test_missing_credentials(project: Path, env: dict[str, str]):
    clean = {k: v for k, v in env.items() if not k.startswith("AWS_ACCESS") and "SECRET" not in k}
    result = run(project, "plan", "deploy.yaml", env=clean)
    assert result.returncode == 1
    assert "no AWS credentials found" in result.stderr


def test_app_import_error_is_clean(project: Path, env: dict[str, str]):
    result = run(project, "plan", "deploy.yaml", "--app", "nosuchmodule:create_app()", env=env)
    assert result.returncode == 1
    assert "cannot load the Flask app" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_commands():
    result = run(Path.cwd(), "--help")
    assert result.returncode == 0
    for command in ("validate", "plan", "apply", "show", "local-s3"):
        assert command in result.stdout


def test_secret_never_appears_in_any_output(project: Path, env: dict[str, str]):
    secret = env["AWS_SECRET_ACCESS_KEY"]
    key_id = env["AWS_ACCESS_KEY_ID"]
    outputs: list[str] = []
    for args in (
        ("validate", "deploy.yaml"),
        ("plan", "deploy.yaml", "--out", "p.json"),
        ("plan", "deploy.yaml", "--format", "json"),
        ("plan", "deploy.yaml", "--format", "markdown"),
        ("show", "p.json"),
        ("apply", "deploy.yaml", "--plan", "p.json"),
        ("apply", "deploy.yaml", "--force-refresh"),
        ("plan", "deploy.yaml", "--app", "missing_module:create_app()"),
    ):
        result = run(project, *args, env=env)
        outputs += [result.stdout, result.stderr]
    wrong = run(project, "plan", "deploy.yaml", env={**env, "AWS_SECRET_ACCESS_KEY": secret[::-1]})
    outputs += [wrong.stdout, wrong.stderr, (project / "p.json").read_text()]
    assert wrong.returncode == 1
    for text in outputs:
        assert secret not in text
        assert secret[::-1] not in text
    assert all(key_id not in text for text in outputs)


def test_flask_cli_group_uses_the_flask_app(project: Path, env: dict[str, str]):
    spec = (project / "deploy.yaml").read_text().replace('app: "shopapp:create_app()"\n', "")
    (project / "noapp.yaml").write_text(spec)
    flask = Path(sys.executable).parent / "flask"
    result = subprocess.run(
        [str(flask), "--app", "shopapp:create_app", "s3", "plan", "noapp.yaml"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "4 to upload" in result.stdout
    missing = run(project, "plan", "noapp.yaml", env=env)
    assert missing.returncode == 1
    assert "no Flask app to deploy" in missing.stderr
