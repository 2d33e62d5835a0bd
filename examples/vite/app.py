"""An app whose pages load ES modules from S3: one built by Vite, one written by hand.

- ``/``: the entry Vite built from ``src/main.js`` into ``static/dist/`` (``npm ci && npm run
  build``). Its hashed file names come from Vite's manifest; flask-s3 stores them as they are.
- ``/plain``: modules in ``static/modules/`` importing each other by relative URL, with no
  build step. flask-s3 fingerprints them and rewrites their imports, leaves first.

Deploy with ``flask-s3 apply examples/vite/deploy.yaml`` (after the Vite build).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Flask, render_template

from flask_s3 import FlaskS3

HERE = Path(__file__).parent
SPEC = HERE / "deploy.yaml"
VITE_MANIFEST = HERE / "static" / "dist" / ".vite" / "manifest.json"


def vite_entry(name: str = "src/main.js") -> dict[str, Any]:
    """The built files of one Vite entry, as paths in the static folder."""
    manifest = json.loads(VITE_MANIFEST.read_text(encoding="utf-8"))
    entry = manifest[name]
    return {
        "script": f"dist/{entry['file']}",
        "css": [f"dist/{css}" for css in entry.get("css", [])],
    }


def create_app(spec: Path | str = SPEC, **config: object) -> Flask:
    app = Flask(__name__)
    app.config.update(config)

    @app.route("/")
    def index() -> str:
        return render_template("vite.html", entry=vite_entry())

    @app.route("/plain")
    def plain() -> str:
        return render_template("plain.html")

    FlaskS3(app, spec=spec)
    return app
