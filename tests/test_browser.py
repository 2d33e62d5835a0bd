"""The deployed example page in a real headless Chromium: every asset from S3, CSS applied,
web font loaded across origins (bucket CORS), script ran, no console errors. And the same page
with USE_S3 off, served by Flask's own static route.

Chromium comes from Debian (`scripts/ensure-chromium`, run by `make test`); without it the
test is skipped with the reason. Playwright drives it by executable path: no browser download.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flask_s3.locals3 import LocalS3

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
    result = subprocess.run(
        [sys.executable, "-m", "flask_s3", "apply", "deploy.example.yaml"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
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
