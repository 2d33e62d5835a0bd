"""``flask-s3 init``: a Flask-S3 0.3 app deployed with create_all, then moved to a spec."""

from __future__ import annotations

import gzip
import secrets
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from flask import Blueprint, Flask
from migration import expect_migration

from flask_s3 import FlaskS3, create_all, url_for
from flask_s3.assets.keys import static_sources
from flask_s3.cli import main

APP_MODULE = """\
from flask import Blueprint, Flask
from flask_s3 import FlaskS3

app = Flask(__name__, root_path={root!r})
admin = Blueprint("admin", __name__, static_folder={bp!r}, static_url_path="/assets")
app.register_blueprint(admin, url_prefix="/admin")
app.config.update({config!r})
FlaskS3(app)
"""
FILES = {
    "static/css/app.css": b"body { color: red }\n" * 20,
    "static/css/theme.scss": b"$x: 1;\n",  # r".css$" matches it too: 0.3 searched a regex
    "static/js/app.js": b"console.log(1);\n" * 20,
    "static/img/logo.png": bytes(range(256)) * 4,
    "static/.hidden": b"never uploaded",
    "admin_static/admin.css": b".admin {}\n",
}


EXPIRES = "Mon, 15 Apr 2030 20:00:00 GMT"


def old_config(server: Any, bucket: str) -> dict[str, Any]:
    """An app configured the Flask-S3 0.3 way, aimed at the test server."""
    return {
        "FLASKS3_BUCKET_NAME": bucket,
        "FLASKS3_ENDPOINT_URL": server.endpoint_url,
        "FLASKS3_REGION": server.region,
        "FLASKS3_URL_STYLE": "path",
        "FLASKS3_BUCKET_DOMAIN": server.host,
        "FLASKS3_USE_HTTPS": False,
        "FLASKS3_PREFIX": "v1",
        "FLASKS3_GZIP": True,
        "FLASKS3_HEADERS": {
            "Cache-Control": "max-age=1",
            "Expires": "Mon, 15 Apr 2030 20:00:00 GMT",
        },
        "FLASKS3_CACHE_CONTROL": "max-age=600",
        "FLASKS3_USE_CACHE_CONTROL": True,
        "FLASKS3_FILEPATH_HEADERS": {
            r".css$": {"Cache-Control": "max-age=60"},
            r"\.js$": {"X-Owner": "web"},
        },
        "FLASKS3_ONLY_MODIFIED": True,
        "FLASKS3_OVERRIDE_TESTING": False,
    }


def write_app(root: Path, config: dict[str, Any]) -> str:
    for name, data in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    module = f"oldapp_{secrets.token_hex(4)}"
    text = APP_MODULE.format(root=str(root), bp=str(root / "admin_static"), config=config)
    (root / f"{module}.py").write_text(text, encoding="utf-8")
    return module


def every_url(app: Flask) -> dict[tuple[str, str], str]:
    urls = {}
    with app.test_request_context("/"):
        for source in static_sources(app):
            for path in sorted(source.folder.rglob("*")):
                if path.is_file():
                    name = path.relative_to(source.folder).as_posix()
                    urls[(source.endpoint, name)] = url_for(source.endpoint, filename=name)
        urls[("static", "x")] = url_for("static", filename="x", v="2", _anchor="top")
    return urls


def test_init_spec_reproduces_urls_and_a_filled_bucket(
    s3_env, bucket_name, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    module = write_app(tmp_path, old_config(s3_env, bucket_name))
    from flask_s3.cli import load_app

    with pytest.warns(DeprecationWarning):
        old = load_app(f"{module}:app")
    report = create_all(old)  # 0.3's call: credentials from the environment
    assert report.uploaded == 5 and report.bucket_created
    urls = every_url(old)
    with urllib.request.urlopen(urls[("static", "css/app.css")], timeout=10) as resp:
        assert resp.headers["Content-Encoding"] == "gzip"
        assert resp.headers["Cache-Control"] == "max-age=60"  # the filepath rule wins
        assert gzip.decompress(resp.read()) == FILES["static/css/app.css"]
    with urllib.request.urlopen(urls[("static", "img/logo.png")], timeout=10) as resp:
        assert resp.headers["Content-Encoding"] == "gzip"  # FLASKS3_GZIP alone: every type
        assert resp.headers["Cache-Control"] == "max-age=600"  # FLASKS3_CACHE_CONTROL wins
        assert resp.headers["Expires"] == EXPIRES
    with urllib.request.urlopen(urls[("static", "js/app.js")], timeout=10) as resp:
        assert resp.headers["x-amz-meta-x-owner"] == "web"
    with urllib.request.urlopen(urls[("static", "css/theme.scss")], timeout=10) as resp:
        assert resp.headers["Cache-Control"] == "max-age=60"

    runner = CliRunner()
    out = tmp_path / "deploy.yaml"
    result = runner.invoke(main, ["init", "--app", f"{module}:app", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output
    for key in ("FLASKS3_BUCKET_NAME", "FLASKS3_FILEPATH_HEADERS", "FLASKS3_ONLY_MODIFIED"):
        assert f"  {key}\n" in result.output
    assert "Rename FLASKS3_OVERRIDE_TESTING to S3_OVERRIDE_TESTING" in result.output
    data = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert data["assets"]["rules"] == [
        # the Content-Types 0.3 stored on gzipped files (create_all 1.0 keeps them too)
        {"match": "**/*.css", "headers": {"Content-Type": "text/css"}},
        {"match": "**/*.js", "headers": {"Content-Type": "text/javascript"}},
        # r".css$" also picks theme.scss: one rule a file
        {"match": "admin/assets/admin.css", "headers": {"Cache-Control": "max-age=60"}},
        {"match": "static/css/app.css", "headers": {"Cache-Control": "max-age=60"}},
        {"match": "static/css/theme.scss", "headers": {"Cache-Control": "max-age=60"}},
        {"match": "**/*.js", "headers": {"X-Owner": "web"}},
    ]
    assert data["urls"]["scheme"] == "http" and data["assets"]["gzip"]["content_types"] == ["*/*"]

    again = runner.invoke(main, ["init", "--app", f"{module}:app", "--out", str(out)])
    assert again.exit_code == 1 and "already exists" in again.output
    assert "Traceback" not in again.output
    forced = runner.invoke(main, ["init", "--app", f"{module}:app", "--out", str(out), "--force"])
    assert forced.exit_code == 0, forced.output

    # The app with the listed keys deleted (the renamed one renamed) and the spec instead.
    new = Flask(module, root_path=str(tmp_path))
    admin = Blueprint("admin", module, static_folder=str(tmp_path / "admin_static"))
    admin.static_url_path = "/assets"
    new.register_blueprint(admin, url_prefix="/admin")
    new.config["S3_OVERRIDE_TESTING"] = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing left to modernise
        FlaskS3(new, spec=str(out))
    assert every_url(new) == urls

    plan = runner.invoke(main, ["plan", str(out), "--detailed-exitcode"])
    assert plan.exit_code == 0, plan.output
    assert "No changes. 5 objects up to date." in plan.output


def test_init_without_a_bucket_says_what_to_set(tmp_path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    module = write_app(tmp_path, {"FLASKS3_GZIP": True})
    with expect_migration("FLASKS3_GZIP is a Flask-S3 0.3 setting"):  # importing the app
        result = CliRunner().invoke(main, ["init", "--app", f"{module}:app"])
    assert result.exit_code == 1
    assert "names no bucket" in result.output and "FLASKS3_BUCKET_NAME" in result.output
    assert not (tmp_path / "deploy.yaml").exists()
