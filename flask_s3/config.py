"""The Flask config keys flask-s3 reads, with their defaults and what they mean.

The documentation's config table is generated from ``CONFIG_KEYS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .spec import DEFAULT_GZIP_TYPES


@dataclass(frozen=True)
class ConfigKey:
    """One Flask config key: its name, its default and a one-line description."""

    name: str
    default: Any
    description: str
    spec_field: str | None = None  # where deploy.yaml sets it, if anywhere


CONFIG_KEYS: tuple[ConfigKey, ...] = (
    ConfigKey("S3_BUCKET_NAME", None, "Bucket holding the assets. Required.", "bucket.name"),
    ConfigKey(
        "S3_REGION",
        None,
        "AWS region of the bucket; unset: the AWS configuration's.",
        "bucket.region",
    ),
    ConfigKey(
        "S3_ENDPOINT_URL",
        None,
        "Endpoint of an S3-compatible store; unset: AWS.",
        "bucket.endpoint_url",
    ),
    ConfigKey(
        "S3_BUCKET_DOMAIN",
        "s3.amazonaws.com",
        "Host the bucket is served from.",
        "urls.bucket_domain",
    ),
    ConfigKey(
        "S3_CDN_DOMAIN",
        "",
        "Serve assets from this host (a CDN) instead of the bucket's.",
        "urls.cdn_domain",
    ),
    ConfigKey(
        "S3_URL_SCHEME",
        None,
        "`https` or `http`; unset gives scheme-relative `//host/path` URLs.",
        "urls.scheme",
    ),
    ConfigKey(
        "S3_URL_STYLE",
        "host",
        "`host`: `bucket.domain/key`; `path`: `domain/bucket/key`.",
        "urls.style",
    ),
    ConfigKey("S3_PREFIX", "", "Key and URL prefix below the bucket.", "urls.prefix"),
    ConfigKey("S3_HEADERS", {}, "Headers stored with every object.", "assets.headers"),
    ConfigKey(
        "USE_GZIP",
        False,
        "Store the gzip types compressed, with `Content-Encoding: gzip`.",
        "assets.gzip.enabled",
    ),
    ConfigKey(
        "S3_GZIP_CONTENT_TYPES",
        list(DEFAULT_GZIP_TYPES),
        "Content types to gzip.",
        "assets.gzip.content_types",
    ),
    ConfigKey("USE_S3", True, "`False`: `url_for` gives Flask's local URLs.", "runtime.enabled"),
    ConfigKey("USE_S3_DEBUG", False, "Keep S3 URLs when `app.debug` is on.", "runtime.debug"),
    ConfigKey(
        "S3_OVERRIDE_FLASK_URL_FOR",
        False,
        "Give S3 URLs to `flask.url_for` too (from Python and other extensions), this app only.",
        "runtime.override_flask_url_for",
    ),
    ConfigKey(
        "S3_FINGERPRINT",
        False,
        "`url_for` points at content-hashed names.",
        "assets.fingerprint.enabled",
    ),
    ConfigKey(
        "S3_FINGERPRINT_MANIFEST",
        None,
        "Path of the logical -> hashed names manifest; unset: "
        "`.flask-s3-manifest.json` in the static folder.",
        "assets.fingerprint.manifest",
    ),
    ConfigKey(
        "AWS_ACCESS_KEY_ID",
        None,
        "Access key id for `create_all`; unset: boto3's credential chain. Never in the spec.",
    ),
    ConfigKey(
        "AWS_SECRET_ACCESS_KEY",
        None,
        "Secret key for `create_all`; unset: boto3's credential chain. Never in the spec.",
    ),
)
