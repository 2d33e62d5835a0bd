"""The two hot S3 calls, PutObject and ListObjectsV2, sent over urllib3 with our own SigV4.

botocore spends 2-4 ms of CPU per request on its model, hooks and XML parsing; on a tree of
20,000 small files that, not the network, bounds a deploy. These two calls are simple enough
to sign and parse here. Everything else (bucket calls, copies, deletes, HEADs) stays on boto3,
and the client's own credentials, region, endpoint and addressing style are reused, so both
paths talk to the same place as the same identity.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import time
import weakref
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from .headers import META_PREFIX, STANDARD

if TYPE_CHECKING:
    import urllib3
    from mypy_boto3_s3 import S3Client

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
MAX_ATTEMPTS = 5  # botocore's standard retry mode
RETRY_STATUS = frozenset({500, 502, 503, 504})
RETRY_CODES = frozenset({"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable"})
HTTP_NAMES = {
    "Website-Redirect-Location": "x-amz-website-redirect-location",
}

_wires: weakref.WeakKeyDictionary[Any, Wire | None] = weakref.WeakKeyDictionary()


def wire_for(client: S3Client, bucket: str) -> Wire | None:
    """The fast path for this client, or None when it can't be used (e.g. no credentials)."""
    wire: Wire | None
    own: Any = getattr(client, "wire", False)
    if own is not False:  # our own client (remote.Client) made its wire without botocore
        wire = own
    else:
        try:
            wire = _wires[client]
        except KeyError:
            wire = None
            credentials = getattr(getattr(client, "_request_signer", None), "_credentials", None)
            meta = client.meta
            if credentials is not None and meta.endpoint_url:
                config = meta.config
                wire = Wire(
                    credentials,
                    region=meta.region_name or "us-east-1",
                    endpoint_url=meta.endpoint_url,
                    path_style=(getattr(config, "s3", None) or {}).get("addressing_style")
                    == "path",
                    pool_size=int(getattr(config, "max_pool_connections", 10) or 10),
                )
            _wires[client] = wire
    if wire is not None and wire.bucket_host(bucket) is None:
        return None
    return wire


class Wire:
    """Signed PutObject / ListObjectsV2 over a urllib3 pool sized like the client's."""

    def __init__(
        self,
        credentials: Any,
        *,
        region: str,
        endpoint_url: str,
        path_style: bool,
        pool_size: int,
    ) -> None:
        import urllib3

        self.credentials = credentials  # anything with get_frozen_credentials()
        self.region = region
        endpoint = urlsplit(endpoint_url)
        self.scheme = endpoint.scheme
        self.netloc = endpoint.netloc
        self.endpoint_url = endpoint_url
        self.path_style = path_style
        kwargs: dict[str, Any] = {}
        if self.scheme == "https":
            from botocore.httpsession import get_cert_path

            kwargs["ca_certs"] = get_cert_path(True)
            kwargs["cert_reqs"] = "CERT_REQUIRED"
        self.pool = urllib3.PoolManager(
            num_pools=4,
            maxsize=pool_size,
            retries=False,
            timeout=urllib3.Timeout(connect=5.0, read=60.0),
            **kwargs,
        )
        self._keys: dict[tuple[str, str], bytes] = {}

    def bucket_host(self, bucket: str) -> tuple[str, str] | None:
        """(host, path prefix) for the bucket, as the client's addressing style says."""
        if self.path_style:
            return self.netloc, "/" + bucket
        if not bucket.replace("-", "").isalnum() or bucket.lower() != bucket:
            return None  # names that need path style on AWS: leave them to boto3
        return f"{bucket}.{self.netloc}", ""

    # -- signing -------------------------------------------------------------------------

    def _signing_key(self, secret: str, day: str) -> bytes:
        cached = self._keys.get((secret, day))
        if cached is None:
            key = hmac.new(f"AWS4{secret}".encode(), day.encode(), hashlib.sha256).digest()
            for part in (self.region, "s3", "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._keys = {(secret, day): key}
            cached = key
        return cached

    def signed_headers(
        self, method: str, host: str, path: str, query: str, headers: Mapping[str, str]
    ) -> dict[str, str]:
        frozen = self.credentials.get_frozen_credentials()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        day = stamp[:8]
        out = {k.lower(): v for k, v in headers.items()}
        out["host"] = host
        out["x-amz-date"] = stamp
        out["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
        if frozen.token:
            out["x-amz-security-token"] = frozen.token
        names = sorted(out)
        canonical = "\n".join(
            [
                method,
                path,
                query,
                "".join(f"{n}:{' '.join(out[n].split())}\n" for n in names),
                ";".join(names),
                "UNSIGNED-PAYLOAD",
            ]
        )
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        signature = hmac.new(
            self._signing_key(frozen.secret_key, day), to_sign.encode(), hashlib.sha256
        ).hexdigest()
        out["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={frozen.access_key}/{scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        )
        del out["host"]  # urllib3 sends it from the URL
        return out

    # -- requests ------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        bucket: str,
        key: str,
        query: str,
        headers: Mapping[str, str],
        body: Callable[[], IO[bytes] | bytes] | None,
        operation: str,
    ) -> urllib3.BaseHTTPResponse:
        import urllib3

        host_and_prefix = self.bucket_host(bucket)
        assert host_and_prefix is not None
        host, prefix = host_and_prefix
        path = (
            quote(f"{prefix}/{key}", safe="/~") if key or not prefix else quote(prefix, safe="/~")
        )
        url = f"{self.scheme}://{host}{path}" + (f"?{query}" if query else "")
        for attempt in range(MAX_ATTEMPTS):
            signed = self.signed_headers(method, host, path, query, headers)
            payload = body() if body is not None else None
            try:
                response = self.pool.request(
                    method, url, body=payload, headers=signed, preload_content=True
                )
            except urllib3.exceptions.HTTPError as exc:
                if attempt + 1 == MAX_ATTEMPTS:
                    from botocore.exceptions import EndpointConnectionError

                    raise EndpointConnectionError(
                        endpoint_url=self.endpoint_url, error=exc
                    ) from None
                _backoff(attempt)
                continue
            finally:
                if payload is not None and not isinstance(payload, bytes):
                    payload.close()
            if response.status < 300:
                return response
            code, message = _error_of(response.data)
            if attempt + 1 < MAX_ATTEMPTS and (
                response.status in RETRY_STATUS or code in RETRY_CODES
            ):
                _backoff(attempt)
                continue
            from botocore.exceptions import ClientError

            error: Any = {
                "Error": {"Code": code or str(response.status), "Message": message},
                "ResponseMetadata": {"HTTPStatusCode": response.status},
            }
            raise ClientError(error, operation)
        raise AssertionError("unreachable")

    def put_object(
        self,
        bucket: str,
        key: str,
        body: Callable[[], IO[bytes] | bytes],
        *,
        size: int,
        md5_b64: str,
        headers: Mapping[str, str],
        acl: str | None = None,
        if_none_match: bool = False,
    ) -> None:
        """PutObject; ``body`` opens the bytes afresh for each attempt."""
        http: dict[str, str] = {"content-length": str(size), "content-md5": md5_b64}
        if if_none_match:
            http["if-none-match"] = "*"
        for name, value in headers.items():
            if name.startswith(META_PREFIX) or name in STANDARD:
                http[HTTP_NAMES.get(name, name).lower()] = value
        if acl:
            http["x-amz-acl"] = acl
        self._send("PUT", bucket, key, "", http, body, "PutObject")

    def put_bytes(self, bucket: str, key: str, data: bytes, **headers: str) -> None:
        """PutObject of a small in-memory body (manifest, lock) with canonical header names."""
        import base64

        md5_b64 = base64.b64encode(hashlib.md5(data).digest()).decode()
        if_none_match = headers.pop("If-None-Match", "") == "*"
        self.put_object(
            bucket,
            key,
            lambda: data,
            size=len(data),
            md5_b64=md5_b64,
            headers=headers,
            if_none_match=if_none_match,
        )

    def delete(self, bucket: str, key: str) -> None:
        self._send("DELETE", bucket, key, "", {}, None, "DeleteObject")

    def head_bucket(self, bucket: str) -> None:
        """HeadBucket: returns when the bucket is there and ours; ClientError otherwise."""
        self._send("HEAD", bucket, "", "", {}, None, "HeadBucket")

    def get(self, bucket: str, key: str, query: str = "", operation: str = "GetObject") -> bytes:
        """A GET of an object (``key``) or of a bucket subresource (``query``, e.g. ``cors=``)."""
        response = self._send("GET", bucket, key, query, {}, None, operation)
        return bytes(response.data)

    def list_objects(self, bucket: str, prefix: str) -> Iterator[tuple[str, int, str]]:
        """Every (key, size, etag) under ``prefix``, page by page."""
        token: str | None = None
        while True:
            params = [("list-type", "2"), ("max-keys", "1000"), ("prefix", prefix)]
            if token:
                params.append(("continuation-token", token))
            query = "&".join(
                f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in sorted(params)
            )
            response = self._send("GET", bucket, "", query, {}, None, "ListObjectsV2")
            root = ET.fromstring(response.data)
            for item in root.iter(f"{NS}Contents"):
                yield (
                    item.findtext(f"{NS}Key") or "",
                    int(item.findtext(f"{NS}Size") or 0),
                    (item.findtext(f"{NS}ETag") or "").strip('"'),
                )
            token = root.findtext(f"{NS}NextContinuationToken")
            if root.findtext(f"{NS}IsTruncated") != "true" or not token:
                return


def _backoff(attempt: int) -> None:
    time.sleep(min(20.0, random.random() * (2**attempt)))


def _error_of(data: bytes) -> tuple[str, str]:
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return "", ""
    return root.findtext("Code") or "", root.findtext("Message") or ""
