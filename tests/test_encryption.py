"""assets.encryption: checked on SeaweedFS 4.48, which stores x-amz-server-side-encryption
(AES256) and returns it on HEAD, and honours a bucket's default encryption. It has no KMS, so
aws:kms is asserted on the wire, through the loopback proxy of tests/faultproxy.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from faultproxy import FaultProxy
from flask import Flask

from flask_s3.assets.scan import scan_app
from flask_s3.deployer.apply import Report, apply_plan, copy_headers, put_asset
from flask_s3.deployer.snapshot import snapshot
from flask_s3.remote.inventory import control_key
from flask_s3.s3 import StoreError, open_store
from flask_s3.s3.manifest import MANIFEST_NAME
from flask_s3.spec import AssetsSpec, BucketSpec, EncryptionSpec, Spec

SSE = "x-amz-server-side-encryption"
KMS_KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
FILES = ["static/css/app.css", "static/js/app.js", "static/img/logo.svg"]


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    for rel in FILES:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"/* {rel} */\n")
    return Flask("sse", root_path=str(tmp_path))


@pytest.fixture
def proxy(s3_server: Any) -> Iterator[FaultProxy]:
    fault_proxy = FaultProxy(int(s3_server.endpoint_url.rsplit(":", 1)[1]))
    yield fault_proxy
    fault_proxy.close()


def make_spec(endpoint: str, bucket: str, kind: str = "none", key: str | None = None) -> Spec:
    return Spec(
        bucket=BucketSpec(name=bucket, endpoint_url=endpoint, region="us-east-1"),
        assets=AssetsSpec(encryption=EncryptionSpec(type=kind, kms_key_id=key)),  # type: ignore[arg-type]
        digest="sha256:sse-" + kind,
    )


def deploy(spec: Spec, app: Flask, client: Any) -> Report:
    snap = snapshot(spec, app, client)
    return apply_plan(snap.plan, spec, snap.local, client, remote=snap.remote)


def heads(s3_client: Any, bucket: str, keys: list[str]) -> dict[str, tuple[str | None, str]]:
    out = {}
    for key in keys:
        head = s3_client.head_object(Bucket=bucket, Key=key)
        out[key] = (head.get("ServerSideEncryption"), head["ETag"])
    return out


def test_aes256_on_every_object_the_manifest_and_the_new_bucket(
    s3_server, s3_env, s3_client, bucket_name, app
):
    spec = make_spec(s3_server.endpoint_url, bucket_name, "AES256")
    report = deploy(spec, app, open_store(spec))
    assert report.bucket_created and report.uploaded == 3
    seen = heads(s3_client, bucket_name, [*FILES, control_key(spec, MANIFEST_NAME)])
    assert {sse for sse, _ in seen.values()} == {"AES256"}
    rules = s3_client.get_bucket_encryption(Bucket=bucket_name)[
        "ServerSideEncryptionConfiguration"
    ]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert not snapshot(spec, app, open_store(spec)).plan.has_changes


def test_a_changed_setting_is_a_copy_in_place_both_ways(
    s3_server, s3_env, s3_client, bucket_name, app
):
    plain = make_spec(s3_server.endpoint_url, bucket_name)
    client = open_store(plain)
    deploy(plain, app, client)
    before = heads(s3_client, bucket_name, FILES)
    assert {sse for sse, _ in before.values()} == {None}
    with pytest.raises(ClientError):  # encryption: none gives a new bucket no default
        s3_client.get_bucket_encryption(Bucket=bucket_name)

    encrypted = make_spec(s3_server.endpoint_url, bucket_name, "AES256")
    plan = snapshot(encrypted, app, client).plan
    assert [a.action for a in plan.actions] == ["update-headers"] * 3
    assert all(a.changed == {SSE: (None, "AES256")} for a in plan.actions)
    counts = s3_server.request_counts()
    report = apply_plan(plan, encrypted, scan_app(app, encrypted), client)
    assert report.headers_updated == 3 and report.bytes_sent == 0
    delta = {k: v - counts.get(k, 0) for k, v in s3_server.request_counts().items()}
    assert delta.get("COPY", 0) == 3
    after = heads(s3_client, bucket_name, FILES)
    assert after == {k: ("AES256", etag) for k, (_, etag) in before.items()}  # same bytes

    back = snapshot(plain, app, client).plan
    assert all(a.changed == {SSE: ("AES256", None)} for a in back.actions)
    assert len(back.actions) == 3
    apply_plan(back, plain, scan_app(app, plain), client)
    assert {sse for sse, _ in heads(s3_client, bucket_name, FILES).values()} == {None}


def test_bucket_default_encryption_is_no_change_when_the_spec_leaves_it(
    s3_server, s3_env, s3_client, bucket_name, app
):
    # AWS has encrypted every new object with AES256 since 2023; HEAD reports it. With
    # encryption: none and no manifest (every object is HEADed), that is not a change.
    s3_client.create_bucket(Bucket=bucket_name)
    s3_client.put_bucket_encryption(
        Bucket=bucket_name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    spec = make_spec(s3_server.endpoint_url, bucket_name)
    client = open_store(spec)
    deploy(spec, app, client)
    assert {sse for sse, _ in heads(s3_client, bucket_name, FILES).values()} == {"AES256"}
    s3_client.delete_object(Bucket=bucket_name, Key=control_key(spec, MANIFEST_NAME))
    plan = snapshot(spec, app, client).plan
    assert plan.remote.manifest == "missing"
    assert plan.of_kind("update-headers") == []


def kms_sent(proxy: FaultProxy, method: str) -> list[dict[str, str]]:
    return [h for (m, _, _), h in zip(proxy.seen, proxy.headers, strict=True) if m == method]


def test_kms_headers_on_the_wire_for_puts_and_copies_on_both_store_paths(
    proxy, s3_server, s3_env, bucket_name, app, monkeypatch: pytest.MonkeyPatch
):
    spec = make_spec(proxy.endpoint_url, bucket_name, "aws:kms", KMS_KEY)
    asset = scan_app(app, spec).assets["static/css/app.css"]
    assert asset.headers[SSE] == "aws:kms"
    assert any("SSE-KMS" in w for w in scan_app(app, spec).warnings)
    # SeaweedFS has no KMS: the proxy refuses the writes, after recording what was sent.
    proxy.policy = lambda method, path, n: "403" if method == "PUT" else "pass"
    for kind in ("fast", "boto3"):
        monkeypatch.setenv("FLASK_S3_STORE", kind)
        store = open_store(spec)
        assert store.kind == kind
        with pytest.raises(StoreError):
            put_asset(store, spec, asset)
        with pytest.raises(StoreError):
            copy_headers(store, spec, asset)
    puts = kms_sent(proxy, "PUT")
    assert len(puts) == 4
    for sent in puts:
        assert sent[SSE] == "aws:kms"
        assert sent["x-amz-server-side-encryption-aws-kms-key-id"] == KMS_KEY
    copies = [h for h in puts if "x-amz-copy-source" in h]
    assert len(copies) == 2 and all(c["x-amz-metadata-directive"] == "REPLACE" for c in copies)
    fast_put, boto_put = (h for h in puts if "x-amz-copy-source" not in h)
    assert "amz-sdk-invocation-id" not in fast_put  # sent by our own SigV4 store
    assert "amz-sdk-invocation-id" in boto_put  # sent by botocore
