"""Range listings (start-after at quantiles of the local keys) equal a plain listing on SeaweedFS.

SeaweedFS lists out of S3 byte order when a folder name prefixes a sibling key: these tests
put such keys in the bucket, keys outside the roots, and keys only the bucket has between and
on the range boundaries, and hold the result to a plain full listing of the same prefixes.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from clirun import flask_s3
from faultproxy import FaultProxy

from flask_s3.remote.inventory import list_everything, list_under
from flask_s3.remote.listing import KeyRange, checked, has_order_quirk, list_ranges, plan_ranges
from flask_s3.s3 import open_store
from flask_s3.s3.store import ObjectInfo, Store, put_bytes
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


def checked_key_by_key(
    ranges: list[KeyRange], answers: list[list[ObjectInfo]]
) -> list[ObjectInfo] | None:
    """``checked`` as written first, every key compared in turn: what the quick one must equal."""
    found: list[ObjectInfo] = []
    for index, (span, items) in enumerate(zip(ranges, answers, strict=True)):
        previous = span.start_after
        for item in items:
            if not item.key.startswith(span.prefix) or (previous and item.key <= previous):
                return None
            previous = item.key
        past = next((i for i in items if span.until is not None and i.key > span.until), None)
        found += items if past is None else [i for i in items if i.key <= (span.until or "")]
        following = ranges[index + 1] if index + 1 < len(ranges) else None
        if following is None or following.prefix != span.prefix:
            continue
        after = answers[index + 1]
        if (after[0].key if after else None) != (past.key if past else None):
            return None
    bounds = [r.start_after for r in ranges if r.start_after]
    if has_order_quirk([*bounds, *(o.key for o in found)]):
        return None
    return found


def test_checked_answers_as_a_key_by_key_check_does():
    """Range answers from a store, right and spoiled (out of order, outside the prefix, at or
    before the start, a gap or overlap between ranges, the order quirk): the checks made on
    whole ranges refuse and accept exactly what a check of every key does."""
    rng = random.Random(28)
    names = ["a", "b", "b-x", "b/c", "c", "caf\u00e9", "d", "e~", "f", "g0", "g/h"]
    outcomes = {True: 0, False: 0}
    for _ in range(3000):
        keys = sorted(
            {
                f"{rng.choice(['s/', 't/', 'sx/'])}{rng.choice(names)}{rng.randrange(9)}"
                for _ in range(rng.randrange(1, 30))
            }
        )
        prefixes = ["s/", "t/"]
        hints = [k for k in keys if rng.random() < 0.7]
        ranges = plan_ranges(prefixes, hints, per_range=rng.choice([2, 3, 5]))
        answers = []
        for span in ranges:
            under = [k for k in keys if k.startswith(span.prefix) and k > span.start_after]
            stop = len(under) if span.until is None else rng.randrange(len(under) + 1)
            answers.append([ObjectInfo(k, 1, "e") for k in under[:stop]])
        spoil = rng.randrange(6)
        pick = [a for a in answers if a]
        if spoil == 1 and pick:  # two keys swapped
            items = rng.choice(pick)
            i, j = rng.randrange(len(items)), rng.randrange(len(items))
            items[i], items[j] = items[j], items[i]
        elif spoil == 2 and pick:  # a key from elsewhere
            items = rng.choice(pick)
            items.insert(rng.randrange(len(items) + 1), ObjectInfo(rng.choice(keys), 1, "e"))
        elif spoil == 3 and pick:  # a range cut short, or a key dropped
            items = rng.choice(pick)
            del items[rng.randrange(len(items))]
        expected = checked_key_by_key(ranges, [list(a) for a in answers])
        assert checked(ranges, answers) == expected
        outcomes[expected is None] += 1
    assert min(outcomes.values()) > 300  # both answers were seen often


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


def test_the_static_folders_are_walked_once_and_split_the_listing(
    store: Store, s3_env: Any, bucket_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # The listing's ranges come from the scan's own walk: each folder is read once per plan,
    # and the ranges split at the scan's keys (prefix included), not at a second walk's.
    import os

    from flask import Flask

    from flask_s3.deployer import snapshot as snapshot_module
    from flask_s3.remote import inventory
    from flask_s3.spec import UrlSpec

    static = tmp_path / "static"
    for folder in ("css", "js", "img/icons"):
        (static / folder).mkdir(parents=True)
        for i in range(40):
            (static / folder / f"f{i:02d}.txt").write_text(f"{folder} {i}")
    app = Flask("walked", root_path=str(tmp_path))
    spec = Spec(
        bucket=BucketSpec(name=bucket_name, endpoint_url=s3_env.endpoint_url),
        urls=UrlSpec(prefix="v1"),
        digest="x",
    )
    reads: list[str] = []
    scandir = os.scandir

    def counted(path: Any = ".") -> Any:
        reads.append(os.path.realpath(path))
        return scandir(path)

    hinted: list[list[str]] = []
    list_everything = inventory.list_everything

    def seen(store: Store, prefixes: Any, hints: Any) -> Any:
        hinted.append(list(hints))
        return list_everything(store, prefixes, hints)

    monkeypatch.setattr(os, "scandir", counted)
    monkeypatch.setattr(inventory, "list_everything", seen)
    snap = snapshot_module.snapshot(spec, app, store)
    folders = [str(static), *(str(static / f) for f in ("css", "js", "img", "img/icons"))]
    assert sorted(reads) == sorted(os.path.realpath(f) for f in folders)
    assert sorted(hinted[0]) == sorted(snap.local.assets) and len(hinted[0]) == 120
    assert all(key.startswith("v1/static/") for key in hinted[0])


def test_a_scan_that_fails_before_its_walk_is_reported_not_waited_for(
    s3_env: Any, bucket_name: str, tmp_path: Path
):
    # Two spellings of one name stop the scan before it hands its walk over: the listing goes
    # ahead on hints of its own, and the scan's error is what the user is told, as before.
    from flask import Flask

    from flask_s3.deployer.snapshot import snapshot
    from flask_s3.errors import PlanError

    static = tmp_path / "static"
    static.mkdir()
    (static / "caf\u00e9.css").write_text("a")  # NFC
    (static / "cafe\u0301.css").write_text("b")  # NFD: the same key
    app = Flask("clash", root_path=str(tmp_path))
    spec = Spec(bucket=BucketSpec(name=bucket_name, endpoint_url=s3_env.endpoint_url))
    store = open_store(spec)
    store.create_bucket(s3_env.region, None)
    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(snapshot, spec, app, store)
        with pytest.raises(PlanError, match="Unicode normalisation"):
            running.result(timeout=60)
