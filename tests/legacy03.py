"""The real Flask-S3 0.3.3 from PyPI, in a venv of its own, for side-by-side tests.

The venv is made once and kept in the user cache folder (keyed on the versions it holds), so
only the first run pays for the install. Flask, Werkzeug, boto3 and Flask-Assets are pinned
to the versions of the running environment, so a URL difference is Flask-S3's, not Werkzeug's.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
import venv
from dataclasses import dataclass
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
    cache_root.mkdir(parents=True, exist_ok=True)
    # pytest-xdist workers each ask at start: one builds, the others wait and reuse it
    with open(cache_root / f"{home.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (done.exists() and python.exists()):
            build(home, python, done, wanted)
    return python


def build(home: Path, python: Path, done: Path, wanted: list[str]) -> None:
    venv.EnvBuilder(with_pip=True, clear=True).create(home)
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *wanted],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if install.returncode != 0:  # PyPI must answer: this compares with the real package
        raise AssertionError(f"pip could not install {wanted} from PyPI:\n{install.stderr}")
    done.write_text(json.dumps(wanted), encoding="utf-8")


# Run inside either environment: for each job, import the app module, optionally deploy it
# with the create_all of whichever flask_s3 is importable there, then give every URL asked for.
DRIVER = r"""
import importlib, json, sys, warnings
warnings.simplefilter("ignore")
import flask_s3
from flask import render_template_string
out = {"flask_s3": getattr(flask_s3, "__version__", None), "results": []}
for job in json.loads(sys.stdin.read()):
    sys.path.insert(0, job["root"])
    app = importlib.import_module(job["module"]).app
    if job.get("deploy") is not None:
        flask_s3.create_all(app, **job["deploy"])
    urls = {}
    for name, (mode, endpoint, values, path) in job["cases"].items():
        try:
            if mode == "direct" and path is None:
                with app.app_context():
                    url = flask_s3.url_for(endpoint, **values)
            elif mode == "direct":
                with app.test_request_context(path):
                    url = flask_s3.url_for(endpoint, **values)
            elif mode == "template":
                with app.test_request_context(path):
                    url = render_template_string("{{ url_for(e, **v) }}", e=endpoint, v=values)
            else:  # a Flask-Assets bundle
                with app.test_request_context(path):
                    url = render_template_string(
                        "{% assets name %}{{ ASSET_URL }}{% endassets %}", name=endpoint
                    )
            urls[name] = url
        except Exception as exc:  # named by its first built-in class: ours subclass Flask's
            base = next(c for c in type(exc).__mro__ if c.__module__ == "builtins")
            urls[name] = "error: " + base.__name__
    out["results"].append(urls)
print(json.dumps(out))
"""


@dataclass
class Job:
    """One app module to import, the URLs to ask it for, and create_all's kwargs (or None)."""

    root: Path
    module: str
    cases: dict[str, Any]
    deploy: dict[str, Any] | None = None


def run_driver(
    python: Path | str, jobs: list[Job], *, env: dict[str, str] | None = None
) -> tuple[Any, list[dict[str, str]]]:
    """Run DRIVER with ``python`` (0.3.3's venv or ours) once for all jobs.

    Returns the flask_s3 version it imported and each job's URLs, in order. One process for
    all the apps: starting Python and importing Flask is most of the cost.
    """
    payload = [
        {"root": str(j.root), "module": j.module, "cases": j.cases, "deploy": j.deploy}
        for j in jobs
    ]
    run = subprocess.run(
        # -P: the working directory (this checkout, holding flask_s3/) is not put on sys.path
        [str(python), "-P", "-c", DRIVER],
        input=json.dumps(payload),
        cwd=jobs[0].root if jobs else None,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {}), "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=300,
        check=False,
    )
    if run.returncode != 0:
        raise AssertionError(f"driver failed ({python}):\n{run.stderr[-3000:]}")
    answer = json.loads(run.stdout.strip().splitlines()[-1])
    return answer["flask_s3"], answer["results"]
