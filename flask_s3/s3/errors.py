"""What can go wrong below the Store seam, and how it reads to a user.

Both stores raise the same two exception types, so nothing above the seam knows (or imports)
botocore: ``StoreError`` for an answer S3 gave, ``StoreUnreachable`` for no answer. The retry
rules are botocore's standard mode, proven equal to it by ``tests/test_s3_differential.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import S3Error

# botocore's standard retry mode (botocore/retries/standard.py): transient and throttling
# error codes, transient status codes; a 429 is throttling whatever its code.
TRANSIENT_CODES = frozenset(
    {"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete"}
)
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
TRANSIENT_STATUS = frozenset({500, 502, 503, 504})
THROTTLING_STATUS = frozenset({429})


def is_retryable(status: int, code: str) -> bool:
    """True for an answer botocore's standard retry mode would try again."""
    return (
        status in TRANSIENT_STATUS
        or status in THROTTLING_STATUS
        or code in TRANSIENT_CODES
        or code in THROTTLING_CODES
    )


class StoreError(Exception):
    """S3 answered with an error: its ``code`` (or the status as text), status and message."""

    def __init__(
        self, code: str, status: int, message: str = "", *, operation: str = "", region: str = ""
    ) -> None:
        super().__init__(f"{operation}: {code} ({status}) {message}".strip())
        self.code = code
        self.status = status
        self.message = message
        self.operation = operation
        self.region = region  # x-amz-bucket-region, when S3 named the bucket's region
        self.expected_owner = ""  # bucket.expected_owner the request carried, if any


class StoreUnreachable(Exception):
    """No answer from S3: ``kind`` is tls, dns, refused, timeout or connection."""

    def __init__(self, kind: str, endpoint: str, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.endpoint = endpoint
        self.reason = reason


class StoreCredentialsError(Exception):
    """No usable credentials (none found, a profile missing, a half-set pair)."""


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

PERMISSIONS = {
    "list": "s3:ListBucket",
    "head-bucket": "s3:ListBucket",
    "create-bucket": "s3:CreateBucket",
    "upload": "s3:PutObject",
    "copy": "s3:PutObject and s3:GetObject",
    "delete": "s3:DeleteObject",
    "read-manifest": "s3:GetObject",
    "read-lock": "s3:GetObject",
    "head": "s3:GetObject",
    "read-cors": "s3:GetBucketCORS",
    "write-cors": "s3:PutBucketCORS",
    "read-policy": "s3:GetBucketPolicy",
    "write-policy": "s3:PutBucketPolicy",
    "write-encryption": "s3:PutEncryptionConfiguration",
}

TLS_UNVERIFIED = (
    "the TLS certificate of the S3 endpoint could not be verified",
    "If the endpoint uses a private certificate authority, point AWS_CA_BUNDLE (or "
    "ca_bundle in the AWS config file) at its CA bundle.",
)
# kind -> (what happened, what to check). Refused and unresolvable say all there is on one
# line; for the others the cause underneath follows on the next.
_UNREACHABLE = {
    "dns": (
        "its host name does not resolve",
        "check bucket.endpoint_url / bucket.region and your DNS",
    ),
    "refused": (
        "connection refused",
        "check bucket.endpoint_url (or AWS_ENDPOINT_URL) and that the server is running",
    ),
    "timeout": (
        "timed out",
        "check bucket.endpoint_url, the network and any proxy settings",
    ),
    "connection": (
        "the connection failed",
        "check bucket.endpoint_url and that the server is running",
    ),
}


def describe_error(exc: BaseException, doing: str, bucket: str) -> S3Error:
    """One clear S3Error naming the cause and the fix (never a secret)."""
    if isinstance(exc, S3Error):
        return exc
    if isinstance(exc, StoreCredentialsError):
        return S3Error(
            "no AWS credentials found" + (f" ({exc})" if str(exc) else ""),
            "Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment, "
            "or name a profile in bucket.profile (or AWS_PROFILE).",
        )
    if isinstance(exc, StoreUnreachable):
        if exc.kind == "tls":
            summary, fix = TLS_UNVERIFIED
            return S3Error(
                f"{summary} while trying to {doing}", f"{exc.endpoint}: {exc.reason}. {fix}"
            )
        what, check = _UNREACHABLE.get(exc.kind, _UNREACHABLE["connection"])
        cause = "" if exc.kind in ("dns", "refused") else f"{exc.reason}."
        return S3Error(
            f"cannot reach the S3 endpoint {exc.endpoint} ({what}) while trying to {doing}; "
            f"{check}",
            cause,
        )
    if isinstance(exc, StoreError):
        code = exc.code
        if code in ("403", "Forbidden"):
            code = "AccessDenied"
        if code in ("404", "NotFound"):
            code = "NoSuchBucket"
        if code in ("301", "307"):
            code = "PermanentRedirect"
        fix = _FIXES.get(code, exc.message)
        if code in ("PermanentRedirect", "AuthorizationHeaderMalformed") and exc.region:
            fix = f"The bucket is in region {exc.region}. Set bucket.region: {exc.region}."
        if code == "AccessDenied" and doing in PERMISSIONS:
            fix = f"{fix} Missing permission: {PERMISSIONS[doing]} on bucket {bucket}."
        if code == "AccessDenied" and exc.expected_owner:
            fix += (
                f" Or the bucket is not owned by account {exc.expected_owner} "
                "(bucket.expected_owner)."
            )
        return S3Error(f"S3 refused to {doing} on bucket {bucket!r}: {code}", fix)
    raise exc


@contextmanager
def s3_errors(doing: str, bucket: str) -> Iterator[None]:
    """Turn store errors raised inside the block into one S3Error."""
    try:
        yield
    except (StoreError, StoreUnreachable, StoreCredentialsError) as exc:
        raise describe_error(exc, doing, bucket) from None
