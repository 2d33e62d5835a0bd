"""``create_all``: deploy from Python in one call, with the seed's and Flask-S3 0.3's arguments."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask

from .apply import Report, apply_plan
from .deploy import snapshot
from .errors import ConfigError
from .remote import make_client
from .spec import (
    DEFAULT_GZIP_TYPES,
    AssetsSpec,
    BucketSpec,
    GzipSpec,
    Spec,
    UrlSpec,
    load_spec,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# The seed's location names -> AWS regions.
LEGACY_LOCATIONS = {
    "": "us-east-1",
    "DEFAULT": "us-east-1",
    "EU": "eu-west-1",
    "USWest": "us-west-1",
    "USWest2": "us-west-2",
    "APSoutheast": "ap-southeast-1",
    "APSoutheast2": "ap-southeast-2",
    "APNortheast": "ap-northeast-1",
    "SAEast": "sa-east-1",
}


def region_for(location: str | None) -> str | None:
    """A modern region for ``location``; the seed's names still work, with a warning."""
    if location is None:
        return None
    if location in LEGACY_LOCATIONS:
        region = LEGACY_LOCATIONS[location]
        if location:
            warnings.warn(
                f"location {location!r} is a legacy Flask-S3 name; use the region {region!r}",
                DeprecationWarning,
                stacklevel=3,
            )
        return region
    return location


def spec_from_app(app: Flask, bucket_name: str | None, region: str | None, hidden: bool) -> Spec:
    """A spec built from the app's config (hydrated by ``FlaskS3``) and the call's arguments."""
    from .extension import resolved_config

    config = resolved_config(app)
    name = bucket_name or config.get("S3_BUCKET_NAME")
    if not name:
        raise ConfigError(
            "no bucket to deploy to",
            "Set S3_BUCKET_NAME in app.config or pass bucket_name= to create_all().",
        )
    scheme: Any = config.get("S3_URL_SCHEME") or "relative"
    return Spec(
        bucket=BucketSpec(
            name=str(name),
            region=region or config.get("S3_REGION") or None,
            endpoint_url=config.get("S3_ENDPOINT_URL") or None,
        ),
        urls=UrlSpec(
            scheme=scheme,
            style=config.get("S3_URL_STYLE") or "host",
            bucket_domain=config.get("S3_BUCKET_DOMAIN") or "s3.amazonaws.com",
            cdn_domain=config.get("S3_CDN_DOMAIN") or None,
            prefix=config.get("S3_PREFIX") or "",
        ),
        assets=AssetsSpec(
            include_hidden=hidden,
            headers=dict(config.get("S3_HEADERS") or {}),
            gzip=GzipSpec(
                enabled=bool(config.get("USE_GZIP")),
                content_types=tuple(config.get("S3_GZIP_CONTENT_TYPES") or DEFAULT_GZIP_TYPES),
            ),
        ),
        digest="config",
    )


def create_all(
    app: Flask,
    user: str | None = None,
    password: str | None = None,
    bucket_name: str | None = None,
    location: str = "",
    include_hidden: bool = False,
    force_refresh: bool = False,
    *,
    spec: Spec | str | Path | None = None,
    client: S3Client | None = None,
) -> Report:
    """Upload the app's static assets (app and blueprints) to S3 and return the report.

    ``user``/``password`` are the access key id and secret (else ``AWS_ACCESS_KEY_ID`` /
    ``AWS_SECRET_ACCESS_KEY`` from config, else boto3's default chain); ``location`` is the
    region. Only what changed is sent; nothing is deleted unless the spec asks for prune.
    """
    region = region_for(location) if location else None
    if spec is None:
        resolved = spec_from_app(app, bucket_name, region, include_hidden)
    else:
        resolved = spec if isinstance(spec, Spec) else load_spec(spec)
    if client is None:
        client = make_client(
            resolved,
            access_key=user or app.config.get("AWS_ACCESS_KEY_ID"),
            secret_key=password or app.config.get("AWS_SECRET_ACCESS_KEY"),
        )
    snap = snapshot(resolved, app, client, force_refresh=force_refresh)
    return apply_plan(snap.plan, resolved, snap.local, client, remote=snap.remote)
