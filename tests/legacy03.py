"""The real Flask-S3 0.3.3 from PyPI, in a venv of its own, for side-by-side tests.

The venv is made once and kept in pytest's cache folder (keyed on the versions it holds), so
only the first run pays for the install. Flask, Werkzeug, boto3 and Flask-Assets are pinned
to the versions of the running environment, so a URL difference is Flask-S3's, not Werkzeug's.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import venv
from importlib import metadata
from pathlib import Path
from typing import Any

# What 0.3.3 needs (its own requirements are Flask, Boto3 and six), at our versions.
SAME_AS_OURS = ("Flask", "Werkzeug", "boto3", "botocore", "six", "Flask-Assets", "webassets")
LEGACY = "Flask-S3==0.3.3"


def requirements() -> list[str]:
    """``Flask-S3==0.3.3`` and our versions of what it runs on."""
    return [LEGACY, *(f"{name}=={metadata.version(name)}" for name in SAME_AS_OURS)]


def legacy_python(cache_root: Path) -> Path:
    """The python of a venv holding Flask-S3 0.3.3; made on first use, then reused."""
    wanted = requirements()
    key = hashlib.sha256("\n".join([sys.version, *wanted]).encode()).hexdigest()[:12]
    home = cache_root / f"flask-s3-0.3.3-{key}"
    python = home / "bin" / "python"
    done = home / "installed.json"
    if done.exists() and python.exists():
        return python
    venv.EnvBuilder(with_pip=True, clear=True).create(home)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *wanted],
        check=True,
        capture_output=True,
        timeout=600,
    )
    done.write_text(json.dumps(wanted), encoding="utf-8")
    return python


# Run inside either environment: import the app module, optionally deploy with the
# create_all of whichever flask_s3 is importable there, then print every URL asked for.
DRIVER = r"""
import importlib, json, sys, warnings
warnings.simplefilter("ignore")
args = json.loads(sys.argv[1])
sys.path.insert(0, args["root"])
import flask_s3
module = importlib.import_module(args["module"])
app = module.app
out = {"flask_s3": getattr(flask_s3, "__version__", None), "urls": {}}
if args.get("deploy") is not None:
    flask_s3.create_all(app, **args["deploy"])
from flask import render_template_string
for name, (mode, endpoint, values, path) in args["cases"].items():
    try:
        if mode == "direct":
            with app.app_context():
                if path is not None:
                    with app.test_request_context(path):
                        url = flask_s3.url_for(endpoint, **values)
                else:
                    url = flask_s3.url_for(endpoint, **values)
        elif mode == "template":
            with app.test_request_context(path or "/"):
                url = render_template_string(
                    "{{ url_for(e, **v) }}", e=endpoint, v=values
                )
        elif mode == "assets":
            with app.test_request_context(path or "/"):
                url = render_template_string(
                    "{% assets name %}{{ ASSET_URL }}{% endassets %}", name=endpoint
                )
        out["urls"][name] = url
    except Exception as exc:
        out["urls"][name] = "error: " + type(exc).__name__
print(json.dumps(out))
"""


def run_driver(
    python: Path | str,
    root: Path,
    module: str,
    cases: dict[str, Any],
    *,
    deploy: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run DRIVER with ``python`` (0.3.3's venv or ours) on an app module; its JSON answer."""
    args = {"root": str(root), "module": module, "cases": cases, "deploy": deploy}
    run = subprocess.run(
        [str(python), "-c", DRIVER, json.dumps(args)],
        capture_output=True,
        text=True,
        cwd=root,
        env={**os.environ, **(env or {}), "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=120,
        check=False,
    )
    if run.returncode != 0:
        raise AssertionError(f"driver failed ({python}):\n{run.stderr[-3000:]}")
    answer: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return answer
