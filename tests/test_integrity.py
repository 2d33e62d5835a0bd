"""Subresource Integrity: SHA-384 values of what browsers receive, the manifest, the template
helpers, and the plan's CORS warning."""

from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask import Blueprint, Flask, render_template_string
from markupsafe import Markup

from flask_s3 import FlaskS3
from flask_s3.assets.fingerprint import MANIFEST_FILE, read_manifest, write_manifest_file
from flask_s3.assets.scan import scan_app
from flask_s3.assets.sri import sri_value
from flask_s3.deployer.apply import apply_plan
from flask_s3.deployer.planner import make_plan
from flask_s3.deployer.render import render_text
from flask_s3.deployer.snapshot import snapshot, write_fingerprint_manifest
from flask_s3.errors import ConfigError, SpecError
from flask_s3.remote.inventory import RemoteInventory
from flask_s3.s3 import open_store
from flask_s3.spec import (
    AssetsSpec,
    BucketSpec,
    CorsSpec,
    FingerprintSpec,
    GzipSpec,
    Spec,
    UrlSpec,
    load_spec,
)

OPENSSL = shutil.which("openssl")
BIG = 3 * 1024 * 1024 + 17  # more than one read chunk: the streamed path


def openssl_sri(data: bytes) -> str:
    """``openssl dgst -sha384 -binary | base64``, as the SRI spec suggests."""
    if OPENSSL is None:
        pytest.skip("the openssl command is not installed")
    out = subprocess.run(
        ["bash", "-c", "openssl dgst -sha384 -binary | base64 -w0"],
        input=data,
        capture_output=True,
        check=True,
    ).stdout
    return "sha384-" + out.decode("ascii").strip()


def write(root: Path, rel: str, data: bytes | str) -> Path:
    path = root / "static" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    write(root, "js/app.js", "document.body.dataset.ready = 'yes';\n" * 40)
    write(root, "css/app.css", 'body { background: url("../img/logo.svg"); }\n')
    write(root, "img/logo.svg", "<svg xmlns='http://www.w3.org/2000/svg'/>")
    write(root, "data/big.bin", os.urandom(BIG))
    return root


def spec_for(server: Any, bucket: str, **assets: Any) -> Spec:
    settings: dict[str, Any] = {
        "integrity": True,
        "gzip": GzipSpec(enabled=True, content_types=("text/css", "application/javascript")),
        **assets,
    }
    return Spec(
        bucket=BucketSpec(
            name=bucket,
            endpoint_url=server.endpoint_url if server is not None else None,
            cors=CorsSpec(allowed_origins=("*",)),
        ),
        urls=UrlSpec(scheme="http", style="path", bucket_domain=server.host if server else "s3"),
        assets=AssetsSpec(**settings),
        digest="sri",
    )


def deploy(spec: Spec, root: Path) -> Any:
    app = Flask("sri", root_path=str(root))
    client = open_store(spec)
    snap = snapshot(spec, app, client)
    write_fingerprint_manifest(app, spec, snap.local)
    apply_plan(snap.plan, spec, snap.local, client, remote=snap.remote)
    return snap


def test_known_answer_from_the_sri_spec():
    # The example the W3C SRI specification gives for this script.
    assert (
        sri_value(b"alert('Hello, world.');")
        == "sha384-H8BRh8j48O9oYatfu5AZzq6A9RINhZO5H16dQZngK7T62em8MUt1FLm52t+eX6xO"
    )


def test_values_equal_openssl_for_plain_and_gzip_stored_objects(
    s3_server, s3_env, s3_client, bucket_name, site
):
    spec = spec_for(s3_server, bucket_name)
    snap = deploy(spec, site)
    manifest = read_manifest(site / "static" / MANIFEST_FILE)
    assert manifest.integrity is not None
    assert set(manifest.integrity) == {
        "static/js/app.js",
        "static/css/app.css",
        "static/img/logo.svg",
        "static/data/big.bin",
    }
    encodings = {}
    for logical, value in manifest.integrity.items():
        original = (site / logical).read_bytes()
        assert value == openssl_sri(original), logical
        assert snap.local.assets[logical].sri == value
        obj = s3_client.get_object(Bucket=bucket_name, Key=logical)
        stored = obj["Body"].read()
        encodings[logical] = obj.get("ContentEncoding")
        if encodings[logical] == "gzip":
            # The browser checks the decoded body, not the bytes in the bucket.
            assert stored != original
            assert openssl_sri(stored) != value
            assert openssl_sri(gzip.decompress(stored)) == value
        else:
            assert openssl_sri(stored) == value
    assert encodings == {
        "static/js/app.js": "gzip",
        "static/css/app.css": "gzip",
        "static/img/logo.svg": None,
        "static/data/big.bin": None,
    }
    listed = {o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket_name)["Contents"]}
    assert f"static/{MANIFEST_FILE}" not in listed


def test_fingerprinted_stylesheet_gets_the_hash_of_its_rewritten_bytes(
    s3_server, s3_env, s3_client, bucket_name, site
):
    spec = spec_for(s3_server, bucket_name, fingerprint=FingerprintSpec(enabled=True))
    deploy(spec, site)
    manifest = read_manifest(site / "static" / MANIFEST_FILE)
    assert manifest.integrity is not None
    stored_key = manifest.names["static/css/app.css"]
    body = s3_client.get_object(Bucket=bucket_name, Key=stored_key)["Body"].read()
    served = gzip.decompress(body)
    assert b"logo." in served and served != (site / "static/css/app.css").read_bytes()
    assert manifest.integrity["static/css/app.css"] == openssl_sri(served)
    app = Flask("sri", root_path=str(site))  # format 2 gives the app its names too
    app.config.update(spec.flask_config())
    FlaskS3(app)
    tag = render(app, "{{ s3_stylesheet('static', filename='css/app.css') }}")
    assert f'/{bucket_name}/{stored_key}" integrity="{openssl_sri(served)}"' in tag


def test_manifest_formats_old_and_new(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"format": 1, "files": {"static/a.css": "static/a.1.css"}}))
    old = read_manifest(path)
    assert old.names == {"static/a.css": "static/a.1.css"} and old.integrity is None
    write_manifest_file(path, {}, {"static/a.js": "sha384-x"})
    data = json.loads(path.read_text())
    assert data == {"format": 2, "files": {}, "integrity": {"static/a.js": "sha384-x"}}
    assert read_manifest(path).integrity == {"static/a.js": "sha384-x"}
    write_manifest_file(path, {"static/a.css": "static/a.1.css"})
    assert json.loads(path.read_text())["format"] == 1  # integrity off: the old format


def age(root: Path) -> None:
    old = time.time() - 3600
    for path in (root / "static").rglob("*"):
        os.utime(path, (old, old))


def test_values_are_cached_with_the_md5_and_only_taken_when_on(site, counted_sri):
    age(site)
    app = Flask("sri", root_path=str(site))
    off = replace(spec_for(None, "b"), assets=replace(spec_for(None, "b").assets, integrity=False))
    plain = scan_app(app, off)
    assert counted_sri == [] and plain.integrity is None
    assert all(a.sri is None for a in plain.assets.values())
    on = spec_for(None, "b")
    first = scan_app(app, on)  # entries cached without a value are hashed again
    assert len(counted_sri) == 4
    again = scan_app(app, on)
    assert len(counted_sri) == 4  # from the cache
    assert again.integrity == first.integrity
    assert {k: a.md5 for k, a in first.assets.items()} == {
        k: a.md5 for k, a in plain.assets.items()
    }
    write(site, "js/app.js", "changed();")
    changed = scan_app(app, on)
    assert len(counted_sri) == 5
    assert changed.integrity is not None and first.integrity is not None
    assert changed.integrity["static/js/app.js"] == sri_value(b"changed();")
    assert changed.integrity["static/css/app.css"] == first.integrity["static/css/app.css"]


def test_plan_warns_when_cors_would_refuse_integrity_checks(site):
    app = Flask("sri", root_path=str(site))
    base = spec_for(None, "b")

    def warnings(cors: CorsSpec | None, integrity: bool = True) -> list[str]:
        spec = replace(
            base,
            bucket=replace(base.bucket, cors=cors),
            assets=replace(base.assets, integrity=integrity),
        )
        plan = make_plan(spec, scan_app(app, spec), RemoteInventory(exists=False))
        return [w for w in plan.warnings if "integrity" in w]

    assert warnings(CorsSpec(allowed_origins=("https://shop.example.com",))) == []
    missing = warnings(None)
    assert len(missing) == 1 and "bucket.cors is not set" in missing[0]
    head_only = warnings(CorsSpec(allowed_origins=("*",), allowed_methods=("HEAD",)))
    assert len(head_only) == 1 and "does not allow GET" in head_only[0]
    assert warnings(None, integrity=False) == []
    spec = replace(base, bucket=replace(base.bucket, cors=None))
    text = render_text(
        make_plan(spec, scan_app(app, spec), RemoteInventory(exists=False)).to_dict()
    )
    assert "warning: assets.integrity is on but bucket.cors is not set" in text


def test_spec_key(tmp_path):
    path = tmp_path / "deploy.yaml"
    path.write_text("version: 1\nbucket: {name: shop}\nassets:\n  integrity: true\n")
    spec = load_spec(path)
    assert spec.assets.integrity is True
    assert spec.flask_config()["S3_INTEGRITY"] is True
    path.write_text("version: 1\nbucket: {name: shop}\nassets:\n  integrity: sometimes\n")
    with pytest.raises(SpecError, match=r"deploy\.yaml:4:3: assets\.integrity"):
        load_spec(path)


# Run time: the template helpers.


def page_app(root: Path, **config: Any) -> Flask:
    app = Flask("sri", root_path=str(root))
    admin = Blueprint("admin", __name__, static_folder=str(root / "admin"), url_prefix="/admin")

    @admin.route("/")
    def dashboard() -> str:
        return render_template_string(
            "{{ sri('.static', filename='x.js') }}|{{ s3_script('.static', filename='x.js') }}"
        )

    app.register_blueprint(admin)
    app.config.update(spec_for(None, "shop").flask_config())
    app.config.update(S3_BUCKET_DOMAIN="s3.example.com", **config)
    FlaskS3(app)
    return app


@pytest.fixture
def deployed(site: Path) -> Path:
    """The site with its manifest written as plan/apply would (no bucket needed)."""
    write(site, "../admin/x.js", "admin();")
    app = Flask("sri", root_path=str(site))
    admin = Blueprint("admin", __name__, static_folder=str(site / "admin"), url_prefix="/admin")
    app.register_blueprint(admin)
    inventory = scan_app(app, spec_for(None, "shop"))
    write_manifest_file(site / "static" / MANIFEST_FILE, inventory.names, inventory.integrity)
    return site


def render(app: Flask, source: str, path: str = "/") -> str:
    with app.test_request_context(path):
        return render_template_string(source)


def test_helpers_render_tags_with_the_manifest_values(deployed):
    app = page_app(deployed)
    js = openssl_sri((deployed / "static/js/app.js").read_bytes())
    css = openssl_sri((deployed / "static/css/app.css").read_bytes())
    assert render(app, "{{ sri('static', filename='js/app.js') }}") == js
    assert render(app, "{{ s3_script('static', filename='js/app.js') }}") == (
        f'<script src="http://s3.example.com/shop/static/js/app.js" integrity="{js}" '
        'crossorigin="anonymous"></script>'
    )
    assert render(app, "{{ s3_stylesheet('static', filename='css/app.css', v=1, w=2) }}") == (
        '<link rel="stylesheet" href="http://s3.example.com/shop/static/css/app.css?v=1&amp;w=2" '
        f'integrity="{css}" crossorigin="anonymous">'
    )
    with app.test_request_context("/"):
        from flask_s3.integrity import s3_script

        tag = s3_script("static", filename="js/app.js", _attrs={"defer": True, "id": '"x"'})
    assert isinstance(tag, Markup)
    assert tag.endswith(' crossorigin="anonymous" defer id="&#34;x&#34;"></script>')
    admin = openssl_sri(b"admin();")
    page = app.test_client().get("/admin/").get_data(as_text=True)
    assert page == (
        f'{admin}|<script src="http://s3.example.com/shop/admin/admin/x.js" '
        f'integrity="{admin}" crossorigin="anonymous"></script>'
    )


def test_values_are_read_once_at_start_up(deployed):
    app = page_app(deployed)
    (deployed / "static" / MANIFEST_FILE).unlink()
    assert render(app, "{{ sri('static', filename='img/logo.svg') }}").startswith("sha384-")


def test_local_urls_when_s3_is_off_with_the_same_hash(deployed):
    on = page_app(deployed)
    off = page_app(deployed, USE_S3=False)
    template = "{{ s3_script('static', filename='js/app.js') }}"
    value = render(on, "{{ sri('static', filename='js/app.js') }}")
    assert render(off, template) == (
        f'<script src="/static/js/app.js" integrity="{value}" crossorigin="anonymous"></script>'
    )


def test_local_value_follows_the_file_a_developer_edits(deployed):
    app = page_app(deployed, DEBUG=True)  # debug turns USE_S3 off
    assert app.config["USE_S3"] is False
    write(deployed, "js/app.js", "edited();")
    assert render(app, "{{ sri('static', filename='js/app.js') }}") == openssl_sri(b"edited();")


def test_missing_asset_is_an_error_in_debug(deployed):
    app = page_app(deployed, DEBUG=True, USE_S3_DEBUG=True)
    with pytest.raises(ConfigError, match=r"static/js/gone\.js has no integrity value") as info:
        render(app, "{{ s3_script('static', filename='js/gone.js') }}")
    assert "flask-s3 plan" in info.value.detail
    with pytest.raises(ConfigError, match="'shop' is not a static endpoint"):
        render(app, "{{ sri('shop', filename='js/app.js') }}")


def test_missing_asset_renders_without_integrity_and_warns_once(deployed, caplog):
    app = page_app(deployed)
    with caplog.at_level(logging.WARNING, logger=app.logger.name):
        for _ in range(3):
            tag = render(app, "{{ s3_script('static', filename='js/gone.js') }}")
            assert tag == '<script src="http://s3.example.com/shop/static/js/gone.js"></script>'
    warned = [r.getMessage() for r in caplog.records if "gone.js" in r.getMessage()]
    assert len(warned) == 1
    assert "rendered without an integrity attribute" in warned[0]


def test_missing_manifest_starts_and_says_what_to_run(site, caplog):
    with caplog.at_level(logging.WARNING):
        app = page_app(site)  # production: starts, warns
    assert any("manifest" in r.getMessage() for r in caplog.records)
    assert render(app, "{{ s3_stylesheet('static', filename='css/app.css') }}") == (
        '<link rel="stylesheet" href="http://s3.example.com/shop/static/css/app.css">'
    )
    debug = page_app(site, DEBUG=True, USE_S3_DEBUG=True)
    with pytest.raises(ConfigError, match=r"manifest .* is missing") as info:
        render(debug, "{{ sri('static', filename='css/app.css') }}")
    assert "flask-s3 plan" in str(info.value)


def test_integrity_off_is_an_error_in_debug(deployed):
    app = page_app(deployed, DEBUG=True, USE_S3_DEBUG=True, S3_INTEGRITY=False)
    with pytest.raises(ConfigError, match="S3_INTEGRITY is off"):
        render(app, "{{ sri('static', filename='js/app.js') }}")


def test_bad_attribute_name_is_refused(deployed):
    app = page_app(deployed)
    with pytest.raises(ConfigError, match="not an HTML attribute name"):
        render(app, "{{ s3_script('static', filename='js/app.js', _attrs={'on x': 1}) }}")


def test_a_malformed_manifest_value_is_never_rendered(deployed):
    path = deployed / "static" / MANIFEST_FILE
    data = json.loads(path.read_text())
    data["integrity"]["static/js/app.js"] = 'sha384-x" onload="alert(1)'
    path.write_text(json.dumps(data))
    app = page_app(deployed, DEBUG=True, USE_S3_DEBUG=True)
    with pytest.raises(ConfigError, match=r"malformed value for static/js/app\.js"):
        render(app, "{{ s3_script('static', filename='js/app.js') }}")
