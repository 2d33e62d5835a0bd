"""The seed's ``create_all`` on top of plan/apply, and URL == key end to end."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from faultproxy import FaultProxy
from flask import Blueprint, Flask, render_template_string
from migration import expect_migration

import flask_s3
from flask_s3 import FlaskS3, create_all
from flask_s3.assets.keys import static_sources
from flask_s3.errors import MigrationWarning, S3Error
from flask_s3.tools.createall import LEGACY_LOCATIONS, region_for

NAMES = ["css/app.css", "img/a b.png", "img/c+d#e?.svg", "fonts/café.woff2", "x%20y.txt"]


def build_app(root: Path, server: Any, bucket: str) -> Flask:
    for name in NAMES:
        path = root / "static" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode())
    (root / "bp_static").mkdir()
    (root / "bp_static" / "bp.js").write_bytes(b"bp")
    app = Flask("legacy", root_path=str(root))
    outer = Blueprint("outer", "outer")
    inner = Blueprint(
        "inner", "inner", static_folder=str(root / "bp_static"), static_url_path="/st"
    )
    outer.register_blueprint(inner, url_prefix="/in")
    app.register_blueprint(outer, url_prefix="/out")
    app.config.update(
        S3_BUCKET_NAME=bucket,
        S3_ENDPOINT_URL=server.endpoint_url,
        S3_URL_STYLE="path",
        S3_URL_SCHEME="http",
        S3_BUCKET_DOMAIN=server.host,
        S3_HEADERS={"Cache-Control": "max-age=5"},
    )
    FlaskS3(app)
    return app


def test_create_all_uploads_and_every_url_serves_its_object(
    s3_server, s3_client, bucket_name, tmp_path
):
    app = build_app(tmp_path, s3_server, bucket_name)
    report = create_all(
        app, user=s3_server.access_key, password=s3_server.secret_key, location="us-east-1"
    )
    assert report.uploaded == len(NAMES) + 1 and report.bucket_created
    with app.test_request_context("/"):
        for source in static_sources(app):
            for path in sorted(source.folder.rglob("*")):
                if not path.is_file():
                    continue
                rel = path.relative_to(source.folder).as_posix()
                url = render_template_string(
                    "{{ url_for(endpoint, filename=name) }}", endpoint=source.endpoint, name=rel
                )
                with urllib.request.urlopen(url, timeout=10) as resp:
                    assert resp.read() == path.read_bytes(), url
                    assert resp.headers["Cache-Control"] == "max-age=5"
    again = create_all(app, user=s3_server.access_key, password=s3_server.secret_key)
    assert again.changed == 0 and again.unchanged == len(NAMES) + 1


def test_create_all_without_bucket_says_what_to_set(tmp_path):
    from flask_s3.errors import ConfigError

    app = Flask("nobucket", root_path=str(tmp_path))
    FlaskS3(app)
    with pytest.raises(ConfigError, match="S3_BUCKET_NAME"):
        create_all(app)


@pytest.mark.parametrize("name, region", sorted(LEGACY_LOCATIONS.items()))
def test_legacy_locations_map_to_regions(name: str, region: str):
    if name:
        with pytest.warns(DeprecationWarning, match=region):
            assert region_for(name) == region
    else:
        assert region_for(name) == region


def test_modern_region_passes_through_without_warning(recwarn):
    assert region_for("eu-central-1") == "eu-central-1"
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]


# -- Flask-S3 0.3's create_all: arguments, public reads, Block Public Access ----------------


def old_style_app(root: Path, server: Any, bucket: str, **extra: Any) -> Flask:
    """An app configured with FLASKS3_* keys only, as a Flask-S3 0.3 user has it."""
    for name in ("css/app.css", "css/print.css", "js/app.js", "img/logo.png"):
        path = root / "static" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode() * 10)
    app = Flask("oldstyle", root_path=str(root))
    app.config.update(
        FLASKS3_BUCKET_NAME=bucket,
        FLASKS3_ENDPOINT_URL=server.endpoint_url,
        FLASKS3_URL_STYLE="path",
        FLASKS3_BUCKET_DOMAIN=server.host,
        FLASKS3_USE_HTTPS=False,
    )
    app.config.update(extra)
    with pytest.warns(MigrationWarning):
        FlaskS3(app)
    return app


def anonymous_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def asset_url(app: Flask, name: str = "css/app.css") -> str:
    with app.test_request_context("/"):
        return flask_s3.url_for("static", filename=name)


def test_create_all_makes_assets_anonymously_readable_by_default(s3_env, bucket_name, tmp_path):
    from faultproxy import FaultProxy

    proxy = FaultProxy(s3_env.port or 0)
    try:
        app = old_style_app(tmp_path, s3_env, bucket_name, FLASKS3_ENDPOINT_URL=proxy.endpoint_url)
        create_all(app)
        assert anonymous_status(asset_url(app)) == 200  # 0.3 made them public; so do we
        proxy.seen.clear()
        assert create_all(app).changed == 0
        asked = [(m, p.rstrip("=")) for m, p, v in proxy.seen if "AccessBlock" in p or "?pol" in p]
        assert asked == [("GET", f"/{bucket_name}?policy")]  # a no-op run asks nothing more
    finally:
        proxy.close()


def test_put_bucket_acl_false_leaves_the_bucket_as_it_is(s3_env, s3_client, bucket_name, tmp_path):
    app = old_style_app(tmp_path, s3_env, bucket_name)
    create_all(app, put_bucket_acl=False)
    assert anonymous_status(asset_url(app)) == 403
    create_all(app)  # default: public
    assert anonymous_status(asset_url(app)) == 200
    report = create_all(app, put_bucket_acl=False)  # leaves the statement it finds in place
    assert report.changed == 0
    assert anonymous_status(asset_url(app)) == 200


def test_filepath_filter_regex_uploads_only_matching_paths(
    s3_env, s3_client, bucket_name, tmp_path
):
    app = old_style_app(tmp_path, s3_env, bucket_name)
    report = create_all(app, filepath_filter_regex=r"^css")
    assert report.uploaded == 2
    keys = {o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket_name)["Contents"]}
    assert {"static/css/app.css", "static/css/print.css"} <= keys
    assert not [k for k in keys if k.startswith(("static/js", "static/img"))]


def test_seed_positional_order_wins(s3_env, bucket_name, tmp_path):
    app = old_style_app(tmp_path, s3_env, bucket_name)
    key, secret = s3_env.access_key, s3_env.secret_key
    assert create_all(app, key, secret, bucket_name, "", False).uploaded == 4
    again = create_all(app, key, secret, bucket_name, "", False, True)  # 7th: force_refresh
    assert again.uploaded + again.updated == 4


def test_a_regex_in_the_seventh_position_is_read_as_0_3_did(s3_env, bucket_name, tmp_path):
    app = old_style_app(tmp_path, s3_env, bucket_name)
    with expect_migration("filepath_filter_regex"):
        report = create_all(app, None, None, None, None, False, r"^js/")
    assert report.uploaded == 1


def test_filepath_headers_and_gzip_on_the_stored_objects(s3_env, s3_client, bucket_name, tmp_path):
    app = old_style_app(
        tmp_path,
        s3_env,
        bucket_name,
        FLASKS3_GZIP=True,
        FLASKS3_HEADERS={"Cache-Control": "max-age=5"},
        FLASKS3_FILEPATH_HEADERS={
            r"print\.css$": {"Cache-Control": "no-cache", "X-Media": "print"}
        },
    )
    create_all(app)
    printed = s3_client.head_object(Bucket=bucket_name, Key="static/css/print.css")
    assert printed["CacheControl"] == "no-cache" and printed["Metadata"] == {"x-media": "print"}
    logo = s3_client.head_object(Bucket=bucket_name, Key="static/img/logo.png")
    assert logo["CacheControl"] == "max-age=5"
    assert logo["ContentEncoding"] == "gzip"  # FLASKS3_GZIP alone: every type, as in 0.3
    assert logo["ContentType"] == "image/png"


def test_blocked_public_access_is_named_before_uploading(s3_env, s3_server, bucket_name, tmp_path):
    proxy = FaultProxy(s3_server.port or 0)
    try:
        proxy.policy = lambda m, p, n: (
            "public-access-blocked" if "publicAccessBlock" in p else "pass"
        )
        app = old_style_app(tmp_path, s3_env, bucket_name, FLASKS3_ENDPOINT_URL=proxy.endpoint_url)
        with pytest.raises(S3Error, match="BlockPublicPolicy and RestrictPublicBuckets") as info:
            create_all(app)
        assert "put_bucket_acl=False" in info.value.detail
        assert not [m for m, p, v in proxy.seen if m == "PUT" and "/static/" in p]
    finally:
        proxy.close()


def test_refused_policy_names_the_block_public_access_setting(
    s3_env, s3_server, bucket_name, tmp_path
):
    proxy = FaultProxy(s3_server.port or 0)
    try:
        proxy.policy = lambda m, p, n: "403" if m == "PUT" and p.endswith("?policy") else "pass"
        app = old_style_app(tmp_path, s3_env, bucket_name, FLASKS3_ENDPOINT_URL=proxy.endpoint_url)
        with pytest.raises(S3Error, match="write-policy") as info:
            create_all(app)
        assert "BlockPublicPolicy" in info.value.detail and "account's" in info.value.detail
        assert "put_bucket_acl=False" in info.value.detail
        assert not [m for m, p, v in proxy.seen if m == "PUT" and "/static/" in p]
    finally:
        proxy.close()


def test_filepath_headers_become_as_few_rules_as_pick_the_same_files(tmp_path):
    from flask_s3.tools.createall import spec_from_app

    app = old_style_app(
        tmp_path,
        SimpleNamespace(endpoint_url="http://127.0.0.1:1", host="127.0.0.1:1"),  # no S3 used
        "bk",
        FLASKS3_FILEPATH_HEADERS={
            r"static": {"X-All": "1"},  # every file: one ** rule
            r"\.css$": {"X-Css": "1"},  # a suffix: one glob
            r"app\.": {"X-App": "1"},  # anything else: one rule a file
        },
    )
    rules = spec_from_app(app, None, None, False).assets.rules
    assert [(r.match, dict(r.headers)) for r in rules] == [
        ("**", {"X-All": "1"}),
        ("**/*.css", {"X-Css": "1"}),
        ("static/css/app.css", {"X-App": "1"}),
        ("static/js/app.js", {"X-App": "1"}),
    ]
