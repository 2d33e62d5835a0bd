"""References inside stylesheets, found by a CSS tokenizer and rewritten by fingerprinting."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flask_s3.assets.css import (
    FINDER_VERSION,
    find_references,
    maybe_has_references,
    tokenized_references,
)
from flask_s3.assets.fingerprint import fingerprint, hashed_name
from flask_s3.errors import PlanError
from flask_s3.spec import FingerprintSpec

LENGTH = 8
ASSETS = {
    "img/a.png": "png a",
    "img/a b.png": "png with a space",
    "img/q.png": "png q",
    "img/c(1).png": "png with parentheses",
    "img/x.svg": "<svg/>",
    "fonts/f.woff2": "font",
    "css/x.css": "body { color: red }",
    "css/y.css": "p { color: blue }",
    "css/z.css": "a { color: green }",
}


def build(tmp_path: Path, css: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    files: dict[str, str] = {}
    for rel, content in {**ASSETS, "css/app.css": css, **(extra or {})}.items():
        path = tmp_path / "static" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8", newline="")
        files[f"static/{rel}"] = str(path)
    return files


def rewritten(tmp_path: Path, css: str) -> str:
    files = build(tmp_path, css)
    result = fingerprint(files, FingerprintSpec(enabled=True, length=LENGTH))
    return result.content["static/css/app.css"].decode("utf-8")


def hashed(rel: str) -> str:
    """The hashed file name of one of ASSETS (its base name only)."""
    name = hashed_name(f"static/{rel}", ASSETS[rel].encode(), LENGTH)
    return name.rsplit("/", 1)[1]


def test_references_in_comments_and_strings_are_left_alone(tmp_path: Path) -> None:
    css = (
        "/* old: url(../img/a.png) and url(../img/gone.png) @import 'gone.css'; */\n"
        'body::after { content: "url(../img/a.png)"; }\n'
        "p { background: url(../img/a.png); }\n"
    )
    out = rewritten(tmp_path, css)
    a = hashed("img/a.png")
    assert out == (
        "/* old: url(../img/a.png) and url(../img/gone.png) @import 'gone.css'; */\n"
        'body::after { content: "url(../img/a.png)"; }\n'
        f"p {{ background: url(../img/{a}); }}\n"
    )


def test_a_missing_file_named_only_in_a_comment_is_not_an_error(tmp_path: Path) -> None:
    css = "/* background: url(../img/removed-long-ago.png); */ p { color: red }"
    assert rewritten(tmp_path, css) == css


def test_a_missing_file_in_a_real_reference_is_an_error(tmp_path: Path) -> None:
    files = build(tmp_path, "/* fine */ p { background: url('../img/gone.png') }")
    with pytest.raises(PlanError, match=r"references '\.\./img/gone\.png'.*static/img/gone\.png"):
        fingerprint(files, FingerprintSpec(enabled=True, length=LENGTH))


def test_import_forms(tmp_path: Path) -> None:
    css = "@import \"x.css\";\n@import url(y.css) screen;\n@IMPORT url( 'z.css' );\n"
    out = rewritten(tmp_path, css)
    x, y, z = (hashed(f"css/{n}.css") for n in "xyz")
    assert out == f"@import \"{x}\";\n@import url({y}) screen;\n@IMPORT url( '{z}' );\n"


def test_quoting_spaces_and_escapes(tmp_path: Path) -> None:
    css = (
        'a { background: url( "../img/a b.png" ) }\n'
        "b { background: url(../img/a\\ b.png) }\n"
        "c { background: url(  ../img/a.png  ) }\n"
        "d { background: u\\72l(../img/a.png) }\n"
        "e { background: url('../img/c(1).png') }\n"
        "f { background: url(../img/c\\(1\\).png) }\n"
        "g { background: URL(../img/%61.png) }\n"
    )
    out = rewritten(tmp_path, css)
    a, space, paren = hashed("img/a.png"), hashed("img/a b.png"), hashed("img/c(1).png")
    encoded = a.replace("a.", "%61.", 1)
    escaped_space = space.replace(" ", "\\ ")
    escaped_paren = paren.replace("(", "\\(").replace(")", "\\)")
    assert out.splitlines() == [
        f'a {{ background: url( "../img/{space}" ) }}',
        f"b {{ background: url(../img/{escaped_space}) }}",
        f"c {{ background: url(  ../img/{a}  ) }}",
        f"d {{ background: u\\72l(../img/{a}) }}",
        f"e {{ background: url('../img/{paren}') }}",
        f"f {{ background: url(../img/{escaped_paren}) }}",
        f"g {{ background: URL(../img/{encoded}) }}",
    ]


def test_urls_that_are_not_local_files_are_kept(tmp_path: Path) -> None:
    css = (
        "a { background: url(data:image/png;base64,iVBORw0KGgo=) }\n"
        'b { background: url("data:image/svg+xml;utf8,<svg></svg>") }\n'
        "c { background: url(https://cdn.example.com/a.png) }\n"
        "d { background: url(//cdn.example.com/a.png) }\n"
        "e { filter: url(#shadow) }\n"
        'f { background: url("") }\n'
        "@namespace svg url(http://www.w3.org/2000/svg);\n"
        "@namespace url(relative-namespace);\n"
    )
    assert rewritten(tmp_path, css) == css


def test_query_and_fragment_suffixes_are_kept(tmp_path: Path) -> None:
    css = (
        "@font-face { src: url(../fonts/f.woff2?v=3#iefix) format('woff2'); }\n"
        'i { background: url("../img/x.svg#icon") }\n'
        "j { background: url(/static/img/q.png?x) }\n"
    )
    out = rewritten(tmp_path, css)
    f, x, q = hashed("fonts/f.woff2"), hashed("img/x.svg"), hashed("img/q.png")
    assert out == (
        f"@font-face {{ src: url(../fonts/{f}?v=3#iefix) format('woff2'); }}\n"
        f'i {{ background: url("../img/{x}#icon") }}\n'
        f"j {{ background: url(/static/img/{q}?x) }}\n"
    )


def test_nested_references_and_image_set(tmp_path: Path) -> None:
    css = (
        "@media (min-width: 10px) { a { background: url(../img/a.png) } }\n"
        'b { background: image-set("../img/a.png" 1x, url(../img/q.png) 2x) }\n'
        "c { background: -webkit-image-set('../img/x.svg' 1x) }\n"
        "d { mask: linear-gradient(red, blue), url(../img/x.svg) }\n"
    )
    out = rewritten(tmp_path, css)
    a, q, x = hashed("img/a.png"), hashed("img/q.png"), hashed("img/x.svg")
    assert out == (
        f"@media (min-width: 10px) {{ a {{ background: url(../img/{a}) }} }}\n"
        f'b {{ background: image-set("../img/{a}" 1x, url(../img/{q}) 2x) }}\n'
        f"c {{ background: -webkit-image-set('../img/{x}' 1x) }}\n"
        f"d {{ mask: linear-gradient(red, blue), url(../img/{x}) }}\n"
    )


def test_crlf_line_endings_keep_their_bytes(tmp_path: Path) -> None:
    css = "/* one */\r\np {\r\n  background: url(../img/a.png);\r\n}\r\n"
    out = rewritten(tmp_path, css)
    assert out == css.replace("a.png", hashed("img/a.png"))


def test_a_stylesheet_without_references_is_not_tokenized() -> None:
    assert not maybe_has_references("p { color: red }\n.a { margin: 0 }")
    assert maybe_has_references("p { background: URL(x.png) }")
    assert maybe_has_references("p { background: u\\72l(x.png) }")
    assert find_references("p { color: red }") == []


def test_reference_positions_cover_the_reference_text() -> None:
    css = "/* url(no.png) */\na{b:url( 'q.png' )}\n@import \"i.css\";"
    spans = [css[r.start : r.end] for r in find_references(css)]
    assert spans == ["'q.png'", '"i.css"']


def test_references_are_cached_by_content_between_runs(tmp_path: Path) -> None:
    css = "p { background: url(../img/a.png) }\n"
    files = build(tmp_path, css)
    spec = FingerprintSpec(enabled=True, length=LENGTH)
    first = fingerprint(files, spec).content["static/css/app.css"]
    cache_file = Path(os.environ["FLASK_S3_CACHE_DIR"]) / "css-references.json"
    stored = json.loads(cache_file.read_text(encoding="utf-8"))
    digest = hashlib.sha256(css.encode()).hexdigest()
    assert stored["stylesheets"][digest] == [[16, 33, "../img/a.png", ""]]
    # The second run reads the spans from the cache instead of tokenizing: prove it by
    # handing it a cached answer that differs from what the tokenizer would say.
    stored["stylesheets"][digest] = []
    cache_file.write_text(json.dumps(stored), encoding="utf-8")
    assert fingerprint(files, spec).content["static/css/app.css"] == css.encode()
    # A cache written by another version of the finder is ignored.
    stored["v"] = FINDER_VERSION + 1
    cache_file.write_text(json.dumps(stored), encoding="utf-8")
    assert fingerprint(files, spec).content["static/css/app.css"] == first


def test_no_cache_when_caching_is_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_S3_NO_HASH_CACHE", "1")
    files = build(tmp_path, "p { background: url(../img/a.png) }\n")
    fingerprint(files, FingerprintSpec(enabled=True, length=LENGTH))
    assert not (Path(os.environ["FLASK_S3_CACHE_DIR"]) / "css-references.json").exists()


@pytest.mark.parametrize(
    "css",
    [
        "a { b: u\\72l(x.png) }",
        "a { b: \\75 rl(x.png) }",
        "a { b: U\\52L(x.png) }",
        "a { b: u\\72 l(x.png) }",
        "a { b: u\\rl(x.png) }",
        '@\\69mport "x.css";',
        "a { b: \\69mage-set('x.png' 1x) }",
        "a { b: image\\-set('x.png' 1x) }",
        'a::before { content: "\\f101" } b { background: url(x.png) }',
    ],
)
def test_escaped_spellings_are_not_missed_by_the_cheap_test(css: str) -> None:
    assert tokenized_references(css)
    assert maybe_has_references(css)
    assert find_references(css) == tokenized_references(css)


FRAGMENTS = st.sampled_from(
    [
        "u",
        "U",
        "r",
        "l",
        "L",
        "(",
        ")",
        "\\",
        "72",
        "75 ",
        "55",
        "6c",
        "0",
        " ",
        "\n",
        "@",
        "import",
        "image",
        "-",
        "set",
        '"',
        "'",
        "/*",
        "*/",
        "x.png",
        ";",
        "{",
        "}",
        "url(",
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(FRAGMENTS, max_size=12).map("".join))
def test_the_cheap_test_never_hides_a_reference(css: str) -> None:
    if tokenized_references(css):
        assert maybe_has_references(css)
