"""Where requests go and how they are made: botocore decides, the fast store obeys.

``open_store`` makes the boto3 client (the one place it is made), asks botocore to prepare a
request for the bucket without sending it, and reads botocore's decisions off that request and
the client: URL (endpoint, path, addressing style, FIPS, dual-stack, partition), signing region,
TLS verification and CA bundle, proxy, timeouts, retry budget, payload signing, credentials.
The fast store is used only when all of that is something it does exactly as botocore would
(SigV4 for ``s3``, no proxy, standard retries); anything else gets the boto3 store.

Making a boto3 client costs about 0.3 s, as much as a whole no-op plan. With credentials from
the environment, botocore's decisions are remembered on disk, keyed by a digest of every input
botocore reads for them (its version, the ``AWS_*`` and proxy variables, the AWS config and
credentials files, the spec's bucket section): the next run with the same inputs gets the same
answer without importing botocore. No secret is stored, only the digest.

A remembered answer routes signed requests, so it is authenticated: an HMAC keyed with the
secret access key the requests are signed with (which the cache never holds). A file edited
by anyone without that key (another user, a restored CI cache) is ignored and botocore asked
again; whoever holds the key can sign requests anyway. Files are written with mode 0600.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from dataclasses import asdict, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from ..errors import S3Error
from ..hashcache import cache_dir
from ..records import frozen
from ..spec import Spec
from .store import Store
from .target import Target

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

STORE_VARIABLE = "FLASK_S3_STORE"  # fast | boto3 | auto (default)
RESOLVE_FORMAT = 1
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def boto_client(
    spec: Spec,
    access_key: str | None = None,
    secret_key: str | None = None,
    workers: int | None = None,
    region: str | None = None,
) -> S3Client:
    """The boto3 client: the only place one is made. ``region`` overrides (redirects)."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    pool = max(10, (workers or spec.upload.concurrency) + 2)
    config = Config(
        retries={"mode": "standard", "max_attempts": 4},  # 5 attempts in all
        max_pool_connections=pool,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        connect_timeout=5,
        read_timeout=60,
        # Every PUT carries Content-MD5, which S3 checks against the signed header: hashing
        # the body again for the signature (botocore's default over plain http) adds nothing.
        s3={
            "addressing_style": "path" if spec.bucket.endpoint_url else "auto",
            "payload_signing_enabled": False,
        },
    )
    try:
        session = boto3.session.Session(
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            profile_name=spec.bucket.profile,
        )
        return session.client(
            "s3",
            region_name=region or spec.bucket.region or session.region_name or "us-east-1",
            endpoint_url=spec.bucket.endpoint_url or None,
            config=config,
        )
    except BotoCoreError as exc:  # ProfileNotFound, a malformed config file, a bad endpoint
        raise S3Error(
            f"cannot set up the S3 client: {exc}",
            "Check bucket.profile / bucket.endpoint_url in the spec, or AWS_PROFILE and "
            "~/.aws/config.",
        ) from None


def prepared_request(client: Any, operation: str, **params: Any) -> Any:
    """The request botocore would send for ``operation``, signed, without sending it."""
    from botocore.awsrequest import AWSResponse
    from botocore.exceptions import BotoCoreError

    captured: list[Any] = []

    class _Empty:
        def stream(self, **_: Any) -> Any:
            return iter(())

        def read(self, *_: Any) -> bytes:
            return b""

    def capture(request: Any, **_: Any) -> Any:
        captured.append(request)
        return AWSResponse(request.url, 200, {}, _Empty())  # type: ignore[arg-type]

    event = f"before-send.s3.{operation}"
    client.meta.events.register_first(event, capture, unique_id="flask-s3-capture")
    try:
        method = getattr(client, _snake(operation))
        try:
            method(**params)
        except BotoCoreError:  # parsing our empty answer may fail; the request was made
            if not captured:
                raise
    finally:
        client.meta.events.unregister(event, unique_id="flask-s3-capture")
    return captured[0]


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def target_of(client: Any, bucket: str) -> Target | None:
    """botocore's decisions for ``bucket``; None when the fast store cannot follow them."""
    from botocore.exceptions import BotoCoreError

    config = client.meta.config
    retries = dict(getattr(config, "retries", None) or {})
    if retries.get("mode", "legacy") != "standard":
        return None
    checksums = (config.request_checksum_calculation, config.response_checksum_validation)
    if checksums != ("when_required", "when_required"):
        return None  # CRC trailers on uploads and checksum checks on reads: botocore's own
    credentials = getattr(client._request_signer, "_credentials", None)
    if credentials is None:
        return None
    try:
        request = prepared_request(client, "HeadBucket", Bucket=bucket)
    except BotoCoreError:
        return None
    auth = request.headers.get("Authorization", b"")
    auth = auth.decode() if isinstance(auth, bytes) else str(auth)
    if not auth.startswith("AWS4-HMAC-SHA256 Credential="):
        return None  # SigV4a, S3 Express, anonymous: botocore's own business
    scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
    if len(scope) != 5 or scope[3] != "s3" or scope[4] != "aws4_request":
        return None
    url = urlsplit(request.url)
    if url.query or url.scheme not in ("http", "https"):
        return None
    session = client._endpoint.http_session
    if session._proxy_config.proxy_url_for(request.url):
        return None  # proxies (and their TLS and auth) are left to botocore's HTTP layer
    path = url.path.rstrip("/")
    if path and not path.endswith("/" + quote(bucket, safe="~")):
        return None
    total = retries.get("total_max_attempts")
    verify = session._verify
    if verify is True:
        from botocore.httpsession import get_cert_path

        verify = get_cert_path(True)  # the bundle botocore itself loads
    return Target(
        scheme=url.scheme,
        host=url.netloc,
        base_path=path,
        region=scope[2],
        verify=verify,
        connect_timeout=float(config.connect_timeout),
        read_timeout=float(config.read_timeout),
        max_attempts=int(total) if total else 3,
        pool_size=int(config.max_pool_connections or 10),
        sign_payload=(getattr(config, "s3", None) or {}).get("payload_signing_enabled"),
        credential_method=str(getattr(credentials, "method", "") or ""),
    )


# -- remembering botocore's answer ----------------------------------------------------------


def _inputs_digest(spec: Spec, explicit_keys: bool, workers: int) -> str | None:
    """A digest of everything botocore reads to decide; None if botocore can't be found."""
    import importlib.util

    found = importlib.util.find_spec("botocore")
    if found is None or found.origin is None:
        return None
    origin = Path(found.origin)
    digest = hashlib.sha256()

    def add(*parts: object) -> None:
        for part in parts:
            digest.update(repr(part).encode())
            digest.update(b"\0")

    add(RESOLVE_FORMAT, str(origin), origin.stat().st_mtime_ns, explicit_keys, workers)
    bucket = spec.bucket
    add(bucket.name, bucket.region, bucket.endpoint_url, bucket.profile, spec.upload.concurrency)
    for name in sorted(os.environ):
        if (
            name.startswith("AWS_")
            or name.upper() in PROXY_VARIABLES
            or name
            in (
                "REQUESTS_CA_BUNDLE",
                "HOME",
                "BOTO_CONFIG",
            )
        ):
            add(name, os.environ[name])
    home = Path(os.environ.get("HOME") or "~").expanduser()
    for variable, default in (
        ("AWS_CONFIG_FILE", home / ".aws" / "config"),
        ("AWS_SHARED_CREDENTIALS_FILE", home / ".aws" / "credentials"),
    ):
        path = Path(os.environ.get(variable) or default).expanduser()
        try:
            add(path.read_bytes())
        except OSError:
            add(None)
    return digest.hexdigest()


def _seal(secret_key: str, digest: str, fields: dict[str, Any]) -> str:
    """The HMAC that vouches for a remembered answer; only the secret key's holder makes it."""
    key = hashlib.sha256(b"flask-s3 decision cache\0" + secret_key.encode()).digest()
    body = json.dumps({"digest": digest, **fields}, sort_keys=True).encode()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def _remembered(digest: str, secret_key: str) -> Target | None:
    """The answer remembered for ``digest``, if its seal holds for ``secret_key``."""
    directory = cache_dir()
    if directory is None:
        return None
    try:
        data = json.loads((directory / f"target-{digest[:32]}.json").read_text())
        seal = data.pop("seal")
        if data.pop("digest") != digest or not isinstance(seal, str):
            return None
        if not hmac.compare_digest(seal, _seal(secret_key, digest, data)):
            return None  # edited, or written for other credentials: ask botocore again
        return Target(**data)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def _remember(digest: str, target: Target, secret_key: str) -> None:
    directory = cache_dir()
    if directory is None or "@" in target.host:
        return  # userinfo in the endpoint would be a secret on disk: never remembered
    fields = asdict(target)
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = directory / f"target-{digest[:32]}.json"
        temp = path.with_suffix(f".{os.getpid()}.tmp")
        text = json.dumps({"digest": digest, **fields, "seal": _seal(secret_key, digest, fields)})
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        temp.replace(path)
    except OSError:
        pass  # a cache that cannot be written only costs time


@frozen
class StaticCredentials:
    """Keys botocore found in the environment or was given: nothing to refresh."""

    access_key: str
    secret_key: str = field(repr=False)  # a repr (a log line, a traceback) never shows it
    token: str | None = field(default=None, repr=False)

    def get_frozen_credentials(self) -> StaticCredentials:
        return self


def _env_credentials() -> StaticCredentials | None:
    """botocore's EnvProvider, for a run whose inputs botocore already judged ("env")."""
    access_key = os.environ.get("AWS_ACCESS_KEY_ID")
    secret_key = os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not (access_key and secret_key) or os.environ.get("AWS_CREDENTIAL_EXPIRATION"):
        return None
    token = os.environ.get("AWS_SESSION_TOKEN") or os.environ.get("AWS_SECURITY_TOKEN")
    return StaticCredentials(access_key, secret_key, token)


# -- choosing the store once per run --------------------------------------------------------


def open_store(
    spec: Spec,
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
    concurrency: int | None = None,
    client: S3Client | None = None,
) -> Store:
    """The store for this run: fast where botocore's decisions allow it, else boto3.

    ``client`` is a boto3 client of the caller's; its configuration is obeyed as it is.
    ``FLASK_S3_STORE=boto3`` (or ``fast``) forces a choice, for tests and for debugging.
    """
    choice = os.environ.get(STORE_VARIABLE, "auto").strip().lower() or "auto"
    if choice not in ("auto", "fast", "boto3"):
        raise S3Error(
            f"{STORE_VARIABLE} is {choice!r}", f"Set {STORE_VARIABLE} to fast, boto3 or auto."
        )
    workers = concurrency or spec.upload.concurrency
    owner = spec.bucket.expected_owner
    explicit = bool(access_key and secret_key)
    own_client = client is None
    digest = _inputs_digest(spec, explicit, workers) if own_client and choice != "boto3" else None
    redirect = _redirector(spec, access_key, secret_key, workers) if own_client else None
    if digest is not None:
        # The credentials come first: the remembered answer is only believed if it is
        # sealed with their secret key.
        credentials: Any = None
        if explicit:
            credentials = StaticCredentials(access_key or "", secret_key or "")
        else:
            credentials = _env_credentials()
        target = _remembered(digest, credentials.secret_key) if credentials else None
        if target is not None and not explicit and target.credential_method != "env":
            target = None
        if target is not None and credentials is not None:
            from .fast import FastStore

            return FastStore(
                spec.bucket.name, target, credentials, expected_owner=owner, redirect=redirect
            )
    if client is None:
        client = boto_client(spec, access_key, secret_key, workers)
    target = None if choice == "boto3" else target_of(client, spec.bucket.name)
    if target is None:
        if choice == "fast":
            raise S3Error(
                f"{STORE_VARIABLE}=fast, but botocore's set-up for this bucket needs boto3",
                "A proxy, a non-standard retry mode, SigV4a or anonymous access: unset "
                f"{STORE_VARIABLE} to let flask-s3 choose.",
            )
        from .boto import BotoStore

        return BotoStore(client, spec.bucket.name, expected_owner=owner)
    credentials = client._request_signer._credentials  # type: ignore[attr-defined]
    if digest is not None and target.credential_method in ("env", "explicit"):
        _remember(digest, target, credentials.get_frozen_credentials().secret_key)
    from .fast import FastStore

    return FastStore(spec.bucket.name, target, credentials, expected_owner=owner, redirect=redirect)


_redirect_lock = threading.Lock()


def _redirector(spec: Spec, access_key: str | None, secret_key: str | None, workers: int) -> Any:
    """For a bucket in another region: botocore's decisions for that region (as it follows)."""

    def redirect(region: str) -> Target | None:
        with _redirect_lock:
            client = boto_client(spec, access_key, secret_key, workers, region=region)
            return target_of(client, spec.bucket.name)

    return redirect
