"""Both stores behave as boto3 does where a loopback server makes S3 misbehave on purpose:
a private CA, a bucket in another region, a refusal before a large body, throttling, and a
lock that cannot be read."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from itertools import pairwise
from typing import Any

import pytest

from flask_s3.errors import ApplyError, S3Error
from flask_s3.remote.inventory import gather_remote, read_manifest
from flask_s3.s3 import StoreError, open_store
from flask_s3.s3.lock import apply_lock
from flask_s3.spec import BucketSpec, Spec
from tests.loopback import LISTING, Answer, Loopback, error, serve

pytestmark = pytest.mark.usefixtures("both_stores")


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDLOOPBACK")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "loopback-secret")


def spec_for(url: str, region: str = "us-east-1") -> Spec:
    return Spec(bucket=BucketSpec(name="site-assets", endpoint_url=url, region=region))


def ok(seen: Any) -> Answer:
    return Answer(200, LISTING if "list-type" in seen.path else b"")


def test_a_private_ca_is_named_and_aws_ca_bundle_is_honoured(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
):
    import trustme

    ca = trustme.CA()
    context = __import__("ssl").create_default_context(__import__("ssl").Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    with serve(Loopback(ok), context) as loop:
        with pytest.raises(S3Error) as info:
            gather_remote(open_store(spec_for(loop.url)), spec_for(loop.url))
        assert "TLS certificate" in info.value.summary
        assert "certificate" in info.value.detail
        assert "AWS_CA_BUNDLE" in info.value.detail
        bundle = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(bundle))
        monkeypatch.setenv("AWS_CA_BUNDLE", str(bundle))
        assert gather_remote(open_store(spec_for(loop.url)), spec_for(loop.url)).exists


def test_a_bucket_in_another_region_is_followed(both_stores: str):
    def redirect(seen: Any) -> Answer:
        if seen.region != "eu-central-1":
            return error(301, "PermanentRedirect", **{"x-amz-bucket-region": "eu-central-1"})
        return ok(seen)

    with serve(Loopback(redirect)) as loop:
        store = open_store(spec_for(loop.url, "us-east-1"))
        assert store.bucket_exists() is True
        assert list(store.list_objects("static/")) == []
        assert [s.region for s in loop.seen] == ["us-east-1", "eu-central-1", "eu-central-1"]


def test_a_large_put_refused_before_its_body_is_access_denied():
    big = b"x" * (20 * 1024 * 1024)
    md5 = base64.b64encode(hashlib.md5(big).digest()).decode()
    denied = error(403, "AccessDenied")
    with serve(Loopback(ok, before_body=lambda seen: denied)) as loop:
        store = open_store(spec_for(loop.url))
        started = time.monotonic()
        with pytest.raises(StoreError) as info:
            store.put_object(
                "static/video.mp4", lambda: big, size=len(big), md5_b64=md5, headers={}
            )
        assert info.value.code == "AccessDenied"
        assert len(loop.seen) == 1 and loop.seen[0].body_read == 0  # asked first, sent nothing
        assert loop.seen[0].headers.get("expect") == "100-continue"
        assert time.monotonic() - started < 5


def test_throttling_is_retried(monkeypatch: pytest.MonkeyPatch):
    answers = [error(429, "TooManyRequests"), error(503, "SlowDown"), Answer(429)]

    def throttled(seen: Any) -> Answer:
        return answers.pop(0) if answers else Answer(200, b"{}")

    monkeypatch.setattr("random.random", lambda: 0.01)  # short back-off
    with serve(Loopback(throttled)) as loop:
        store = open_store(spec_for(loop.url))
        assert store.get_object("static/app.js") == b"{}"
        assert len(loop.seen) == 4


def test_a_lock_that_cannot_be_read_is_not_broken():
    held = json.dumps({"host": "ci-7", "since": "now", "epoch": 1000}).encode()  # old, but...

    def busy(seen: Any) -> Answer:
        if seen.method == "PUT":
            return error(412, "PreconditionFailed")
        if seen.method == "GET":
            return error(503, "ServiceUnavailable")  # ...its age cannot be read
        return Answer(204)

    with serve(Loopback(busy)) as loop:
        store = open_store(spec_for(loop.url))
        with pytest.raises(ApplyError, match="cannot be read") as info:
            with apply_lock(store, ".flask-s3/lock.json"):
                pass
        assert "delete that object by hand" in info.value.detail
        assert not [s for s in loop.seen if s.method == "DELETE"]
        assert held  # the record a readable lock would have had


def test_a_long_apply_refreshes_its_lock_and_releases_it_on_the_etag_it_wrote():
    written: list[tuple[Any, str]] = []  # (PUT seen, the ETag answered)

    def one_object(seen: Any) -> Answer:
        if seen.method == "PUT":
            etag = f'"{len(written) + 1:032x}"'
            written.append((seen, etag))
            return Answer(200, headers={"ETag": etag})
        return Answer(204)

    with serve(Loopback(one_object)) as loop:
        store = open_store(spec_for(loop.url))
        with apply_lock(store, ".flask-s3/lock.json", refresh_every=0.2) as held:
            time.sleep(0.7)
            assert not held.proven  # taken with If-None-Match: nothing known before
        assert len(written) >= 4  # taken, refreshed twice or more, released
        assert written[0][0].headers.get("if-none-match") == "*"
        # each write names the ETag of the one before: a record someone else wrote is refused
        for (_, etag), (after, _) in pairwise(written):
            assert after.headers.get("if-match") == etag
            assert "if-none-match" not in after.headers
        assert not [s for s in loop.seen if s.method in ("DELETE", "GET")]
    records = [json.loads(seen.body) for seen, _ in written]
    assert len({r["token"] for r in records[:-1]}) == 1  # one holder, refreshing
    assert records[-2]["epoch"] > records[0]["epoch"]
    assert records[-1]["released"] is True and "token" not in records[-1]


def test_a_bucket_of_another_account_is_refused_with_the_owner_named():
    def owner_checked(seen: Any) -> Answer:
        if seen.headers.get("x-amz-expected-bucket-owner") != "111122223333":
            return error(403, "AccessDenied")
        return ok(seen)

    with serve(Loopback(owner_checked)) as loop:
        spec = spec_for(loop.url)
        owned = Spec(bucket=BucketSpec(**{**vars(spec.bucket), "expected_owner": "111122223333"}))
        assert gather_remote(open_store(owned), owned).exists
        assert {s.headers.get("x-amz-expected-bucket-owner") for s in loop.seen} == {"111122223333"}
        wrong = Spec(bucket=BucketSpec(**{**vars(spec.bucket), "expected_owner": "444455556666"}))
        with pytest.raises(S3Error) as info:
            read_manifest(open_store(wrong), ".flask-s3/manifest.json.gz")
        assert "not owned by account 444455556666" in info.value.detail


def test_a_listing_that_is_not_xml_is_an_error_not_a_traceback():
    def garbage(seen: Any) -> Answer:
        return Answer(200, b"<ListBucketResult><Contents><Key>\x01</Key>")

    with serve(Loopback(garbage)) as loop:
        store = open_store(spec_for(loop.url))
        with pytest.raises((StoreError, S3Error)):
            list(store.list_objects("static/"))
