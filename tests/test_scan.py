"""The scan's two ways of building assets give the same inventory.

A tree without fingerprinting, integrity or header rules is built by ``scan._build_plain``
(headers looked up by extension, MD5s from the hash cache); anything else by ``build_asset``.
A header rule that matches no file changes nothing, so the same tree scanned with one must give
the same assets, field for field and in the same order, cold and warm.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from flask import Flask

from flask_s3.assets.local import LocalInventory
from flask_s3.assets.scan import scan_app
from flask_s3.spec import spec_from_dict

NAMES = [
    "a.css",
    "b.js",
    "c.png",
    "d.svg",
    "README",  # no extension
    "archive.tar.gz",
    "dots..css",  # dots only before the extension's dot
    "sub/e.css",
    "sub/.hidden.css",  # hidden: skipped unless include_hidden
    ".well-known/x.json",
    "sub/deeper/f.JS",
    "sub/deeper/g.woff2",
    "sub/h.webmanifest",
    "unicode-é.css",
]


def make_app(root: Path, names: list[str]) -> Flask:
    static = root / "static"
    old = time.time() - 3600  # older than the cache's racy window: the warm scan trusts it
    for number, name in enumerate(names):
        path = static / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"body {number} of {name}\n" * (number + 1))
        os.utime(path, (old, old))
    return Flask("scanned", root_path=str(root))


def fields(inventory: LocalInventory) -> list[tuple[object, ...]]:
    return [
        (key, a.key, a.path, a.size, a.md5, a.headers, a.gzip, a.logical, a.content, a.sri)
        for key, a in inventory.assets.items()
    ]


@pytest.mark.parametrize("names", [NAMES, ["a.css", "sub/b.css"]], ids=["mixed", "extensions"])
@pytest.mark.parametrize("hidden", [False, True])
@pytest.mark.parametrize("gzip", [False, True])
@pytest.mark.parametrize("meta", [False, True])
def test_plain_scan_builds_what_the_general_scan_builds(
    tmp_path, monkeypatch, names, hidden, gzip, meta
):
    app = make_app(tmp_path / "app", names)
    assets: dict[str, object] = {"include_hidden": hidden, "gzip": {"enabled": gzip}}
    if meta:  # a header that becomes metadata: warned about once, by both ways
        assets["headers"] = {"X-Team": "web", "Cache-Control": "max-age=60"}
    plain = spec_from_dict({"version": 1, "bucket": {"name": "bucket"}, "assets": assets})
    ruled = spec_from_dict(
        {
            "version": 1,
            "bucket": {"name": "bucket"},
            "assets": {
                **assets,
                "rules": [{"match": "static/nothing/**", "headers": {"X-A": "1"}}],
            },
        }
    )
    for run in ("cold", "warm"):
        monkeypatch.setenv("FLASK_S3_CACHE_DIR", str(tmp_path / f"cache-{run}-plain"))
        first = scan_app(app, plain)
        monkeypatch.setenv("FLASK_S3_CACHE_DIR", str(tmp_path / f"cache-{run}-ruled"))
        second = scan_app(app, ruled)
        assert fields(first) == fields(second)
        assert first.warnings == second.warnings
        assert any("X-Team" in w for w in first.warnings) == meta
        hidden_files = sum("/." in f"/{name}" for name in names)
        assert len(first.assets) == len(names) - (0 if hidden else hidden_files)
    # one dict per distinct header set, shared by the assets that have it
    sets = {id(a.headers) for a in first.assets.values()}
    assert len(sets) == len({tuple(a.headers.items()) for a in first.assets.values()})


def test_keys_of_names_with_backslashes_and_nfd_spellings(tmp_path):
    """The walk's ASCII shortcut leaves the other names to key_filename: a backslash is a
    folder separator in a key, and an NFD name (as macOS writes it) gets its NFC key."""
    names = ["plain.css", "sub/back\\slash.css", "cafe\u0301.css", "sub/nai\u0308ve.js"]
    app = make_app(tmp_path / "app", names)
    spec = spec_from_dict({"version": 1, "bucket": {"name": "bucket"}})
    keys = set(scan_app(app, spec).assets)
    assert keys == {
        "static/plain.css",
        "static/sub/back/slash.css",
        "static/caf\u00e9.css",
        "static/sub/na\u00efve.js",
    }


@pytest.mark.parametrize("integrity", [False, True])
def test_a_changed_file_uploads_the_gzip_output_its_scan_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, integrity: bool
) -> None:
    """The scan's gzip output of a file the hash cache did not know is the upload's body: the
    same bytes as a fresh compression, with the MD5 the plan holds, without a second read of
    the file. Past the bound, the body is compressed from the file again."""
    import gzip
    import hashlib

    from flask_s3.assets import local

    monkeypatch.setenv("FLASK_S3_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(local, "_KEPT_GZIP", {})
    monkeypatch.setattr(local, "_kept_total", [0])
    app = make_app(tmp_path, ["a.css", "b.js", "big.css"])
    (tmp_path / "static" / "big.css").write_bytes(os.urandom(300 * 1024))  # past the bound
    spec = spec_from_dict(
        {
            "version": 1,
            "bucket": {"name": "scan-test"},
            "assets": {"gzip": {"enabled": True}, "integrity": integrity},
        }
    )
    inventory = scan_app(app, spec)
    originals = {}
    for name in ("a.css", "b.js", "big.css"):
        path = tmp_path / "static" / name
        originals[name] = path.read_bytes()
        path.unlink()  # what is uploaded now can only come from what the scan kept
    for name in ("a.css", "b.js"):
        asset = inventory.assets[f"static/{name}"]
        assert asset.gzip
        with asset.open_body() as body:
            data = body.read()
        assert gzip.decompress(data) == originals[name]
        assert hashlib.md5(data).hexdigest() == asset.md5 and len(data) == asset.size
    with pytest.raises(FileNotFoundError):
        inventory.assets["static/big.css"].open_body()  # not kept: read from disk again
