"""``FlaskS3`` / ``init_app``: registration, defaults, old keys, spec hydration, validation."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, render_template_string
from migration import expect_migration

from flask_s3 import FlaskS3
from flask_s3.errors import ConfigError, MigrationWarning, SpecError
from flask_s3.extension import S3State, resolved_config
from flask_s3.spec import AssetsSpec, BucketSpec, GzipSpec, RuntimeSpec, Spec, UrlSpec


def new_app(root: Path, **config: Any) -> Flask:
    app = Flask("site", root_path=str(root))
    app.config.update(config)
    return app


def static_url(app: Flask, filename: str = "a.css") -> str:
    with app.test_request_context("/"):
        return render_template_string("{{ url_for('static', filename=f) }}", f=filename)


def test_state_and_jinja_global(tmp_path: Path) -> None:
    app = new_app(tmp_path, S3_BUCKET_NAME="bk")
    FlaskS3(app)
    assert isinstance(app.extensions["s3"], S3State)
    assert app.jinja_env.globals["url_for"] is not Flask.url_for
    assert static_url(app) == "//bk.s3.amazonaws.com/static/a.css"


def test_second_registration_rereads_the_config(tmp_path: Path) -> None:
    # Flask-S3 0.3 allowed it (app factories and tests do it): it re-reads, never stacks.
    app = new_app(tmp_path, S3_BUCKET_NAME="one")
    ext = FlaskS3(app)
    assert static_url(app) == "//one.s3.amazonaws.com/static/a.css"
    app.config["S3_BUCKET_NAME"] = "two"
    app.config["S3_URL_SCHEME"] = "https"
    ext.init_app(app)
    assert static_url(app) == "https://two.s3.amazonaws.com/static/a.css"
    FlaskS3(app)
    assert static_url(app) == "https://two.s3.amazonaws.com/static/a.css"


def test_second_registration_rereads_old_keys_and_defaults(tmp_path: Path) -> None:
    app = new_app(tmp_path, FLASKS3_BUCKET_NAME="one", DEBUG=False)
    with pytest.warns(MigrationWarning):
        FlaskS3(app)
    app.config["FLASKS3_BUCKET_NAME"] = "two"  # the filled S3_BUCKET_NAME must not stick
    app.config["FLASKS3_USE_HTTPS"] = False
    app.debug = True
    with expect_migration("FLASKS3_USE_HTTPS"):
        FlaskS3(app)
    assert app.config["S3_BUCKET_NAME"] == "two"
    assert app.config["USE_S3"] is False and app.config["FLASKS3_ACTIVE"] is False
    app.debug = False
    FlaskS3(app)  # debug off again: the USE_S3 init_app wrote is taken back
    assert app.config["USE_S3"] is True and app.config["FLASKS3_ACTIVE"] is True
    assert static_url(app) == "http://two.s3.amazonaws.com/static/a.css"


def test_second_registration_can_turn_the_flask_url_for_override_off(tmp_path: Path) -> None:
    app = new_app(tmp_path, S3_BUCKET_NAME="bk", S3_OVERRIDE_FLASK_URL_FOR=True)
    FlaskS3(app)
    with app.test_request_context("/"):
        assert app.url_for("static", filename="a.css").startswith("//bk.")
    app.config["S3_OVERRIDE_FLASK_URL_FOR"] = False
    FlaskS3(app)
    with app.test_request_context("/"):
        assert app.url_for("static", filename="a.css") == "/static/a.css"


def test_second_registration_warns_once(tmp_path: Path) -> None:
    app = new_app(tmp_path, FLASKS3_BUCKET_NAME="one")
    with pytest.warns(MigrationWarning):
        FlaskS3(app)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FlaskS3(app)


def test_defaults(tmp_path: Path) -> None:
    app = new_app(tmp_path)
    FlaskS3(app)
    config = app.config
    assert config["S3_BUCKET_NAME"] is None
    assert config["S3_BUCKET_DOMAIN"] == "s3.amazonaws.com"
    assert config["S3_CDN_DOMAIN"] == ""
    assert config["S3_URL_SCHEME"] is None
    assert config["S3_URL_STYLE"] == "host"
    assert config["S3_PREFIX"] == ""
    assert config["USE_S3"] is True
    assert config["USE_S3_DEBUG"] is False
    assert config["USE_GZIP"] is False
    assert config["S3_GZIP_CONTENT_TYPES"] == [
        "text/css",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
    ]
    assert config["S3_HEADERS"] == {}
    assert config["S3_OVERRIDE_FLASK_URL_FOR"] is False


def test_explicit_config_is_kept(tmp_path: Path) -> None:
    headers = {"Cache-Control": "max-age=60"}
    app = new_app(tmp_path, S3_HEADERS=headers, S3_URL_STYLE="path", USE_GZIP=True)
    FlaskS3(app)
    assert app.config["S3_HEADERS"] is headers
    assert app.config["S3_URL_STYLE"] == "path"
    assert app.config["USE_GZIP"] is True


def test_one_instance_two_apps_share_no_mutable_config(tmp_path: Path) -> None:
    ext = FlaskS3()
    first, second = new_app(tmp_path, S3_BUCKET_NAME="one"), new_app(tmp_path, S3_BUCKET_NAME="two")
    ext.init_app(first)
    ext.init_app(second)
    first.config["S3_HEADERS"]["Cache-Control"] = "no-cache"
    first.config["S3_GZIP_CONTENT_TYPES"].append("image/svg+xml")
    assert second.config["S3_HEADERS"] == {}
    assert "image/svg+xml" not in second.config["S3_GZIP_CONTENT_TYPES"]
    assert first.extensions["s3"] is not second.extensions["s3"]
    assert static_url(first) == "//one.s3.amazonaws.com/static/a.css"
    assert static_url(second) == "//two.s3.amazonaws.com/static/a.css"
    assert not hasattr(ext, "app")


ALIASES: list[tuple[str, Any, str, Any]] = [
    ("FLASKS3_BUCKET_NAME", "bk", "S3_BUCKET_NAME", "bk"),
    ("FLASKS3_CDN_DOMAIN", "cdn.example.com", "S3_CDN_DOMAIN", "cdn.example.com"),
    ("FLASKS3_BUCKET_DOMAIN", "s3.eu.example", "S3_BUCKET_DOMAIN", "s3.eu.example"),
    ("FLASKS3_URL_STYLE", "path", "S3_URL_STYLE", "path"),
    ("FLASKS3_USE_HTTPS", True, "S3_URL_SCHEME", "https"),
    ("FLASKS3_USE_HTTPS", False, "S3_URL_SCHEME", "http"),
    ("FLASKS3_ACTIVE", False, "USE_S3", False),
    ("FLASKS3_DEBUG", True, "USE_S3_DEBUG", True),
    ("FLASKS3_HEADERS", {"Expires": "never"}, "S3_HEADERS", {"Expires": "never"}),
    ("FLASKS3_GZIP", True, "USE_GZIP", True),
    (
        "FLASKS3_GZIP_ONLY_EXTS",
        [".css", "js"],
        "S3_GZIP_CONTENT_TYPES",
        ["text/css", "text/javascript"],
    ),
    ("FLASKS3_GZIP_ONLY_EXTS", [], "S3_GZIP_CONTENT_TYPES", ["*/*"]),
    ("FLASKS3_PREFIX", "v2", "S3_PREFIX", "v2"),
    ("FLASKS3_REGION", "eu-west-1", "S3_REGION", "eu-west-1"),
    ("FLASKS3_ENDPOINT_URL", "http://127.0.0.1:9000", "S3_ENDPOINT_URL", "http://127.0.0.1:9000"),
    ("FLASKS3_OVERRIDE_TESTING", False, "S3_OVERRIDE_TESTING", False),
]


@pytest.mark.parametrize(("old", "value", "new", "expected"), ALIASES)
def test_flasks3_alias_fills_absent_seed_key(
    tmp_path: Path, old: str, value: Any, new: str, expected: Any
) -> None:
    app = new_app(tmp_path, **{old: value})
    with expect_migration(new) as caught:
        FlaskS3(app)
    assert app.config[new] == expected
    assert all(w.filename == __file__ for w in caught)  # points at the user's line


CURRENT: dict[str, Any] = {
    "S3_BUCKET_NAME": "current",
    "S3_CDN_DOMAIN": "current.example",
    "S3_BUCKET_DOMAIN": "current.example",
    "S3_URL_STYLE": "host",
    "S3_URL_SCHEME": "",
    "USE_S3": True,
    "USE_S3_DEBUG": False,
    "S3_HEADERS": {"X-Current": "1"},
    "USE_GZIP": False,
    "S3_GZIP_CONTENT_TYPES": ["image/svg+xml"],
    "S3_PREFIX": "current",
    "S3_REGION": "us-east-2",
    "S3_ENDPOINT_URL": "http://current.example",
    "S3_OVERRIDE_TESTING": True,
}


@pytest.mark.parametrize(("old", "value", "new", "expected"), ALIASES)
def test_seed_key_wins_over_its_alias(
    tmp_path: Path, old: str, value: Any, new: str, expected: Any
) -> None:
    app = new_app(tmp_path, **{old: value, new: CURRENT[new]})
    with expect_migration(f"{old}.*ignored because {new} is set"):
        FlaskS3(app)
    assert app.config[new] == CURRENT[new] != expected


def test_flasks3_cache_control_needs_use_cache_control(tmp_path: Path) -> None:
    # 0.3 applied FLASKS3_CACHE_CONTROL only with FLASKS3_USE_CACHE_CONTROL on.
    app = new_app(tmp_path, FLASKS3_HEADERS={"Expires": "x"}, FLASKS3_CACHE_CONTROL="max-age=9")
    with expect_migration("no effect because FLASKS3_USE_CACHE_CONTROL"):
        FlaskS3(app)
    assert app.config["S3_HEADERS"] == {"Expires": "x"}


def test_flasks3_cache_control_wins_over_flasks3_headers(tmp_path: Path) -> None:
    app = new_app(
        tmp_path,
        FLASKS3_HEADERS={"Expires": "x", "cache-control": "no-cache"},
        FLASKS3_CACHE_CONTROL="max-age=9",
        FLASKS3_USE_CACHE_CONTROL=True,
    )
    with expect_migration(r"write S3_HEADERS = \{'Expires'"):
        FlaskS3(app)
    assert app.config["S3_HEADERS"] == {"Expires": "x", "Cache-Control": "max-age=9"}
    assert app.config["FLASKS3_HEADERS"]["cache-control"] == "no-cache"  # not changed in place


def test_flasks3_cache_control_does_not_replace_an_explicit_one(tmp_path: Path) -> None:
    headers = {"cache-control": "no-store"}
    app = new_app(
        tmp_path,
        S3_HEADERS=headers,
        FLASKS3_CACHE_CONTROL="max-age=9",
        FLASKS3_USE_CACHE_CONTROL=True,
    )
    with expect_migration("ignored because S3_HEADERS"):
        FlaskS3(app)
    assert app.config["S3_HEADERS"] == {"cache-control": "no-store"}


def test_empty_gzip_only_exts_gzips_every_type(tmp_path: Path) -> None:
    app = new_app(tmp_path, FLASKS3_GZIP=True)
    with expect_migration("every file is gzipped"):
        FlaskS3(app)
    assert app.config["S3_GZIP_CONTENT_TYPES"] == ["*/*"]


@pytest.mark.parametrize(("value", "scheme"), [(True, "https"), (False, "http")])
def test_s3_use_https(tmp_path: Path, value: bool, scheme: str) -> None:
    app = new_app(tmp_path, S3_BUCKET_NAME="bk", S3_USE_HTTPS=value)
    with expect_migration("S3_URL_SCHEME") as caught:
        FlaskS3(app)
    assert app.config["S3_URL_SCHEME"] == scheme
    assert static_url(app) == f"{scheme}://bk.s3.amazonaws.com/static/a.css"
    assert caught[0].filename == __file__


def test_s3_use_https_ignored_when_scheme_set(tmp_path: Path) -> None:
    app = new_app(tmp_path, S3_USE_HTTPS=True, S3_URL_SCHEME="http")
    with expect_migration("ignored because S3_URL_SCHEME"):
        FlaskS3(app)
    assert app.config["S3_URL_SCHEME"] == "http"


def test_s3_use_https_wins_over_flasks3_use_https(tmp_path: Path) -> None:
    app = new_app(tmp_path, S3_USE_HTTPS=False, FLASKS3_USE_HTTPS=True)
    with pytest.warns(MigrationWarning):
        FlaskS3(app)
    assert app.config["S3_URL_SCHEME"] == "http"


@pytest.mark.parametrize(
    ("config", "headers"),
    [
        (
            {"S3_USE_CACHE_CONTROL": True, "S3_CACHE_CONTROL": "max-age=5"},
            {"Cache-Control": "max-age=5"},
        ),
        ({"S3_USE_CACHE_CONTROL": False, "S3_CACHE_CONTROL": "max-age=5"}, {}),
        (
            {
                "S3_USE_CACHE_CONTROL": True,
                "S3_CACHE_CONTROL": "max-age=5",
                "S3_HEADERS": {"Cache-Control": "no-cache", "Expires": "x"},
            },
            {"Cache-Control": "no-cache", "Expires": "x"},
        ),
        (
            {
                "S3_USE_CACHE_CONTROL": True,
                "S3_CACHE_CONTROL": "max-age=5",
                "S3_HEADERS": {"Expires": "x"},
            },
            {"Expires": "x", "Cache-Control": "max-age=5"},
        ),
    ],
)
def test_s3_cache_control(tmp_path: Path, config: dict[str, Any], headers: dict[str, str]) -> None:
    given = dict(config.get("S3_HEADERS", {}))
    app = new_app(tmp_path, **config)
    with expect_migration(r"S3_HEADERS\ = \{'Cache-Control'"):
        FlaskS3(app)
    assert app.config["S3_HEADERS"] == headers
    assert config.get("S3_HEADERS", {}) == given  # the user's dict is not changed in place


def test_current_keys_do_not_warn(tmp_path: Path) -> None:
    app = new_app(tmp_path, S3_BUCKET_NAME="bk", S3_URL_SCHEME="https", S3_HEADERS={"A": "b"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FlaskS3(app)


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("S3_URL_STYLE", "virtual", "'host'"),
        ("S3_URL_SCHEME", "ftp", "'https'"),
        ("S3_URL_SCHEME", "relative", "leave it unset"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, key: str, value: str, allowed: str) -> None:
    app = new_app(tmp_path, **{key: value})
    with pytest.raises(ConfigError, match=key) as raised:
        FlaskS3(app)
    assert allowed in str(raised.value)
    assert "s3" not in app.extensions


SPEC = Spec(
    bucket=BucketSpec(name="spec-bucket", region="eu-west-1"),
    urls=UrlSpec(scheme="https", style="path", cdn_domain=None, prefix="v3"),
    assets=AssetsSpec(headers={"Cache-Control": "max-age=1"}, gzip=GzipSpec(enabled=True)),
    runtime=RuntimeSpec(debug=True, override_flask_url_for=True),
)


def test_spec_hydrates_config(tmp_path: Path) -> None:
    app = new_app(tmp_path)
    FlaskS3(app, spec=SPEC)
    assert app.config["S3_BUCKET_NAME"] == "spec-bucket"
    assert app.config["S3_REGION"] == "eu-west-1"
    assert app.config["S3_URL_SCHEME"] == "https"
    assert app.config["S3_HEADERS"] == {"Cache-Control": "max-age=1"}
    assert app.config["USE_GZIP"] is True
    assert app.config["USE_S3_DEBUG"] is True
    assert app.extensions["s3"].spec is SPEC
    assert static_url(app) == "https://s3.amazonaws.com/spec-bucket/v3/static/a.css"
    with app.test_request_context("/"):  # runtime.override_flask_url_for
        assert app.url_for("static", filename="a.css").startswith("https://s3.amazonaws.com/")


def test_explicit_config_wins_over_spec(tmp_path: Path) -> None:
    app = new_app(tmp_path, S3_BUCKET_NAME="mine", S3_URL_SCHEME="http", S3_PREFIX="")
    FlaskS3(app, spec=SPEC)
    assert app.config["S3_URL_STYLE"] == "path"  # not set explicitly: from the spec
    assert static_url(app) == "http://s3.amazonaws.com/mine/static/a.css"


def test_flasks3_alias_wins_over_spec(tmp_path: Path) -> None:
    app = new_app(tmp_path, FLASKS3_BUCKET_NAME="old")
    with pytest.warns(MigrationWarning):
        FlaskS3(app, spec=SPEC)
    assert app.config["S3_BUCKET_NAME"] == "old"


SPEC_YAML = """\
version: 1
bucket:
  name: yaml-bucket
urls:
  cdn_domain: cdn.example.com
  scheme: https
"""


def test_spec_path_beside_the_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "deploy.yaml").write_text(SPEC_YAML)
    monkeypatch.chdir(tmp_path)
    app = new_app(tmp_path / "app")
    FlaskS3(app, spec="deploy.yaml")
    assert app.config["S3_BUCKET_NAME"] == "yaml-bucket"
    assert static_url(app) == "https://cdn.example.com/static/a.css"


def test_spec_path_in_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "deploy.yaml").write_text(SPEC_YAML)
    monkeypatch.chdir(tmp_path)
    app = new_app(tmp_path / "elsewhere")
    FlaskS3(app, spec=Path("deploy.yaml"))
    assert app.config["S3_CDN_DOMAIN"] == "cdn.example.com"


def test_bad_spec_path_raises_spec_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    app = new_app(tmp_path)
    with pytest.raises(SpecError, match="no such file"):
        FlaskS3(app, spec="missing.yaml")
    assert "s3" not in app.extensions


def test_resolved_config_before_init_changes_nothing(tmp_path: Path) -> None:
    app = new_app(tmp_path, FLASKS3_BUCKET_NAME="old", S3_USE_HTTPS=True)
    before = dict(app.config)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config = resolved_config(app)
    assert config["S3_BUCKET_NAME"] == "old"
    assert config["S3_URL_SCHEME"] == "https"
    assert config["S3_BUCKET_DOMAIN"] == "s3.amazonaws.com"
    assert dict(app.config) == before


def test_resolved_config_after_init_is_app_config(tmp_path: Path) -> None:
    app = new_app(tmp_path, S3_BUCKET_NAME="bk")
    FlaskS3(app)
    assert resolved_config(app) is app.config
