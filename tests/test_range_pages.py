"""The early look's range listings ask pages of the size each range had, and open no spare
connections when they are the whole first wave.

Through ``faultproxy`` (it sees every request's query and every connection), against the real
SeaweedFS; the ranges' counts are held to a plain listing of the same bucket.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from clirun import flask_s3
from faultproxy import FaultProxy

from flask_s3.remote.early import (
    FULL_PAGE,
    MIN_PAGE,
    load_cache,
    page_for,
    range_counts,
    still_fits,
    valid_counts,
)
from flask_s3.remote.inventory import list_under
from flask_s3.remote.listing import checked, plan_ranges
from flask_s3.s3 import open_store
from flask_s3.spec import load_spec

APP = "from flask import Flask\napp = Flask(__name__, static_folder='static')\n"


def _project(tmp_path: Path, bucket: str, endpoint: str, files: int = 12) -> Path:
    static = tmp_path / "static"
    for i in range(files):
        folder = static / ("css", "js", "img")[i % 3]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i:04d}.txt").write_text(f"file {i}")
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "deploy.yaml").write_text(
        f'version: 1\napp: "app:app"\nbucket: {{name: {bucket}, endpoint_url: {endpoint}}}\n'
    )
    return tmp_path


def _range_file(tmp_path: Path) -> Path:
    files = list((tmp_path / "flask-s3-cache").glob("ranges-*.json"))
    assert len(files) == 1, files
    return files[0]


def _per_prefix(kept: dict[str, Any]) -> dict[str, int]:
    """The counts of a range file, added up per prefix."""
    total: dict[str, int] = {}
    for (prefix, _start), count in zip(kept["ranges"], kept["keys"], strict=True):
        total[prefix] = total.get(prefix, 0) + count
    return total


def _listings(proxy: FaultProxy) -> list[dict[str, list[str]]]:
    """The query of every listing request the proxy saw, in order."""
    queries = [parse_qs(urlsplit(path).query) for method, path, _ in proxy.seen if method == "GET"]
    return [q for q in queries if "list-type" in q]


def test_a_noop_asks_pages_of_its_ranges_sizes_on_connections_of_its_own(
    tmp_path: Path, s3_env: Any, s3_client: Any, bucket_name: str
) -> None:
    s3_client.create_bucket(Bucket=bucket_name)
    proxy = FaultProxy(s3_env.port or 0)
    try:
        project = _project(tmp_path, bucket_name, proxy.endpoint_url)
        first = flask_s3(project, "apply", "deploy.yaml")
        assert first.returncode == 0, first.stderr
        kept = json.loads(_range_file(tmp_path).read_text())
        # one count per range: what the bucket will hold there (its 12 files; the manifest is
        # written after this look)
        assert _per_prefix(kept) == {".flask-s3/": 0, "static/": 12}, kept
        written = _range_file(tmp_path).stat().st_mtime_ns
        proxy.seen.clear()
        proxy.accepted.clear()
        noop = flask_s3(project, "apply", "deploy.yaml")
        assert noop.returncode == 0, noop.stderr
        assert "No changes" in noop.stdout + noop.stderr
        assert _range_file(tmp_path).stat().st_mtime_ns == written  # a no-op writes nothing
        listings = _listings(proxy)
        assert len(listings) == len(kept["ranges"]), proxy.seen
        assert [int(q["max-keys"][0]) for q in listings] == [MIN_PAGE] * len(listings), listings
        # The proxy closes every connection after its answer: one connection a request, and
        # the endpoint check's. The warm-up's fifteen spare connections are gone.
        assert len(proxy.accepted) <= len(proxy.seen) + 1, (len(proxy.accepted), proxy.seen)
    finally:
        proxy.close()


def test_a_range_that_outgrew_its_page_lists_on_and_is_counted_again(
    tmp_path: Path, s3_env: Any, s3_client: Any, bucket_name: str
) -> None:
    s3_client.create_bucket(Bucket=bucket_name)
    proxy = FaultProxy(s3_env.port or 0)
    try:
        project = _project(tmp_path, bucket_name, proxy.endpoint_url)
        assert flask_s3(project, "apply", "deploy.yaml").returncode == 0
        # Behind the cache's back, the bucket gains more keys than the range's page holds, and
        # loses one the app has.
        s3_client.delete_object(Bucket=bucket_name, Key="static/js/f0001.txt")
        extra = [f"static/css/zz{i:03d}.txt" for i in range(MIN_PAGE + 30)]
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda k: s3_client.put_object(Bucket=bucket_name, Key=k), extra))
        args = ("plan", "deploy.yaml", "--format", "json")
        proxy.seen.clear()
        stale = flask_s3(project, *args)
        assert stale.returncode == 0, stale.stderr
        ranges = [r for r in json.loads(_range_file(tmp_path).read_text())["ranges"]]
        static = [q for q in _listings(proxy) if q["prefix"] == ["static/"]]
        # the range with the new keys: its page, then the rest; nothing missed
        assert len(static) == sum(r[0] == "static/" for r in ranges) + 1, static
        recounted = json.loads(_range_file(tmp_path).read_text())
        listed = s3_client.list_objects_v2(Bucket=bucket_name, Prefix=".flask-s3/")
        control = len(listed.get("Contents", []))  # the manifest (and what the lock leaves)
        assert _per_prefix(recounted) == {".flask-s3/": control, "static/": 12 + len(extra)}
        proxy.seen.clear()
        again = flask_s3(project, *args)
        assert again.returncode == 0, again.stderr
        assert len(_listings(proxy)) == len(ranges), proxy.seen  # a page a range again
        # the same plan as with no cache at all
        shutil.rmtree(tmp_path / "flask-s3-cache")
        plain = flask_s3(project, *args)
        assert plain.returncode == 0, plain.stderr
        actions = json.loads(plain.stdout)["actions"]
        assert [(a["action"], a["key"]) for a in actions] == [("upload", "static/js/f0001.txt")]
        for result in (stale, again):
            assert json.loads(result.stdout)["actions"] == actions
    finally:
        proxy.close()


def test_hostile_counts_cost_pages_never_keys(
    tmp_path: Path, s3_env: Any, s3_client: Any, bucket_name: str
) -> None:
    s3_client.create_bucket(Bucket=bucket_name)
    project = _project(tmp_path, bucket_name, s3_env.endpoint_url)
    assert flask_s3(project, "apply", "deploy.yaml").returncode == 0
    s3_client.delete_object(Bucket=bucket_name, Key="static/js/f0001.txt")
    path = _range_file(tmp_path)
    kept = json.loads(path.read_text())
    spec = load_spec(str(project / "deploy.yaml"))
    for keys in ([0, 0, 0], [True, 1, 1], [-1, 5, 5], [10**12, 3, 3], [1], "12", [1.5, 2, 2], None):
        path.write_text(json.dumps({**kept, "keys": keys}))
        ranges, counts = load_cache(path, spec)
        assert len(ranges) == len(kept["ranges"])
        assert counts == (keys if keys == [0, 0, 0] else None), keys  # the rest: full pages
        result = flask_s3(project, "plan", "deploy.yaml", "--format", "json")
        assert result.returncode == 0, (keys, result.stderr)
        changed = [(a["action"], a["key"]) for a in json.loads(result.stdout)["actions"]]
        assert changed == [("upload", "static/js/f0001.txt")], (keys, changed)
        assert "Traceback" not in result.stderr


def test_counted_pages_list_what_a_plain_listing_lists(
    s3_env: Any, s3_client: Any, bucket_name: str, tmp_path: Path, both_stores: str
) -> None:
    # 1,000 local keys in two ranges; the bucket lacks a tenth of them and holds 200 keys only
    # it has, all in the first range: more than the room of a page sized from the local keys.
    local = [f"static/{d}/g{g}/a{i:03d}.css" for d in "abcd" for g in range(5) for i in range(50)]
    remote = [k for k in local if not k.endswith("7.css")]
    remote += [f"static/b/g2/a{i:03d}x.css" for i in range(200)]
    s3_client.create_bucket(Bucket=bucket_name)
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda k: s3_client.put_object(Bucket=bucket_name, Key=k), remote))
    (tmp_path / "deploy.yaml").write_text(
        f"version: 1\napp: app:app\nbucket: {{name: {bucket_name}, "
        f"endpoint_url: {s3_env.endpoint_url}}}\n"
    )
    store = open_store(load_spec(str(tmp_path / "deploy.yaml")))
    assert store.kind == both_stores  # each store asks for the page sizes its own way
    plain = list_under(store, ["static/"])
    assert len(plain) == len(remote)
    ranges = plan_ranges(["static/"], local)
    assert len(ranges) == 2 and ranges[0].until is not None
    counts = range_counts(ranges, local, plain)
    # the bucket's 451 + 200 beat the app's 501 (the range ends at its boundary key); then 499
    assert counts == [651, 499], counts
    answers = [store.list_after(*span, page_for(n)) for span, n in zip(ranges, counts, strict=True)]
    # each page overlaps the next range by its room at most (a full page: by 550 keys)
    room = sum(page_for(n) - n for n in counts)
    assert sum(map(len, answers)) <= len(plain) + room, [len(a) for a in answers]
    assert checked(ranges, answers) == plain
    # pages sized from the local keys alone: the first range lists on past its page, whole
    short = range_counts(ranges, local, [])
    assert short == [501, 499]
    answers = [store.list_after(*span, page_for(n)) for span, n in zip(ranges, short, strict=True)]
    assert len(answers[0]) > page_for(501)
    assert checked(ranges, answers) == plain


def test_page_sizes_and_when_counts_are_written_again() -> None:
    assert page_for(None) == FULL_PAGE
    assert page_for(0) == MIN_PAGE
    assert page_for(667) == 667 + 49 + 1  # the keys, some room, the first one past
    assert page_for(5000) == FULL_PAGE
    assert still_fits(667, 667) and still_fits(667, 691) and still_fits(667, 618)
    assert not still_fits(667, 692)  # grown past half its room: counted again
    assert not still_fits(667, 617)  # shrunk: its page would list the next range's keys
    assert valid_counts([1, 2], 2) == [1, 2]
    assert valid_counts([1, 2], 3) is None
    assert valid_counts([1, False], 2) is None


def test_connections_opened_ahead_are_handed_out_after_the_used_ones(
    s3_env: Any, bucket_name: str, tmp_path: Path, monkeypatch: Any
) -> None:
    # The look under the lock must find the first look's connections, not the ones `top_up`
    # just opened for the uploads (a proxy may still hold those behind their handshake).
    monkeypatch.setenv("FLASK_S3_STORE", "fast")
    (tmp_path / "deploy.yaml").write_text(
        f"version: 1\napp: app:app\nbucket: {{name: {bucket_name}, "
        f"endpoint_url: {s3_env.endpoint_url}}}\n"
    )
    store = open_store(load_spec(str(tmp_path / "deploy.yaml")))
    pool = store.connections  # type: ignore[attr-defined]
    host = store.target.host  # type: ignore[attr-defined]
    used, ahead = pool.open_new(host), pool.open_new(host)
    pool.give_back(host, used)
    pool.give_back(host, ahead, unused=True)  # given back after, taken after all the same
    assert pool.take(host) == (used, True)
    assert pool.take(host) == (ahead, True)
    for conn in (used, ahead):
        conn.close()
