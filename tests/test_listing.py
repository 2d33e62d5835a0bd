"""Range listings (start-after at quantiles of the local keys) equal a plain listing on SeaweedFS.

SeaweedFS lists out of S3 byte order when a folder name prefixes a sibling key: these tests
put such keys in the bucket, keys outside the roots, and keys only the bucket has between and
on the range boundaries, and hold the result to a plain full listing of the same prefixes.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from clirun import flask_s3
from faultproxy import FaultProxy

from flask_s3.remote.inventory import list_everything, list_under
from flask_s3.remote.listing import has_order_quirk, list_ranges, plan_ranges
from flask_s3.s3 import open_store
from flask_s3.s3.store import Store, put_bytes
from flask_s3.spec import BucketSpec, Spec

LOCAL = [f"static/{d}/f{i:03d}.css" for d in ("css", "img", "js", "z") for i in range(0, 30, 2)]
ONLY_REMOTE = [  # odd numbers fall between the local keys; the rest beyond them
    *(f"static/{d}/f{i:03d}.css" for d in ("css", "img", "js") for i in range(1, 30, 4)),
    "static/0first.txt",
    "static/img/zz/deep/er.png",
    "static/~last",
    "static/caf\u00e9/men\u00fc.svg",  # code point order is UTF-8 byte order
    "static/js/a b+c#d?.txt",
    "static/js/tab\there&amp;.txt",
]
FOREIGN = ["other/x.css", "statics/y.css", "static-old/z.css", "stati", "zzz/static/a.css"]
QUIRK = ["static/img/hero/y.png", "static/img/hero-x.png", "static/img/hero.css"]


@pytest.fixture
def store(s3_env: Any, bucket_name: str, both_stores: str) -> Store:
    opened = open_store(Spec(bucket=BucketSpec(name=bucket_name, endpoint_url=s3_env.endpoint_url)))
    assert opened.kind == both_stores
    opened.create_bucket(s3_env.region, None)
    return opened


def fill(store: Store, keys: list[str]) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda k: put_bytes(store, k, k.encode()), keys))


def plain(store: Store, prefixes: list[str]) -> set[tuple[str, int, str]]:
    return {tuple(o) for p in prefixes for o in store.list_objects(p)}  # type: ignore[misc]


def test_ranges_equal_a_plain_listing(store: Store):
    fill(store, LOCAL + ONLY_REMOTE + FOREIGN)
    prefixes = ["static/", "static/.flask-s3/"]
    ranges = plan_ranges(prefixes, LOCAL, per_range=7)
    assert len(ranges) > 6  # several boundaries, each a local key
    found = list_ranges(store, prefixes, LOCAL, per_range=7, page_size=3)
    assert found is not None  # byte order held: the ranges were trusted
    assert len(found) == len({o.key for o in found})  # nothing twice
    assert {tuple(o) for o in found} == plain(store, ["static/"])
    assert not {o.key for o in found} & set(FOREIGN)


def test_the_order_quirk_falls_back_and_still_lists_everything(store: Store):
    fill(store, LOCAL + ONLY_REMOTE + FOREIGN + QUIRK)
    prefixes = ["static/"]
    everything = plain(store, prefixes)
    assert set(QUIRK) <= {k for k, _, _ in everything}
    # Boundaries right at the quirk keys (hints without them: only the bucket has them).
    hints = sorted([*LOCAL, "static/img/hero+", "static/img/hero0"])
    for per_range in (1, 2, 3, 5, 7):
        found = list_ranges(store, prefixes, hints, per_range=per_range, page_size=2)
        assert found is None or {tuple(o) for o in found} == everything
        listed = list_everything(store, prefixes, hints)
        assert {tuple(o) for o in listed} == everything
        assert {tuple(o) for o in listed} == {tuple(o) for o in list_under(store, prefixes)}
    # hints that carry the quirk themselves
    assert list_ranges(store, prefixes, [*LOCAL, *QUIRK], per_range=3) is None


def test_the_quirk_is_recognised():
    assert has_order_quirk(["a/hero/y.png", "a/hero-x.png"])
    assert has_order_quirk(["a/app/x.js", "a/app.js"])
    assert not has_order_quirk(["a/hero/y.png", "a/heroes.png", "a/hero_x.png"])
    assert not has_order_quirk(["a/b.css", "a/c/d.css"])
    assert has_order_quirk(["a/b", "a/b/c"])  # a key named like a folder
    assert has_order_quirk(["x/a/hero-x.png", "x/b.css", "x/a/hero/y/z.png"])  # deeper
    assert not has_order_quirk(["x/a/hero0.png", "x/a/hero/y.png"])


def test_ranges_split_at_quantiles_and_cover_each_prefix():
    keys = [f"s/{i:04d}" for i in range(100)]
    ranges = plan_ranges(["s/", "t/"], keys, per_range=25)
    s_ranges = [r for r in ranges if r.prefix == "s/"]
    assert [r.start_after for r in s_ranges] == ["", "s/0025", "s/0050", "s/0075"]
    assert [r.until for r in s_ranges] == ["s/0025", "s/0050", "s/0075", None]
    assert [r for r in ranges if r.prefix == "t/"] == [("t/", "", None)]


SLOW_APP = """
import time
from pathlib import Path
from flask import Flask

Path("import-times").write_text(f"{time.time()} ")
time.sleep(1.5)  # an app whose import takes a while (a big Flask app, its extensions)
with open("import-times", "a") as f:
    f.write(f"{time.time()}")

def create_app():
    return Flask(__name__, static_folder="static")
"""


def test_connections_open_while_the_app_imports(
    tmp_path: Path, s3_env: Any, s3_client: Any, bucket_name: str
):
    s3_client.create_bucket(Bucket=bucket_name)
    proxy = FaultProxy(s3_env.port)  # notes when each connection was accepted
    try:
        (tmp_path / "slowapp.py").write_text(SLOW_APP)
        (tmp_path / "static").mkdir()
        (tmp_path / "static" / "app.css").write_text("body{}")
        (tmp_path / "deploy.yaml").write_text(
            f'version: 1\napp: "slowapp:create_app()"\n'
            f"bucket: {{name: {bucket_name}, endpoint_url: {proxy.endpoint_url}}}\n"
        )
        for _ in range(2):  # the second run: botocore's decisions remembered, as usual
            proxy.accepted.clear()
            result = flask_s3(tmp_path, "plan", "deploy.yaml", timeout=60)
            assert result.returncode == 0, result.stderr
        assert "1 to upload" in result.stdout
    finally:
        proxy.close()
    began, ended = map(float, (tmp_path / "import-times").read_text().split())
    # the check and the first wave connect before the app's import is over (before it even
    # starts, now that Flask itself is first imported by the app): they never wait for it
    early = [t for t in proxy.accepted if t <= ended]
    assert len(early) >= 2, (began, ended, proxy.accepted)


def test_the_listing_manifest_and_scan_share_one_string_per_key_and_md5(
    store: Store, s3_env: Any, bucket_name: str, tmp_path: Path
):
    # What keeps a 200,000-file plan small: each key and MD5 is held once, not three times.
    from flask import Flask

    from flask_s3.deployer.apply import apply_plan
    from flask_s3.deployer.snapshot import snapshot

    static = tmp_path / "static"
    (static / "css").mkdir(parents=True)
    for i in range(6):
        (static / "css" / f"f{i}.css").write_text(f"body{{order:{i}}}")
    app = Flask("shared", root_path=str(tmp_path))
    spec = Spec(bucket=BucketSpec(name=bucket_name, endpoint_url=s3_env.endpoint_url), digest="x")
    first = snapshot(spec, app, store)
    apply_plan(first.plan, spec, first.local, store, remote=first.remote)
    again = snapshot(spec, app, store)
    assert not again.plan.has_changes and again.plan.unchanged == 6
    manifest = again.remote.manifest
    assert manifest is not None
    manifest_keys = {k: k for k in manifest}
    for key, asset in again.local.assets.items():
        listed = again.remote.objects[key]
        assert listed.key is asset.key is manifest_keys[key]
        assert listed.etag is asset.md5 is manifest[key].md5
