"""End-to-end plan/apply against the real local S3 (SeaweedFS)."""

from __future__ import annotations

import gzip
import hashlib
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask import Blueprint, Flask

from flask_s3.deployer.apply import Report, apply_plan
from flask_s3.deployer.snapshot import check_saved_plan, snapshot
from flask_s3.errors import PlanError, S3Error, StalePlanError
from flask_s3.s3 import open_store
from flask_s3.spec import AssetsSpec, BucketSpec, GzipSpec, HeaderRule, Spec, UrlSpec

pytestmark = pytest.mark.usefixtures("both_stores")

FILES = {
    "static/css/app.css": b"body { color: red; }\n" * 20,
    "static/js/app.js": b"console.log('hi');\n" * 10,
    "static/img/logo.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    "static/img/pixel.png": bytes(range(256)) * 4,
    "static/fonts/shop.woff2": b"wOF2" + b"\0" * 300,
    "static/robots.txt": b"User-agent: *\n",
    "static/.hidden/secret.txt": b"not for upload",
    "static/.env": b"SECRET=1",
    "admin_static/admin.css": b".admin { margin: 0 }\n",
}


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def make_app(root: Path) -> Flask:
    app = Flask("shop", root_path=str(root), static_folder="static")
    admin = Blueprint(
        "admin", "admin", static_folder=str(root / "admin_static"), static_url_path="/assets"
    )
    app.register_blueprint(admin, url_prefix="/admin")
    return app


@pytest.fixture
def site(tmp_path: Path) -> tuple[Path, Flask]:
    write_tree(tmp_path, FILES)
    return tmp_path, make_app(tmp_path)


def make_spec(server: Any, bucket: str, **assets: Any) -> Spec:
    return Spec(
        bucket=BucketSpec(
            name=bucket,
            endpoint_url=server.endpoint_url,
            region="us-east-1",
            public_read_policy=True,
        ),
        urls=UrlSpec(scheme="http", style="path", bucket_domain=server.host),
        assets=AssetsSpec(**assets),
        digest="sha256:test",
    )


def deploy(spec: Spec, app: Flask, client: Any, **kw: Any) -> Report:
    snap = snapshot(spec, app, client, **kw)
    return apply_plan(snap.plan, spec, snap.local, client, remote=snap.remote)


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {}, b""


def counts_delta(server: Any, before: dict[str, int]) -> dict[str, int]:
    after = server.request_counts()
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def writes(delta: dict[str, int]) -> int:
    return sum(n for k, n in delta.items() if k in ("PUT", "COPY", "DELETE", "POST"))


def test_first_apply_uploads_everything_with_bytes_and_headers(
    s3_server, s3_env, bucket_name, site, s3_client
):
    _, app = site
    spec = make_spec(
        s3_server,
        bucket_name,
        headers={"cache-control": "max-age=86400"},
        rules=(HeaderRule("static/fonts/**", {"Cache-Control": "max-age=31536000, immutable"}),),
        gzip=GzipSpec(enabled=True),
    )
    client = open_store(spec)
    report = deploy(spec, app, client)
    assert report.bucket_created
    assert report.uploaded == 7  # hidden files skipped
    base = f"{s3_server.endpoint_url}/{bucket_name}"
    status, headers, body = fetch(f"{base}/static/css/app.css")
    assert status == 200
    assert headers["content-type"] == "text/css; charset=utf-8"
    assert headers["content-encoding"] == "gzip"
    assert headers["cache-control"] == "max-age=86400"
    assert gzip.decompress(body) == FILES["static/css/app.css"]
    status, headers, body = fetch(f"{base}/static/fonts/shop.woff2")
    assert (status, body) == (200, FILES["static/fonts/shop.woff2"])
    assert headers["content-type"] == "font/woff2"
    assert headers["cache-control"] == "max-age=31536000, immutable"
    assert "content-encoding" not in headers
    status, headers, body = fetch(f"{base}/admin/assets/admin.css")
    assert (status, body[:2]) == (200, b"\x1f\x8b")
    assert fetch(f"{base}/static/.env")[0] == 404
    assert fetch(f"{base}/static/.hidden/secret.txt")[0] == 404
    listed = s3_client.list_objects_v2(Bucket=bucket_name)["Contents"]
    for obj in listed:
        if obj["Key"].startswith("static/img/"):
            data = FILES[obj["Key"]]
            assert obj["ETag"].strip('"') == hashlib.md5(data).hexdigest()


def test_second_apply_sends_no_writes(s3_server, s3_env, bucket_name, site):
    _, app = site
    spec = make_spec(s3_server, bucket_name, prune=True)
    client = open_store(spec)
    deploy(spec, app, client)
    before = s3_server.request_counts()
    snap = snapshot(spec, app, client)
    assert not snap.plan.has_changes
    assert snap.plan.unchanged == 7
    report = apply_plan(snap.plan, spec, snap.local, client, remote=snap.remote)
    delta = counts_delta(s3_server, before)
    assert writes(delta) == 0, delta
    # GETs: the bucket check, the manifest and the policy check; no HEAD per object.
    assert delta.get("GET", 0) <= 3, delta
    assert report.changed == 0


def test_one_changed_file_gives_exactly_one_update(s3_server, s3_env, bucket_name, site):
    root, app = site
    spec = make_spec(s3_server, bucket_name)
    client = open_store(spec)
    deploy(spec, app, client)
    (root / "static/js/app.js").write_bytes(b"console.log('changed');\n")
    snap = snapshot(spec, app, client)
    assert [(a.action, a.key, a.reason) for a in snap.plan.actions] == [
        ("update", "static/js/app.js", "size")
    ]
    report = deploy(spec, app, client)
    assert (report.updated, report.uploaded) == (1, 0)
    _, _, body = fetch(f"{s3_server.endpoint_url}/{bucket_name}/static/js/app.js")
    assert body == b"console.log('changed');\n"


def test_header_rule_change_updates_headers_without_reupload(s3_server, s3_env, bucket_name, site):
    _, app = site
    spec = make_spec(s3_server, bucket_name, headers={"Cache-Control": "max-age=60"})
    client = open_store(spec)
    deploy(spec, app, client)
    changed = replace(
        spec,
        assets=replace(
            spec.assets,
            rules=(HeaderRule("static/img/*", {"Cache-Control": "max-age=600"}),),
        ),
    )
    snap = snapshot(changed, app, client)
    kinds = {(a.action, a.key) for a in snap.plan.actions}
    assert kinds == {
        ("update-headers", "static/img/logo.svg"),
        ("update-headers", "static/img/pixel.png"),
    }
    action = snap.plan.actions[0]
    assert action.changed == {"Cache-Control": ("max-age=60", "max-age=600")}
    before = s3_server.request_counts()
    report = deploy(changed, app, client)
    delta = counts_delta(s3_server, before)
    assert report.headers_updated == 2 and report.uploaded == report.updated == 0
    assert delta.get("COPY") == 2
    # PUTs: the lock, the manifest and the lock's release only; no object bytes re-sent.
    assert delta.get("PUT") == 3, delta
    _, headers, body = fetch(f"{s3_server.endpoint_url}/{bucket_name}/static/img/pixel.png")
    assert headers["cache-control"] == "max-age=600"
    assert body == FILES["static/img/pixel.png"]
    assert not snapshot(changed, app, client).plan.has_changes


def test_header_drift_found_by_head_when_manifest_is_missing(
    s3_server, s3_env, bucket_name, site, s3_client
):
    _, app = site
    spec = make_spec(s3_server, bucket_name)
    client = open_store(spec)
    deploy(spec, app, client)
    s3_client.delete_object(Bucket=bucket_name, Key=".flask-s3/manifest.json.gz")
    s3_client.copy_object(
        Bucket=bucket_name,
        Key="static/robots.txt",
        CopySource={"Bucket": bucket_name, "Key": "static/robots.txt"},
        MetadataDirective="REPLACE",
        ContentType="image/png",
    )
    snap = snapshot(spec, app, client)
    assert snap.plan.remote.manifest == "missing"
    assert [(a.action, a.key) for a in snap.plan.actions] == [
        ("update-headers", "static/robots.txt")
    ]
    deploy(spec, app, client)
    again = snapshot(spec, app, client)
    assert again.plan.remote.manifest == "ok" and not again.plan.has_changes


def test_corrupt_manifest_falls_back_to_head(s3_server, s3_env, bucket_name, site, s3_client):
    _, app = site
    spec = make_spec(s3_server, bucket_name)
    client = open_store(spec)
    deploy(spec, app, client)
    s3_client.put_object(Bucket=bucket_name, Key=".flask-s3/manifest.json.gz", Body=b"garbage")
    before = s3_server.request_counts()
    snap = snapshot(spec, app, client)
    assert snap.plan.remote.manifest == "corrupt"
    assert not snap.plan.has_changes
    assert counts_delta(s3_server, before).get("GET", 0) >= 7  # one HEAD per object


def test_prune_deletes_only_our_keys_and_respects_max_delete(
    s3_server, s3_env, bucket_name, site, s3_client
):
    root, app = site
    spec = make_spec(s3_server, bucket_name, prune=True, max_delete=1)
    spec = replace(spec, urls=replace(spec.urls, prefix="v1"))
    client = open_store(spec)
    deploy(spec, app, client)
    foreign = ["v2/static/css/app.css", "uploads/user.png", "v1/other/file.txt", "v1.txt"]
    for key in foreign:
        s3_client.put_object(Bucket=bucket_name, Key=key, Body=b"foreign")
    (root / "static/robots.txt").unlink()
    (root / "static/img/logo.svg").unlink()
    with pytest.raises(PlanError) as info:
        snapshot(spec, app, client)
    assert "2 objects" in info.value.summary
    assert "max_delete: 2" in info.value.detail
    spec = replace(spec, assets=replace(spec.assets, max_delete=2))
    snap = snapshot(spec, app, client)
    assert sorted(a.key for a in snap.plan.of_kind("delete")) == [
        "v1/static/img/logo.svg",
        "v1/static/robots.txt",
    ]
    report = deploy(spec, app, client)
    assert report.deleted == 2
    keys = {o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket_name)["Contents"]}
    assert set(foreign) <= keys
    assert "v1/static/robots.txt" not in keys
    assert "v1/static/css/app.css" in keys


def test_saved_plan_is_refused_when_bucket_changed(s3_server, s3_env, bucket_name, site, s3_client):
    _, app = site
    spec = make_spec(s3_server, bucket_name)
    client = open_store(spec)
    deploy(spec, app, client)
    saved = snapshot(spec, app, client).plan
    check_saved_plan(saved, snapshot(spec, app, client).plan)  # nothing changed: fine
    # Objects outside the app's static roots are not ours: they never make a plan stale.
    s3_client.put_object(Bucket=bucket_name, Key="uploads/avatar.png", Body=b"user data")
    s3_client.put_object(Bucket=bucket_name, Key="static-old/app.css", Body=b"other app")
    check_saved_plan(saved, snapshot(spec, app, client).plan)
    s3_client.put_object(Bucket=bucket_name, Key="static/css/app.css", Body=b"by hand")
    with pytest.raises(StalePlanError, match="plan is stale") as info:
        check_saved_plan(saved, snapshot(spec, app, client).plan)
    assert "needed now, not in the plan: update static/css/app.css" in info.value.detail


def test_saved_plan_is_refused_when_header_drift_changed(
    s3_server, s3_env, bucket_name, site, s3_client
):
    """Header drift seen by HEAD (no manifest): the listing is the same, the plan is not."""
    _, app = site
    spec = make_spec(s3_server, bucket_name)
    client = open_store(spec)
    deploy(spec, app, client)
    s3_client.delete_object(Bucket=bucket_name, Key=".flask-s3/manifest.json.gz")
    key = "static/css/app.css"

    def set_cache_control(value: str) -> None:
        s3_client.copy_object(
            Bucket=bucket_name,
            Key=key,
            CopySource={"Bucket": bucket_name, "Key": key},
            MetadataDirective="REPLACE",
            ContentType="text/css; charset=utf-8",
            CacheControl=value,
        )

    set_cache_control("max-age=1")
    saved = snapshot(spec, app, client).plan
    assert [(a.action, a.key) for a in saved.actions] == [("update-headers", key)]
    listing = saved.remote.fingerprint
    set_cache_control("max-age=2")  # same bytes, same ETag: only a HEAD sees it
    fresh = snapshot(spec, app, client).plan
    assert fresh.remote.fingerprint == listing
    with pytest.raises(StalePlanError) as info:
        check_saved_plan(saved, fresh)
    assert "Cache-Control: max-age=1 -> None" in info.value.detail
    assert "Cache-Control: max-age=2 -> None" in info.value.detail


def test_saved_plan_is_refused_when_local_files_changed(s3_server, s3_env, bucket_name, site):
    root, app = site
    spec = make_spec(s3_server, bucket_name)
    client = open_store(spec)
    saved = snapshot(spec, app, client).plan
    (root / "static/new.txt").write_bytes(b"new")
    with pytest.raises(StalePlanError, match="plan is stale") as info:
        check_saved_plan(saved, snapshot(spec, app, client).plan)
    assert "the local static files changed" in info.value.detail


def test_bucket_created_in_a_region(s3_server, s3_env, bucket_name, site, s3_client):
    _, app = site
    spec = make_spec(s3_server, bucket_name)
    spec = replace(spec, bucket=replace(spec.bucket, region="eu-west-1"))
    client = open_store(spec)
    snap = snapshot(spec, app, client)
    assert snap.plan.actions[0].action == "create-bucket"
    report = deploy(spec, app, client)
    assert report.bucket_created
    location = s3_client.get_bucket_location(Bucket=bucket_name).get("LocationConstraint")
    assert location in ("eu-west-1", None, "")  # SeaweedFS may not echo it back
    assert not snapshot(spec, app, client).plan.has_changes


def test_wrong_credentials_give_a_clear_error(s3_server, bucket_name, site, monkeypatch):
    _, app = site
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-value")
    spec = make_spec(s3_server, bucket_name)
    with pytest.raises(S3Error) as info:
        snapshot(spec, app, open_store(spec))
    text = str(info.value)
    assert "SignatureDoesNotMatch" in text or "AccessDenied" in text or "credentials" in text
    assert "wrong-secret-value" not in text


def test_force_refresh_reuploads_everything(s3_server, s3_env, bucket_name, site):
    _, app = site
    spec = make_spec(s3_server, bucket_name)
    client = open_store(spec)
    deploy(spec, app, client)
    report = deploy(spec, app, client, force_refresh=True)
    assert report.updated == 7


def test_plan_dict_round_trips(s3_server, s3_env, bucket_name, site):
    from flask_s3.plan import Plan

    _, app = site
    spec = make_spec(s3_server, bucket_name, prune=True)
    client = open_store(spec)
    plan = snapshot(spec, app, client).plan
    again = Plan.from_dict(plan.to_dict())
    assert again.to_dict() == plan.to_dict()
    assert plan.counts == {
        "create_bucket": 1,
        "update_bucket": 1,  # the public-read policy statement
        "upload": 7,
        "update": 0,
        "update_headers": 0,
        "delete": 0,
        "unchanged": 0,
    }


def test_missing_bucket_with_create_off_is_refused(s3_server, s3_env, bucket_name, site):
    _, app = site
    spec = make_spec(s3_server, bucket_name)
    spec = replace(spec, bucket=replace(spec.bucket, create=False))
    with pytest.raises(PlanError, match="does not exist") as info:
        snapshot(spec, app, open_store(spec))
    assert "bucket.create: true" in info.value.detail


def test_manifest_round_trips_and_shares_header_sets():
    import json

    from flask_s3.s3.manifest import ManifestEntry, decode_manifest, encode_manifest

    css = {"Content-Type": "text/css; charset=utf-8", "Cache-Control": "max-age=60"}
    entries = {
        f"static/{i}.css": ManifestEntry(hashlib.md5(str(i).encode()).hexdigest(), dict(css))
        for i in range(500)
    }
    entries["static/logo.png"] = ManifestEntry("0" * 32, {"Content-Type": "image/png"})
    blob = encode_manifest(entries, [["static/0.css"]])
    data = json.loads(gzip.decompress(blob))
    assert len(data["headers"]) == 2  # each distinct header set stored once
    decoded = decode_manifest(blob)
    assert (decoded.state, decoded.entries, decoded.generations) == (
        "ok",
        entries,
        [["static/0.css"]],
    )
    assert encode_manifest(entries, [["static/0.css"]]) == blob  # deterministic
    other = gzip.compress(json.dumps({"format": 99, "objects": {}}).encode())
    assert decode_manifest(other).state == "corrupt"
    assert decode_manifest(b"not gzip").state == "corrupt"


PNG = {"Content-Type": "image/png"}


@pytest.mark.parametrize(
    ("objects", "expected"),
    [
        ({"a": ["m1", 0], "b": ["m2", 0, "e-2"], "c": ["m3", 0]}, None),
        ({"a": [7, 0]}, {"a": ("7", PNG, None)}),  # an MD5 is taken as str() gives it
        ({"a": ["m1", -1]}, {"a": ("m1", PNG, None)}),  # an index as Python takes it
        ({"a": "ab"}, "corrupt"),
        ({"a": ["m1"]}, "corrupt"),
        ({"a": ["m1", 1]}, "corrupt"),  # no such header set
        ({"a": ["m1", "0"]}, "corrupt"),
        ({"a": ["m1", 0.0]}, "corrupt"),
        ({"a": {"0": "m1"}}, "corrupt"),
        ({"a": 7}, "corrupt"),
        ({"a": None}, "corrupt"),
        (["a"], "corrupt"),
        ("a", "corrupt"),
    ],
)
def test_manifest_values_of_another_shape_make_it_corrupt(objects: Any, expected: Any):
    """The entries are read field by field in C (s3/manifest.py ``_entries``): a hostile or
    damaged manifest is still "corrupt", never an exception, and a well-formed one reads as
    it was written, ETags of their own included."""
    import json

    from flask_s3.s3.manifest import ManifestEntry, decode_manifest

    body = json.dumps({"format": 2, "headers": [PNG], "objects": objects}).encode()
    decoded = decode_manifest(gzip.compress(body))
    if expected == "corrupt":
        assert decoded.state == "corrupt"
        return
    assert decoded.state == "ok"
    if expected is None:
        expected = {k: (v[0], PNG, v[2] if len(v) > 2 else None) for k, v in objects.items()}
    assert decoded.entries == {k: ManifestEntry(*v) for k, v in expected.items()}
    for key, entry in decoded.entries.items():
        assert type(entry) is ManifestEntry
        assert entry.vouches_for(entry.etag or entry.md5)
        assert (entry.etag is None) == (len(objects[key]) == 2)
