"""The deploy spec: ``deploy.yaml`` loaded, interpolated, validated against
``schemas/deploy.schema.json`` and turned into frozen dataclasses (``records.frozen``).

Every problem is reported at once as ``FILE:LINE:COL: key.path: what is wrong``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, field
from pathlib import Path
from typing import Any, Literal

from ..records import frozen

DEFAULT_GZIP_TYPES: tuple[str, ...] = (
    "text/css",
    "text/javascript",
    "application/javascript",
    "application/x-javascript",
)


@frozen
class CorsSpec:
    allowed_origins: tuple[str, ...] = ()
    allowed_methods: tuple[str, ...] = ("GET", "HEAD")
    allowed_headers: tuple[str, ...] = ()
    max_age_seconds: int = 3000


@frozen
class BucketSpec:
    name: str
    region: str | None = None
    endpoint_url: str | None = None
    create: bool = True
    acl: Literal["none", "private", "public-read"] = "none"
    public_read_policy: bool = False
    profile: str | None = None
    cors: CorsSpec | None = None
    expected_owner: str | None = None


@frozen
class UrlSpec:
    scheme: Literal["relative", "http", "https"] = "relative"
    style: Literal["host", "path"] = "host"
    bucket_domain: str = "s3.amazonaws.com"
    cdn_domain: str | None = None
    prefix: str = ""


@frozen
class HeaderRule:
    match: str
    headers: Mapping[str, str]


@frozen
class GzipSpec:
    enabled: bool = False
    content_types: tuple[str, ...] = DEFAULT_GZIP_TYPES


@frozen
class FingerprintSpec:
    enabled: bool = False
    length: int = 12
    exclude: tuple[str, ...] = ()
    keep: int = 3
    manifest: str | None = None  # default: .flask-s3-manifest.json in the app's static folder
    hashed: tuple[str, ...] = ()  # globs on keys a bundler already hashed: stored as they are
    manifests: tuple[str, ...] = ()  # bundler manifests (Vite, webpack) naming such files


@frozen
class EncryptionSpec:
    """Server-side encryption asked for on every object (``none``: the bucket's default)."""

    type: Literal["none", "AES256", "aws:kms"] = "none"
    kms_key_id: str | None = None


@frozen
class AssetsSpec:
    include_hidden: bool = False
    exclude: tuple[str, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    rules: tuple[HeaderRule, ...] = ()
    gzip: GzipSpec = field(default_factory=GzipSpec)
    prune: bool = False
    max_delete: int = 256
    fingerprint: FingerprintSpec = field(default_factory=FingerprintSpec)
    integrity: bool = False  # record SHA-384 (SRI) values in the manifest FlaskS3 reads
    encryption: EncryptionSpec = field(default_factory=EncryptionSpec)


@frozen
class CloudFrontSpec:
    """A CloudFront distribution in front of the bucket, and which paths apply invalidates."""

    distribution_id: str
    invalidate: Literal["changed", "all", "off"] = "changed"
    wait: bool = False
    max_paths: int = 15
    profile: str | None = None  # default: the bucket's credentials
    account: str | None = None  # the distribution's account id (for iam-policy's ARN)


@frozen
class CdnSpec:
    cloudfront: CloudFrontSpec | None = None


@frozen
class RuntimeSpec:
    enabled: bool = True
    debug: bool = False
    override_flask_url_for: bool = False


@frozen
class UploadSpec:
    concurrency: int = 16
    multipart_threshold: int = 64 * 1024 * 1024  # bytes; larger files go up in parts


@frozen
class Spec:
    bucket: BucketSpec
    version: int = 1
    app: str | None = None
    urls: UrlSpec = field(default_factory=UrlSpec)
    assets: AssetsSpec = field(default_factory=AssetsSpec)
    runtime: RuntimeSpec = field(default_factory=RuntimeSpec)
    upload: UploadSpec = field(default_factory=UploadSpec)
    cdn: CdnSpec = field(default_factory=CdnSpec)
    source: Path | None = None  # the file it was loaded from, if any
    digest: str = ""  # "sha256:<hex>" over the resolved values

    def flask_config(self) -> dict[str, Any]:
        """The seed's Flask config keys for this spec (see docs/reference/config.rst)."""
        return {
            "S3_BUCKET_NAME": self.bucket.name,
            "S3_REGION": self.bucket.region,
            "S3_ENDPOINT_URL": self.bucket.endpoint_url,
            "S3_URL_SCHEME": None if self.urls.scheme == "relative" else self.urls.scheme,
            "S3_URL_STYLE": self.urls.style,
            "S3_BUCKET_DOMAIN": self.urls.bucket_domain,
            "S3_CDN_DOMAIN": self.urls.cdn_domain or "",
            "S3_PREFIX": self.urls.prefix,
            "S3_HEADERS": dict(self.assets.headers),
            "USE_GZIP": self.assets.gzip.enabled,
            "S3_GZIP_CONTENT_TYPES": list(self.assets.gzip.content_types),
            "USE_S3": self.runtime.enabled,
            "USE_S3_DEBUG": self.runtime.debug,
            "S3_OVERRIDE_FLASK_URL_FOR": self.runtime.override_flask_url_for,
            "S3_FINGERPRINT": self.assets.fingerprint.enabled,
            "S3_FINGERPRINT_MANIFEST": self.assets.fingerprint.manifest,
            "S3_INTEGRITY": self.assets.integrity,
        }


def load_spec(path: str | Path) -> Spec:
    """Load, interpolate and validate a deploy spec; raise SpecError listing every problem."""
    from .yamlfile import parse_file

    data, locate = parse_file(Path(path))
    return build_spec(data, locate, source=Path(path))


def spec_from_dict(data: Mapping[str, Any], source: str = "<dict>") -> Spec:
    """Validate a plain mapping as a spec (same rules as a file, without line numbers)."""
    from .yamlfile import Locator

    return build_spec(dict(data), Locator(source, {}), source=None)


def build_spec(data: dict[str, Any], locate: Any, source: Path | None) -> Spec:
    from .validate import validate

    validate(data, locate)
    check_encryption(data, locate)
    bucket = data["bucket"]
    cors = bucket.get("cors")
    if isinstance(cors, list):
        cors = {"allowed_origins": cors}
    urls = data.get("urls") or {}
    assets = data.get("assets") or {}
    gzip = assets.get("gzip") or {}
    fingerprint = assets.get("fingerprint") or {}
    runtime = data.get("runtime") or {}
    upload = data.get("upload") or {}
    encryption = assets.get("encryption") or {}
    cloudfront = (data.get("cdn") or {}).get("cloudfront")
    spec = Spec(
        version=data["version"],
        app=data.get("app") or None,
        bucket=BucketSpec(
            name=bucket["name"],
            region=bucket.get("region") or None,
            endpoint_url=(bucket.get("endpoint_url") or "").rstrip("/") or None,
            create=bucket.get("create", True),
            acl=bucket.get("acl", "none"),
            public_read_policy=bucket.get("public_read_policy", False),
            profile=bucket.get("profile") or None,
            expected_owner=bucket.get("expected_owner") or None,
            cors=None
            if cors is None
            else CorsSpec(
                allowed_origins=tuple(cors["allowed_origins"]),
                allowed_methods=tuple(cors.get("allowed_methods", ("GET", "HEAD"))),
                allowed_headers=tuple(cors.get("allowed_headers", ())),
                max_age_seconds=cors.get("max_age_seconds", 3000),
            ),
        ),
        urls=UrlSpec(
            scheme=urls.get("scheme", "relative"),
            style=urls.get("style", "host"),
            bucket_domain=urls.get("bucket_domain", "s3.amazonaws.com"),
            cdn_domain=urls.get("cdn_domain") or None,
            prefix=str(urls.get("prefix", "")).strip("/"),
        ),
        assets=AssetsSpec(
            include_hidden=assets.get("include_hidden", False),
            exclude=tuple(assets.get("exclude", ())),
            headers={k: str(v) for k, v in (assets.get("headers") or {}).items()},
            rules=tuple(
                HeaderRule(r["match"], {k: str(v) for k, v in r["headers"].items()})
                for r in assets.get("rules", ())
            ),
            gzip=GzipSpec(
                enabled=gzip.get("enabled", False),
                content_types=tuple(gzip.get("content_types", DEFAULT_GZIP_TYPES)),
            ),
            prune=assets.get("prune", False),
            max_delete=assets.get("max_delete", 256),
            fingerprint=FingerprintSpec(
                enabled=fingerprint.get("enabled", False),
                length=fingerprint.get("length", 12),
                exclude=tuple(fingerprint.get("exclude", ())),
                keep=fingerprint.get("keep", 3),
                manifest=fingerprint.get("manifest") or None,
                hashed=tuple(fingerprint.get("hashed", ())),
                manifests=tuple(fingerprint.get("manifests", ())),
            ),
            integrity=assets.get("integrity", False),
            encryption=EncryptionSpec(
                type=encryption.get("type", "none"),
                kms_key_id=encryption.get("kms_key_id") or None,
            ),
        ),
        runtime=RuntimeSpec(
            enabled=runtime.get("enabled", True),
            debug=runtime.get("debug", False),
            override_flask_url_for=runtime.get("override_flask_url_for", False),
        ),
        upload=UploadSpec(
            concurrency=upload.get("concurrency", 16),
            multipart_threshold=upload.get("multipart_threshold", 64 * 1024 * 1024),
        ),
        cdn=CdnSpec(
            cloudfront=None
            if cloudfront is None
            else CloudFrontSpec(
                distribution_id=cloudfront["distribution_id"],
                invalidate=cloudfront.get("invalidate", "changed"),
                wait=cloudfront.get("wait", False),
                max_paths=cloudfront.get("max_paths", 15),
                profile=cloudfront.get("profile") or None,
                account=cloudfront.get("account") or None,
            )
        ),
        source=source,
    )
    values = asdict(spec)
    values.pop("source")
    values.pop("digest")
    blob = json.dumps(values, sort_keys=True, default=str).encode()
    return _with_digest(spec, "sha256:" + hashlib.sha256(blob).hexdigest())


def check_encryption(data: Mapping[str, Any], locate: Any) -> None:
    """A KMS key only means something with type aws:kms; anything else is a mistake."""
    from ..errors import SpecError

    encryption = (data.get("assets") or {}).get("encryption") or {}
    kind = encryption.get("type", "none")
    if encryption.get("kms_key_id") and kind != "aws:kms":
        raise SpecError(
            [
                locate.problem(
                    ("assets", "encryption", "kms_key_id"),
                    f"a KMS key needs type: aws:kms (type is {kind}); "
                    "set type: aws:kms or remove kms_key_id",
                )
            ]
        )


def _with_digest(spec: Spec, digest: str) -> Spec:
    from dataclasses import replace

    return replace(spec, digest=digest)
