"""`flask-s3 verify` and `apply --verify` against the real local S3: a clean deploy verifies;
objects changed behind the deployer's back are named; gzip-stored and multipart objects
verify; a CDN in front (a loopback forwarder) is fetched at the CDN URL without credentials."""

from __future__ import annotations

import hashlib
import json
import secrets
import textwrap
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from flask_s3.cli import main

APP = """
from flask import Blueprint, Flask

def create_app():
    app = Flask(__name__, static_folder="static")
    bp = Blueprint("shop", __name__, static_folder="shop_static")
    app.register_blueprint(bp, url_prefix="/shop")
    return app
"""
BIG = 9 * 1024 * 1024  # over the 5 MiB threshold below: two parts of 8 MiB + 1 MiB
FILES = {
    "static/css/app.css": b"body { color: #333 }\n" * 50,  # gzip-stored
    "static/js/app.js": b"console.log('hi');\n",
    "static/img/a b+c.png": b"\x89PNG not really",
    "shop_static/shop.css": b".shop { margin: 0 }\n",
}


def big_bytes() -> bytes:
    block = hashlib.sha256(b"big").digest() * 2048  # 64 KiB, not compressible to nothing
    return block * (BIG // len(block)) + b"tail"


@pytest.fixture
def site(tmp_path: Path, s3_env: Any, bucket_name: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    module = f"verifyapp_{secrets.token_hex(4)}"
    (tmp_path / f"{module}.py").write_text(APP)
    for rel, data in FILES.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (tmp_path / "static/media").mkdir()
    (tmp_path / "static/media/film.bin").write_bytes(big_bytes())
    write_spec(tmp_path, module, bucket_name, s3_env)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("S3_ENDPOINT", s3_env.endpoint_url)
    return tmp_path


def write_spec(
    root: Path,
    module: str,
    bucket: str,
    server: Any,
    *,
    urls: str = "",
    bucket_extra: str = "",
    assets_extra: str = "",
    public: bool = True,
) -> None:
    urls = urls or f"style: path\n  bucket_domain: {server.host}"
    (root / "deploy.yaml").write_text(
        textwrap.dedent(
            f"""\
            version: 1
            app: "{module}:create_app()"
            bucket:
              name: {bucket}
              endpoint_url: ${{S3_ENDPOINT}}
              region: us-east-1
              public_read_policy: {"true" if public else "false"}
            """
        )
        + bucket_extra
        + f"urls:\n  scheme: http\n  {urls}\n"
        + "assets:\n"
        + '  headers: {Cache-Control: "max-age=300"}\n'
        + "  gzip: {enabled: true, content_types: [text/css]}\n"
        + assets_extra
        + "upload:\n  multipart_threshold: 5242880\n"
    )


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def verify_json(*extra: str) -> tuple[int, dict[str, Any]]:
    result = cli("verify", "deploy.yaml", "--format", "json", *extra)
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout)


def test_clean_deploy_verifies_gzip_and_multipart_included(
    site: Path, s3_client: Any, bucket_name: str
):
    applied = cli("apply", "deploy.yaml")
    assert applied.exit_code == 0, applied.output
    big = s3_client.head_object(Bucket=bucket_name, Key="static/media/film.bin")
    assert big["ETag"].strip('"').endswith("-2")  # really a multipart object
    css = s3_client.head_object(Bucket=bucket_name, Key="static/css/app.css")
    assert css["ContentEncoding"] == "gzip"  # really gzip-stored

    code, report = verify_json()
    assert code == 0, report
    assert report["ok"] is True
    assert report["mode"] == "anonymous"
    assert (report["checked"], report["passed"], report["failed"]) == (5, 5, 0)
    assert report["base"] == f"http://{site_host(s3_client)}/{bucket_name}"

    text = cli("verify", "deploy.yaml")
    assert text.exit_code == 0
    assert "Verify: all 5 URLs hold." in text.stdout
    markdown = cli("verify", "deploy.yaml", "--format", "markdown")
    assert "### flask-s3 verify passed: Verify: all 5 URLs hold." in markdown.stdout
    assert "| 5 | 5 | 0 |" in markdown.stdout


def site_host(s3_client: Any) -> str:
    return s3_client.meta.endpoint_url.split("://", 1)[1]


def test_changes_behind_the_deployers_back_are_named(site: Path, s3_client: Any, bucket_name: str):
    assert cli("apply", "deploy.yaml").exit_code == 0
    base = f"http://{site_host(s3_client)}/{bucket_name}"
    # Deleted; replaced with other bytes (same type); given another Content-Type; and the
    # gzip-stored CSS replaced by another gzip body; the big one truncated.
    s3_client.delete_object(Bucket=bucket_name, Key="static/js/app.js")
    s3_client.put_object(
        Bucket=bucket_name,
        Key="shop/shop_static/shop.css",
        Body=b"hacked",
        ContentType="text/css; charset=utf-8",
        CacheControl="max-age=300",
    )
    s3_client.copy_object(
        Bucket=bucket_name,
        Key="static/img/a b+c.png",
        CopySource={"Bucket": bucket_name, "Key": "static/img/a b+c.png"},
        MetadataDirective="REPLACE",
        ContentType="text/html",
        CacheControl="max-age=300",
    )
    import gzip

    s3_client.put_object(
        Bucket=bucket_name,
        Key="static/css/app.css",
        Body=gzip.compress(b"body { color: red }\n"),
        ContentEncoding="gzip",
        ContentType="text/css; charset=utf-8",
        CacheControl="max-age=300",
    )

    code, report = verify_json()
    assert code == 1
    assert (report["checked"], report["failed"]) == (5, 4)
    found = {f["url"]: f["problems"] for f in report["failures"]}
    assert found[f"{base}/static/js/app.js"] == ["status 404"]
    assert found[f"{base}/static/img/a%20b%2Bc.png"] == [
        "Content-Type is 'text/html', planned 'image/png'"
    ]
    # Plain bytes where a gzip-stored object was: both the header and the body are named.
    shop = found[f"{base}/shop/shop_static/shop.css"]
    assert shop[0] == "Content-Encoding is missing, planned 'gzip'"
    assert shop[1].startswith("the gzip body cannot be decoded")
    (css,) = found[f"{base}/static/css/app.css"]
    assert css.startswith("decoded body differs from the local file (20 bytes")
    assert f"{base}/static/media/film.bin" not in found  # the multipart one still holds

    text = cli("verify", "deploy.yaml")
    assert text.exit_code == 1
    assert f"x {base}/static/js/app.js\n    status 404\n" in text.stdout
    assert text.stdout.endswith("Verify: 4 of 5 URLs differ.\n")


def test_private_bucket_is_verified_signed_through_the_store(
    site: Path, s3_env: Any, s3_client: Any, bucket_name: str, both_stores: str
):
    module = next(site.glob("verifyapp_*.py")).stem
    write_spec(site, module, bucket_name, s3_env, public=False)
    assert cli("apply", "deploy.yaml").exit_code == 0
    anonymous = f"{s3_env.endpoint_url}/{bucket_name}/static/js/app.js"
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(anonymous, timeout=10)
    assert denied.value.code == 403  # a browser could not read it: verify must sign

    code, report = verify_json()
    assert code == 0, report
    assert report["mode"] == "signed"
    assert report["checked"] == 5
    s3_client.delete_object(Bucket=bucket_name, Key="static/js/app.js")
    code, report = verify_json()
    assert code == 1
    assert [f["problems"] for f in report["failures"]] == [["status 404 (NoSuchKey)"]]


def test_apply_verify_flag_and_sample(site: Path, s3_client: Any, bucket_name: str):
    result = cli("apply", "deploy.yaml", "--verify")
    assert result.exit_code == 0, result.output
    assert "Apply complete" in result.stdout
    assert "Verify: all 5 URLs hold." in result.stdout

    for key in [
        "static/js/app.js",
        "static/css/app.css",
        "static/img/a b+c.png",
        "shop/shop_static/shop.css",
        "static/media/film.bin",
    ]:
        s3_client.delete_object(Bucket=bucket_name, Key=key)
    code, first = verify_json("--sample", "2", "--seed", "7")
    assert code == 1
    assert (first["total"], first["checked"], first["failed"]) == (5, 2, 2)
    again = verify_json("--sample", "2", "--seed", "7")[1]
    assert [f["url"] for f in again["failures"]] == [f["url"] for f in first["failures"]]
    seeds = {
        tuple(f["url"] for f in verify_json("--sample", "2", "--seed", str(s))[1]["failures"])
        for s in range(6)
    }
    assert len(seeds) > 1  # the seed picks the sample
    text = cli("verify", "deploy.yaml", "--sample", "2", "--seed", "7").stdout
    assert "(a sample of 2 of 5, seed 7)" in text


# -- a CDN in front: a loopback forwarder to the bucket -----------------------------------


class Forwarder(ThreadingHTTPServer):
    upstream = ""
    drop_cors = False
    seen: list[dict[str, str]]


class ForwardHandler(BaseHTTPRequestHandler):
    server: Forwarder

    def do_GET(self) -> None:
        self.server.seen.append(
            {"path": self.path, **{k.lower(): v for k, v in self.headers.items()}}
        )
        wanted = {
            k: v for k, v in self.headers.items() if k.lower() in ("origin", "accept-encoding")
        }
        request = urllib.request.Request(self.server.upstream + self.path, headers=wanted)
        try:
            answer = urllib.request.urlopen(request, timeout=10)
        except urllib.error.HTTPError as exc:
            answer = exc
        with answer:
            body = answer.read()
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                if name.lower() in ("transfer-encoding", "connection", "content-length"):
                    continue
                if self.server.drop_cors and name.lower().startswith("access-control-"):
                    continue
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def cdn(s3_env: Any, bucket_name: str) -> Iterator[Forwarder]:
    server = Forwarder(("127.0.0.1", 0), ForwardHandler)
    server.upstream = f"{s3_env.endpoint_url}/{bucket_name}"
    server.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_cdn_url_is_fetched_anonymously_with_cors_and_integrity(
    site: Path, s3_env: Any, bucket_name: str, cdn: Forwarder, s3_client: Any
):
    module = next(site.glob("verifyapp_*.py")).stem
    write_spec(
        site,
        module,
        bucket_name,
        s3_env,
        urls=f"cdn_domain: 127.0.0.1:{cdn.server_address[1]}",
        bucket_extra='  cors: ["https://shop.example"]\n',
        assets_extra="  integrity: true\n",
    )
    assert cli("apply", "deploy.yaml").exit_code == 0

    code, report = verify_json()
    assert code == 0, report
    assert report["base"] == f"http://127.0.0.1:{cdn.server_address[1]}"
    paths = sorted(s["path"] for s in cdn.seen)
    assert paths == [
        "/shop/shop_static/shop.css",
        "/static/css/app.css",
        "/static/img/a%20b%2Bc.png",
        "/static/js/app.js",
        "/static/media/film.bin",
    ]
    for seen in cdn.seen:  # anonymous: nothing that could carry a credential
        assert "authorization" not in seen
        assert not any(name.startswith("x-amz-") for name in seen)
        assert seen["origin"] == "https://shop.example"  # integrity on: every asset is CORS

    # A CDN that does not pass the CORS answer on: browsers refuse SRI assets.
    cdn.drop_cors = True
    code, report = verify_json()
    assert code == 1
    assert report["failed"] == 5
    assert all(
        f["problems"][0].startswith(
            "CORS: no Access-Control-Allow-Origin for Origin https://shop.example"
        )
        for f in report["failures"]
    )
    cdn.drop_cors = False
    # A stale manifest shipped with the app: pages render an integrity value the bytes fail.
    manifest = site / "static" / ".flask-s3-manifest.json"
    data = json.loads(manifest.read_text())
    good = data["integrity"]["static/js/app.js"]
    data["integrity"]["static/js/app.js"] = "sha384-" + "A" * 64
    manifest.write_text(json.dumps(data))
    code, report = verify_json()
    assert code == 1
    assert [f["problems"] for f in report["failures"]] == [
        [f"integrity: the body hashes to {good}, the app renders sha384-{'A' * 64}"]
    ]
    data["integrity"]["static/js/app.js"] = good
    manifest.write_text(json.dumps(data))
    # Other bytes with the same headers: named, and the integrity check is not what passes.
    stored = s3_client.head_object(Bucket=bucket_name, Key="static/js/app.js")
    s3_client.put_object(
        Bucket=bucket_name,
        Key="static/js/app.js",
        Body=b"evil();\n",
        ContentType=stored["ContentType"],
        CacheControl=stored["CacheControl"],
    )
    code, report = verify_json()
    assert code == 1
    (problems,) = [f["problems"] for f in report["failures"]]
    assert len(problems) == 1
    assert problems[0].startswith("body differs from the local file (8 bytes")


def test_kept_fingerprint_generations_are_fetched_too(
    site: Path, s3_env: Any, s3_client: Any, bucket_name: str
):
    module = next(site.glob("verifyapp_*.py")).stem
    write_spec(
        site,
        module,
        bucket_name,
        s3_env,
        assets_extra="  prune: true\n  fingerprint: {enabled: true, keep: 2}\n",
    )
    assert cli("apply", "deploy.yaml").exit_code == 0
    (site / "static/js/app.js").write_bytes(b"console.log('v2');\n")
    assert cli("apply", "deploy.yaml").exit_code == 0
    listed = {o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket_name)["Contents"]}
    old = sorted(k for k in listed if k.startswith("static/js/app.") and k.endswith(".js"))
    assert len(old) == 2  # this deploy's and the one keep promises

    code, report = verify_json()
    assert code == 0, report
    assert report["checked"] == 6  # five files and the earlier app.js
    manifest = json.loads((site / "static/.flask-s3-manifest.json").read_text())
    current = manifest["files"]["static/js/app.js"]
    (earlier,) = [k for k in old if k != current]
    s3_client.delete_object(Bucket=bucket_name, Key=earlier)
    code, report = verify_json()
    assert code == 1
    (failure,) = report["failures"]
    assert failure["url"].endswith("/" + earlier)
    assert (failure["kept"], failure["problems"]) == (True, ["status 404"])
    text = cli("verify", "deploy.yaml").stdout
    assert f"/{earlier}  [kept from an earlier deploy]\n    status 404\n" in text


def test_urls_are_the_ones_the_apps_url_for_gives(
    site: Path, s3_env: Any, bucket_name: str, monkeypatch: pytest.MonkeyPatch
):
    """An app whose own config says another prefix than the spec: verify fetches what the app
    emits (and finds nothing there), not where the deployer put the files."""
    module = next(site.glob("verifyapp_*.py")).stem
    (site / f"{module}.py").write_text(
        APP.replace(
            "    return app",
            "    app.config['S3_PREFIX'] = 'v9'\n"
            "    from flask_s3 import FlaskS3\n    FlaskS3(app, 'deploy.yaml')\n"
            "    return app",
        )
    )
    assert cli("apply", "deploy.yaml").exit_code == 0
    code, report = verify_json()
    assert code == 1
    assert report["failed"] == 5
    import importlib

    app = importlib.import_module(module).create_app()
    with app.test_request_context():
        from flask_s3 import url_for

        emitted = url_for("static", filename="img/a b+c.png")
        shop = url_for("shop.static", filename="shop.css")
    assert emitted.startswith(f"http://{s3_env.host}/{bucket_name}/v9/")
    urls = {f["url"] for f in report["failures"]}
    assert {emitted, shop} <= urls


def test_markdown_report_escapes_what_servers_and_file_names_choose():
    from flask_s3.deployer.verify_render import render_markdown

    report = {
        "ok": False,
        "mode": "anonymous",
        "base": "https://cdn.example",
        "total": 1,
        "checked": 1,
        "passed": 0,
        "failed": 1,
        "sample": None,
        "seed": None,
        "seconds": 0.1,
        "notes": [],
        "failures": [
            {
                "url": "https://cdn.example/static/a%60b.css",
                "key": "static/a`b.css",
                "kept": False,
                "problems": [
                    "Content-Type is '@team | <img src=x> [x](y)\n::warning::', planned 'x'"
                ],
            }
        ],
    }
    out = render_markdown(report)
    row = next(line for line in out.splitlines() if line.startswith("| `https"))
    # the plan's own Markdown escaping: a joiner after "@", backslashes before < [ ] |
    assert "@\u2060team" in row and "\\<img" in row and "\\[x\\](y)" in row
    assert "@team" not in row and " <img" not in row
    assert (
        "\\\\n::warning::" in row
    )  # the newline written out: the forged command stays in the cell
    assert row.count(" | ") == 1  # the cell's own "|" is escaped: still two cells
    assert not any(line.startswith("::") for line in out.splitlines())
