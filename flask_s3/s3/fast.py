"""The fast store: S3 calls over our own keep-alive connections, signed with our own SigV4.

botocore spends 2-4 ms of CPU per request on its model, hooks and XML parsing; on a tree of
20,000 small files that, not the network, bounds a deploy. Every call a deploy makes is simple
enough to send here. Where the requests go and how (URL, signing region, TLS, timeouts, retry
budget, credentials) is not decided here: it comes from botocore as a ``Target``
(``resolve.py``), and ``tests/test_s3_differential.py`` proves each request equal to botocore's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import random
import select
import socket
import ssl
import threading
import time
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from email.utils import format_datetime, parsedate_to_datetime
from typing import IO, Any
from urllib.parse import quote

from ..headers import META_PREFIX, STANDARD
from . import xmlcodec
from .errors import StoreError, StoreUnreachable, is_retryable
from .filerange import FileRange
from .store import MAX_ANSWER, MAX_OBJECT, Body, ListingCheck, ObjectInfo, Sink
from .target import Target

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED = "UNSIGNED-PAYLOAD"
BLOCK_SIZE = 256 * 1024  # bytes per send of a streamed body (http.client's default is 8 KiB)
EXPECT_AFTER = 1024 * 1024  # bodies this large ask first (Expect: 100-continue)
CONTINUE_WAIT = 1.0  # seconds to wait for "100 Continue" before sending anyway, as botocore
HTTP_NAMES = {"Website-Redirect-Location": "x-amz-website-redirect-location"}
Redirect = Callable[[str], "Target | None"]


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


@dataclass
class Response:
    status: int
    data: bytes
    headers: dict[str, str]


class _Connections:
    """Idle keep-alive connections per host, at most ``size`` kept for each."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.idle: dict[str, list[http.client.HTTPConnection]] = {}
        self.lock = threading.Lock()
        self.context: ssl.SSLContext | None = None
        if target.scheme == "https":
            if target.verify is False:
                self.context = ssl.create_default_context()
                self.context.check_hostname = False
                self.context.verify_mode = ssl.CERT_NONE
            else:
                cafile = target.verify if isinstance(target.verify, str) else None
                self.context = ssl.create_default_context(cafile=cafile)

    def take(self, host: str) -> tuple[http.client.HTTPConnection, bool]:
        """A connection to ``host`` and whether it was used before (it may have gone stale)."""
        with self.lock:
            idle = self.idle.get(host)
            if idle:
                return idle.pop(), True
        return self.open_new(host), False

    def open_new(self, host: str) -> http.client.HTTPConnection:
        """A new connection to ``host``, connected (and its TLS handshake done)."""
        timeout = self.target.connect_timeout
        conn: http.client.HTTPConnection
        if self.context is not None:
            conn = http.client.HTTPSConnection(
                host, timeout=timeout, context=self.context, blocksize=BLOCK_SIZE
            )
        else:
            conn = http.client.HTTPConnection(host, timeout=timeout, blocksize=BLOCK_SIZE)
        conn.connect()
        if conn.sock is not None:
            conn.sock.settimeout(self.target.read_timeout)
        return conn

    def give_back(self, host: str, conn: http.client.HTTPConnection) -> None:
        with self.lock:
            idle = self.idle.setdefault(host, [])
            if len(idle) < self.target.pool_size:
                idle.append(conn)
                return
        conn.close()


def _unreachable(exc: BaseException, endpoint: str) -> StoreUnreachable:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return StoreUnreachable("tls", endpoint, exc.verify_message or str(exc))
    if isinstance(exc, ssl.SSLError):
        return StoreUnreachable("tls", endpoint, str(exc))
    if isinstance(exc, socket.gaierror):
        return StoreUnreachable("dns", endpoint, str(exc))
    if isinstance(exc, ConnectionRefusedError):
        return StoreUnreachable("refused", endpoint, str(exc))
    if isinstance(exc, TimeoutError):
        return StoreUnreachable("timeout", endpoint, str(exc) or "timed out")
    return StoreUnreachable("connection", endpoint, f"{type(exc).__name__}: {exc}")


class FastStore:
    """The Store protocol over http.client, for one bucket."""

    kind = "fast"

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
        self.target = target
        self.signer = Signer(credentials)
        self.expected_owner = expected_owner
        self.redirect = redirect
        self.connections = _Connections(target)
        self._redirect_lock = threading.Lock()

    @property
    def region(self) -> str:
        return self.target.region

    @property
    def endpoint(self) -> str:
        return self.target.endpoint

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
                response = self._exchange(
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
            self.target = target
            self.connections = _Connections(target)
        return True

    def _exchange(
        self,
        method: str,
        netloc: str,
        url: str,
        headers: dict[str, str],
        body: bytes | Body | None,
        size: int,
        sink: Sink | None = None,
        limit: int | None = None,
    ) -> Response:
        """One request and its answer; an answer over ``limit`` bytes is refused unread."""
        conn, reused = self.connections.take(netloc)
        payload: IO[bytes] | bytes | None = None
        try:
            if body is not None:
                payload = body if isinstance(body, bytes) else body()
                # Unsigned, as botocore adds it after signing; without it a file body
                # would go out chunked, which S3 refuses.
                headers = {**headers, "content-length": str(size)}
            if payload is not None and size >= EXPECT_AFTER:
                response = self._with_continue(conn, method, url, headers, payload)
            else:
                conn.request(method, url, body=payload, headers=headers)
                response = None
            if response is None:
                answer = conn.getresponse()
                streamed = sink is not None and answer.status < 300
                declared = answer.getheader("content-length") or ""
                if method == "HEAD" or streamed:  # not an answer we hold: no cap
                    limit = None
                if limit is not None and declared.isdigit() and int(declared) > limit:
                    raise self._too_large(method, url, int(declared), limit)
                data = (
                    b"" if streamed else answer.read() if limit is None else answer.read(limit + 1)
                )
                if limit is not None and len(data) > limit:  # chunked, or longer than declared
                    raise self._too_large(method, url, len(data), limit)
                response = Response(
                    answer.status, data, {k.lower(): v for k, v in answer.getheaders()}
                )
                if streamed:
                    assert sink is not None
                    _stream(answer, sink)
                keep = not answer.will_close
            else:
                keep = False
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            if reused and isinstance(
                exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
            ):
                raise _Stale() from None
            raise
        except BaseException:
            conn.close()
            raise
        finally:
            if payload is not None and not isinstance(payload, bytes):
                payload.close()
        if keep:
            self.connections.give_back(netloc, conn)
        else:
            conn.close()
        return response

    def _too_large(self, method: str, url: str, size: int, limit: int) -> StoreError:
        """An answer no S3 call of ours gets: refused before it fills the memory."""
        return StoreError(
            "AnswerTooLarge",
            200,
            f"the endpoint {self.target.endpoint} answered {method} {url.split('?')[0]} with "
            f"{size:,} bytes or more, where flask-s3 expects at most {limit:,}; it is broken "
            "or not S3. Check bucket.endpoint_url.",
        )

    def _with_continue(
        self,
        conn: http.client.HTTPConnection,
        method: str,
        url: str,
        headers: dict[str, str],
        payload: IO[bytes] | bytes,
    ) -> Response | None:
        """Headers first; the body only once S3 says "100 Continue" (or stays silent for 1 s).

        An answer instead of "100 Continue" (403, 301...) is returned without sending the
        body; otherwise the body is sent and None tells the caller to read the answer.
        """
        conn.putrequest(method, url, skip_host=True, skip_accept_encoding=True)
        for name, value in {**headers, "expect": "100-continue"}.items():
            conn.putheader(name, value)
        conn.endheaders()
        sock = conn.sock
        assert sock is not None
        ready, _, _ = select.select([sock], [], [], CONTINUE_WAIT)
        if ready:
            reader = sock.makefile("rb", buffering=0)
            status_line = reader.readline(65537).decode("iso-8859-1")
            parts = status_line.split(None, 2)
            status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            answer_headers = http.client.parse_headers(reader)
            if status != 100:
                declared = answer_headers.get("content-length") or "0"
                length = int(declared) if declared.isdigit() else 0
                if length > MAX_ANSWER and method != "HEAD":
                    raise self._too_large(method, url, length, MAX_ANSWER)
                data = reader.read(length) if length and method != "HEAD" else b""
                return Response(status, data, {k.lower(): v for k, v in answer_headers.items()})
        if isinstance(payload, FileRange) and type(sock) is socket.socket:  # plain TCP, no TLS
            payload.send_to(sock)  # page cache to socket, not through Python
        else:
            conn.send(payload)
        return None

    # -- the Store calls -------------------------------------------------------------------

    def bucket_exists(self) -> bool:
        try:
            self.send("HEAD", "", "HeadBucket")
        except StoreError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def create_bucket(self, region: str, acl: str | None) -> None:
        headers = {"x-amz-acl": acl} if acl else {}
        body = None if region == "us-east-1" else xmlcodec.create_bucket_xml(region)
        self.send("PUT", "", "CreateBucket", headers=headers, body=body, size=len(body or b""))

    def _pages(
        self, prefix: str, delimiter: str = "", start_after: str = "", page_size: int = 1000
    ) -> Iterator[xmlcodec.Page]:
        token: str | None = None
        check = ListingCheck(self.endpoint, prefix)
        while True:
            query: list[tuple[str, str | None]] = [("list-type", "2"), ("prefix", prefix)]
            if delimiter:
                query.append(("delimiter", delimiter))
            if start_after:  # botocore's paginator sends StartAfter with every page; so do we
                query.append(("start-after", start_after))
            if token:
                query.append(("continuation-token", token))
            if page_size != 1000:
                query.append(("max-keys", str(page_size)))
            query.append(("encoding-type", "url"))
            response = self.send("GET", "", "ListObjectsV2", query=query)
            try:
                page = xmlcodec.Page(response.data)
            except ET.ParseError as exc:  # not S3's XML: say so instead of a traceback
                raise StoreError(
                    "MalformedListing",
                    response.status,
                    f"unreadable listing: {exc}",
                    operation="ListObjectsV2",
                ) from None
            check.page([o.key for o in page.objects], page.folders, page.next_token)
            yield page
            token = page.next_token
            if not token:
                return

    def list_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        for page in self._pages(prefix):
            yield from page.objects

    def list_level(self, prefix: str) -> tuple[list[ObjectInfo], list[str]]:
        objects: list[ObjectInfo] = []
        folders: list[str] = []
        for page in self._pages(prefix, "/"):
            objects.extend(page.objects)
            folders.extend(f for f in page.folders if f)
        return objects, folders

    def list_after(
        self, prefix: str, start_after: str, until: str | None, page_size: int = 1000
    ) -> list[ObjectInfo]:
        found: list[ObjectInfo] = []
        for page in self._pages(prefix, start_after=start_after, page_size=page_size):
            found += page.objects
            if until is not None and any(o.key > until for o in page.objects):
                break
        return found

    def put_object(
        self,
        key: str,
        body: Body,
        *,
        size: int,
        md5_b64: str,
        headers: Mapping[str, str],
        acl: str | None = None,
        if_none_match: bool = False,
    ) -> None:
        wire = {"content-md5": md5_b64, **_wire_headers(headers)}
        if if_none_match:
            wire["if-none-match"] = "*"
        if acl:
            wire["x-amz-acl"] = acl
        self.send("PUT", key, "PutObject", headers=wire, body=body, size=size, streaming=True)

    def copy_in_place(self, key: str, headers: Mapping[str, str], acl: str | None = None) -> str:
        wire = {
            "x-amz-copy-source": f"{self.bucket}/{quote(key, safe='/~')}",
            "x-amz-metadata-directive": "REPLACE",
            **_wire_headers(headers),
        }
        if acl:
            wire["x-amz-acl"] = acl
        answer = self.send("PUT", key, "CopyObject", headers=wire)
        return xmlcodec.text_of(answer.data, "ETag").strip('"')

    def create_multipart_upload(
        self, key: str, headers: Mapping[str, str], acl: str | None = None
    ) -> str:
        wire = _wire_headers(headers)
        if acl:
            wire["x-amz-acl"] = acl
        answer = self.send(
            "POST", key, "CreateMultipartUpload", query=[("uploads", None)], headers=wire
        )
        return xmlcodec.text_of(answer.data, "UploadId")

    def upload_part(
        self, key: str, upload_id: str, number: int, body: Body, *, size: int, md5_b64: str
    ) -> str:
        answer = self.send(
            "PUT",
            key,
            "UploadPart",
            query=[("partNumber", str(number)), ("uploadId", upload_id)],
            headers={"content-md5": md5_b64},
            body=body,
            size=size,
            streaming=True,
        )
        return answer.headers.get("etag", "").strip('"')

    def complete_multipart_upload(
        self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> str:
        body = xmlcodec.complete_xml([(n, f'"{etag}"') for n, etag in parts])
        answer = self.send(
            "POST",
            key,
            "CompleteMultipartUpload",
            query=[("uploadId", upload_id)],
            body=body,
            size=len(body),
        )
        return xmlcodec.text_of(answer.data, "ETag").strip('"')

    def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        self.send("DELETE", key, "AbortMultipartUpload", query=[("uploadId", upload_id)])

    def list_multipart_uploads(self, prefix: str) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        key_marker = id_marker = ""
        check = ListingCheck(self.endpoint, prefix)
        while True:
            query: list[tuple[str, str | None]] = [("uploads", None), ("prefix", prefix)]
            if key_marker:
                query += [("key-marker", key_marker), ("upload-id-marker", id_marker)]
            answer = self.send("GET", "", "ListMultipartUploads", query=query)
            page, key_marker, id_marker = xmlcodec.uploads_of(answer.data)
            check.page(
                [k for k, _ in page], [], f"{key_marker}\0{id_marker}" if key_marker else None
            )
            found += page
            if not key_marker:
                return found

    def delete_objects(self, keys: Sequence[str]) -> dict[str, str]:
        body = xmlcodec.delete_xml(keys)
        response = self.send(
            "POST",
            "",
            "DeleteObjects",
            query=[("delete", None)],
            headers=_crc32_headers(body),
            body=body,
            size=len(body),
        )
        return xmlcodec.delete_errors(response.data)

    def delete_object(self, key: str) -> None:
        self.send("DELETE", key, "DeleteObject")

    def get_object(self, key: str) -> bytes:
        return self.send("GET", key, "GetObject").data

    def read_object(self, key: str, sink: Sink) -> dict[str, str]:
        return head_to_headers(self.send("GET", key, "GetObject", sink=sink).headers)

    def head_object(self, key: str) -> dict[str, str]:
        return head_to_headers(self.send("HEAD", key, "HeadObject").headers)

    def get_bucket_cors(self) -> list[dict[str, Any]] | None:
        try:
            data = self.send("GET", "", "GetBucketCors", query=[("cors", None)]).data
        except StoreError as exc:
            if exc.code in ("NoSuchCORSConfiguration", "NoSuchCors"):
                return None
            raise
        return xmlcodec.parse_cors(data)

    def put_bucket_cors(self, rules: Sequence[Mapping[str, Any]]) -> None:
        body = xmlcodec.cors_xml(rules)
        self.send(
            "PUT",
            "",
            "PutBucketCors",
            query=[("cors", None)],
            headers=_crc32_headers(body),
            body=body,
            size=len(body),
        )

    def get_bucket_policy(self) -> str | None:
        try:
            data = self.send("GET", "", "GetBucketPolicy", query=[("policy", None)]).data
        except StoreError as exc:
            if exc.code in ("NoSuchBucketPolicy", "NoSuchPolicy"):
                return None
            raise
        return data.decode("utf-8")

    def put_bucket_policy(self, text: str) -> None:
        body = text.encode("utf-8")
        self.send(
            "PUT",
            "",
            "PutBucketPolicy",
            query=[("policy", None)],
            headers=_crc32_headers(body),
            body=body,
            size=len(body),
        )

    def delete_bucket_policy(self) -> None:
        self.send("DELETE", "", "DeleteBucketPolicy", query=[("policy", None)])

    def put_bucket_encryption(self, rule: Mapping[str, Any]) -> None:
        body = xmlcodec.encryption_xml(rule)
        self.send(
            "PUT",
            "",
            "PutBucketEncryption",
            query=[("encryption", None)],
            headers=_crc32_headers(body),
            body=body,
            size=len(body),
        )

    def get_public_access_block(self) -> dict[str, bool] | None:
        try:
            data = self.send("GET", "", "GetPublicAccessBlock", query=[("publicAccessBlock", None)])
        except StoreError as exc:
            if exc.code == "NoSuchPublicAccessBlockConfiguration":
                return None
            raise
        return xmlcodec.parse_public_access_block(data.data)


class _Partial(Exception):
    """A streamed body broke off after the sink received part of it: not retryable."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _stream(answer: http.client.HTTPResponse, sink: Sink) -> None:
    delivered = False
    try:
        while block := answer.read(BLOCK_SIZE):
            delivered = True
            sink(block)
        if answer.length:  # read(n) ends quietly when the server closes before Content-Length
            raise http.client.IncompleteRead(b"", answer.length)
    except (OSError, http.client.HTTPException) as exc:
        if delivered:
            raise _Partial(exc) from None
        raise


class _Stale(Exception):
    """A kept-alive connection the server had closed: try once more on a new one."""


def _wire_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Our canonical header names as they go on the wire (metadata as x-amz-meta-*)."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        if name.startswith(META_PREFIX) or name in STANDARD:
            out[HTTP_NAMES.get(name, name).lower()] = value
    return out


def _crc32_headers(body: bytes) -> dict[str, str]:
    """The checksum botocore sends on calls that require one (CRC32, when_required)."""
    crc = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    return {"x-amz-checksum-crc32": crc, "x-amz-sdk-checksum-algorithm": "CRC32"}


_HEAD_NAMES = {name.lower(): name for name in STANDARD}
_HEAD_NAMES["x-amz-website-redirect-location"] = "Website-Redirect-Location"


def head_to_headers(raw: Mapping[str, str]) -> dict[str, str]:
    """A HEAD answer's headers in our canonical form, as ``headers.from_head`` reads boto3's."""
    out: dict[str, str] = {}
    for lower, value in raw.items():
        name = _HEAD_NAMES.get(lower)
        if name is not None:
            if not value:
                continue
            if name == "Expires":
                value = _http_date(value)
            out[name] = value
        elif lower.startswith(META_PREFIX):
            out[lower] = value
    return out


def _http_date(value: str) -> str:
    try:
        return format_datetime(parsedate_to_datetime(value), usegmt=True)
    except (TypeError, ValueError, IndexError):
        return value


def _backoff(attempt: int) -> None:
    """botocore's standard mode: a random fraction of 2**attempt seconds, at most 20."""
    time.sleep(random.random() * min(20.0, 2.0 ** (attempt - 1)))
