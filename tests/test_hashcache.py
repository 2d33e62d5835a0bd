"""The local MD5 cache: unchanged files are not read again; any change is seen."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_s3.assets import local
from flask_s3.assets.scan import scan_app
from flask_s3.spec import AssetsSpec, BucketSpec, GzipSpec, Spec


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = local.hash_stored

    def counting(path: str, gzipped: bool, *rest: Any) -> tuple[int, str]:
        calls.append(path)
        return real(path, gzipped, *rest)

    monkeypatch.setattr(local, "hash_stored", counting)
    return calls


def make_tree(root: Path, age_seconds: float = 3600) -> Flask:
    static = root / "static"
    static.mkdir(parents=True)
    old = time.time() - age_seconds
    for name in ("a.css", "b.js", "c.png"):
        (static / name).write_text(f"content of {name}")
        os.utime(static / name, (old, old))
    return Flask("cached", root_path=str(root))


SPEC = Spec(bucket=BucketSpec(name="bucket"), assets=AssetsSpec(gzip=GzipSpec(enabled=True)))


def test_unchanged_files_are_not_hashed_again(tmp_path, counted):
    app = make_tree(tmp_path)
    first = scan_app(app, SPEC)
    assert len(counted) == 3
    again = scan_app(app, SPEC)
    assert len(counted) == 3  # all from the cache
    assert {k: (a.md5, a.size) for k, a in again.assets.items()} == {
        k: (a.md5, a.size) for k, a in first.assets.items()
    }


def test_a_changed_file_is_hashed_again_even_with_the_same_size(tmp_path, counted):
    app = make_tree(tmp_path)
    before = scan_app(app, SPEC).assets["static/b.js"].md5
    path = tmp_path / "static" / "b.js"
    path.write_text("CONTENT OF b.js")  # same size, new content, mtime now
    after = scan_app(app, SPEC).assets["static/b.js"]
    assert after.md5 != before
    assert counted.count(str(path)) == 2


def test_recently_modified_files_are_never_trusted(tmp_path, counted):
    app = make_tree(tmp_path, age_seconds=0)  # modified "now": racy, re-hashed each time
    scan_app(app, SPEC)
    scan_app(app, SPEC)
    assert len(counted) == 6


def test_cache_can_be_turned_off(tmp_path, counted, monkeypatch):
    monkeypatch.setenv("FLASK_S3_NO_HASH_CACHE", "1")
    app = make_tree(tmp_path)
    scan_app(app, SPEC)
    scan_app(app, SPEC)
    assert len(counted) == 6
    assert not (tmp_path / "flask-s3-cache").exists()


def test_a_file_replaced_with_the_same_size_and_mtime_is_hashed_again(tmp_path, counted):
    app = make_tree(tmp_path)
    path = tmp_path / "static" / "b.js"
    before = scan_app(app, SPEC).assets["static/b.js"].md5
    stat = path.stat()
    other = tmp_path / "other.js"
    other.write_text("CONTENT OF b.js")  # same size
    os.utime(other, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime
    os.replace(other, path)  # only the inode tells the files apart
    after = scan_app(app, SPEC).assets["static/b.js"]
    assert path.stat().st_ino != stat.st_ino
    assert after.md5 != before
    assert counted.count(str(path)) == 2


def test_an_entry_for_the_gzip_bytes_does_not_stand_for_the_raw_bytes(tmp_path, counted):
    app = make_tree(tmp_path)
    gzipped = scan_app(app, SPEC).assets["static/b.js"]
    raw = scan_app(app, Spec(bucket=BucketSpec(name="bucket"))).assets["static/b.js"]
    assert gzipped.gzip and not raw.gzip
    assert raw.md5 == hashlib.md5(b"content of b.js").hexdigest() != gzipped.md5
    assert raw.size == len(b"content of b.js")
    static = tmp_path / "static"
    assert counted.count(str(static / "b.js")) == 2  # once per mode
    assert counted.count(str(static / "c.png")) == 1  # never gzipped: one mode, hashed once


def cached_paths(folder: Path) -> set[str]:
    from flask_s3.hashcache import HashCache

    return set(HashCache(folder).paths)


def test_the_cache_forgets_files_that_are_gone_or_excluded(tmp_path, counted):
    app = make_tree(tmp_path)
    static = tmp_path / "static"
    scan_app(app, SPEC)
    assert cached_paths(static) == {"a.css", "b.js", "c.png"}
    scan_app(app, SPEC)  # every entry used: the file is left as it is
    assert cached_paths(static) == {"a.css", "b.js", "c.png"}
    (static / "a.css").unlink()
    scan_app(app, SPEC)
    assert cached_paths(static) == {"b.js", "c.png"}
    excluding = Spec(
        bucket=BucketSpec(name="bucket"),
        assets=AssetsSpec(gzip=GzipSpec(enabled=True), exclude=("static/c.png",)),
    )
    scan_app(app, excluding)
    assert cached_paths(static) == {"b.js"}
    assert len(counted) == 3  # nothing hashed twice meanwhile


def cache_files(root: Path) -> list[str]:
    return sorted(p.name.rsplit(".", 1)[1] for p in root.glob("md5-*"))


@pytest.fixture
def cache_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("FLASK_S3_CACHE_DIR", str(root))
    return root


def test_a_cache_of_the_json_format_is_read_once_and_replaced(tmp_path, counted, cache_root):
    app = make_tree(tmp_path)
    static = tmp_path / "static"
    first = scan_app(app, SPEC)
    assert len(counted) == 3
    # What flask-s3 before the packed format wrote for the same files (format 2, JSON).
    (bin_file,) = cache_root.glob("md5-*.bin")
    json_file = bin_file.with_suffix(".json")
    files = {}
    for name in ("a.css", "b.js", "c.png"):
        stat = (static / name).stat()
        asset = first.assets[f"static/{name}"]
        mode = "gzip" if asset.gzip else "raw"
        files[name] = (
            f"{stat.st_size} {stat.st_mtime_ns} {stat.st_ino} {mode} {asset.size} {asset.md5}"
        )
    files["gone.css"] = "1 2 3 raw 4 " + "0" * 32
    json_file.write_text(json.dumps({"v": 2, "written_ns": time.time_ns(), "files": files}))
    bin_file.unlink()
    again = scan_app(app, SPEC)
    assert len(counted) == 3  # every file from the old cache
    assert {k: (a.md5, a.size) for k, a in again.assets.items()} == {
        k: (a.md5, a.size) for k, a in first.assets.items()
    }
    assert cache_files(cache_root) == ["bin"]  # replaced by the packed format
    assert cached_paths(static) == {"a.css", "b.js", "c.png"}
    scan_app(app, SPEC)
    assert len(counted) == 3


def damaged(data: bytes) -> list[bytes]:
    from flask_s3 import hashpack

    head = len(hashpack.MAGIC) + hashpack.HEADER.size
    _, count, width, names = hashpack.HEADER.unpack_from(data, len(hashpack.MAGIC))
    blob = data[head : head + names]
    records = data[head + names :]
    swapped = b"\0".join(reversed(blob.split(b"\0")))  # names out of order
    bad_flags = bytearray(records)
    for i in range(count):
        bad_flags[i * width + 24] |= 0x80
    return [
        data[:-1],  # truncated
        data + b"\0",  # trailing bytes
        b"{" + data[1:],  # neither format
        data[:head] + swapped + records,
        data[:head] + blob + bytes(bad_flags),
        data[: len(hashpack.MAGIC)]
        + hashpack.HEADER.pack(time.time_ns(), count, width + 1, names)
        + blob
        + records,
        data[: len(hashpack.MAGIC)]
        + hashpack.HEADER.pack(time.time_ns(), 2**32 - 1, width, names)
        + blob
        + records,  # a count the file cannot hold: refused before reading it
        data[:head] + b"\xff" * len(blob) + records,  # not UTF-8
    ]


def test_a_damaged_cache_is_an_empty_one(tmp_path, counted, cache_root):
    app = make_tree(tmp_path)
    first = {k: (a.md5, a.size) for k, a in scan_app(app, SPEC).assets.items()}
    (bin_file,) = cache_root.glob("md5-*.bin")
    good = bin_file.read_bytes()
    for number, data in enumerate(damaged(good), start=1):
        bin_file.write_bytes(data)
        again = {k: (a.md5, a.size) for k, a in scan_app(app, SPEC).assets.items()}
        assert again == first
        assert len(counted) == 3 * (number + 1), number  # all hashed again, none trusted
        assert bin_file.read_bytes() != data  # and a sound cache written in its place
    scan_app(app, SPEC)
    assert len(counted) == 3 * (len(damaged(good)) + 1)


def test_a_cache_entry_says_nothing_about_another_file(tmp_path, counted, cache_root):
    """A cache written for another tree at the same folder (or copied in) is a miss: its
    records are of other inodes."""
    app = make_tree(tmp_path / "one")
    scan_app(app, SPEC)
    (bin_file,) = cache_root.glob("md5-*.bin")
    foreign = bin_file.read_bytes()
    other = make_tree(tmp_path / "two")
    for name in ("a.css", "b.js", "c.png"):  # other bytes, same names and sizes
        (tmp_path / "two" / "static" / name).write_text(f"CONTENT OF {name}")
        os.utime(tmp_path / "two" / "static" / name, (time.time() - 3600,) * 2)
    scan_app(other, SPEC)
    for path in cache_root.glob("md5-*.bin"):
        path.write_bytes(foreign)
    assets = scan_app(other, SPEC).assets
    assert assets["static/c.png"].md5 == hashlib.md5(b"CONTENT OF c.png").hexdigest()
    assert len(counted) == 9  # the foreign records were not trusted


def test_integrity_values_come_from_the_cache_too(tmp_path, counted, counted_sri, cache_root):
    app = make_tree(tmp_path)
    scan_app(app, SPEC)  # integrity off: records without SRI values
    integrity = Spec(
        bucket=BucketSpec(name="bucket"),
        assets=AssetsSpec(gzip=GzipSpec(enabled=True), integrity=True),
    )
    first = scan_app(app, integrity)
    assert len(counted_sri) == 3  # the records had no SRI value
    again = scan_app(app, integrity)
    assert len(counted_sri) == 3
    assert {k: (a.md5, a.size, a.sri) for k, a in again.assets.items()} == {
        k: (a.md5, a.size, a.sri) for k, a in first.assets.items()
    }
    assert again.assets["static/c.png"].sri == "sha384-" + base64.b64encode(
        hashlib.sha384(b"content of c.png").digest()
    ).decode("ascii")
    scan_app(app, SPEC)  # back without integrity: the wide records serve it as well
    assert len(counted) == 3


def test_entries_added_and_replaced_are_merged_in_order(tmp_path, counted):
    app = make_tree(tmp_path)
    static = tmp_path / "static"
    scan_app(app, SPEC)
    old = time.time() - 3600
    for name, text in (("b0.css", "new"), ("a.css", "changed"), ("0.txt", "first")):
        (static / name).write_text(text)
        os.utime(static / name, (old + 1, old + 1))
    scan_app(app, SPEC)
    assert len(counted) == 6  # the new files and the changed one
    assert cached_paths(static) == {"0.txt", "a.css", "b.js", "b0.css", "c.png"}
    again = scan_app(app, SPEC)  # the merged file read back whole: nothing hashed
    assert len(counted) == 6
    assert again.assets["static/a.css"].size == len(local.gzip_bytes(b"changed"))
