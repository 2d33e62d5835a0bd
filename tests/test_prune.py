"""Prune owns only what flask-s3 wrote (issue 22, finding 2), through the CLI on the real S3."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from clirun import flask_s3 as run
from lockcheck import lock_is_free

APP = """
from flask import Flask

def create_app():
    return Flask(__name__, static_url_path="")
"""


def project(root: Path, bucket: str, endpoint: str, prefix: str = "") -> Path:
    (root / "rootapp.py").write_text(APP)
    (root / "static").mkdir(exist_ok=True)
    (root / "static" / "app.css").write_text("body{}")
    (root / "static" / "old.js").write_text("1;")
    urls = f"urls: {{prefix: {prefix}}}\n" if prefix else ""
    (root / "deploy.yaml").write_text(
        textwrap.dedent(
            f"""\
            version: 1
            app: "rootapp:create_app()"
            bucket: {{name: {bucket}, endpoint_url: "{endpoint}", region: us-east-1}}
            """
        )
        + urls
        + "assets:\n  max_delete: 100\n  prune: true\n"
    )
    return root


def keys(s3_client: Any, bucket: str) -> set[str]:
    listed = s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"] for o in listed}


FOREIGN = ["index.html", "uploads/avatar.png", "other-app/app.css"]


def test_prune_at_the_bucket_root_is_refused_with_the_spec_line(
    s3_server, s3_env, bucket_name, tmp_path, s3_client
):
    root = project(tmp_path, bucket_name, s3_server.endpoint_url)
    s3_client.create_bucket(Bucket=bucket_name)
    for key in FOREIGN:
        s3_client.put_object(Bucket=bucket_name, Key=key, Body=b"not ours")
    for command in ("plan", "apply"):
        result = run(root, command, "deploy.yaml")
        assert result.returncode == 1, result.stdout
        assert "Traceback" not in result.stderr
        assert "deploy.yaml:6:3: assets.prune: a static folder is served at the URL root" in (
            result.stderr
        )
    assert keys(s3_client, bucket_name) == set(FOREIGN)  # nothing listed for deletion, nothing sent


def test_prune_under_a_prefix_deletes_only_keys_it_wrote(
    s3_server, s3_env, bucket_name, tmp_path, s3_client
):
    root = project(tmp_path, bucket_name, s3_server.endpoint_url, prefix="site")
    assert run(root, "apply", "deploy.yaml").returncode == 0
    # Someone else's objects inside the static root: an upload folder, a hand-made page.
    theirs = ["site/index.html", "site/uploads/avatar.png", *FOREIGN]
    for key in theirs:
        s3_client.put_object(Bucket=bucket_name, Key=key, Body=b"not ours")
    (root / "static" / "old.js").unlink()
    plan = run(root, "plan", "deploy.yaml", "--format", "json")
    assert plan.returncode == 0, plan.stderr
    data = json.loads(plan.stdout)
    assert [(a["action"], a["key"]) for a in data["actions"]] == [("delete", "site/old.js")]
    assert any("prune leaves 2 object(s)" in w for w in data["warnings"])
    applied = run(root, "apply", "deploy.yaml")
    assert applied.returncode == 0, applied.stderr
    assert "1 deleted" in applied.stdout
    assert keys(s3_client, bucket_name) == set(theirs) | {
        "site/app.css",
        "site/.flask-s3/manifest.json.gz",
        "site/.flask-s3/lock.json",  # released: its ETag tells the next apply who came last
    }
    assert lock_is_free(s3_client, bucket_name, "site/.flask-s3/lock.json")


def test_without_a_manifest_prune_deletes_nothing_it_cannot_prove_it_wrote(
    s3_server, s3_env, bucket_name, tmp_path, s3_client
):
    root = project(tmp_path, bucket_name, s3_server.endpoint_url, prefix="site")
    assert run(root, "apply", "deploy.yaml").returncode == 0
    s3_client.delete_object(Bucket=bucket_name, Key="site/.flask-s3/manifest.json.gz")
    (root / "static" / "old.js").unlink()
    plan = run(root, "plan", "deploy.yaml")
    assert "0 to delete" in plan.stdout or "to delete" not in plan.stdout, plan.stdout
    assert "site/old.js" in plan.stdout + plan.stderr  # named in the warning
    assert run(root, "apply", "deploy.yaml").returncode == 0
    assert "site/old.js" in keys(s3_client, bucket_name)
