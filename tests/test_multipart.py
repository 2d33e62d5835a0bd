"""Files too big for one PUT go up in parts, on both stores, against SeaweedFS."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from faultproxy import FaultProxy
from flask import Flask

from flask_s3.deployer import multipart
from flask_s3.deployer.apply import apply_plan
from flask_s3.deployer.multipart import MAX_PARTS, MIB, part_size
from flask_s3.deployer.snapshot import snapshot
from flask_s3.errors import ApplyError
from flask_s3.plan import Reason
from flask_s3.s3 import open_store
from flask_s3.spec import BucketSpec, Spec, UploadSpec

pytestmark = pytest.mark.usefixtures("both_stores")
BIG = 13 * MIB + 12345  # two parts of 8 MiB at the 5 MiB threshold


def spec_for(endpoint: str, bucket: str) -> Spec:
    return Spec(
        bucket=BucketSpec(name=bucket, endpoint_url=endpoint),
        upload=UploadSpec(multipart_threshold=5 * MIB),
    )


@pytest.fixture
def site(tmp_path: Path) -> tuple[Path, Flask]:
    static = tmp_path / "static"
    static.mkdir()
    (static / "video.mp4").write_bytes(os.urandom(BIG))
    (static / "small.txt").write_text("small")
    return tmp_path, Flask("mp", root_path=str(tmp_path))


def deploy(spec: Spec, app: Flask) -> Any:
    store = open_store(spec)
    snap = snapshot(spec, app, store)
    return snap, apply_plan(snap.plan, spec, snap.local, store, remote=snap.remote)


def test_part_size_fits_five_tib_in_ten_thousand_parts():
    assert part_size(1) == 8 * MIB
    assert part_size(100 * MIB) == 8 * MIB
    five_tib = 5 * 1024**4
    assert -(-five_tib // part_size(five_tib)) <= MAX_PARTS
    assert part_size(five_tib) % MIB == 0


def test_a_big_file_goes_up_in_parts_and_converges(s3_env, bucket_name, site, s3_client):
    root, app = site
    spec = spec_for(s3_env.endpoint_url, bucket_name)
    _, report = deploy(spec, app)
    assert report.uploaded == 2
    data = (root / "static/video.mp4").read_bytes()
    stored = s3_client.get_object(Bucket=bucket_name, Key="static/video.mp4")
    assert stored["Body"].read() == data
    assert stored["ETag"].strip('"') != hashlib.md5(data).hexdigest()  # not an MD5: parts
    assert s3_client.list_multipart_uploads(Bucket=bucket_name).get("Uploads", []) == []
    store = open_store(spec)
    assert not snapshot(spec, app, store).plan.has_changes  # the manifest vouches for it
    s3_client.delete_object(Bucket=bucket_name, Key=".flask-s3/manifest.json.gz")
    plan = snapshot(spec, app, store).plan
    assert [(a.key, a.reason) for a in plan.actions] == [("static/video.mp4", Reason.MULTIPART)]
    apply_plan(plan, spec, snapshot(spec, app, store).local, store)
    with open(root / "static/video.mp4", "r+b") as fh:  # same size, other bytes
        fh.write(b"changed!")
    plan = snapshot(spec, app, store).plan
    assert [(a.key, a.action, a.reason) for a in plan.actions] == [
        ("static/video.mp4", "update", Reason.ETAG)
    ]


def test_a_failed_part_aborts_the_upload(s3_env, bucket_name, site, s3_client):
    _, app = site
    proxy = FaultProxy(s3_env.port or 0)
    try:
        proxy.policy = lambda m, p, n: "500" if m == "PUT" and "partNumber=2" in p else "pass"
        spec = spec_for(proxy.endpoint_url, bucket_name)
        with pytest.raises(ApplyError) as info:
            deploy(spec, app)
        assert "static/video.mp4" in info.value.report.failed  # type: ignore[attr-defined]
        assert s3_client.list_multipart_uploads(Bucket=bucket_name).get("Uploads", []) == []
        assert any(m == "DELETE" and "uploadId=" in p for m, p, _ in proxy.seen)
    finally:
        proxy.close()


def test_leftover_parts_under_our_roots_are_aborted(s3_env, bucket_name, site, s3_client):
    _, app = site
    spec = spec_for(s3_env.endpoint_url, bucket_name)
    s3_client.create_bucket(Bucket=bucket_name)
    left = s3_client.create_multipart_upload(Bucket=bucket_name, Key="static/video.mp4")
    foreign = s3_client.create_multipart_upload(Bucket=bucket_name, Key="uploads/user.bin")
    deploy(spec, app)
    remaining = s3_client.list_multipart_uploads(Bucket=bucket_name).get("Uploads", [])
    ids = {u["UploadId"] for u in remaining}
    assert left["UploadId"] not in ids
    assert foreign["UploadId"] in ids  # not under our static roots: not ours to touch


def test_parts_in_flight_are_bounded(
    s3_env, bucket_name, site, s3_client, monkeypatch: pytest.MonkeyPatch
):
    root, app = site
    monkeypatch.setattr(multipart, "PARTS_IN_FLIGHT", 2)
    (root / "static/video.mp4").write_bytes(os.urandom(4 * 8 * MIB + 1))  # five parts
    active, most = [0], [0]
    lock = threading.Lock()

    def hold(head: bytes, body: bytes) -> str:
        if b"partNumber=" not in head.split(b"\r\n", 1)[0]:
            return "pass"
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(0.3)  # long enough for every part the client lets go to arrive
        with lock:
            active[0] -= 1
        return "pass"

    proxy = FaultProxy(s3_env.port or 0, judge=hold)
    try:
        deploy(spec_for(proxy.endpoint_url, bucket_name), app)
    finally:
        proxy.close()
    assert most[0] == 2  # side by side, never more than allowed
    stored = s3_client.get_object(Bucket=bucket_name, Key="static/video.mp4")["Body"].read()
    assert stored == (root / "static/video.mp4").read_bytes()


def test_a_part_damaged_on_the_way_fails_as_such(s3_env, bucket_name, site, s3_client):
    """S3 refuses a part whose bytes do not match its Content-MD5: the upload is aborted and
    reported as the store's refusal, not as a file that changed (it did not)."""
    _, app = site
    proxy = FaultProxy(s3_env.port or 0)
    try:
        proxy.policy = lambda m, p, n: "corrupt" if m == "PUT" and "partNumber=2" in p else "pass"
        with pytest.raises(ApplyError) as info:
            deploy(spec_for(proxy.endpoint_url, bucket_name), app)
    finally:
        proxy.close()
    failed = info.value.report.failed  # type: ignore[attr-defined]
    assert "BadDigest" in str(failed["static/video.mp4"])
    assert "changed since the plan" not in str(failed["static/video.mp4"])
    assert s3_client.list_multipart_uploads(Bucket=bucket_name).get("Uploads", []) == []
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket_name).get("Contents", [])]
    assert "static/video.mp4" not in keys


def test_a_file_cut_short_after_the_plan_is_refused(s3_env, bucket_name, site, s3_client):
    """Shorter than planned: the part would fall short of its Content-Length and wait for
    bytes that never come. It fails at once as a changed file, and nothing is stored."""
    root, app = site
    spec = spec_for(s3_env.endpoint_url, bucket_name)
    store = open_store(spec)
    snap = snapshot(spec, app, store)
    os.truncate(root / "static/video.mp4", 10 * MIB)  # the second part loses most of its bytes
    started = time.monotonic()
    with pytest.raises(ApplyError) as info:
        apply_plan(snap.plan, spec, snap.local, store, remote=snap.remote)
    assert time.monotonic() - started < 20  # not a read timeout
    failed = info.value.report.failed  # type: ignore[attr-defined]
    assert "changed since the plan" in str(failed["static/video.mp4"])
    assert s3_client.list_multipart_uploads(Bucket=bucket_name).get("Uploads", []) == []
