"""`make demo`: deploy the example shop to an embedded local S3 and fetch every asset.

Starts SeaweedFS on loopback, runs `flask-s3 plan` and `flask-s3 apply` on
deploy.example.yaml against it, renders the shop's page, fetches every asset URL in it (and
the url(...) references inside its CSS) from the local S3, prints each with its status and
Content-Type, and stops the server. Exits 1 if any asset is missing or not served from S3.
"""

from __future__ import annotations

import gzip
import os
import re
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

from flask_s3.tools.seaweedfs import LocalS3

ROOT = Path(__file__).resolve().parent.parent
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)""")


class AssetLinks(HTMLParser):
    """Collects href/src attribute values of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.urls.append(value)


def fetch(url: str) -> tuple[int, str, bytes]:
    """Status, Content-Type and the decoded body, as a browser would see them."""
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = resp.read()
            if resp.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            return resp.status, resp.headers.get("Content-Type", ""), body
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), b""


STEPS = 4


def step(number: int, text: str) -> None:
    print(f"\n[{number}/{STEPS}] {text}", flush=True)


NEXT = """
Next:
  - docs/quickstart.md: your own app against a local S3, ending on its page served from it
    (start one with `.venv/bin/flask-s3 local-s3`; it prints the lines to paste)
  - make docs: the documentation as HTML, in build/docs/html/index.html
  - .venv/bin/flask-s3 --help: every command"""


def run_cli(*args: str, env: dict[str, str]) -> None:
    command = [sys.executable, "-m", "flask_s3", *args]
    print(f"$ flask-s3 {' '.join(args)}", flush=True)
    result = subprocess.run(command, cwd=ROOT, env=env)
    if result.returncode not in (0, 2):
        raise SystemExit(f"flask-s3 {args[0]} failed with exit code {result.returncode}")


def check_page(server: LocalS3) -> int:
    from examples.shop import create_app

    app = create_app()
    html = app.test_client().get("/").get_data(as_text=True)
    parser = AssetLinks()
    parser.feed(html)
    queue = list(dict.fromkeys(parser.urls))
    failures = 0
    print(f"\n{'STATUS':<7} {'CONTENT-TYPE':<40} URL")
    seen: set[str] = set()
    while queue:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        status, ctype, body = fetch(url)
        from_s3 = url.startswith(server.endpoint_url + "/")
        ok = status == 200 and from_s3
        failures += not ok
        print(f"{status:<7} {ctype:<40} {url}{'' if ok else '   <-- FAILED'}")
        if ok and ctype.startswith("text/css"):
            for ref in CSS_URL.findall(body.decode("utf-8", "replace")):
                queue.append(urljoin(url, ref))
    print(f"\n{len(seen) - failures} of {len(seen)} assets served from the local S3.")
    return failures


def main() -> int:
    server = LocalS3(
        access_key="DEMO" + secrets.token_hex(8).upper(), secret_key=secrets.token_urlsafe(30)
    )
    step(1, "Starting a local S3 (SeaweedFS) on loopback (a few seconds) ...")
    server.start()
    try:
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": server.access_key or "",
            "AWS_SECRET_ACCESS_KEY": server.secret_key or "",
            "AWS_DEFAULT_REGION": server.region,
            "FLASK_S3_ENDPOINT_URL": server.endpoint_url,
            "FLASK_S3_URL_STYLE": "path",
            "FLASK_S3_URL_SCHEME": "http",
            "FLASK_S3_BUCKET_DOMAIN": server.host,
        }
        print(f"Local S3 at {server.endpoint_url}")
        step(2, "Planning the example shop's deploy (deploy.example.yaml) ...")
        run_cli("plan", "deploy.example.yaml", env=env)
        step(3, "Applying it: creating the bucket and uploading the assets ...")
        run_cli("apply", "deploy.example.yaml", env=env)
        os.environ.update(env)
        step(4, "Rendering the shop's page and fetching every asset it links from the local S3 ...")
        failures = check_page(server)
    finally:
        server.stop()
        print("Local S3 stopped.")
    print(NEXT)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
