"""Content-Type comes from our table and Python's built-in one, never from the machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flask_s3.assets.contenttypes import content_type, media_type, type_matches
from flask_s3.assets.keys import StaticSource
from flask_s3.assets.scan import scan_sources
from flask_s3.spec import spec_from_dict

# What a website serves, pinned: these must not move with the OS or the Python version.
PINNED = {
    ".ts": "application/typescript; charset=utf-8",
    ".mts": "application/typescript; charset=utf-8",
    ".cts": "application/typescript; charset=utf-8",
    ".flac": "audio/flac",
    ".m4a": "audio/mp4",
    ".glb": "model/gltf-binary",
    ".gltf": "model/gltf+json; charset=utf-8",
    ".epub": "application/epub+zip",
    ".webmanifest": "application/manifest+json; charset=utf-8",
    ".avif": "image/avif",
    ".woff2": "font/woff2",
    ".wasm": "application/wasm",
    ".mjs": "text/javascript; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".map": "application/json; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml; charset=utf-8",
    ".ico": "image/x-icon",
    ".opus": "audio/ogg",
    ".m3u8": "application/vnd.apple.mpegurl",
    # Python 3.10 to 3.13 disagree on these among themselves:
    ".bmp": "image/bmp",
    ".webp": "image/webp",
    ".vtt": "text/vtt; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".markdown": "text/markdown; charset=utf-8",
    ".rtf": "application/rtf",
    ".rst": "text/x-rst; charset=utf-8",
    ".srt": "text/plain; charset=utf-8",
    ".n3": "text/n3; charset=utf-8",
    ".nq": "application/n-quads; charset=utf-8",
    ".nt": "application/n-triples; charset=utf-8",
    ".trig": "application/trig; charset=utf-8",
}
# Not in our table: Python's built-in answer, which no OS file may override.
LONG_TAIL = (".tex", ".pbm", ".dvi")
UNKNOWN = ".flasks3unknown"


@pytest.mark.parametrize(("ext", "expected"), sorted(PINNED.items()))
def test_pinned_extensions(ext: str, expected: str) -> None:
    assert content_type(f"static/a/file{ext}") == expected
    assert content_type(f"FILE{ext.upper()}") == expected


def test_the_last_extension_decides() -> None:
    assert content_type("app.css.gz") == "application/gzip"
    assert content_type("archive.tar.gz") == "application/gzip"
    assert content_type("archive.tar.bz2") == "application/x-bzip2"
    assert content_type("static/README") == "application/octet-stream"
    assert content_type(".htaccess") == "application/octet-stream"
    assert content_type("x" + UNKNOWN) == "application/octet-stream"
    assert content_type("paper.tex") == "application/x-tex"


def test_media_type() -> None:
    assert media_type("Text/CSS; charset=utf-8") == "text/css"
    assert media_type("image/png") == "image/png"


SCRIPT = """
import json, mimetypes, sys
mimetypes.knownfiles = [sys.argv[1]]
exts = json.loads(sys.argv[2])
seen_by_os = {e: mimetypes.guess_type("x" + e, strict=False)[0] for e in exts}
from flask_s3.assets.contenttypes import content_type
ours = {e: content_type("x" + e) for e in exts}
print(json.dumps({"os": seen_by_os, "ours": ours}))
"""


def test_an_os_table_that_says_otherwise_changes_nothing(tmp_path: Path) -> None:
    exts = [*PINNED, *LONG_TAIL, UNKNOWN]
    hostile = tmp_path / "mime.types"
    hostile.write_text(
        "# what a misconfigured machine might say\n"
        "application/x-hostile " + " ".join(e.lstrip(".") for e in exts) + "\n",
        encoding="utf-8",
    )
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(hostile), json.dumps(exts)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(out.stdout)
    # The hostile table really is what mimetypes reads in that process...
    assert set(result["os"].values()) == {"application/x-hostile"}
    # ...and our answers are the ones this process gives with the machine's own table.
    assert result["ours"] == {e: content_type("x" + e) for e in exts}
    assert not any("hostile" in v for v in result["ours"].values())
    assert result["ours"][".tex"] == "application/x-tex"
    assert result["ours"][UNKNOWN] == "application/octet-stream"


def test_scanned_assets_carry_the_table_type_and_a_rule_can_override_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_S3_NO_HASH_CACHE", "1")
    for rel in ("src/app.ts", "hls/seg0.ts", "models/chair.glb", "fonts/a.woff2"):
        path = tmp_path / "static" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    spec = spec_from_dict(
        {
            "version": 1,
            "bucket": {"name": "shop"},
            "assets": {
                "rules": [{"match": "static/hls/*.ts", "headers": {"content-type": "video/mp2t"}}]
            },
        }
    )
    sources = [StaticSource("static", tmp_path / "static", "static")]
    types = {k: a.headers["Content-Type"] for k, a in scan_sources(sources, spec).assets.items()}
    assert types == {
        "static/src/app.ts": "application/typescript; charset=utf-8",
        "static/hls/seg0.ts": "video/mp2t",
        "static/models/chair.glb": "model/gltf-binary",
        "static/fonts/a.woff2": "font/woff2",
    }


def test_javascript_is_text_javascript_and_old_names_still_pick_it() -> None:
    # RFC 9239: text/javascript; a spec listing application/javascript keeps gzipping .js.
    assert content_type("static/app.js") == "text/javascript; charset=utf-8"
    assert type_matches("text/javascript; charset=utf-8", ["application/javascript"])
    assert type_matches("application/javascript", ["text/javascript"])
    assert not type_matches("text/javascript", ["text/css", "application/json"])


def test_flask_s3_0_3_types_are_pinned_without_charset() -> None:
    from flask_s3.assets.contenttypes import flasks3_content_type

    assert flasks3_content_type("static/a.CSS") == "text/css"
    assert flasks3_content_type("favicon.ico") == "image/vnd.microsoft.icon"
    assert flasks3_content_type("x.js") == "text/javascript"
    assert flasks3_content_type("x.map") is None  # 0.3 stored no type for it


def test_the_extension_is_the_one_posixpath_splitext_finds():
    import posixpath
    import random

    from flask_s3.assets.contenttypes import _extension

    rng = random.Random(28)
    names = ["a/.b", "..b", "a..b", ".a.b", "a.", "", ".", "..", "a/b.c/d", "x/..a", "é.Css"]
    names += ["".join(rng.choice("ab./") for _ in range(rng.randint(0, 9))) for _ in range(5000)]
    for name in names:
        assert _extension(name) == posixpath.splitext(name)[1], name
