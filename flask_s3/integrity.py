"""Subresource Integrity: the SHA-384 of the bytes a browser receives, rendered into templates.

Plan/apply record one value per asset (over the original bytes: a browser checks the body after
undoing Content-Encoding, so a gzip-stored object has the hash of the uncompressed file) in the
manifest FlaskS3 reads at start-up. At render time ``sri()`` is a dict lookup; ``s3_script()``
and ``s3_stylesheet()`` render whole tags with ``integrity`` and ``crossorigin="anonymous"``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import field
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, has_request_context, request
from markupsafe import Markup, escape

from .assets.keys import static_key, static_sources
from .assets.sri import VALUE, sri_value
from .errors import ConfigError
from .records import record

if TYPE_CHECKING:
    from .spec import Spec

ATTRIBUTE_NAME = re.compile(r"[A-Za-z_:][-A-Za-z0-9_:.]*")
MISSING_FIX = (
    "Run `flask-s3 plan` (it records every static file when assets.integrity is on) and ship "
    "the manifest with the app; check the endpoint and file name, and that assets.exclude "
    "does not leave the file out."
)


@record
class IntegrityTable:
    """Per-app integrity state (``app.extensions["s3"].integrity``).

    ``problem`` says why there are no values at all (integrity off, manifest missing or
    written without them); it is raised in debug and logged once in production.
    """

    values: Mapping[str, str] = field(default_factory=dict)  # logical key -> sha384-...
    problem: str | None = None
    fix: str = MISSING_FIX
    enabled: bool = True
    found: dict[tuple[str, str], str] = field(default_factory=dict)  # (endpoint, filename)
    folders: dict[str, tuple[str, Path]] = field(default_factory=dict)  # endpoint -> url, folder
    local: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # path -> size, mtime
    warned: set[str] = field(default_factory=set)
    # the extension's url_for, handed in by install (the runtime depends one way)
    url_for: Callable[..., str] | None = None

    def lookup(self, app: Flask, endpoint: str, filename: str, use_s3: bool) -> str:
        """The value for a static file; a miss raises in debug and warns once otherwise.

        Values from the manifest are remembered, so the next call is one dict lookup.
        """
        try:
            value = self._served_value(app, endpoint, filename, use_s3)
        except ConfigError as exc:
            if app.debug:
                raise
            if exc.summary not in self.warned:
                self.warned.add(exc.summary)
                app.logger.warning(
                    "%s; rendered without an integrity attribute. %s", exc.summary, exc.detail
                )
            value = ""
        if use_s3:
            self.found[(endpoint, filename)] = value
        return value

    def _served_value(self, app: Flask, endpoint: str, filename: str, use_s3: bool) -> str:
        if not self.enabled:
            raise ConfigError(str(self.problem), self.fix)
        if endpoint not in self.folders:
            self.folders = {s.endpoint: (s.url_path, s.folder) for s in static_sources(app)}
            if endpoint not in self.folders:
                raise ConfigError(
                    f"{endpoint!r} is not a static endpoint of this app",
                    "Use 'static', '<blueprint>.static' or '.static' (the current blueprint's).",
                )
        url_path, folder = self.folders[endpoint]
        if not use_s3:
            # Flask serves the file on disk, which differs from the stored bytes while a
            # developer edits it or when fingerprinting rewrote a stylesheet's references.
            return self._local_value(folder, filename)
        if self.problem is not None:
            raise ConfigError(self.problem, self.fix)
        logical = static_key("", url_path, filename)
        value = self.values.get(logical)
        if value is None:
            raise ConfigError(f"{logical} has no integrity value in the manifest", MISSING_FIX)
        return value

    def _local_value(self, folder: Path, filename: str) -> str:
        from werkzeug.security import safe_join

        path = safe_join(str(folder), filename)
        try:
            stat = os.stat(path) if path is not None else None
        except OSError:
            stat = None
        if path is None or stat is None or not S_ISREG(stat.st_mode):
            raise ConfigError(
                f"{filename!r} is not a file in the static folder {folder}",
                "Check the file name: with USE_S3 off the value is the hash of the local file.",
            )
        known = self.local.get(path)
        if known is not None and known[:2] == (stat.st_size, stat.st_mtime_ns):
            return known[2]
        with open(path, "rb") as fh:
            value = sri_value(fh.read())
        self.local[path] = (stat.st_size, stat.st_mtime_ns, value)
        return value


def load_table(app: Flask, spec: Spec | None) -> IntegrityTable:
    """Read the integrity values from the manifest once, when S3_INTEGRITY is on.

    Never raises: a page that uses no integrity helper must keep working, and ``flask-s3
    plan`` imports the app before it writes the first manifest.
    """
    if not app.config.get("S3_INTEGRITY"):
        return IntegrityTable(
            problem="S3_INTEGRITY is off, so there are no integrity values",
            fix="Set assets.integrity: true in the spec (or S3_INTEGRITY = True) and run "
            "`flask-s3 plan`, or link this asset with url_for.",
            enabled=False,
        )
    from .assets.fingerprint import app_manifest_path, read_manifest

    path = app_manifest_path(app, spec)
    try:
        values = read_manifest(path).integrity
    except FileNotFoundError:
        return IntegrityTable(problem=f"integrity is on but the manifest {path} is missing")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return IntegrityTable(problem=f"the manifest {path} cannot be read ({exc})")
    if values is None:
        return IntegrityTable(
            problem=f"the manifest {path} holds no integrity values "
            "(it was written with assets.integrity off)"
        )
    bad = next((k for k, v in values.items() if not VALUE.fullmatch(v)), None)
    if bad is not None:
        return IntegrityTable(problem=f"the manifest {path} holds a malformed value for {bad}")
    return IntegrityTable(values=values)


def install(app: Flask, spec: Spec | None, url_for: Callable[..., str]) -> None:
    """Load the table into the app's state and give templates the three helpers, which
    build their URLs with ``url_for`` (the extension's)."""
    state = app.extensions["s3"]
    state.integrity = table = load_table(app, spec)
    table.url_for = url_for
    if table.problem is not None and table.enabled and not app.debug:
        table.warned.add(table.problem)  # said once here, not again at the first page
        app.logger.warning("%s. %s", table.problem, MISSING_FIX)
    app.jinja_env.globals.update(sri=sri, s3_script=s3_script, s3_stylesheet=s3_stylesheet)


def _table(app: Flask) -> IntegrityTable:
    table = getattr(app.extensions.get("s3"), "integrity", None)  # the extension's S3State
    if not isinstance(table, IntegrityTable):
        raise ConfigError(
            "flask-s3 is not set up on this app",
            "Did you forget to call FlaskS3(app) / init_app(app)?",
        )
    return table


def sri(endpoint: str, /, *, filename: str) -> str:
    """The integrity value (``sha384-...``) of a static file, for ``integrity="..."``.

    Read from the manifest plan/apply wrote (one dict lookup after the first call); with
    USE_S3 off, the hash of the local file Flask serves. ``""`` when unknown in production
    (with a logged warning); a ConfigError in debug.
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    table = _table(app)
    if endpoint[:1] == ".":  # Flask's rule for relative endpoints
        blueprint = request.blueprint if has_request_context() else None
        endpoint = f"{blueprint}{endpoint}" if blueprint else endpoint[1:]
    if not app.config["USE_S3"]:
        return table.lookup(app, endpoint, filename, use_s3=False)
    value = table.found.get((endpoint, filename))
    if value is None:
        value = table.lookup(app, endpoint, filename, use_s3=True)
    return value


def s3_script(
    endpoint: str, /, *, _attrs: Mapping[str, Any] | None = None, **values: Any
) -> Markup:
    """``<script src=... integrity=... crossorigin="anonymous"></script>`` for a static file.

    ``values`` go to ``url_for`` (``filename`` is required); ``_attrs`` adds or overrides
    attributes (``{"defer": True, "type": "module"}``; False or None leaves one out).
    """
    return Markup(f"<script {_attributes('src', endpoint, _attrs, values)}></script>")


def s3_stylesheet(
    endpoint: str, /, *, _attrs: Mapping[str, Any] | None = None, **values: Any
) -> Markup:
    """``<link rel="stylesheet" href=... integrity=... crossorigin="anonymous">``."""
    return Markup(f'<link rel="stylesheet" {_attributes("href", endpoint, _attrs, values)}>')


def _attributes(
    url_attr: str, endpoint: str, extra: Mapping[str, Any] | None, values: dict[str, Any]
) -> str:
    if "filename" not in values:
        raise ConfigError(
            f"no filename for the static endpoint {endpoint!r}",
            "Call it as s3_script('static', filename='js/app.js').",
        )
    value = sri(endpoint, filename=str(values["filename"]))
    build = _table(current_app._get_current_object()).url_for  # type: ignore[attr-defined]
    assert build is not None  # install() set it with the table
    url = build(endpoint, **values)
    if extra is None:  # the common case, kept cheap; values were checked at start-up
        if value:
            return f'{url_attr}="{escape(url)}" integrity="{value}" crossorigin="anonymous"'
        return f'{url_attr}="{escape(url)}"'
    attrs: dict[str, Any] = {url_attr: url}
    if value:
        attrs.update(integrity=value, crossorigin="anonymous")
    attrs.update(extra or {})
    parts = []
    for name, setting in attrs.items():
        if not ATTRIBUTE_NAME.fullmatch(name):
            raise ConfigError(
                f"{name!r} is not an HTML attribute name",
                "Pass names such as defer, type or id in _attrs.",
            )
        if setting is None or setting is False:
            continue
        parts.append(str(escape(name)) if setting is True else f'{name}="{escape(setting)}"')
    return " ".join(parts)
