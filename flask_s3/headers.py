"""Object headers: canonical names, and their mapping to and from S3 API parameters.

Only a handful of names become real HTTP headers on PutObject; anything else is stored as
``x-amz-meta-*`` user metadata, which S3 serves back under that prefixed name.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import format_datetime
from functools import lru_cache
from typing import Any

# canonical header name -> the boto3 parameter that carries it
STANDARD: dict[str, str] = {
    "Cache-Control": "CacheControl",
    "Content-Disposition": "ContentDisposition",
    "Content-Encoding": "ContentEncoding",
    "Content-Language": "ContentLanguage",
    "Content-Type": "ContentType",
    "Expires": "Expires",
    "Website-Redirect-Location": "WebsiteRedirectLocation",
    # Encryption at rest (assets.encryption): part of the header set, so the manifest records
    # it and a changed setting is a copy in place. On the wire these are sent as named.
    "x-amz-server-side-encryption": "ServerSideEncryption",
    "x-amz-server-side-encryption-aws-kms-key-id": "SSEKMSKeyId",
}
ENCRYPTION = ("x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id")
_BY_LOWER = {name.lower(): name for name in STANDARD}
META_PREFIX = "x-amz-meta-"


def canonical_name(name: str) -> str:
    """``cache-control`` -> ``Cache-Control``; other names -> ``x-amz-meta-<lower name>``."""
    lower = name.strip().lower()
    if lower in _BY_LOWER:
        return _BY_LOWER[lower]
    if lower.startswith(META_PREFIX):
        return lower
    return META_PREFIX + lower


def is_metadata(name: str) -> bool:
    return name.startswith(META_PREFIX)


def http_date(value: str) -> str | None:
    """``Expires`` as boto3 sends it: an HTTP date (RFC 7231) in GMT; None if not a date.

    botocore parses the value it is given (HTTP date, ISO 8601, epoch seconds) and writes it
    back as an HTTP date, so both stores send, sign and record the same string.
    """
    from email.utils import parsedate_to_datetime

    text = str(value).strip()
    parsed: datetime | None = None
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            if text.isdigit():
                parsed = datetime.fromtimestamp(int(text), timezone.utc)
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return format_datetime(parsed.astimezone(timezone.utc), usegmt=True)


def merge(base: dict[str, str], extra: Mapping[str, str]) -> list[str]:
    """Merge ``extra`` into ``base`` case-insensitively; return names that became metadata."""
    became_meta: list[str] = []
    for name, value in extra.items():
        canon = canonical_name(name)
        if is_metadata(canon) and not name.lower().startswith(META_PREFIX):
            became_meta.append(name)
        text = str(value)
        if canon == "Expires":
            text = http_date(text) or text  # the spec loader refuses what is not a date
        base[canon] = text
    return became_meta


def digest(headers: Mapping[str, str]) -> str:
    """A short stable digest of a header set, for the manifest and the local fingerprint."""
    return _digest(tuple(sorted(headers.items())))


@lru_cache(maxsize=1024)  # most assets of a deploy share one of a few header sets
def _digest(items: tuple[tuple[str, str], ...]) -> str:
    blob = json.dumps(items, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def to_put_params(headers: Mapping[str, str]) -> dict[str, Any]:
    """Keyword arguments for PutObject / CopyObject carrying these headers."""
    params: dict[str, Any] = {}
    metadata: dict[str, str] = {}
    for name, value in headers.items():
        if is_metadata(name):
            metadata[name[len(META_PREFIX) :]] = value
        else:
            params[STANDARD[name]] = value
    if metadata:
        params["Metadata"] = metadata
    return params


def encryption_headers(kind: str, kms_key_id: str | None = None) -> dict[str, str]:
    """The headers asking S3 to encrypt an object (none for ``none``: the bucket decides)."""
    if kind == "none":
        return {}
    headers = {ENCRYPTION[0]: kind}
    if kind == "aws:kms" and kms_key_id:
        headers[ENCRYPTION[1]] = kms_key_id
    return headers


def comparable(remote: Mapping[str, str], local: Mapping[str, str]) -> dict[str, str]:
    """``remote`` without the encryption headers ``local`` does not ask for.

    S3 reports the encryption a bucket's default applied (AES256 on every AWS bucket since
    2023, the aws/s3 key's ARN under SSE-KMS); a spec that leaves it to the bucket must not
    see that as a change it can never undo.
    """
    return {k: v for k, v in remote.items() if k not in ENCRYPTION or k in local}


def from_head(response: Mapping[str, Any]) -> dict[str, str]:
    """The header set of a HeadObject response, in our canonical form."""
    headers: dict[str, str] = {}
    for name, param in STANDARD.items():
        value = response.get(param)
        if value is None or value == "":
            continue
        if isinstance(value, datetime):
            value = format_datetime(value, usegmt=True)
        headers[name] = str(value)
    for key, value in (response.get("Metadata") or {}).items():
        headers[META_PREFIX + key.lower()] = str(value)
    return headers
