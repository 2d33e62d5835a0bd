"""The example shop: an app and an `admin` blueprint with its own static folder.

Its static files are deployed by `flask-s3 apply deploy.example.yaml`; its templates get
S3 URLs from the same spec through FlaskS3.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, render_template

from flask_s3 import FlaskS3

HERE = Path(__file__).parent
SPEC = HERE.parent.parent / "deploy.example.yaml"


def create_app(**config: object) -> Flask:
    app = Flask(__name__)
    app.config.update(config)
    admin = Blueprint(
        "admin",
        __name__,
        static_folder=str(HERE / "admin" / "static"),
        static_url_path="/assets",
        template_folder=str(HERE / "admin" / "templates"),
    )

    @admin.route("/")
    def dashboard() -> str:
        return render_template("dashboard.html")

    app.register_blueprint(admin, url_prefix="/admin")

    @app.route("/")
    def index() -> str:
        return render_template("index.html")

    FlaskS3(app, spec=SPEC)
    return app
