"""The manifest written beside (or before) the uploads (deployer/apply.recorded_ahead): whatever
happens to the uploads, it never vouches for bytes the bucket does not hold, a new key is ours
before its first byte goes up, and the next apply converges."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clirun import flask_s3
from faultproxy import FaultProxy
from flask import Flask

from flask_s3.deployer.apply import Report, apply_plan
from flask_s3.deployer.snapshot import snapshot
from flask_s3.errors import ApplyError
from flask_s3.s3 import open_store
from flask_s3.s3.manifest import Manifest, decode_manifest
from flask_s3.spec import BucketSpec, Spec, UploadSpec

MANIFEST = ".flask-s3/manifest.json.gz"


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    static = tmp_path / "static"
    static.mkdir()
    for i in range(6):
        (static / f"f{i}.txt").write_text(f"file {i}\n")
    return Flask("ahead", root_path=str(tmp_path))


@pytest.fixture
def proxy(s3_server: Any) -> Iterator[FaultProxy]:
    fault_proxy = FaultProxy(int(s3_server.endpoint_url.rsplit(":", 1)[1]))
    yield fault_proxy
    fault_proxy.close()


def spec_for(endpoint: str, bucket: str) -> Spec:
    return Spec(
        bucket=BucketSpec(name=bucket, endpoint_url=endpoint, region="us-east-1"),
        upload=UploadSpec(concurrency=4),
    )


def deploy(spec: Spec, app: Flask) -> Report:
    store = open_store(spec)
    snap = snapshot(spec, app, store)
    return apply_plan(snap.plan, spec, snap.local, store, remote=snap.remote)


def stored_manifest(s3_client: Any, bucket: str) -> Manifest:
    return decode_manifest(s3_client.get_object(Bucket=bucket, Key=MANIFEST)["Body"].read())


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_an_upload_that_never_lands_is_not_vouched_for_and_the_next_apply_sends_it(
    proxy: FaultProxy, s3_env: Any, s3_client: Any, bucket_name: str, app: Flask, tmp_path: Path
) -> None:
    direct = spec_for(s3_env.endpoint_url, bucket_name)
    deploy(direct, app)
    old = stored_manifest(s3_client, bucket_name).entries["static/f3.txt"]
    (tmp_path / "static" / "f3.txt").write_text("changed\n")
    (tmp_path / "static" / "f4.txt").write_text("changed too\n")
    manifest_puts: list[str] = []

    def policy(method: str, path: str, _n: int) -> str:
        if method == "PUT" and path.endswith("/f3.txt"):
            return "403"  # this upload never lands
        if method == "PUT" and MANIFEST in path:
            manifest_puts.append(path)
            # The first write goes beside the uploads; the one after them (which would put
            # f3's old entry back) is lost too, as if the apply were killed right there.
            return "pass" if len(manifest_puts) == 1 else "403"
        return "pass"

    proxy.policy = policy
    with pytest.raises(ApplyError) as info:
        deploy(spec_for(proxy.endpoint_url, bucket_name), app)
    assert set(info.value.report.failed) == {"static/f3.txt", "(manifest)"}
    assert len(manifest_puts) == 2  # the one beside the uploads, then the correction
    left = stored_manifest(s3_client, bucket_name).entries
    # Written ahead: f3's entry names bytes the bucket does not hold, so it vouches for nothing.
    assert left["static/f3.txt"].md5 == md5(b"changed\n") != old.md5
    stored = s3_client.head_object(Bucket=bucket_name, Key="static/f3.txt")["ETag"].strip('"')
    assert stored == old.md5 and not left["static/f3.txt"].vouches_for(stored)
    assert left["static/f4.txt"].vouches_for(md5(b"changed too\n"))  # f4 did land

    again = snapshot(direct, app, open_store(direct))
    assert [(a.action, a.key) for a in again.plan.actions] == [("update", "static/f3.txt")]
    report = deploy(direct, app)
    assert report.ok and report.updated == 1
    body = s3_client.get_object(Bucket=bucket_name, Key="static/f3.txt")["Body"].read()
    assert body == b"changed\n"
    assert not snapshot(direct, app, open_store(direct)).plan.has_changes


def test_a_failed_upload_is_recorded_as_before_and_one_write_suffices_when_all_land(
    proxy: FaultProxy, s3_env: Any, s3_client: Any, bucket_name: str, app: Flask, tmp_path: Path
) -> None:
    direct = spec_for(s3_env.endpoint_url, bucket_name)
    deploy(direct, app)
    old = stored_manifest(s3_client, bucket_name).entries["static/f1.txt"]
    (tmp_path / "static" / "f1.txt").write_text("new bytes\n")
    manifest_puts: list[str] = []

    def policy(method: str, path: str, _n: int) -> str:
        if method == "PUT" and MANIFEST in path:
            manifest_puts.append(path)
        return "403" if method == "PUT" and path.endswith("/f1.txt") else "pass"

    proxy.policy = policy
    far = spec_for(proxy.endpoint_url, bucket_name)
    with pytest.raises(ApplyError):
        deploy(far, app)
    # The apply knew the upload failed: its last write puts the old entry back.
    assert len(manifest_puts) == 2
    assert stored_manifest(s3_client, bucket_name).entries["static/f1.txt"] == old

    manifest_puts.clear()
    proxy.policy = lambda m, p, n: policy(m, p, n) if MANIFEST in p else "pass"
    report = deploy(far, app)
    assert report.ok and report.updated == 1
    assert len(manifest_puts) == 1  # written beside the upload, and nothing to correct
    entry = stored_manifest(s3_client, bucket_name).entries["static/f1.txt"]
    assert entry.vouches_for(md5(b"new bytes\n"))


def test_a_new_key_is_recorded_before_its_first_byte_goes_up(
    proxy: FaultProxy, s3_env: Any, s3_client: Any, bucket_name: str, app: Flask, tmp_path: Path
) -> None:
    direct = spec_for(s3_env.endpoint_url, bucket_name)
    deploy(direct, app)
    (tmp_path / "static" / "new.txt").write_text("brand new\n")
    seen_at_upload: list[set[str]] = []

    def policy(method: str, path: str, _n: int) -> str:
        if method == "PUT" and path.endswith("/new.txt"):
            # read straight from the server while the upload waits in the proxy
            seen_at_upload.append(set(stored_manifest(s3_client, bucket_name).entries))
        return "pass"

    proxy.policy = policy
    report = deploy(spec_for(proxy.endpoint_url, bucket_name), app)
    assert report.ok and report.uploaded == 1
    assert seen_at_upload and all("static/new.txt" in keys for keys in seen_at_upload)
    entry = stored_manifest(s3_client, bucket_name).entries["static/new.txt"]
    assert entry.vouches_for(md5(b"brand new\n"))


@pytest.mark.parametrize("moment", ["manifest-landed", "one-upload-landed"])
def test_an_apply_killed_around_the_manifest_written_ahead_converges_on_the_next_one(
    moment: str, proxy: FaultProxy, s3_env: Any, s3_client: Any, bucket_name: str, tmp_path: Path
) -> None:
    static = tmp_path / "static"
    static.mkdir()
    for i in range(6):
        (static / f"f{i}.txt").write_text(f"file {i}\n")
    (tmp_path / "app.py").write_text(
        "from flask import Flask\napp = Flask(__name__, static_folder='static')\n"
    )
    for name, endpoint in (("direct", s3_env.endpoint_url), ("far", proxy.endpoint_url)):
        (tmp_path / f"{name}.yaml").write_text(
            f'version: 1\napp: "app:app"\n'
            f"bucket: {{name: {bucket_name}, endpoint_url: {endpoint}}}\n"
        )
    s3_client.create_bucket(Bucket=bucket_name)
    assert flask_s3(tmp_path, "apply", "direct.yaml").returncode == 0
    for i in (1, 2, 4):
        (static / f"f{i}.txt").write_text(f"changed {i}\n")
    running: list[subprocess.Popen[bytes]] = []
    asset_puts: list[str] = []  # the PUTs of files and of the manifest, as they arrive
    landing: list[str] = []  # the one upload let through at once ("one-upload-landed")
    killing: list[int] = []
    lock = threading.Lock()

    def kill_soon() -> None:
        threading.Timer(0.15, lambda: running[0].send_signal(signal.SIGKILL)).start()

    def policy(method: str, path: str, _n: int) -> str:
        if method != "PUT" or "lock.json" in path:
            return "pass"
        with lock:
            asset_puts.append(path)
            seen = len(asset_puts)  # the manifest's PUT included
            if MANIFEST not in path and moment == "one-upload-landed" and not landing:
                landing.append(path)
                verdict = "pass"
            else:
                verdict = "pass" if MANIFEST in path else "delay"  # uploads wait in the proxy
            ready = any(MANIFEST in p for p in asset_puts) and (
                moment == "manifest-landed" or bool(landing)
            )
            if ready and not killing:
                killing.append(seen)
                kill_soon()
        return verdict

    proxy.delay = 1.0
    proxy.policy = policy
    running.append(
        subprocess.Popen(
            [sys.executable, "-m", "flask_s3", "apply", "far.yaml"],
            cwd=tmp_path,
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    assert running[0].wait(timeout=60) == -signal.SIGKILL
    landed = {
        i
        for i in (1, 2, 4)
        if s3_client.get_object(Bucket=bucket_name, Key=f"static/f{i}.txt")["Body"].read()
        == f"changed {i}\n".encode()
    }
    assert len(landed) <= (1 if moment == "one-upload-landed" else 0), landed
    # The state this test is about: the manifest written ahead (the new MD5s) is stored, the
    # uploads are not (or one of them).
    left = stored_manifest(s3_client, bucket_name).entries
    assert all(left[f"static/f{i}.txt"].md5 == md5(f"changed {i}\n".encode()) for i in (1, 2, 4))

    clean = flask_s3(tmp_path, "apply", "direct.yaml")
    assert clean.returncode == 0, clean.stderr
    for i in range(6):
        body = s3_client.get_object(Bucket=bucket_name, Key=f"static/f{i}.txt")["Body"].read()
        assert body == (static / f"f{i}.txt").read_bytes()
    again = flask_s3(tmp_path, "plan", "direct.yaml", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
