"""Every Flask config key flask-s3 reads, in one table: ``CONFIG_KEYS``.

The extension's defaults, the mapping of Flask-S3 0.3's ``FLASKS3_*`` keys and of the seed's
deprecated keys, the misspelling check and the README's tables all come from this table, so
they cannot disagree. Each entry has a ``name``, a ``default`` and a ``description``; the
other fields say where the key came from and what 1.0 does with it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any, Literal

from .assets.contenttypes import content_type, media_type
from .records import frozen
from .spec import DEFAULT_GZIP_TYPES

Status = Literal["current", "deprecated", "flask-s3-0.3"]
ALL_TYPES = "*/*"


def scheme_of(use_https: object) -> str:
    """``FLASKS3_USE_HTTPS`` / ``S3_USE_HTTPS`` -> ``S3_URL_SCHEME``."""
    return "https" if use_https else "http"


def gzip_types_of(extensions: object) -> list[str]:
    """``FLASKS3_GZIP_ONLY_EXTS`` -> ``S3_GZIP_CONTENT_TYPES``; empty means every type (0.3)."""
    if not extensions:
        return [ALL_TYPES]
    exts = [extensions] if isinstance(extensions, str) else list(_iterable(extensions))
    types = (media_type(content_type("x." + str(ext).lstrip("."))) for ext in exts)
    return list(dict.fromkeys(types))


def _iterable(value: object) -> Iterable[object]:
    return value if isinstance(value, Iterable) else [value]


@frozen
class ConfigKey:
    """One Flask config key: its name, default and meaning, and its history.

    ``default`` is what ``init_app`` fills in for a current key, and Flask-S3 0.3's default
    for a ``FLASKS3_*`` key. An old key with ``read_as`` fills that current key (through
    ``convert`` when the value changes shape) unless the current key is set itself.
    """

    name: str
    default: object
    description: str
    status: Status = "current"
    spec_field: str | None = None  # the deploy spec field that holds the same setting
    replaces: str | None = None  # current keys: the Flask-S3 0.3 key it replaces
    read_as: str | None = None  # old keys: the current key that receives the value
    convert: Callable[[Any], Any] | None = None  # old value -> value of ``read_as``
    in_1_0: str = ""  # old keys: what 1.0 does with it, for the migration table

    def fresh_default(self) -> Any:
        """The default as a new object, so no mutable value is shared between apps."""
        return copy.deepcopy(self.default)

    def converted(self, value: Any) -> Any:
        return self.convert(value) if self.convert is not None else value


def _current(
    name: str,
    default: object,
    description: str,
    spec_field: str | None = None,
    replaces: str | None = None,
) -> ConfigKey:
    return ConfigKey(name, default, description, "current", spec_field, replaces)


def _old(
    name: str,
    default: object,
    description: str,
    in_1_0: str,
    read_as: str | None = None,
    convert: Callable[[Any], Any] | None = None,
    status: Status = "flask-s3-0.3",
    spec_field: str | None = None,
) -> ConfigKey:
    return ConfigKey(
        name,
        default,
        description,
        status,
        spec_field=spec_field,
        read_as=read_as,
        convert=convert,
        in_1_0=in_1_0,
    )


CONFIG_KEYS: tuple[ConfigKey, ...] = (
    # -- the current keys (the seed's names) ------------------------------------------------
    _current(
        "S3_BUCKET_NAME",
        None,
        "Bucket holding the static assets; its name appears in every asset URL unless a CDN "
        "domain is set. Required for S3 URLs and for create_all.",
        "bucket.name",
        "FLASKS3_BUCKET_NAME",
    ),
    _current(
        "S3_REGION",
        None,
        "AWS region of the bucket (None: boto3's default chain). Used by create_all only.",
        "bucket.region",
        "FLASKS3_REGION",
    ),
    _current(
        "S3_ENDPOINT_URL",
        None,
        "Endpoint of an S3-compatible store (None: AWS). Used by create_all only.",
        "bucket.endpoint_url",
        "FLASKS3_ENDPOINT_URL",
    ),
    _current(
        "S3_BUCKET_DOMAIN",
        "s3.amazonaws.com",
        "Host the bucket is served from: URLs are bucket.domain (host style) or domain/bucket "
        "(path style).",
        "urls.bucket_domain",
        "FLASKS3_BUCKET_DOMAIN",
    ),
    _current(
        "S3_CDN_DOMAIN",
        "",
        "Serve asset URLs from this host (a CDN in front of the bucket) instead of the bucket's "
        "own host; the bucket name is then not part of the URL.",
        "urls.cdn_domain",
        "FLASKS3_CDN_DOMAIN",
    ),
    _current(
        "S3_URL_SCHEME",
        None,
        "'https' or 'http'. Unset (None): scheme-relative //host/path URLs, except in an app "
        "configured with FLASKS3_* keys, where it defaults to 'https' as in Flask-S3 0.3.",
        "urls.scheme",
        "FLASKS3_USE_HTTPS",
    ),
    _current(
        "S3_URL_STYLE",
        "host",
        "'host' for bucket.domain URLs, 'path' for domain/bucket URLs.",
        "urls.style",
        "FLASKS3_URL_STYLE",
    ),
    _current(
        "S3_PREFIX",
        "",
        "Key and URL prefix put before every static path (e.g. 'v2' gives v2/static/app.css).",
        "urls.prefix",
        "FLASKS3_PREFIX",
    ),
    _current(
        "S3_HEADERS",
        {},
        "Headers stored with every object (Cache-Control, Expires, ...); names S3 cannot set as "
        "HTTP headers are stored as x-amz-meta-* metadata.",
        "assets.headers",
        "FLASKS3_HEADERS",
    ),
    _current(
        "USE_GZIP",
        False,
        "Store gzip-compressed bytes with Content-Encoding: gzip for the types in "
        "S3_GZIP_CONTENT_TYPES.",
        "assets.gzip.enabled",
        "FLASKS3_GZIP",
    ),
    _current(
        "S3_GZIP_CONTENT_TYPES",
        list(DEFAULT_GZIP_TYPES),
        "Content types to gzip when USE_GZIP is on; '*/*' gzips every type (what Flask-S3 0.3 "
        "did when FLASKS3_GZIP_ONLY_EXTS was empty).",
        "assets.gzip.content_types",
        "FLASKS3_GZIP_ONLY_EXTS",
    ),
    _current(
        "USE_S3",
        True,
        "Serve static files from S3. False: url_for gives Flask's local URLs. Set to False by "
        "init_app when app.debug is on and USE_S3_DEBUG is off.",
        "runtime.enabled",
        "FLASKS3_ACTIVE",
    ),
    _current(
        "USE_S3_DEBUG",
        False,
        "Keep S3 URLs when app.debug is on.",
        "runtime.debug",
        "FLASKS3_DEBUG",
    ),
    _current(
        "S3_OVERRIDE_TESTING",
        True,
        "False: url_for gives Flask's local URLs while TESTING is on (checked at each call).",
        None,
        "FLASKS3_OVERRIDE_TESTING",
    ),
    _current(
        "S3_OVERRIDE_FLASK_URL_FOR",
        False,
        "Also give S3 URLs to flask.url_for called from Python or other extensions (this app "
        "only), not just to url_for in templates.",
        "runtime.override_flask_url_for",
    ),
    _current(
        "S3_FINGERPRINT",
        False,
        "Serve content-hashed file names (cache busting) from the manifest flask-s3 plan/apply "
        "writes.",
        "assets.fingerprint.enabled",
    ),
    _current(
        "S3_FINGERPRINT_MANIFEST",
        None,
        "Path of the fingerprint manifest (None: .flask-s3-manifest.json in the static folder).",
        "assets.fingerprint.manifest",
    ),
    _current(
        "S3_INTEGRITY",
        False,
        "Subresource Integrity: sri(), s3_script() and s3_stylesheet() in templates give the "
        "SHA-384 values flask-s3 plan/apply record in the manifest.",
        "assets.integrity",
    ),
    _current(
        "AWS_ACCESS_KEY_ID",
        None,
        "Access key id create_all uses when none is passed (else boto3's default chain). "
        "Never written to a deploy spec.",
    ),
    _current(
        "AWS_SECRET_ACCESS_KEY",
        None,
        "Secret key create_all uses when none is passed (else boto3's default chain). "
        "Never written to a deploy spec.",
    ),
    # -- the seed's deprecated keys ---------------------------------------------------------
    _old(
        "S3_USE_HTTPS",
        True,
        "Deprecated seed setting: serve asset URLs over https.",
        "read as S3_URL_SCHEME ('https' / 'http'), with a warning",
        "S3_URL_SCHEME",
        scheme_of,
        status="deprecated",
        spec_field="urls.scheme",
    ),
    _old(
        "S3_CACHE_CONTROL",
        None,
        "Deprecated seed setting: a Cache-Control value for every object.",
        "joins S3_HEADERS when S3_USE_CACHE_CONTROL is on, unless S3_HEADERS sets "
        "Cache-Control; warns",
        status="deprecated",
        spec_field="assets.headers",
    ),
    _old(
        "S3_USE_CACHE_CONTROL",
        False,
        "Deprecated seed setting: switch S3_CACHE_CONTROL on.",
        "see S3_CACHE_CONTROL",
        status="deprecated",
    ),
    _old(
        "FLASKS3_ENDPOINT_URL",
        None,
        "Not a Flask-S3 0.3 setting (0.3.3 ignored it and deployed to AWS): an alias of "
        "S3_ENDPOINT_URL under a FLASKS3_ name, kept for apps that set it.",
        "read as S3_ENDPOINT_URL, with a warning: where 0.3.3 deployed to AWS, create_all now "
        "uses that endpoint",
        "S3_ENDPOINT_URL",
        status="deprecated",
        spec_field="bucket.endpoint_url",
    ),
    # -- Flask-S3 0.3 ----------------------------------------------------------------------
    _old(
        "FLASKS3_BUCKET_NAME",
        None,
        "Flask-S3 0.3: the bucket name.",
        "read as S3_BUCKET_NAME",
        "S3_BUCKET_NAME",
        spec_field="bucket.name",
    ),
    _old(
        "FLASKS3_REGION",
        None,
        "Flask-S3 0.3: the region create_all created and used the bucket in.",
        "read as S3_REGION",
        "S3_REGION",
        spec_field="bucket.region",
    ),
    _old(
        "FLASKS3_BUCKET_DOMAIN",
        "s3.amazonaws.com",
        "Flask-S3 0.3: host the bucket is served from.",
        "read as S3_BUCKET_DOMAIN",
        "S3_BUCKET_DOMAIN",
        spec_field="urls.bucket_domain",
    ),
    _old(
        "FLASKS3_CDN_DOMAIN",
        "",
        "Flask-S3 0.3: a CDN host that replaces the bucket's host in URLs.",
        "read as S3_CDN_DOMAIN",
        "S3_CDN_DOMAIN",
        spec_field="urls.cdn_domain",
    ),
    _old(
        "FLASKS3_USE_HTTPS",
        True,
        "Flask-S3 0.3: https URLs (True, the default) or http.",
        "read as S3_URL_SCHEME ('https' / 'http'); unset in an app with FLASKS3_* keys, URLs "
        "stay https as in 0.3",
        "S3_URL_SCHEME",
        scheme_of,
        spec_field="urls.scheme",
    ),
    _old(
        "FLASKS3_URL_STYLE",
        "host",
        "Flask-S3 0.3: 'host' or 'path' style URLs.",
        "read as S3_URL_STYLE",
        "S3_URL_STYLE",
        spec_field="urls.style",
    ),
    _old(
        "FLASKS3_PREFIX",
        "",
        "Flask-S3 0.3: key and URL prefix.",
        "read as S3_PREFIX",
        "S3_PREFIX",
        spec_field="urls.prefix",
    ),
    _old(
        "FLASKS3_ACTIVE",
        True,
        "Flask-S3 0.3: whether templates get S3 URLs, read once at init_app; set to False by "
        "init_app in debug mode (without FLASKS3_DEBUG). Direct flask_s3.url_for calls gave S3 "
        "URLs whatever it said.",
        "as in 0.3 while the app sets no USE_S3: it switches templates only, as it was at "
        "init_app, and direct url_for calls give S3 URLs; flask-s3 init writes it as "
        "runtime.enabled, which (with a spec) switches direct calls too",
        "USE_S3",
        spec_field="runtime.enabled",
    ),
    _old(
        "FLASKS3_DEBUG",
        False,
        "Flask-S3 0.3: keep S3 URLs in debug mode.",
        "read as USE_S3_DEBUG; as in 0.3, debug mode without it switches templates only",
        "USE_S3_DEBUG",
        spec_field="runtime.debug",
    ),
    _old(
        "FLASKS3_OVERRIDE_TESTING",
        True,
        "Flask-S3 0.3: False gives local URLs while TESTING is on.",
        "read as S3_OVERRIDE_TESTING (checked at each url_for call, as in 0.3)",
        "S3_OVERRIDE_TESTING",
    ),
    _old(
        "FLASKS3_HEADERS",
        {},
        "Flask-S3 0.3: headers stored with every object.",
        "read as S3_HEADERS",
        "S3_HEADERS",
        spec_field="assets.headers",
    ),
    _old(
        "FLASKS3_FILEPATH_HEADERS",
        {},
        "Flask-S3 0.3: {regex: headers}; a file whose path matches a regex gets those headers "
        "on top of FLASKS3_HEADERS.",
        "create_all turns it into per-path header rules (same regexes, same files); flask-s3 "
        "init writes them as assets.rules",
        spec_field="assets.rules",
    ),
    _old(
        "FLASKS3_CACHE_CONTROL",
        None,
        "Flask-S3 0.3: a Cache-Control value, used only with FLASKS3_USE_CACHE_CONTROL.",
        "with FLASKS3_USE_CACHE_CONTROL on: replaces the Cache-Control of FLASKS3_HEADERS, as in "
        "0.3 (S3_HEADERS, when set, wins); without it: ignored, with a warning",
        spec_field="assets.headers",
    ),
    _old(
        "FLASKS3_USE_CACHE_CONTROL",
        False,
        "Flask-S3 0.3: switch FLASKS3_CACHE_CONTROL on.",
        "see FLASKS3_CACHE_CONTROL",
    ),
    _old(
        "FLASKS3_GZIP",
        False,
        "Flask-S3 0.3: store gzip-compressed objects.",
        "read as USE_GZIP; without FLASKS3_GZIP_ONLY_EXTS every type is gzipped, as in 0.3 "
        "(warns, suggesting S3_GZIP_CONTENT_TYPES)",
        "USE_GZIP",
        spec_field="assets.gzip.enabled",
    ),
    _old(
        "FLASKS3_GZIP_ONLY_EXTS",
        [],
        "Flask-S3 0.3: file extensions to gzip (empty: every file).",
        "read as S3_GZIP_CONTENT_TYPES (extensions mapped to content types; empty: '*/*')",
        "S3_GZIP_CONTENT_TYPES",
        gzip_types_of,
        spec_field="assets.gzip.content_types",
    ),
    _old(
        "FLASKS3_FORCE_MIMETYPE",
        False,
        "Flask-S3 0.3: set Content-Type on every object (else only on gzipped ones).",
        "always on now (a fixed content-type table); warns, remove it",
    ),
    _old(
        "FLASKS3_ONLY_MODIFIED",
        False,
        "Flask-S3 0.3: upload only files whose hash changed, using a .file-hashes object.",
        "always on now (size + MD5 against the bucket, headers too); warns, remove it",
    ),
)

BY_NAME: dict[str, ConfigKey] = {key.name: key for key in CONFIG_KEYS}
CURRENT: tuple[ConfigKey, ...] = tuple(k for k in CONFIG_KEYS if k.status == "current")
FLASKS3: tuple[ConfigKey, ...] = tuple(k for k in CONFIG_KEYS if k.status == "flask-s3-0.3")
DEPRECATED: tuple[ConfigKey, ...] = tuple(k for k in CONFIG_KEYS if k.status == "deprecated")
# Old name -> current name it fills when the current name is absent (deprecated keys first).
ALIASES: dict[str, str] = {
    k.name: k.read_as for k in (*DEPRECATED, *FLASKS3) if k.read_as is not None
}


def defaults() -> dict[str, Any]:
    """The current keys' defaults, made fresh for each call."""
    return {key.name: key.fresh_default() for key in CURRENT}


def migration_table() -> str:
    """The README's table of old keys (Markdown), made from this table so the two agree."""
    rows = [
        "| old key | its default then | what flask-s3 1.0 does with it |",
        "| --- | --- | --- |",
    ]
    for key in (*FLASKS3, *DEPRECATED):
        rows.append(f"| `{key.name}` | `{key.default!r}` | {key.in_1_0} |")
    return "\n".join(rows) + "\n"
