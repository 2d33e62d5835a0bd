"""A Flask-S3 0.3 app upgraded without changes: URLs, defaults, switches and warnings.

Expected values come from Flask-S3 0.3's documented behaviour: https by default, host-style
bucket.s3.amazonaws.com URLs, FLASKS3_ACTIVE set to False in debug mode, local URLs under
TESTING when FLASKS3_OVERRIDE_TESTING is off, ValueError for a missing bucket or a bad style.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from flask import Blueprint, Flask, render_template_string
from migration import expect_migration

import flask_s3
from flask_s3 import FlaskS3
from flask_s3.errors import ConfigError, MigrationWarning, SpecError
from flask_s3.migrate import migrate


def old_app(root: Path, **config: Any) -> Flask:
    app = Flask("oldsite", root_path=str(root))
    admin = Blueprint("admin", "oldsite", static_folder=str(root), static_url_path="/assets")
    app.register_blueprint(admin, url_prefix="/admin")
    app.config.update(config)
    return app


def template_url(app: Flask, endpoint: str = "static", filename: str = "foo/style.css") -> str:
    with app.test_request_context("/"):
        return render_template_string(
            "{{ url_for(endpoint, filename=name) }}", endpoint=endpoint, name=filename
        )


def init(app: Flask) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MigrationWarning)
        FlaskS3(app)


@pytest.mark.parametrize(
    ("config", "url"),
    [
        ({}, "https://mybucketname.s3.amazonaws.com/static/foo/style.css"),
        ({"FLASKS3_USE_HTTPS": True}, "https://mybucketname.s3.amazonaws.com/static/foo/style.css"),
        ({"FLASKS3_USE_HTTPS": False}, "http://mybucketname.s3.amazonaws.com/static/foo/style.css"),
        ({"FLASKS3_URL_STYLE": "path"}, "https://s3.amazonaws.com/mybucketname/static/foo/style.css"),
        ({"FLASKS3_BUCKET_DOMAIN": "s3.eu.example"}, "https://mybucketname.s3.eu.example/static/foo/style.css"),
        ({"FLASKS3_CDN_DOMAIN": "cdn.example.com"}, "https://cdn.example.com/static/foo/style.css"),
        ({"FLASKS3_PREFIX": "/v1/"}, "https://mybucketname.s3.amazonaws.com/v1/static/foo/style.css"),
        (
            {"FLASKS3_CDN_DOMAIN": "cdn.example.com", "FLASKS3_PREFIX": "v1"},
            "https://cdn.example.com/v1/static/foo/style.css",
        ),
    ],
)  # fmt: skip
def test_url_shapes_of_flasks3_settings(tmp_path: Path, config: dict[str, Any], url: str) -> None:
    app = old_app(tmp_path, FLASKS3_BUCKET_NAME="mybucketname", **config)
    init(app)
    assert template_url(app) == url


def test_seed_keys_keep_scheme_relative_urls(tmp_path: Path) -> None:
    app = old_app(tmp_path, S3_BUCKET_NAME="mybucketname")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FlaskS3(app)
    assert template_url(app) == "//mybucketname.s3.amazonaws.com/static/foo/style.css"


def test_only_a_bucket_name_warns_that_urls_stay_https(tmp_path: Path) -> None:
    app = old_app(tmp_path, FLASKS3_BUCKET_NAME="bk")
    with pytest.warns(MigrationWarning) as caught:
        FlaskS3(app)
    messages = [str(w.message) for w in caught]
    assert any("write S3_BUCKET_NAME = 'bk'" in m for m in messages)
    assert any(
        "https:// as in Flask-S3 0.3" in m and "S3_URL_SCHEME = 'https'" in m for m in messages
    )


def test_blueprint_urls_and_url_for_outside_templates(tmp_path: Path) -> None:
    app = old_app(tmp_path, FLASKS3_BUCKET_NAME="bk")
    init(app)
    assert (
        template_url(app, "admin.static", "a.css")
        == "https://bk.s3.amazonaws.com/admin/assets/a.css"
    )
    with app.app_context():  # no request: a mail or a feed built in a task
        assert (
            flask_s3.url_for("static", filename="x.png")
            == "https://bk.s3.amazonaws.com/static/x.png"
        )
        assert flask_s3.url_for("static", filename="x.png", _scheme="http").startswith("http://bk.")
        assert flask_s3.url_for("static", filename="x.png", v=2) == (
            "https://bk.s3.amazonaws.com/static/x.png?v=2"
        )
    with app.test_request_context("/admin/"):
        assert flask_s3.url_for("admin.static", filename="a.css").endswith("/admin/assets/a.css")
        assert flask_s3.url_for(".static", filename="a.css").endswith("/static/a.css")  # fmt: skip


@pytest.mark.parametrize(("debug_key", "s3_urls"), [({}, False), ({"FLASKS3_DEBUG": True}, True)])
def test_debug_switches_off_and_flasks3_active_says_so(
    tmp_path: Path, debug_key: dict[str, Any], s3_urls: bool
) -> None:
    app = old_app(tmp_path, FLASKS3_BUCKET_NAME="bk", DEBUG=True, **debug_key)
    init(app)
    assert app.config["FLASKS3_ACTIVE"] is s3_urls  # 0.3's docs: "the definitive check"
    assert app.config["USE_S3"] is s3_urls
    url = template_url(app)
    assert url == (
        "https://bk.s3.amazonaws.com/static/foo/style.css" if s3_urls else "/static/foo/style.css"
    )
    with app.test_request_context("/"):  # 0.3: the switch is the template's; Python gets S3
        assert flask_s3.url_for("static", filename="foo/style.css") == (
            "https://bk.s3.amazonaws.com/static/foo/style.css"
        )


def test_flasks3_active_false_gives_local_urls(tmp_path: Path) -> None:
    app = old_app(tmp_path, FLASKS3_BUCKET_NAME="bk", FLASKS3_ACTIVE=False)
    init(app)
    assert template_url(app) == "/static/foo/style.css"


def test_override_testing(tmp_path: Path) -> None:
    app = old_app(tmp_path, FLASKS3_BUCKET_NAME="bk", TESTING=True)
    init(app)
    assert template_url(app).startswith("https://bk.")  # 0.3's default: S3 URLs in tests too
    app = old_app(tmp_path, FLASKS3_BUCKET_NAME="bk", FLASKS3_OVERRIDE_TESTING=False)
    init(app)
    assert template_url(app).startswith("https://bk.")  # TESTING off
    app.config["TESTING"] = True  # set after the factory ran: 0.3 checked at each call
    assert template_url(app) == "/static/foo/style.css"
    with app.test_request_context("/"):
        assert flask_s3.url_for("static", filename="foo/style.css") == "/static/foo/style.css"


def test_errors_are_value_errors_raised_no_later_than_in_0_3(tmp_path: Path) -> None:
    assert issubclass(ConfigError, ValueError) and issubclass(SpecError, ValueError)
    app = old_app(tmp_path, FLASKS3_BUCKET_NAME="bk", FLASKS3_URL_STYLE="virtual")
    with pytest.raises(ValueError, match="S3_URL_STYLE"):  # 0.3 raised at url_for: now earlier
        init(app)
    app = old_app(tmp_path, FLASKS3_ACTIVE=True)
    init(app)
    with pytest.raises(ValueError, match="S3_BUCKET_NAME"):  # at url_for, as in 0.3
        template_url(app)


@pytest.mark.parametrize(
    ("key", "closest"),
    [
        ("FLASKS3_BUCKET_NAMES", "FLASKS3_BUCKET_NAME"),
        ("FLASKS3_USE_HTTP", "FLASKS3_USE_HTTPS"),
        ("S3_BUCKETNAME", "S3_BUCKET_NAME"),
        ("S3_CDN_DOMIAN", "S3_CDN_DOMAIN"),
        ("USE_S3_DEBGU", "USE_S3_DEBUG"),
    ],
)
def test_misspelt_keys_warn_with_the_closest_name(tmp_path: Path, key: str, closest: str) -> None:
    app = old_app(tmp_path, S3_BUCKET_NAME="bk", **{key: "x"})
    with expect_migration(f"{key} is not a flask-s3 setting.*did you mean {closest}"):
        FlaskS3(app)


def test_other_extensions_s3_keys_do_not_warn(tmp_path: Path) -> None:
    app = old_app(tmp_path, S3_BUCKET_NAME="bk", S3_KEY="k", S3_SECRET="s", S3_UPLOAD_DIR="u")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FlaskS3(app)


def test_unknown_flasks3_key_warns(tmp_path: Path) -> None:
    app = old_app(tmp_path, FLASKS3_BUCKET_NAME="bk", FLASKS3_SOMETHING_ELSE=1)
    with expect_migration("FLASKS3_SOMETHING_ELSE is not a Flask-S3 0.3 setting"):
        FlaskS3(app)


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("FLASKS3_ONLY_MODIFIED", "always on now"),
        ("FLASKS3_FORCE_MIMETYPE", "always on now"),
        ("FLASKS3_FILEPATH_HEADERS", "assets.rules"),
        ("FLASKS3_USE_CACHE_CONTROL", "no effect"),
    ],
)
def test_harmless_or_deploy_time_keys_still_say_something(
    tmp_path: Path, key: str, says: str
) -> None:
    value: Any = (
        {r"\.css$": {"Cache-Control": "max-age=1"}} if key == "FLASKS3_FILEPATH_HEADERS" else True
    )
    app = old_app(tmp_path, FLASKS3_BUCKET_NAME="bk", **{key: value})
    with expect_migration(says):
        FlaskS3(app)


def test_bad_filepath_headers_fail_at_init(tmp_path: Path) -> None:
    app = old_app(tmp_path, FLASKS3_BUCKET_NAME="bk", FLASKS3_FILEPATH_HEADERS={"(": {"A": "b"}})
    with pytest.raises(ValueError, match="not a regular expression"):
        init(app)


def test_every_old_key_is_either_mapped_or_warned() -> None:
    from flask_s3.config import DEPRECATED, FLASKS3

    noted_under = {  # the two halves of a pair share one message
        "S3_USE_CACHE_CONTROL": "S3_CACHE_CONTROL",
        "FLASKS3_USE_CACHE_CONTROL": "FLASKS3_CACHE_CONTROL",
    }
    for key in (*FLASKS3, *DEPRECATED):
        value: Any = key.default if key.default not in (None, {}, "") else "x"
        if key.name == "FLASKS3_FILEPATH_HEADERS":
            value = {"a": {"B": "c"}}
        result = migrate({key.name: value})
        assert noted_under.get(key.name, key.name) in result.notes, key.name
        assert key.name in result.notes[noted_under.get(key.name, key.name)]


def test_warnings_are_shown_by_default(tmp_path: Path) -> None:
    # A DeprecationWarning raised from a library module is hidden by Python's default
    # filters; an upgrade must not be silent, so the app's own module gets to see it.
    (tmp_path / "factory.py").write_text(
        "from flask import Flask\n"
        "import flask_s3\n"
        "def make():\n"
        f"    app = Flask('x', root_path={str(tmp_path)!r})\n"
        "    app.config['FLASKS3_BUCKET_NAME'] = 'b'\n"
        "    flask_s3.FlaskS3(app)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", "import factory; factory.make()"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "factory.py:6: MigrationWarning: 2 old flask-s3 settings in the config" in run.stderr
    assert "\n  - FLASKS3_BUCKET_NAME is a Flask-S3 0.3 setting" in run.stderr
    # one warning: the source line under it is printed once, not once per key
    assert run.stderr.count("flask_s3.FlaskS3(app)") == 1
    # a DeprecationWarning: apps that turn those into errors catch it
    strict = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", "import factory; factory.make()"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert strict.returncode == 1
    assert "flask_s3.errors.MigrationWarning: 2 old flask-s3 settings" in strict.stderr


def test_gzip_extension_without_a_dot_says_what_changed(tmp_path: Path) -> None:
    app = old_app(tmp_path, FLASKS3_BUCKET_NAME="bk", FLASKS3_GZIP_ONLY_EXTS=["css", ".js"])
    with expect_migration("without one .like 'css'. gzipped nothing"):
        FlaskS3(app)
    assert app.config["S3_GZIP_CONTENT_TYPES"] == ["text/css", "text/javascript"]


def test_config_set_after_flasks3_is_read_when_used(tmp_path: Path) -> None:
    # `s3 = FlaskS3(app)` at import, the config later: 0.3 read it at each call.
    app = Flask("late", root_path=str(tmp_path))
    init(app)
    with app.test_request_context("/"):
        with pytest.raises(ConfigError, match="S3_BUCKET_NAME is not set"):
            flask_s3.url_for("static", filename="a.css")
    app.config.from_mapping(FLASKS3_BUCKET_NAME="late-bucket", FLASKS3_CDN_DOMAIN="")
    with pytest.warns(MigrationWarning, match="FLASKS3_BUCKET_NAME"):
        url = template_url(app, filename="a.css")
    assert url == "https://late-bucket.s3.amazonaws.com/static/a.css"  # 0.3's https too
    app.config["FLASKS3_CDN_DOMAIN"] = "cdn.example.com"  # changed in place later still
    assert template_url(app, filename="a.css") == "https://cdn.example.com/static/a.css"
    from flask_s3.tools.createall import spec_from_app

    assert spec_from_app(app, None, None, False).bucket.name == "late-bucket"


def test_late_bad_value_fails_each_call_with_the_key(tmp_path: Path) -> None:
    app = old_app(tmp_path, FLASKS3_BUCKET_NAME="bk")
    init(app)
    app.config["FLASKS3_URL_STYLE"] = "sideways"
    with expect_migration("FLASKS3_URL_STYLE is a Flask-S3 0.3 setting"):  # read late, too
        for _ in range(2):  # not "not set up" the second time: the state is kept
            with pytest.raises(ConfigError, match="S3_URL_STYLE is 'sideways'"):
                template_url(app)
        app.config["FLASKS3_URL_STYLE"] = "path"
        assert template_url(app) == "https://s3.amazonaws.com/bk/static/foo/style.css"


def test_active_off_switches_templates_only_as_0_3_did(tmp_path: Path) -> None:
    app = old_app(tmp_path, FLASKS3_BUCKET_NAME="bk", FLASKS3_ACTIVE=False)
    with pytest.warns(MigrationWarning, match="FLASKS3_ACTIVE switches templates only"):
        FlaskS3(app)
    assert template_url(app) == "/static/foo/style.css"
    s3_url = "https://bk.s3.amazonaws.com/static/foo/style.css"
    with app.app_context():  # no request: 0.3 built static URLs from the URL map alone
        assert flask_s3.url_for("static", filename="foo/style.css") == s3_url


def test_seed_switch_off_outside_a_request_is_a_flask_s3_error(tmp_path: Path) -> None:
    app = Flask("seed", root_path=str(tmp_path))
    app.config.update(S3_BUCKET_NAME="bk", USE_S3=False)
    FlaskS3(app)
    with app.app_context():
        with pytest.raises(RuntimeError, match="has no URL outside a request") as caught:
            flask_s3.url_for("static", filename="a.css")
    assert isinstance(caught.value, flask_s3.FlaskS3Error)
    assert "SERVER_NAME" in str(caught.value)


def test_use_s3_set_by_the_app_wins_over_0_3_switches(tmp_path: Path) -> None:
    app = old_app(tmp_path, FLASKS3_BUCKET_NAME="bk", USE_S3=False)
    init(app)
    with app.test_request_context("/"):  # the current key: 1.0's rule, direct calls too
        assert flask_s3.url_for("static", filename="foo/style.css") == "/static/foo/style.css"


def test_flasks3_endpoint_url_is_not_called_a_0_3_setting(tmp_path: Path) -> None:
    app = old_app(tmp_path, FLASKS3_BUCKET_NAME="bk", FLASKS3_ENDPOINT_URL="http://127.0.0.1:1")
    with pytest.warns(MigrationWarning, match="not a Flask-S3 0.3 setting .0.3.3 ignored it"):
        FlaskS3(app)
    assert app.config["S3_ENDPOINT_URL"] == "http://127.0.0.1:1"  # still honoured


def test_user_warning_filters_come_first(tmp_path: Path) -> None:
    # `-W ignore::DeprecationWarning` (the user's choice) silences MigrationWarning too.
    (tmp_path / "quiet.py").write_text(
        "from flask import Flask\nimport flask_s3\napp = Flask('q')\n"
        "app.config['FLASKS3_BUCKET_NAME'] = 'b'\nflask_s3.FlaskS3(app)\n"
    )
    run = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", "import quiet"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 0 and "MigrationWarning" not in run.stderr
