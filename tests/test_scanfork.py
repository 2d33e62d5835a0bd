"""The local scan in a forked process (``deployer/scanfork.py``) gives the inventory the scan
gives in-process, field for field, and its failures are the in-process scan's own errors."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import unicodedata
from pathlib import Path

import pytest
from flask import Flask

from flask_s3.assets.scan import scan_app
from flask_s3.deployer import scanfork
from flask_s3.errors import PlanError
from flask_s3.spec import spec_from_dict

BIG = 10 * scanfork.FORK_FROM  # what the listing's hints count, for a tree that forks
KINDS = ["css", "js", "svg", "png", "json", "html", "woff2", "txt"]


@pytest.fixture(autouse=True)
def asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_S3_SCAN_FORK", "1")


pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="the scan is forked only with two cores or more (Linux)",
)


def ran_elsewhere(request: pytest.FixtureRequest) -> bool:
    """True once the test passed in a fresh interpreter, where this one runs other threads
    (another test's server, say): beside them the scan is rightly never forked."""
    if threading.active_count() == 1:
        return False
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", request.node.nodeid],
        cwd=request.config.rootpath,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    return True


def tree(root: Path, count: int) -> Flask:
    static = root / "static"
    for i in range(count):
        path = static / f"d{i % 5}" / f"f{i:04d}.{KINDS[i % len(KINDS)]}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"/* file {i} */ body {{ color: red }}\n" * (i % 7 + 1))
    return Flask("forked", root_path=str(root), static_folder=str(static))


def spec_with(**assets: object):  # type: ignore[no-untyped-def]
    return spec_from_dict(
        {
            "version": 1,
            "bucket": {"name": "forked"},
            "assets": {
                "gzip": {"enabled": True},
                "rules": [
                    {"match": "static/d1/**", "headers": {"Cache-Control": "max-age=60"}},
                    {"match": "**/*.svg", "headers": {"X-Kind": "vector"}},
                ],
                **assets,
            },
        }
    )


@pytest.mark.parametrize("assets", [{}, {"integrity": True}])
def test_the_forked_scan_equals_the_scan_in_process(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    assets: dict[str, object],
    request: pytest.FixtureRequest,
):
    if ran_elsewhere(request):
        return
    monkeypatch.setattr(scanfork, "FRAME", 7)  # many frames: header sets numbered across them
    app = tree(tmp_path, 240)
    spec = spec_with(**assets)
    forked = scanfork.start_scan(app, spec, BIG)
    assert forked is not None  # Linux, two cores, no other thread: it forks
    got = forked.result()
    expected = scan_app(app, spec)
    assert list(got.assets) == list(expected.assets)
    assert got.assets == expected.assets  # key, path, size, MD5, headers, gzip, SRI...
    assert len({a.headers.get("Cache-Control") for a in got.assets.values()}) > 1
    assert (got.warnings, got.roots, got.names, got.integrity) == (
        expected.warnings,
        expected.roots,
        expected.names,
        expected.integrity,
    )
    # one dict per distinct header set, as the scan in-process shares them
    assert len({id(a.headers) for a in got.assets.values()}) == len(
        {tuple(a.headers.items()) for a in got.assets.values()}
    )


def test_a_failing_child_leaves_the_error_to_the_scan_in_process(
    tmp_path: Path, request: pytest.FixtureRequest
):
    if ran_elsewhere(request):
        return
    app = tree(tmp_path, 3)
    name = "caf\u00e9.css"
    (tmp_path / "static" / name).write_text("a")
    (tmp_path / "static" / unicodedata.normalize("NFD", name)).write_text("b")
    forked = scanfork.start_scan(app, spec_with(), BIG)
    assert forked is not None
    with pytest.raises(PlanError, match="differ only in Unicode normalisation"):
        forked.result()
    assert forked.pid == 0  # reaped


def test_a_parent_that_stops_early_kills_and_reaps_the_child(
    tmp_path: Path, request: pytest.FixtureRequest
):
    if ran_elsewhere(request):
        return
    app = tree(tmp_path, 50)
    forked = scanfork.start_scan(app, spec_with(), BIG)
    assert forked is not None
    pid = forked.pid
    forked.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # gone, not a zombie
    forked.close()  # twice is harmless


def test_no_fork_beside_a_thread_of_the_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    app = tree(tmp_path, 3)
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait, name="app-scheduler")
    worker.start()
    try:
        assert scanfork.start_scan(app, spec_with(), BIG) is None  # it may hold a lock
    finally:
        stop.set()
        worker.join()
    monkeypatch.delenv("FLASK_S3_SCAN_FORK")  # not asked for: a thread
    assert scanfork.start_scan(app, spec_with(), BIG) is None


def test_a_small_tree_is_scanned_in_a_thread(tmp_path: Path):
    app = tree(tmp_path, 3)
    assert scanfork.start_scan(app, spec_with(), scanfork.FORK_FROM - 1) is None
