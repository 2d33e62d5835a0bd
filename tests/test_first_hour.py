"""A new user's first mistakes, met through the command line (issue 26): each gets a clear,
located answer at once, never a traceback or a long silence."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from clirun import flask_s3

from flask_s3.cli import flask_group, main

APP = """
from flask import Flask

def create_app():
    return Flask(__name__, static_folder="static")
"""


def write_project(root: Path, bucket: str, endpoint: str) -> None:
    (root / "shopapp.py").write_text(APP)
    (root / "static" / "css").mkdir(parents=True)
    (root / "static" / "css" / "app.css").write_text("body{}")
    (root / "static" / "app.js").write_text("1;")
    (root / "deploy.yaml").write_text(
        textwrap.dedent(
            f"""\
            version: 1
            app: "shopapp:create_app()"
            bucket:
              name: {bucket}
              endpoint_url: {endpoint}
            """
        )
    )


def run(
    cwd: Path, *args: str, preexec: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    return flask_s3(cwd, *args, timeout=60, preexec_fn=preexec)


# --- -h wherever --help works -----------------------------------------------------------------


def test_h_is_help_for_the_flask_group_and_every_subcommand():
    # As sphinx-click does in the docs build: a plain context first (click then keeps the
    # help option it made from it), which must not cost any command its -h.
    for command in main.commands.values():
        command.get_help_option(click.Context(command, info_name=command.name))
    runner = CliRunner()
    for group in (main, flask_group):
        assert runner.invoke(group, ["-h"]).output == runner.invoke(group, ["--help"]).output
        for name in group.commands:
            short = runner.invoke(group, [name, "-h"])
            assert short.exit_code == 0, (name, short.output)
            assert short.output == runner.invoke(group, [name, "--help"]).output


def test_h_works_under_flask_s3(tmp_path: Path):
    (tmp_path / "shopapp.py").write_text(APP)
    for args in (["s3", "-h"], ["s3", "plan", "-h"]):
        result = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "shopapp:create_app()", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert "No such option" not in result.stderr
        assert "Usage: python -m flask s3" in result.stdout


# --- an endpoint with nothing behind it ---------------------------------------------------------


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("store", ["fast", "boto3"])
@pytest.mark.parametrize(
    "endpoint, what",
    [
        (None, "connection refused"),
        ("http://no-such-host.invalid:9000", "its host name does not resolve"),
    ],
    ids=["refused", "unresolvable"],
)
def test_nothing_at_the_endpoint_fails_within_3_s_on_one_line(
    tmp_path: Path,
    s3_env: Any,
    bucket_name: str,
    store: str,
    endpoint: str | None,
    what: str,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("FLASK_S3_STORE", store)
    # The same command against the live server first: what starting Python, importing the
    # app and boto3 and one answer cost on this machine now (seconds on a busy one).
    live, dead = tmp_path / "live", tmp_path / "dead"
    live.mkdir()
    dead.mkdir()
    write_project(live, bucket_name, s3_env.endpoint_url)
    started = time.monotonic()
    assert run(live, "plan", "deploy.yaml").returncode == 0
    floor = time.monotonic() - started
    endpoint = endpoint or f"http://127.0.0.1:{closed_port()}"
    write_project(dead, bucket_name, endpoint)
    started = time.monotonic()
    result = run(dead, "plan", "deploy.yaml")
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    # 3 s on a quiet machine; on a busy one the same share above what the live run cost.
    # botocore's backoff over its 5 attempts alone averages 7.5 s.
    assert elapsed < max(3.0, 1.5 * floor + 1.0), (elapsed, floor)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        f"Error: cannot reach the S3 endpoint {endpoint} ({what}) while trying to connect; "
        "check bucket.endpoint_url"
    )


# --- local files that cannot be read ------------------------------------------------------------


PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2


def without_read_override() -> Callable[[], None] | None:
    """Root reads a mode-000 file anyway; the CLI then runs without the capabilities that
    allow it (dropped from the bounding set before exec), so it meets EACCES like a user."""
    if os.geteuid() != 0:
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def drop() -> None:
        for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
            if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")

    return drop


def test_an_unreadable_static_file_is_named_and_nothing_is_uploaded(
    tmp_path: Path, s3_env: Any, s3_server: Any, s3_client: Any, bucket_name: str
):
    """PermissionError while hashing (local.py); the same handler takes any OSError there."""
    write_project(tmp_path, bucket_name, s3_server.endpoint_url)
    secret = tmp_path / "static" / "css" / "app.css"
    secret.chmod(0o000)
    for command in ("plan", "apply"):
        result = run(tmp_path, command, "deploy.yaml", preexec=without_read_override())
        assert result.returncode == 1, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        assert f"Error: cannot read {secret}: Permission denied" in result.stderr
        assert "Nothing was uploaded. Make the file readable" in result.stderr
    buckets = [b["Name"] for b in s3_client.list_buckets()["Buckets"]]
    assert bucket_name not in buckets  # apply stopped before creating or uploading anything


def test_a_dangling_symlink_is_reported_as_dangling(
    tmp_path: Path, s3_env: Any, s3_server: Any, bucket_name: str
):
    write_project(tmp_path, bucket_name, s3_server.endpoint_url)
    static = tmp_path / "static"
    (static / "gone.css").symlink_to(static / "css" / "removed.css")
    (static / "loop.css").symlink_to(static / "loop.css")
    (tmp_path / "elsewhere.css").write_text("x")
    (static / "outside.css").symlink_to(tmp_path / "elsewhere.css")
    result = run(tmp_path, "plan", "deploy.yaml")
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    assert "gone.css: symlink points to nothing (-> " in out
    assert "loop.css: symlink points to nothing" in out
    assert "gone.css: symlink leaves" not in out
    assert "outside.css: symlink leaves the static folder; skipped" in out


def test_a_file_gone_between_plan_and_upload_is_named_in_the_apply_error(
    tmp_path: Path, s3_env: Any, s3_server: Any, s3_client: Any, bucket_name: str, both_stores: str
):
    """FileNotFoundError during the upload: that key fails with the file named, the others
    are uploaded, and no delete is sent."""
    from flask import Flask

    from flask_s3.deployer.apply import apply_plan
    from flask_s3.deployer.snapshot import snapshot
    from flask_s3.errors import ApplyError
    from flask_s3.s3 import open_store
    from flask_s3.spec import BucketSpec, Spec

    (tmp_path / "static").mkdir()
    for name in ("a.css", "b.css"):
        (tmp_path / "static" / name).write_text(name)
    app = Flask("gone", root_path=str(tmp_path))
    spec = Spec(bucket=BucketSpec(name=bucket_name, endpoint_url=s3_server.endpoint_url))
    store = open_store(spec)
    snap = snapshot(spec, app, store)
    (tmp_path / "static" / "b.css").unlink()
    with pytest.raises(ApplyError) as info:
        apply_plan(snap.plan, spec, snap.local, store)
    assert info.value.report.failed == {  # type: ignore[attr-defined]
        "static/b.css": f"cannot read {tmp_path / 'static' / 'b.css'}: No such file or directory"
    }
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket_name).get("Contents", [])]
    assert "static/a.css" in keys and "static/b.css" not in keys


# --- make demo / make docs, and local-s3's lines to paste ---------------------------------------


def make_dry_run(target: str, tmp_path: Path) -> list[str]:
    """The commands `make TARGET` would run with no .venv yet (a fresh clone)."""
    root = Path(__file__).resolve().parent.parent
    # as a user types it: not a sub-make of the `make test` that may be running this test
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", target, f"VENV={tmp_path / 'venv'}"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_demo_says_what_happens_before_the_quiet_install(tmp_path: Path):
    lines = make_dry_run("demo", tmp_path)
    intro = next(i for i, line in enumerate(lines) if "about 1-2 minutes" in line)
    install = next(i for i, line in enumerate(lines) if "pip install" in line or "-m venv" in line)
    assert intro < install, lines
    assert lines[-1].endswith("-m examples.demo")


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_docs_says_where_the_html_is(tmp_path: Path):
    lines = make_dry_run("docs", tmp_path)
    assert "open build/docs/html/index.html" in lines[-1]


def test_local_s3_prints_the_lines_the_quickstart_pastes(tmp_path: Path):
    """What `flask-s3 local-s3` prints is what tests/test_docs.py gives the Quickstart."""
    from flask_s3.tools.seaweedfs import LocalS3, shell_settings

    server = subprocess.Popen(
        [sys.executable, "-m", "flask_s3", "local-s3", "--dir", str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert server.stdout is not None
        out = []
        for line in server.stdout:
            out.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        text = "".join(out)
        endpoint = next(w for w in text.split() if w.startswith("http://127.0.0.1:"))
        port = int(endpoint.rsplit(":", 1)[1])
        assert shell_settings(LocalS3(tmp_path / "unused", port=port)) in text
        assert f"export FLASK_S3_ENDPOINT_URL=http://127.0.0.1:{port}\n" in text
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=20)


# --- validate: every problem, and the names S3 refuses ------------------------------------------

BAD_SPECS = Path(__file__).parent / "specs" / "bad"


def test_validate_reports_a_duplicate_key_and_a_misspelt_one_together():
    spec = BAD_SPECS / "52-duplicate-and-misspelt.yaml"
    result = CliRunner().invoke(main, ["validate", str(spec)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{spec}:4:3: bucket.name: duplicate key (first given on line 3); keep one",
        f'{spec}:6:3: assets.prnue: unknown key; did you mean "prune"?',
        "Error: 2 problems in the deploy spec",
    ]


@pytest.mark.parametrize(
    "name, says",
    [
        ("shop..assets", "has two adjacent periods"),
        ("192.168.1.1", "looks like an IP address"),
        ("Shop_Assets", "a bucket name has 3-63 lowercase letters"),
        ("xn--shop", "starts with 'xn--', which S3 reserves"),
        ("shop-s3alias", "ends with '-s3alias', which S3 reserves"),
    ],
)
def test_validate_refuses_bucket_names_s3_refuses(tmp_path: Path, name: str, says: str):
    spec = tmp_path / "deploy.yaml"
    spec.write_text(f'version: 1\nbucket:\n  name: "{name}"\n')
    result = CliRunner().invoke(main, ["validate", str(spec)])
    assert result.exit_code == 1
    assert result.output.startswith(f"{spec}:3:3: bucket.name: ")
    assert says in result.output


def test_validate_checks_an_interpolated_bucket_name(tmp_path: Path, monkeypatch):
    spec = tmp_path / "deploy.yaml"
    spec.write_text("version: 1\nbucket:\n  name: ${BUCKET}\n")
    monkeypatch.setenv("BUCKET", "shop..assets")
    assert "two adjacent periods" in CliRunner().invoke(main, ["validate", str(spec)]).output
    monkeypatch.setenv("BUCKET", "shop.assets")
    result = CliRunner().invoke(main, ["validate", str(spec)])
    assert result.exit_code == 0, result.output
