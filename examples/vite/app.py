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
VITE_MANIFEST = Path("dist", ".vite", "manifest.json")  # in the static folder


def vite_entry(app: Flask, name: str = "src/main.js") -> dict[str, Any]:
    """The built files of one Vite entry, as paths in the static folder."""
    path = Path(app.static_folder or "static") / VITE_MANIFEST
    entry = json.loads(path.read_text(encoding="utf-8"))[name]
    return {
        "script": f"dist/{entry['file']}",
        "css": [f"dist/{css}" for css in entry.get("css", [])],
    }


def create_app(root: Path | str = HERE, **config: object) -> Flask:
    """The app; ``root`` is the folder holding ``static/``, ``templates/`` and ``deploy.yaml``
    (a copy of this one, say, built somewhere else)."""
    app = Flask(__name__, root_path=str(root))
    app.config.update(config)

    @app.route("/")
    def index() -> str:
        return render_template("vite.html", entry=vite_entry(app))

    @app.route("/plain")
    def plain() -> str:
        return render_template("plain.html")

    FlaskS3(app, spec=Path(root) / "deploy.yaml")
    return app
