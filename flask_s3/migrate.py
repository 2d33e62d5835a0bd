"""Old settings read the new way: Flask-S3 0.3's ``FLASKS3_*`` keys and the seed's deprecated keys.

Everything here follows ``config.CONFIG_KEYS``. The rule an upgrading app can rely on: a key
set under its current name always wins; an old key fills its current key otherwise, with a
warning saying what to write instead; and an app that sets any ``FLASKS3_*`` key gets Flask-S3
0.3's defaults for what it leaves unset (https URLs; with ``FLASKS3_GZIP``, every type gzipped).
Nothing is ignored without a warning.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import field
from typing import Any

from .config import ALIASES, ALL_TYPES, BY_NAME, FLASKS3, ConfigKey
from .errors import ConfigError
from .records import record

MISSING = object()


@record
class Migration:
    """Values for current keys taken from old keys, and one message per old key met."""

    values: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # key -> what changed, what to write


def uses_flasks3(config: Mapping[str, Any]) -> bool:
    """An app configured the Flask-S3 0.3 way: it sets at least one ``FLASKS3_*`` key."""
    return any(isinstance(k, str) and k.startswith("FLASKS3_") for k in config)


def migrate(config: Mapping[str, Any]) -> Migration:
    """What the old keys of ``config`` mean in current keys; ``config`` is not changed."""
    out = Migration()
    values = out.values

    def is_set(name: str) -> bool:
        return name in config or name in values

    for old, new in ALIASES.items():
        if old not in config:
            continue
        key = BY_NAME[old]
        if is_set(new):
            out.notes[old] = f"{old} is {_origin(key)}, ignored because {new} is set; remove it"
            continue
        value = key.converted(config[old])
        values[new] = value
        out.notes[old] = f"{old} is {_origin(key)}; write {new} = {value!r} instead"
    for name in ("FLASKS3_ACTIVE", "FLASKS3_DEBUG"):
        if name in config and "USE_S3" not in config and not config[name] == BY_NAME[name].default:
            out.notes[name] += (
                f"; note: in Flask-S3 0.3, and here while USE_S3 is unset, {name} switches "
                "templates only (direct flask_s3.url_for calls give S3 URLs); USE_S3 switches both"
            )
    if "FLASKS3_ENDPOINT_URL" in config and "S3_ENDPOINT_URL" not in config:
        out.notes["FLASKS3_ENDPOINT_URL"] = (
            "FLASKS3_ENDPOINT_URL is not a Flask-S3 0.3 setting (0.3.3 ignored it and deployed "
            "to AWS); flask-s3 honours it as an alias: create_all deploys to "
            f"{config['FLASKS3_ENDPOINT_URL']!r}. Write S3_ENDPOINT_URL instead"
        )
    exts = config.get("FLASKS3_GZIP_ONLY_EXTS")
    if isinstance(exts, (list, tuple)) and any(not str(e).startswith(".") for e in exts):
        out.notes["FLASKS3_GZIP_ONLY_EXTS"] = out.notes.get("FLASKS3_GZIP_ONLY_EXTS", "") + (
            "; note: Flask-S3 0.3 compared extensions with their dot, so an entry without one "
            "(like 'css') gzipped nothing; it now means that extension"
        )
    _seed_cache_control(config, out)
    _flasks3_cache_control(config, out)
    for name in ("FLASKS3_FORCE_MIMETYPE", "FLASKS3_ONLY_MODIFIED"):
        if name in config:
            out.notes[name] = f"{name} is a Flask-S3 0.3 setting: {BY_NAME[name].in_1_0}"
    if config.get("FLASKS3_FILEPATH_HEADERS"):
        filepath_headers(config)  # a bad shape fails now, not at deploy time
        out.notes["FLASKS3_FILEPATH_HEADERS"] = (
            "FLASKS3_FILEPATH_HEADERS is a Flask-S3 0.3 setting: create_all still applies it; "
            "move it to assets.rules in a deploy spec (`flask-s3 init` writes them)"
        )
    if uses_flasks3(config):
        _flasks3_defaults(config, out)
    out.notes.update(misspellings(config))
    return out


def _origin(key: ConfigKey) -> str:
    return "deprecated" if key.status == "deprecated" else "a Flask-S3 0.3 setting"


def _headers_now(config: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    return dict(values.get("S3_HEADERS", config.get("S3_HEADERS")) or {})


def _has_cache_control(headers: Mapping[str, Any]) -> bool:
    return any(str(name).lower() == "cache-control" for name in headers)


def _seed_cache_control(config: Mapping[str, Any], out: Migration) -> None:
    if "S3_CACHE_CONTROL" not in config and "S3_USE_CACHE_CONTROL" not in config:
        return
    out.notes["S3_CACHE_CONTROL"] = (
        "S3_CACHE_CONTROL and S3_USE_CACHE_CONTROL are deprecated; "
        "set S3_HEADERS = {'Cache-Control': ...}"
    )
    if config.get("S3_USE_CACHE_CONTROL") and config.get("S3_CACHE_CONTROL"):
        headers = _headers_now(config, out.values)
        if not _has_cache_control(headers):  # the seed's rule: S3_HEADERS wins
            headers["Cache-Control"] = str(config["S3_CACHE_CONTROL"])
            out.values["S3_HEADERS"] = headers


def _flasks3_cache_control(config: Mapping[str, Any], out: Migration) -> None:
    value, switched_on = (
        config.get("FLASKS3_CACHE_CONTROL"),
        config.get("FLASKS3_USE_CACHE_CONTROL"),
    )
    if "FLASKS3_CACHE_CONTROL" not in config and "FLASKS3_USE_CACHE_CONTROL" not in config:
        return
    if not value:
        out.notes["FLASKS3_CACHE_CONTROL"] = (
            "FLASKS3_USE_CACHE_CONTROL has no effect without FLASKS3_CACHE_CONTROL, as in "
            "Flask-S3 0.3; remove it"
        )
        return
    if not switched_on:
        out.notes["FLASKS3_CACHE_CONTROL"] = (
            "FLASKS3_CACHE_CONTROL has no effect because FLASKS3_USE_CACHE_CONTROL is off, as "
            "in Flask-S3 0.3; remove it, or set S3_HEADERS = {'Cache-Control': ...}"
        )
        return
    explicit = config.get("S3_HEADERS")
    if "S3_HEADERS" in config and _has_cache_control(explicit or {}):
        out.notes["FLASKS3_CACHE_CONTROL"] = (
            "FLASKS3_CACHE_CONTROL is a Flask-S3 0.3 setting, ignored because S3_HEADERS sets "
            "Cache-Control; remove it"
        )
        return
    # 0.3 wrote it over FLASKS3_HEADERS['Cache-Control']: it wins over that one.
    headers = {
        k: v for k, v in _headers_now(config, out.values).items() if k.lower() != "cache-control"
    }
    headers["Cache-Control"] = str(value)
    out.values["S3_HEADERS"] = headers
    out.notes["FLASKS3_CACHE_CONTROL"] = (
        "FLASKS3_CACHE_CONTROL and FLASKS3_USE_CACHE_CONTROL are Flask-S3 0.3 settings; write "
        f"S3_HEADERS = {headers!r} instead"
    )


def _flasks3_defaults(config: Mapping[str, Any], out: Migration) -> None:
    """Unset ``FLASKS3_*`` keys keep 0.3's defaults where those differ from the current ones."""
    for key in FLASKS3:
        target = key.read_as
        if target is None or key.name in config or target in config or target in out.values:
            continue
        value = key.converted(key.fresh_default())
        if value == BY_NAME[target].default:
            continue
        out.values[target] = value
    if out.values.get("S3_URL_SCHEME") == "https" and "FLASKS3_USE_HTTPS" not in config:
        out.notes["S3_URL_SCHEME"] = (
            "URLs use https:// as in Flask-S3 0.3 (FLASKS3_USE_HTTPS defaulted to True); write "
            "S3_URL_SCHEME = 'https' to keep it once the FLASKS3_* keys are gone"
        )
    gzip_on = out.values.get("USE_GZIP", config.get("USE_GZIP"))
    if gzip_on and out.values.get("S3_GZIP_CONTENT_TYPES") == [ALL_TYPES]:
        out.notes["S3_GZIP_CONTENT_TYPES"] = (
            "every file is gzipped, as Flask-S3 0.3 did with FLASKS3_GZIP and no "
            "FLASKS3_GZIP_ONLY_EXTS (images and fonts gain nothing); write "
            "S3_GZIP_CONTENT_TYPES = ['text/css', 'text/javascript'] (or ['*/*'] "
            "to keep this)"
        )


def misspellings(config: Mapping[str, Any]) -> dict[str, str]:
    """Unknown ``FLASKS3_*`` keys, and unknown ``S3_*`` keys close to a known name."""
    notes: dict[str, str] = {}
    for name in config:
        if not isinstance(name, str) or name in BY_NAME:
            continue
        if not name.startswith(("FLASKS3_", "S3_", "USE_S3")):
            continue
        close = difflib.get_close_matches(name, BY_NAME, n=1, cutoff=0.8)
        if close:
            notes[name] = (
                f"{name} is not a flask-s3 setting and is ignored; did you mean {close[0]}?"
            )
        elif name.startswith("FLASKS3_"):
            notes[name] = f"{name} is not a Flask-S3 0.3 setting flask-s3 knows; it is ignored"
    return notes


def filepath_headers(config: Mapping[str, Any]) -> list[tuple[re.Pattern[str], dict[str, str]]]:
    """``FLASKS3_FILEPATH_HEADERS`` compiled, in order; ConfigError naming a bad entry."""
    raw = config.get("FLASKS3_FILEPATH_HEADERS") or {}
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"FLASKS3_FILEPATH_HEADERS is a {type(raw).__name__}, not a dict",
            "Set it to {regex: {header: value}}, e.g. {r'\\.css$': {'Expires': '...'}}.",
        )
    rules = []
    for pattern, headers in raw.items():
        try:
            compiled = re.compile(str(pattern))
        except re.error as exc:
            raise ConfigError(
                f"FLASKS3_FILEPATH_HEADERS: {pattern!r} is not a regular expression ({exc})",
                "Fix the pattern; it is searched in each static file's path, as in Flask-S3 0.3.",
            ) from None
        if not isinstance(headers, Mapping):
            raise ConfigError(
                f"FLASKS3_FILEPATH_HEADERS[{pattern!r}] is a {type(headers).__name__}, not a dict",
                "Map each pattern to {header: value}.",
            )
        rules.append((compiled, {str(k): str(v) for k, v in headers.items()}))
    return rules
