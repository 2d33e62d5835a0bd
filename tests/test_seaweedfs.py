"""The embedded SeaweedFS: real credentials checks, HTTP serving, metrics, clean stop."""

from __future__ import annotations

import os
import urllib.request

import pytest
from botocore.exceptions import ClientError

from flask_s3 import seaweedfs as locals3
from flask_s3.errors import FlaskS3Error
from flask_s3.seaweedfs import LocalS3


def test_wrong_secret_is_refused(s3_server, s3_client, bucket_name):
    import boto3
    from botocore.config import Config

    bad = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key="not-the-secret",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as info:
        bad.create_bucket(Bucket=bucket_name)
    assert info.value.response["Error"]["Code"] in ("SignatureDoesNotMatch", "AccessDenied")
    s3_client.create_bucket(Bucket=bucket_name)  # the right secret works


def test_objects_are_served_over_http_with_headers(s3_server, s3_client, bucket_name):
    s3_client.create_bucket(Bucket=bucket_name)
    before = s3_server.request_counts()
    s3_client.put_object(
        Bucket=bucket_name,
        Key="a.css",
        Body=b"x{}",
        ContentType="text/css",
        CacheControl="max-age=1",
    )
    after = s3_server.request_counts()
    assert after.get("PUT", 0) - before.get("PUT", 0) == 1
    # Anonymous reads are refused until a policy allows them; read with a signed URL.
    url = s3_client.generate_presigned_url(
        "get_object", Params={"Bucket": bucket_name, "Key": "a.css"}
    )
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.read() == b"x{}"
        assert resp.headers["Content-Type"] == "text/css"
        assert resp.headers["Cache-Control"] == "max-age=1"


def test_stop_leaves_no_process_and_no_data_dir():
    server = LocalS3().start()
    pid = server.process.pid if server.process else 0
    data_dir = server.data_dir
    server.stop()
    assert not data_dir.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_missing_binary_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(locals3.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FlaskS3Error, match=r"flask-s3\[local\]"):
        locals3.find_weed()
