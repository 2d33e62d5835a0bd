"""The remote side: the one place a boto3 client is made, and what the bucket holds."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from .errors import S3Error
from .keys import join_key, normalize_prefix
from .spec import Spec

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CONTROL_DIR = ".flask-s3"
MANIFEST_NAME = "manifest.json.gz"
MANIFEST_FORMAT = 2
LIST_WORKERS = 8  # sub-folders listed side by side


def control_key(spec: Spec, name: str) -> str:
    """Keys we keep for ourselves under the prefix (manifest, lock)."""
    return join_key(normalize_prefix(spec.urls.prefix), CONTROL_DIR, name)


@dataclass(frozen=True)
class StaticCredentials:
    """Keys taken straight from the environment (botocore's first source, too)."""

    access_key: str
    secret_key: str
    token: str | None = None

    def get_frozen_credentials(self) -> StaticCredentials:
        return self


class Client:
    """What gets passed around as the S3 client.

    The hot, simple calls go over ``wire`` (our SigV4 over http.client). boto3, whose import and
    client set-up cost about 0.3 s, is made only when something else is needed, so a plan
    that finds nothing to change never loads it. Any boto3 client method works on this object.
    """

    def __init__(
        self,
        spec: Spec,
        access_key: str | None,
        secret_key: str | None,
        concurrency: int | None,
    ) -> None:
        self._spec = spec
        self._keys = (access_key, secret_key)
        self._workers = concurrency or spec.upload.concurrency
        self._boto: Any = None
        self._lock = threading.Lock()
        self.wire = self._env_wire()

    def _env_wire(self) -> Any:
        """A wire when the credentials are plain keys (arguments or environment)."""
        access_key, secret_key = self._keys
        token = None
        if not (access_key and secret_key):
            if self._spec.bucket.profile or os.environ.get("AWS_PROFILE"):
                return None
            access_key = os.environ.get("AWS_ACCESS_KEY_ID")
            secret_key = os.environ.get("AWS_SECRET_ACCESS_KEY")
            token = os.environ.get("AWS_SESSION_TOKEN") or os.environ.get("AWS_SECURITY_TOKEN")
        region = (
            self._spec.bucket.region
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
        )
        endpoint = self._spec.bucket.endpoint_url
        if not (access_key and secret_key) or not (endpoint or region):
            return None  # let botocore find credentials and region its own way
        from .wire import Wire

        return Wire(
            StaticCredentials(access_key, secret_key, token),
            region=region or "us-east-1",
            endpoint_url=endpoint or f"https://s3.{region}.amazonaws.com",
            path_style=bool(endpoint),
            pool_size=max(10, self._workers + 2),
        )

    @property
    def boto(self) -> S3Client:
        """The boto3 client, made on first use (thread-safe)."""
        with self._lock:
            if self._boto is None:
                self._boto = _boto_client(self._spec, *self._keys, self._workers)
            return self._boto  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.boto, name)


def make_client(
    spec: Spec,
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
    concurrency: int | None = None,
) -> S3Client:
    """The S3 client, made once and passed to everything that talks to S3."""
    return cast("S3Client", Client(spec, access_key, secret_key, concurrency))


def _boto_client(
    spec: Spec, access_key: str | None, secret_key: str | None, workers: int
) -> S3Client:
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": 5},
        max_pool_connections=max(10, workers + 2),
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        connect_timeout=5,
        read_timeout=60,
        s3={"addressing_style": "path" if spec.bucket.endpoint_url else "auto"},
    )
    try:
        session = boto3.session.Session(
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            profile_name=spec.bucket.profile,
            region_name=spec.bucket.region,
        )
    except Exception as exc:  # botocore's ProfileNotFound and friends
        raise S3Error(
            f"cannot set up AWS credentials: {exc}",
            "Check bucket.profile in the spec, or AWS_PROFILE / ~/.aws/config.",
        ) from None
    region = spec.bucket.region or session.region_name or "us-east-1"
    return session.client(
        "s3", region_name=region, endpoint_url=spec.bucket.endpoint_url or None, config=config
    )


def client_region(client: S3Client) -> str:
    return client.meta.region_name or "us-east-1"


_FIXES = {
    "InvalidAccessKeyId": "S3 does not know this access key. Check AWS_ACCESS_KEY_ID "
    "(or the profile) is the one for this endpoint.",
    "SignatureDoesNotMatch": "The secret key does not match the access key. Check "
    "AWS_SECRET_ACCESS_KEY (or the profile).",
    "ExpiredToken": "The session token has expired. Refresh your credentials "
    "(e.g. `aws sso login`) and run again.",
    "InvalidToken": "The session token is invalid. Refresh your credentials and run again.",
    "AccessDenied": "These credentials are not allowed to do this. Grant the permission "
    "to the user or role, or use other credentials.",
    "AllAccessDisabled": "Access to this bucket is disabled.",
    "NoSuchBucket": "The bucket does not exist. Set bucket.create: true to create it.",
    "BucketAlreadyExists": "The name is taken by another account; S3 bucket names are "
    "global. Choose another bucket.name.",
    "PermanentRedirect": "The bucket lives in another region. Set bucket.region to it.",
    "AuthorizationHeaderMalformed": "The region is wrong for this bucket or endpoint. "
    "Check bucket.region.",
    "IllegalLocationConstraintException": "The region does not accept this bucket. "
    "Check bucket.region.",
    "InvalidLocationConstraint": "The region is not valid here. Check bucket.region.",
    "AccessControlListNotSupported": "The bucket has ACLs disabled (the default for new "
    "AWS buckets). Set bucket.acl: none and use public_read_policy or a CDN.",
}

_PERMISSIONS = {
    "list": "s3:ListBucket",
    "head-bucket": "s3:ListBucket",
    "create-bucket": "s3:CreateBucket",
    "upload": "s3:PutObject",
    "copy": "s3:PutObject and s3:GetObject",
    "delete": "s3:DeleteObject",
    "read-manifest": "s3:GetObject",
    "head": "s3:GetObject",
    "read-cors": "s3:GetBucketCORS",
    "write-cors": "s3:PutBucketCORS",
    "read-policy": "s3:GetBucketPolicy",
    "write-policy": "s3:PutBucketPolicy",
    "write-encryption": "s3:PutEncryptionConfiguration",
}


def describe_error(exc: BaseException, doing: str, bucket: str) -> S3Error:
    """Turn a botocore exception into one clear S3Error that names the fix (never a secret)."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    if isinstance(exc, S3Error):
        return exc
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return S3Error(
            "no AWS credentials found",
            "Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment, "
            "or name a profile in bucket.profile (or AWS_PROFILE).",
        )
    if isinstance(exc, EndpointConnectionError):
        return S3Error(
            f"cannot reach the S3 endpoint while trying to {doing}",
            f"{exc}. Check bucket.endpoint_url and that the server is running.",
        )
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(
            err.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        )
        if code in ("403", "Forbidden"):
            code = "AccessDenied"
        if code in ("404", "NotFound"):
            code = "NoSuchBucket"
        if code in ("301", "307"):
            code = "PermanentRedirect"
        fix = _FIXES.get(code, err.get("Message") or "")
        if code == "AccessDenied" and doing in _PERMISSIONS:
            fix = f"{fix} Missing permission: {_PERMISSIONS[doing]} on bucket {bucket}."
        return S3Error(f"S3 refused to {doing} on bucket {bucket!r}: {code}", fix)
    from botocore.exceptions import BotoCoreError

    if isinstance(exc, BotoCoreError):
        return S3Error(f"S3 request failed while trying to {doing}: {exc}")
    raise exc


@contextmanager
def s3_errors(doing: str, bucket: str) -> Iterator[None]:
    """Translate botocore errors raised inside the block into S3Error."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise describe_error(exc, doing, bucket) from None


class RemoteObject(NamedTuple):  # a tuple: tens of thousands are made per listing
    key: str
    size: int
    etag: str  # without quotes


@dataclass
class ManifestEntry:
    md5: str
    headers: dict[str, str]


@dataclass
class RemoteInventory:
    objects: dict[str, RemoteObject] = field(default_factory=dict)
    manifest: dict[str, ManifestEntry] | None = None
    manifest_state: str = "missing"  # ok | missing | corrupt
    generations: list[list[str]] = field(
        default_factory=list
    )  # fingerprinted deploys, oldest first
    control: dict[str, RemoteObject] = field(default_factory=dict)

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for obj in sorted([*self.objects.values(), *self.control.values()], key=lambda o: o.key):
            digest.update(f"{obj.key}\0{obj.etag}\0{obj.size}\n".encode())
        return "sha256:" + digest.hexdigest()


def bucket_exists(client: S3Client, bucket: str) -> bool:
    """True if the bucket is there and ours to use; False if missing; S3Error otherwise."""
    from botocore.exceptions import ClientError

    from .wire import wire_for

    wire = wire_for(client, bucket)
    try:
        if wire is not None:
            wire.head_bucket(bucket)
        else:
            client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = str(exc.response.get("Error", {}).get("Code"))
        if status == 404 or code in ("404", "NoSuchBucket", "NotFound"):
            return False
        if status in (400, 403) or code in ("400", "403", "Forbidden", "AccessDenied"):
            # HEAD answers carry no error code: ask again with a GET to tell a bad key,
            # secret or expired token from a bucket that is someone else's.
            reason = _error_code_of_list(client, bucket)
            if reason not in ("", "AccessDenied", "AllAccessDisabled"):
                raise describe_error(exc_with_code(exc, reason), "head-bucket", bucket) from None
            if status == 400 or code == "400":
                raise describe_error(exc, "head-bucket", bucket) from None
            raise S3Error(
                f"bucket {bucket!r} exists but these credentials may not use it",
                "It belongs to another account, or the user lacks s3:ListBucket on it. "
                "Choose another bucket.name or grant access.",
            ) from None
        raise describe_error(exc, "head-bucket", bucket) from None
    except Exception as exc:
        raise describe_error(exc, "head-bucket", bucket) from None
    return True


def _error_code_of_list(client: S3Client, bucket: str) -> str:
    from botocore.exceptions import ClientError

    try:
        next(iter(list_objects(client, bucket, "")), None)
    except ClientError as exc:
        return str(exc.response.get("Error", {}).get("Code", ""))
    except Exception:
        return ""
    return ""


def exc_with_code(exc: Any, code: str) -> Any:
    exc.response.setdefault("Error", {})["Code"] = code
    return exc


def scan_remote(
    client: S3Client, spec: Spec, roots: Sequence[str] | None = None
) -> RemoteInventory | None:
    """What the bucket holds under our static roots and control folder; None if it's missing.

    ``roots`` are the key prefixes the app's static folders map to (``None``: the whole spec
    prefix). Objects elsewhere in the bucket are not ours and are never listed. The manifest
    is fetched while the listing runs.
    """
    bucket = spec.bucket.name
    if not bucket_exists(client, bucket):
        return None
    prefix = normalize_prefix(spec.urls.prefix)
    control_prefix = join_key(prefix, CONTROL_DIR) + "/"
    manifest_key = control_key(spec, MANIFEST_NAME)
    if roots is None:
        prefixes = [f"{prefix}/" if prefix else ""]
    else:
        prefixes = listing_prefixes([*roots, control_prefix.rstrip("/")])
    inventory = RemoteInventory()
    with ThreadPoolExecutor(max_workers=1) as pool:
        early = pool.submit(_try_read_manifest, client, bucket, manifest_key)
        with s3_errors("list", bucket):
            listed = list_under(client, bucket, prefixes)
        fetched = early.result()
    for key, size, etag in listed:
        obj = RemoteObject(key, size, etag)
        if key.startswith(control_prefix):
            inventory.control[key] = obj
        else:
            inventory.objects[key] = obj
    if manifest_key in inventory.control:
        if fetched is None:  # written between the GET and the listing: read it now
            fetched = read_manifest(client, bucket, manifest_key)
        inventory.manifest, inventory.generations, inventory.manifest_state = fetched
    return inventory


def listing_prefixes(roots: Sequence[str]) -> list[str]:
    """``static`` -> ``static/``; a root inside another root is listed once, with it."""
    out: list[str] = []
    for prefix in sorted({f"{r}/" if r else "" for r in roots}):
        if not any(prefix.startswith(kept) for kept in out):
            out.append(prefix)
    return out


def list_under(
    client: S3Client, bucket: str, prefixes: Sequence[str]
) -> list[tuple[str, int, str]]:
    """Every (key, size, etag) under each of ``prefixes``.

    A listing is a chain of pages, each waiting for the one before. On the fast path each
    prefix is first split into its sub-folders (one request with a delimiter), and the
    sub-folders are listed side by side: the same objects, in a fraction of the time.
    """
    from .wire import wire_for

    wire = wire_for(client, bucket)
    if wire is None:
        return [item for p in prefixes for item in list_objects(client, bucket, p)]
    found: list[tuple[str, int, str]] = []
    folders: list[str] = []
    for prefix in prefixes:
        objects, subs = wire.list_level(bucket, prefix)
        while len(subs) == 1 and not objects:  # static/ -> static/app/ -> ...
            objects, subs = wire.list_level(bucket, subs[0])
        found.extend(objects)
        folders.extend(subs)
    if folders:
        with ThreadPoolExecutor(max_workers=min(LIST_WORKERS, len(folders))) as pool:
            for items in pool.map(lambda p: list(wire.list_objects(bucket, p)), folders):
                found.extend(items)
    return found


def _try_read_manifest(
    client: S3Client, bucket: str, key: str
) -> tuple[dict[str, ManifestEntry] | None, list[list[str]], str] | None:
    """The manifest, or None when it isn't there (or can't be read yet: the listing decides)."""
    try:
        return read_manifest(client, bucket, key)
    except S3Error:
        return None


def list_objects(client: S3Client, bucket: str, prefix: str) -> Iterator[tuple[str, int, str]]:
    """(key, size, etag) of every object under ``prefix``."""
    from .wire import wire_for

    wire = wire_for(client, bucket)
    if wire is not None:
        yield from wire.list_objects(bucket, prefix)
        return
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield item["Key"], item["Size"], item["ETag"].strip('"')


def read_manifest(
    client: S3Client, bucket: str, key: str
) -> tuple[dict[str, ManifestEntry] | None, list[list[str]], str]:
    """(entries, generations, state) from the manifest object; damage gives "corrupt"."""
    from .wire import wire_for

    wire = wire_for(client, bucket)
    with s3_errors("read-manifest", bucket):
        if wire is not None:
            body = wire.get(bucket, key)
        else:
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    try:
        data = json.loads(gzip.decompress(body))
        entries = _manifest_entries(data)
        generations = [[str(k) for k in gen] for gen in data.get("generations", [])]
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, OSError, EOFError):
        return None, [], "corrupt"
    if entries is None:
        return None, [], "corrupt"
    return entries, generations, "ok"


def _manifest_entries(data: dict[str, Any]) -> dict[str, ManifestEntry] | None:
    """Format 2 lists each distinct header set once; format 1 (early builds) repeats them."""
    if data.get("format") == MANIFEST_FORMAT:
        header_sets = [{str(a): str(b) for a, b in h.items()} for h in data["headers"]]
        return {
            k: ManifestEntry(str(md5), header_sets[i]) for k, (md5, i) in data["objects"].items()
        }
    if data.get("format") == 1:
        return {
            k: ManifestEntry(str(v["md5"]), {str(a): str(b) for a, b in v["headers"].items()})
            for k, v in data["objects"].items()
        }
    return None


def encode_manifest(
    entries: dict[str, ManifestEntry], generations: list[list[str]] | None = None
) -> bytes:
    """Every key's MD5 and the index of its header set: a few hundred KB for 20,000 files."""
    header_sets: list[dict[str, str]] = []
    index: dict[tuple[tuple[str, str], ...], int] = {}
    objects: dict[str, list[Any]] = {}
    for key, entry in sorted(entries.items()):
        frozen = tuple(sorted(entry.headers.items()))
        number = index.get(frozen)
        if number is None:
            number = index[frozen] = len(header_sets)
            header_sets.append(dict(frozen))
        objects[key] = [entry.md5, number]
    data: dict[str, Any] = {"format": MANIFEST_FORMAT, "headers": header_sets, "objects": objects}
    if generations:
        data["generations"] = generations
    return gzip.compress(json.dumps(data, separators=(",", ":")).encode(), compresslevel=6, mtime=0)


def head_headers(client: S3Client, bucket: str, key: str) -> dict[str, str]:
    from .headers import from_head

    with s3_errors("head", bucket):
        response = client.head_object(Bucket=bucket, Key=key)
    return from_head(dict(response))
