"""The hot, simple S3 calls (PutObject, ListObjectsV2, small GETs) sent with our own SigV4.

botocore spends 2-4 ms of CPU per request on its model, hooks and XML parsing, and a general
HTTP library another few hundred microseconds; on a tree of 20,000 small files that, not the
network, bounds a deploy. These calls are simple enough to sign and parse here, over
keep-alive ``http.client`` connections. Everything else (bucket settings, copies, batch
deletes, HEADs of objects) stays on boto3, and the client's own credentials, region,
endpoint and addressing style are reused, so both paths talk to the same place as the same
identity. With a proxy configured in the environment the fast path steps aside and boto3,
which honours it, carries everything.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import os
import random
import threading
import time
import weakref
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from .headers import META_PREFIX, STANDARD

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
MAX_ATTEMPTS = 5  # botocore's standard retry mode
RETRY_STATUS = frozenset({500, 502, 503, 504})
RETRY_CODES = frozenset({"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable"})
BLOCK_SIZE = 256 * 1024  # bytes per send of a streamed body (http.client's default is 8 KiB)
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 60.0
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")
HTTP_NAMES = {
    "Website-Redirect-Location": "x-amz-website-redirect-location",
}

_wires: weakref.WeakKeyDictionary[Any, Wire | None] = weakref.WeakKeyDictionary()


def wire_for(client: S3Client, bucket: str) -> Wire | None:
    """The fast path for this client, or None when it can't be used (e.g. no credentials)."""
    if any(os.environ.get(v) or os.environ.get(v.lower()) for v in PROXY_VARIABLES):
        return None
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


@dataclass
class Response:
    status: int
    data: bytes


class _Connections:
    """Idle keep-alive connections per host, at most ``size`` kept for each."""

    def __init__(self, scheme: str, size: int) -> None:
        self.size = size
        self.scheme = scheme
        self.idle: dict[str, list[http.client.HTTPConnection]] = {}
        self.lock = threading.Lock()
        self.context: Any = None
        if scheme == "https":
            import ssl

            from botocore.httpsession import get_cert_path

            self.context = ssl.create_default_context(cafile=get_cert_path(True))

    def take(self, host: str) -> tuple[http.client.HTTPConnection, bool]:
        """A connection to ``host`` and whether it was used before (it may have gone stale)."""
        with self.lock:
            idle = self.idle.get(host)
            if idle:
                return idle.pop(), True
        conn: http.client.HTTPConnection
        if self.scheme == "https":
            conn = http.client.HTTPSConnection(
                host, timeout=CONNECT_TIMEOUT, context=self.context, blocksize=BLOCK_SIZE
            )
        else:
            conn = http.client.HTTPConnection(host, timeout=CONNECT_TIMEOUT, blocksize=BLOCK_SIZE)
        conn.connect()
        if conn.sock is not None:
            conn.sock.settimeout(READ_TIMEOUT)
        return conn, False

    def give_back(self, host: str, conn: http.client.HTTPConnection) -> None:
        with self.lock:
            idle = self.idle.setdefault(host, [])
            if len(idle) < self.size:
                idle.append(conn)
                return
        conn.close()


class Wire:
    """Signed S3 requests over keep-alive connections, as many as the client's pool."""

    def __init__(
        self,
        credentials: Any,
        *,
        region: str,
        endpoint_url: str,
        path_style: bool,
        pool_size: int,
    ) -> None:
        self.credentials = credentials  # anything with get_frozen_credentials()
        self.region = region
        endpoint = urlsplit(endpoint_url)
        self.scheme = endpoint.scheme
        self.netloc = endpoint.netloc
        self.endpoint_url = endpoint_url
        self.path_style = path_style
        self.connections = _Connections(self.scheme, pool_size)
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
        return out  # "host" included: http.client then sends exactly the one we signed

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
    ) -> Response:
        host_and_prefix = self.bucket_host(bucket)
        assert host_and_prefix is not None
        host, prefix = host_and_prefix
        path = (
            quote(f"{prefix}/{key}", safe="/~") if key or not prefix else quote(prefix, safe="/~")
        )
        target = path + (f"?{query}" if query else "")
        attempt = 0
        fresh_retry = True  # a reused connection the server already closed costs no attempt
        while True:
            signed = self.signed_headers(method, host, path, query, headers)
            payload = body() if body is not None else None
            reused = False
            try:
                conn, reused = self.connections.take(host)
                try:
                    conn.request(method, target, body=payload, headers=signed)
                    answer = conn.getresponse()
                    response = Response(answer.status, answer.read())
                except BaseException:
                    conn.close()
                    raise
                if answer.will_close:
                    conn.close()
                else:
                    self.connections.give_back(host, conn)
            except (OSError, http.client.HTTPException) as exc:
                if reused and fresh_retry:
                    fresh_retry = False
                    continue
                attempt += 1
                if attempt == MAX_ATTEMPTS:
                    from botocore.exceptions import EndpointConnectionError

                    raise EndpointConnectionError(
                        endpoint_url=self.endpoint_url, error=exc
                    ) from None
                _backoff(attempt - 1)
                continue
            finally:
                if payload is not None and not isinstance(payload, bytes):
                    payload.close()
            if response.status < 300:
                return response
            code, message = _error_of(response.data)
            attempt += 1
            if attempt < MAX_ATTEMPTS and (response.status in RETRY_STATUS or code in RETRY_CODES):
                _backoff(attempt - 1)
                continue
            from botocore.exceptions import ClientError

            error: Any = {
                "Error": {"Code": code or str(response.status), "Message": message},
                "ResponseMetadata": {"HTTPStatusCode": response.status},
            }
            raise ClientError(error, operation)

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
            # STANDARD holds the x-amz-server-side-encryption names too (issue 14): sent as is.
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

    def _list_pages(self, bucket: str, prefix: str, delimiter: str = "") -> Iterator[ET.Element]:
        """ListObjectsV2 result pages under ``prefix``, following continuation tokens."""
        token: str | None = None
        while True:
            params = [("list-type", "2"), ("max-keys", "1000"), ("prefix", prefix)]
            if delimiter:
                params.append(("delimiter", delimiter))
            if token:
                params.append(("continuation-token", token))
            query = "&".join(
                f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in sorted(params)
            )
            response = self._send("GET", bucket, "", query, {}, None, "ListObjectsV2")
            root = ET.fromstring(response.data)
            yield root
            token = root.findtext(f"{NS}NextContinuationToken")
            if root.findtext(f"{NS}IsTruncated") != "true" or not token:
                return

    def list_objects(self, bucket: str, prefix: str) -> Iterator[tuple[str, int, str]]:
        """Every (key, size, etag) under ``prefix``, page by page."""
        for root in self._list_pages(bucket, prefix):
            yield from _contents(root)

    def list_level(self, bucket: str, prefix: str) -> tuple[list[tuple[str, int, str]], list[str]]:
        """The objects directly under ``prefix`` and its sub-folders (``prefix/name/``)."""
        objects: list[tuple[str, int, str]] = []
        folders: list[str] = []
        for root in self._list_pages(bucket, prefix, delimiter="/"):
            objects.extend(_contents(root))
            folders.extend(
                p.findtext(f"{NS}Prefix") or "" for p in root.iter(f"{NS}CommonPrefixes")
            )
        return objects, [f for f in folders if f]


def _contents(root: ET.Element) -> Iterator[tuple[str, int, str]]:
    """(key, size, etag) of each <Contents> of a listing page.

    Walks the children directly: ``findtext`` per field costs twice the parse itself.
    """
    for item in root:
        if item.tag != _CONTENTS:
            continue
        key = size = etag = None
        for child in item:
            tag = child.tag
            if tag == _KEY:
                key = child.text
            elif tag == _SIZE:
                size = child.text
            elif tag == _ETAG:
                etag = child.text
        yield key or "", int(size or 0), (etag or "").strip('"')


_CONTENTS, _KEY, _SIZE, _ETAG = (NS + name for name in ("Contents", "Key", "Size", "ETag"))


def _backoff(attempt: int) -> None:
    time.sleep(min(20.0, random.random() * (2**attempt)))


def _error_of(data: bytes) -> tuple[str, str]:
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return "", ""
    return root.findtext("Code") or "", root.findtext("Message") or ""
