"""One S3 request of the fast store: signed as botocore signs it, sent, retried, redirected.

``SignedRequests.send`` turns a call (method, key, query, headers, body) into a SigV4-signed
request, hands it to the HTTP layer (``transport.py``), and reads S3's answer: an error body, a
retryable code, a bucket in another region (asked of botocore once, as its redirector does).
"""

from __future__ import annotations

import hashlib
import http.client
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from . import xmlcodec
from .errors import StoreError, is_retryable
from .sigv4 import EMPTY_SHA256, UNSIGNED, Signer, clock, host_header, query_string
from .store import MAX_ANSWER, MAX_OBJECT, Body, Sink
from .target import Target
from .transport import (
    BLOCK_SIZE,
    Response,
    Transport,
    _backoff,
    _Partial,
    _Stale,
    _unreachable,
)

Redirect = Callable[[str], "Target | None"]


class SignedRequests:
    """Signed S3 requests for one bucket, with botocore's retries, over a ``Transport``."""

    def __init__(
        self,
        bucket: str,
        target: Target,
        credentials: Any,
        *,
        expected_owner: str | None = None,
        redirect: Redirect | None = None,
    ) -> None:
        self.bucket = bucket
        self.http = Transport(target)
        self.signer = Signer(credentials)
        self.expected_owner = expected_owner
        self.redirect = redirect
        self._redirect_lock = threading.Lock()

    @property
    def target(self) -> Target:
        return self.http.target

    # -- one request -----------------------------------------------------------------------

    def path_of(self, key: str) -> str:
        base = self.target.base_path
        return f"{base}/{quote(key, safe='/~')}" if key else (base or "/")

    def prepare(
        self,
        method: str,
        key: str,
        query: Sequence[tuple[str, str | None]],
        headers: Mapping[str, str],
        payload: str,
        stamp: str | None = None,
    ) -> tuple[str, str, dict[str, str]]:
        """(url target, host, signed headers) of a request, as botocore would make it."""
        target = self.target
        path = self.path_of(key)
        url_query = query_string(query, canonical=False)
        host = host_header(target.scheme, target.host)
        all_headers = dict(headers)
        if self.expected_owner:
            all_headers["x-amz-expected-bucket-owner"] = self.expected_owner
        signed = self.signer.sign(
            method,
            host,
            path,
            query_string(query, canonical=True),
            all_headers,
            region=target.region,
            payload=payload,
            stamp=stamp or clock(),
        )
        return path + (f"?{url_query}" if url_query else ""), host, signed

    def payload_hash(self, body: bytes | Body | None, *, streaming: bool, checksum: bool) -> str:
        """x-amz-content-sha256 by botocore's rule for S3."""
        sign = self.target.sign_payload
        if sign is None:
            sign = self.target.scheme != "https" or not checksum or not streaming
        if not sign:
            return UNSIGNED
        if body is None:
            return EMPTY_SHA256
        if isinstance(body, bytes):
            return hashlib.sha256(body).hexdigest()
        opened = body()
        if isinstance(opened, bytes):
            return hashlib.sha256(opened).hexdigest()
        digest = hashlib.sha256()
        with opened:
            for block in iter(lambda: opened.read(BLOCK_SIZE), b""):
                digest.update(block)
        return digest.hexdigest()

    def send(
        self,
        method: str,
        key: str,
        operation: str,
        *,
        query: Sequence[tuple[str, str | None]] = (),
        headers: Mapping[str, str] | None = None,
        body: bytes | Body | None = None,
        size: int = 0,
        streaming: bool = False,
        sink: Sink | None = None,
    ) -> Response:
        """Send with botocore's standard retries; follow a region redirect once, as it does.

        With ``sink``, a successful answer's body goes there block by block instead of into
        ``Response.data``; a failure after the first block is not retried (the sink has it)."""
        headers = dict(headers or {})
        checksum = any(h.lower() in ("content-md5", "x-amz-checksum-crc32") for h in headers)
        payload = self.payload_hash(body, streaming=streaming, checksum=checksum)
        attempt = 0
        redirected = False
        fresh_retry = True  # a reused connection the server already closed costs no attempt
        while True:
            url, _, signed = self.prepare(method, key, query, headers, payload)
            try:
                response = self.http.exchange(
                    method,
                    self.target.host,
                    url,
                    signed,
                    body,
                    size,
                    sink=sink,
                    limit=MAX_OBJECT if operation == "GetObject" else MAX_ANSWER,
                )
            except _Partial as exc:
                raise _unreachable(exc.cause, self.target.endpoint) from None
            except _Stale:
                if fresh_retry:
                    fresh_retry = False
                    continue
                response = None
                error: BaseException | None = ConnectionResetError("connection closed")
            except (OSError, http.client.HTTPException) as exc:
                if isinstance(exc, OSError) and exc.filename is not None:
                    # Opening the body (a local file) failed, not the network: the boto3
                    # store opens it before botocore sends, so nothing retries it there either.
                    raise
                response, error = None, exc
            else:
                error = None
            if response is None:
                attempt += 1
                assert error is not None
                if attempt >= self.target.max_attempts:
                    raise _unreachable(error, self.target.endpoint) from None
                _backoff(attempt)
                continue
            if response.status < 300 and not (
                operation in ("CopyObject", "CompleteMultipartUpload")
                and xmlcodec.is_error_body(response.data)
            ):
                return response
            code, message, region = xmlcodec.error_of(response.data)
            region = response.headers.get("x-amz-bucket-region", "") or region
            if not code:
                code = str(response.status)
            if not redirected and self._follow(response.status, code, region):
                redirected = True
                continue
            attempt += 1
            if attempt < self.target.max_attempts and is_retryable(response.status, code):
                _backoff(attempt)
                continue
            error = StoreError(code, response.status, message, operation=operation, region=region)
            error.expected_owner = self.expected_owner or ""
            raise error

    def _follow(self, status: int, code: str, region: str) -> bool:
        """Switch to the bucket's region, asking botocore where that is (its redirector's rule)."""
        wrong_region = status == 301 or code in (
            "PermanentRedirect",
            "AuthorizationHeaderMalformed",
        )
        wrong_region = wrong_region or (status == 400 and bool(region))
        if not (wrong_region and region and region != self.target.region and self.redirect):
            return False
        with self._redirect_lock:
            if self.target.region == region:
                return True
            target = self.redirect(region)
            if target is None:
                return False
            self.http = Transport(target)
        return True
