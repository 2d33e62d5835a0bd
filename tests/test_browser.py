"""The deployed example page in a real headless Chromium: every asset from S3, CSS applied,
web font loaded across origins (bucket CORS), script ran, no console errors. And the same page
with USE_S3 off, served by Flask's own static route.

Chromium comes from Debian (`scripts/ensure-chromium`, run by `make test`); without it the
test is skipped with the reason. Playwright drives it by executable path: no browser download.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clirun import flask_s3

from flask_s3.tools.seaweedfs import LocalS3

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.xdist_group("browser"),  # one worker starts Chromium's own S3 server
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="Chromium is not installed; scripts/ensure-chromium installs it (root, apt-get)",
    ),
]


@pytest.fixture(scope="module")
def cors_strict_s3() -> Iterator[LocalS3]:
    """A server that sends no CORS headers until a bucket has CORS rules: no false pass."""
    server = LocalS3(
        access_key="BROWSER" + os.urandom(4).hex().upper(),
        secret_key=os.urandom(16).hex(),
        allowed_origins="http://unused.invalid",
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def deployed_env(cors_strict_s3: LocalS3, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        "AWS_ACCESS_KEY_ID": cors_strict_s3.access_key or "",
        "AWS_SECRET_ACCESS_KEY": cors_strict_s3.secret_key or "",
        "AWS_DEFAULT_REGION": "us-east-1",
        "FLASK_S3_ENDPOINT_URL": cors_strict_s3.endpoint_url,
        "FLASK_S3_URL_STYLE": "path",
        "FLASK_S3_URL_SCHEME": "http",
        "FLASK_S3_BUCKET_DOMAIN": cors_strict_s3.host,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = flask_s3(ROOT, "apply", "deploy.example.yaml", env={**os.environ, **env})
    assert result.returncode == 0, result.stderr
    return env


def serve(app: Any) -> tuple[str, Any]:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


def visit(url: str, screenshot: Path) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    seen: dict[str, Any] = {"responses": [], "failed": [], "console": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_context().new_page()
            page.on("response", lambda r: seen["responses"].append((r.url, r.status)))
            page.on("requestfailed", lambda r: seen["failed"].append((r.url, r.failure)))
            page.on(
                "console",
                lambda m: seen["console"].append(m.text) if m.type == "error" else None,
            )
            page.goto(url, wait_until="load")
            page.evaluate("document.fonts.ready")
            page.wait_for_function("document.body.dataset.ready === 'yes'", timeout=5000)
            seen["background"] = page.evaluate("getComputedStyle(document.body).backgroundColor")
            seen["font"] = page.evaluate("document.fonts.check('16px \"Shop Sans\"')")
            seen["status"] = page.inner_text("#status")
            seen["images"] = page.evaluate(
                "[...document.images].map(i => [i.id, i.complete && i.naturalWidth > 0])"
            )
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return seen


def test_page_loads_everything_from_s3(deployed_env, cors_strict_s3, tmp_path):
    from examples.shop import create_app

    base, server = serve(create_app())
    try:
        seen = visit(base + "/", tmp_path / "s3-page.png")
    finally:
        server.shutdown()
    assets = [(u, s) for u, s in seen["responses"] if not u.startswith(base)]
    assert len(assets) >= 8, seen["responses"]  # css x2, js, 3 images, favicon, font
    for url, status in assets:
        assert url.startswith(cors_strict_s3.endpoint_url + "/flask-s3-example/"), url
        assert status == 200, (url, status)
    assert [u for u, _ in seen["responses"] if u.startswith(base)] == [base + "/"]
    assert any(u.endswith("/static/fonts/shop.woff2") for u, _ in assets)
    assert seen["failed"] == []
    assert seen["background"] == "rgb(250, 240, 230)"
    assert seen["font"] is True
    assert seen["status"] == "Ready"
    assert all(ok for _, ok in seen["images"]), seen["images"]
    assert seen["console"] == []
    assert (tmp_path / "s3-page.png").stat().st_size > 1000


def test_page_served_locally_when_s3_is_off(tmp_path):
    from examples.shop import create_app

    base, server = serve(create_app(USE_S3=False))
    try:
        seen = visit(base + "/", tmp_path / "local-page.png")
    finally:
        server.shutdown()
    assert seen["responses"], "no responses seen"
    for url, status in seen["responses"]:
        assert url.startswith(base), url
        assert status == 200, (url, status)
    assert seen["background"] == "rgb(250, 240, 230)"
    assert seen["font"] is True
    assert seen["status"] == "Ready"
    assert seen["console"] == []


# Subresource Integrity: the page refuses an asset changed in the bucket behind our back.

SRI_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Integrity</title>
  <link rel="icon" href="data:,">
  {{ s3_stylesheet('static', filename='css/app.css') }}
</head>
<body>
  <p id="status">Loading...</p>
  <p id="gz">not run</p>
  {{ s3_script('static', filename='js/gz-part.js') }}
  {{ s3_script('static', filename='js/app.js') }}
</body>
</html>
"""
SRI_FILES = {
    "css/app.css": "body { background: rgb(250, 240, 230); }\n",  # stored gzip
    "js/gz-part.js": "document.getElementById('gz').textContent = 'gz ran';\n",  # stored gzip
    "js/app.js": (  # stored plain
        "document.body.dataset.ready = 'yes';\n"
        "document.getElementById('status').textContent = 'Ready';\n"
    ),
}
TAMPERED_JS = b"document.getElementById('status').textContent = 'Tampered';\n"
TAMPERED_CSS = b"body { background: rgb(255, 0, 0); }\n"


def sri_spec(server: LocalS3, bucket: str) -> Any:
    from flask_s3.spec import (
        AssetsSpec,
        BucketSpec,
        CorsSpec,
        GzipSpec,
        HeaderRule,
        Spec,
        UrlSpec,
    )

    return Spec(
        bucket=BucketSpec(
            name=bucket,
            endpoint_url=server.endpoint_url,
            public_read_policy=True,
            cors=CorsSpec(allowed_origins=("*",)),
        ),
        urls=UrlSpec(scheme="http", style="path", bucket_domain=server.host),
        assets=AssetsSpec(
            integrity=True,
            # text/javascript (.js) is gzip-stored; app.js, typed text/x-javascript (another
            # name browsers run), is not.
            gzip=GzipSpec(enabled=True, content_types=("text/css", "text/javascript")),
            rules=(HeaderRule("static/js/app.js", {"Content-Type": "text/x-javascript"}),),
        ),
        digest="sri-browser",
    )


def sri_visit(url: str, screenshot: Path) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    seen: dict[str, Any] = {"responses": [], "console": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_context().new_page()
            page.on("response", lambda r: seen["responses"].append((r.url, r.status)))
            page.on(
                "console",
                lambda m: seen["console"].append(m.text) if m.type == "error" else None,
            )
            page.goto(url, wait_until="load")
            seen["status"] = page.inner_text("#status")
            seen["gz"] = page.inner_text("#gz")
            seen["ready"] = page.evaluate("document.body.dataset.ready || null")
            seen["background"] = page.evaluate("getComputedStyle(document.body).backgroundColor")
            seen["integrity"] = page.evaluate(
                "[...document.querySelectorAll('script[src], link[rel=stylesheet]')]"
                ".map(e => [e.src || e.href, e.integrity, e.crossOrigin])"
            )
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return seen


def test_integrity_refuses_an_asset_changed_in_the_bucket(
    cors_strict_s3, monkeypatch, tmp_path, bucket_name
):
    import gzip

    import boto3
    from botocore.config import Config
    from flask import Flask, render_template_string

    from flask_s3 import FlaskS3
    from flask_s3.assets.sri import sri_value
    from flask_s3.deployer.apply import apply_plan
    from flask_s3.deployer.snapshot import snapshot, write_fingerprint_manifest
    from flask_s3.s3 import open_store

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", cors_strict_s3.access_key or "")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", cors_strict_s3.secret_key or "")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    site = tmp_path / "site"
    for rel, text in SRI_FILES.items():
        (site / "static" / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / "static" / rel).write_text(text)
    spec = sri_spec(cors_strict_s3, bucket_name)
    client = open_store(spec)
    deployed = Flask("sri_site", root_path=str(site))
    snap = snapshot(spec, deployed, client)
    write_fingerprint_manifest(deployed, spec, snap.local)
    apply_plan(snap.plan, spec, snap.local, client, remote=snap.remote)

    app = Flask("sri_site", root_path=str(site))
    app.add_url_rule("/", "index", lambda: render_template_string(SRI_PAGE))
    FlaskS3(app, spec)
    base, server = serve(app)
    s3 = boto3.client(
        "s3",
        endpoint_url=cors_strict_s3.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=cors_strict_s3.access_key,
        aws_secret_access_key=cors_strict_s3.secret_key,
        config=Config(s3={"addressing_style": "path"}),
    )
    encodings = {
        rel: s3.head_object(Bucket=bucket_name, Key=f"static/{rel}").get("ContentEncoding")
        for rel in SRI_FILES
    }
    assert encodings == {"css/app.css": "gzip", "js/gz-part.js": "gzip", "js/app.js": None}
    try:
        before = sri_visit(base + "/", tmp_path / "sri-intact.png")
        # Behind the deployer's back: same keys, different bytes (the CSS gzip-encoded again).
        s3.put_object(
            Bucket=bucket_name,
            Key="static/js/app.js",
            Body=TAMPERED_JS,
            ContentType="application/javascript",
        )
        s3.put_object(
            Bucket=bucket_name,
            Key="static/css/app.css",
            Body=gzip.compress(TAMPERED_CSS, mtime=0),
            ContentType="text/css; charset=utf-8",
            ContentEncoding="gzip",
        )
        after = sri_visit(base + "/", tmp_path / "sri-tampered.png")
        # Without CORS rules even the untouched assets fail: crossorigin makes it a CORS fetch.
        s3.delete_bucket_cors(Bucket=bucket_name)
        no_cors = sri_visit(base + "/", tmp_path / "sri-no-cors.png")
    finally:
        server.shutdown()
    (tmp_path / "sri-tampered-console.txt").write_text("\n".join(after["console"]) + "\n")

    prefix = f"{cors_strict_s3.endpoint_url}/{bucket_name}/static/"
    expected = {prefix + rel: sri_value((site / "static" / rel).read_bytes()) for rel in SRI_FILES}
    assert {u: (i, c) for u, i, c in before["integrity"]} == {
        u: (v, "anonymous") for u, v in expected.items()
    }
    assets = [(u, s) for u, s in before["responses"] if u.startswith(prefix)]
    assert sorted(u for u, _ in assets) == sorted(expected)
    assert all(status == 200 for _, status in assets), assets
    assert before["console"] == []
    assert before["status"] == "Ready" and before["ready"] == "yes"
    assert before["gz"] == "gz ran"  # a gzip-stored script passes its integrity check
    assert before["background"] == "rgb(250, 240, 230)"  # and a gzip-stored stylesheet

    assert after["status"] == "Loading..." and after["ready"] is None  # the script did not run
    assert after["background"] == "rgba(0, 0, 0, 0)"  # neither the old nor the tampered CSS
    assert after["gz"] == "gz ran"  # untouched assets still load
    refused = [m for m in after["console"] if "integrity" in m]
    assert len(refused) == 2, after["console"]
    js_msg = next(m for m in refused if "app.js" in m)
    css_msg = next(m for m in refused if "app.css" in m)
    # Chromium names the hash it computed: over the decoded body, also for the gzip object.
    computed = "computed SHA-384 integrity '{}'"
    assert computed.format(sri_value(TAMPERED_JS)[7:]) in js_msg and "blocked" in js_msg
    assert computed.format(sri_value(TAMPERED_CSS)[7:]) in css_msg
    assert (tmp_path / "sri-tampered.png").stat().st_size > 1000

    assert no_cors["gz"] == "not run", no_cors["console"]
    assert any("CORS policy" in m and "gz-part.js" in m for m in no_cors["console"])


# ES modules: plain modules fingerprinted by flask-s3, and a real Vite build kept as it is.

FRONTEND = ROOT / "examples" / "vite"
PAGES = {  # path -> what the page sets once every module (and the lazy ones) ran
    "/plain": "document.body.dataset.ready === 'yes' && "
    "document.getElementById('data').textContent === 'data loaded'",
    "/": "document.body.dataset.vite === 'yes' && document.getElementById('logo').complete",
}


@pytest.fixture(scope="session")
def vite_modules() -> Path:
    """Vite installed by `npm ci` from the example's lock file, once per lock file: in the
    user's cache folder, so the next run only links to it."""
    import hashlib

    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: the Vite page needs it (apt-get install npm)")
    key = hashlib.sha256(
        (FRONTEND / "package.json").read_bytes() + (FRONTEND / "package-lock.json").read_bytes()
    ).hexdigest()[:16]
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "flask-s3-tests"
    done = base / f"vite-{key}"
    if not (done / "node_modules" / "vite" / "bin" / "vite.js").is_file():
        work = base / f"vite-{key}.{os.getpid()}.tmp"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(FRONTEND / name, work / name)
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        try:
            work.rename(done)  # atomic: another run never sees half an install
        except OSError:
            shutil.rmtree(work, ignore_errors=True)  # a parallel run finished first
    return done / "node_modules"


def build_site(site: Path, modules: Path) -> None:
    """The example copied to ``site`` and built there by Vite (into static/dist)."""
    if not site.exists():
        shutil.copytree(
            FRONTEND,
            site,
            ignore=shutil.ignore_patterns("node_modules", "dist", "__pycache__"),
        )
        (site / "node_modules").symlink_to(modules, target_is_directory=True)
    result = subprocess.run(
        ["node", str(modules / "vite" / "bin" / "vite.js"), "build", "--logLevel", "error"],
        cwd=site,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def deploy_site(site: Path) -> None:
    from flask_s3.deployer.apply import apply_plan
    from flask_s3.deployer.snapshot import snapshot, write_fingerprint_manifest
    from flask_s3.extension import loading_for_deploy
    from flask_s3.s3 import open_store
    from flask_s3.spec import load_spec

    spec = load_spec(site / "deploy.yaml")
    with loading_for_deploy():
        app = _vite_app(site)
    store = open_store(spec)
    snap = snapshot(spec, app, store)
    assert not snap.plan.warnings, snap.plan.warnings
    write_fingerprint_manifest(app, spec, snap.local)
    report = apply_plan(snap.plan, spec, snap.local, store, remote=snap.remote)
    assert not report.failed, report.failed


def _vite_app(site: Path) -> Any:
    from examples.vite.app import create_app

    return create_app(site)


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """One browser for several visits: starting Chromium is most of a visit's time."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def module_visit(browser: Any, base: str, paths: dict[str, str]) -> dict[str, Any]:
    """Each page, in a fresh context (no cache), until its modules say they ran; what was
    fetched, what failed."""
    seen: dict[str, Any] = {"responses": [], "failed": [], "console": [], "text": {}}
    context = browser.new_context()
    try:
        for path, ready in paths.items():
            page = context.new_page()
            page.on("response", lambda r: seen["responses"].append((r.url, r.status)))
            page.on("requestfailed", lambda r: seen["failed"].append((r.url, r.failure)))
            page.on(
                "console",
                lambda m: seen["console"].append(m.text) if m.type == "error" else None,
            )
            page.goto(base + path, wait_until="load")
            page.wait_for_function(ready, timeout=10_000)
            seen["text"][path] = page.evaluate(
                "[...document.querySelectorAll('p')].map(p => p.textContent)"
            )
            if path == "/":
                seen["logo"] = page.evaluate("document.getElementById('logo').naturalWidth")
            page.close()
    finally:
        context.close()
    return seen


def fetch(url: str) -> tuple[int, bytes]:
    import gzip
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = resp.read()
            if resp.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            return resp.status, body
    except urllib.error.HTTPError as err:
        return err.code, b""


def source_maps_resolve(urls: list[str]) -> list[str]:
    """The source map URL of every script in ``urls``, each checked to load as JSON."""
    import json
    from urllib.parse import urljoin

    from flask_s3.assets.javascript import scan

    maps = []
    for url in urls:
        status, body = fetch(url)
        assert status == 200, url
        named = [r.value for r in scan(body).references if r.kind == "sourcemap"]
        for value in named:
            status, data = fetch(urljoin(url, value))
            assert status == 200, (url, value, status)
            assert json.loads(data)["version"] == 3
            maps.append(urljoin(url, value))
    return maps


def check_visit(seen: dict[str, Any], bucket_url: str) -> list[str]:
    """Every request succeeded and every module ran; the scripts fetched from the bucket."""
    assert seen["failed"] == [], seen["failed"]
    assert seen["console"] == [], seen["console"]
    assert all(status == 200 for _, status in seen["responses"]), seen["responses"]
    assert seen["text"]["/plain"] == [
        "modules ran",
        "lazy module loaded",
        "cycle done",
        "data loaded",
    ]
    assert seen["text"]["/"] == ["Hello from Vite", "lazy chunk loaded"]
    assert seen["logo"] == 32
    scripts = sorted(
        {u for u, _ in seen["responses"] if u.startswith(bucket_url) and u.endswith(".js")}
    )
    return scripts


def test_es_modules_and_a_vite_build_survive_fingerprinting(
    cors_strict_s3, vite_modules, monkeypatch, tmp_path, bucket_name
):
    with contextlib.ExitStack() as stack:
        modules_survive(stack, cors_strict_s3, vite_modules, monkeypatch, tmp_path, bucket_name)


def modules_survive(
    stack: contextlib.ExitStack[Any],
    cors_strict_s3: LocalS3,
    vite_modules: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    bucket_name: str,
) -> None:
    import json
    import re

    from flask import Flask

    env = {
        "AWS_ACCESS_KEY_ID": cors_strict_s3.access_key or "",
        "AWS_SECRET_ACCESS_KEY": cors_strict_s3.secret_key or "",
        "AWS_DEFAULT_REGION": "us-east-1",
        "FLASK_S3_BUCKET": bucket_name,
        "FLASK_S3_ENDPOINT_URL": cors_strict_s3.endpoint_url,
        "FLASK_S3_URL_STYLE": "path",
        "FLASK_S3_URL_SCHEME": "http",
        "FLASK_S3_BUCKET_DOMAIN": cors_strict_s3.host,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    site = tmp_path / "site"
    build_site(site, vite_modules)
    deploy_site(site)
    bucket_url = f"{cors_strict_s3.endpoint_url}/{bucket_name}/"

    browser = stack.enter_context(chromium())
    app = _vite_app(site)
    old_pages = {path: app.test_client().get(path).get_data(as_text=True) for path in PAGES}
    base, server = serve(app)
    try:
        first = module_visit(browser, base, PAGES)
    finally:
        server.shutdown()
    scripts = check_visit(first, bucket_url)
    names = [u[len(bucket_url) :] for u in scripts]
    plain = [n for n in names if n.startswith("static/modules/")]
    assert len(plain) == 5 and all(
        re.fullmatch(r"static/modules/[a-z-]+\.[0-9a-f]{12}\.js", n) for n in plain
    ), names
    built = [n for n in names if n.startswith("static/dist/assets/")]
    assert len(built) == 2 and all(
        re.fullmatch(r"static/dist/assets/(main|lazy)-[\w-]{8}\.js", n) for n in built
    )
    manifest = json.loads((site / "static/dist/.vite/manifest.json").read_text())
    vite_files = {f"static/dist/{e['file']}" for e in manifest.values()}
    vite_files |= {f"static/dist/{c}" for e in manifest.values() for c in e.get("css", [])}
    fetched = {u[len(bucket_url) :] for u, _ in first["responses"] if u.startswith(bucket_url)}
    assert len(vite_files) == 4 and vite_files <= fetched  # Vite's names, not hashed again
    maps = source_maps_resolve(scripts)
    assert len(maps) == 3  # app.js's, and Vite's for both chunks

    # A second deploy after a change: a new module graph, and the old one still whole.
    (site / "static/modules/util.js").write_text(
        "export function label(what) {\n  return `${what} ran again`;\n}\n"
    )
    (site / "src/lazy.js").write_text(
        'export function lazyMessage() {\n  return "lazy chunk loaded again";\n}\n'
    )
    build_site(site, vite_modules)
    deploy_site(site)

    old_app = Flask("old_pages")
    for path, html in old_pages.items():
        old_app.add_url_rule(path, path, lambda html=html: html)
    base, server = serve(old_app)
    try:
        again = module_visit(browser, base, PAGES)
    finally:
        server.shutdown()
    assert sorted(check_visit(again, bucket_url)) == scripts  # the same files, all still there

    new_app = _vite_app(site)
    base, server = serve(new_app)
    try:
        new = module_visit(browser, base, PAGES)
    finally:
        server.shutdown()
    assert new["failed"] == [] and new["console"] == []
    assert new["text"]["/plain"][0] == "modules ran again"
    assert new["text"]["/"][1] == "lazy chunk loaded again"
    new_scripts = sorted(
        {u for u, _ in new["responses"] if u.startswith(bucket_url) and u.endswith(".js")}
    )
    changed = set(scripts) ^ set(new_scripts)
    # util.js changed: it and app.js (which imports it) are renamed; Vite renamed its chunks
    assert {u.rsplit("/", 1)[1].split(".")[0].split("-")[0] for u in changed} == {
        "util",
        "app",
        "lazy",
        "main",
    }
