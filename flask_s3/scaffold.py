"""``flask-s3 init``: write the deploy spec that reproduces what an app's config does today.

The spec is built from the same values the extension and ``create_all`` read (0.3 keys, seed
keys, defaults, ``create_all``'s defaults), so with it ``url_for`` gives the same URLs and a
plan against a bucket ``create_all`` filled has nothing to do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask

from .config import BY_NAME, CONFIG_KEYS, ConfigKey, defaults
from .createall import header_rules, static_files
from .errors import ConfigError
from .migrate import MISSING, migrate, uses_flasks3
from .spec import Spec, load_spec

COMMENT_AT = 40  # column of the trailing comments


@dataclass
class Scaffold:
    """The spec text, and what the app's config should lose once the spec is in use."""

    text: str
    delete: list[str] = field(default_factory=list)  # keys the spec now holds
    keep: list[str] = field(default_factory=list)  # keys with no place in a spec
    rename: dict[str, str] = field(default_factory=dict)  # old key -> current key to keep

    def advice(self, out: str) -> list[str]:
        """What to change in the app, one instruction a line."""
        lines = [f"Serve with FlaskS3(app, spec={out!r}) (or app: in the spec for the CLI)."]
        if self.delete:
            lines.append("Delete from the app's config (the spec holds them now):")
            lines += [f"  {name}" for name in self.delete]
        for old, new in self.rename.items():
            lines.append(f"Rename {old} to {new} (it has no place in a spec).")
        if self.keep:
            lines.append(f"Keep in the config (no place in a spec): {', '.join(self.keep)}")
        return lines


def user_config(app: Flask) -> dict[str, Any]:
    """``app.config`` as the user wrote it: without what an earlier ``init_app`` filled in."""
    config = dict(app.config)
    state = app.extensions.get("s3")
    for key, (value, before) in getattr(state, "written", {}).items():
        if key in config and config[key] is value:
            if before is MISSING:
                del config[key]
            else:
                config[key] = before
    return config


def effective(user: dict[str, Any]) -> dict[str, Any]:
    """The values flask-s3 works with for ``user``'s config (as init_app computes them)."""
    config = dict(user)
    config.update(migrate(user).values)
    for key, value in defaults().items():
        config.setdefault(key, value)
    return config


def source_of(spec_field: str, user: dict[str, Any]) -> str:
    """Which key of the user's config a spec field comes from, for the comment beside it."""
    owners = [k for k in CONFIG_KEYS if k.spec_field == spec_field]
    present = [k.name for k in owners if k.name in user]
    if present:
        return "from " + ", ".join(present)
    if uses_flasks3(user) and any(k.status == "flask-s3-0.3" for k in owners):
        return "Flask-S3 0.3's default"
    return "default"


def build(app: Flask, app_import: str | None) -> Scaffold:
    """The commented spec for ``app`` and the config keys it replaces."""
    user = user_config(app)
    config = effective(user)
    if not config.get("S3_BUCKET_NAME"):
        raise ConfigError(
            "the app's config names no bucket",
            "Set S3_BUCKET_NAME (or FLASKS3_BUCKET_NAME) in the app's config, then run init.",
        )
    files = static_files(app, hidden=False)
    rules = header_rules(files, config)
    lines = [
        f"# Deploy spec written by `flask-s3 init` from the config of {app_import or app.name}.",
        "# It reproduces what the app does today: the same url_for URLs, and the objects and",
        "# headers create_all stores. Review it with `flask-s3 plan`, then serve with",
        "# FlaskS3(app, spec=...) and delete the keys `flask-s3 init` listed from the config.",
        "",
        "version: 1",
    ]
    if app_import:
        lines.append(f"app: {_scalar(app_import)}")
    lines += ["", "bucket:"]
    lines.append(_line("name", config["S3_BUCKET_NAME"], source_of("bucket.name", user)))
    for name, key in (("region", "S3_REGION"), ("endpoint_url", "S3_ENDPOINT_URL")):
        if config.get(key):
            lines.append(_line(name, config[key], source_of(f"bucket.{name}", user)))
    lines.append(_line("public_read_policy", True, "create_all makes assets public, as 0.3 did"))
    scheme = config.get("S3_URL_SCHEME") or "relative"
    lines += ["", "urls:", _line("scheme", scheme, source_of("urls.scheme", user))]
    for name, key in (
        ("style", "S3_URL_STYLE"),
        ("bucket_domain", "S3_BUCKET_DOMAIN"),
        ("cdn_domain", "S3_CDN_DOMAIN"),
        ("prefix", "S3_PREFIX"),
    ):
        value = config.get(key) or ("" if name == "prefix" else None)
        if name == "prefix":
            value = str(value).strip("/")
        lines.append(_line(name, value, source_of(f"urls.{name}", user)))
    lines += ["", "assets:", _line("include_hidden", False, "create_all's default")]
    headers = dict(config.get("S3_HEADERS") or {})
    lines.append(_line("headers", headers, source_of("assets.headers", user)))
    if rules:
        lines.append(_pad("  rules:", "from FLASKS3_FILEPATH_HEADERS, matching today's files"))
        for rule in rules:
            lines.append(f"    - match: {_scalar(rule.match)}")
            lines.append(f"      headers: {_scalar(dict(rule.headers))}")
    lines.append("  gzip:")
    lines.append(
        _line("enabled", bool(config.get("USE_GZIP")), source_of("assets.gzip.enabled", user), 4)
    )
    types = list(config.get("S3_GZIP_CONTENT_TYPES") or [])
    why = source_of("assets.gzip.content_types", user)
    lines.append(_line("content_types", types, why, 4))
    if config.get("S3_FINGERPRINT"):
        lines.append("  fingerprint:")
        lines.append(_line("enabled", True, "from S3_FINGERPRINT", 4))
        if config.get("S3_FINGERPRINT_MANIFEST"):
            manifest = config["S3_FINGERPRINT_MANIFEST"]
            lines.append(_line("manifest", manifest, "from S3_FINGERPRINT_MANIFEST", 4))
    lines += ["", "runtime:"]
    for name, key in (
        ("enabled", "USE_S3"),
        ("debug", "USE_S3_DEBUG"),
        ("override_flask_url_for", "S3_OVERRIDE_FLASK_URL_FOR"),
    ):
        lines.append(_line(name, bool(config.get(key)), source_of(f"runtime.{name}", user)))
    text = "\n".join(lines) + "\n"
    if "${" in text:
        raise ConfigError(
            "a value in the app's config contains `${`, which a spec reads as a variable",
            "Change that value, or write the spec by hand with the value set from ${VAR}.",
        )
    scaffold = Scaffold(text)
    _sort_keys(scaffold, user)
    return scaffold


def _sort_keys(scaffold: Scaffold, user: dict[str, Any]) -> None:
    """Keys the spec now holds go; keys with no spec field (credentials, testing) stay."""
    for key in CONFIG_KEYS:
        if key.name not in user:
            continue
        target: ConfigKey = BY_NAME[key.read_as] if key.read_as else key
        has_place = target.status != "current" or target.spec_field is not None
        if has_place or user[key.name] == key.default:
            scaffold.delete.append(key.name)
        elif key is target:
            scaffold.keep.append(key.name)
        else:
            scaffold.rename[key.name] = target.name


def _scalar(value: Any) -> str:
    # JSON is YAML's flow style, and json.dumps quotes every string safely.
    return json.dumps(value, ensure_ascii=False)


def _pad(text: str, comment: str) -> str:
    return f"{text.ljust(COMMENT_AT)} # {comment}" if comment else text


def _line(name: str, value: Any, comment: str, indent: int = 2) -> str:
    return _pad(f"{' ' * indent}{name}: {_scalar(value)}", comment)


def write(scaffold: Scaffold, out: Path, force: bool) -> Spec:
    """Write the spec (refusing to overwrite without ``force``), then validate it."""
    if out.exists() and not force:
        raise ConfigError(
            f"{out} already exists",
            "Choose another --out, or pass --force to overwrite it.",
        )
    out.write_text(scaffold.text, encoding="utf-8")
    return load_spec(out)
