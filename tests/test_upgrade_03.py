"""Real Flask-S3 0.3 apps upgrade unchanged: side by side with the real Flask-S3 0.3.3.

Each app shape below is taken from how 0.3 apps are written (late configuration, the switch
off with direct calls, blueprints with their own static folders, Flask-Assets, gzip with and
without FLASKS3_GZIP_ONLY_EXTS, FLASKS3_FILEPATH_HEADERS). The same module runs under 0.3.3
(in its own venv, tests/legacy03.py) and under flask-s3: every URL must be byte-identical,
with the app's own config and with the spec `flask-s3 init` writes; and after 0.3.3's own
create_all filled a bucket on the local S3, `init` then `plan --detailed-exitcode` is 0.
"""

from __future__ import annotations

import gzip
import io
import os
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from legacy03 import Job, legacy_python, run_driver

from flask_s3.cli import main

# These apps are 0.3 apps: every import of one warns about its FLASKS3_* keys, by design
# (tests/test_migrate.py asserts those warnings). Here the URLs and the bucket are the point.
pytestmark = pytest.mark.filterwarnings("ignore::flask_s3.errors.MigrationWarning")

FILES = {
    "static/css/app.css": b"body { color: #223; }\n" * 40,
    "static/js/app.js": b"console.log('app');\n" * 40,
    "static/img/logo.svg": b"<svg xmlns='http://www.w3.org/2000/svg'></svg>\n" * 10,
    "static/favicon.ico": bytes(range(256)) * 2,
    "static/img/space name.png": bytes(range(256)) * 3,
    "static/fonts/caf\u00e9.woff2": bytes(reversed(range(256))) * 2,
    "admin_static/admin.css": b".admin { margin: 0 }\n" * 10,
}

HEAD = """\
import os
from flask import Blueprint, Flask
from flask_s3 import FlaskS3

ROOT = os.path.dirname(os.path.abspath(__file__))
app = Flask(__name__, root_path=ROOT)

@app.route("/")
def index():
    return "home"
"""
ADMIN = """
admin = Blueprint("admin", __name__, static_folder=os.path.join(ROOT, "admin_static"),
                  static_url_path="/assets", url_prefix="/admin")
app.register_blueprint(admin)
"""
LATE_ADMIN = """
# The url_prefix given at registration: 0.3 stored these files under another key than
# url_for gives (the 404 the field notes tell of), so this shape is compared on URLs only.
shop = Blueprint("shop", __name__, static_folder=os.path.join(ROOT, "admin_static"),
                 static_url_path="/shop-static")
app.register_blueprint(shop, url_prefix="/shop")
"""
ASSETS = """
from flask_assets import Bundle, Environment
assets = Environment(app)
assets.register("css_all", Bundle("css/app.css", output="gen/packed.css"))
"""


@dataclass
class Shape:
    """An app module: its text before and after ``FlaskS3(app)``, and what to compare."""

    before: str  # config set before FlaskS3(app)
    after: str = ""  # config set after it (late configuration)
    extra: str = ""  # blueprints, Flask-Assets
    deploy: dict[str, Any] | None = field(default_factory=dict)  # create_all's kwargs; None: skip
    switch_off: bool = False  # FLASKS3_ACTIVE off or debug: direct calls differ with a spec
    assets: bool = False
    shop: bool = False
    key_prefix: str = ""  # FLASKS3_PREFIX as it appears in keys
    kept: str = ""  # config the upgraded app keeps (keys init says have no place in a spec)
    errors: tuple[str, ...] = ()  # cases where 0.3.3 itself has no URL (compared as errors)


SHAPES: dict[str, Shape] = {
    "late-config": Shape(
        before="",
        after="app.config.from_mapping(FLASKS3_BUCKET_NAME=BUCKET, FLASKS3_GZIP=True)\n",
        extra=ADMIN,
    ),
    "active-off-cdn": Shape(
        before="app.config.update(FLASKS3_BUCKET_NAME=BUCKET, FLASKS3_ACTIVE=False,\n"
        "    FLASKS3_CDN_DOMAIN='cdn.example.com', FLASKS3_FORCE_MIMETYPE=True)\n",
        switch_off=True,
    ),
    "debug-mode": Shape(
        before="app.debug = True\n"
        "app.config.update(FLASKS3_BUCKET_NAME=BUCKET, FLASKS3_USE_HTTPS=False,\n"
        "    FLASKS3_FORCE_MIMETYPE=True)\n",
        switch_off=True,
        deploy=None,
    ),
    "blueprints-path-prefix": Shape(
        before="app.config.update(FLASKS3_BUCKET_NAME=BUCKET, FLASKS3_URL_STYLE='path',\n"
        "    FLASKS3_PREFIX='/v1/', FLASKS3_FORCE_MIMETYPE=True)\n",
        extra=ADMIN,
        key_prefix="v1/",
    ),
    "blueprint-registered-with-prefix": Shape(
        before="app.config.update(FLASKS3_BUCKET_NAME=BUCKET, FLASKS3_FORCE_MIMETYPE=True)\n",
        extra=ADMIN + LATE_ADMIN,
        deploy=None,
        shop=True,
    ),
    "active-switched-off-late": Shape(
        # 0.3 decided at init_app what templates get; a later FLASKS3_ACTIVE changes nothing
        before="app.config.update(FLASKS3_BUCKET_NAME=BUCKET)\n",
        after="app.config['FLASKS3_ACTIVE'] = False\n",
        deploy=None,
    ),
    "testing-override-off": Shape(
        before="app.config.update(FLASKS3_BUCKET_NAME=BUCKET, TESTING=True,\n"
        "    FLASKS3_OVERRIDE_TESTING=False)\n",
        kept="app.config.update(TESTING=True, S3_OVERRIDE_TESTING=False)\n",
        extra=ADMIN,
        deploy=None,
        errors=("direct no request",),  # a local URL outside a request: Flask's RuntimeError
    ),
    "flask-assets": Shape(
        before="",  # configured after FlaskS3(app), as a factory that configures late does
        after="app.config.update(FLASKS3_BUCKET_NAME=BUCKET, FLASK_ASSETS_USE_S3=True,\n"
        "    FLASKS3_CDN_DOMAIN='d111.cloudfront.net')\n",
        extra=ASSETS,
        deploy=None,
        assets=True,
    ),
    "gzip-only-exts": Shape(
        before="app.config.update(FLASKS3_BUCKET_NAME=BUCKET, FLASKS3_GZIP=True,\n"
        "    FLASKS3_GZIP_ONLY_EXTS=['.css', '.js', '.ico'], FLASKS3_FORCE_MIMETYPE=True)\n",
        extra=ADMIN,
        deploy={"put_bucket_acl": False},
    ),
    "filepath-headers": Shape(
        before="app.config.update(FLASKS3_BUCKET_NAME=BUCKET, FLASKS3_GZIP=True,\n"
        "    FLASKS3_HEADERS={'Cache-Control': 'max-age=600', 'X-Team': 'web'},\n"
        "    FLASKS3_FILEPATH_HEADERS={r'\\.css$': {'Cache-Control': 'max-age=60'},\n"
        "                              r'\\.svg$': {'Content-Type': 'image/svg+xml'}})\n",
        extra=ADMIN,
    ),
}


def module_text(shape: Shape, bucket: str, spec: str | None = None) -> str:
    if spec is not None:  # the upgraded app: no FLASKS3_* keys, the spec instead
        body = (
            f"BUCKET = {bucket!r}\n{shape.extra}\n"
            + ("app.debug = True\n" if "app.debug" in shape.before else "")
            + ("app.config['FLASK_ASSETS_USE_S3'] = True\n" if shape.assets else "")
            + shape.kept
            + f"s3 = FlaskS3(app, spec={spec!r})\n"
        )
        return HEAD + body
    return (
        HEAD + f"BUCKET = {bucket!r}\n{shape.before}{shape.extra}\ns3 = FlaskS3(app)\n{shape.after}"
    )


def url_cases(shape: Shape) -> dict[str, Any]:
    cases: dict[str, Any] = {}
    for mode in ("template", "direct"):
        cases[f"{mode} css"] = [mode, "static", {"filename": "css/app.css"}, "/"]
        cases[f"{mode} query"] = [mode, "static", {"filename": "css/app.css", "v": "2"}, "/"]
        cases[f"{mode} quoting"] = [mode, "static", {"filename": "img/space name.png"}, "/"]
        cases[f"{mode} unicode"] = [mode, "static", {"filename": "fonts/caf\u00e9.woff2"}, "/"]
        cases[f"{mode} scheme"] = [
            mode,
            "static",
            {"filename": "favicon.ico", "_scheme": "http", "_external": True},
            "/",
        ]
        cases[f"{mode} page"] = [mode, "index", {}, "/"]
        if "admin" in module_text(shape, "b"):
            cases[f"{mode} blueprint"] = [mode, "admin.static", {"filename": "admin.css"}, "/"]
        if shape.shop:
            cases[f"{mode} shop"] = [mode, "shop.static", {"filename": "admin.css"}, "/shop/"]
    # 0.3 built static URLs without a request (an app context is enough)
    cases["direct no request"] = ["direct", "static", {"filename": "js/app.js"}, None]
    if shape.assets:
        cases["assets bundle"] = ["assets", "css_all", {}, "/"]
    return cases


@pytest.fixture(scope="session")
def legacy() -> Path:
    """The python of the Flask-S3 0.3.3 venv, kept in the user's cache folder (keyed on the
    versions it holds), so a fresh clone on the same machine does not install it again."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "flask-s3-tests"
    return legacy_python(base / "flask-s3-0.3.3")


def make_app(root: Path, shape: Shape, bucket: str) -> str:
    for name, data in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    module = f"app03_{secrets.token_hex(4)}"
    (root / f"{module}.py").write_text(module_text(shape, bucket), encoding="utf-8")
    return module


def init_spec(root: Path, module: str, *extra: str) -> tuple[Path, str]:
    out = root / "deploy.yaml"
    result = CliRunner().invoke(
        main, ["init", "--app", f"{module}:app", "--out", str(out), "--force", *extra]
    )
    assert result.exit_code == 0, result.output
    return out, result.output


@dataclass
class SideBySide:
    """Each shape's URLs under 0.3.3, under flask-s3 with the app's config, and with the spec."""

    legacy: dict[str, dict[str, str]]
    ours: dict[str, dict[str, str]]
    with_spec: dict[str, dict[str, str]]
    compared: dict[str, set[str]]  # the cases compared with the spec


@pytest.fixture(scope="module")
def side_by_side(legacy: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SideBySide]:
    """All shapes at once: one process per environment (most of the cost is starting one)."""
    names = sorted(SHAPES)
    apps: dict[str, tuple[Path, str]] = {}
    for name in names:
        root = tmp_path_factory.mktemp(name)
        apps[name] = (root, make_app(root, SHAPES[name], "shop-assets"))
    jobs = [Job(*apps[n], url_cases(SHAPES[n])) for n in names]
    version, old = run_driver(legacy, jobs)
    assert version == [0, 3, 3]  # really the PyPI package
    version, ours = run_driver(sys.executable, jobs)
    assert version != [0, 3, 3]
    # The upgraded apps: init's spec instead of the FLASKS3_* keys.
    spec_jobs, compared = [], {}
    with pytest.MonkeyPatch.context() as mp:
        for name in names:
            root, module = apps[name]
            mp.chdir(root)
            mp.syspath_prepend(str(root))
            spec, output = init_spec(root, module, "--no-adopt")
            # what the spec cannot keep is said: direct calls switch too
            assert ("runtime.enabled is false" in output) == (
                "ACTIVE=False" in module_text(SHAPES[name], "b")
            ), output
            (root / f"{module}_spec.py").write_text(
                module_text(SHAPES[name], "shop-assets", spec=str(spec)), encoding="utf-8"
            )
            cases = {
                k: v
                for k, v in url_cases(SHAPES[name]).items()
                # With a spec, USE_S3 (runtime.enabled) is 1.0's switch: direct calls too.
                if not (SHAPES[name].switch_off and v[0] in ("direct", "assets"))
            }
            compared[name] = set(cases)
            spec_jobs.append(Job(root, f"{module}_spec", cases))
    _, with_spec = run_driver(sys.executable, spec_jobs)
    yield SideBySide(
        dict(zip(names, old, strict=True)),
        dict(zip(names, ours, strict=True)),
        dict(zip(names, with_spec, strict=True)),
        compared,
    )


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_urls_are_byte_identical_to_0_3_3(name: str, side_by_side: SideBySide) -> None:
    old = side_by_side.legacy[name]
    errors = {case for case, url in old.items() if url.startswith("error")}
    assert errors == set(SHAPES[name].errors), old
    if SHAPES[name].assets:  # the bundle's URL came through flask_s3.url_for
        assert old["assets bundle"].startswith("https://d111.cloudfront.net/static/gen/packed.css?")
    assert side_by_side.ours[name] == old


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_urls_with_init_spec_are_byte_identical_to_0_3_3(
    name: str, side_by_side: SideBySide
) -> None:
    old = side_by_side.legacy[name]
    assert side_by_side.with_spec[name] == {k: old[k] for k in side_by_side.compared[name]}


def legacy_env(server: Any) -> dict[str, str]:
    """0.3.3's create_all (boto3) aimed at the local S3 through botocore's own settings."""
    return {
        "AWS_ACCESS_KEY_ID": server.access_key or "",
        "AWS_SECRET_ACCESS_KEY": server.secret_key or "",
        "AWS_DEFAULT_REGION": server.region,
        "AWS_ENDPOINT_URL_S3": server.endpoint_url,
        "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
        "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
    }


UPLOADED = sorted(k for k, v in SHAPES.items() if v.deploy is not None)


@pytest.fixture(scope="module")
def filled(
    legacy: Path, s3_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, str, str]]:
    """Each uploaded shape deployed by 0.3.3's own create_all to a bucket of its own."""
    apps: dict[str, tuple[Path, str, str]] = {}
    jobs = []
    for name in UPLOADED:
        root = tmp_path_factory.mktemp(f"filled-{name}")
        bucket = f"t-{secrets.token_hex(8)}"
        apps[name] = (root, make_app(root, SHAPES[name], bucket), bucket)
        jobs.append(Job(root, apps[name][1], {}, SHAPES[name].deploy))
    # and once more for the app that keeps calling create_all, unchanged, after the upgrade
    root = tmp_path_factory.mktemp("filled-create-all")
    bucket = f"t-{secrets.token_hex(8)}"
    apps["create_all"] = (root, make_app(root, SHAPES["filepath-headers"], bucket), bucket)
    jobs.append(Job(root, apps["create_all"][1], {}, {}))
    run_driver(legacy, jobs, env=legacy_env(s3_server))
    return apps


def test_create_all_after_the_upgrade_sends_nothing_again(
    filled: dict[str, tuple[Path, str, str]], s3_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The deploy script unchanged, now with flask-s3's create_all, on the bucket 0.3.3 filled:
    # 0.3's Content-Types kept, its gzip objects adopted, so not one object is sent again.
    import importlib
    import warnings

    from flask_s3 import create_all

    root, module, _ = filled["create_all"]
    monkeypatch.syspath_prepend(str(root))
    for key, value in legacy_env(s3_env).items():
        monkeypatch.setenv(key, value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        app = importlib.import_module(module).app
    report = create_all(app)
    assert report.ok, report.failed
    assert (report.uploaded, report.updated, report.headers_updated) == (0, 0, 0)
    assert report.unchanged == len(FILES)
    again = create_all(app)
    assert again.changed == 0 and again.unchanged == len(FILES)


@pytest.mark.parametrize("name", UPLOADED)
def test_first_plan_after_init_is_a_no_op_on_a_bucket_0_3_3_filled(
    name: str,
    filled: dict[str, tuple[Path, str, str]],
    s3_env: Any,
    s3_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shape = SHAPES[name]
    root, module, bucket = filled[name]
    monkeypatch.chdir(root)
    monkeypatch.syspath_prepend(str(root))
    for key, value in legacy_env(s3_env).items():
        monkeypatch.setenv(key, value)  # our CLI follows botocore's endpoint too
    stored = s3_client.get_object(Bucket=bucket, Key=f"{shape.key_prefix}static/css/app.css")
    body = stored["Body"].read()
    encoded = stored.get("ContentEncoding") == "gzip"
    assert (gzip.decompress(body) if encoded else body) == FILES["static/css/app.css"]
    assert stored["ContentType"] == "text/css"  # 0.3's type: no charset

    spec, output = init_spec(root, module)
    data = yaml.safe_load(spec.read_text(encoding="utf-8"))
    assert data["bucket"]["acl"] == "public-read"  # public as 0.3 left it: no policy added
    assert data["bucket"]["public_read_policy"] is False
    assert "bucket_name=" in output and "filepath_filter_regex=" in output
    if "GZIP=True" in shape.before + shape.after:
        assert "Adopted" in output
    plan = CliRunner().invoke(main, ["plan", str(spec), "--detailed-exitcode"])
    assert plan.exit_code == 0, output + plan.output
    assert "No changes." in plan.output


def test_init_adopts_only_the_same_content_and_says_what_will_change(
    s3_env: Any, s3_client: Any, bucket_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for key, value in legacy_env(s3_env).items():
        monkeypatch.setenv(key, value)
    shape = Shape(
        before="app.config.update(FLASKS3_BUCKET_NAME=BUCKET, FLASKS3_GZIP=True,\n"
        "    FLASKS3_GZIP_ONLY_EXTS=['.css', '.js'])\n"
    )
    module = make_app(tmp_path, shape, bucket_name)
    s3_client.create_bucket(Bucket=bucket_name)

    def put_like_0_3(key: str, data: bytes, ctype: str) -> None:
        # 0.3's gzip: level 9, the file name and the time in the header
        body = io.BytesIO()
        with gzip.GzipFile(key.rsplit("/", 1)[-1], "wb", 9, body, mtime=1234567) as zipped:
            zipped.write(data)
        s3_client.put_object(
            Bucket=bucket_name,
            Key=key,
            Body=body.getvalue(),
            ContentType=ctype,
            ContentEncoding="gzip",
        )

    put_like_0_3("static/js/app.js", FILES["static/js/app.js"], "text/javascript")
    # other content, and a bomb: 50 MB of zeros in a few kB, never decoded past the file's size
    put_like_0_3("static/css/app.css", bytes(50_000_000), "text/css")
    spec, output = init_spec(tmp_path, module)
    text = spec.read_text(encoding="utf-8")
    assert "Lines marked `0.3` keep what Flask-S3 0.3 stored" in text  # and what dropping does
    assert '- match: "**/*.css"                  # 0.3\'s Content-Type' in text
    assert "Adopted 1 gzip objects" in output
    assert "static/css/app.css: other content" in output
    # 0.3 gave no Content-Type to files it did not gzip (no FLASKS3_FORCE_MIMETYPE): say so.
    assert "Stored objects that will change at the first apply" in output
    assert ".png files: Content-Type 'image/png' (Flask-S3 0.3 stored none)" in output
    plan = CliRunner().invoke(main, ["plan", str(spec), "--detailed-exitcode"])
    assert plan.exit_code == 2, plan.output
    assert "static/css/app.css" in plan.output
    assert "static/js/app.js" not in plan.output  # adopted: not uploaded again
