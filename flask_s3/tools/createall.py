"""``create_all``: deploy from Python in one call, with the seed's and Flask-S3 0.3's arguments."""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask

from ..assets.contenttypes import content_type, flasks3_content_type, media_type
from ..assets.globs import key_matcher
from ..assets.keys import static_key, static_sources
from ..assets.local import LocalInventory
from ..assets.scan import walk_static
from ..deployer.apply import Report
from ..deployer.snapshot import Snapshot, snapshot, write_fingerprint_manifest
from ..errors import ConfigError, MigrationWarning, S3Error
from ..migrate import filepath_headers, uses_flasks3
from ..s3 import StoreError, StoreUnreachable, open_store
from ..s3.reach import check_endpoint
from ..s3.store import Store
from ..spec import (
    DEFAULT_GZIP_TYPES,
    AssetsSpec,
    BucketSpec,
    GzipSpec,
    HeaderRule,
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


def spec_from_app(
    app: Flask,
    bucket_name: str | None,
    region: str | None,
    hidden: bool,
    *,
    public_read: bool = False,
    filepath_filter_regex: str | None = None,
) -> Spec:
    """A spec built from the app's config (hydrated by ``FlaskS3``) and the call's arguments.

    ``FLASKS3_FILEPATH_HEADERS`` becomes header rules and ``filepath_filter_regex`` excludes,
    both worked out on today's files, so they pick exactly the files Flask-S3 0.3 picked.
    """
    from ..extension import resolved_config

    config = resolved_config(app)
    name = bucket_name or config.get("S3_BUCKET_NAME")
    if not name:
        raise ConfigError(
            "no bucket to deploy to",
            "Set S3_BUCKET_NAME in app.config or pass bucket_name= to create_all().",
        )
    files = static_files(app, hidden)
    scheme: Any = config.get("S3_URL_SCHEME") or "relative"
    # An app configured the 0.3 way keeps the Content-Types 0.3 stored (as `init` writes).
    type_rules, type_gzip = flasks3_type_rules(config, files)
    gzip_types = tuple(config.get("S3_GZIP_CONTENT_TYPES") or DEFAULT_GZIP_TYPES)
    return Spec(
        bucket=BucketSpec(
            name=str(name),
            region=region or config.get("S3_REGION") or None,
            endpoint_url=config.get("S3_ENDPOINT_URL") or None,
            public_read_policy=public_read,
        ),
        urls=UrlSpec(
            scheme=scheme,
            style=config.get("S3_URL_STYLE") or "host",
            bucket_domain=config.get("S3_BUCKET_DOMAIN") or "s3.amazonaws.com",
            cdn_domain=config.get("S3_CDN_DOMAIN") or None,
            prefix=str(config.get("S3_PREFIX") or "").strip("/"),
        ),
        assets=AssetsSpec(
            include_hidden=hidden,
            exclude=filtered_out(files, filepath_filter_regex),
            headers=dict(config.get("S3_HEADERS") or {}),
            rules=(*type_rules, *header_rules(files, config)),
            gzip=GzipSpec(
                enabled=bool(config.get("USE_GZIP")),
                content_types=gzip_types
                if "*/*" in gzip_types
                else tuple(dict.fromkeys((*gzip_types, *type_gzip))),
            ),
        ),
        digest="config",
    )


def static_files(app: Flask, hidden: bool) -> dict[str, tuple[str, str]]:
    """Logical key (no prefix) -> (path on disk, path inside its static folder), first wins."""
    files: dict[str, tuple[str, str]] = {}
    for source in static_sources(app):
        if not source.folder.is_dir():
            continue
        for relpath, path in walk_static(source.folder, hidden, LocalInventory()):
            files.setdefault(static_key("", source.url_path, relpath), (path, relpath))
    return files


def filtered_out(files: Mapping[str, tuple[str, str]], regex: str | None) -> tuple[str, ...]:
    """Keys 0.3's ``filepath_filter_regex`` left out: it searched the path in the folder."""
    if regex is None:
        return ()
    try:
        pattern = re.compile(regex)
    except re.error as exc:
        raise ConfigError(
            f"filepath_filter_regex {regex!r} is not a regular expression ({exc})",
            "Pass a pattern searched in each file's path inside its static folder, e.g. r'^css'.",
        ) from None
    return tuple(sorted(k for k, (_, rel) in files.items() if not pattern.search(rel)))


_SUFFIX = re.compile(r"\\?\.([A-Za-z0-9]+)\$")  # r'\.css$' or r'.css$'


def header_rules(
    files: Mapping[str, tuple[str, str]], config: Mapping[str, Any]
) -> tuple[HeaderRule, ...]:
    """``FLASKS3_FILEPATH_HEADERS`` as header rules that give the same files the same headers.

    0.3 searched each regex in the file's path on disk, later regexes winning. A regex
    becomes one ``**`` rule when it matches every file, a suffix regex one ``**/*.ext`` rule
    when that glob picks exactly the same files; otherwise one rule per file it matches today.
    """
    rules: list[HeaderRule] = []
    for pattern, headers in filepath_headers(config):
        matched = sorted(k for k, (path, _) in files.items() if pattern.search(path))
        suffix = _SUFFIX.fullmatch(pattern.pattern)
        candidates = ["**"] + ([f"**/*.{suffix.group(1)}"] if suffix is not None else [])
        for glob in candidates:
            if matched == sorted(k for k in files if key_matcher((glob,))(k)):
                rules.append(HeaderRule(glob, dict(headers)))
                break
        else:
            rules.extend(HeaderRule(key, dict(headers)) for key in matched)
    return tuple(rules)


def gzipped_by_0_3(user: Mapping[str, Any], ctype: str, typed: Mapping[str, str]) -> bool:
    """Whether 0.3 gzipped the files it gave ``ctype`` (FLASKS3_GZIP, FLASKS3_GZIP_ONLY_EXTS)."""
    if not user.get("FLASKS3_GZIP"):
        return False
    exts = user.get("FLASKS3_GZIP_ONLY_EXTS") or []
    return not exts or any(typed.get(ext) == ctype for ext in exts)


def flasks3_types(
    user: Mapping[str, Any], files: Mapping[str, tuple[str, str]]
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """0.3's Content-Types where they differ from ours, by extension; and the extensions it
    stored with none (no gzip, no FLASKS3_FORCE_MIMETYPE, or a type it did not know).

    0.3 set a type on gzipped objects (every file, or those whose extension, dot included
    and case-sensitive, is in FLASKS3_GZIP_ONLY_EXTS) and on all with FLASKS3_FORCE_MIMETYPE.
    """
    only = user.get("FLASKS3_GZIP_ONLY_EXTS") or []
    only = [only] if isinstance(only, str) else list(only)
    typed: dict[str, str] = {}
    untyped: dict[str, str] = {}
    for key in files:
        ext = "." + key.rsplit(".", 1)[1] if "." in key.rsplit("/", 1)[-1] else ""
        gzipped = bool(user.get("FLASKS3_GZIP")) and (not only or ext in only)
        legacy = flasks3_content_type(key) if ext else None
        ours = content_type(key)
        if (gzipped or user.get("FLASKS3_FORCE_MIMETYPE")) and legacy is not None:
            if legacy != ours:
                typed[ext] = legacy
        else:
            untyped[ext or "(no extension)"] = ours
    return typed, sorted(untyped.items())


def flasks3_type_rules(
    config: Mapping[str, Any], files: Mapping[str, tuple[str, str]]
) -> tuple[tuple[HeaderRule, ...], tuple[str, ...]]:
    """For an app configured the 0.3 way: rules giving 0.3's Content-Types, and the gzip
    types that must be added so those files are still gzipped; nothing for other apps."""
    if not uses_flasks3(config):
        return (), ()
    typed, _ = flasks3_types(config, files)
    rules = tuple(
        HeaderRule(f"**/*{ext}", {"Content-Type": ctype}) for ext, ctype in sorted(typed.items())
    )
    extra = tuple(media_type(t) for t in typed.values() if gzipped_by_0_3(config, t, typed))
    return rules, extra


def _gzip_updates(snap: Snapshot) -> bool:
    return any(
        a.key is not None and snap.local.assets[a.key].gzip for a in snap.plan.of_kind("update")
    )


def public_read_wanted(
    put_bucket_acl: bool | None, spec: Spec, store: Store, from_config: bool
) -> bool:
    """0.3 made the assets public by default; ``put_bucket_acl=False`` left the bucket alone."""
    if put_bucket_acl is None:
        return True if from_config else spec.bucket.public_read_policy
    if put_bucket_acl:
        return True
    from ..remote.bucket import current_policy, our_statement

    try:  # leave it as it is: keep our statement if it is there, add none
        return our_statement(current_policy(store)) is not None
    except S3Error:
        return False


def blocked_by(store: Store) -> list[str]:
    """The bucket's Block Public Access settings that stop anonymous reads via a policy."""
    try:
        settings = store.get_public_access_block() or {}
    except (StoreError, StoreUnreachable):  # no permission, or a store without the API
        return []
    return [k for k in ("BlockPublicPolicy", "RestrictPublicBuckets") if settings.get(k)]


def public_access_error(bucket: str, blocking: list[str], summary: str = "") -> S3Error:
    settings = " and ".join(blocking) or "BlockPublicPolicy"
    where = "bucket's" if blocking else "bucket's or the account's"
    return S3Error(
        summary
        or f"bucket {bucket!r} blocks public access ({settings} is on), so create_all cannot "
        "make the assets anonymously readable",
        f"Turn {settings} off in the {where} Block Public Access settings, or pass "
        "put_bucket_acl=False and serve the assets through a CDN.",
    )


def create_all(
    app: Flask,
    user: str | None = None,
    password: str | None = None,
    bucket_name: str | None = None,
    location: str | None = "",
    include_hidden: bool = False,
    force_refresh: bool = False,
    *,
    filepath_filter_regex: str | None = None,
    put_bucket_acl: bool | None = None,
    spec: Spec | str | Path | None = None,
    client: S3Client | None = None,
) -> Report:
    """Upload the app's static assets (app and blueprints) to S3 and return the report.

    ``user``/``password`` are the access key id and secret (else ``AWS_ACCESS_KEY_ID`` /
    ``AWS_SECRET_ACCESS_KEY`` from config, else boto3's default chain); ``location`` is the
    region. Only what changed is sent; nothing is deleted unless the spec asks for prune.

    As Flask-S3 0.3 did, the assets are made anonymously readable: through the managed
    public-read bucket-policy statement (new buckets refuse ACLs). ``put_bucket_acl=False``
    leaves the bucket's policy as it is; with a ``spec``, the spec decides unless
    ``put_bucket_acl`` is given. ``filepath_filter_regex`` uploads only the files whose path
    inside their static folder it matches.
    """
    if isinstance(force_refresh, str):  # 0.3's 7th positional argument was the regex
        warnings.warn(
            "create_all's 7th positional argument is force_refresh; the string given is read "
            "as filepath_filter_regex, as in Flask-S3 0.3. Pass filepath_filter_regex=...",
            MigrationWarning,
            stacklevel=2,
        )
        filepath_filter_regex, force_refresh = filepath_filter_regex or force_refresh, False
    region = region_for(location) if location else None
    if spec is None:
        resolved = spec_from_app(
            app, bucket_name, region, include_hidden, filepath_filter_regex=filepath_filter_regex
        )
    else:
        resolved = spec if isinstance(spec, Spec) else load_spec(spec)
        if filepath_filter_regex is not None:
            files = static_files(app, resolved.assets.include_hidden)
            extra = filtered_out(files, filepath_filter_regex)
            assets = replace(resolved.assets, exclude=(*resolved.assets.exclude, *extra))
            resolved = replace(resolved, assets=assets)
    store = open_store(
        resolved,
        access_key=user or app.config.get("AWS_ACCESS_KEY_ID"),
        secret_key=password or app.config.get("AWS_SECRET_ACCESS_KEY"),
        client=client,
    )
    check_endpoint(store)
    public = public_read_wanted(put_bucket_acl, resolved, store, from_config=spec is None)
    if public != resolved.bucket.public_read_policy:
        resolved = replace(resolved, bucket=replace(resolved.bucket, public_read_policy=public))
    snap = snapshot(resolved, app, store, force_refresh=force_refresh)
    if spec is None and not force_refresh and _gzip_updates(snap) and uses_flasks3(app.config):
        # An app upgraded unchanged, on the bucket 0.3 filled: its gzip objects hold today's
        # files in other bytes. Adopted once (recorded in the manifest), never uploaded again.
        from ..deployer.adopt import adopt_gzip

        if adopt_gzip(resolved, app, store).adopted:
            snap = snapshot(resolved, app, store)
    write_fingerprint_manifest(app, resolved, snap.local)
    writes_policy = any(a.after for a in snap.plan.of_kind("update-bucket-policy"))
    if writes_policy:  # only then: a no-op deploy asks nothing more of S3
        blocking = blocked_by(store)
        if blocking:
            raise public_access_error(resolved.bucket.name, blocking)
    try:
        from ..deployer.deploy import deploy

        return deploy(resolved, store, snap)  # planned again under the lock
    except S3Error as exc:
        if not writes_policy or "write-policy" not in exc.summary:
            raise
        blocking = blocked_by(store)
        raise public_access_error(resolved.bucket.name, blocking, exc.summary) from None
