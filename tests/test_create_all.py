"""The seed's ``create_all`` on top of plan/apply, and URL == key end to end."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from flask import Blueprint, Flask, render_template_string

from flask_s3 import FlaskS3, create_all
from flask_s3.createall import LEGACY_LOCATIONS, region_for
from flask_s3.keys import static_sources

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


def allow_anonymous_reads(client: Any, bucket: str) -> None:
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


def test_create_all_uploads_and_every_url_serves_its_object(
    s3_server, s3_client, bucket_name, tmp_path
):
    app = build_app(tmp_path, s3_server, bucket_name)
    report = create_all(
        app, user=s3_server.access_key, password=s3_server.secret_key, location="us-east-1"
    )
    assert report.uploaded == len(NAMES) + 1 and report.bucket_created
    allow_anonymous_reads(s3_client, bucket_name)
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
