"""The fault matrix: a bad day at the S3 end must not hurt. Faults are injected by a loopback
proxy (tests/faultproxy.py) between boto3 and the real SeaweedFS server."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clirun import flask_s3
from faultproxy import FaultProxy
from flask import Flask
from lockcheck import lock_is_free

from flask_s3.deployer.apply import Report, apply_plan
from flask_s3.deployer.snapshot import snapshot
from flask_s3.errors import ApplyError, S3Error, StalePlanError
from flask_s3.remote.inventory import control_key
from flask_s3.s3 import open_store
from flask_s3.s3.lock import LOCK_NAME
from flask_s3.spec import AssetsSpec, BucketSpec, Spec, UploadSpec
from flask_s3.tools.seaweedfs import LocalS3

pytestmark = pytest.mark.usefixtures("both_stores")

N_FILES = 40


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    static = tmp_path / "static"
    static.mkdir()
    for i in range(N_FILES):
        (static / f"f{i:02d}.txt").write_text(f"file {i}\n" * (i + 1))
    return Flask("faulty", root_path=str(tmp_path))


@pytest.fixture
def proxy(s3_server: Any) -> Iterator[FaultProxy]:
    port = int(s3_server.endpoint_url.rsplit(":", 1)[1])
    fault_proxy = FaultProxy(port)
    yield fault_proxy
    fault_proxy.close()


def spec_for(endpoint: str, bucket: str, **assets: Any) -> Spec:
    return Spec(
        bucket=BucketSpec(name=bucket, endpoint_url=endpoint, region="us-east-1"),
        assets=AssetsSpec(**assets),
        upload=UploadSpec(concurrency=8),
        digest="sha256:faults",
    )


def deploy(spec: Spec, app: Flask, client: Any) -> Report:
    snap = snapshot(spec, app, client)
    return apply_plan(snap.plan, spec, snap.local, client, remote=snap.remote)


def is_put_object(method: str, path: str) -> bool:
    return method == "PUT" and "/.flask-s3/" not in path and path.count("/") >= 2


def test_bursts_of_503_500_and_resets_are_retried(proxy, s3_env, bucket_name, app):
    rng = random.Random(7)

    def flaky(method: str, path: str, n: int) -> str:
        if not is_put_object(method, path):
            return "pass"
        roll = rng.random()
        return "503" if roll < 0.15 else "500" if roll < 0.22 else "reset" if roll < 0.3 else "pass"

    proxy.policy = flaky
    spec = spec_for(proxy.endpoint_url, bucket_name)
    client = open_store(spec)
    report = deploy(spec, app, client)
    assert report.uploaded == N_FILES and report.ok
    assert {v for _, _, v in proxy.seen} >= {"503", "500", "reset"}
    proxy.policy = lambda m, p, n: "pass"
    assert not snapshot(spec, app, client).plan.has_changes


def test_exhausted_retries_give_an_exact_report_and_reapply_converges(
    proxy, s3_env, bucket_name, app, s3_client
):
    spec = spec_for(proxy.endpoint_url, bucket_name, prune=True)
    client = open_store(spec)
    deploy(spec, app, client)
    static = Path(app.static_folder or "")
    (static / "f00.txt").unlink()  # a planned delete, which must not be sent
    for name in ("f01.txt", "f02.txt", "f03.txt"):
        (static / name).write_text("changed")
    proxy.policy = lambda m, p, n: "503" if m == "PUT" and p.endswith("/f02.txt") else "pass"
    with pytest.raises(ApplyError) as info:
        deploy(spec, app, client)
    report = info.value.report
    assert isinstance(report, Report)
    assert list(report.failed) == ["static/f02.txt"]
    assert report.updated == 2 and report.deleted == 0 and report.deletes_skipped == 1
    assert "No deletes were sent" in info.value.detail
    assert not [v for m, p, v in proxy.seen if m == "POST" and "delete" in p]
    keys = {o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket_name)["Contents"]}
    assert "static/f00.txt" in keys
    proxy.policy = lambda m, p, n: "pass"
    snap = snapshot(spec, app, client)
    assert sorted((a.action, a.key) for a in snap.plan.actions) == [
        ("delete", "static/f00.txt"),
        ("update", "static/f02.txt"),
    ]
    deploy(spec, app, client)
    assert not snapshot(spec, app, client).plan.has_changes


def test_server_gone_mid_apply_reports_counts_and_recovers(proxy, s3_env, bucket_name, app):
    spec = spec_for(proxy.endpoint_url, bucket_name, prune=True)
    client = open_store(spec)
    puts = {"n": 0}
    lock = threading.Lock()

    def dies_after_ten(method: str, path: str, n: int) -> str:
        if is_put_object(method, path):
            with lock:
                puts["n"] += 1
                if puts["n"] > 10:
                    return "reset"
        return "pass"

    client.create_bucket("us-east-1", None)
    proxy.policy = dies_after_ten
    with pytest.raises((ApplyError, S3Error)) as info:
        deploy(spec, app, client)
    if isinstance(info.value, ApplyError):
        report = info.value.report
        assert isinstance(report, Report)
        assert report.uploaded == 10
        # In-flight uploads fail; the rest are not even tried once the store is unreachable.
        assert 0 < len(report.failed) <= 16  # at most the in-flight ones, per worker
        assert len(report.failed) + report.not_attempted == N_FILES - 10
        assert f"{report.uploaded} uploaded" in info.value.detail
        assert f"{report.not_attempted} not attempted" in info.value.detail
    assert not [v for m, p, v in proxy.seen if m == "POST" and "delete" in p]
    proxy.policy = lambda m, p, n: "pass"  # the server is back
    snap = snapshot(spec, app, client)
    assert snap.plan.counts["upload"] == N_FILES - 10
    assert snap.plan.counts["delete"] == 0
    deploy(spec, app, client)
    assert not snapshot(spec, app, client).plan.has_changes


def test_access_denied_on_one_key_names_it(proxy, s3_env, bucket_name, app):
    spec = spec_for(proxy.endpoint_url, bucket_name)
    client = open_store(spec)
    proxy.policy = lambda m, p, n: "403" if m == "PUT" and p.endswith("/f05.txt") else "pass"
    with pytest.raises(ApplyError) as info:
        deploy(spec, app, client)
    assert info.value.report.failed == {"static/f05.txt": "S3 refused to upload: AccessDenied"}
    assert "static/f05.txt" in info.value.detail


def test_bucket_of_someone_else_is_a_clear_error(proxy, s3_env, bucket_name, app):
    spec = spec_for(proxy.endpoint_url, bucket_name)
    proxy.policy = lambda m, p, n: "403"  # AccessDenied to everything, as for a foreign bucket
    with pytest.raises(S3Error, match="exists but these credentials may not use it"):
        snapshot(spec, app, open_store(spec))


def test_expired_session_token_says_to_refresh_it(
    proxy, s3_env, bucket_name, app, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token-value-that-must-not-leak")
    spec = spec_for(proxy.endpoint_url, bucket_name)
    proxy.policy = lambda m, p, n: "expired"
    with pytest.raises(S3Error) as info:
        snapshot(spec, app, open_store(spec))
    assert "ExpiredToken" in info.value.summary
    assert "Refresh your credentials" in info.value.detail
    assert "token-value-that-must-not-leak" not in str(info.value)


def test_unresolvable_endpoint(s3_env, bucket_name, app):
    spec = spec_for("http://no-such-host.invalid:9000", bucket_name)
    with pytest.raises(S3Error, match="cannot reach the S3 endpoint"):
        snapshot(spec, app, open_store(spec))


def test_two_applies_at_once_end_like_one(s3_server, s3_env, bucket_name, app, s3_client):
    spec = spec_for(s3_server.endpoint_url, bucket_name)
    client = open_store(spec)
    client.create_bucket("us-east-1", None)
    outcomes: list[str] = []

    def run() -> None:
        try:
            deploy(spec, app, open_store(spec))
            outcomes.append("ok")
        except ApplyError as exc:
            outcomes.append(exc.summary)
        except StalePlanError:
            outcomes.append("stale")

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert "ok" in outcomes
    # The other one either found the lock taken, or took it after the first finished and
    # found its plan (made before the lock) stale: never carried out.
    assert set(outcomes) <= {"ok", "another apply is running on this bucket and prefix", "stale"}
    assert not snapshot(spec, app, client).plan.has_changes
    assert lock_is_free(s3_client, bucket_name, control_key(spec, LOCK_NAME))


def test_a_held_lock_refuses_and_a_stale_one_is_broken(
    s3_server, s3_env, bucket_name, app, s3_client
):
    spec = spec_for(s3_server.endpoint_url, bucket_name)
    client = open_store(spec)
    s3_client.create_bucket(Bucket=bucket_name)
    key = control_key(spec, LOCK_NAME)
    fresh = f'{{"host": "ci-7", "since": "now", "epoch": {time.time()}}}'
    s3_client.put_object(Bucket=bucket_name, Key=key, Body=fresh.encode())
    with pytest.raises(ApplyError, match="another apply is running") as info:
        deploy(spec, app, client)
    assert "ci-7" in info.value.detail
    s3_client.put_object(Bucket=bucket_name, Key=key, Body=b'{"host": "old", "epoch": 1000}')
    report = deploy(spec, app, client)
    assert report.uploaded == N_FILES


def test_sigint_stops_cleanly(proxy, s3_server, s3_env, bucket_name, tmp_path):
    static = tmp_path / "static"
    static.mkdir()
    for i in range(60):
        (static / f"f{i:02d}.txt").write_text(f"{i}")
    (tmp_path / "sigapp.py").write_text(
        "from flask import Flask\n\ndef create_app():\n    return Flask(__name__)\n"
    )
    (tmp_path / "deploy.yaml").write_text(
        textwrap.dedent(
            f"""\
            version: 1
            app: "sigapp:create_app()"
            bucket: {{name: {bucket_name}, endpoint_url: "{proxy.endpoint_url}"}}
            assets: {{prune: true}}
            upload: {{concurrency: 2}}
            """
        )
    )
    proxy.policy = lambda m, p, n: "slow" if is_put_object(m, p) else "pass"
    child = subprocess.Popen(
        [sys.executable, "-m", "flask_s3", "apply", "deploy.yaml"],
        cwd=tmp_path,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        if sum(1 for m, p, _ in proxy.seen if is_put_object(m, p)) >= 6:
            break
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    assert "interrupted" in err
    assert "Traceback" not in err
    assert "No deletes were sent" in err or "0 deleted" in err
    assert " uploaded" in err and "not attempted" in err
    assert not [v for m, p, v in proxy.seen if m == "POST" and "delete" in p]
    proxy.policy = lambda m, p, n: "pass"
    again = flask_s3(tmp_path, "apply", "deploy.yaml", timeout=60)
    assert again.returncode == 0, again.stderr
    assert "0 updated" in again.stdout


@pytest.mark.slow
def test_real_server_killed_mid_apply_then_restarted(s3_env, bucket_name, app, tmp_path):
    """SIGKILL the SeaweedFS process itself during an apply, restart it on its data."""
    server = LocalS3(
        tmp_path / "weed-data",
        access_key=os.environ["AWS_ACCESS_KEY_ID"],
        secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
    ).start()
    proxy = FaultProxy(server.port or 0)
    try:
        spec = spec_for(proxy.endpoint_url, bucket_name, prune=True)
        client = open_store(spec)
        client.create_bucket("us-east-1", None)
        puts = {"n": 0}
        lock = threading.Lock()

        def kill_after_ten(method: str, path: str, n: int) -> str:
            if is_put_object(method, path):
                with lock:
                    puts["n"] += 1
                    if puts["n"] == 11:
                        server.kill()
            return "pass"

        proxy.policy = kill_after_ten
        with pytest.raises(ApplyError) as info:
            deploy(spec, app, client)
        report = info.value.report
        assert isinstance(report, Report)
        assert 1 <= report.uploaded <= 11
        assert report.uploaded + len(report.failed) + report.not_attempted >= N_FILES
        assert "not attempted" in info.value.detail or report.failed
        assert not [v for m, p, v in proxy.seen if m == "POST" and "delete" in p]

        proxy.policy = lambda m, p, n: "pass"
        server.start()  # same data dir, same S3 port
        snap = snapshot(spec, app, client)
        assert snap.plan.counts["delete"] == 0
        assert snap.plan.counts["upload"] == N_FILES - snap.plan.unchanged
        assert snap.plan.unchanged >= report.uploaded - 1
        deploy(spec, app, client)
        assert not snapshot(spec, app, client).plan.has_changes
    finally:
        proxy.close()
        server.stop()
