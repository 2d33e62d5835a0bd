"""The one seam to S3: the calls a deploy needs, as a protocol with two implementations.

``FastStore`` (``fast.py``) sends them over our own keep-alive connections with our own SigV4;
``BotoStore`` (``boto.py``) sends them through boto3. Which one a run gets is decided once, in
``open_store`` (``resolve.py``); nothing above this module knows which it got. Both raise only
``StoreError`` / ``StoreUnreachable`` / ``StoreCredentialsError`` (``errors.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from sys import intern
from typing import IO, Any, NamedTuple, Protocol

Body = Callable[[], "IO[bytes] | bytes"]  # opens the bytes afresh for each attempt
Sink = Callable[[bytes], None]  # receives a streamed body block by block
MAX_ANSWER = 8 * 1024 * 1024  # S3's largest XML answer (1000 keys of 1 KiB, URL-encoded) < 4 MB
MAX_OBJECT = 256 * 1024 * 1024  # what get_object reads: the manifest and the lock, both small


class ObjectInfo(NamedTuple):  # a tuple: tens of thousands are made per listing
    key: str
    size: int
    etag: str  # without quotes


def listed(key: str, size: int, etag: str) -> ObjectInfo:
    """An object of a listing, its key and ETag interned: the local scan and the manifest
    hold the same strings (interned there too), so a 200,000-file plan keeps one copy of each
    instead of three, and compares them by identity. (On Python 3.12 alone interned strings
    are immortal: a long-lived process that plans many different trees keeps their keys.)"""
    return ObjectInfo(intern(key), size, intern(etag.strip('"')))


class Store(Protocol):
    """One bucket, as a deploy sees it. Keys are full keys (prefix included)."""

    bucket: str
    kind: str  # "fast" or "boto3", for reports and tests only

    @property
    def region(self) -> str:
        """The region requests are signed for."""

    @property
    def endpoint(self) -> str:
        """scheme://host[:port], for messages."""

    def bucket_exists(self) -> bool:
        """True when the bucket is there and ours; False when missing (404)."""

    def create_bucket(self, region: str, acl: str | None) -> None:
        """CreateBucket with a LocationConstraint outside us-east-1."""

    def list_level(self, prefix: str) -> tuple[list[ObjectInfo], list[str]]:
        """Objects directly under ``prefix`` and its sub-folders (``prefix/name/``)."""

    def list_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object under ``prefix``, page by page."""

    def list_after(
        self, prefix: str, start_after: str, until: str | None, page_size: int = 1000
    ) -> list[ObjectInfo]:
        """Objects under ``prefix`` listed from after ``start_after`` (flat, S3 byte order).

        Whole pages, in the order the store sent them, until a page holds a key past
        ``until`` (``None``: to the end). The caller checks the order (``listing.py``)."""

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
        """PutObject with our canonical headers (``flask_s3.headers``); body opened per try.

        ``if_none_match``: only if no object is there; ``if_match``: only if the object's ETag
        is this one (S3's conditional writes; refused with ``PreconditionFailed``, or
        ``NoSuchKey`` when the object is gone). Returns the new object's ETag ("" when the
        store did not say)."""

    def copy_in_place(self, key: str, headers: Mapping[str, str], acl: str | None = None) -> str:
        """CopyObject onto itself with MetadataDirective REPLACE: new headers, same bytes.

        Returns the copy's ETag."""

    def delete_objects(self, keys: Sequence[str]) -> dict[str, str]:
        """DeleteObjects (at most 1000 keys); returns the keys that failed with their code."""

    def delete_object(self, key: str) -> None: ...

    def get_object(self, key: str) -> bytes:
        """A small object's bytes (manifest, lock)."""

    def get_tagged(self, key: str) -> tuple[bytes, str]:
        """A small object's bytes and its ETag (the lock: its ETag is what a takeover names)."""

    def head_object(self, key: str) -> dict[str, str]:
        """The object's headers in our canonical form."""

    def read_object(self, key: str, sink: Sink) -> dict[str, str]:
        """GetObject with the body streamed into ``sink`` in blocks (never held whole).

        Returns the headers in our canonical form. The body is stored bytes as they are
        (a gzip-stored object arrives compressed). Not retried once a block was delivered."""

    def get_bucket_cors(self) -> list[dict[str, Any]] | None:
        """CORS rules as boto3 shapes them; None when the bucket has none."""

    def put_bucket_cors(self, rules: Sequence[Mapping[str, Any]]) -> None: ...

    def get_bucket_policy(self) -> str | None:
        """The policy document text; None when the bucket has none."""

    def put_bucket_policy(self, text: str) -> None: ...

    def delete_bucket_policy(self) -> None: ...

    def create_multipart_upload(
        self, key: str, headers: Mapping[str, str], acl: str | None = None
    ) -> str:
        """Start a multipart upload with the object's headers; its upload id."""

    def upload_part(
        self, key: str, upload_id: str, number: int, body: Body, *, size: int, md5_b64: str
    ) -> str:
        """One part (1-10,000); its ETag."""

    def complete_multipart_upload(
        self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> str:
        """Join the parts (number, ETag) into the object; its ETag (``md5s-N``)."""

    def abort_multipart_upload(self, key: str, upload_id: str) -> None: ...

    def list_multipart_uploads(self, prefix: str) -> list[tuple[str, str]]:
        """(key, upload id) of the unfinished multipart uploads under ``prefix``."""

    def put_bucket_encryption(self, rule: Mapping[str, Any]) -> None:
        """The bucket's default encryption: one rule as boto3 shapes it."""

    def get_public_access_block(self) -> dict[str, bool] | None:
        """The bucket's Block Public Access settings; None when it has none."""


def put_bytes(
    store: Store,
    key: str,
    data: bytes,
    headers: Mapping[str, str] | None = None,
    *,
    if_none_match: bool = False,
    if_match: str | None = None,
) -> str:
    """PutObject of a small in-memory body (manifest, lock); the new ETag."""
    import base64
    import hashlib

    return store.put_object(
        key,
        lambda: data,
        size=len(data),
        md5_b64=base64.b64encode(hashlib.md5(data).digest()).decode(),
        headers=headers or {},
        if_none_match=if_none_match,
        if_match=if_match,
    )


class ListingCheck:
    """Checks a listing's pages as they arrive, so a broken or hostile endpoint cannot make
    a run loop forever or reach outside the prefix it asked for.

    A continuation token seen before would list the same pages again and again; a key or
    folder outside the requested prefix, or a folder equal to it, is not S3's answer (and a
    folder equal to the prefix would be descended into forever). Either is a StoreError
    naming the endpoint.
    """

    def __init__(self, endpoint: str, prefix: str) -> None:
        self.endpoint = endpoint
        self.prefix = prefix
        self.tokens: set[str] = set()

    def _refuse(self, what: str) -> None:
        from .errors import StoreError

        raise StoreError(
            "MalformedListing",
            200,
            f"the endpoint {self.endpoint} answered a listing of {self.prefix!r} with {what}; "
            "it is broken or not S3. Check bucket.endpoint_url.",
            operation="ListObjectsV2",
        )

    def page(self, keys: Sequence[str], folders: Sequence[str], token: str | None) -> None:
        """Check one page: its keys, its folders (CommonPrefixes) and its next token (or, for
        the multipart uploads' listing, its markers)."""
        for key in keys:
            if not key.startswith(self.prefix):
                self._refuse(f"a key outside it ({key[:200]!r})")
        for folder in folders:
            if folder == self.prefix or not folder.startswith(self.prefix):
                self._refuse(f"a folder that is not below it ({folder[:200]!r})")
        if token is not None:
            if token in self.tokens:
                self._refuse("a continuation token or marker it had already sent (a loop)")
            self.tokens.add(token)
