"""The planner on constructed inventories: no server, no client, no clock.

A dict stands for the bucket. Applying a plan to it and planning again must find nothing to
do; nothing outside the static roots is ever deleted; ``max_delete`` holds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flask_s3.assets.local import LocalAsset, LocalInventory
from flask_s3.deployer.planner import make_plan, settle, unvouched_keys
from flask_s3.errors import PlanError
from flask_s3.plan import ActionKind, Plan, Reason
from flask_s3.remote.inventory import RemoteInventory
from flask_s3.s3.manifest import ManifestEntry
from flask_s3.s3.store import ObjectInfo
from flask_s3.spec import AssetsSpec, BucketSpec, Spec

ROOTS = ["static", "admin/assets"]
CSS = {"Content-Type": "text/css; charset=utf-8"}
LONG = {"Content-Type": "text/css; charset=utf-8", "Cache-Control": "max-age=31536000"}


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def spec_for(prune: bool = True, max_delete: int = 256, create: bool = True) -> Spec:
    return Spec(
        bucket=BucketSpec(name="shop-assets", create=create),
        assets=AssetsSpec(prune=prune, max_delete=max_delete),
    )


def local_of(files: dict[str, tuple[bytes, dict[str, str]]]) -> LocalInventory:
    assets = {
        key: LocalAsset(key, f"/nowhere/{key}", len(data), md5(data), dict(headers))
        for key, (data, headers) in files.items()
    }
    return LocalInventory(assets=assets, roots=list(ROOTS))


@dataclass
class Bucket:
    """What a bucket holds: key -> (md5, size, headers), and our manifest object."""

    objects: dict[str, tuple[str, int, dict[str, str]]] = field(default_factory=dict)
    manifest: dict[str, ManifestEntry] | None = None

    def inventory(self, local: LocalInventory) -> RemoteInventory:
        """What gathering would find: a listing under our roots, the manifest, the HEADs."""
        listed = {
            k: ObjectInfo(k, size, etag)
            for k, (etag, size, _) in self.objects.items()
            if any(k.startswith(root + "/") for root in ROOTS)
        }
        remote = RemoteInventory(
            objects=listed,
            manifest=self.manifest,
            manifest_state="ok" if self.manifest is not None else "missing",
        )
        for key in unvouched_keys(local, remote):
            remote.heads[key] = dict(self.objects[key][2])
        return remote

    def apply(self, plan: Plan, local: LocalInventory) -> None:
        for action in plan.actions:
            key = action.key or ""
            if action.action in (ActionKind.UPLOAD, ActionKind.UPDATE):
                asset = local.assets[key]
                self.objects[key] = (asset.md5, asset.size, dict(asset.headers))
            elif action.action is ActionKind.UPDATE_HEADERS:
                etag, size, _ = self.objects[key]
                self.objects[key] = (etag, size, dict(action.headers or {}))
            elif action.action is ActionKind.DELETE:
                del self.objects[key]
        self.manifest = {k: ManifestEntry(a.md5, dict(a.headers)) for k, a in local.assets.items()}


def test_a_new_file_is_uploaded_and_a_missing_bucket_created():
    local = local_of({"static/app.css": (b"a{}", CSS)})
    plan = make_plan(spec_for(), local, RemoteInventory(exists=False))
    assert [(a.action, a.reason, a.key) for a in plan.actions] == [
        (ActionKind.CREATE_BUCKET, Reason.MISSING, None),
        (ActionKind.UPLOAD, Reason.NEW, "static/app.css"),
    ]
    assert plan.bucket.exists is False and plan.remote.manifest == "none"


def test_a_missing_bucket_without_create_is_refused():
    with pytest.raises(PlanError, match="does not exist"):
        make_plan(spec_for(create=False), local_of({}), RemoteInventory(exists=False))


def test_changed_bytes_size_and_etag_reasons():
    local = local_of({"static/a.css": (b"new!", CSS), "static/b.css": (b"same", CSS)})
    bucket = Bucket({"static/a.css": (md5(b"old"), 3, CSS), "static/b.css": (md5(b"SAME"), 4, CSS)})
    plan = make_plan(spec_for(), local, bucket.inventory(local))
    assert [(a.key, a.action, a.reason) for a in plan.actions] == [
        ("static/a.css", ActionKind.UPDATE, Reason.SIZE),
        ("static/b.css", ActionKind.UPDATE, Reason.ETAG),
    ]


def test_header_drift_from_the_manifest_and_from_heads():
    local = local_of({"static/a.css": (b"a", LONG), "static/b.css": (b"b", LONG)})
    bucket = Bucket(
        {"static/a.css": (md5(b"a"), 1, CSS), "static/b.css": (md5(b"b"), 1, LONG)},
        manifest={"static/a.css": ManifestEntry(md5(b"a"), CSS)},  # b.css: not vouched for
    )
    remote = bucket.inventory(local)
    assert list(remote.heads) == ["static/b.css"]
    plan = make_plan(spec_for(), local, remote)
    assert [(a.key, a.action) for a in plan.actions] == [("static/a.css", "update-headers")]
    assert plan.actions[0].changed == {"Cache-Control": (None, "max-age=31536000")}
    assert plan.unchanged == 1


def test_an_adopted_object_stands_for_our_bytes_only_while_its_etag_holds():
    # Other gzip bytes of the same content (Flask-S3 0.3's), adopted: the manifest entry names
    # the object's ETag and the MD5 of the bytes we would store.
    GZ = {**CSS, "Content-Encoding": "gzip"}
    local = local_of({"static/a.css": (b"ours", GZ), "static/b.css": (b"ours", GZ)})
    theirs = md5(b"their longer gzip bytes")
    bucket = Bucket(
        {"static/a.css": (theirs, 23, GZ), "static/b.css": (theirs, 23, GZ)},
        manifest={
            "static/a.css": ManifestEntry(md5(b"ours"), GZ, theirs),
            "static/b.css": ManifestEntry(md5(b"ours"), GZ, md5(b"another object")),
        },
    )
    plan = make_plan(spec_for(), local, bucket.inventory(local))
    assert [(a.key, a.action, a.reason) for a in plan.actions] == [
        ("static/b.css", ActionKind.UPDATE, Reason.SIZE),  # its entry is for other bytes
    ]
    assert plan.unchanged == 1
    # adopted, but the headers drifted: a copy in place, not an upload
    bucket.manifest["static/a.css"] = ManifestEntry(md5(b"ours"), CSS, theirs)
    plan = make_plan(spec_for(), local, bucket.inventory(local))
    assert ("static/a.css", ActionKind.UPDATE_HEADERS) in [(a.key, a.action) for a in plan.actions]


def test_headers_not_gathered_are_a_bug_not_a_guess():
    local = local_of({"static/a.css": (b"a", CSS)})
    remote = RemoteInventory(objects={"static/a.css": ObjectInfo("static/a.css", 1, md5(b"a"))})
    with pytest.raises(PlanError, match="not gathered"):
        make_plan(spec_for(), local, remote)


def test_prune_stays_inside_the_roots_and_respects_max_delete():
    local = local_of({"static/keep.css": (b"k", CSS)})
    bucket = Bucket(
        {
            "static/keep.css": (md5(b"k"), 1, CSS),
            "static/old.css": (md5(b"o"), 1, CSS),
            "admin/assets/old.js": (md5(b"j"), 1, CSS),
            "static-old/x.css": (md5(b"x"), 1, CSS),
            "uploads/avatar.png": (md5(b"p"), 1, CSS),
            "static/theirs.css": (md5(b"t"), 1, CSS),  # under our root, not written by us
        },
        manifest={
            "static/keep.css": ManifestEntry(md5(b"k"), CSS),
            "static/old.css": ManifestEntry(md5(b"o"), CSS),
            "admin/assets/old.js": ManifestEntry(md5(b"j"), CSS),
            "uploads/avatar.png": ManifestEntry(md5(b"p"), CSS),  # recorded, but outside
        },
    )
    plan = make_plan(spec_for(), local, bucket.inventory(local))
    assert [a.key for a in plan.of_kind("delete")] == ["admin/assets/old.js", "static/old.css"]
    assert any("static/theirs.css" in w and "1 object" in w for w in plan.warnings)
    with pytest.raises(PlanError, match=r"more than assets\.max_delete"):
        make_plan(spec_for(max_delete=1), local, bucket.inventory(local))


def test_same_inputs_same_plan():
    local = local_of({"static/a.css": (b"a", CSS)})
    bucket = Bucket({"static/z.css": (md5(b"z"), 1, CSS)})
    first = make_plan(spec_for(), local, bucket.inventory(local), created_at="t")
    second = make_plan(spec_for(), local, bucket.inventory(local), created_at="t")
    assert first == second and first.to_dict() == second.to_dict()


NAMES = st.sampled_from(
    ["static/a.css", "static/b.js", "static/img/c.png", "admin/assets/d.css", "static/x y.txt"]
)
FOREIGN = st.sampled_from(["static-old/a.css", "uploads/u.png", "staticx", "admin/other.css"])
CONTENT = st.binary(min_size=0, max_size=3)
HEADERS = st.sampled_from([CSS, LONG, {"Content-Type": "image/png"}])


@st.composite
def worlds(draw: st.DrawFn) -> tuple[dict[str, tuple[bytes, dict[str, str]]], Bucket, int]:
    files = draw(st.dictionaries(NAMES, st.tuples(CONTENT, HEADERS), max_size=5))
    stored = draw(st.dictionaries(st.one_of(NAMES, FOREIGN), st.tuples(CONTENT, HEADERS)))
    objects = {k: (md5(data), len(data), dict(h)) for k, (data, h) in stored.items()}
    manifest = None
    if draw(st.booleans()):  # a manifest, maybe stale: wrong MD5s, wrong headers, gaps
        manifest = {}
        for key, (etag, _, headers) in objects.items():
            kind = draw(st.sampled_from(["right", "stale-md5", "stale-headers", "absent"]))
            if kind == "right":
                manifest[key] = ManifestEntry(etag, dict(headers))
            elif kind == "stale-md5":
                manifest[key] = ManifestEntry("0" * 32, dict(headers))
            elif kind == "stale-headers":
                manifest[key] = ManifestEntry(etag, {"Content-Type": "text/plain"})
    return files, Bucket(objects, manifest), draw(st.integers(min_value=0, max_value=6))


@settings(max_examples=200, deadline=None)
@given(world=worlds(), force=st.booleans())
def test_applying_a_plan_converges_and_touches_only_our_roots(
    world: tuple[dict[str, tuple[bytes, dict[str, str]]], Bucket, int], force: bool
):
    files, bucket, max_delete = world
    local = local_of(files)
    spec = spec_for(max_delete=max_delete)
    foreign_before = {
        k: v for k, v in bucket.objects.items() if not k.startswith(("static/", "admin/assets/"))
    }
    owned = bucket.manifest or {}
    prunable = [
        k
        for k in bucket.objects
        if k.startswith(("static/", "admin/assets/")) and k not in files and k in owned
    ]
    try:
        plan = make_plan(spec, local, bucket.inventory(local), force_refresh=force)
    except PlanError as exc:
        assert len(prunable) > max_delete, exc
        return
    assert len(plan.of_kind("delete")) <= max_delete
    bucket.apply(plan, local)
    foreign_after = {
        k: v for k, v in bucket.objects.items() if not k.startswith(("static/", "admin/assets/"))
    }
    assert foreign_after == foreign_before
    for key, (data, headers) in files.items():
        assert bucket.objects[key] == (md5(data), len(data), headers)
    again = make_plan(spec, local, bucket.inventory(local))
    assert again.actions == () and again.unchanged == len(files)


@settings(max_examples=200, deadline=None)
@given(world=worlds(), force=st.booleans())
def test_the_common_case_settled_once_plans_as_before(
    world: tuple[dict[str, tuple[bytes, dict[str, str]]], Bucket, int], force: bool
):
    """``settle`` (counted once in ``decide``, for the HEADs and the plan) changes no answer."""
    files, bucket, _ = world
    local = local_of(files)
    remote = bucket.inventory(local)
    settled = settle(local, remote, force)
    assert settled.unchanged + len(settled.rest) == len(files)
    assert unvouched_keys(local, remote, force_refresh=force, settled=settled) == unvouched_keys(
        local, remote, force_refresh=force
    )
    spec = spec_for(max_delete=100)
    plain = make_plan(spec, local, remote, force_refresh=force, created_at="t")
    once = make_plan(spec, local, remote, force_refresh=force, created_at="t", settled=settled)
    assert once == plain and once.to_dict() == plain.to_dict()
    if not force and remote.manifest is not None:
        # what settle counts, the plan counts as unchanged: nothing of it is acted on
        acted = {a.key for a in plain.actions}
        assert not acted & (set(files) - set(settled.rest))
