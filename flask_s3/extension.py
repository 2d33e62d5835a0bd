"""The Flask extension: config hydration and ``url_for`` giving S3/CDN URLs for static files.

A static ``url_for`` is one dict lookup for a precomputed base URL plus the quoted file name:
no Werkzeug build, no network. The key part of the URL comes from ``keys.static_key``, the
same function the deployer stores files under.
"""

from __future__ import annotations

import types
import warnings
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from flask import Flask, current_app, has_request_context, request

from .contenttypes import content_type, media_type
from .errors import ConfigError
from .keys import bucket_base_url, is_static_endpoint, quote_key, static_key, static_sources
from .spec import DEFAULT_GZIP_TYPES, Spec, load_spec

# Flask-S3 0.3 name -> seed name
ALIASES = {
    "FLASKS3_BUCKET_NAME": "S3_BUCKET_NAME",
    "FLASKS3_CDN_DOMAIN": "S3_CDN_DOMAIN",
    "FLASKS3_BUCKET_DOMAIN": "S3_BUCKET_DOMAIN",
    "FLASKS3_URL_STYLE": "S3_URL_STYLE",
    "FLASKS3_USE_HTTPS": "S3_URL_SCHEME",
    "FLASKS3_ACTIVE": "USE_S3",
    "FLASKS3_DEBUG": "USE_S3_DEBUG",
    "FLASKS3_HEADERS": "S3_HEADERS",
    "FLASKS3_GZIP": "USE_GZIP",
    "FLASKS3_GZIP_ONLY_EXTS": "S3_GZIP_CONTENT_TYPES",
    "FLASKS3_PREFIX": "S3_PREFIX",
    "FLASKS3_REGION": "S3_REGION",
    "FLASKS3_ENDPOINT_URL": "S3_ENDPOINT_URL",
    "FLASKS3_CACHE_CONTROL": "S3_HEADERS",
}
URL_KEYS = (
    "S3_BUCKET_NAME",
    "S3_CDN_DOMAIN",
    "S3_BUCKET_DOMAIN",
    "S3_URL_STYLE",
    "S3_PREFIX",
    "S3_URL_SCHEME",
)


def defaults() -> dict[str, Any]:
    """The seed's defaults, made fresh for each app (no mutable value is shared)."""
    return {
        "S3_BUCKET_NAME": None,
        "S3_BUCKET_DOMAIN": "s3.amazonaws.com",
        "S3_CDN_DOMAIN": "",
        "S3_URL_SCHEME": None,
        "S3_URL_STYLE": "host",
        "S3_PREFIX": "",
        "S3_REGION": None,
        "S3_ENDPOINT_URL": None,
        "USE_S3": True,
        "USE_S3_DEBUG": False,
        "USE_GZIP": False,
        "S3_GZIP_CONTENT_TYPES": list(DEFAULT_GZIP_TYPES),
        "S3_HEADERS": {},
        "S3_OVERRIDE_FLASK_URL_FOR": False,
        "AWS_ACCESS_KEY_ID": None,
        "AWS_SECRET_ACCESS_KEY": None,
    }


def _warn(message: str) -> None:
    warnings.warn(message, DeprecationWarning, stacklevel=4)


def migrate_config(config: MutableMapping[str, Any]) -> None:
    """Fill seed keys from Flask-S3 0.3's FLASKS3_* names and from deprecated seed keys."""
    for old, new in ALIASES.items():
        if old not in config or (new in config and old != "FLASKS3_CACHE_CONTROL"):
            continue
        value = config[old]
        if old == "FLASKS3_USE_HTTPS":
            value = "https" if value else "http"
        elif old == "FLASKS3_GZIP_ONLY_EXTS":
            value = [media_type(content_type(f"x{ext}")) for ext in value or ()]
        elif old == "FLASKS3_CACHE_CONTROL":
            headers = config.get("S3_HEADERS") or config.get("FLASKS3_HEADERS") or {}
            if any(k.lower() == "cache-control" for k in headers):
                continue
            value = {**headers, "Cache-Control": value}
            _warn(f"{old} is a Flask-S3 0.3 setting; use S3_HEADERS['Cache-Control']")
            config["S3_HEADERS"] = value
            continue
        _warn(f"{old} is a Flask-S3 0.3 setting; use {new}")
        config[new] = value
    if config.get("S3_USE_CACHE_CONTROL") and config.get("S3_CACHE_CONTROL"):
        _warn(
            "S3_CACHE_CONTROL and S3_USE_CACHE_CONTROL are deprecated; "
            "use S3_HEADERS['Cache-Control']"
        )
        headers = dict(config.get("S3_HEADERS") or {})
        headers.setdefault("Cache-Control", config["S3_CACHE_CONTROL"])
        config["S3_HEADERS"] = headers
    if "S3_USE_HTTPS" in config:
        _warn("S3_USE_HTTPS is deprecated; use S3_URL_SCHEME ('https' or 'http')")
        if "S3_URL_SCHEME" not in config:
            config["S3_URL_SCHEME"] = "https" if config["S3_USE_HTTPS"] else "http"


def check_config(config: Mapping[str, Any]) -> None:
    style = config.get("S3_URL_STYLE")
    if style not in ("host", "path"):
        raise ConfigError(
            f"S3_URL_STYLE is {style!r}", "Set S3_URL_STYLE to 'host' (bucket.domain) or 'path'."
        )
    scheme = config.get("S3_URL_SCHEME")
    if scheme not in (None, "", "relative", "http", "https"):
        raise ConfigError(
            f"S3_URL_SCHEME is {scheme!r}",
            "Set S3_URL_SCHEME to 'https' or 'http', or leave it unset for //host URLs.",
        )


def resolved_config(app: Flask) -> Mapping[str, Any]:
    """The app's config as the extension reads it (aliases and defaults applied)."""
    if "s3" in app.extensions:
        return app.config
    config: dict[str, Any] = dict(app.config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        migrate_config(config)
    for key, value in defaults().items():
        config.setdefault(key, value)
    return config


@dataclass
class _State:
    """Per-app state in ``app.extensions["s3"]``: precomputed URL bases."""

    spec: Spec | None = None
    url_paths: dict[str, str] = field(default_factory=dict)
    bases: dict[tuple[str, str | None], str] = field(default_factory=dict)
    seen: tuple[Any, ...] = ()

    def base(self, app: Flask, endpoint: str, scheme: str | None) -> str | None:
        """``https://bucket.s3.amazonaws.com/static/`` for an endpoint, cached."""
        config = app.config
        current = tuple(config.get(k) for k in URL_KEYS)
        if current != self.seen:
            self.bases.clear()
            self.seen = current
        cached = self.bases.get((endpoint, scheme))
        if cached is not None:
            return cached
        if endpoint not in self.url_paths:
            self.url_paths = {s.endpoint: s.url_path for s in static_sources(app)}
            if endpoint not in self.url_paths:
                return None
        bucket = config.get("S3_BUCKET_NAME")
        cdn = config.get("S3_CDN_DOMAIN")
        if not bucket and not cdn:
            raise ConfigError(
                "S3_BUCKET_NAME is not set, so there is no S3 URL to give",
                "Set S3_BUCKET_NAME (or S3_CDN_DOMAIN) in app.config or the spec's bucket.name, "
                "or set USE_S3 = False to serve static files locally.",
            )
        host = bucket_base_url(
            str(bucket or ""),
            scheme=scheme or config.get("S3_URL_SCHEME"),
            style=config.get("S3_URL_STYLE") or "host",
            bucket_domain=config.get("S3_BUCKET_DOMAIN") or "s3.amazonaws.com",
            cdn_domain=cdn or None,
        )
        root = quote_key(static_key(config.get("S3_PREFIX") or "", self.url_paths[endpoint], ""))
        base = f"{host}/{root}/" if root else f"{host}/"
        self.bases[(endpoint, scheme)] = base
        return base


class FlaskS3:
    """Serve static files from S3 or a CDN: ``FlaskS3(app, spec="deploy.yaml")``.

    Explicit values in ``app.config`` win over the spec, which wins over the defaults.
    """

    def __init__(self, app: Flask | None = None, spec: Spec | str | Path | None = None) -> None:
        if app is not None:
            self.init_app(app, spec)

    def init_app(self, app: Flask, spec: Spec | str | Path | None = None) -> None:
        if "s3" in app.extensions:
            raise RuntimeError(
                "FlaskS3 is already registered on this app; call init_app once per app."
            )
        loaded = load_spec(spec) if isinstance(spec, (str, Path)) else spec
        migrate_config(app.config)
        if loaded is not None:
            for key, value in loaded.flask_config().items():
                app.config.setdefault(key, value)
        for key, value in defaults().items():
            app.config.setdefault(key, value)
        check_config(app.config)
        if app.debug and not app.config["USE_S3_DEBUG"]:
            app.config["USE_S3"] = False
        app.extensions["s3"] = _State(spec=loaded)
        app.jinja_env.globals["url_for"] = url_for
        if app.config["S3_OVERRIDE_FLASK_URL_FOR"]:
            app.url_for = types.MethodType(_app_url_for, app)  # type: ignore[method-assign]


def _app_url_for(app: Flask, endpoint: str, /, **values: Any) -> str:
    """``app.url_for`` when S3_OVERRIDE_FLASK_URL_FOR is on: flask.url_for lands here."""
    return _build(app, endpoint, values)


def url_for(endpoint: str, /, **values: Any) -> str:
    """Like ``flask.url_for``, but static endpoints give S3/CDN URLs while USE_S3 is on."""
    return _build(current_app._get_current_object(), endpoint, values)  # type: ignore[attr-defined]


def local_url(app: Flask, endpoint: str, values: dict[str, Any]) -> str:
    """Flask's own URL, bypassing an S3 override installed on this app instance."""
    return str(type(app).url_for(app, endpoint, **values))


def _build(app: Flask, endpoint: str, values: dict[str, Any]) -> str:
    state: _State | None = app.extensions.get("s3")
    if state is None:
        raise ConfigError(
            "flask-s3 is not set up on this app",
            "Did you forget to call FlaskS3(app) or init_app(app)?",
        )
    if endpoint[-7:] == ".static" and endpoint[0] == ".":
        blueprint = request.blueprint if has_request_context() else None
        endpoint = f"{blueprint}.static" if blueprint else "static"
    if not app.config["USE_S3"] or not is_static_endpoint(endpoint) or "filename" not in values:
        return local_url(app, endpoint, values)
    scheme = values.pop("_scheme", None)
    anchor = values.pop("_anchor", None)
    for ignored in ("_external", "_method"):
        values.pop(ignored, None)
    base = state.base(app, endpoint, scheme)
    if base is None:  # not a static route this app has: let Flask raise its BuildError
        return local_url(app, endpoint, values)
    url = base + quote_key(static_key("", "", str(values.pop("filename"))))
    if values:
        url += "?" + urlencode(values, doseq=True)
    if anchor:
        url += "#" + quote(str(anchor), safe="")
    return url
