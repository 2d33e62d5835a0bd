"""What keeps a 200,000-file plan small and quick: compact records, a paused collector."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
import weakref
from pathlib import Path
from typing import Any

import pytest
from clirun import flask_s3, flask_s3_peak
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


def test_in_the_commands_own_process_a_pause_ends_frozen_not_collected():
    from flask_s3.deployer import memory

    gc.collect()
    before = gc.get_freeze_count()
    with collector_paused():
        made = [[i] for i in range(1000)]
    assert gc.get_freeze_count() == before  # a library's caller: the collector as it was
    assert memory._frozen_after_pause == [False]
    memory.freeze_after_pauses()
    try:
        with collector_paused():
            made += [[i] for i in range(1000)]
        # what the pause built is out of the collector's sight; nothing left to walk
        assert gc.get_freeze_count() >= before + len(made)
        assert gc.get_count()[0] < 100
        assert gc.isenabled()
    finally:
        memory._frozen_after_pause[0] = False
        gc.unfreeze()


def test_only_the_commands_own_process_freezes_after_pauses() -> None:
    # `flask-s3` (run()) sets it; importing the command line, as a program or CliRunner does,
    # does not. run() ends the process itself: the answer is printed by an exit function.
    probe = (
        "import atexit, sys\n"
        "from flask_s3.deployer import memory\n"
        "import flask_s3.cli\n"
        "print(memory._frozen_after_pause[0])\n"
        "atexit.register(lambda: print(memory._frozen_after_pause[0]))\n"
        "sys.argv = ['flask-s3', '--version']\n"
        "from flask_s3.__main__ import run\n"
        "run()\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split()
    assert lines[0] == "False" and lines[-1] == "True", result.stdout


def test_only_the_commands_own_process_keeps_its_inventories_to_the_exit() -> None:
    from flask_s3.deployer import memory

    class Inventory:
        pass

    made = Inventory()
    ref = weakref.ref(made)
    memory.keep_until_exit(made)
    del made
    assert ref() is None  # a library's caller (CliRunner too): freed when let go, as before
    memory.freeze_after_pauses()
    try:
        made = Inventory()
        ref = weakref.ref(made)
        memory.keep_until_exit(made)
        del made
        assert ref() is not None  # `flask-s3`: left to os._exit, not freed object by object
    finally:
        memory._frozen_after_pause[0] = False
        memory._kept.clear()


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


def small_tree(root: Path, files: int) -> Path:
    """An app with ``files`` tiny static files in folders of 500, written an hour ago (so the
    hash cache trusts them on the next run)."""
    static = root / "static"
    old = time.time() - 3600
    for i in range(files):
        folder = static / f"d{i // 500:03d}"
        if i % 500 == 0:
            folder.mkdir(parents=True)
        path = folder / f"file-{i:06d}.txt"
        path.write_bytes(b"%d" % i)
        os.utime(path, (old, old))
    (root / "memapp.py").write_text("from flask import Flask\napp = Flask(__name__)\n")
    return root


def plan_peak_kib(app_dir: Path, bucket: str, endpoint: str) -> int:
    (app_dir / "deploy.yaml").write_text(
        f'version: 1\napp: "memapp:app"\n'
        f"bucket: {{name: {bucket}, endpoint_url: {endpoint!r}, create: true}}\n"
    )
    # the first run hashes every file into the cache and validates the spec (jsonschema)
    flask_s3(app_dir, "plan", "deploy.yaml")
    result, peak = flask_s3_peak(app_dir, "plan", "deploy.yaml")
    assert result.returncode == 0, result.stderr
    assert peak > 0
    return peak


def test_a_plan_holds_little_per_file(s3_env: Any, bucket_name: str, tmp_path: Path):
    """What each file costs a plan (measured: about 2 KB each, with its upload action and
    the packed hash cache): a regression that doubles it fails, machine noise does not."""
    files = 5000
    one = plan_peak_kib(small_tree(tmp_path / "one", 1), bucket_name, s3_env.endpoint_url)
    many = plan_peak_kib(small_tree(tmp_path / "many", files), bucket_name, s3_env.endpoint_url)
    per_file = (many - one) * 1024 / files
    assert per_file < 4000, f"{per_file:.0f} bytes per file"
