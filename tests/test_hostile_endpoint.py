"""A broken or hostile S3 endpoint (issue 22, finding 10): a plan stops with a clear error
naming the endpoint, never loops, never fills the memory, never shows a traceback.

The endpoint is a loopback HTTP server answering the listing with what a real S3 never sends;
the plan runs through the command line, on both stores.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import textwrap
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from clirun import flask_s3_peak
from loopback import Answer, Loopback, error, serve

NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
APP = """
from flask import Flask
def create_app():
    return Flask(__name__, static_folder="static")
"""


def listing(prefix: str, body: str = "", token: str | None = None) -> Answer:
    truncated = "true" if token else "false"
    next_token = f"<NextContinuationToken>{token}</NextContinuationToken>" if token else ""
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult {NS}><Prefix>{prefix}</Prefix>'
        f"<IsTruncated>{truncated}</IsTruncated>{next_token}{body}</ListBucketResult>"
    )
    return Answer(200, xml.encode(), {"Content-Type": "application/xml"})


def repeated_token(prefix: str, token: str | None) -> Answer:
    return listing(prefix, token="same-token-again")


def token_cycle(prefix: str, token: str | None) -> Answer:
    """A -> B -> A -> ...: never the same token twice in a row, still a loop."""
    return listing(prefix, token={None: "A", "A": "B", "B": "A"}[token])


def self_prefix(prefix: str, token: str | None) -> Answer:
    return listing(prefix, f"<CommonPrefixes><Prefix>{prefix}</Prefix></CommonPrefixes>")


def foreign_key(prefix: str, token: str | None) -> Answer:
    item = "<Contents><Key>index.html</Key><Size>1</Size><ETag>&quot;x&quot;</ETag></Contents>"
    return listing(prefix, item)


def huge_page(prefix: str, token: str | None) -> Answer:
    item = (
        f"<Contents><Key>{prefix}{'k' * 900}</Key><Size>1</Size>"
        "<ETag>&quot;0123456789abcdef0123456789abcdef&quot;</ETag></Contents>"
    )
    return listing(prefix, item * 10_000)  # about 9.6 MB: more than any S3 page


def garbage(prefix: str, token: str | None) -> Answer:
    return Answer(200, b"<ListBucketResult><<<\x00 not xml", {"Content-Type": "application/xml"})


def redirect_without_region(prefix: str, token: str | None) -> Answer:
    return error(301, "PermanentRedirect")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "siteapp.py").write_text(APP)
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "app.css").write_text("body{}")
    return tmp_path


def plan_against(
    project: Path,
    answer_listing: Any,
    other: Any = None,
    bucket_extra: str = "",
    command: str = "plan",
) -> tuple[subprocess.CompletedProcess[str], Loopback, int]:
    """Run ``command`` against a loopback S3 answering ``answer_listing`` (and ``other``);
    the result, the server, and the command's own peak RSS in KiB."""

    def respond(seen: Any) -> Answer:
        query = parse_qs(urlsplit(seen.path).query, keep_blank_values=True)
        if "list-type" in query:
            token = query.get("continuation-token", [None])[0]
            return answer_listing(query.get("prefix", [""])[0], token)  # type: ignore[no-any-return]
        if answer_listing is redirect_without_region:
            return redirect_without_region("", None)
        if "policy" in query:
            return error(404, "NoSuchBucketPolicy")
        if other is not None:
            return other(seen)  # type: ignore[no-any-return]
        return error(404, "NoSuchKey")

    with serve(Loopback(respond)) as loop:
        (project / "deploy.yaml").write_text(
            textwrap.dedent(
                f"""\
                version: 1
                app: "siteapp:create_app()"
                bucket:
                  name: hostile-bucket
                  endpoint_url: {loop.url}
                  region: us-east-1
                """
            )
            + bucket_extra
        )
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": "AKIDLOOPBACK",
            "AWS_SECRET_ACCESS_KEY": "loopback-secret-key",
        }
        # a loop would run forever: the test fails instead
        result, peak = flask_s3_peak(project, command, "deploy.yaml", env=env, timeout=60)
        return result, loop, peak


@pytest.mark.usefixtures("both_stores")
@pytest.mark.parametrize(
    "answer, message",
    [
        (repeated_token, "a continuation token or marker it had already sent"),
        (token_cycle, "a continuation token or marker it had already sent"),
        (self_prefix, "a folder that is not below it"),
        (foreign_key, "a key outside it ('index.html')"),
        (redirect_without_region, "PermanentRedirect"),
    ],
)
def test_a_hostile_listing_stops_the_plan_naming_the_endpoint(
    project: Path, answer: object, message: str
):
    result, loop, _ = plan_against(project, answer)
    assert result.returncode == 1, result.stdout + result.stderr
    assert message in result.stderr
    if answer is not redirect_without_region:
        assert loop.url in result.stderr
    assert "Traceback" not in result.stderr
    assert len(loop.seen) < 50  # stopped at once, not after a long loop


@pytest.mark.usefixtures("both_stores")
def test_an_unreadable_listing_is_an_error_not_a_traceback(project: Path):
    result, _, _ = plan_against(project, garbage)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith("Error: ")
    assert "Traceback" not in result.stderr


def test_an_oversized_listing_page_is_refused_unread(
    project: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("FLASK_S3_STORE", "fast")
    result, loop, _ = plan_against(project, huge_page)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "where flask-s3 expects at most 8,388,608" in result.stderr
    assert loop.url in result.stderr
    assert "Traceback" not in result.stderr


def _manifest_listing(prefix: str, token: str | None) -> Answer:
    if prefix == ".flask-s3/":
        item = (
            "<Contents><Key>.flask-s3/manifest.json.gz</Key><Size>9</Size>"
            "<ETag>&quot;m&quot;</ETag></Contents>"
        )
        return listing(prefix, item)
    return listing(prefix)


def _gzip_bomb() -> bytes:
    """A small object that unpacks into 1 GiB."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * (1 << 20)
    return b"".join([*(packer.compress(block) for _ in range(1024)), packer.flush()])


@pytest.mark.parametrize(
    "manifest",
    [
        pytest.param(lambda: gzip.compress(b"[" * 100_000 + b"]" * 100_000), id="deep-json"),
        pytest.param(_gzip_bomb, id="gzip-bomb"),
    ],
)
def test_a_hostile_manifest_is_ignored_as_corrupt(
    project: Path, monkeypatch: pytest.MonkeyPatch, manifest: Any
):
    """The manifest only saves HEAD requests: a hostile one counts as corrupt, the plan goes
    on without it, in bounded memory."""
    monkeypatch.setenv("FLASK_S3_STORE", "fast")
    body = manifest()

    def respond(seen: Any) -> Answer:
        if "manifest.json.gz" in seen.path:
            return Answer(200, body, {"Content-Type": "application/gzip"})
        return error(404, "NoSuchKey")

    result, _, peak = plan_against(project, _manifest_listing, other=respond)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 to upload" in result.stdout
    assert "Traceback" not in result.stderr
    assert 0 < peak < 400 * 1024, f"{peak // 1024} MB"  # the plan's own peak: it stayed small


@pytest.mark.usefixtures("both_stores")
def test_an_answer_that_is_not_xml_is_an_error_not_a_traceback(project: Path):
    """CORS rules read from an endpoint that answers garbage."""
    spec_extra = '  cors: ["https://shop.example.com"]\n'

    def respond(seen: Any) -> Answer:
        if "cors" in seen.path:
            return Answer(200, b"\x00<<not xml", {"Content-Type": "application/xml"})
        return error(404, "NoSuchKey")

    result, _, _ = plan_against(
        project, lambda prefix, token: listing(prefix), other=respond, bucket_extra=spec_extra
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith("Error: ")
    assert "Traceback" not in result.stderr


@pytest.mark.usefixtures("both_stores")
def test_a_looping_multipart_uploads_listing_stops_the_apply(project: Path):
    """Before a multipart upload, apply lists the unfinished ones under our roots to abort
    them: a listing whose markers repeat stops the apply instead of looping."""
    (project / "static" / "big.bin").write_bytes(os.urandom(6 * 1024 * 1024))

    def respond(seen: Any) -> Answer:
        if seen.method == "GET" and "uploads" in parse_qs(
            urlsplit(seen.path).query, keep_blank_values=True
        ):
            xml = (
                f"<ListMultipartUploadsResult {NS}><IsTruncated>true</IsTruncated>"
                "<NextKeyMarker>static/big.bin</NextKeyMarker>"
                "<NextUploadIdMarker>u-1</NextUploadIdMarker></ListMultipartUploadsResult>"
            )
            return Answer(200, xml.encode(), {"Content-Type": "application/xml"})
        if seen.method in ("PUT", "DELETE"):  # the lock
            return Answer(200 if seen.method == "PUT" else 204, b"", {"ETag": '"e"'})
        return error(404, "NoSuchKey")

    result, loop, _ = plan_against(
        project,
        lambda prefix, token: listing(prefix),
        other=respond,
        bucket_extra="upload:\n  multipart_threshold: 5242880\n",
        command="apply",
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "a continuation token or marker it had already sent" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(loop.seen) < 50
