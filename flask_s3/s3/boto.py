"""The boto3 store: every call through boto3, for set-ups the fast store does not follow
(proxies, SigV4a, non-standard retry modes, anonymous access) and for ``FLASK_S3_STORE=boto3``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .. import headers as hdr
from .errors import StoreCredentialsError, StoreError, StoreUnreachable
from .store import Body, ListingCheck, ObjectInfo, Sink, listed

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

READ_BLOCK = 256 * 1024  # bytes per block of a streamed GetObject body
T = TypeVar("T")


def _translated(call: Callable[[], T], operation: str, endpoint: str) -> T:
    """Run one boto3 call; its exceptions become the store's."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ReadTimeoutError,
        SSLError,
    )

    try:
        return call()
    except RecursionError:
        # botocore's region redirector asks the same endpoint for the bucket's region, in a
        # loop, when a 301 names none: the answer is a redirect nobody can follow.
        raise StoreError(
            "PermanentRedirect",
            301,
            f"the endpoint {endpoint} redirects without naming the bucket's region",
            operation=operation,
        ) from None
    except ClientError as exc:
        response: Any = exc.response
        error = response.get("Error", {})
        meta = response.get("ResponseMetadata", {})
        status = int(meta.get("HTTPStatusCode") or 0)
        region = (meta.get("HTTPHeaders") or {}).get("x-amz-bucket-region", "") or error.get(
            "Region", ""
        )
        raise StoreError(
            str(error.get("Code") or status),
            status,
            str(error.get("Message") or ""),
            operation=operation,
            region=str(region),
        ) from None
    except (NoCredentialsError, PartialCredentialsError) as exc:
        detail = str(exc) if isinstance(exc, PartialCredentialsError) else ""
        raise StoreCredentialsError(detail) from None
    except SSLError as exc:
        raise StoreUnreachable("tls", endpoint, str(exc.kwargs.get("error", exc))) from None
    except (ConnectTimeoutError, ReadTimeoutError) as exc:
        raise StoreUnreachable("timeout", endpoint, str(exc)) from None
    except EndpointConnectionError as exc:
        reason = str(exc.kwargs.get("error", exc))
        raise StoreUnreachable(_connection_kind(reason), endpoint, reason) from None
    except BotoCoreError as exc:  # connection closed, reset, and the rest of botocore's kin
        raise StoreUnreachable("connection", endpoint, str(exc)) from None


def _connection_kind(reason: str) -> str:
    lowered = reason.lower()
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "dns"
    if "temporary failure in name resolution" in lowered or "getaddrinfo" in lowered:
        return "dns"
    if "connection refused" in lowered:
        return "refused"
    if "certificate" in lowered:
        return "tls"
    return "connection"


def _no_region_no_redirect(
    request_dict: dict[str, Any], response: Any, operation: Any, **_: Any
) -> None:
    """Stop botocore's region redirect when a HeadBucket redirect names no region.

    To find a bucket's region botocore sends HeadBucket; when that is redirected too, with no
    region in the answer, it sends HeadBucket again, and again, until a RecursionError. S3
    always names the region; an endpoint that does not gets the 301 back as an error. Runs
    before botocore's redirector, which then sees the request as already redirected.
    """
    if response is None or response[0] is None or response[0].status_code not in (301, 302, 307):
        return
    parsed = response[1]
    headers = parsed.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    if "x-amz-bucket-region" in headers or parsed.get("Error", {}).get("Region"):
        return
    request_dict.setdefault("context", {}).setdefault("s3_redirect", {})["redirected"] = True


class BotoStore:
    """The Store protocol on a boto3 client, for one bucket."""

    kind = "boto3"

    def __init__(self, client: S3Client, bucket: str, *, expected_owner: str | None = None) -> None:
        self.client = client
        self.bucket = bucket
        self.region = client.meta.region_name or "us-east-1"
        self.endpoint = str(client.meta.endpoint_url)
        self.expected_owner = expected_owner or ""
        client.meta.events.register_first(
            "needs-retry.s3.HeadBucket", _no_region_no_redirect, unique_id="flask-s3-region-loop"
        )
        if expected_owner:

            def add_owner(request: Any, **_: Any) -> None:
                request.headers["x-amz-expected-bucket-owner"] = expected_owner

            client.meta.events.register_first(
                "before-sign.s3", add_owner, unique_id="flask-s3-expected-owner"
            )

    def _call(self, operation: str, call: Callable[[], T]) -> T:
        try:
            return _translated(call, operation, self.endpoint)
        except StoreError as exc:
            exc.expected_owner = self.expected_owner
            raise

    def bucket_exists(self) -> bool:
        try:
            self._call("HeadBucket", lambda: self.client.head_bucket(Bucket=self.bucket))
        except StoreError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def create_bucket(self, region: str, acl: str | None) -> None:
        params: dict[str, Any] = {"Bucket": self.bucket}
        if acl:
            params["ACL"] = acl
        if region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        self._call("CreateBucket", lambda: self.client.create_bucket(**params))

    def _pages(
        self, prefix: str, delimiter: str = "", start_after: str = "", page_size: int = 1000
    ) -> Iterator[Mapping[str, Any]]:
        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            params["Delimiter"] = delimiter
        if start_after:
            params["StartAfter"] = start_after
        if page_size != 1000:
            params["PaginationConfig"] = {"PageSize": page_size}
        pages = iter(self.client.get_paginator("list_objects_v2").paginate(**params))
        check = ListingCheck(self.endpoint, prefix)
        while True:
            page = self._call("ListObjectsV2", lambda: next(pages, None))
            if page is None:
                return
            check.page(
                [item.get("Key", "") for item in page.get("Contents", [])],
                [p.get("Prefix", "") for p in page.get("CommonPrefixes", []) if p.get("Prefix")],
                page.get("NextContinuationToken") if page.get("IsTruncated") else None,
            )
            yield page

    def list_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        for page in self._pages(prefix):
            for item in page.get("Contents", []):
                yield listed(item["Key"], item["Size"], item["ETag"])

    def list_level(self, prefix: str) -> tuple[list[ObjectInfo], list[str]]:
        objects: list[ObjectInfo] = []
        folders: list[str] = []
        for page in self._pages(prefix, "/"):
            for item in page.get("Contents", []):
                objects.append(listed(item["Key"], item["Size"], item["ETag"]))
            folders.extend(p["Prefix"] for p in page.get("CommonPrefixes", []) if p.get("Prefix"))
        return objects, folders

    def list_after(
        self, prefix: str, start_after: str, until: str | None, page_size: int = 1000
    ) -> list[ObjectInfo]:
        found: list[ObjectInfo] = []
        for page in self._pages(prefix, start_after=start_after, page_size=page_size):
            items = [listed(i["Key"], i["Size"], i["ETag"]) for i in page.get("Contents", [])]
            found += items
            if until is not None and any(i.key > until for i in items):
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
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "ContentMD5": md5_b64,
            **hdr.to_put_params(headers),
        }
        if acl:
            params["ACL"] = acl
        if if_none_match:
            params["IfNoneMatch"] = "*"
        if if_match is not None:
            params["IfMatch"] = f'"{if_match}"'

        def put() -> str:
            opened = body()
            try:
                return str(self.client.put_object(Body=opened, **params).get("ETag", ""))
            finally:
                if not isinstance(opened, bytes):
                    opened.close()

        return self._call("PutObject", put).strip('"')

    def copy_in_place(self, key: str, headers: Mapping[str, str], acl: str | None = None) -> str:
        params: dict[str, Any] = {**hdr.to_put_params(headers)}
        if acl:
            params["ACL"] = acl
        answer = self._call(
            "CopyObject",
            lambda: self.client.copy_object(
                Bucket=self.bucket,
                Key=key,
                CopySource={"Bucket": self.bucket, "Key": key},
                MetadataDirective="REPLACE",
                **params,
            ),
        )
        return str(answer.get("CopyObjectResult", {}).get("ETag", "")).strip('"')

    def create_multipart_upload(
        self, key: str, headers: Mapping[str, str], acl: str | None = None
    ) -> str:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key, **hdr.to_put_params(headers)}
        if acl:
            params["ACL"] = acl
        answer = self._call(
            "CreateMultipartUpload", lambda: self.client.create_multipart_upload(**params)
        )
        return str(answer["UploadId"])

    def upload_part(
        self, key: str, upload_id: str, number: int, body: Body, *, size: int, md5_b64: str
    ) -> str:
        def put() -> str:
            opened = body()
            try:
                answer = self.client.upload_part(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=opened,
                    ContentMD5=md5_b64,
                )
            finally:
                if not isinstance(opened, bytes):
                    opened.close()
            return str(answer["ETag"]).strip('"')

        return self._call("UploadPart", put)

    def complete_multipart_upload(
        self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> str:
        upload: Any = {"Parts": [{"ETag": f'"{etag}"', "PartNumber": n} for n, etag in parts]}
        answer = self._call(
            "CompleteMultipartUpload",
            lambda: self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload=upload
            ),
        )
        return str(answer.get("ETag", "")).strip('"')

    def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        self._call(
            "AbortMultipartUpload",
            lambda: self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id
            ),
        )

    def list_multipart_uploads(self, prefix: str) -> list[tuple[str, str]]:
        pages = iter(
            self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
        )
        found: list[tuple[str, str]] = []
        check = ListingCheck(self.endpoint, prefix)
        while True:
            page = self._call("ListMultipartUploads", lambda: next(pages, None))
            if page is None:
                return found
            uploads = [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
            markers = f"{page.get('NextKeyMarker', '')}\0{page.get('NextUploadIdMarker', '')}"
            check.page([k for k, _ in uploads], [], markers if page.get("IsTruncated") else None)
            found += uploads

    def delete_objects(self, keys: Sequence[str]) -> dict[str, str]:
        response = self._call(
            "DeleteObjects",
            lambda: self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True},
            ),
        )
        return {e.get("Key", "?"): e.get("Code", "?") for e in response.get("Errors", [])}

    def delete_object(self, key: str) -> None:
        self._call("DeleteObject", lambda: self.client.delete_object(Bucket=self.bucket, Key=key))

    def get_object(self, key: str) -> bytes:
        def get() -> bytes:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

        return self._call("GetObject", get)

    def get_tagged(self, key: str) -> tuple[bytes, str]:
        def get() -> tuple[bytes, str]:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
            return response["Body"].read(), str(response.get("ETag", "")).strip('"')

        return self._call("GetObject", get)

    def read_object(self, key: str, sink: Sink) -> dict[str, str]:
        def get() -> dict[str, Any]:
            response = dict(self.client.get_object(Bucket=self.bucket, Key=key))
            body: Any = response.pop("Body")
            try:
                for block in body.iter_chunks(READ_BLOCK):
                    sink(block)
            finally:
                body.close()
            return response

        return hdr.from_head(self._call("GetObject", get))

    def head_object(self, key: str) -> dict[str, str]:
        response = self._call(
            "HeadObject", lambda: self.client.head_object(Bucket=self.bucket, Key=key)
        )
        return hdr.from_head(dict(response))

    def get_bucket_cors(self) -> list[dict[str, Any]] | None:
        try:
            response = self._call(
                "GetBucketCors", lambda: self.client.get_bucket_cors(Bucket=self.bucket)
            )
        except StoreError as exc:
            if exc.code in ("NoSuchCORSConfiguration", "NoSuchCors"):
                return None
            raise
        return [dict(rule) for rule in response.get("CORSRules", [])]

    def put_bucket_cors(self, rules: Sequence[Mapping[str, Any]]) -> None:
        config: Any = {"CORSRules": [dict(r) for r in rules]}
        self._call(
            "PutBucketCors",
            lambda: self.client.put_bucket_cors(Bucket=self.bucket, CORSConfiguration=config),
        )

    def get_bucket_policy(self) -> str | None:
        try:
            response = self._call(
                "GetBucketPolicy", lambda: self.client.get_bucket_policy(Bucket=self.bucket)
            )
        except StoreError as exc:
            if exc.code in ("NoSuchBucketPolicy", "NoSuchPolicy"):
                return None
            raise
        return str(response["Policy"])

    def put_bucket_policy(self, text: str) -> None:
        self._call(
            "PutBucketPolicy",
            lambda: self.client.put_bucket_policy(Bucket=self.bucket, Policy=text),
        )

    def delete_bucket_policy(self) -> None:
        self._call(
            "DeleteBucketPolicy", lambda: self.client.delete_bucket_policy(Bucket=self.bucket)
        )

    def put_bucket_encryption(self, rule: Mapping[str, Any]) -> None:
        config: Any = {"Rules": [dict(rule)]}
        self._call(
            "PutBucketEncryption",
            lambda: self.client.put_bucket_encryption(
                Bucket=self.bucket, ServerSideEncryptionConfiguration=config
            ),
        )

    def get_public_access_block(self) -> dict[str, bool] | None:
        try:
            response = self._call(
                "GetPublicAccessBlock",
                lambda: self.client.get_public_access_block(Bucket=self.bucket),
            )
        except StoreError as exc:
            if exc.code == "NoSuchPublicAccessBlockConfiguration":
                return None
            raise
        settings = response.get("PublicAccessBlockConfiguration", {})
        return {str(k): bool(v) for k, v in settings.items()}
