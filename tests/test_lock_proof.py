"""The look under the lock is skipped only when the lock proves nothing was written since.

An apply that takes the lock with ``If-Match`` on the ETag this machine's last release left,
read before its lock-free look was sent, knows nobody held the lock in between: that look
still holds (flask_s3/s3/lock.py). Each test here has another apply write between the first
look and the lock, in the order that a wrong proof would miss, through the CLI on the real
local S3; each ends with the tree of the apply that ran last, and nothing lost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from clirun import flask_s3
from faultproxy import FaultProxy
from lockcheck import lock_is_free

LOCK = ".flask-s3/lock.json"
APP = "from flask import Flask\n\ndef create_app():\n    return Flask(__name__)\n"


def project(root: Path, bucket: str, endpoint: str, files: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    (root / "lockapp.py").write_text(APP)
    (root / "deploy.yaml").write_text(
        textwrap.dedent(
            f"""\
            version: 1
            app: "lockapp:create_app()"
            bucket: {{name: {bucket}, endpoint_url: "{endpoint}", region: us-east-1}}
            assets:
              prune: true
            """
        )
    )
    (root / "static").mkdir()
    for name, text in files.items():
        (root / "static" / name).write_text(text)
    return root


def stored(s3_client: Any, bucket: str) -> dict[str, bytes]:
    pages = s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="static/")
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    return {k: s3_client.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def tree(root: Path) -> dict[str, bytes]:
    return {f"static/{p.name}": p.read_bytes() for p in (root / "static").iterdir()}


def lists_of(server: Any, run: Any) -> int:
    """The LIST requests the server answered while ``run()`` ran (which must succeed)."""
    before = server.request_counts().get("LIST", 0)
    result = run()
    assert result.returncode == 0, result.stderr
    return int(server.request_counts().get("LIST", 0) - before)


@pytest.fixture
def proxy(s3_server: Any) -> Any:
    fault_proxy = FaultProxy(int(s3_server.endpoint_url.rsplit(":", 1)[1]))
    yield fault_proxy
    fault_proxy.close()


def wait_for(predicate: Any, seconds: float = 30) -> None:
    deadline = time.time() + seconds
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("held_request", ["lock", "listing"])
def test_an_apply_between_the_first_look_and_the_lock_is_never_lost(
    s3_server, s3_env, bucket_name, tmp_path, proxy, s3_client, held_request
):
    """A and B deploy from one machine (one cache folder), both through the same endpoint.

    A's first look is split by B's whole apply: with ``lock``, A's read of the lock waits
    until B released it (so A reads B's release, while A's listing came before B's writes);
    with ``listing``, A's listing waits (so A reads the lock A released last, and lists
    after B). Either way the lock A takes is not the one A released, A looks again under
    it, and the bucket ends as A's tree: B's bytes replaced, B's files pruned, A's back.
    """
    s3_client.create_bucket(Bucket=bucket_name)
    a = project(
        tmp_path / "a",
        bucket_name,
        proxy.endpoint_url,
        {"shared.txt": "A", **{f"a{i}.txt": f"A {i}" for i in range(4)}},
    )
    b = project(
        tmp_path / "b", bucket_name, proxy.endpoint_url, {"shared.txt": "B", "b.txt": "only B"}
    )
    first = flask_s3(a, "apply", "deploy.yaml")
    assert first.returncode == 0, first.stderr
    (a / "static" / "a0.txt").write_text("A 0, changed")  # A has something to write

    b_done = threading.Event()
    held: list[str] = []

    def hold(head: bytes, body: bytes) -> None:
        method, path = head.decode("latin-1").split(" ", 2)[:2]
        wanted = (
            method == "GET" and path.endswith(LOCK)
            if held_request == "lock"
            else method == "GET" and "list-type" in path
        )
        if wanted and not held:
            held.append(path)
            b_done.wait(60)

    proxy.on_request = hold
    child = subprocess.Popen(
        [sys.executable, "-m", "flask_s3", "apply", "deploy.yaml"],
        cwd=a,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: bool(held))
        time.sleep(0.3)  # A's other first-look requests are answered meanwhile
        between = flask_s3(b, "apply", "deploy.yaml")
        assert between.returncode == 0, between.stderr
        assert stored(s3_client, bucket_name) == tree(b)  # B's apply ran in full
    finally:
        b_done.set()
        _, a_err = child.communicate(timeout=90)
    assert child.returncode == 0, a_err
    assert stored(s3_client, bucket_name) == tree(a)
    assert lock_is_free(s3_client, bucket_name, LOCK)
    again = flask_s3(a, "plan", "deploy.yaml", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr


def test_a_release_remembered_here_is_not_trusted_after_another_machine_applied(
    s3_server, s3_env, bucket_name, tmp_path, s3_client
):
    """Machine B (its own cache folder) applies between two applies of machine A: A's
    remembered release no longer matches the lock, so A looks again under it."""
    s3_client.create_bucket(Bucket=bucket_name)
    endpoint = s3_server.endpoint_url
    a = project(tmp_path / "a", bucket_name, endpoint, {"x.txt": "A", "y.txt": "A"})
    b = project(tmp_path / "b", bucket_name, endpoint, {"x.txt": "B", "z.txt": "B"})
    assert flask_s3(a, "apply", "deploy.yaml").returncode == 0
    other_machine = dict(os.environ, FLASK_S3_CACHE_DIR=str(tmp_path / "b-cache"))
    done = subprocess.run(
        [sys.executable, "-m", "flask_s3", "apply", "deploy.yaml"],
        cwd=b,
        env=other_machine,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    look = lists_of(s3_server, lambda: flask_s3(a, "plan", "deploy.yaml"))  # one look
    (a / "static" / "y.txt").write_text("A, changed")
    # The look under the lock was made: the listing ran twice (first look, then under it).
    assert lists_of(s3_server, lambda: flask_s3(a, "apply", "deploy.yaml")) == 2 * look
    assert stored(s3_client, bucket_name) == tree(a)
    record = json.loads(s3_client.get_object(Bucket=bucket_name, Key=LOCK)["Body"].read())
    assert record["released"] is True


def test_a_change_after_a_change_from_here_lists_once_and_an_older_lock_still_works(
    s3_server, s3_env, bucket_name, tmp_path, s3_client
):
    """The proof's gain, and the formats around it: a second change from this machine lists
    the bucket once; a lock left deleted (an older flask-s3, or ``unlock --force``) or
    released is taken as before; ``unlock`` calls a released lock free."""
    s3_client.create_bucket(Bucket=bucket_name)
    endpoint = s3_server.endpoint_url
    a = project(tmp_path / "a", bucket_name, endpoint, {"x.txt": "1", "y.txt": "1"})
    assert flask_s3(a, "apply", "deploy.yaml").returncode == 0
    look = lists_of(s3_server, lambda: flask_s3(a, "plan", "deploy.yaml"))  # one look
    (a / "static" / "x.txt").write_text("2")
    assert lists_of(s3_server, lambda: flask_s3(a, "apply", "deploy.yaml")) == look
    assert stored(s3_client, bucket_name) == tree(a)
    shown = flask_s3(a, "unlock", "deploy.yaml")
    assert shown.returncode == 0 and shown.stdout.startswith("No lock"), shown.stdout

    s3_client.delete_object(Bucket=bucket_name, Key=LOCK)  # as an older flask-s3 leaves it
    (a / "static" / "x.txt").write_text("3")
    # nothing proven: looked at again under the lock
    assert lists_of(s3_server, lambda: flask_s3(a, "apply", "deploy.yaml")) == 2 * look
    assert stored(s3_client, bucket_name) == tree(a)
    assert lock_is_free(s3_client, bucket_name, LOCK)


def test_two_applies_breaking_one_abandoned_lock_never_both_hold_it(
    s3_server, s3_env, bucket_name, proxy, s3_client
):
    """A dead apply's lock, found abandoned by A and B at once: B's takeover is held at the
    proxy until A has broken the lock and holds it. B's takeover names the dead record's ETag,
    so it is refused and B finds A's live lock (deleting, then creating, would have deleted
    A's lock and given both the lock)."""
    from flask_s3.errors import ApplyError
    from flask_s3.s3 import open_store
    from flask_s3.s3.lock import apply_lock
    from flask_s3.spec import BucketSpec, Spec, UrlSpec

    def spec_via(endpoint: str) -> Spec:
        return Spec(
            bucket=BucketSpec(name=bucket_name, endpoint_url=endpoint, region="us-east-1"),
            urls=UrlSpec(scheme="http", style="path", bucket_domain=s3_server.host),
        )

    s3_client.create_bucket(Bucket=bucket_name)
    dead = {"token": "dead", "host": "ci-9", "pid": 1, "epoch": time.time() - 3600}
    s3_client.put_object(Bucket=bucket_name, Key=LOCK, Body=json.dumps(dead))
    a_holds = threading.Event()
    b_write: list[str] = []

    def hold(head: bytes, body: bytes) -> None:
        method = head.decode("latin-1").split(" ", 1)[0]
        breaking = method == "DELETE" or (method == "PUT" and b"if-match:" in head.lower())
        if breaking and not b_write:
            b_write.append(method)
            a_holds.wait(30)

    proxy.on_request = hold
    outcome: list[str] = []

    def b_takes() -> None:
        try:
            with apply_lock(open_store(spec_via(proxy.endpoint_url)), LOCK):
                outcome.append("held")
        except ApplyError as exc:
            outcome.append(exc.summary)

    b = threading.Thread(target=b_takes)
    b.start()
    wait_for(lambda: bool(b_write))  # B read the dead record and is breaking it
    with apply_lock(open_store(spec_via(s3_server.endpoint_url)), LOCK) as held:
        a_holds.set()
        b.join(30)
        assert outcome == ["another apply is running on this bucket and prefix"]
        record = json.loads(s3_client.get_object(Bucket=bucket_name, Key=LOCK)["Body"].read())
        assert record["token"] == held.token  # A's lock, untouched by B
        assert not held.lost.is_set()
    assert lock_is_free(s3_client, bucket_name, LOCK)


def test_a_holder_that_lost_its_lock_unnoticed_leaves_its_successor_s_lock_alone(
    s3_server, s3_env, bucket_name, s3_client
):
    """Taken over while this holder stalled, before any refresh could notice: the release at
    the end names the ETag this holder wrote, so it is refused and the new holder keeps its
    lock (a plain delete would have freed it under the new holder's feet)."""
    from flask_s3.s3 import open_store
    from flask_s3.s3.lock import apply_lock
    from flask_s3.spec import BucketSpec, Spec, UrlSpec

    spec = Spec(
        bucket=BucketSpec(
            name=bucket_name, endpoint_url=s3_server.endpoint_url, region="us-east-1"
        ),
        urls=UrlSpec(scheme="http", style="path", bucket_domain=s3_server.host),
    )
    s3_client.create_bucket(Bucket=bucket_name)
    successor = {"token": "next", "host": "ci-2", "pid": 1, "epoch": time.time()}
    with apply_lock(open_store(spec), LOCK, refresh_every=3600):
        s3_client.put_object(Bucket=bucket_name, Key=LOCK, Body=json.dumps(successor))
    record = json.loads(s3_client.get_object(Bucket=bucket_name, Key=LOCK)["Body"].read())
    assert record == successor
