"""The Flask extension: config hydration and ``url_for`` giving S3/CDN URLs for static files.

A static ``url_for`` is one dict lookup for a precomputed base URL plus the quoted file name:
no Werkzeug build, no network. The key part of the URL comes from ``keys.static_key``, the
same function the deployer stores files under.
"""

from __future__ import annotations

import operator
import sys
import types
import warnings
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from flask import Flask, current_app, has_request_context, request
from werkzeug.datastructures import iter_multi_items

from .contenttypes import content_type, media_type
from .errors import ConfigError
from .keys import (
    bucket_base_url,
    is_static_endpoint,
    key_filename,
    quote_key,
    static_key,
    static_sources,
)
from .spec import DEFAULT_GZIP_TYPES, Spec, load_spec

# Flask-S3 0.3 name -> seed name it fills when the seed name is absent.
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
}
# The keys a URL base depends on: a change to any of them after init_app drops the cache.
URL_KEYS = (
    "S3_BUCKET_NAME",
    "S3_CDN_DOMAIN",
    "S3_BUCKET_DOMAIN",
    "S3_URL_STYLE",
    "S3_PREFIX",
    "S3_URL_SCHEME",
)
_url_values = operator.itemgetter(*URL_KEYS)  # C-speed read of them on every call
# Werkzeug's query encoding, so a query string reads the same as Flask's own.
QUERY_SAFE = "!$'()*,/:;?@"
ANCHOR_SAFE = "%!#$&'()*+,/:;=?@"


def defaults() -> dict[str, Any]:
    """The seed's defaults, made fresh for each call (no mutable value is shared between apps)."""
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
        "S3_FINGERPRINT": False,
        "S3_FINGERPRINT_MANIFEST": None,
    }


def _warn(message: str) -> None:
    # Point the warning at the user's line (FlaskS3(app) or init_app), however deep we are.
    frame = sys._getframe(1)
    level = 2
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith("flask_s3"):
        frame = frame.f_back
        level += 1
    warnings.warn(message, DeprecationWarning, stacklevel=level)


def _with_cache_control(config: MutableMapping[str, Any], value: object) -> None:
    headers = dict(config.get("S3_HEADERS") or {})
    if not any(str(name).lower() == "cache-control" for name in headers):
        headers["Cache-Control"] = str(value)
        config["S3_HEADERS"] = headers


def _gzip_types(extensions: str | Iterable[object]) -> list[str]:
    exts = [extensions] if isinstance(extensions, str) else list(extensions)
    types_ = (media_type(content_type("x." + str(ext).lstrip("."))) for ext in exts)
    return list(dict.fromkeys(types_))


def migrate_config(config: MutableMapping[str, Any]) -> None:
    """Map deprecated seed keys and Flask-S3 0.3's ``FLASKS3_*`` keys onto the seed's names.

    A key set under its current name always wins; each old key read warns with its replacement.
    """
    if "S3_USE_HTTPS" in config:
        if "S3_URL_SCHEME" in config:
            _warn("S3_USE_HTTPS is deprecated and ignored because S3_URL_SCHEME is set")
        else:
            _warn("S3_USE_HTTPS is deprecated; set S3_URL_SCHEME = 'https' (or 'http')")
            config["S3_URL_SCHEME"] = "https" if config["S3_USE_HTTPS"] else "http"
    if "S3_CACHE_CONTROL" in config or "S3_USE_CACHE_CONTROL" in config:
        _warn(
            "S3_CACHE_CONTROL and S3_USE_CACHE_CONTROL are deprecated; "
            "set S3_HEADERS = {'Cache-Control': ...}"
        )
        if config.get("S3_USE_CACHE_CONTROL") and config.get("S3_CACHE_CONTROL"):
            _with_cache_control(config, config["S3_CACHE_CONTROL"])
    for old, new in ALIASES.items():
        if old not in config:
            continue
        if new in config or (old == "FLASKS3_USE_HTTPS" and "S3_USE_HTTPS" in config):
            _warn(f"{old} is a Flask-S3 0.3 setting, ignored because {new} is set; remove it")
            continue
        _warn(f"{old} is a Flask-S3 0.3 setting; rename it to {new}")
        value = config[old]
        if old == "FLASKS3_USE_HTTPS":
            value = "https" if value else "http"
        elif old == "FLASKS3_GZIP_ONLY_EXTS":
            if not value:  # 0.3 read an empty list as "gzip every type": keep our default
                continue
            value = _gzip_types(value)
        config[new] = value
    if "FLASKS3_CACHE_CONTROL" in config:
        _warn("FLASKS3_CACHE_CONTROL is a Flask-S3 0.3 setting; use S3_HEADERS['Cache-Control']")
        _with_cache_control(config, config["FLASKS3_CACHE_CONTROL"])


def check_config(config: Mapping[str, Any]) -> None:
    """Raise ConfigError naming the key and its allowed values for a value we cannot use."""
    style = config.get("S3_URL_STYLE")
    if style not in ("host", "path"):
        raise ConfigError(
            f"S3_URL_STYLE is {style!r}",
            "Set S3_URL_STYLE to 'host' (bucket.domain) or 'path' (domain/bucket).",
        )
    scheme = config.get("S3_URL_SCHEME")
    if scheme not in (None, "", "http", "https"):
        raise ConfigError(
            f"S3_URL_SCHEME is {scheme!r}",
            "Set S3_URL_SCHEME to 'https' or 'http', or leave it unset for //host/path URLs.",
        )


def resolved_config(app: Flask) -> Mapping[str, Any]:
    """The app's config as the extension reads it, without changing the app or warning.

    After ``init_app`` that is ``app.config`` itself; before, a copy with the old keys mapped
    and the defaults filled in.
    """
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
class S3State:
    """Per-app state in ``app.extensions["s3"]``: the spec and precomputed URL bases."""

    spec: Spec | None = None
    url_paths: dict[str, str] = field(default_factory=dict)
    bases: dict[tuple[str, str | None], str] = field(default_factory=dict)
    config_seen: tuple[Any, ...] = ()
    names: dict[str, str] | None = None  # fingerprinting: logical key -> stored key
    hashed: dict[tuple[str, str], str] = field(default_factory=dict)  # quoted URL tails

    def hashed_tail(self, endpoint: str, filename: str) -> str:
        """The quoted file part of a fingerprinted URL (the plain one for unknown names)."""
        cached = self.hashed.get((endpoint, filename))
        if cached is None:
            url_path = self.url_paths[endpoint]
            logical = static_key("", url_path, filename)
            stored = (self.names or {}).get(logical, logical)
            cached = quote_key(stored[len(url_path) + 1 :] if url_path else stored)
            self.hashed[(endpoint, filename)] = cached
        return cached

    def base(self, app: Flask, endpoint: str, scheme: str | None) -> str | None:
        """``https://bucket.s3.amazonaws.com/prefix/static/`` for an endpoint; None if unknown.

        Cached; rebuilt when a URL key changes and re-read from the URL map on a miss, since
        blueprints may be registered after ``init_app``.
        """
        config = app.config
        try:
            current = _url_values(config)
        except KeyError:  # a key deleted after init_app
            current = tuple(config.get(k) for k in URL_KEYS)
        if current != self.config_seen:
            self.bases = {}
            self.config_seen = current
        cached = self.bases.get((endpoint, scheme))
        if cached is not None:
            return cached
        if endpoint not in self.url_paths:
            self.url_paths = {s.endpoint: s.url_path for s in static_sources(app)}
            if endpoint not in self.url_paths:
                return None
        bucket, cdn = config.get("S3_BUCKET_NAME"), config.get("S3_CDN_DOMAIN")
        if not bucket and not cdn:
            raise ConfigError(
                "S3_BUCKET_NAME is not set, so a static file has no S3 URL",
                "Set S3_BUCKET_NAME (or S3_CDN_DOMAIN) in app.config or bucket.name in the "
                "spec, or set USE_S3 = False to serve static files locally.",
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
    """Serve static files from S3 or a CDN: ``FlaskS3(app)`` or ``FlaskS3(app, "deploy.yaml")``.

    Explicit values in ``app.config`` win over the spec, which wins over the defaults. The
    instance keeps no app, so one instance may serve several apps through ``init_app``.
    """

    def __init__(self, app: Flask | None = None, spec: Spec | str | Path | None = None) -> None:
        if app is not None:
            self.init_app(app, spec)

    def init_app(self, app: Flask, spec: Spec | str | Path | None = None) -> None:
        """Hydrate ``app.config``, install ``url_for`` in Jinja and keep state per app.

        ``spec`` is a ``Spec`` or a path to a deploy spec; a relative path is looked up in the
        working directory, then in ``app.root_path``.
        """
        if "s3" in app.extensions:
            raise ConfigError(
                "FlaskS3 is already registered on this app",
                "Call FlaskS3(app) or init_app(app) once per app.",
            )
        loaded = _load(app, spec)
        migrate_config(app.config)
        if loaded is not None:
            for key, value in loaded.flask_config().items():
                app.config.setdefault(key, value)
        for key, value in defaults().items():
            app.config.setdefault(key, value)
        check_config(app.config)
        if app.debug and not app.config["USE_S3_DEBUG"]:
            app.config["USE_S3"] = False
        app.extensions["s3"] = S3State(spec=loaded, names=_fingerprint_names(app, loaded))
        app.jinja_env.globals["url_for"] = url_for
        if app.config["S3_OVERRIDE_FLASK_URL_FOR"]:
            # flask.url_for calls current_app.url_for: an instance attribute reroutes this
            # app only, leaving other apps and the Flask class alone.
            app.url_for = types.MethodType(_app_url_for, app)  # type: ignore[method-assign]


def _load(app: Flask, spec: Spec | str | Path | None) -> Spec | None:
    if spec is None or isinstance(spec, Spec):
        return spec
    path = Path(spec)
    if not path.is_absolute() and not path.exists():
        beside_app = Path(app.root_path) / path
        if beside_app.exists():
            path = beside_app
    return load_spec(path)


# True while the flask-s3 CLI imports an app to deploy it: the fingerprint manifest is what
# that deploy writes, so the app must be able to start before it exists.
_loading_for_deploy: ContextVar[bool] = ContextVar("flask_s3_loading_for_deploy", default=False)


@contextmanager
def loading_for_deploy() -> Iterator[None]:
    """Let an app with fingerprinting on start without its manifest (plan/apply write it)."""
    token = _loading_for_deploy.set(True)
    try:
        yield
    finally:
        _loading_for_deploy.reset(token)


def _fingerprint_names(app: Flask, spec: Spec | None) -> dict[str, str] | None:
    """The manifest `flask-s3 plan/apply` wrote, when S3_FINGERPRINT is on; read once."""
    if not app.config.get("S3_FINGERPRINT"):
        return None
    from .fingerprint import manifest_path, read_manifest_file

    configured = app.config.get("S3_FINGERPRINT_MANIFEST")
    origin = spec.source if spec is not None and spec.source is not None else None
    if configured and origin is None and not Path(configured).is_absolute():
        configured = str(Path(app.root_path) / configured)
    path = manifest_path(configured, origin, Path(app.static_folder or app.root_path))
    try:
        return read_manifest_file(path)
    except FileNotFoundError:
        if _loading_for_deploy.get():
            return {}
        raise ConfigError(
            f"fingerprinting is on but its manifest {path} is missing",
            "Run `flask-s3 plan` or `flask-s3 apply` first: they write it. Ship it with the app.",
        ) from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"the fingerprint manifest {path} cannot be read ({exc})",
            "Run `flask-s3 plan` again to rewrite it.",
        ) from None


def _app_url_for(app: Flask, endpoint: str, /, **values: Any) -> str:
    """``app.url_for`` while S3_OVERRIDE_FLASK_URL_FOR is on: ``flask.url_for`` lands here."""
    return _build(app, endpoint, values)


def url_for(endpoint: str, /, **values: Any) -> str:
    """``flask.url_for``, except that static endpoints give S3/CDN URLs while USE_S3 is on.

    ``static``, ``<blueprint>.static`` and ``.static`` (the current blueprint's) are static.
    ``_scheme`` sets the scheme of that URL; ``_anchor`` is appended as ``#anchor``;
    ``_external`` and ``_method`` have no effect on an S3 URL, which is always absolute
    (or scheme-relative). Other values form the query string. Needs an app context.
    """
    return _build(current_app._get_current_object(), endpoint, values)  # type: ignore[attr-defined]


def local_url(app: Flask, endpoint: str, values: dict[str, Any]) -> str:
    """Flask's own URL, bypassing an S3 override installed on this app instance."""
    return Flask.url_for(app, endpoint, **values)


@lru_cache(maxsize=4096)
def _quoted_filename(filename: str) -> str:
    # Templates ask for the same few names again and again; quoting is the costly step.
    return quote_key(key_filename(filename))


def _build(app: Flask, endpoint: str, values: dict[str, Any]) -> str:
    state: S3State | None = app.extensions.get("s3")
    if state is None:
        raise ConfigError(
            "flask-s3 is not set up on this app",
            "Did you forget to call FlaskS3(app) / init_app(app)?",
        )
    target = endpoint
    if endpoint[:1] == ".":  # Flask's rule for relative endpoints
        blueprint = request.blueprint if has_request_context() else None
        target = f"{blueprint}{endpoint}" if blueprint else endpoint[1:]
    if not (app.config["USE_S3"] and "filename" in values and is_static_endpoint(target)):
        return local_url(app, endpoint, values)
    app.inject_url_defaults(target, values)
    base = state.base(app, target, values.get("_scheme"))
    if base is None:  # no static route by that name: Flask raises its usual BuildError
        return local_url(app, endpoint, values)
    anchor = values.pop("_anchor", None)
    for option in ("_scheme", "_external", "_method"):
        values.pop(option, None)
    filename = str(values.pop("filename"))
    if state.names is None:
        url = base + _quoted_filename(filename)
    else:
        url = base + state.hashed_tail(target, filename)
    if values:
        items = [(k, v) for k, v in iter_multi_items(values) if v is not None]
        if items:
            url += "?" + urlencode(items, safe=QUERY_SAFE)
    if anchor is not None:
        url += "#" + quote(str(anchor), safe=ANCHOR_SAFE)
    return url
