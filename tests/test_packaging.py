"""The built wheel carries the JSON Schemas and loads them through importlib.resources."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CHECK = """
import json, sys
from importlib import resources
import flask_s3
from flask_s3.spec.validate import load_schema
from flask_s3.plan import plan_schema
from flask_s3.spec import load_spec
packaged = resources.files("flask_s3") / "schemas" / "deploy.schema.json"
assert packaged.is_file(), packaged
assert "site-packages" in str(packaged), packaged
assert load_schema() == json.loads(packaged.read_text())
assert plan_schema()["title"] == "flask-s3 plan"
spec = load_spec(sys.argv[1])
print("ok", spec.bucket.name, flask_s3.__file__)
"""


@pytest.mark.slow
def test_wheel_ships_the_schemas_and_validates_the_example(tmp_path: Path):
    dist = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    [wheel] = dist.glob("flask_s3-1.0.0.dev0-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "flask_s3/schemas/deploy.schema.json" in names
    assert "flask_s3/schemas/plan.schema.json" in names
    assert "flask_s3/py.typed" in names

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    # The dependencies come from the test run's own environment (a plain path entry, so its
    # editable flask_s3 is not picked up); flask_s3 itself only from the wheel.
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "deps-from-test-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    check = subprocess.run(
        [str(python), "-c", CHECK, str(ROOT / "deploy.example.yaml")],
        cwd=tmp_path,  # not the checkout: the installed package must be used
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr[-2000:]
    assert check.stdout.startswith("ok flask-s3-example ")
    assert str(env_dir) in check.stdout
