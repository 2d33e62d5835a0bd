"""The Store contract, run against both implementations on the real SeaweedFS server."""

from __future__ import annotations

import base64
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from flask_s3.remote.inventory import gather_remote, list_under, listing_prefixes
from flask_s3.s3 import StoreError, open_store
from flask_s3.s3.manifest import ManifestEntry, encode_manifest
from flask_s3.s3.store import Store, put_bytes
from flask_s3.spec import BucketSpec, Spec

OURS = [
    "static/robots.txt",
    "static/css/app.css",
    "static/css/deep/er/x.css",
    "static/only/one/chain/k.txt",
    "static/caf\u00e9/men\u00fc.svg",
    "static/a b+c#d?.txt",
    "static/tab\there&amp;.txt",
    "static/",
]
FOREIGN = ["other/foreign.txt", "static-old/app.css", "staticx"]
MANY = [f"static/many/f{i:04d}.js" for i in range(1005)]  # more than one page of its own


def spec_for(server: Any, bucket: str) -> Spec:
    return Spec(bucket=BucketSpec(name=bucket, endpoint_url=server.endpoint_url))


@pytest.fixture
def store(s3_env: Any, bucket_name: str, both_stores: str) -> Store:
    opened = open_store(spec_for(s3_env, bucket_name))
    assert opened.kind == both_stores
    return opened


@pytest.fixture
def filled(store: Store, s3_client: Any, bucket_name: str) -> Store:
    s3_client.create_bucket(Bucket=bucket_name)

    def put(key: str) -> None:
        s3_client.put_object(Bucket=bucket_name, Key=key, Body=key.encode())

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, OURS + FOREIGN + MANY))
    return store


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def test_bucket_exists_and_create(store: Store, s3_env: Any):
    assert store.bucket_exists() is False
    store.create_bucket(s3_env.region, None)
    assert store.bucket_exists() is True
    with pytest.raises(StoreError) as info:
        store.create_bucket(s3_env.region, None)
    assert info.value.code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists")


def test_put_head_get_copy_and_delete(store: Store, s3_env: Any, s3_client: Any):
    store.create_bucket(s3_env.region, None)
    data = b"body { color: red }"
    headers = {
        "Content-Type": "text/css; charset=utf-8",
        "Cache-Control": "max-age=60",
        "Content-Encoding": "identity",
        "x-amz-meta-owner": "web team",
    }
    store.put_object(
        "static/app.css", lambda: data, size=len(data), md5_b64=md5_b64(data), headers=headers
    )
    assert store.get_object("static/app.css") == data
    assert store.head_object("static/app.css") == headers
    listed = list(store.list_objects("static/"))
    assert [(o.key, o.size, o.etag) for o in listed] == [
        ("static/app.css", len(data), hashlib.md5(data).hexdigest())
    ]
    new = {**headers, "Cache-Control": "max-age=31536000, immutable"}
    del new["x-amz-meta-owner"]
    store.copy_in_place("static/app.css", new)
    assert store.head_object("static/app.css") == new
    assert store.get_object("static/app.css") == data
    served = s3_client.head_object(Bucket=store.bucket, Key="static/app.css")
    assert served["ETag"].strip('"') == hashlib.md5(data).hexdigest()  # same bytes, no upload
    store.delete_object("static/app.css")
    with pytest.raises(StoreError) as info:
        store.get_object("static/app.css")
    assert info.value.status == 404


def test_a_wrong_md5_is_refused(store: Store, s3_env: Any):
    store.create_bucket(s3_env.region, None)
    with pytest.raises(StoreError) as info:
        store.put_object(
            "static/x.txt", lambda: b"abc", size=3, md5_b64=md5_b64(b"abd"), headers={}
        )
    assert info.value.status == 400


def test_conditional_put_refuses_an_existing_key(store: Store, s3_env: Any):
    store.create_bucket(s3_env.region, None)
    put_bytes(store, "lock.json", b"{}", if_none_match=True)
    with pytest.raises(StoreError) as info:
        put_bytes(store, "lock.json", b"{}", if_none_match=True)
    assert info.value.code in ("PreconditionFailed", "ConditionalRequestConflict")


def test_delete_objects_in_a_batch(filled: Store):
    assert filled.delete_objects(MANY[:300]) == {}
    left = {o.key for o in filled.list_objects("static/many/")}
    assert left == set(MANY[300:])


def test_listing_sees_every_odd_key(filled: Store):
    keys = sorted(o.key for o in filled.list_objects("static/"))
    assert keys == sorted(OURS + MANY)
    objects, folders = filled.list_level("static/")
    assert {o.key for o in objects} == {k for k in OURS if k.count("/") == 1}
    assert "static/many/" in folders and "static/css/" in folders


def test_split_listing_equals_a_flat_listing(filled: Store):
    flat = sorted(filled.list_objects("static/"))
    split = sorted(list_under(filled, ["static/"]))
    assert split == flat
    keys = [o.key for o in split]
    assert len(keys) == len(set(keys))


def test_a_single_chain_of_folders_is_followed(filled: Store):
    got = list_under(filled, ["static/only/"])
    assert [o.key for o in got] == ["static/only/one/chain/k.txt"]
    assert list_under(filled, ["static/nothing-here/"]) == []


def test_nested_roots_are_listed_once():
    assert listing_prefixes(["static", "static/admin", "admin/static"]) == [
        "admin/static/",
        "static/",
    ]
    assert listing_prefixes(["", "static"]) == [""]
    assert listing_prefixes(["v1/static", "v1/.flask-s3"]) == ["v1/.flask-s3/", "v1/static/"]


def test_bucket_cors_and_policy(store: Store, s3_env: Any):
    store.create_bucket(s3_env.region, None)
    assert store.get_bucket_cors() is None
    rules = [
        {
            "AllowedOrigins": ["https://shop.example"],
            "AllowedMethods": ["GET", "HEAD"],
            "MaxAgeSeconds": 600,
        }
    ]
    store.put_bucket_cors(rules)
    got = store.get_bucket_cors()
    assert got is not None and got[0]["AllowedOrigins"] == ["https://shop.example"]
    assert sorted(got[0]["AllowedMethods"]) == ["GET", "HEAD"]
    assert store.get_bucket_policy() is None
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Read",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{store.bucket}/*",
            }
        ],
    }
    store.put_bucket_policy(json.dumps(policy))
    text = store.get_bucket_policy()
    assert text is not None and json.loads(text)["Statement"][0]["Sid"] == "Read"
    store.delete_bucket_policy()
    assert store.get_bucket_policy() is None


def test_a_missing_bucket_is_a_404_everywhere(store: Store):
    with pytest.raises(StoreError) as info:
        list(store.list_objects(""))
    assert info.value.status == 404 and info.value.code == "NoSuchBucket"


def test_read_object_streams_the_stored_bytes_in_blocks(store: Store, s3_env: Any):
    """A body larger than one block arrives in pieces, byte-exact, with the stored headers;
    a gzip-stored object arrives as stored (compressed), and a missing key is a 404."""
    import gzip

    store.create_bucket(s3_env.region, None)
    big = hashlib.sha256(b"seed").digest() * (700 * 1024 // 32)  # 700 KiB: several blocks
    headers = {"Content-Type": "application/octet-stream", "Cache-Control": "max-age=5"}
    store.put_object(
        "static/big.bin", lambda: big, size=len(big), md5_b64=md5_b64(big), headers=headers
    )
    packed = gzip.compress(b"body{}" * 100, mtime=0)
    gz_headers = {"Content-Type": "text/css; charset=utf-8", "Content-Encoding": "gzip"}
    store.put_object(
        "static/a.css",
        lambda: packed,
        size=len(packed),
        md5_b64=md5_b64(packed),
        headers=gz_headers,
    )
    blocks: list[bytes] = []
    got = store.read_object("static/big.bin", blocks.append)
    assert len(blocks) > 1
    assert b"".join(blocks) == big
    assert got == headers
    pieces: list[bytes] = []
    assert store.read_object("static/a.css", pieces.append) == gz_headers
    assert b"".join(pieces) == packed
    with pytest.raises(StoreError) as info:
        store.read_object("static/none.css", pieces.append)
    assert info.value.status == 404


def test_a_body_that_breaks_off_is_an_error_and_not_retried_once_delivered(
    s3_env: Any, both_stores: str
):
    """A server that promises 1 MiB and closes after 600 KiB: the sink got part of it, so the
    read fails (StoreUnreachable) after exactly one GET, never a short success or a retry that
    would feed the sink the start again."""
    import socket
    import threading

    from flask_s3.s3 import StoreUnreachable

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    gets: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    head += chunk
                gets.append(head.split(b"\r\n", 1)[0])
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                    b"Content-Length: 1048576\r\n\r\n" + b"x" * (600 * 1024)
                )

    threading.Thread(target=serve, daemon=True).start()
    try:
        spec = Spec(
            bucket=BucketSpec(
                name="bucket", endpoint_url=f"http://127.0.0.1:{listener.getsockname()[1]}"
            )
        )
        store = open_store(spec)
        received: list[bytes] = []
        with pytest.raises(StoreUnreachable):
            store.read_object("static/big.bin", received.append)
    finally:
        listener.close()
    assert 0 < sum(map(len, received)) <= 600 * 1024
    assert len(gets) == 1
    assert gets[0].startswith(b"GET /bucket/static/big.bin")


def test_a_listing_read_again_sees_each_change_and_reuses_the_unchanged_pages(
    filled: Store, s3_client: Any, bucket_name: str
):
    first = list(filled.list_objects("static/many/"))  # two pages: 1000 keys, then 5
    s3_client.put_object(Bucket=bucket_name, Key=MANY[1], Body=b"changed by another apply")
    again = list(filled.list_objects("static/many/"))
    changed = hashlib.md5(b"changed by another apply").hexdigest()
    assert {o.key: o.etag for o in again}[MANY[1]] == changed
    assert [o for o in again if o.key != MANY[1]] == [o for o in first if o.key != MANY[1]]
    if filled.kind == "fast":
        # The second page came back byte for byte: its parse is reused (the very same tuples);
        # the first page changed and was parsed again.
        assert again[-1] is first[-1]
        assert again[0] is not first[0]


def test_the_look_under_the_lock_decodes_only_a_manifest_that_changed(
    store: Store, s3_client: Any, bucket_name: str, s3_env: Any
):
    s3_client.create_bucket(Bucket=bucket_name)
    spec = spec_for(s3_env, bucket_name)
    key = ".flask-s3/manifest.json.gz"
    first_entries = {"static/a.css": ManifestEntry("0" * 32, {"Cache-Control": "no-cache"})}
    put_bytes(store, key, encode_manifest(first_entries, []), {})
    first = gather_remote(store, spec)
    assert first.manifest == first_entries
    again = gather_remote(store, spec, earlier=first)
    assert again.manifest is first.manifest  # the same bytes: not decoded again
    changed = {"static/a.css": ManifestEntry("1" * 32, {"Cache-Control": "max-age=60"})}
    put_bytes(store, key, encode_manifest(changed, [["static/a.css"]]), {})
    third = gather_remote(store, spec, earlier=first)
    assert third.manifest == changed and third.generations == [["static/a.css"]]
