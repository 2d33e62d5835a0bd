"""SigV4 for S3, as botocore's S3SigV4Auth signs: the canonical request, the key, the header.

Pure functions of their inputs and the clock; ``tests/test_s3_differential.py`` proves each
signature equal to botocore's.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED = "UNSIGNED-PAYLOAD"


def clock() -> str:
    """The signing time; tests freeze it to compare with botocore."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def host_header(scheme: str, netloc: str) -> str:
    """The Host botocore signs: the URL's host name (lower-cased), without a default port."""
    default = ":443" if scheme == "https" else ":80"
    host = netloc[: -len(default)] if netloc.endswith(default) else netloc
    name, colon, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
    return f"{name.lower()}:{port}" if colon and port.isdigit() else host.lower()


def _q(text: str) -> str:
    return quote(text, safe="-_.~")


def query_string(params: Sequence[tuple[str, str | None]], *, canonical: bool) -> str:
    """The URL's query (``?cors``, ``list-type=2&...``) or its SigV4 canonical form."""
    items = [
        (quote(k, safe="-_.~"), None if v is None else quote(v, safe="-_.~")) for k, v in params
    ]
    if canonical:
        return "&".join(
            f"{k}={v or ''}" for k, v in sorted(items, key=lambda i: (i[0], i[1] or ""))
        )
    return "&".join(k if v is None else f"{k}={v}" for k, v in items)


class Signer:
    """SigV4 for service ``s3``, as botocore's S3SigV4Auth signs."""

    def __init__(self, credentials: Any) -> None:
        self.credentials = credentials  # anything with get_frozen_credentials(): refreshed by it
        self._keys: dict[tuple[str, str, str], bytes] = {}

    def _key(self, secret: str, day: str, region: str) -> bytes:
        cached = self._keys.get((secret, day, region))
        if cached is None:
            cached = hmac.new(f"AWS4{secret}".encode(), day.encode(), hashlib.sha256).digest()
            for part in (region, "s3", "aws4_request"):
                cached = hmac.new(cached, part.encode(), hashlib.sha256).digest()
            self._keys = {(secret, day, region): cached}
        return cached

    def sign(
        self,
        method: str,
        host: str,
        path: str,
        canonical_query: str,
        headers: Mapping[str, str],
        *,
        region: str,
        payload: str,
        stamp: str,
    ) -> dict[str, str]:
        """``headers`` plus host, date, payload hash, token and Authorization (all lower-case)."""
        frozen = self.credentials.get_frozen_credentials()
        out = {k.lower(): v for k, v in headers.items()}
        out["host"] = host
        out["x-amz-date"] = stamp
        out["x-amz-content-sha256"] = payload
        if frozen.token:
            out["x-amz-security-token"] = frozen.token
        names = sorted(out)
        canonical = "\n".join(
            [
                method,
                path,
                canonical_query,
                "".join(f"{n}:{' '.join(out[n].split())}\n" for n in names),
                ";".join(names),
                payload,
            ]
        )
        day = stamp[:8]
        scope = f"{day}/{region}/s3/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key = self._key(frozen.secret_key, day, region)
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        out["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={frozen.access_key}/{scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        )
        return out
