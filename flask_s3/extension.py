"""The Flask extension: config hydration and ``url_for`` giving S3/CDN URLs for static files.

A static ``url_for`` is one dict lookup for a precomputed base URL plus the quoted file name:
no Werkzeug build, no network. The key part of the URL comes from ``keys.static_key``, the
same function the deployer stores files under.
"""

from __future__ import annotations

import operator
import sys
import threading
import types
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from flask import Flask, current_app, has_request_context, request
from werkzeug.datastructures import iter_multi_items

from .assets.keys import (
    bucket_base_url,
    is_static_endpoint,
    key_filename,
    quote_key,
    static_key,
    static_sources,
)
from .config import CONFIG_KEYS, defaults
from .errors import ConfigError, MigrationWarning, UrlBuildError
from .migrate import MISSING, migrate, uses_flasks3
from .records import record
from .spec import Spec, load_spec

if TYPE_CHECKING:
    from .integrity import IntegrityTable

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
# Keys read only when the config is read (not at each call): a change to one re-reads it.
# The URL keys and USE_S3 are read at each call anyway; old keys are watched when present.
HYDRATE_KEYS = ("USE_S3_DEBUG", "S3_OVERRIDE_TESTING", "S3_FINGERPRINT", "S3_FINGERPRINT_MANIFEST")
OLD_KEYS = frozenset(key.name for key in CONFIG_KEYS if key.status != "current")
# Werkzeug's query encoding, so a query string reads the same as Flask's own.
QUERY_SAFE = "!$'()*,/:;?@"
ANCHOR_SAFE = "%!#$&'()*+,/:;=?@"


def _warn(message: str) -> None:
    # Point the warning at the user's line (FlaskS3(app) or init_app), however deep we are.
    frame = sys._getframe(1)
    level = 2
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith("flask_s3"):
        frame = frame.f_back
        level += 1
    warnings.warn(message, MigrationWarning, stacklevel=level)


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
    if current_state(app, force=True) is not None:
        return app.config
    config: dict[str, Any] = dict(app.config)
    for key, value in migrate(config).values.items():
        config.setdefault(key, value)
    for key, value in defaults().items():
        config.setdefault(key, value)
    return config


@record
class S3State:
    """Per-app state in ``app.extensions["s3"]``: the spec and precomputed URL bases."""

    spec: Spec | None = None
    url_paths: dict[str, str] = field(default_factory=dict)
    bases: dict[tuple[str, str | None], str] = field(default_factory=dict)
    config_seen: tuple[Any, ...] = ()
    names: dict[str, str] | None = None  # fingerprinting: logical key -> stored key
    hashed: dict[tuple[str, str], str] = field(default_factory=dict)  # quoted URL tails
    # Config values init_app wrote (key -> (value written, value before or MISSING)), so a
    # second init_app can take them back and read the user's config afresh.
    written: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    warned: set[str] = field(default_factory=set)  # keys already warned about on this app
    local_when_testing: bool = False  # S3_OVERRIDE_TESTING off: local URLs under TESTING
    # Flask-S3 0.3's switches: FLASKS3_ACTIVE/DEBUG decide at init_app whether templates get
    # S3 URLs (templates_on); a direct flask_s3.url_for call gives them regardless.
    flasks3_switches: bool = False
    templates_on: bool = True
    # What url_for checks before each URL (the config's size, the values of the keys read
    # only when the config is read), as last seen: a key added, changed or deleted re-reads it.
    size: int = -1  # len(app.config): a key added or deleted
    watched: tuple[Any, ...] = ()  # the values of the keys ``watch`` reads
    watch: Callable[[Mapping[str, Any]], Any] = operator.itemgetter(*HYDRATE_KEYS)
    integrity: IntegrityTable | None = None  # Subresource Integrity values, set by init_app

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
        host = url_host(config, scheme)
        root = quote_key(static_key(config.get("S3_PREFIX") or "", self.url_paths[endpoint], ""))
        base = f"{host}/{root}/" if root else f"{host}/"
        self.bases[(endpoint, scheme)] = base
        return base


def url_host(config: Mapping[str, Any], scheme: str | None = None) -> str:
    """``https://bucket.s3.amazonaws.com`` / ``//cdn.example.com``: where static URLs point.

    The one reading of the URL keys, shared by ``url_for`` and ``flask-s3 verify``.
    """
    cdn = config.get("S3_CDN_DOMAIN")
    return bucket_base_url(
        str(config.get("S3_BUCKET_NAME") or ""),
        scheme=scheme or config.get("S3_URL_SCHEME"),
        style=config.get("S3_URL_STYLE") or "host",
        bucket_domain=config.get("S3_BUCKET_DOMAIN") or "s3.amazonaws.com",
        cdn_domain=cdn or None,
    )


class FlaskS3:
    """Serve static files from S3 or a CDN: ``FlaskS3(app)`` or ``FlaskS3(app, "deploy.yaml")``.

    Explicit values in ``app.config`` win over the spec, which wins over the defaults. The
    instance keeps no app, so one instance may serve several apps through ``init_app``.
    The config is read again when it changes after ``init_app``, as Flask-S3 0.3 read it at
    each call: an app may set its keys after ``FlaskS3(app)``.
    """

    def __init__(self, app: Flask | None = None, spec: Spec | str | Path | None = None) -> None:
        if app is not None:
            self.init_app(app, spec)

    def init_app(self, app: Flask, spec: Spec | str | Path | None = None) -> None:
        """Hydrate ``app.config``, install ``url_for`` in Jinja and keep state per app.

        ``spec`` is a ``Spec`` or a path to a deploy spec; a relative path is looked up in the
        working directory, then in ``app.root_path``.
        """
        previous: S3State | None = app.extensions.get("s3")
        loaded = _load(app, spec)
        _unhook(app)
        if previous is not None:  # read the user's FLASKS3_ACTIVE, not the one we wrote
            _take_back(app, previous)
        # Flask-S3 0.3 decided at init_app whether templates get S3 URLs (FLASKS3_ACTIVE, off
        # in debug mode without FLASKS3_DEBUG); its direct url_for ignored the switch.
        config = app.config
        templates_on = bool(config.get("FLASKS3_ACTIVE", True)) and not (
            app.debug and not config.get("FLASKS3_DEBUG", False)
        )
        state = _hydrate(app, loaded, previous, templates_on)
        _install_integrity(app, loaded)
        app.jinja_env.globals["url_for"] = _template_url_for
        if config["S3_OVERRIDE_FLASK_URL_FOR"]:
            # flask.url_for calls current_app.url_for: an instance attribute reroutes this
            # app only, leaving other apps and the Flask class alone.
            app.url_for = types.MethodType(_app_url_for, app)  # type: ignore[method-assign]
        _watch(state, config)


def _hydrate(
    app: Flask,
    loaded: Spec | None,
    previous: S3State | None,
    templates_on: bool,
    refresh: bool = False,
) -> S3State:
    """Fill ``app.config`` from the old keys, the spec and the defaults; the new state.

    Run by init_app and again when the config changed since: what an earlier run wrote is
    taken back first, so the user's config is read afresh each time.
    """
    if previous is not None:  # as in Flask-S3 0.3: registering again re-reads the config
        _take_back(app, previous)
    config = app.config
    written: dict[str, tuple[Any, Any]] = {}

    def fill(key: str, value: Any) -> None:
        if key not in config:
            config[key] = value
            written[key] = (value, MISSING)

    def overwrite(key: str, value: Any) -> None:
        if config.get(key, MISSING) is not value:
            written[key] = (value, config.get(key, MISSING))
            config[key] = value

    flasks3 = uses_flasks3(config)
    user_set_switch = "USE_S3" in config
    migration = migrate(config)
    warned = previous.warned if previous is not None else set()
    fresh = [message for key, message in migration.notes.items() if key not in warned]
    warned.update(migration.notes)  # once per key and app, however often the config is read
    if len(fresh) == 1:
        _warn(fresh[0])
    elif fresh:  # one warning, so the source line under it is printed once, not per key
        _warn(
            f"{len(fresh)} old flask-s3 settings in the config of app {app.name!r}:\n"
            + "\n".join(f"  - {message}" for message in fresh)
        )
    try:
        for key, value in migration.values.items():
            overwrite(key, value)  # only merges (Cache-Control) touch a key already set
        if loaded is not None:
            for key, value in loaded.flask_config().items():
                fill(key, value)
        for key, value in defaults().items():
            fill(key, value)
        check_config(config)
        names = _fingerprint_names(app, loaded)
    except ConfigError:
        _take_back(app, S3State(written=written))
        if previous is not None and not refresh:  # a refresh keeps it, to try again next call
            del app.extensions["s3"]
        raise
    if app.debug and not config["USE_S3_DEBUG"]:
        overwrite("USE_S3", False)
    if flasks3:  # 0.3 set FLASKS3_ACTIVE at init_app: True, or False in debug mode
        if config.get("FLASKS3_ACTIVE", MISSING) is not config["USE_S3"]:
            overwrite("FLASKS3_ACTIVE", config["USE_S3"])
    state = S3State(
        spec=loaded,
        names=names,
        written=written,
        warned=warned,
        local_when_testing=not config.get("S3_OVERRIDE_TESTING", True),
        # An app configured the 0.3 way keeps 0.3's switches; USE_S3 or a spec is 1.0's.
        flasks3_switches=flasks3 and not user_set_switch and loaded is None,
        templates_on=templates_on,
        integrity=previous.integrity if previous is not None else None,
    )
    app.extensions["s3"] = state
    return state


def _watch(state: S3State, config: Mapping[str, Any]) -> None:
    """Remember the config as read: its size (a key added) and the values url_for checks."""
    keys = (*HYDRATE_KEYS, *sorted(k for k in config if k in OLD_KEYS))
    state.watch = operator.itemgetter(*keys)  # one C call per url_for
    state.size = len(config)
    state.watched = state.watch(config)


def _changed(state: S3State, config: Mapping[str, Any]) -> bool:
    """Whether the config changed since the state read it (url_for inlines this)."""
    try:
        return len(config) != state.size or state.watch(config) != state.watched
    except KeyError:  # a watched key was deleted
        return True


def current_state(app: Flask, *, force: bool = False) -> S3State | None:
    """The app's state, read again from ``app.config`` if that changed since (or ``force``)."""
    state: S3State | None = app.extensions.get("s3")
    if state is None:
        return None
    with _rereading:  # two requests that see the change at once read the config once
        state = app.extensions.get("s3")
        if state is not None and (force or _changed(state, app.config)):
            state = _hydrate(app, state.spec, state, state.templates_on, refresh=True)
            _watch(state, app.config)
    return state


_rereading = threading.Lock()


def _take_back(app: Flask, state: S3State) -> None:
    """Undo what an earlier init_app wrote, where the user has not changed it since."""
    config = app.config
    for key, (value, before) in state.written.items():
        if key in config and config[key] is value:
            if before is MISSING:
                del config[key]
            else:
                config[key] = before


def _unhook(app: Flask) -> None:
    """Remove the ``app.url_for`` override an earlier init_app installed."""
    installed = app.__dict__.get("url_for")
    if getattr(installed, "__func__", None) is _app_url_for:  # our S3_OVERRIDE_FLASK_URL_FOR
        del app.__dict__["url_for"]


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
    from .assets.fingerprint import app_manifest_path, read_manifest_file

    path = app_manifest_path(app, spec)
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


def _install_integrity(app: Flask, spec: Spec | None) -> None:
    """Subresource Integrity: ``sri``, ``s3_script`` and ``s3_stylesheet`` in templates."""
    from .integrity import install

    install(app, spec, url_for)


def _app_url_for(app: Flask, endpoint: str, /, **values: Any) -> str:
    """``app.url_for`` while S3_OVERRIDE_FLASK_URL_FOR is on: ``flask.url_for`` lands here."""
    return _build(app, endpoint, values, False)


def url_for(endpoint: str, /, **values: Any) -> str:
    """``flask.url_for``, except that static endpoints give S3/CDN URLs while USE_S3 is on.

    ``static``, ``<blueprint>.static`` and ``.static`` (the current blueprint's) are static.
    ``_scheme`` sets the scheme of that URL; ``_anchor`` is appended as ``#anchor``;
    ``_external`` and ``_method`` have no effect on an S3 URL, which is always absolute
    (or scheme-relative). Other values form the query string. Needs an app context.

    In an app configured with ``FLASKS3_*`` keys (and no ``USE_S3``), a direct call gives
    the S3 URL whatever ``FLASKS3_ACTIVE`` says, as in Flask-S3 0.3, where that switch only
    decided what templates get.
    """
    return _build(current_app._get_current_object(), endpoint, values, False)  # type: ignore[attr-defined]


def _template_url_for(endpoint: str, /, **values: Any) -> str:
    """``url_for`` in templates: like ``url_for``, with 0.3's template switch for 0.3 apps."""
    return _build(current_app._get_current_object(), endpoint, values, True)  # type: ignore[attr-defined]


def local_url(app: Flask, endpoint: str, values: dict[str, Any]) -> str:
    """Flask's own URL, bypassing an S3 override installed on this app instance."""
    if has_request_context() or app.config.get("SERVER_NAME"):
        return Flask.url_for(app, endpoint, **values)
    try:
        return Flask.url_for(app, endpoint, **values)
    except RuntimeError as exc:  # Flask's "Unable to build URLs outside an active request"
        raise UrlBuildError(
            f"url_for({endpoint!r}) has no URL outside a request: it gives Flask's local URL "
            "here, which needs a request",
            "Call it inside a request (app.test_request_context() in scripts), or set "
            "SERVER_NAME; for a static file, turn USE_S3 on to get its S3 URL.",
        ) from exc


@lru_cache(maxsize=4096)
def _quoted_filename(filename: str) -> str:
    # Templates ask for the same few names again and again; quoting is the costly step.
    return quote_key(key_filename(filename))


def _build(app: Flask, endpoint: str, values: dict[str, Any], template: bool) -> str:
    state: S3State | None = app.extensions.get("s3")
    if state is not None:
        config = app.config
        try:  # _changed inlined: this runs at every call
            changed = len(config) != state.size or state.watch(config) != state.watched
        except KeyError:
            changed = True
        if changed:
            state = current_state(app)
    if state is None:
        raise ConfigError(
            "flask-s3 is not set up on this app",
            "Did you forget to call FlaskS3(app) / init_app(app)?",
        )
    target = endpoint
    if endpoint[:1] == ".":  # Flask's rule for relative endpoints
        blueprint = request.blueprint if has_request_context() else None
        target = f"{blueprint}{endpoint}" if blueprint else endpoint[1:]
    if state.flasks3_switches:
        switched_on = state.templates_on or not template
    else:
        switched_on = app.config["USE_S3"]
    if not (switched_on and "filename" in values and is_static_endpoint(target)):
        return local_url(app, endpoint, values)
    if state.local_when_testing and app.config.get("TESTING"):
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
