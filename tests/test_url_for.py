"""``url_for`` as a user's template calls it: every option, blueprints, switches and errors."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import flask
import pytest
from flask import Blueprint, Flask, render_template_string
from werkzeug.routing import BuildError

import flask_s3
from flask_s3 import FlaskS3
from flask_s3.assets.keys import quote_key, static_key, static_sources
from flask_s3.errors import ConfigError


def make_app(root: Path, **config: Any) -> Flask:
    """An app with its own static folder, a prefixed blueprint and a nested blueprint."""
    app = Flask("site", root_path=str(root), static_folder="static")
    app.config.update(SERVER_NAME="app.test", **config)

    @app.route("/")
    def home() -> str:
        return render_template_string("{{ url_for('.static', filename='app.css') }}")

    @app.route("/items/<int:item>")
    def item(item: int) -> str:
        return str(item)

    admin = Blueprint(
        "admin",
        "site",
        root_path=str(root),
        static_folder="admin_static",
        static_url_path="/assets",
    )

    @admin.route("/")
    def index() -> str:
        return render_template_string(
            "{{ url_for('.static', filename='a.css') }} {{ url_for('.index', page=2) }}"
        )

    parent = Blueprint("parent", "site", root_path=str(root))
    child = Blueprint("child", "site", root_path=str(root), static_folder="child_static")

    @child.route("/page")
    def page() -> str:
        return render_template_string("{{ url_for('.static', filename='x.js') }}")

    parent.register_blueprint(child, url_prefix="/c")
    app.register_blueprint(admin, url_prefix="/admin")
    app.register_blueprint(parent, url_prefix="/p")
    return app


def render(app: Flask, template: str) -> str:
    with app.test_request_context("/"):
        return render_template_string(template)


S3 = "//bk.s3.amazonaws.com"
CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("host style", {}, "url_for('static', filename='css/app.css')", f"{S3}/static/css/app.css"),
    (
        "path style",
        {"S3_URL_STYLE": "path"},
        "url_for('static', filename='app.css')",
        "//s3.amazonaws.com/bk/static/app.css",
    ),
    (
        "regional domain",
        {"S3_BUCKET_DOMAIN": "s3.eu-west-1.amazonaws.com"},
        "url_for('static', filename='app.css')",
        "//bk.s3.eu-west-1.amazonaws.com/static/app.css",
    ),
    (
        "path style, own endpoint",
        {"S3_URL_STYLE": "path", "S3_BUCKET_DOMAIN": "127.0.0.1:9000", "S3_URL_SCHEME": "http"},
        "url_for('static', filename='app.css')",
        "http://127.0.0.1:9000/bk/static/app.css",
    ),
    (
        "cdn",
        {"S3_CDN_DOMAIN": "cdn.example.com"},
        "url_for('static', filename='app.css')",
        "//cdn.example.com/static/app.css",
    ),
    (
        "cdn wins over path style",
        {"S3_CDN_DOMAIN": "cdn.example.com", "S3_URL_STYLE": "path"},
        "url_for('static', filename='app.css')",
        "//cdn.example.com/static/app.css",
    ),
    (
        "https",
        {"S3_URL_SCHEME": "https"},
        "url_for('static', filename='app.css')",
        "https://bk.s3.amazonaws.com/static/app.css",
    ),
    (
        "http",
        {"S3_URL_SCHEME": "http"},
        "url_for('static', filename='app.css')",
        "http://bk.s3.amazonaws.com/static/app.css",
    ),
    (
        "_scheme on relative",
        {},
        "url_for('static', filename='app.css', _scheme='https')",
        "https://bk.s3.amazonaws.com/static/app.css",
    ),
    (
        "_scheme over https",
        {"S3_URL_SCHEME": "https"},
        "url_for('static', filename='app.css', _scheme='http')",
        "http://bk.s3.amazonaws.com/static/app.css",
    ),
    (
        "_scheme with cdn",
        {"S3_CDN_DOMAIN": "cdn.example.com"},
        "url_for('static', filename='app.css', _scheme='https')",
        "https://cdn.example.com/static/app.css",
    ),
    (
        "prefix",
        {"S3_PREFIX": "v2"},
        "url_for('static', filename='app.css')",
        f"{S3}/v2/static/app.css",
    ),
    (
        "prefix with slashes",
        {"S3_PREFIX": "/release/v2/"},
        "url_for('static', filename='app.css')",
        f"{S3}/release/v2/static/app.css",
    ),
    (
        "prefix and cdn",
        {"S3_PREFIX": "v2", "S3_CDN_DOMAIN": "cdn.example.com", "S3_URL_SCHEME": "https"},
        "url_for('static', filename='app.css')",
        "https://cdn.example.com/v2/static/app.css",
    ),
    ("query", {}, "url_for('static', filename='app.css', v=3)", f"{S3}/static/app.css?v=3"),
    (
        "query, several values",
        {},
        "url_for('static', filename='app.css', v='a b', tag=['x', 'y'], gone=None)",
        f"{S3}/static/app.css?v=a+b&amp;tag=x&amp;tag=y",  # & escaped as in any HTML
    ),
    (
        "anchor",
        {},
        "url_for('static', filename='icons.svg', _anchor='cart')",
        f"{S3}/static/icons.svg#cart",
    ),
    (
        "_external and _method change nothing",
        {},
        "url_for('static', filename='app.css', _external=False, _method='GET')",
        f"{S3}/static/app.css",
    ),
    ("space", {}, "url_for('static', filename='a b.png')", f"{S3}/static/a%20b.png"),
    ("hash", {}, "url_for('static', filename='c#d.png')", f"{S3}/static/c%23d.png"),
    ("question mark", {}, "url_for('static', filename='q?.png')", f"{S3}/static/q%3F.png"),
    ("plus", {}, "url_for('static', filename='p+q.png')", f"{S3}/static/p%2Bq.png"),
    ("percent", {}, "url_for('static', filename='100%.png')", f"{S3}/static/100%25.png"),
    ("tilde", {}, "url_for('static', filename='~me.png')", f"{S3}/static/~me.png"),
    ("unicode", {}, "url_for('static', filename='café.css')", f"{S3}/static/caf%C3%A9.css"),
    (
        "unicode NFD input",
        {},
        "url_for('static', filename='cafe\u0301.css')",
        f"{S3}/static/caf%C3%A9.css",
    ),
    (
        "leading slash",
        {},
        "url_for('static', filename='/css/app.css')",
        f"{S3}/static/css/app.css",
    ),
    (
        "blueprint static_url_path and url_prefix",
        {},
        "url_for('admin.static', filename='a.css')",
        f"{S3}/admin/assets/a.css",
    ),
    (
        "nested blueprint",
        {"S3_PREFIX": "v2", "S3_URL_SCHEME": "https"},
        "url_for('parent.child.static', filename='x y.js')",
        "https://bk.s3.amazonaws.com/v2/p/c/child_static/x%20y.js",
    ),
    (
        "relative .static outside a blueprint",
        {},
        "url_for('.static', filename='app.css')",
        f"{S3}/static/app.css",
    ),
    ("non-static endpoint", {}, "url_for('item', item=4, q='a b')", "/items/4?q=a+b"),
    (
        "blueprint route with _external",
        {},
        "url_for('admin.index', _external=True)",
        "http://app.test/admin/",
    ),
]


@pytest.mark.parametrize(
    ("config", "expression", "expected"),
    [pytest.param(c, e, x, id=name) for name, c, e, x in CASES],
)
def test_template_url_for(
    tmp_path: Path, config: dict[str, Any], expression: str, expected: str
) -> None:
    app = make_app(tmp_path, S3_BUCKET_NAME="bk", **config)
    FlaskS3(app)
    assert render(app, "{{ " + expression + " }}") == expected


def test_app_static_url_path(tmp_path: Path) -> None:
    app = Flask("site", root_path=str(tmp_path), static_url_path="/s/files")
    app.config["S3_BUCKET_NAME"] = "bk"
    FlaskS3(app)
    assert render(app, "{{ url_for('static', filename='a.css') }}") == f"{S3}/s/files/a.css"


def test_relative_static_inside_blueprint_requests(tmp_path: Path) -> None:
    app = make_app(tmp_path, S3_BUCKET_NAME="bk")
    FlaskS3(app)
    client = app.test_client()
    assert client.get("/").text == f"{S3}/static/app.css"
    assert client.get("/admin/").text == f"{S3}/admin/assets/a.css /admin/?page=2"
    assert client.get("/p/c/page").text == f"{S3}/p/c/child_static/x.js"


def test_blueprint_registered_after_first_url(tmp_path: Path) -> None:
    app = Flask("site", root_path=str(tmp_path))
    app.config["S3_BUCKET_NAME"] = "bk"
    FlaskS3(app)
    assert render(app, "{{ url_for('static', filename='a.css') }}") == f"{S3}/static/a.css"
    app.register_blueprint(
        Blueprint("late", "site", root_path=str(tmp_path), static_folder="late"), url_prefix="/l"
    )
    got = render(app, "{{ url_for('late.static', filename='b.css') }}")
    assert got == f"{S3}/l/late/b.css"


def test_config_change_after_first_url_is_seen(tmp_path: Path) -> None:
    app = make_app(tmp_path, S3_BUCKET_NAME="bk")
    FlaskS3(app)
    template = "{{ url_for('static', filename='a.css') }}"
    assert render(app, template) == f"{S3}/static/a.css"
    app.config["S3_CDN_DOMAIN"] = "cdn.example.com"
    assert render(app, template) == "//cdn.example.com/static/a.css"


def test_use_s3_false_gives_local_urls_everywhere(tmp_path: Path) -> None:
    app = make_app(tmp_path, S3_BUCKET_NAME="bk", USE_S3=False)
    FlaskS3(app)
    assert render(app, "{{ url_for('static', filename='a b.css') }}") == "/static/a%20b.css"
    assert app.test_client().get("/admin/").text == "/admin/assets/a.css /admin/?page=2"
    with app.app_context():  # a direct call from Python, as another extension would make
        assert flask_s3.url_for("static", filename="a.css") == "http://app.test/static/a.css"


@pytest.mark.parametrize(
    ("use_s3_debug", "expected"),
    [(False, "/static/a.css"), (True, f"{S3}/static/a.css")],
)
def test_debug_switch(tmp_path: Path, use_s3_debug: bool, expected: str) -> None:
    app = make_app(tmp_path, S3_BUCKET_NAME="bk", DEBUG=True, USE_S3_DEBUG=use_s3_debug)
    FlaskS3(app)
    assert app.config["USE_S3"] is use_s3_debug
    assert render(app, "{{ url_for('static', filename='a.css') }}") == expected
    with app.test_request_context("/"):
        assert flask_s3.url_for("static", filename="a.css") == expected


def test_missing_bucket_names_the_key(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    FlaskS3(app)
    with pytest.raises(ConfigError, match="S3_BUCKET_NAME"):
        render(app, "{{ url_for('static', filename='a.css') }}")
    assert render(app, "{{ url_for('item', item=1) }}") == "/items/1"


def test_cdn_without_bucket_is_enough(tmp_path: Path) -> None:
    app = make_app(tmp_path, S3_CDN_DOMAIN="cdn.example.com")
    FlaskS3(app)
    got = render(app, "{{ url_for('static', filename='a.css') }}")
    assert got == "//cdn.example.com/static/a.css"


def test_outside_a_request(tmp_path: Path) -> None:
    app = make_app(tmp_path, S3_BUCKET_NAME="bk", S3_URL_SCHEME="https")
    FlaskS3(app)
    with app.app_context():
        assert render_template_string("{{ url_for('admin.static', filename='a.css') }}") == (
            "https://bk.s3.amazonaws.com/admin/assets/a.css"
        )
        assert flask_s3.url_for(".static", filename="a.css") == (
            "https://bk.s3.amazonaws.com/static/a.css"
        )
        assert flask_s3.url_for("item", item=3) == "http://app.test/items/3"


def test_unknown_static_endpoint_raises_flask_build_error(tmp_path: Path) -> None:
    app = make_app(tmp_path, S3_BUCKET_NAME="bk")
    FlaskS3(app)
    with app.test_request_context("/"), pytest.raises(BuildError, match=r"nope\.static"):
        flask_s3.url_for("nope.static", filename="a.css")


def test_app_without_extension(tmp_path: Path) -> None:
    app = make_app(tmp_path, S3_BUCKET_NAME="bk")
    with (
        app.test_request_context("/"),
        pytest.raises(ConfigError, match=r"FlaskS3\(app\) / init_app\(app\)"),
    ):
        flask_s3.url_for("static", filename="a.css")


def extension_asset_url() -> str:
    """What Flask-Admin and similar extensions do: build asset URLs with flask.url_for."""
    return flask.url_for("admin.static", filename="admin.css")


@pytest.mark.parametrize(
    ("override", "expected"),
    [(True, f"{S3}/admin/assets/admin.css"), (False, "/admin/assets/admin.css")],
)
def test_override_flask_url_for(tmp_path: Path, override: bool, expected: str) -> None:
    app = make_app(tmp_path, S3_BUCKET_NAME="bk", S3_OVERRIDE_FLASK_URL_FOR=override)
    other = make_app(tmp_path / "other", S3_BUCKET_NAME="bk")
    FlaskS3(app)
    FlaskS3(other)
    with app.test_request_context("/"):
        assert extension_asset_url() == expected
        assert flask.url_for("item", item=5, _anchor="x") == "/items/5#x"
    with other.test_request_context("/"):  # the override is per app instance
        assert extension_asset_url() == "/admin/assets/admin.css"
    assert "url_for" not in vars(other)


def test_override_with_use_s3_off_gives_local_urls(tmp_path: Path) -> None:
    app = make_app(tmp_path, S3_BUCKET_NAME="bk", S3_OVERRIDE_FLASK_URL_FOR=True, USE_S3=False)
    FlaskS3(app)
    with app.test_request_context("/"):
        assert flask.url_for("static", filename="a.css") == "/static/a.css"


def write(folder: Path, names: list[str]) -> None:
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)


@pytest.mark.parametrize("prefix", ["", "v2"])
def test_every_static_url_is_its_key_and_flask_route(tmp_path: Path, prefix: str) -> None:
    """The no-drift guarantee: the URL path is the deployer's key, under Flask's own route."""
    names = ["css/app.css", "img/a b.png", "c+d#e?.svg", "fonts/café.woff2", "x%20y.txt"]
    app = make_app(tmp_path, S3_BUCKET_NAME="bk", S3_PREFIX=prefix, S3_URL_STYLE="path")
    for folder in ("static", "admin_static", "child_static"):
        write(tmp_path / folder, names)
    FlaskS3(app)
    sources = static_sources(app)
    assert {s.endpoint for s in sources} == {"static", "admin.static", "parent.child.static"}
    checked = 0
    with app.test_request_context("/"):
        for source in sources:
            for path in sorted(p for p in source.folder.rglob("*") if p.is_file()):
                rel = path.relative_to(source.folder).as_posix()
                url = urlsplit(flask_s3.url_for(source.endpoint, filename=rel))
                local = urlsplit(flask.url_for(source.endpoint, filename=rel))
                assert url.query == "" and url.fragment == ""
                assert url.path == "/bk/" + quote_key(static_key(prefix, source.url_path, rel))
                key = unquote(url.path).removeprefix("/bk/")
                assert key == "/".join(filter(None, [prefix, unquote(local.path).lstrip("/")]))
                assert key == unicodedata.normalize("NFC", key)
                checked += 1
    assert checked == 3 * len(names)


def test_url_defaults_apply_to_s3_urls(tmp_path: Path) -> None:
    """A cache-busting ``url_defaults`` hook reaches the S3 URL as it reaches Flask's."""
    app = make_app(tmp_path, S3_BUCKET_NAME="bk")

    @app.url_defaults
    def version(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "static":
            values.setdefault("v", "abc")

    FlaskS3(app)
    assert render(app, "{{ url_for('static', filename='a.css') }}") == f"{S3}/static/a.css?v=abc"
    got = render(app, "{{ url_for('admin.static', filename='a.css') }}")
    assert got == f"{S3}/admin/assets/a.css"


def test_url_key_deleted_after_init_falls_back_to_its_default(tmp_path: Path) -> None:
    app = make_app(tmp_path, S3_BUCKET_NAME="bk", S3_URL_STYLE="path")
    FlaskS3(app)
    del app.config["S3_URL_STYLE"]
    assert render(app, "{{ url_for('static', filename='a.css') }}") == f"{S3}/static/a.css"
