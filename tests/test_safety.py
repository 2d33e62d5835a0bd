"""Nothing outside the static folders is read or uploaded; odd file names round-trip."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import unicodedata
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_s3 import FlaskS3
from flask_s3.assets.scan import scan_app
from flask_s3.deployer.apply import apply_plan
from flask_s3.deployer.snapshot import snapshot
from flask_s3.s3 import open_store
from flask_s3.spec import AssetsSpec, BucketSpec, Spec, UrlSpec


def spec_for(server: Any, bucket: str, **assets: Any) -> Spec:
    return Spec(
        bucket=BucketSpec(name=bucket, endpoint_url=server.endpoint_url, public_read_policy=True),
        urls=UrlSpec(scheme="http", style="path", bucket_domain=server.host),
        assets=AssetsSpec(**assets),
        digest="sha256:safety",
    )


def test_symlinks_hidden_folders_and_the_spec_file_stay_out(tmp_path: Path):
    outside = tmp_path / "secrets"
    outside.mkdir()
    (outside / "id_rsa").write_text("PRIVATE")
    static = tmp_path / "app" / "static"
    (static / "css").mkdir(parents=True)
    (static / "css" / "app.css").write_text("body{}")
    (static / "leak.txt").symlink_to(outside / "id_rsa")
    (static / "leakdir").symlink_to(outside, target_is_directory=True)
    (static / "alias.css").symlink_to(static / "css" / "app.css")
    (static / ".webassets-cache").mkdir()
    (static / ".webassets-cache" / "x.css").write_text("cached")
    (static / "deploy.yaml").write_text("version: 1\n")
    app = Flask("safe", root_path=str(tmp_path / "app"))
    spec = Spec(bucket=BucketSpec(name="bucket"), source=static / "deploy.yaml", digest="x")
    inventory = scan_app(app, spec)
    assert sorted(inventory.assets) == ["static/alias.css", "static/css/app.css"]
    assert any("leak.txt: symlink leaves the static folder" in w for w in inventory.warnings)
    assert any("leakdir: symlink leaves the static folder" in w for w in inventory.warnings)
    with_hidden = scan_app(
        app, Spec(bucket=BucketSpec(name="b"), assets=AssetsSpec(include_hidden=True))
    )
    assert "static/.webassets-cache/x.css" in with_hidden.assets


def test_symlink_loop_terminates(tmp_path: Path):
    static = tmp_path / "static"
    (static / "a").mkdir(parents=True)
    (static / "a" / "f.txt").write_text("f")
    (static / "a" / "loop").symlink_to(static, target_is_directory=True)
    app = Flask("loop", root_path=str(tmp_path))
    keys = set(scan_app(app, Spec(bucket=BucketSpec(name="b"))).assets)
    assert "static/a/f.txt" in keys
    assert len(keys) < 10


ODD_NAMES = [
    "with space.txt",
    "plus+sign.txt",
    "hash#tag.txt",
    "question?.txt",
    "percent%20literal.txt",
    "ampersand&equals=.txt",
    "unicode-café.txt",
    unicodedata.normalize("NFD", "nfd-résumé.txt"),
    "日本語/ファイル.txt",
    "l" * 200 + ".txt",
    "semi;colon,comma.txt",
    "quote'single.txt",
]


def test_odd_file_names_upload_under_the_url_for_key_and_serve_back(
    s3_server, s3_env, bucket_name, tmp_path, s3_client, both_stores
):
    static = tmp_path / "static"
    for name in ODD_NAMES:
        path = static / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode())
    app = Flask("odd", root_path=str(tmp_path))
    spec = spec_for(s3_server, bucket_name)
    app.config.update(spec.flask_config())
    FlaskS3(app)
    client = open_store(spec)
    snap = snapshot(spec, app, client)
    apply_plan(snap.plan, spec, snap.local, client)
    from flask import render_template_string

    with app.app_context():
        for name in ODD_NAMES:
            url = render_template_string("{{ url_for('static', filename=n) }}", n=name)
            with urllib.request.urlopen(url, timeout=10) as resp:
                assert resp.read() == name.encode(), url
    keys = {o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket_name)["Contents"]}
    assert "static/" + unicodedata.normalize("NFC", ODD_NAMES[7]) in keys


@pytest.mark.slow
def test_large_file_uploads_with_bounded_memory(
    s3_server, s3_env, bucket_name, tmp_path, s3_client
):
    static = tmp_path / "static"
    static.mkdir()
    with open(static / "big.bin", "wb") as fh:
        block = os.urandom(1 << 20)
        for _ in range(120):
            fh.write(block)
    script = textwrap.dedent(
        f"""
        import sys
        from flask import Flask
        from flask_s3.deployer.apply import apply_plan
        from flask_s3.deployer.snapshot import snapshot
        from flask_s3.s3 import open_store
        from flask_s3.spec import BucketSpec, Spec
        app = Flask("big", root_path={str(tmp_path)!r})
        bucket = BucketSpec(name={bucket_name!r}, endpoint_url={s3_server.endpoint_url!r})
        spec = Spec(bucket=bucket)
        client = open_store(spec)
        snap = snapshot(spec, app, client)
        report = apply_plan(snap.plan, spec, snap.local, client)
        assert report.uploaded == 1, report
        # VmHWM: this process's own peak (ru_maxrss would carry pytest's over exec)
        status = open("/proc/self/status").read()
        print(next(l.split()[1] for l in status.splitlines() if l.startswith("VmHWM:")))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    peak_mb = int(result.stdout.strip()) / 1024
    assert peak_mb < 200, f"peak RSS {peak_mb:.0f} MB"
    head = s3_client.head_object(Bucket=bucket_name, Key="static/big.bin")
    assert head["ContentLength"] == 120 << 20
