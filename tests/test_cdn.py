"""CloudFront invalidation as a planned action. CloudFront is played by moto's server mode,
run as a separate process on a loopback port and reached over HTTP the way a user points
botocore at a custom endpoint (AWS_ENDPOINT_URL_CLOUDFRONT); S3 is the real SeaweedFS."""

from __future__ import annotations

import json
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from click.testing import CliRunner
from flask import Flask

from flask_s3.deployer.apply import Report, apply_plan
from flask_s3.deployer.render import render
from flask_s3.deployer.snapshot import snapshot
from flask_s3.errors import ApplyError
from flask_s3.plan import Plan, validate_plan_dict
from flask_s3.remote import cdn
from flask_s3.s3 import open_store
from flask_s3.spec import (
    AssetsSpec,
    BucketSpec,
    CdnSpec,
    CloudFrontSpec,
    FingerprintSpec,
    Spec,
    UrlSpec,
)

CSS = [f"static/css/c{i:02d}.css" for i in range(20)]
JS = [f"static/js/j{i:02d}.js" for i in range(20)]
OTHER = ["static/img/logo.svg", "static/robots.txt", "static/fonts/a b+é.woff2"]


# one worker starts moto's server for the whole file
pytestmark = pytest.mark.xdist_group("cloudfront")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server in its own process, on a free loopback port, until the session ends."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    # generous: importing moto takes seconds, many more on a machine busy with other workers
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=10):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("moto server did not start") from None
            time.sleep(0.1)
    yield endpoint
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def cloudfront(moto_endpoint: str, s3_env: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A CloudFront client on moto, as the code under test will find it: through the env."""
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDFRONT", moto_endpoint)
    return boto3.client("cloudfront", region_name="us-east-1")


@pytest.fixture
def distribution(cloudfront: Any, bucket_name: str) -> str:
    """A fresh distribution in moto, made over HTTP like any other client would."""
    answer = cloudfront.create_distribution(
        DistributionConfig={
            "CallerReference": secrets.token_hex(8),
            "Comment": "flask-s3 test",
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "s3",
                        "DomainName": f"{bucket_name}.s3.amazonaws.com",
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                    }
                ],
            },
            "DefaultCacheBehavior": {
                "TargetOriginId": "s3",
                "ViewerProtocolPolicy": "allow-all",
                "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
            },
        }
    )
    return str(answer["Distribution"]["Id"])


def invalidations(cloudfront: Any, distribution: str) -> list[dict[str, Any]]:
    """Every invalidation of the distribution, with its paths, oldest first."""
    listed = cloudfront.list_invalidations(DistributionId=distribution)["InvalidationList"]
    out = []
    for item in listed.get("Items", []):
        full = cloudfront.get_invalidation(DistributionId=distribution, Id=item["Id"])
        out.append(full["Invalidation"])
    return sorted(out, key=lambda i: i["CreateTime"])


@pytest.fixture
def site(tmp_path: Path) -> tuple[Path, Flask]:
    static = tmp_path / "static"
    for rel in CSS + JS + OTHER:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"/* {rel} */\n")
    return tmp_path, Flask("cdnsite", root_path=str(tmp_path), static_folder=str(static))


def make_spec(server: Any, bucket: str, distribution: str = "E2QWRUHAPOMQZL", **cf: Any) -> Spec:
    return Spec(
        bucket=BucketSpec(name=bucket, endpoint_url=server.endpoint_url, region="us-east-1"),
        urls=UrlSpec(scheme="https", cdn_domain="cdn.example.com", prefix="v2"),
        assets=AssetsSpec(prune=True),
        cdn=CdnSpec(cloudfront=CloudFrontSpec(distribution_id=distribution, **cf)),
        digest="sha256:cdn-test",
    )


def deploy(spec: Spec, app: Flask, client: Any, **kw: Any) -> Report:
    snap = snapshot(spec, app, client)
    return apply_plan(snap.plan, spec, snap.local, client, remote=snap.remote, **kw)


def touch(root: Path, *rels: str) -> None:
    for rel in rels:
        (root / rel).write_text(f"/* {rel} changed {secrets.token_hex(4)} */\n")


def cdn_action(plan: Plan) -> dict[str, Any] | None:
    found = plan.of_kind(cdn.ACTION)
    assert len(found) <= 1
    return dict(found[0].to_dict()) if found else None


# -- pure planning ------------------------------------------------------------------------


def test_collapse_keeps_the_paths_when_they_fit():
    paths = ["/static/a.css", "/static/b.css"]
    assert cdn.collapse(paths, ["/static"], 15) == paths


def test_collapse_goes_deepest_first_and_never_above_a_root():
    paths = [f"/v2/static/css/c{i}.css" for i in range(14)] + [
        "/v2/static/img/icons/a.svg",
        "/v2/static/img/icons/b.svg",
    ]
    # 16 paths, room for 15: only the icons folder needs collapsing.
    assert cdn.collapse(paths, ["/v2/static"], 15) == sorted(
        [*paths[:14], "/v2/static/img/icons/*"]
    )
    # Room for 1: one wildcard per root, no wider (not /v2/* nor /*).
    assert cdn.collapse(paths, ["/v2/static"], 1) == ["/v2/static/*"]
    two_roots = [*paths, "/v2/admin/assets/x.css", "/v2/admin/assets/y.css"]
    assert cdn.collapse(two_roots, ["/v2/static", "/v2/admin/assets"], 1) == [
        "/v2/admin/assets/*",
        "/v2/static/*",
    ]


def test_collapse_is_fast_on_a_big_tree():
    paths = [f"/static/d{i % 97}/e{i % 13}/f{i}.css" for i in range(20_000)]
    # CPU time, not wall time: a quadratic collapse shows; a busy machine does not
    started = time.process_time()
    out = cdn.collapse(paths, ["/static"], 15)
    assert time.process_time() - started < 2.0
    assert len(out) <= 15
    for path in paths:
        assert any(path == o or (o.endswith("/*") and path.startswith(o[:-1])) for o in out)


def test_cdn_paths_are_the_paths_url_for_gives(tmp_path: Path):
    from flask_s3 import FlaskS3, url_for

    static = tmp_path / "static"
    static.mkdir()
    app = Flask("q", root_path=str(tmp_path), static_folder=str(static))
    app.config.update(
        S3_BUCKET_NAME="b-cdn",
        S3_CDN_DOMAIN="cdn.example.com",
        S3_PREFIX="v2",
        S3_URL_SCHEME="https",
    )
    FlaskS3(app)
    with app.test_request_context():
        for name in ("fonts/a b+é.woff2", "css/100%.css", "js/x*y?.js"):
            url = url_for("static", filename=name)
            assert cdn.url_path(f"v2/static/{name}") == urlsplit(url).path


def test_caller_reference_is_derived_from_the_plan(s3_server, s3_env, bucket_name, site):
    root, app = site
    spec = make_spec(s3_server, bucket_name)
    client = open_store(spec)
    deploy(spec, app, client, cdn_client=object())  # first deploy: no invalidation needed
    touch(root, CSS[0])
    first = snapshot(spec, app, client).plan
    again = snapshot(spec, app, client).plan
    action, action_again = first.of_kind(cdn.ACTION)[0], again.of_kind(cdn.ACTION)[0]
    assert cdn.caller_reference(first, action) == cdn.caller_reference(again, action_again)
    touch(root, CSS[1])
    other = snapshot(spec, app, client).plan
    assert cdn.caller_reference(other, other.of_kind(cdn.ACTION)[0]) != cdn.caller_reference(
        first, action
    )


# -- plans against the real S3 ------------------------------------------------------------


def test_plan_after_changing_two_css_files_lists_exactly_them(s3_server, s3_env, bucket_name, site):
    root, app = site
    spec = make_spec(s3_server, bucket_name)
    client = open_store(spec)
    first = snapshot(spec, app, client).plan
    assert cdn_action(first) is None  # every object is new: nothing cached yet
    deploy(spec, app, client, cdn_client=object())
    touch(root, CSS[3], CSS[7])
    (root / "static/img/new.png").write_bytes(b"\x89PNG new")  # new: not listed
    action = cdn_action(snapshot(spec, app, client).plan)
    assert action is not None
    assert action["key"] is None and action["reason"] == "changed"
    assert action["cdn"] == {
        "provider": "cloudfront",
        "distribution_id": "E2QWRUHAPOMQZL",
        "paths": ["/v2/static/css/c03.css", "/v2/static/css/c07.css"],
        "invalidate": ["/v2/static/css/c03.css", "/v2/static/css/c07.css"],
        "wait": False,
    }


def test_deleted_and_header_changed_objects_are_listed_with_url_quoting(
    s3_server, s3_env, bucket_name, site
):
    root, app = site
    spec = make_spec(s3_server, bucket_name)
    client = open_store(spec)
    deploy(spec, app, client, cdn_client=object())
    (root / "static/robots.txt").unlink()
    changed = replace(
        spec,
        assets=replace(spec.assets, headers={"Cache-Control": "max-age=60"}),
    )
    plan = snapshot(changed, app, client).plan
    action = cdn_action(plan)
    assert action is not None
    kinds = {a.key: a.action for a in plan.actions if a.key}
    assert kinds["v2/static/robots.txt"] == "delete"
    assert kinds["v2/static/fonts/a b+é.woff2"] == "update-headers"
    assert "/v2/static/robots.txt" in action["cdn"]["paths"]
    assert "/v2/static/fonts/a%20b%2B%C3%A9.woff2" in action["cdn"]["paths"]
    assert len(action["cdn"]["paths"]) == len(CSS + JS + OTHER)
    assert action["cdn"]["invalidate"] == [
        "/v2/static/css/*",
        "/v2/static/fonts/a%20b%2B%C3%A9.woff2",
        "/v2/static/img/logo.svg",
        "/v2/static/js/*",
        "/v2/static/robots.txt",
    ]


def test_plan_with_40_changed_files_collapses_to_wildcards(s3_server, s3_env, bucket_name, site):
    root, app = site
    spec = make_spec(s3_server, bucket_name)
    client = open_store(spec)
    deploy(spec, app, client, cdn_client=object())
    touch(root, *CSS, *JS)
    plan = snapshot(spec, app, client).plan
    action = cdn_action(plan)
    assert action is not None
    assert len(action["cdn"]["paths"]) == 40
    assert action["cdn"]["invalidate"] == ["/v2/static/css/*", "/v2/static/js/*"]
    data = plan.to_dict()
    validate_plan_dict(json.loads(json.dumps(data)))
    text = render(data, "text")
    assert "! invalidate-cdn  [changed]  CloudFront E2QWRUHAPOMQZL: 40 changed paths" in text
    assert "sent as 2" in text and "    invalidate: /v2/static/css/*" in text
    assert "    changed: /v2/static/css/c09.css\n    ... and 30 more changed paths" in text
    assert text.rstrip().endswith("CloudFront: invalidate 2 paths.")
    markdown = render(data, "markdown")
    assert "| ! | invalidate-cdn |" in markdown and "`/v2/static/js/*`" in markdown
    assert (
        Plan.from_dict(json.loads(render(data, "json"))).of_kind(cdn.ACTION)[0].cdn
        == (action["cdn"])
    )


def test_fingerprinted_deploys_list_no_paths(s3_server, s3_env, bucket_name, site):
    root, app = site
    spec = make_spec(s3_server, bucket_name)
    spec = replace(
        spec,
        assets=AssetsSpec(
            prune=True,
            fingerprint=FingerprintSpec(enabled=True, keep=1, exclude=("static/robots.txt",)),
        ),
    )
    client = open_store(spec)
    deploy(spec, app, client, cdn_client=object())
    touch(root, *CSS[:5])
    plan = snapshot(spec, app, client).plan
    kinds = sorted({a.action for a in plan.actions})
    assert kinds == ["delete", "upload"]  # new hashed names; old ones pruned (keep: 1)
    assert cdn_action(plan) is None
    touch(root, "static/robots.txt")  # excluded from fingerprinting: its name is reused
    action = cdn_action(snapshot(spec, app, client).plan)
    assert action is not None and action["cdn"]["paths"] == ["/v2/static/robots.txt"]


def test_invalidate_all_and_off(s3_server, s3_env, bucket_name, site):
    root, app = site
    client = open_store(make_spec(s3_server, bucket_name))
    deploy(make_spec(s3_server, bucket_name), app, client, cdn_client=object())
    spec = make_spec(s3_server, bucket_name, invalidate="all")
    (root / "static/img/new.png").write_bytes(b"\x89PNG new")
    action = cdn_action(snapshot(spec, app, client).plan)
    assert action is not None and action["reason"] == "all"
    assert action["cdn"]["invalidate"] == ["/v2/static/*"]
    off = make_spec(s3_server, bucket_name, invalidate="off")
    touch(root, CSS[0])
    assert cdn_action(snapshot(off, app, client).plan) is None


# -- apply against moto's CloudFront -------------------------------------------------------


def test_apply_creates_one_invalidation_and_a_second_apply_none(
    s3_server, s3_env, bucket_name, site, cloudfront, distribution
):
    root, app = site
    spec = make_spec(s3_server, bucket_name, distribution)
    client = open_store(spec)
    report = deploy(spec, app, client)
    assert report.invalidation is None and invalidations(cloudfront, distribution) == []
    touch(root, CSS[1], JS[2])
    report = deploy(spec, app, client)
    sent = invalidations(cloudfront, distribution)
    assert len(sent) == 1
    assert report.invalidation == sent[0]["Id"]
    assert sorted(sent[0]["InvalidationBatch"]["Paths"]["Items"]) == [
        "/v2/static/css/c01.css",
        "/v2/static/js/j02.js",
    ]
    assert sent[0]["InvalidationBatch"]["CallerReference"].startswith("flask-s3-")
    assert not snapshot(spec, app, client).plan.has_changes
    deploy(spec, app, client)
    assert len(invalidations(cloudfront, distribution)) == 1


def test_failed_invalidation_keeps_uploads_recorded_exits_1_and_is_retried(
    s3_server, s3_env, bucket_name, site, cloudfront, distribution, tmp_path, monkeypatch
):
    root, _app = site
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cdnapp.py").write_text(
        "from flask import Flask\n"
        f"app = Flask('cdnsite', root_path={str(root)!r}, "
        f"static_folder={str(root / 'static')!r})\n"
    )
    document = {
        "version": 1,
        "app": "cdnapp:app",
        "bucket": {"name": bucket_name, "endpoint_url": s3_server.endpoint_url},
        "urls": {"cdn_domain": "cdn.example.com", "prefix": "v2"},
        "cdn": {"cloudfront": {"distribution_id": "${TEST_DISTRIBUTION_ID}"}},
    }
    spec_file = tmp_path / "deploy.yaml"
    spec_file.write_text(yaml.safe_dump(document))
    monkeypatch.setenv("TEST_DISTRIBUTION_ID", distribution)
    runner = CliRunner()
    assert runner.invoke(main_cli(), ["apply", str(spec_file)]).exit_code == 0
    touch(root, CSS[4])
    monkeypatch.setenv("TEST_DISTRIBUTION_ID", "ENOSUCHDIST123")
    result = runner.invoke(main_cli(), ["apply", str(spec_file)])
    assert result.exit_code == 1, result.output
    assert "distribution ENOSUCHDIST123 failed: NoSuchDistribution" in result.output
    assert "Traceback" not in result.output
    # The upload went through and is recorded: the next plan changes no object, and
    # invalidates the static roots because the failed invalidation is still pending.
    plan = json.loads(
        runner.invoke(main_cli(), ["plan", str(spec_file), "--format", "json"]).output
    )
    assert [a["action"] for a in plan["actions"]] == ["invalidate-cdn"]
    assert plan["actions"][0]["reason"] == "pending"
    assert plan["actions"][0]["cdn"]["invalidate"] == ["/v2/static/*"]
    assert invalidations(cloudfront, distribution) == []
    monkeypatch.setenv("TEST_DISTRIBUTION_ID", distribution)
    result = runner.invoke(main_cli(), ["apply", str(spec_file), "--wait"])
    assert result.exit_code == 0, result.output
    # CloudFront documents the states InProgress and Completed; servers have spelt them in
    # either case (moto said COMPLETED before 5.2), so the word is compared as CloudFront's.
    assert re.search(r"CloudFront invalidation: completed \(", result.output, re.IGNORECASE)
    sent = invalidations(cloudfront, distribution)
    assert [i["InvalidationBatch"]["Paths"]["Items"] for i in sent] == [["/v2/static/*"]]
    plan = json.loads(
        runner.invoke(main_cli(), ["plan", str(spec_file), "--format", "json"]).output
    )
    assert plan["has_changes"] is False


def test_failed_upload_sends_no_invalidation(
    s3_server, s3_env, bucket_name, site, cloudfront, distribution
):
    root, app = site
    spec = make_spec(s3_server, bucket_name, distribution)
    client = open_store(spec)
    deploy(spec, app, client)
    touch(root, CSS[0])
    (root / CSS[1]).write_text("changed")
    snap = snapshot(spec, app, client)
    (root / CSS[1]).unlink()  # vanishes between plan and apply: that upload fails
    with pytest.raises(ApplyError):
        apply_plan(snap.plan, spec, snap.local, client, remote=snap.remote)
    assert invalidations(cloudfront, distribution) == []
    (root / CSS[1]).write_text("back")
    action = cdn_action(snapshot(spec, app, client).plan)
    assert action is not None and action["reason"] == "pending"


def main_cli() -> Any:
    from flask_s3.cli import main

    return main
