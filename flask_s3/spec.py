"""The deploy spec: ``deploy.yaml`` loaded, validated and turned into frozen dataclasses.

INTERFACE CONTRACT (other modules rely on these names; keep them):
  load_spec(path) -> Spec       raises SpecError with every located problem
  Spec.flask_config() -> dict   the seed's config keys (S3_BUCKET_NAME, ...)
  Spec.digest                   "sha256:<hex>" of the resolved spec (for plans)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

DEFAULT_GZIP_TYPES: tuple[str, ...] = (
    "text/css",
    "application/javascript",
    "application/x-javascript",
)


@dataclass(frozen=True)
class CorsSpec:
    allowed_origins: tuple[str, ...] = ()
    allowed_methods: tuple[str, ...] = ("GET", "HEAD")
    allowed_headers: tuple[str, ...] = ()
    max_age_seconds: int = 3000


@dataclass(frozen=True)
class BucketSpec:
    name: str
    region: str | None = None
    endpoint_url: str | None = None
    create: bool = True
    acl: Literal["none", "private", "public-read"] = "none"
    public_read_policy: bool = False
    profile: str | None = None
    cors: CorsSpec | None = None


@dataclass(frozen=True)
class UrlSpec:
    scheme: Literal["relative", "http", "https"] = "relative"
    style: Literal["host", "path"] = "host"
    bucket_domain: str = "s3.amazonaws.com"
    cdn_domain: str | None = None
    prefix: str = ""


@dataclass(frozen=True)
class HeaderRule:
    match: str
    headers: Mapping[str, str]


@dataclass(frozen=True)
class GzipSpec:
    enabled: bool = False
    content_types: tuple[str, ...] = DEFAULT_GZIP_TYPES


@dataclass(frozen=True)
class AssetsSpec:
    include_hidden: bool = False
    exclude: tuple[str, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    rules: tuple[HeaderRule, ...] = ()
    gzip: GzipSpec = field(default_factory=GzipSpec)
    prune: bool = False
    max_delete: int = 256


@dataclass(frozen=True)
class RuntimeSpec:
    enabled: bool = True
    debug: bool = False
    override_flask_url_for: bool = False


@dataclass(frozen=True)
class UploadSpec:
    concurrency: int = 16


@dataclass(frozen=True)
class Spec:
    bucket: BucketSpec
    version: int = 1
    app: str | None = None
    urls: UrlSpec = field(default_factory=UrlSpec)
    assets: AssetsSpec = field(default_factory=AssetsSpec)
    runtime: RuntimeSpec = field(default_factory=RuntimeSpec)
    upload: UploadSpec = field(default_factory=UploadSpec)
    source: Path | None = None  # the file it was loaded from, if any
    digest: str = ""  # "sha256:<hex>" over the resolved values

    def flask_config(self) -> dict[str, Any]:
        """The seed's Flask config keys for this spec (see README's table)."""
        raise NotImplementedError


def load_spec(path: str | Path) -> Spec:
    """Load, interpolate and validate a deploy spec; raise SpecError listing every problem."""
    raise NotImplementedError
