"""Shared fixtures: one real SeaweedFS S3 server for the whole run, and a scrubbed environment."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flask_s3.tools.seaweedfs import LocalS3


@pytest.fixture(scope="session")
def s3_server() -> Iterator[LocalS3]:
    """SeaweedFS on free loopback ports, with credentials so wrong ones are refused."""
    server = LocalS3(
        access_key="TESTKEY" + secrets.token_hex(6).upper(),
        secret_key=secrets.token_urlsafe(30),
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def scrubbed_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AWS or Flask settings of the developer's machine leak into a test."""
    import os

    for name in list(os.environ):
        if name.startswith(("AWS_", "FLASK_", "FLASKS3_", "S3_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("FLASK_S3_CACHE_DIR", str(tmp_path / "flask-s3-cache"))


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch, s3_server: LocalS3) -> LocalS3:
    """Credentials for the test server in the environment, as a user's shell would have."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key or "")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key or "")
    monkeypatch.setenv("AWS_DEFAULT_REGION", s3_server.region)
    return s3_server


@pytest.fixture
def s3_client(s3_server: LocalS3) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint_url,
        region_name=s3_server.region,
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key=s3_server.secret_key,
        config=Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


@pytest.fixture
def bucket_name(request: pytest.FixtureRequest) -> str:
    """A fresh, valid bucket name per test (not created)."""
    return f"t-{secrets.token_hex(8)}"


@pytest.fixture(params=["fast", "boto3"])
def both_stores(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test once on each Store implementation (FLASK_S3_STORE), which must agree."""
    monkeypatch.setenv("FLASK_S3_STORE", request.param)
    return str(request.param)


@pytest.fixture
def counted_sri(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files whose bytes are hashed for an SRI value (and MD5) during the test."""
    from flask_s3.assets import local

    calls: list[str] = []
    real = local.hash_stored_sri

    def counting(path: str, gzipped: bool) -> tuple[int, str, str]:
        calls.append(path)
        return real(path, gzipped)

    monkeypatch.setattr(local, "hash_stored_sri", counting)
    return calls
