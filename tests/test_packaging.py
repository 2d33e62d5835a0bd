"""The sdist and wheel are what an index expects: schemas, licence, metadata, tests and docs."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import tarfile
import venv
import zipfile
from collections.abc import Iterator
from email.parser import Parser
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


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The sdist, and the wheel built from that sdist (as `python -m build` does)."""
    out = tmp_path_factory.mktemp("dist")
    build = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    yield out


@pytest.mark.slow
def test_sdist_and_wheel_carry_the_licence_tests_docs_and_index_metadata(dist: Path):
    [sdist] = dist.glob("flask_s3-1.0.0.dev0.tar.gz")
    [wheel] = dist.glob("flask_s3-1.0.0.dev0-*.whl")
    with tarfile.open(sdist) as archive:
        members = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for needed in (
        "LICENSE",
        "CHANGES.md",
        "README.md",
        "tests/conftest.py",
        "tests/golden/mixed.md",
        "docs/index.md",
        "docs/conf.py",
        "examples/shop/__init__.py",
        "deploy.example.yaml",
        "requirements/dev.txt",
    ):
        assert needed in members, needed
    assert not any("__pycache__" in name for name in members)
    names = zipfile.ZipFile(wheel).namelist()
    assert "flask_s3-1.0.0.dev0.dist-info/licenses/LICENSE" in names
    assert not any(name.startswith(("tests/", "docs/")) for name in names)
    [metadata_name] = [n for n in names if n.endswith(".dist-info/METADATA")]
    metadata = Parser().parsestr(zipfile.ZipFile(wheel).read(metadata_name).decode())
    assert metadata["License-Expression"] == "MIT"
    urls = dict(value.split(", ", 1) for value in metadata.get_all("Project-URL"))
    assert {"Documentation", "Changes", "Source", "Issue Tracker"} <= set(urls)
    classifiers = set(metadata.get_all("Classifier"))
    assert "Framework :: Flask" in classifiers
    assert "Typing :: Typed" in classifiers
    assert any(c.startswith("Development Status :: ") for c in classifiers)
    low = metadata["Requires-Python"].removeprefix(">=")
    assert f"Programming Language :: Python :: {low}" in classifiers
    assert f"Programming Language :: Python :: {sys.version_info[0]}.{sys.version_info[1]}" in (
        classifiers
    )
    twine = subprocess.run(
        [str(Path(sys.executable).parent / "twine"), "check", "--strict", str(sdist), str(wheel)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert twine.returncode == 0, twine.stdout + twine.stderr


@pytest.mark.slow
def test_wheel_ships_the_schemas_and_validates_the_example(tmp_path: Path, dist: Path):
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
