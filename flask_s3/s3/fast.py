"""The fast store: S3 calls over our own keep-alive connections, signed with our own SigV4.

botocore spends 2-4 ms of CPU per request on its model, hooks and XML parsing; on a tree of
20,000 small files that, not the network, bounds a deploy. Every call a deploy makes is simple
enough to send here. Where the requests go and how (URL, signing region, TLS, timeouts, retry
budget, credentials) is not decided here: it comes from botocore as a ``Target``
(``resolve.py``), and ``tests/test_s3_differential.py`` proves each request equal to botocore's.

Three layers below the calls here: ``signed.py`` (sign, send, retry, follow a region redirect),
``sigv4.py`` (the signature) and ``transport.py`` (HTTP: connections, framing, 100-continue).
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Iterator, Mapping, Sequence
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import quote

from ..headers import META_PREFIX, STANDARD
from . import xmlcodec
from .errors import StoreError
from .signed import Redirect, SignedRequests
from .store import Body, ListingCheck, ObjectInfo, Sink
from .target import Target
from .transport import _Connections

HTTP_NAMES = {"Website-Redirect-Location": "x-amz-website-redirect-location"}


class ParsedPages:
    """Listing pages parsed before, by the SHA-256 of their bytes.

    An apply lists the bucket twice: the lock-free look, then again under the lock (another
    apply may have written in between, so the second listing is always sent). Most pages come
    back byte for byte the same; parsing one is a pure function of its bytes, so a page whose
    bytes were parsed before reuses that result (the same keys, sizes and ETags the XML says)
    instead of parsing again. Nothing is skipped but the parse: every page is still fetched
    and checked. The pages' lists are shared and never changed by their readers. A digest,
    not the bytes, is kept: a 200,000-object listing would otherwise be held twice.
    """

    def __init__(self) -> None:
        self._seen: dict[bytes, xmlcodec.Page] = {}

    def parse(self, data: bytes) -> xmlcodec.Page:
        """The page of ``data`` (ElementTree's ParseError, a SyntaxError, when it is not XML)."""
        digest = hashlib.sha256(data).digest()
        page = self._seen.get(digest)  # one dict operation: safe across the listing threads
        if page is None:
            page = self._seen[digest] = xmlcodec.Page(data)
        return page


class FastStore:
    """The Store protocol over http.client, for one bucket: its calls as signed requests."""

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
        self.requests = SignedRequests(
            bucket, target, credentials, expected_owner=expected_owner, redirect=redirect
        )
        self.pages = ParsedPages()

    @property
    def target(self) -> Target:
        """Where the requests go now (a region redirect may change it)."""
        return self.requests.target

    @property
    def region(self) -> str:
        return self.requests.target.region

    @property
    def endpoint(self) -> str:
        return self.requests.target.endpoint

    @property
    def connections(self) -> _Connections:
        """The warm connections (``reach.py`` opens them while the app imports)."""
        return self.requests.http.connections

    def bucket_exists(self) -> bool:
        try:
            self.requests.send("HEAD", "", "HeadBucket")
        except StoreError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def create_bucket(self, region: str, acl: str | None) -> None:
        headers = {"x-amz-acl": acl} if acl else {}
        body = None if region == "us-east-1" else xmlcodec.create_bucket_xml(region)
        self.requests.send(
            "PUT", "", "CreateBucket", headers=headers, body=body, size=len(body or b"")
        )

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
            response = self.requests.send("GET", "", "ListObjectsV2", query=query)
            try:
                page = self.pages.parse(response.data)
            except SyntaxError as exc:  # ElementTree's ParseError: not S3's XML, say so
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
        if_match: str | None = None,
    ) -> str:
        wire = {"content-md5": md5_b64, **_wire_headers(headers)}
        if if_none_match:
            wire["if-none-match"] = "*"
        if if_match is not None:
            wire["if-match"] = f'"{if_match}"'
        if acl:
            wire["x-amz-acl"] = acl
        answer = self.requests.send(
            "PUT", key, "PutObject", headers=wire, body=body, size=size, streaming=True
        )
        return answer.headers.get("etag", "").strip('"')

    def copy_in_place(self, key: str, headers: Mapping[str, str], acl: str | None = None) -> str:
        wire = {
            "x-amz-copy-source": f"{self.bucket}/{quote(key, safe='/~')}",
            "x-amz-metadata-directive": "REPLACE",
            **_wire_headers(headers),
        }
        if acl:
            wire["x-amz-acl"] = acl
        answer = self.requests.send("PUT", key, "CopyObject", headers=wire)
        return xmlcodec.text_of(answer.data, "ETag").strip('"')

    def create_multipart_upload(
        self, key: str, headers: Mapping[str, str], acl: str | None = None
    ) -> str:
        wire = _wire_headers(headers)
        if acl:
            wire["x-amz-acl"] = acl
        answer = self.requests.send(
            "POST", key, "CreateMultipartUpload", query=[("uploads", None)], headers=wire
        )
        return xmlcodec.text_of(answer.data, "UploadId")

    def upload_part(
        self, key: str, upload_id: str, number: int, body: Body, *, size: int, md5_b64: str
    ) -> str:
        answer = self.requests.send(
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
        answer = self.requests.send(
            "POST",
            key,
            "CompleteMultipartUpload",
            query=[("uploadId", upload_id)],
            body=body,
            size=len(body),
        )
        return xmlcodec.text_of(answer.data, "ETag").strip('"')

    def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        self.requests.send("DELETE", key, "AbortMultipartUpload", query=[("uploadId", upload_id)])

    def list_multipart_uploads(self, prefix: str) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        key_marker = id_marker = ""
        check = ListingCheck(self.endpoint, prefix)
        while True:
            query: list[tuple[str, str | None]] = [("uploads", None), ("prefix", prefix)]
            if key_marker:
                query += [("key-marker", key_marker), ("upload-id-marker", id_marker)]
            answer = self.requests.send("GET", "", "ListMultipartUploads", query=query)
            page, key_marker, id_marker = xmlcodec.uploads_of(answer.data)
            check.page(
                [k for k, _ in page], [], f"{key_marker}\0{id_marker}" if key_marker else None
            )
            found += page
            if not key_marker:
                return found

    def delete_objects(self, keys: Sequence[str]) -> dict[str, str]:
        body = xmlcodec.delete_xml(keys)
        response = self.requests.send(
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
        self.requests.send("DELETE", key, "DeleteObject")

    def get_object(self, key: str) -> bytes:
        return self.requests.send("GET", key, "GetObject").data

    def get_tagged(self, key: str) -> tuple[bytes, str]:
        answer = self.requests.send("GET", key, "GetObject")
        return answer.data, answer.headers.get("etag", "").strip('"')

    def read_object(self, key: str, sink: Sink) -> dict[str, str]:
        return head_to_headers(self.requests.send("GET", key, "GetObject", sink=sink).headers)

    def head_object(self, key: str) -> dict[str, str]:
        return head_to_headers(self.requests.send("HEAD", key, "HeadObject").headers)

    def get_bucket_cors(self) -> list[dict[str, Any]] | None:
        try:
            data = self.requests.send("GET", "", "GetBucketCors", query=[("cors", None)]).data
        except StoreError as exc:
            if exc.code in ("NoSuchCORSConfiguration", "NoSuchCors"):
                return None
            raise
        return xmlcodec.parse_cors(data)

    def put_bucket_cors(self, rules: Sequence[Mapping[str, Any]]) -> None:
        body = xmlcodec.cors_xml(rules)
        self.requests.send(
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
            data = self.requests.send("GET", "", "GetBucketPolicy", query=[("policy", None)]).data
        except StoreError as exc:
            if exc.code in ("NoSuchBucketPolicy", "NoSuchPolicy"):
                return None
            raise
        return data.decode("utf-8")

    def put_bucket_policy(self, text: str) -> None:
        body = text.encode("utf-8")
        self.requests.send(
            "PUT",
            "",
            "PutBucketPolicy",
            query=[("policy", None)],
            headers=_crc32_headers(body),
            body=body,
            size=len(body),
        )

    def delete_bucket_policy(self) -> None:
        self.requests.send("DELETE", "", "DeleteBucketPolicy", query=[("policy", None)])

    def put_bucket_encryption(self, rule: Mapping[str, Any]) -> None:
        body = xmlcodec.encryption_xml(rule)
        self.requests.send(
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
            data = self.requests.send(
                "GET", "", "GetPublicAccessBlock", query=[("publicAccessBlock", None)]
            )
        except StoreError as exc:
            if exc.code == "NoSuchPublicAccessBlockConfiguration":
                return None
            raise
        return xmlcodec.parse_public_access_block(data.data)


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
