"""The key/URL rule shared by the deployer and ``url_for``."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Blueprint, Flask

from flask_s3.assets.keys import (
    bucket_base_url,
    join_key,
    key_filename,
    normalize_prefix,
    quote_key,
    static_key,
    static_sources,
    static_url_path,
)


@pytest.mark.parametrize(
    ("parts", "key"),
    [
        (("", "static", "a.css"), "static/a.css"),
        (("/v2/", "/admin/assets/", "/css/a.css"), "v2/admin/assets/css/a.css"),
        (("", "", "a.css"), "a.css"),
        (("v2", "", ""), "v2"),
        ((), ""),
    ],
)
def test_join_key(parts: tuple[str, ...], key: str) -> None:
    assert join_key(*parts) == key


@pytest.mark.parametrize(
    ("rule", "url_path"),
    [
        ("/static/<path:filename>", "static"),
        ("/admin/assets/<path:filename>", "admin/assets"),
        ("/<path:filename>", ""),
        ("/<lang>/static/<path:filename>", None),
        ("/static/<filename>", None),
    ],
)
def test_static_url_path(rule: str, url_path: str | None) -> None:
    assert static_url_path(rule) == url_path


@pytest.mark.parametrize(
    ("prefix", "url_path", "filename", "key"),
    [
        ("", "static", "css/app.css", "static/css/app.css"),
        ("/v2/", "static", "/css/app.css", "v2/static/css/app.css"),
        ("", "static", "css\\app.css", "static/css/app.css"),
        ("", "static", "cafe\u0301.css", "static/caf\u00e9.css"),
        ("", "", "a.css", "a.css"),
        ("v2", "static", "", "v2/static"),
    ],
)
def test_static_key(prefix: str, url_path: str, filename: str, key: str) -> None:
    assert static_key(prefix, url_path, filename) == key


def test_key_filename_is_nfc() -> None:
    assert key_filename("/e\u0301/") == "\u00e9"
    assert key_filename("a/b") == "a/b"


@pytest.mark.parametrize(
    ("key", "quoted"),
    [
        ("static/a b.png", "static/a%20b.png"),
        ("static/c#d?.svg", "static/c%23d%3F.svg"),
        ("static/p+q.css", "static/p%2Bq.css"),
        ("static/100%.png", "static/100%25.png"),
        ("static/~x-y_z.css", "static/~x-y_z.css"),
        ("static/caf\u00e9.css", "static/caf%C3%A9.css"),
    ],
)
def test_quote_key(key: str, quoted: str) -> None:
    assert quote_key(key) == quoted


@pytest.mark.parametrize(
    ("kwargs", "base"),
    [
        ({"scheme": None}, "//bk.s3.amazonaws.com"),
        ({"scheme": "relative"}, "//bk.s3.amazonaws.com"),
        ({"scheme": "https"}, "https://bk.s3.amazonaws.com"),
        ({"scheme": "http", "style": "path"}, "http://s3.amazonaws.com/bk"),
        (
            {"scheme": "http", "style": "path", "bucket_domain": "127.0.0.1:9000/"},
            "http://127.0.0.1:9000/bk",
        ),
        ({"scheme": "https", "style": "path", "cdn_domain": "cdn.example/"}, "https://cdn.example"),
    ],
)
def test_bucket_base_url(kwargs: dict[str, str], base: str) -> None:
    assert bucket_base_url("bk", **kwargs) == base


def test_normalize_prefix() -> None:
    assert normalize_prefix("/assets/v2/") == "assets/v2"
    assert normalize_prefix("") == ""


def test_static_sources_follow_the_url_map(tmp_path: Path) -> None:
    app = Flask("site", root_path=str(tmp_path), static_url_path="/s")
    admin = Blueprint("admin", "site", root_path=str(tmp_path), static_folder="adm")
    parent = Blueprint("parent", "site", root_path=str(tmp_path))
    child = Blueprint(
        "child", "site", root_path=str(tmp_path), static_folder="kid", static_url_path="/k"
    )
    no_static = Blueprint("plain", "site", root_path=str(tmp_path))
    localized = Blueprint("loc", "site", root_path=str(tmp_path), static_folder="loc")
    parent.register_blueprint(child, url_prefix="/c")
    app.register_blueprint(admin, url_prefix="/admin")
    app.register_blueprint(parent, url_prefix="/p")
    app.register_blueprint(no_static)
    app.register_blueprint(localized, url_prefix="/<lang>")
    sources = {s.endpoint: s for s in static_sources(app)}
    assert {name: s.url_path for name, s in sources.items()} == {
        "static": "s",
        "admin.static": "admin/adm",
        "parent.child.static": "p/c/k",
    }
    assert sources["parent.child.static"].folder == tmp_path / "kid"
    assert sources["static"].folder == tmp_path / "static"
