"""Trust at the boundaries (issue 22), through the command line as a user meets it.

A saved plan is data: it never names the code or the spec an apply uses. A multipart upload
stores only the planned bytes. A forged decision cache routes nothing. Hostile plan files
give a clear, located error, never a traceback.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
from clirun import flask_s3 as run
from faultproxy import FaultProxy
from loopback import LISTING, Answer, Loopback, serve

EVIL_MODULE = """
from pathlib import Path
Path("PWNED").write_text("the plan file's app was imported")
from flask import Flask
def create_app():
    return Flask(__name__)
"""

APP_MODULE = """
from flask import Flask
def create_app():
    return Flask(__name__, static_folder="static")
"""


def write_spec(path: Path, bucket: str, endpoint: str, extra: str = "") -> None:
    path.write_text(
        textwrap.dedent(
            f"""\
            version: 1
            app: "siteapp:create_app()"
            bucket:
              name: {bucket}
              endpoint_url: {endpoint}
              region: us-east-1
            """
        )
        + extra
    )


@pytest.fixture
def project(tmp_path: Path, bucket_name: str, s3_env: Any) -> Path:
    (tmp_path / "siteapp.py").write_text(APP_MODULE)
    (tmp_path / "evilmod.py").write_text(EVIL_MODULE)
    static = tmp_path / "static"
    static.mkdir()
    (static / "app.css").write_text("body{}")
    write_spec(tmp_path / "deploy.yaml", bucket_name, s3_env.endpoint_url)
    return tmp_path


# -- finding 1: a saved plan never names the code or the spec ---------------------------------


def test_apply_never_imports_the_app_a_plan_file_names(project: Path):
    made = run(project, "plan", "deploy.yaml", "--out", "plan.json")
    assert made.returncode == 0, made.stderr
    data = json.loads((project / "plan.json").read_text())
    data["app"] = "evilmod:create_app()"  # what a pull-request job could write
    (project / "plan.json").write_text(json.dumps(data))

    # Without SPEC the plan used to supply the spec and the app: now SPEC is required.
    bare = run(project, "apply", "--plan", "plan.json")
    assert bare.returncode == 2, bare.stderr
    assert "give the SPEC" in bare.stderr
    # With SPEC, the spec's app is the one used, and the plan naming another is stale.
    applied = run(project, "apply", "deploy.yaml", "--plan", "plan.json")
    assert applied.returncode == 1
    assert "plan is stale: it was made from another spec or app" in applied.stderr
    assert "'evilmod:create_app()'" in applied.stderr  # both named
    assert "'siteapp:create_app()'" in applied.stderr
    assert "Traceback" not in applied.stderr
    assert not (project / "PWNED").exists()


def test_a_plan_made_from_another_spec_is_refused_naming_both(project: Path, bucket_name: str):
    assert run(project, "plan", "deploy.yaml", "--out", "plan.json").returncode == 0
    (project / "other.yaml").write_text((project / "deploy.yaml").read_text())
    applied = run(project, "apply", "other.yaml", "--plan", "plan.json")
    assert applied.returncode == 1
    assert "'deploy.yaml'" in applied.stderr and "'other.yaml'" in applied.stderr
    # The same spec, spelt another way, is the same spec; and the untouched plan applies.
    ok = run(project, "apply", "./deploy.yaml", "--plan", "plan.json")
    assert ok.returncode == 0, ok.stderr
    assert "1 uploaded" in ok.stdout


def _forge_size(data: dict[str, Any]) -> None:
    data["actions"][0]["size"] = 10**12  # what apply reads to choose a multipart upload


def _forge_bucket(data: dict[str, Any]) -> None:
    data["bucket"]["name"] = "the-bucket-the-reviewer-saw"


def _forge_options(data: dict[str, Any]) -> None:
    data["options"]["prune"] = True


@pytest.mark.parametrize("forge", [_forge_size, _forge_bucket, _forge_options])
def test_a_plan_forged_in_what_apply_acts_on_or_shows_is_stale(project: Path, forge: Any):
    """Everything apply acts on, and what show names as the target, is compared with a
    fresh plan, not only keys and MD5s."""
    assert run(project, "plan", "deploy.yaml", "--out", "plan.json").returncode == 0
    data = json.loads((project / "plan.json").read_text())
    forge(data)
    (project / "plan.json").write_text(json.dumps(data))
    applied = run(project, "apply", "deploy.yaml", "--plan", "plan.json")
    assert applied.returncode == 1
    assert "plan is stale" in applied.stderr


def test_show_names_the_spec_and_app_a_plan_was_made_from(project: Path):
    assert run(project, "plan", "deploy.yaml", "--out", "plan.json").returncode == 0
    data = json.loads((project / "plan.json").read_text())
    data["app"] = "evil\x1b]8;;http://x\x07mod:create_app()"
    (project / "plan.json").write_text(json.dumps(data))
    shown = run(project, "show", "plan.json", env={"PATH": os.environ.get("PATH", "")})
    assert shown.returncode == 0, shown.stderr
    assert 'spec: "deploy.yaml" ("sha256:' in shown.stdout
    assert 'app: "evil\\u001b]8;;http://x\\u0007mod:create_app()"' in shown.stdout
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout
    assert "prune off" in shown.stdout
    assert "1 to upload" in shown.stdout


# -- finding 10: hostile plan files ---------------------------------------------------------


@pytest.mark.parametrize(
    "text, message",
    [
        (b"[" * 200_000 + b"]" * 200_000, b"nested too deeply"),
        (b'{"format_version": 1, "x": ' + b"[" * 900 + b"]" * 900 + b"}", b"nested too deeply"),
        (b"\x00\xff garbage", b"not a plan"),
        (b'{"format_version": 1}', b"damaged or was edited"),
        (b"[]", b"expected a JSON object"),
        (b'"x"' * 3, b"not a plan"),
    ],
)
def test_hostile_plan_files_give_a_clear_error(project: Path, text: bytes, message: bytes):
    (project / "bad.json").write_bytes(text)
    for args in (("show", "bad.json"), ("apply", "deploy.yaml", "--plan", "bad.json")):
        result = run(project, *args)
        assert result.returncode == 1, (args, result.stderr)
        assert message.decode() in result.stderr
        assert "bad.json" in result.stderr
        assert "Traceback" not in result.stderr
        assert not (project / "PWNED").exists()


# -- finding 8: a file changed during a multipart upload -------------------------------------

BIG = 13 * 1024 * 1024 + 12345  # two parts of 8 MiB at the 5 MiB threshold


@pytest.mark.usefixtures("both_stores")
def test_a_file_changed_during_a_multipart_upload_is_refused(
    project: Path, bucket_name: str, s3_env: Any, s3_client: Any
):
    video = project / "static" / "video.mp4"
    video.write_bytes(os.urandom(BIG))

    def change_file(head: bytes, body: bytes) -> None:
        if head.startswith(b"POST ") and b"?uploads" in head.split(b"\r\n", 1)[0]:
            with open(video, "r+b") as fh:  # same size, other bytes, after the plan
                fh.seek(BIG - 100)
                fh.write(b"changed during the upload")

    proxy = FaultProxy(s3_env.port or 0, on_request=change_file)
    try:
        write_spec(
            project / "deploy.yaml",
            bucket_name,
            proxy.endpoint_url,
            "upload:\n  multipart_threshold: 5242880\n",
        )
        applied = run(project, "apply", "deploy.yaml")
        assert applied.returncode == 1, applied.stdout + applied.stderr
        assert "static/video.mp4" in applied.stderr
        assert "changed since the plan" in applied.stderr
        assert "Traceback" not in applied.stderr
    finally:
        proxy.close()
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket_name).get("Contents", [])]
    assert "static/video.mp4" not in keys  # nothing stored
    assert s3_client.list_multipart_uploads(Bucket=bucket_name).get("Uploads", []) == []
    # The manifest does not vouch for it: the next plan uploads it again.
    write_spec(project / "deploy.yaml", bucket_name, s3_env.endpoint_url)
    again = run(project, "plan", "deploy.yaml", "--format", "json")
    assert again.returncode == 0, again.stderr
    planned = {a["key"]: a["action"] for a in json.loads(again.stdout)["actions"]}
    assert planned == {"static/video.mp4": "upload"}


# -- finding 9: the botocore-decision cache routes nothing it cannot vouch for ---------------


def test_an_edited_decision_cache_sends_nothing_elsewhere(project: Path, s3_env: Any):
    first = run(project, "plan", "deploy.yaml")
    assert first.returncode == 0, first.stderr
    cache = Path(os.environ["FLASK_S3_CACHE_DIR"])
    files = list(cache.glob("target-*.json"))
    assert len(files) == 1
    assert files[0].stat().st_mode & 0o777 == 0o600
    text = files[0].read_text()
    for secret in (s3_env.secret_key, s3_env.access_key):
        assert secret not in text

    with serve(Loopback(lambda seen: Answer(200, LISTING))) as elsewhere:
        data = json.loads(text)
        data["host"] = f"127.0.0.1:{elsewhere.port}"  # where an attacker wants the requests
        files[0].write_text(json.dumps(data))
        again = run(project, "plan", "deploy.yaml")
        assert again.returncode == 0, again.stderr
        assert "1 to upload" in again.stdout  # the real bucket's answer
        assert elsewhere.seen == []  # not one signed request went to the forged host
    # botocore was asked again, and its answer remembered in place of the forgery.
    assert json.loads(files[0].read_text())["host"] == s3_env.endpoint_url.split("//")[1]
