"""What keeps a 200,000-file plan small and quick: compact records, a paused collector."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_s3.assets.local import LocalAsset
from flask_s3.deployer.memory import collector_paused
from flask_s3.deployer.snapshot import snapshot
from flask_s3.errors import PlanError
from flask_s3.s3 import open_store
from flask_s3.s3.manifest import ManifestEntry
from flask_s3.s3.store import ObjectInfo, listed
from flask_s3.spec import BucketSpec, Spec


def test_per_file_records_have_no_dict():
    asset = LocalAsset("static/a.css", "/x/a.css", 3, "0" * 32, {})
    entry = ManifestEntry("0" * 32, {})
    for record in (asset, entry, listed("static/a.css", 3, '"' + "0" * 32 + '"')):
        assert not hasattr(record, "__dict__"), type(record)
    assert isinstance(listed("k", 1, '"e"'), ObjectInfo)
    assert listed("k", 1, '"e"').etag == "e"


def test_the_collector_is_paused_inside_and_restored_after():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ZeroDivisionError), collector_paused():
        1 / 0  # noqa: B018
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # the caller's own choice is kept
    finally:
        gc.enable()


def test_a_failed_snapshot_leaves_the_collector_running(
    s3_env: Any, bucket_name: str, tmp_path: Path
):
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "a.css").write_text("a{}")
    app = Flask("gcapp", root_path=str(tmp_path))
    bucket = BucketSpec(name=bucket_name, endpoint_url=s3_env.endpoint_url, create=False)
    spec = Spec(bucket=bucket, digest="x")
    with pytest.raises(PlanError, match="does not exist"):
        snapshot(spec, app, open_store(spec))
    assert gc.isenabled()
