"""The fast path: listings split by sub-folder see exactly what one flat listing sees."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from flask_s3.remote import list_objects, list_under, listing_prefixes
from flask_s3.wire import wire_for

OURS = [
    "static/robots.txt",
    "static/css/app.css",
    "static/css/deep/er/x.css",
    "static/only/one/chain/k.txt",
    "static/caf\u00e9/men\u00fc.svg",
    "static/a b+c#d?.txt",
    "static/",
]
FOREIGN = ["other/foreign.txt", "static-old/app.css", "staticx"]
MANY = [f"static/many/f{i:04d}.js" for i in range(1005)]  # more than one page of its own


@pytest.fixture
def filled(s3_client: Any, bucket_name: str) -> str:
    s3_client.create_bucket(Bucket=bucket_name)

    def put(key: str) -> None:
        s3_client.put_object(Bucket=bucket_name, Key=key, Body=key.encode())

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, OURS + FOREIGN + MANY))
    return bucket_name


def test_split_listing_equals_a_flat_listing(s3_client: Any, filled: str):
    assert wire_for(s3_client, filled) is not None
    flat = sorted(list_objects(s3_client, filled, "static/"))
    split = sorted(list_under(s3_client, filled, ["static/"]))
    assert split == flat
    keys = [key for key, _, _ in split]
    assert len(keys) == len(set(keys))
    assert set(keys) == set(OURS + MANY)


def test_a_single_chain_of_folders_is_followed(s3_client: Any, filled: str):
    got = list_under(s3_client, filled, ["static/only/"])
    assert [key for key, _, _ in got] == ["static/only/one/chain/k.txt"]
    assert list_under(s3_client, filled, ["static/nothing-here/"]) == []


def test_nested_roots_are_listed_once():
    assert listing_prefixes(["static", "static/admin", "admin/static"]) == [
        "admin/static/",
        "static/",
    ]
    assert listing_prefixes(["", "static"]) == [""]
    assert listing_prefixes(["v1/static", "v1/.flask-s3"]) == ["v1/.flask-s3/", "v1/static/"]


def test_the_fast_path_steps_aside_for_a_proxy(
    s3_client: Any, bucket_name: str, monkeypatch: pytest.MonkeyPatch
):
    assert wire_for(s3_client, bucket_name) is not None
    monkeypatch.setenv("https_proxy", "http://proxy.internal:3128")
    assert wire_for(s3_client, bucket_name) is None
