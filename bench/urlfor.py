"""ns per url_for call over 1,000 file names: Flask's, flask-s3's (template and direct), or
Flask-S3 0.3.3's (run with the old extension's venv). Prints key=value lines."""

from __future__ import annotations

import sys
import tempfile
import timeit
from pathlib import Path

from flask import Flask
from flask import url_for as flask_url_for

NAMES = [f"css/module-{i:04d}.css" for i in range(1000)]
TEMPLATE = "{% for n in names %}{{ url_for('static', filename=n) }}{% endfor %}"


def per_call(fn, number: int = 5) -> float:  # type: ignore[no-untyped-def]
    return min(timeit.repeat(fn, number=number, repeat=5)) / number / len(NAMES) * 1e9


def measure(app: Flask, label: str, direct=None) -> None:  # type: ignore[no-untyped-def]
    """Print ``label_template`` (and ``label_direct`` when given a url_for) for ``app``."""
    with app.test_request_context("/"):
        tpl = app.jinja_env.from_string(TEMPLATE)
        print(f"{label}_template={per_call(lambda: tpl.render(names=NAMES)):.1f}")
        if direct is not None:
            calls = per_call(lambda: [direct("static", filename=n) for n in NAMES])
            print(f"{label}_direct={calls:.1f}")


def main(which: str) -> None:
    app = Flask("bench")
    if which == "new":
        from flask_s3 import FlaskS3, url_for
        from flask_s3.assets.fingerprint import write_manifest_file

        app.config["S3_BUCKET_NAME"] = "bucket"
        measure(app, "flask", flask_url_for)  # before FlaskS3: Flask's own url_for
        FlaskS3(app)
        measure(app, "flask_s3", url_for)
        # Fingerprinting on: the same calls through the logical -> hashed map.
        with tempfile.TemporaryDirectory() as tmp:
            manifest = Path(tmp) / "fingerprints.json"
            write_manifest_file(manifest, {n: n[:-4] + ".0123456789ab.css" for n in NAMES})
            hashed = Flask("bench")
            hashed.config.update(
                S3_BUCKET_NAME="bucket", S3_FINGERPRINT=True, S3_FINGERPRINT_MANIFEST=str(manifest)
            )
            FlaskS3(hashed)
            measure(hashed, "flask_s3_fp", url_for)
    else:
        import flask_s3

        app.config["FLASKS3_BUCKET_NAME"] = "bucket"
        flask_s3.FlaskS3(app)
        measure(app, "flask_s3_033")


if __name__ == "__main__":
    main(sys.argv[1])
