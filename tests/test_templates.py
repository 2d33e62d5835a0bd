"""`flask-s3 plan` reads the app's templates (app and blueprint loaders, Jinja's own parser):
a literal static file the deploy will not serve is a warning with template and line,
computed names are counted, and `--strict` makes the problems an error."""

from __future__ import annotations

import json
import secrets
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Blueprint, Flask

from flask_s3.assets.templates import reference_problems, scan_templates
from flask_s3.cli import main
from flask_s3.spec import AssetsSpec, BucketSpec, Spec

APP = """
from flask import Blueprint, Flask

def create_app():
    app = Flask(__name__, static_folder="static")
    bp = Blueprint("shop", __name__, static_folder="shop_static", template_folder="shop_tpl")
    app.register_blueprint(bp, url_prefix="/shop")
    return app
"""
INDEX = """\
<!doctype html>
<link rel="stylesheet" href="{{ url_for('static', filename='css/app.css') }}">
<link rel="stylesheet" href="{{ url_for('static', filename='css/missing.css') }}">
{# url_for('static', filename='in-a-comment.css') is no call #}
<script src="{{ url_for('static', filename='.cache/x.js') }}"></script>
{{ s3_script('static', filename='drafts/wip.js', _attrs={'defer': True}) }}
{% for name in ['a.png', 'b.png'] %}<img src="{{ url_for('static', filename='img/' ~ name) }}">
{% endfor %}
<a href="{{ url_for('index') }}">home</a>
{{ sri('static', filename=logo) }}
<p>url_for('static', filename='text/only.css')</p>
"""
SHOP = """\
{% extends "base.html" %}
{% block body %}
  {{ url_for('.static', filename='shop.css') }}
  {{ s3_stylesheet('shop.static', filename='nope.css') }}
{% endblock %}
"""


@pytest.fixture
def project(tmp_path: Path, s3_env: Any, bucket_name: str, monkeypatch: pytest.MonkeyPatch):
    module = f"tplapp_{secrets.token_hex(4)}"
    (tmp_path / f"{module}.py").write_text(APP)
    files = {
        "static/css/app.css": "body{}",
        "static/.cache/x.js": "1;",
        "static/drafts/wip.js": "2;",
        "shop_static/shop.css": ".s{}",
        "templates/index.html": INDEX,
        "templates/base.html": "{% block body %}{% endblock %}",
        "shop_tpl/shop/page.html": SHOP,
    }
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / "deploy.yaml").write_text(
        textwrap.dedent(
            f"""\
            version: 1
            app: "{module}:create_app()"
            bucket:
              name: {bucket_name}
              endpoint_url: {s3_env.endpoint_url}
              region: us-east-1
            assets:
              exclude: ["static/drafts/**"]
              prune: true
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_plan_names_each_missing_hidden_and_excluded_file_with_its_line(project: Path):
    result = cli("plan", "deploy.yaml")
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith("warning: template ")]
    assert lines == [
        "warning: template templates/index.html:3: url_for('static', "
        "filename='css/missing.css'): no such file in the static folder",
        "warning: template templates/index.html:5: url_for('static', filename='.cache/x.js'): "
        "the file is hidden (a name starting with '.') and is not uploaded; set "
        "assets.include_hidden or rename it",
        "warning: template templates/index.html:6: s3_script('static', "
        "filename='drafts/wip.js'): the file is excluded by assets.exclude and is not uploaded",
        "warning: template shop_tpl/shop/page.html:4: s3_stylesheet('shop.static', "
        "filename='nope.css'): no such file in the static folder",
    ]
    assert (
        "warning: templates: 2 static references with a computed file name unchecked "
        "(templates/index.html:7, templates/index.html:10)" in result.stdout
    )
    as_json = json.loads(cli("plan", "deploy.yaml", "--format", "json").stdout)
    assert sum(w.startswith("template ") for w in as_json["warnings"]) == 4


def test_strict_exits_1_listing_the_problems(project: Path):
    result = cli("plan", "deploy.yaml", "--strict")
    assert result.exit_code == 1
    assert "Error: 4 template references to static files the deploy will not serve" in (
        result.stderr
    )
    assert "  templates/index.html:3: url_for('static', filename='css/missing.css')" in (
        result.stderr
    )
    assert "Traceback" not in result.output
    # Fixed templates (the computed names stay): strict passes.
    (project / "templates/index.html").write_text(
        INDEX.replace("css/missing.css", "css/app.css")
        .replace(".cache/x.js", "css/app.css")
        .replace("drafts/wip.js", "css/app.css")
    )
    (project / "shop_tpl/shop/page.html").write_text(SHOP.replace("nope.css", "shop.css"))
    assert cli("plan", "deploy.yaml", "--strict").exit_code == 0


def test_a_file_prune_is_about_to_delete_is_named(project: Path):
    (project / "static/css/old.css").write_text("old{}")
    assert cli("apply", "deploy.yaml").exit_code == 0
    (project / "static/css/old.css").unlink()
    index = project / "templates/index.html"
    index.write_text(index.read_text() + "{{ url_for('static', filename='css/old.css') }}\n")
    result = cli("plan", "deploy.yaml")
    assert (
        "warning: template templates/index.html:12: url_for('static', filename='css/old.css'): "
        "no such file, and prune deletes it from the bucket in this plan" in result.stdout
    )
    assert "- static/css/old.css" in result.stdout


def test_syntax_errors_and_path_escapes_are_reported_not_raised(tmp_path: Path):
    (tmp_path / "static").mkdir()
    (tmp_path / "secret.txt").write_text("no")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates/broken.html").write_text(
        "{{ url_for('static', filename='a.css') }}\n{% if %}\n"
    )
    (tmp_path / "templates/escape.html").write_text(
        "{{ url_for('static', filename='../secret.txt') }}\n"
        "{{ url_for('admin.static', filename='x.css') }}\n"
    )
    app = Flask("tpl", root_path=str(tmp_path), static_folder=str(tmp_path / "static"))
    app.register_blueprint(Blueprint("admin", "admin"))  # no static folder
    scan = scan_templates(app)
    assert scan.errors == [
        "templates/broken.html:2: cannot parse the template (Expected an expression, got "
        "'end of statement block')"
    ]
    from flask_s3.assets.local import LocalInventory

    problems = reference_problems(
        scan, Spec(bucket=BucketSpec(name="b"), assets=AssetsSpec()), LocalInventory()
    )
    assert problems == [
        "templates/escape.html:1: url_for('static', filename='../secret.txt'): no such file "
        "in the static folder",
        "templates/escape.html:2: url_for('admin.static', filename='x.css'): the endpoint "
        "'admin.static' has no static folder",
    ]


def test_parse_results_are_cached_by_source_and_a_damaged_cache_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    cache = tmp_path / "cache"
    monkeypatch.setenv("FLASK_S3_CACHE_DIR", str(cache))
    (tmp_path / "static/css").mkdir(parents=True)
    (tmp_path / "static/css/app.css").write_text("x")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates/a.html").write_text(INDEX)
    (tmp_path / "templates/plain.html").write_text("<p>no calls here</p>\n")
    app = Flask("tpl", root_path=str(tmp_path), static_folder=str(tmp_path / "static"))

    def summary(scan: Any) -> tuple[Any, ...]:
        return (scan.templates, [(r.where, r.call, r.on_disk) for r in scan.refs], scan.dynamic)

    first = summary(scan_templates(app))
    assert first[0] == 2 and len(first[1]) == 4 and len(first[2]) == 2
    stored = json.loads((cache / "templates.json").read_text())
    assert len(stored["templates"]) == 1  # only the template with calls was parsed
    # From the cache: the same answer, and on-disk facts looked up afresh.
    (tmp_path / "static/css/missing.css").write_text("now here")
    second = summary(scan_templates(app))
    assert second[1] == [
        (w, c, True if "missing.css" in c else on_disk) for w, c, on_disk in first[1]
    ]
    # A changed template is parsed again; a damaged cache is dropped, never trusted.
    (tmp_path / "templates/a.html").write_text("\n" + INDEX)
    assert summary(scan_templates(app))[1][0][0] == "templates/a.html:3"
    (cache / "templates.json").write_text('{"v": 1, "templates": {"x": [[1, "eval", 2]]}}')
    assert summary(scan_templates(app))[1][0][0] == "templates/a.html:3"
