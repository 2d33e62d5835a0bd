"""The fast store sends what botocore would send: same method, URL, signed headers, signature.

Offline: botocore prepares and signs each request and we capture it before it leaves
(``prepared_request``); the fast store's request is captured the same way, with the clock set
to the instant botocore signed at. A matrix of AWS set-ups (partitions, FIPS, dual-stack,
addressing styles, custom and environment endpoints, session tokens) and generated keys and
headers.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
import pytest
from botocore.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flask_s3.headers import http_date, to_put_params
from flask_s3.s3 import signed
from flask_s3.s3.boto import BotoStore
from flask_s3.s3.fast import FastStore
from flask_s3.s3.resolve import boto_client, open_store, prepared_request, target_of
from flask_s3.s3.transport import Response
from flask_s3.spec import BucketSpec, Spec

ACCESS, SECRET, TOKEN = (
    "AKIDEXAMPLE",
    "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "FQoGZXIvYXdzEXAMPLE",
)

# (id, spec bucket fields, environment)
SETUPS: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    ("us-east-1", {"region": "us-east-1"}, {}),
    ("eu-west-1", {"region": "eu-west-1"}, {}),
    ("china", {"region": "cn-north-1"}, {}),
    ("govcloud", {"region": "us-gov-west-1"}, {}),
    ("iso", {"region": "us-iso-east-1"}, {}),
    ("fips", {"region": "us-east-1"}, {"AWS_USE_FIPS_ENDPOINT": "true"}),
    ("dualstack", {"region": "eu-west-1"}, {"AWS_USE_DUALSTACK_ENDPOINT": "true"}),
    ("env-region-only", {}, {"AWS_DEFAULT_REGION": "ap-southeast-2"}),
    ("aws-region-var", {}, {"AWS_REGION": "eu-central-1"}),
    ("dotted-bucket", {"region": "eu-west-1", "name": "assets.example.com"}, {}),
    ("endpoint-port-path", {"endpoint_url": "https://gw.example.com:8443/s3"}, {}),
    ("endpoint-upper-host", {"endpoint_url": "https://GW.Example.COM"}, {}),
    ("endpoint-http", {"endpoint_url": "http://127.0.0.1:9000", "region": "us-west-2"}, {}),
    ("env-endpoint-s3", {"region": "eu-west-1"}, {"AWS_ENDPOINT_URL_S3": "https://s3.corp:9443"}),
    ("env-endpoint", {}, {"AWS_ENDPOINT_URL": "http://minio.local:9000"}),
    ("session-token", {"region": "us-west-2"}, {"AWS_SESSION_TOKEN": TOKEN}),
]


def spec_for(fields: dict[str, Any]) -> Spec:
    values = {"name": "site-assets", **fields}
    return Spec(bucket=BucketSpec(**values))


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    return monkeypatch


def fast_request(
    store: FastStore, stamp: str, call: Any, monkeypatch: Any
) -> tuple[str, str, dict[str, str], Any]:
    """What the fast store would send for ``call(store)``: (method, url, headers, body)."""
    sent: list[tuple[str, str, dict[str, str], Any]] = []

    def exchange(
        method: str,
        netloc: str,
        url: str,
        headers: dict[str, str],
        body: Any,
        size: int,
        sink: Any = None,
        limit: int | None = None,
    ) -> Response:
        data = body() if callable(body) else body
        if hasattr(data, "read"):
            data = data.read()
        sent.append((method, f"{store.target.scheme}://{netloc}{url}", headers, data))
        reply = b"<ListBucketResult/>" if "list-type" in url else b"{}"
        if "delete" in url:
            reply = b"<DeleteResult/>"
        if "cors" in url:
            reply = b"<CORSConfiguration/>"
        if "publicAccessBlock" in url:
            reply = b"<PublicAccessBlockConfiguration/>"
        if "x-amz-copy-source" in headers:
            reply = b"<CopyObjectResult><ETag>&quot;e&quot;</ETag></CopyObjectResult>"
        if "uploads" in url or "uploadId" in url:
            reply = b"<Result><UploadId>u-1/x</UploadId><ETag>&quot;e-2&quot;</ETag></Result>"
        return Response(200, reply, {})

    monkeypatch.setattr(store.requests.http, "exchange", exchange)
    monkeypatch.setattr(signed, "clock", lambda: stamp)
    result = call(store)
    if hasattr(result, "__next__"):
        list(result)
    assert len(sent) == 1
    return sent[0]


def signed_part(headers: Any) -> tuple[str, dict[str, str]]:
    """Authorization and the headers it names, lower-cased, values as text."""
    lower = {
        k.lower(): (v.decode() if isinstance(v, bytes) else str(v)) for k, v in headers.items()
    }
    auth = lower["authorization"]
    names = auth.split("SignedHeaders=", 1)[1].split(",", 1)[0].split(";")
    return auth, {n: lower[n] for n in names if n != "host"}


def url_parts(url: str) -> tuple[str, str, str, list[tuple[str, str]]]:
    parts = urlsplit(url)
    return (
        parts.scheme,
        parts.netloc.lower(),
        parts.path,
        sorted(parse_qsl(parts.query, keep_blank_values=True)),
    )


def assert_same(
    client: Any,
    store: FastStore,
    monkeypatch: Any,
    operation: str,
    params: dict[str, Any],
    call: Any,
) -> None:
    botocore_request = prepared_request(client, operation, **params)
    stamp = botocore_request.headers["X-Amz-Date"]
    stamp = stamp.decode() if isinstance(stamp, bytes) else stamp
    method, url, headers, body = fast_request(store, stamp, call, monkeypatch)
    assert method == botocore_request.method, operation
    assert url_parts(url) == url_parts(botocore_request.url), operation
    b_auth, b_signed = signed_part(botocore_request.headers)
    f_auth, f_signed = signed_part(headers)
    assert f_signed == b_signed, operation
    assert f_auth == b_auth, operation
    b_body = botocore_request.body
    if hasattr(b_body, "read"):
        b_body = b_body.read()
    assert (body or b"") == (b_body or b""), operation


def every_operation(
    client: Any, store: FastStore, monkeypatch: Any, key: str, headers: dict[str, str]
) -> None:
    bucket = store.bucket
    data = b"console.log('hi')\n"
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    same = lambda op, params, call: assert_same(client, store, monkeypatch, op, params, call)  # noqa: E731
    same("HeadBucket", {"Bucket": bucket}, lambda s: s.bucket_exists())
    same(
        "ListObjectsV2",
        {"Bucket": bucket, "Prefix": key, "Delimiter": "/", "EncodingType": "url"},
        lambda s: s.list_level(key),
    )
    same(  # one key range of the range listing (flask_s3/remote/listing.py)
        "ListObjectsV2",
        {
            "Bucket": bucket,
            "Prefix": key,
            "StartAfter": key + "m",
            "MaxKeys": 3,
            "EncodingType": "url",
        },
        lambda s: s.list_after(key, key + "m", None, page_size=3),
    )
    same(
        "PutObject",
        {"Bucket": bucket, "Key": key, "Body": data, "ContentMD5": md5, **to_put_params(headers)},
        lambda s: s.put_object(key, lambda: data, size=len(data), md5_b64=md5, headers=headers),
    )
    same(
        "PutObject",
        {
            "Bucket": bucket,
            "Key": key,
            "Body": b"{}",
            "ContentMD5": base64.b64encode(hashlib.md5(b"{}").digest()).decode(),
            "IfNoneMatch": "*",
        },
        lambda s: s.put_object(
            key,
            lambda: b"{}",
            size=2,
            md5_b64=base64.b64encode(hashlib.md5(b"{}").digest()).decode(),
            headers={},
            if_none_match=True,
        ),
    )
    same(  # the lock taken over, refreshed and released: conditional on the ETag read
        "PutObject",
        {
            "Bucket": bucket,
            "Key": key,
            "Body": b"{}",
            "ContentMD5": base64.b64encode(hashlib.md5(b"{}").digest()).decode(),
            "IfMatch": '"99914b932bd37a50b983c5e7c90ae93b"',
        },
        lambda s: s.put_object(
            key,
            lambda: b"{}",
            size=2,
            md5_b64=base64.b64encode(hashlib.md5(b"{}").digest()).decode(),
            headers={},
            if_match="99914b932bd37a50b983c5e7c90ae93b",
        ),
    )
    same(
        "CopyObject",
        {
            "Bucket": bucket,
            "Key": key,
            "CopySource": {"Bucket": bucket, "Key": key},
            "MetadataDirective": "REPLACE",
            **to_put_params(headers),
        },
        lambda s: s.copy_in_place(key, headers),
    )
    same("GetObject", {"Bucket": bucket, "Key": key}, lambda s: s.get_object(key))
    same("GetObject", {"Bucket": bucket, "Key": key}, lambda s: s.get_tagged(key))
    same("HeadObject", {"Bucket": bucket, "Key": key}, lambda s: s.head_object(key))
    same("DeleteObject", {"Bucket": bucket, "Key": key}, lambda s: s.delete_object(key))
    same(
        "DeleteObjects",
        {"Bucket": bucket, "Delete": {"Objects": [{"Key": key}, {"Key": "b&<c>"}], "Quiet": True}},
        lambda s: s.delete_objects([key, "b&<c>"]),
    )
    rules = [
        {
            "AllowedOrigins": ["https://a.example"],
            "AllowedMethods": ["GET", "HEAD"],
            "MaxAgeSeconds": 3000,
        }
    ]
    same(
        "PutBucketCors",
        {"Bucket": bucket, "CORSConfiguration": {"CORSRules": rules}},
        lambda s: s.put_bucket_cors(rules),
    )
    same("GetBucketCors", {"Bucket": bucket}, lambda s: s.get_bucket_cors())
    same("GetBucketPolicy", {"Bucket": bucket}, lambda s: s.get_bucket_policy())
    same(
        "PutBucketPolicy",
        {"Bucket": bucket, "Policy": '{"Version": "2012-10-17"}'},
        lambda s: s.put_bucket_policy('{"Version": "2012-10-17"}'),
    )
    same("DeleteBucketPolicy", {"Bucket": bucket}, lambda s: s.delete_bucket_policy())
    rule = {
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "k-1"},
        "BucketKeyEnabled": True,
    }
    same(
        "PutBucketEncryption",
        {"Bucket": bucket, "ServerSideEncryptionConfiguration": {"Rules": [rule]}},
        lambda s: s.put_bucket_encryption(rule),
    )
    same("GetPublicAccessBlock", {"Bucket": bucket}, lambda s: s.get_public_access_block())
    same(
        "CreateMultipartUpload",
        {"Bucket": bucket, "Key": key, **to_put_params(headers)},
        lambda s: s.create_multipart_upload(key, headers),
    )
    same(
        "UploadPart",
        {
            "Bucket": bucket,
            "Key": key,
            "UploadId": "u-1/x",
            "PartNumber": 2,
            "Body": data,
            "ContentMD5": md5,
        },
        lambda s: s.upload_part(key, "u-1/x", 2, lambda: data, size=len(data), md5_b64=md5),
    )
    parts = [(1, "9b2cf535f27731c974343645a3985328"), (2, "6f5902ac237024bdd0c176cb93063dc4")]
    same(
        "CompleteMultipartUpload",
        {
            "Bucket": bucket,
            "Key": key,
            "UploadId": "u-1/x",
            "MultipartUpload": {"Parts": [{"ETag": f'"{e}"', "PartNumber": n} for n, e in parts]},
        },
        lambda s: s.complete_multipart_upload(key, "u-1/x", parts),
    )
    same(
        "AbortMultipartUpload",
        {"Bucket": bucket, "Key": key, "UploadId": "u-1/x"},
        lambda s: s.abort_multipart_upload(key, "u-1/x"),
    )
    same(
        "ListMultipartUploads",
        {"Bucket": bucket, "Prefix": "static/"},
        lambda s: s.list_multipart_uploads("static/"),
    )


@pytest.mark.parametrize(("name", "fields", "variables"), SETUPS, ids=[s[0] for s in SETUPS])
def test_every_call_equals_botocore(
    env: pytest.MonkeyPatch, name: str, fields: dict[str, Any], variables: dict[str, str]
):
    for variable, value in variables.items():
        env.setenv(variable, value)
    spec = spec_for(fields)
    client = boto_client(spec)
    target = target_of(client, spec.bucket.name)
    assert target is not None, name
    store = FastStore(spec.bucket.name, target, client._request_signer._credentials)
    every_operation(
        client,
        store,
        env,
        "static/css/app.css",
        {
            "Content-Type": "text/css; charset=utf-8",
            "Cache-Control": "max-age=60",
            "x-amz-meta-team": "web",
        },
    )


def test_region_and_endpoint_are_botocores(env: pytest.MonkeyPatch):
    env.setenv("AWS_REGION", "eu-west-1")  # botocore's own reading of the environment decides
    spec = spec_for({})
    client = boto_client(spec)
    store = open_store(spec)
    assert store.region == client.meta.region_name
    env.setenv("AWS_ENDPOINT_URL_S3", "https://s3.corp.example:9443")
    store = open_store(spec)
    assert isinstance(store, FastStore)
    assert store.endpoint.startswith("https://") and "s3.corp.example:9443" in store.endpoint


KEYS = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\\"),
    min_size=1,
    max_size=40,
).map(lambda t: "static/" + t)
TOKENS = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20
)
HEADERS = st.fixed_dictionaries(
    {
        "Content-Type": st.sampled_from(
            ["text/css; charset=utf-8", "image/png", "application/javascript"]
        )
    },
    optional={
        "Cache-Control": TOKENS.map(lambda t: f"max-age=60,  {t}"),
        "Content-Disposition": TOKENS.map(lambda t: f"attachment; filename={t}"),
        "Content-Language": st.sampled_from(["en", "de-CH"]),
        "x-amz-meta-build": TOKENS,
        "Expires": st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1)).map(
            lambda d: http_date(d.isoformat()) or ""
        ),
    },
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(key=KEYS, headers=HEADERS, style=st.sampled_from(["virtual", "path"]), token=st.booleans())
def test_generated_keys_and_headers_equal_botocore(
    env: pytest.MonkeyPatch, key: str, headers: dict[str, str], style: str, token: bool
):
    client, store = client_and_store(style, token)
    every_operation(client, store, env, key, headers)


@functools.cache
def client_and_store(style: str, token: bool) -> tuple[Any, FastStore]:
    """One botocore client per set-up (making one costs a third of an example's time)."""
    session = boto3.session.Session(
        aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET,
        aws_session_token=TOKEN if token else None,
    )
    client = session.client(
        "s3",
        region_name="eu-west-1",
        config=Config(
            retries={"mode": "standard"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": style},
        ),
    )
    target = target_of(client, "site-assets")
    assert target is not None
    return client, FastStore("site-assets", target, client._request_signer._credentials)


def test_a_users_client_config_is_obeyed(env: pytest.MonkeyPatch, tmp_path: Any):
    from botocore.httpsession import get_cert_path

    bundle = tmp_path / "corp-ca.pem"
    bundle.write_bytes(open(get_cert_path(True), "rb").read())
    client = boto3.client(
        "s3",
        region_name="us-west-2",
        verify=str(bundle),
        config=Config(
            retries={"mode": "standard", "total_max_attempts": 7},
            connect_timeout=2,
            read_timeout=9,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )
    target = target_of(client, "site-assets")
    assert target is not None
    assert (target.verify, target.max_attempts, target.connect_timeout, target.read_timeout) == (
        str(bundle),
        7,
        2.0,
        9.0,
    )
    assert target.sign_payload is None  # botocore's implicit rule, which the fast store follows
    store = FastStore("site-assets", target, client._request_signer._credentials)
    every_operation(client, store, env, "static/app.js", {"Content-Type": "application/javascript"})


def test_proxies_and_other_retry_modes_go_to_boto3(env: pytest.MonkeyPatch):
    spec = spec_for({"region": "eu-west-1"})
    env.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    assert target_of(boto_client(spec), "site-assets") is None
    assert open_store(spec).kind == "boto3"
    env.delenv("HTTPS_PROXY")
    legacy = boto3.client("s3", region_name="eu-west-1", config=Config(retries={"mode": "legacy"}))
    assert target_of(legacy, "site-assets") is None
    assert open_store(spec, client=legacy).kind == "boto3"
    default = boto3.client("s3", region_name="eu-west-1")  # CRC32 on uploads, checked reads
    assert open_store(spec, client=default).kind == "boto3"


def test_expected_owner_is_sent_and_signed_on_both_paths(env: pytest.MonkeyPatch):
    spec = Spec(
        bucket=BucketSpec(name="site-assets", region="eu-west-1", expected_owner="123456789012")
    )
    env.setenv("FLASK_S3_STORE", "boto3")
    boto_store = open_store(spec)
    assert isinstance(boto_store, BotoStore)
    request = prepared_request(boto_store.client, "GetObject", Bucket="site-assets", Key="k")
    assert request.headers["x-amz-expected-bucket-owner"] in ("123456789012", b"123456789012")
    env.delenv("FLASK_S3_STORE")
    store = open_store(spec)
    assert isinstance(store, FastStore)
    stamp = request.headers["X-Amz-Date"].decode()
    _, _, headers, _ = fast_request(store, stamp, lambda s: s.get_object("k"), env)
    assert headers["x-amz-expected-bucket-owner"] == "123456789012"
    assert signed_part(headers) == signed_part(request.headers)


def test_botocores_retry_rules_are_ours():
    from botocore.retries import standard

    from flask_s3.s3 import errors

    assert errors.TRANSIENT_CODES == set(standard.TransientRetryableChecker._TRANSIENT_ERROR_CODES)
    assert errors.TRANSIENT_STATUS == set(
        standard.TransientRetryableChecker._TRANSIENT_STATUS_CODES
    )
    assert errors.THROTTLING_CODES == set(standard.ThrottledRetryableChecker._THROTTLED_ERROR_CODES)
    assert errors.THROTTLING_STATUS == set(
        standard.ThrottlingStatusCodeChecker._THROTTLING_STATUS_CODES
    )


def test_remembered_decisions_hold_no_secret_and_follow_the_environment(
    env: pytest.MonkeyPatch, tmp_path: Any
):
    from flask_s3.s3 import resolve

    env.setenv("FLASK_S3_CACHE_DIR", str(tmp_path / "cache"))
    env.setenv("AWS_SESSION_TOKEN", TOKEN)
    spec = spec_for({"region": "eu-west-1"})
    first = open_store(spec)
    assert isinstance(first, FastStore)
    files = list((tmp_path / "cache").glob("target-*.json"))
    assert len(files) == 1
    text = files[0].read_text()
    assert SECRET not in text and TOKEN not in text and ACCESS not in text

    def no_botocore(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("botocore consulted although nothing changed")

    env.setattr(resolve, "boto_client", no_botocore)
    again = open_store(spec)
    assert isinstance(again, FastStore) and again.target == first.target
    frozen = again.requests.signer.credentials.get_frozen_credentials()
    assert (frozen.access_key, frozen.token) == (ACCESS, TOKEN)
    env.setenv("AWS_USE_DUALSTACK_ENDPOINT", "true")  # any input botocore reads: asked again
    with pytest.raises(AssertionError, match="botocore consulted"):
        open_store(spec)


def test_expires_is_written_as_an_http_date():
    assert http_date("2027-01-01T00:00:00Z") == "Fri, 01 Jan 2027 00:00:00 GMT"
    assert http_date("Fri, 01 Jan 2027 01:00:00 +0100") == "Fri, 01 Jan 2027 00:00:00 GMT"
    assert http_date("next tuesday") is None


# -- first contact (issue 26): a refused or unresolvable endpoint, judged as botocore does ------


def _listener() -> Any:
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    return server


def _accepted(server: Any) -> int:

    count = 0
    while True:
        try:
            conn, _ = server.accept()
        except (TimeoutError, BlockingIOError):
            return count
        conn.close()
        count += 1


@pytest.mark.parametrize("kind", ["fast", "boto3"])
def test_first_contact_dials_where_botocores_requests_go(env: pytest.MonkeyPatch, kind: str):
    from flask_s3.s3.reach import first_contact

    server = _listener()
    try:
        host, port = server.getsockname()
        spec = spec_for({"endpoint_url": f"http://{host}:{port}", "region": "us-east-1"})
        env.setenv("FLASK_S3_STORE", kind)
        store = open_store(spec)
        assert store.kind == kind
        request = prepared_request(boto_client(spec), "ListObjectsV2", Bucket="site-assets")
        assert urlsplit(request.url).netloc == f"{host}:{port}"
        first_contact(store)
        assert _accepted(server) == 1  # one connection, to that address, no request sent
    finally:
        server.close()


def test_first_contact_is_skipped_behind_a_proxy_as_botocore_connects_there(
    env: pytest.MonkeyPatch,
):
    from flask_s3.s3.reach import boto_address

    spec = spec_for({"endpoint_url": "http://127.0.0.1:9", "region": "us-east-1"})
    assert boto_address(boto_client(spec)) == ("127.0.0.1", 9, 5.0)
    env.setenv("HTTP_PROXY", "http://proxy.corp:3128")
    client = boto_client(spec)
    assert client._endpoint.http_session._proxy_config.proxy_url_for("http://127.0.0.1:9/x")
    assert boto_address(client) is None


@pytest.mark.parametrize(
    "endpoint, kind",
    [(None, "refused"), ("http://no-such-host.invalid:9000", "dns")],
    ids=["refused", "unresolvable"],
)
def test_first_contact_decides_as_botocore_with_a_budget_of_one_attempt(
    env: pytest.MonkeyPatch, endpoint: str | None, kind: str
):
    """The check's budget is one attempt with botocore's connect timeout: botocore, given that
    budget, makes one attempt and fails the same way, as fast; the run's requests keep theirs."""
    import time

    from botocore.exceptions import EndpointConnectionError

    from flask_s3.errors import S3Error
    from flask_s3.s3.boto import _connection_kind
    from flask_s3.s3.reach import check_endpoint

    if endpoint is None:
        server = _listener()
        endpoint = f"http://127.0.0.1:{server.getsockname()[1]}"
        server.close()  # nothing listens there any more: connections are refused
    spec = spec_for({"endpoint_url": endpoint, "region": "us-east-1"})
    client = boto_client(spec)
    assert target_of(client, "site-assets").max_attempts == 5  # the requests' budget
    one = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=client.meta.config.merge(
            Config(retries={"mode": "standard", "total_max_attempts": 1})
        ),
    )
    assert target_of(one, "site-assets").max_attempts == 1
    started = time.monotonic()
    with pytest.raises(EndpointConnectionError) as botocore_says:
        one.head_bucket(Bucket="site-assets")
    botocore_took = time.monotonic() - started
    assert _connection_kind(str(botocore_says.value.kwargs["error"])) == kind
    for store_kind in ("fast", "boto3"):
        env.setenv("FLASK_S3_STORE", store_kind)
        store = open_store(spec)
        started = time.monotonic()
        with pytest.raises(S3Error) as ours:
            check_endpoint(store)
        assert time.monotonic() - started < 2 * botocore_took + 1.0  # room for a busy machine
        what = "connection refused" if kind == "refused" else "its host name does not resolve"
        assert ours.value.summary.startswith(f"cannot reach the S3 endpoint {endpoint} ({what})")
        assert ours.value.detail == ""
