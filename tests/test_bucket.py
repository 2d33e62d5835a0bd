"""Bucket-level settings as planned resources: CORS rules and the public-read statement."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from faultproxy import FaultProxy
from flask import Flask

from flask_s3.deployer.apply import apply_plan
from flask_s3.deployer.render import render_markdown, render_text
from flask_s3.deployer.snapshot import snapshot
from flask_s3.errors import S3Error
from flask_s3.remote.bucket import POLICY_SID
from flask_s3.s3 import open_store
from flask_s3.spec import BucketSpec, CorsSpec, Spec

pytestmark = pytest.mark.usefixtures("both_stores")


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "app.css").write_text("body{}")
    return Flask("bucketapp", root_path=str(tmp_path))


def spec_for(endpoint: str, bucket: str, **settings: Any) -> Spec:
    return Spec(bucket=BucketSpec(name=bucket, endpoint_url=endpoint, **settings), digest="x")


def deploy(spec: Spec, app: Flask) -> Any:
    client = open_store(spec)
    snap = snapshot(spec, app, client)
    apply_plan(snap.plan, spec, snap.local, client, remote=snap.remote)
    return snap.plan


def anonymous_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return err.code


def test_cors_and_policy_are_planned_applied_and_converge(
    s3_server, s3_env, bucket_name, app, s3_client
):
    cors = CorsSpec(allowed_origins=("https://shop.example.com",))
    spec = spec_for(s3_server.endpoint_url, bucket_name, cors=cors, public_read_policy=True)
    url = f"{s3_server.endpoint_url}/{bucket_name}/static/app.css"
    plan = deploy(spec, app)
    assert [a.action for a in plan.actions[:3]] == [
        "create-bucket",
        "update-bucket-cors",
        "update-bucket-policy",
    ]
    rules = s3_client.get_bucket_cors(Bucket=bucket_name)["CORSRules"]
    assert rules[0]["AllowedOrigins"] == ["https://shop.example.com"]
    assert sorted(rules[0]["AllowedMethods"]) == ["GET", "HEAD"]
    assert anonymous_status(url) == 200
    again = snapshot(spec, app, open_store(spec)).plan
    assert not again.has_changes

    wider = replace(
        spec,
        bucket=replace(
            spec.bucket, cors=CorsSpec(allowed_origins=("https://a.example", "https://b.example"))
        ),
    )
    plan = snapshot(wider, app, open_store(wider)).plan
    [change] = plan.actions
    assert change.action == "update-bucket-cors"
    assert change.before[0]["AllowedOrigins"] == ["https://shop.example.com"]
    assert change.after[0]["AllowedOrigins"] == ["https://a.example", "https://b.example"]
    text = render_text(plan.to_dict())
    assert "before:" in text and "https://shop.example.com" in text
    assert "https://b.example" in text
    assert "update-bucket-cors" in render_markdown(plan.to_dict())


def test_policy_statement_leaves_other_statements_alone(
    s3_server, s3_env, bucket_name, app, s3_client
):
    s3_client.create_bucket(Bucket=bucket_name)
    other = {
        "Sid": "TeamReads",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket_name}/shared/*",
    }
    s3_client.put_bucket_policy(
        Bucket=bucket_name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [other]})
    )
    spec = spec_for(s3_server.endpoint_url, bucket_name, public_read_policy=True)
    deploy(spec, app)
    statements = json.loads(s3_client.get_bucket_policy(Bucket=bucket_name)["Policy"])["Statement"]
    assert {s.get("Sid") for s in statements} == {"TeamReads", POLICY_SID}

    off = replace(spec, bucket=replace(spec.bucket, public_read_policy=False))
    plan = snapshot(off, app, open_store(off)).plan
    assert [(a.action, a.after) for a in plan.actions] == [("update-bucket-policy", None)]
    deploy(off, app)
    statements = json.loads(s3_client.get_bucket_policy(Bucket=bucket_name)["Policy"])["Statement"]
    assert [s.get("Sid") for s in statements] == ["TeamReads"]
    assert anonymous_status(f"{s3_server.endpoint_url}/{bucket_name}/static/app.css") == 403
    assert not snapshot(off, app, open_store(off)).plan.has_changes


def test_denied_cors_read_names_the_permission(s3_server, s3_env, bucket_name, app, s3_client):
    s3_client.create_bucket(Bucket=bucket_name)
    port = int(s3_server.endpoint_url.rsplit(":", 1)[1])
    proxy = FaultProxy(port, policy=lambda m, p, n: "403" if "?cors" in p else "pass")
    try:
        spec = spec_for(
            proxy.endpoint_url, bucket_name, cors=CorsSpec(allowed_origins=("https://x.example",))
        )
        with pytest.raises(S3Error) as info:
            snapshot(spec, app, open_store(spec))
    finally:
        proxy.close()
    assert "s3:GetBucketCORS" in info.value.detail
