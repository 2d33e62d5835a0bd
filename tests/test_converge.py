"""Concurrent, repeated and interrupted applies converge; kept deploys stay served (issue 23).

Each test reproduces one defect a randomized soak found, through the library or the CLI, on
the real local S3 (and a loopback proxy where timing matters).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from clirun import flask_s3
from faultproxy import FaultProxy
from flask import Flask
from lockcheck import lock_is_free

from flask_s3.deployer.apply import apply_plan
from flask_s3.deployer.snapshot import snapshot, write_fingerprint_manifest
from flask_s3.errors import StalePlanError
from flask_s3.remote.inventory import control_key
from flask_s3.s3 import open_store
from flask_s3.s3.lock import LOCK_NAME
from flask_s3.s3.manifest import decode_manifest
from flask_s3.spec import AssetsSpec, BucketSpec, FingerprintSpec, Spec, UrlSpec


def write(root: Path, rel: str, data: str | bytes) -> None:
    path = root / "static" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def lib_spec(server: Any, bucket: str, **assets: Any) -> Spec:
    return Spec(
        bucket=BucketSpec(name=bucket, endpoint_url=server.endpoint_url, region="us-east-1"),
        urls=UrlSpec(scheme="http", style="path", bucket_domain=server.host),
        assets=AssetsSpec(**assets),
        digest="sha256:" + json.dumps(assets, sort_keys=True, default=str),
    )


def lib_deploy(spec: Spec, root: Path) -> Any:
    app = Flask("conv", root_path=str(root))
    store = open_store(spec)
    snap = snapshot(spec, app, store)
    write_fingerprint_manifest(app, spec, snap.local)
    return apply_plan(snap.plan, spec, snap.local, store, remote=snap.remote)


def bucket_keys(s3_client: Any, bucket: str) -> set[str]:
    pages = s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


# 1. keep: K keeps K distinct deploys, however often the same tree is applied.


def test_reapplying_the_same_tree_keeps_the_previous_fingerprinted_deploy(
    s3_server, s3_env, bucket_name, tmp_path, s3_client
):
    spec = lib_spec(
        s3_server,
        bucket_name,
        prune=True,
        fingerprint=FingerprintSpec(enabled=True, keep=2, manifest=str(tmp_path / "m.json")),
    )
    app = Flask("conv", root_path=str(tmp_path))
    write(tmp_path, "app.css", "v1")
    lib_deploy(spec, tmp_path)
    v1 = bucket_keys(s3_client, bucket_name)
    write(tmp_path, "app.css", "v2")
    lib_deploy(spec, tmp_path)
    v2 = bucket_keys(s3_client, bucket_name) - v1
    # A CI re-run of the same commit: nothing to do, v1 (cached pages) still served.
    again = snapshot(spec, app, open_store(spec)).plan
    assert not again.has_changes, [a.describe() for a in again.actions]
    lib_deploy(spec, tmp_path)
    lib_deploy(spec, tmp_path)
    assert v1 | v2 <= bucket_keys(s3_client, bucket_name)
    raw = s3_client.get_object(Bucket=bucket_name, Key=".flask-s3/manifest.json.gz")["Body"]
    generations = decode_manifest(raw.read()).generations
    assert len(generations) == 2 and generations[0] != generations[1]
    # A rollback to v1 keeps v2 (the deploy before it), then v3 drops what is beyond keep.
    write(tmp_path, "app.css", "v1")
    lib_deploy(spec, tmp_path)
    assert v1 | v2 <= bucket_keys(s3_client, bucket_name)
    write(tmp_path, "app.css", "v3")
    lib_deploy(spec, tmp_path)
    keys = bucket_keys(s3_client, bucket_name)
    assert v1 <= keys and not (v2 - v1) & keys


# 2 and 3. A plan made before the lock never runs; the manifest records only what is stored.


def test_a_plan_made_before_another_apply_is_refused_and_the_manifest_stays_true(
    s3_server, s3_env, bucket_name, tmp_path, s3_client
):
    b_spec = lib_spec(s3_server, bucket_name, prune=True, headers={"Cache-Control": "max-age=1"})
    a_spec = lib_spec(s3_server, bucket_name, prune=True, headers={"Cache-Control": "max-age=2"})
    for i in range(5):
        write(tmp_path, f"f{i}.txt", f"file {i}")
    lib_deploy(b_spec, tmp_path)
    app = Flask("conv", root_path=str(tmp_path))
    write(tmp_path, "f0.txt", "changed by B")
    store = open_store(b_spec)
    stale = snapshot(b_spec, app, store)  # B plans: update f0, f1-f4 unchanged
    write(tmp_path, "f0.txt", "file 0")
    lib_deploy(a_spec, tmp_path)  # A runs in between: new Cache-Control everywhere
    write(tmp_path, "f0.txt", "changed by B")
    with pytest.raises(StalePlanError) as info:
        apply_plan(stale.plan, b_spec, stale.local, store, remote=stale.remote)
    assert "needed now" in info.value.detail
    head = s3_client.head_object(Bucket=bucket_name, Key="static/f1.txt")
    assert head["CacheControl"] == "max-age=2"  # A's, untouched
    # The truth reaches the next plan: B's headers differ from what is stored.
    fresh = snapshot(b_spec, app, store).plan
    assert {a.key for a in fresh.of_kind("update-headers")} >= {f"static/f{i}.txt" for i in (1, 4)}
    lib_deploy(b_spec, tmp_path)
    assert not snapshot(b_spec, app, store).plan.has_changes
    head = s3_client.head_object(Bucket=bucket_name, Key="static/f1.txt")
    assert head["CacheControl"] == "max-age=1"


# The CLI: lock first, then plan; a waiting apply re-plans and ends with its own tree.

APP = "from flask import Flask\n\ndef create_app():\n    return Flask(__name__)\n"


def cli_project(root: Path, bucket: str, endpoint: str, extra: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "convapp.py").write_text(APP)
    (root / "deploy.yaml").write_text(
        textwrap.dedent(
            f"""\
            version: 1
            app: "convapp:create_app()"
            bucket: {{name: {bucket}, endpoint_url: "{endpoint}", region: us-east-1}}
            assets:
              prune: true
            upload: {{concurrency: 2}}
            """
        )
        + extra
    )
    return root


def start(cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "flask_s3", *args],
        cwd=cwd,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def proxy(s3_server: Any) -> Any:
    fault_proxy = FaultProxy(int(s3_server.endpoint_url.rsplit(":", 1)[1]))
    yield fault_proxy
    fault_proxy.close()


def is_object_put(method: str, path: str) -> bool:
    return method == "PUT" and "/.flask-s3/" not in path and path.count("/") >= 2


def wait_for(predicate: Any, seconds: float = 30) -> None:
    deadline = time.time() + seconds
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def test_an_apply_that_waited_for_the_lock_replans_and_leaves_its_own_tree(
    s3_server, s3_env, bucket_name, tmp_path, proxy, s3_client
):
    a = cli_project(tmp_path / "a", bucket_name, proxy.endpoint_url)
    b = cli_project(tmp_path / "b", bucket_name, s3_server.endpoint_url)
    for i in range(12):
        (a / "static").mkdir(exist_ok=True)
        (a / "static" / f"a{i}.txt").write_text(f"A {i}")
    (b / "static").mkdir()
    for i in range(4):
        (b / "static" / f"a{i}.txt").write_text(f"B {i}")  # same keys, other bytes
    (b / "static" / "b.txt").write_text("only B")
    s3_client.create_bucket(Bucket=bucket_name)
    # A's uploads are held at the proxy until B says it waits for A's lock: B's start-up,
    # however slow the machine, cannot outlast A's apply.
    b_waits = threading.Event()
    puts = []

    def hold(head: bytes, body: bytes) -> None:
        method, path = head.decode("latin-1").split(" ", 2)[:2]
        if is_object_put(method, path):
            puts.append(path)
            b_waits.wait(60)

    proxy.on_request = hold
    first = start(a, "apply", "deploy.yaml")
    wait_for(lambda: len(puts) >= 1)
    second = start(b, "apply", "deploy.yaml")
    b_err: list[str] = []

    def read_b() -> None:
        assert second.stderr is not None
        for line in second.stderr:
            b_err.append(line)
            if "Waiting for the lock held by" in line:
                b_waits.set()

    reader = threading.Thread(target=read_b)
    reader.start()
    _, a_err = first.communicate(timeout=90)
    b_waits.set()  # whatever happened, let A's requests go
    second.wait(timeout=90)
    reader.join(timeout=10)
    assert first.returncode == 0, a_err
    assert second.returncode == 0, "".join(b_err)
    assert any("Waiting for the lock held by" in line for line in b_err)
    # B planned again under the lock: A's files it does not have are gone, its bytes won.
    assert lock_is_free(s3_client, bucket_name, ".flask-s3/lock.json")
    control = {".flask-s3/manifest.json.gz", ".flask-s3/lock.json"}
    assert bucket_keys(s3_client, bucket_name) - control == {
        f"static/a{i}.txt" for i in range(4)
    } | {"static/b.txt"}
    body = s3_client.get_object(Bucket=bucket_name, Key="static/a1.txt")["Body"].read()
    assert body == b"B 1"
    plan = flask_s3(b, "plan", "deploy.yaml", "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr


def test_a_noop_apply_takes_no_lock_even_while_another_holds_it(
    s3_server, s3_env, bucket_name, tmp_path, s3_client
):
    project = cli_project(tmp_path / "p", bucket_name, s3_server.endpoint_url)
    (project / "static").mkdir()
    (project / "static" / "x.txt").write_text("x")
    assert flask_s3(project, "apply", "deploy.yaml").returncode == 0
    record = {"token": "t-1", "host": "ci-7", "pid": 1, "epoch": time.time(), "refresh_every": 60}
    s3_client.put_object(Bucket=bucket_name, Key=".flask-s3/lock.json", Body=json.dumps(record))
    noop = flask_s3(project, "apply", "deploy.yaml", "--lock-timeout", "0")
    assert noop.returncode == 0, noop.stderr
    assert "No changes" in noop.stderr


# 6. A held lock says who holds it, can be inspected and released; stale after minutes.


def test_a_held_lock_is_named_inspected_and_released_with_its_token(
    s3_server, s3_env, bucket_name, tmp_path, s3_client
):
    project = cli_project(tmp_path / "p", bucket_name, s3_server.endpoint_url)
    (project / "static").mkdir()
    (project / "static" / "x.txt").write_text("x")
    s3_client.create_bucket(Bucket=bucket_name)
    record = {
        "token": "5f0c",
        "host": "runner-42",
        "pid": 99,
        "user": "ci",
        "since": "2026-01-01T00:00:00Z",
        "epoch": time.time(),
        "refresh_every": 60,
    }
    key = ".flask-s3/lock.json"
    s3_client.put_object(Bucket=bucket_name, Key=key, Body=json.dumps(record))
    started = time.monotonic()
    refused = flask_s3(project, "apply", "deploy.yaml", "--lock-timeout", "1.5")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert time.monotonic() - started < 30
    assert "another apply is running" in refused.stderr
    assert "runner-42 (pid 99, user ci)" in refused.stderr
    assert "flask-s3 unlock SPEC --token 5f0c" in refused.stderr
    shown = flask_s3(project, "unlock", "deploy.yaml")
    assert shown.returncode == 0 and "runner-42" in shown.stdout and "5f0c" in shown.stdout
    wrong = flask_s3(project, "unlock", "deploy.yaml", "--token", "0000")
    assert wrong.returncode == 1 and "another token" in wrong.stderr
    assert key in bucket_keys(s3_client, bucket_name)
    released = flask_s3(project, "unlock", "deploy.yaml", "--token", "5f0c")
    assert released.returncode == 0, released.stderr
    assert "Released" in released.stdout
    assert flask_s3(project, "unlock", "deploy.yaml").stdout.startswith("No lock")
    assert flask_s3(project, "apply", "deploy.yaml").returncode == 0


def test_a_lock_not_refreshed_for_a_few_intervals_is_broken(
    s3_server, s3_env, bucket_name, tmp_path, s3_client
):
    project = cli_project(tmp_path / "p", bucket_name, s3_server.endpoint_url)
    (project / "static").mkdir()
    (project / "static" / "x.txt").write_text("x")
    s3_client.create_bucket(Bucket=bucket_name)
    key = ".flask-s3/lock.json"
    # A dead CI runner's lock, last refreshed 5 minutes ago (it refreshed every minute).
    dead = {"token": "d", "host": "gone", "pid": 7, "epoch": time.time() - 300, "refresh_every": 60}
    s3_client.put_object(Bucket=bucket_name, Key=key, Body=json.dumps(dead))
    result = flask_s3(project, "apply", "deploy.yaml", "--lock-timeout", "0")
    assert result.returncode == 0, result.stderr
    # A flask-s3 1.0 lock (refreshed every 5 minutes) of the same age is still alive.
    old = {"token": "o", "host": "gone", "pid": 7, "epoch": time.time() - 300}
    s3_client.put_object(Bucket=bucket_name, Key=key, Body=json.dumps(old))
    (project / "static" / "x.txt").write_text("y")
    result = flask_s3(project, "apply", "deploy.yaml", "--lock-timeout", "0")
    assert result.returncode == 1 and "another apply is running" in result.stderr


# 4. Signals: 130 / 143 with the counts; the next apply repairs.


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_mid_upload_exits_with_its_code_and_the_counts(
    s3_server, s3_env, bucket_name, tmp_path, proxy, s3_client, sig
):
    project = cli_project(tmp_path / "p", bucket_name, proxy.endpoint_url)
    (project / "static").mkdir()
    for i in range(30):
        (project / "static" / f"f{i:02d}.txt").write_text(f"{i}")
    proxy.policy = lambda m, p, n: "slow" if is_object_put(m, p) else "pass"
    child = start(project, "apply", "deploy.yaml")
    wait_for(lambda: sum(1 for m, p, _ in proxy.seen if is_object_put(m, p)) >= 4)
    child.send_signal(sig)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 128 + sig, err
    assert "Traceback" not in err
    assert "apply interrupted" in err and " uploaded" in err and "not attempted" in err
    assert lock_is_free(
        s3_client, bucket_name, control_key(lib_spec(s3_server, bucket_name), LOCK_NAME)
    )
    proxy.policy = lambda m, p, n: "pass"
    again = flask_s3(project, "apply", "deploy.yaml")
    assert again.returncode == 0, again.stderr
    assert len([k for k in bucket_keys(s3_client, bucket_name) if k.startswith("static/")]) == 30
    assert flask_s3(project, "plan", "deploy.yaml", "--detailed-exitcode").returncode == 0


def test_a_signal_while_waiting_for_the_lock_stops_the_wait(
    s3_server, s3_env, bucket_name, tmp_path, s3_client
):
    project = cli_project(tmp_path / "p", bucket_name, s3_server.endpoint_url)
    (project / "static").mkdir()
    (project / "static" / "x.txt").write_text("x")
    s3_client.create_bucket(Bucket=bucket_name)
    held = {"token": "h", "host": "elsewhere", "pid": 5, "epoch": time.time() + 600}
    s3_client.put_object(Bucket=bucket_name, Key=".flask-s3/lock.json", Body=json.dumps(held))
    child = start(project, "apply", "deploy.yaml", "--lock-timeout", "60")
    assert child.stderr is not None
    line = ""
    while "Waiting for the lock" not in line:
        line = child.stderr.readline()
        assert line, "apply ended without waiting"
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=30)
    assert child.returncode == 143, err
    assert "Interrupted before anything was written" in err and "Traceback" not in err
    assert "static/x.txt" not in bucket_keys(s3_client, bucket_name)


# 5. Unicode: NFC and NFD spellings of one name are a located error naming both files.


def test_names_that_differ_only_in_normalisation_are_an_error(
    s3_server, s3_env, bucket_name, tmp_path
):
    project = cli_project(tmp_path / "p", bucket_name, s3_server.endpoint_url)
    (project / "static").mkdir()
    nfc = unicodedata.normalize("NFC", "café.css")
    nfd = unicodedata.normalize("NFD", "café.css")
    (project / "static" / nfc).write_text("a")
    (project / "static" / nfd).write_text("b")
    result = flask_s3(project, "plan", "deploy.yaml")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "differ only in Unicode normalisation" in result.stderr
    assert ascii(nfc).strip("'") in result.stderr and ascii(nfd).strip("'") in result.stderr
    assert "two static folders" not in result.stderr


def test_an_nfd_file_name_is_stored_and_served_under_its_nfc_key(
    s3_server, s3_env, bucket_name, tmp_path, s3_client
):
    project = cli_project(tmp_path / "p", bucket_name, s3_server.endpoint_url)
    (project / "static").mkdir()
    (project / "static" / unicodedata.normalize("NFD", "café.css")).write_text("a")
    assert flask_s3(project, "apply", "deploy.yaml").returncode == 0
    assert "static/" + unicodedata.normalize("NFC", "café.css") in bucket_keys(
        s3_client, bucket_name
    )
    assert flask_s3(project, "plan", "deploy.yaml", "--detailed-exitcode").returncode == 0


def test_the_manifest_records_what_the_bucket_shows_not_what_a_plan_assumed(
    s3_server, s3_env, bucket_name, tmp_path, s3_client
):
    from flask_s3.deployer.apply import Report, write_manifest
    from flask_s3.remote.inventory import gather_remote

    old = lib_spec(s3_server, bucket_name, headers={"Cache-Control": "max-age=1"})
    new = lib_spec(s3_server, bucket_name, headers={"Cache-Control": "max-age=2"})
    write(tmp_path, "k.txt", "k")
    lib_deploy(old, tmp_path)
    app = Flask("conv", root_path=str(tmp_path))
    store = open_store(new)
    local = snapshot(new, app, store).local  # wants max-age=2 on k.txt
    remote = gather_remote(store, new, local.roots)  # the bucket: max-age=1, vouched for
    # A plan that assumed k.txt unchanged (made before another apply) wrote nothing to it.
    write_manifest(store, new, local, remote, Report(), set(), set(), set())
    raw = s3_client.get_object(Bucket=bucket_name, Key=".flask-s3/manifest.json.gz")["Body"]
    entry = decode_manifest(raw.read()).entries["static/k.txt"]
    assert entry.headers["Cache-Control"] == "max-age=1"  # the stored truth
    plan = snapshot(new, app, store).plan
    assert [a.key for a in plan.of_kind("update-headers")] == ["static/k.txt"]


def test_objects_of_an_apply_killed_mid_upload_stay_ours_and_are_pruned_later(
    s3_server, s3_env, bucket_name, tmp_path, proxy, s3_client
):
    project = cli_project(tmp_path / "p", bucket_name, proxy.endpoint_url)
    (project / "static").mkdir()
    (project / "static" / "base.txt").write_text("base")
    assert flask_s3(project, "apply", "deploy.yaml").returncode == 0
    for i in range(20):
        (project / "static" / f"new{i:02d}.txt").write_text(f"new {i}")
    proxy.policy = lambda m, p, n: "slow" if is_object_put(m, p) else "pass"
    child = start(project, "apply", "deploy.yaml")
    wait_for(lambda: sum(1 for m, p, _ in proxy.seen if is_object_put(m, p)) >= 4)
    time.sleep(0.6)  # a few uploads have landed
    child.kill()
    child.communicate(timeout=30)
    time.sleep(1.5)  # requests the proxy still held reach the server after the kill
    landed = {k for k in bucket_keys(s3_client, bucket_name) if k.startswith("static/new")}
    assert landed, "no upload landed before the kill"
    for i in range(20):  # the next commit drops those files again
        (project / "static" / f"new{i:02d}.txt").unlink()
    proxy.policy = lambda m, p, n: "pass"
    plan = flask_s3(project, "plan", "deploy.yaml", "--format", "json")
    deleted = {a["key"] for a in json.loads(plan.stdout)["actions"] if a["action"] == "delete"}
    assert deleted == landed  # recorded as ours before the first byte went up
    assert flask_s3(project, "apply", "deploy.yaml").returncode == 0  # breaks the dead lock
    assert not {k for k in bucket_keys(s3_client, bucket_name) if k.startswith("static/new")}


def test_a_lock_taken_over_is_noticed_never_rewritten_and_never_deleted(
    s3_server, s3_env, bucket_name, s3_client
):
    from flask_s3.errors import ApplyError
    from flask_s3.s3.lock import apply_lock

    spec = lib_spec(s3_server, bucket_name)
    store = open_store(spec)
    s3_client.create_bucket(Bucket=bucket_name)
    key = ".flask-s3/lock.json"
    other = json.dumps({"token": "other", "host": "elsewhere", "epoch": time.time()})
    with apply_lock(store, key, refresh_every=0.2) as held:
        # Broken as stale while this holder stalled, say: someone else holds it now.
        s3_client.put_object(Bucket=bucket_name, Key=key, Body=other)
        wait_for(held.lost.is_set, 10)
        with pytest.raises(ApplyError, match="lost the lock"):
            held.check()
        time.sleep(0.5)  # more refresh intervals: none may overwrite the new holder
    body = s3_client.get_object(Bucket=bucket_name, Key=key)["Body"].read()
    assert json.loads(body)["token"] == "other"
