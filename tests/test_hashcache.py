"""The local MD5 cache: unchanged files are not read again; any change is seen."""

from __future__ import annotations

import hashlib
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

    return set(HashCache(folder).entries)


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
