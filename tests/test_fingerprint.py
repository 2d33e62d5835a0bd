"""Fingerprinted asset names: immutable caching, CSS rewriting, manifest, kept generations."""

from __future__ import annotations

import gzip
import re
import sys
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, render_template_string

from flask_s3 import FlaskS3
from flask_s3.assets.fingerprint import (
    IMMUTABLE,
    MANIFEST_FILE,
    hashed_name,
    read_manifest_file,
    write_manifest_file,
)
from flask_s3.deployer.apply import Report, apply_plan
from flask_s3.deployer.snapshot import snapshot, write_fingerprint_manifest
from flask_s3.errors import ConfigError, PlanError
from flask_s3.s3 import open_store
from flask_s3.spec import AssetsSpec, BucketSpec, FingerprintSpec, Spec, UrlSpec

PAGE = """
{{ url_for('static', filename='css/app.css') }}
{{ url_for('static', filename='fonts/shop.woff2') }}
{{ url_for('static', filename='img/logo.svg') }}
{{ url_for('static', filename='robots.txt') }}
"""


def write(root: Path, rel: str, data: str) -> None:
    path = root / "static" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    write(tmp_path, "css/app.css", '@font-face { src: url("../fonts/shop.woff2?v=1#x"); }\n')
    write(tmp_path, "fonts/shop.woff2", "font v1")
    write(tmp_path, "img/logo.svg", "<svg/>")
    write(tmp_path, "robots.txt", "User-agent: *")
    return tmp_path


def spec_for(server: Any, bucket: str, keep: int = 3) -> Spec:
    return Spec(
        bucket=BucketSpec(name=bucket, endpoint_url=server.endpoint_url, public_read_policy=True),
        urls=UrlSpec(scheme="http", style="path", bucket_domain=server.host),
        assets=AssetsSpec(
            prune=True,
            headers={"Cache-Control": "max-age=60"},
            fingerprint=FingerprintSpec(enabled=True, exclude=("static/robots.txt",), keep=keep),
        ),
        digest="fp",
    )


def deploy(spec: Spec, root: Path) -> Report:
    app = Flask("fp", root_path=str(root))
    client = open_store(spec)
    snap = snapshot(spec, app, client)
    write_fingerprint_manifest(app, spec, snap.local)
    return apply_plan(snap.plan, spec, snap.local, client, remote=snap.remote)


def page_urls(spec: Spec, root: Path) -> list[str]:
    app = Flask("fp", root_path=str(root))
    app.config.update(spec.flask_config())
    FlaskS3(app)
    with app.app_context():
        return render_template_string(PAGE).split()


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = resp.read()
            if resp.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            return resp.status, dict(resp.headers), body
    except urllib.error.HTTPError as err:
        return err.code, {}, b""


def test_old_pages_keep_working_and_names_follow_content(s3_server, s3_env, bucket_name, site):
    spec = spec_for(s3_server, bucket_name)
    deploy(spec, site)
    before = page_urls(spec, site)
    assert re.search(r"/static/css/app\.[0-9a-f]{12}\.css$", before[0])
    assert before[3].endswith("/static/robots.txt")  # excluded: keeps its name
    status, headers, css = get(before[0])
    assert status == 200
    assert headers["Cache-Control"] == IMMUTABLE
    font_name = before[1].rsplit("/", 1)[1]
    assert f'url("../fonts/{font_name}?v=1#x")' in css.decode()
    assert get(before[3])[1]["Cache-Control"] == "max-age=60"

    write(site, "fonts/shop.woff2", "font v2")  # the font changes, so its stylesheet does too
    deploy(spec, site)
    after = page_urls(spec, site)
    assert after[0] != before[0] and after[1] != before[1]
    assert after[2] == before[2] and after[3] == before[3]
    for url in before + after:
        assert get(url)[0] == 200, url
    assert get(after[1])[2] == b"font v2"
    assert get(before[1])[2] == b"font v1"


def test_a_deploy_with_nothing_changed_is_a_noop(s3_server, s3_env, bucket_name, site):
    spec = spec_for(s3_server, bucket_name)
    deploy(spec, site)
    app = Flask("fp", root_path=str(site))
    plan = snapshot(spec, app, open_store(spec)).plan
    assert not plan.has_changes


def test_plan_shows_logical_and_hashed_names(s3_server, s3_env, bucket_name, site):
    spec = spec_for(s3_server, bucket_name)
    app = Flask("fp", root_path=str(site))
    plan = snapshot(spec, app, open_store(spec)).plan
    uploads = {a.logical: a.key for a in plan.of_kind("upload")}
    assert re.fullmatch(r"static/img/logo\.[0-9a-f]{12}\.svg", uploads["static/img/logo.svg"])
    assert None in uploads  # robots.txt: not renamed, no logical name
    from flask_s3.deployer.render import render_text

    assert "(static/img/logo.svg)" in render_text(plan.to_dict())


def test_prune_keeps_exactly_keep_generations(s3_server, s3_env, bucket_name, site, s3_client):
    spec = spec_for(s3_server, bucket_name, keep=2)
    names = []
    for version in ("1", "2", "3"):
        write(site, "img/logo.svg", f"<svg>{version}</svg>")
        deploy(spec, site)
        names.append(page_urls(spec, site)[2].split(f"/{bucket_name}/", 1)[1])
    keys = {o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket_name)["Contents"]}
    assert names[0] not in keys  # three deploys ago: pruned
    assert names[1] in keys and names[2] in keys


def test_manifest_round_trips_and_is_not_uploaded(s3_server, s3_env, bucket_name, site, tmp_path):
    path = tmp_path / "m.json"
    names = {"static/a.css": "static/a.0123456789ab.css", "static/b c.js": "static/b c.1.js"}
    write_manifest_file(path, names)
    assert read_manifest_file(path) == names
    spec = spec_for(s3_server, bucket_name)
    deploy(spec, site)
    manifest = site / "static" / MANIFEST_FILE
    assert manifest.exists()
    uploaded = read_manifest_file(manifest)
    assert uploaded["static/robots.txt"] == "static/robots.txt"
    assert get(f"{s3_server.endpoint_url}/{bucket_name}/static/{MANIFEST_FILE}")[0] in (403, 404)


def test_missing_manifest_is_a_startup_error(tmp_path):
    app = Flask("fp", root_path=str(tmp_path))
    app.config.update(S3_BUCKET_NAME="b", S3_FINGERPRINT=True)
    with pytest.raises(ConfigError, match="flask-s3 plan"):
        FlaskS3(app)


def test_missing_css_reference_is_a_clear_error(s3_server, s3_env, bucket_name, site):
    write(site, "css/app.css", "body { background: url(../img/gone.png); }")
    spec = spec_for(s3_server, bucket_name)
    with pytest.raises(PlanError, match=r"static/css/app\.css: references '\.\./img/gone\.png'"):
        deploy(spec, site)


def test_hashed_name_shapes():
    assert hashed_name("static/app.css", b"x", 8) == "static/app.2d711642.css"
    assert hashed_name("static/LICENSE", b"x", 8) == "static/LICENSE.2d711642"
    assert hashed_name("static/.env", b"x", 8).startswith("static/.env.")
    assert hashed_name("a.tar.gz", b"x", 6) == "a.tar.2d7116.gz"


def test_url_for_cost_is_one_lookup_more(site):
    # Behaviour, not timing: the URL for an unknown name falls back to the plain key.
    spec = spec_for_local()
    write_manifest_file(site / "static" / MANIFEST_FILE, {"static/a.css": "static/a.abc.css"})
    app = Flask("fp", root_path=str(site))
    app.config.update(spec.flask_config())
    FlaskS3(app)
    from flask_s3 import url_for

    with app.app_context():
        assert url_for("static", filename="a.css").endswith("/static/a.abc.css")
        assert url_for("static", filename="other.css").endswith("/static/other.css")


def spec_for_local() -> Spec:
    return replace(
        Spec(bucket=BucketSpec(name="bucket")),
        assets=AssetsSpec(fingerprint=FingerprintSpec(enabled=True)),
    )


def test_first_deploy_of_an_app_that_sets_up_flask_s3_with_its_spec(
    site: Path, s3_env: Any, bucket_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI imports the app before the manifest exists; the app must start for it."""
    from click.testing import CliRunner

    from flask_s3.cli import main

    (site / "fpshop.py").write_text(
        "from flask import Flask\nfrom flask_s3 import FlaskS3\n\n"
        "def create_app():\n"
        "    app = Flask(__name__)\n"
        "    FlaskS3(app, spec='deploy.yaml')\n"
        "    return app\n"
    )
    (site / "deploy.yaml").write_text(
        f"version: 1\napp: 'fpshop:create_app()'\n"
        f"bucket: {{name: {bucket_name}, endpoint_url: '{s3_env.endpoint_url}'}}\n"
        "assets: {fingerprint: {enabled: true}}\n"
    )
    monkeypatch.chdir(site)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setitem(sys.modules, "fpshop", None)  # restored (removed) at teardown
    del sys.modules["fpshop"]
    with pytest.raises(ConfigError, match=r"manifest .* is missing"):
        import fpshop

        fpshop.create_app()  # outside a deploy, a missing manifest is a start-up error
    result = CliRunner().invoke(main, ["apply", "deploy.yaml"])
    assert result.exit_code == 0, result.output
    names = read_manifest_file(site / "static" / MANIFEST_FILE)
    assert re.fullmatch(r"static/css/app\.[0-9a-f]{12}\.css", names["static/css/app.css"])
    with fpshop.create_app().test_request_context():
        from flask_s3 import url_for

        assert url_for("static", filename="css/app.css").endswith(names["static/css/app.css"])
