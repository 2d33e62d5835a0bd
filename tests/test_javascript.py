"""The JavaScript reference finder (tree-sitter): what is a reference and what only looks like
one, on the shapes real code has; rewriting keeps every other byte."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from hypothesis import given, settings
from hypothesis import strategies as st

from flask_s3.assets.javascript import JsReference, _spelled, find_references, rewrite, scan


def values(source: str) -> list[tuple[str, str, int]]:
    return [(r.kind, r.value, r.line) for r in find_references(source.encode())]


def test_static_imports_and_exports_from() -> None:
    source = (
        'import a, { b } from "./a.js";\n'
        "import * as ns from '../lib/ns.js';\n"
        'import "./side-effect.js";\n'
        'export * from "./all.js";\n'
        'export * as named from "./named.js";\n'
        'export { x as y } from "./x.js";\n'
        'import data from "./data.json" with { type: "json" };\n'
        "export const local = 1;\n"
        "export { local as other };\n"
    )
    assert values(source) == [
        ("import", "./a.js", 1),
        ("import", "../lib/ns.js", 2),
        ("import", "./side-effect.js", 3),
        ("import", "./all.js", 4),
        ("import", "./named.js", 5),
        ("import", "./x.js", 6),
        ("import", "./data.json", 7),
    ]
    assert scan(source.encode()).module is True


def test_dynamic_imports_only_with_a_literal() -> None:
    source = (
        'const a = await import("./lazy.js");\n'
        "import(`./template.js`).then(run);\n"
        "import(`./pages/${name}.js`);\n"  # computed: not a file we can name
        "import(name);\n"
        'import("./a.js" + suffix);\n'
    )
    assert values(source) == [("import", "./lazy.js", 1), ("import", "./template.js", 2)]
    assert scan(b'import("./x.js")').module is False  # allowed in classic scripts too


def test_new_url_relative_to_the_module_only() -> None:
    source = (
        'const a = new URL("./logo.svg", import.meta.url);\n'
        "const b = new URL(`../img/x.png`, import.meta.url).href;\n"
        'const c = new URL("./no.png", location.href);\n'
        'const d = new URL("./no.png");\n'
        'const e = new Foo("./no.png", import.meta.url);\n'
        'const f = new URL("./no.png", import.meta.resolve);\n'
    )
    assert values(source) == [("url", "./logo.svg", 1), ("url", "../img/x.png", 2)]
    assert scan(b"console.log(import.meta.url)").module is True


def test_comments_strings_templates_and_regexes_are_not_references() -> None:
    source = (
        '// import "./comment.js"\n'
        '/* import x from "./block.js"; import("./block2.js") */\n'
        "const s = 'import(\"./string.js\")';\n"
        'const t = `import x from "./template.js"`;\n'
        'const r = /import("\\.\\/regex\\.js")/g;\n'
        "const q = /[/]import('.\\/k.js')/;\n"
        'const u = "//# sourceMappingURL=string.map";\n'
        'const real = import("./real.js");\n'
    )
    assert values(source) == [("import", "./real.js", 8)]


def test_source_map_comments() -> None:
    assert values("x();\n//# sourceMappingURL=app.js.map\n") == [("sourcemap", "app.js.map", 2)]
    assert values("x();\n//@ sourceMappingURL=old.map") == [("sourcemap", "old.map", 2)]
    assert values("x();\n/*# sourceMappingURL=block.map */") == [("sourcemap", "block.map", 2)]
    assert values("// see sourceMappingURL=nope.map") == []


def test_a_minified_bundle() -> None:
    bundle = (
        'import{a as e}from"./chunk-9d8e7f6a.js";const t=/"\\/x.js"/;'
        "var n=function(e,t){return new URL(e,t).href};"
        'e(),import(`./lazy-Bqs1Q9bg.js`).then(e=>e.run()),import("./b-1.js");'
        'new URL("./logo-ZDIX.svg",import.meta.url);export{e as default};\n'
        "//# sourceMappingURL=index-4f3a2b1c.js.map\n"
    )
    assert [v for _, v, _ in values(bundle)] == [
        "./chunk-9d8e7f6a.js",
        "./lazy-Bqs1Q9bg.js",
        "./b-1.js",
        "./logo-ZDIX.svg",
        "index-4f3a2b1c.js.map",
    ]


def test_escaped_specifiers_and_non_ascii_offsets() -> None:
    source = 'const é = "ü";\nimport "./caf\\u00e9.js";\nimport "./naïve.js";\n'
    data = source.encode()
    refs = find_references(data)
    assert [r.value for r in refs] == ["./café.js", "./naïve.js"]
    assert data[refs[1].start : refs[1].end] == "./naïve.js".encode()
    out = rewrite(data, refs, lambda r: r.value.replace(".js", ".0123.js"))
    assert out.decode() == 'const é = "ü";\nimport "./café.0123.js";\nimport "./naïve.0123.js";\n'


def test_rewriting_quotes_what_needs_quoting() -> None:
    data = b"import \"./a.js\";\nimport './b.js';\nimport(`./c.js`);\n"
    refs = find_references(data)
    out = rewrite(data, refs, lambda r: r.value.replace(".js", "'\"`${}.js"))
    assert [r.value for r in find_references(out)] == [
        "./a'\"`${}.js",
        "./b'\"`${}.js",
        "./c'\"`${}.js",
    ]


def test_unparseable_lines_are_reported() -> None:
    found = scan(b'import "./a.js";\nconst = = ;\nimport "./b.js";\n')
    assert found.error_lines == (2,)
    assert [r.value for r in found.references] == ["./a.js", "./b.js"]


def test_a_deeply_nested_bundle_does_not_exhaust_the_stack() -> None:
    depth = 5000
    source = "x=" + "[" * depth + "]" * depth + ';import("./deep.js")'
    assert values(source) == [("import", "./deep.js", 1)]


# Round trips, on JavaScript assembled from the shapes above with arbitrary names in them.

# Characters that test quoting and escaping; no line terminators, which would end the line
# comments the generator writes names into (and make the source something else).
SPECIFIER = st.text(alphabet=st.sampled_from(list("abc./-_é'\"`$\\{} ")), min_size=1, max_size=12)


def _literal(value: str, quote: str) -> str:
    return quote + _spelled(value, quote) + quote


@st.composite
def javascript_sources(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 8))):
        name = "./" + draw(SPECIFIER)
        quote = draw(st.sampled_from(["'", '"']))
        parts.append(
            draw(
                st.sampled_from(
                    [
                        f"import x from {_literal(name, quote)};",
                        f"export * from {_literal(name, quote)};",
                        f"import({_literal(name, draw(st.sampled_from(['`', quote])))});",
                        f"new URL({_literal(name, quote)}, import.meta.url);",
                        f"// import {_literal(name, quote)}",
                        f"/* import({_literal(name, quote)}) */",
                        f"const s = {_literal('import(' + name + ')', quote)};",
                        'const r = /import\\("[./]x"\\)/g;',
                        "const t = `a ${b + `c`} d`;",
                        "//# sourceMappingURL=app.js.map",
                        "if (a < b / c) { f(/x/g.test(d)); }",
                    ]
                )
            )
        )
    spacing = draw(st.sampled_from(["\n", " ", "\r\n", "\n\n  "]))
    return spacing.join(parts) + draw(st.sampled_from(["", "\n"]))


@settings(max_examples=150, deadline=None)
@given(javascript_sources())
def test_rewriting_with_an_identity_map_keeps_every_byte(source: str) -> None:
    data = source.encode("utf-8", errors="surrogatepass")
    refs = find_references(data)
    assert rewrite(data, refs, lambda r: r.value) == data
    # Written out again even when unchanged, each reference is spelled as it was (escapes
    # aside, which it only writes where the value needs them).
    for ref in refs:
        assert _spelled(ref.value, ref.quote).encode() == data[ref.start : ref.end]


@settings(max_examples=150, deadline=None)
@given(javascript_sources(), SPECIFIER)
def test_renamed_references_are_found_again_with_their_new_names(source: str, tail: str) -> None:
    data = source.encode()
    refs = find_references(data)
    out = rewrite(data, refs, lambda r: r.value + tail)
    found = [
        (r.kind, unquote(r.value) if r.kind == "sourcemap" else r.value)
        for r in find_references(out)
    ]
    assert found == [(r.kind, r.value + tail) for r in refs]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_and_round_trips(text: str) -> None:
    data = text.encode("utf-8", errors="surrogatepass")
    refs = find_references(data)
    assert all(isinstance(r, JsReference) and 0 <= r.start <= r.end <= len(data) for r in refs)
    assert rewrite(data, refs, lambda r: r.value) == data


def test_a_comment_before_the_dynamic_import_argument() -> None:
    source = 'import(/* webpackChunkName: "lazy" */ "./lazy.js");\n'
    assert values(source) == [("import", "./lazy.js", 1)]


def test_scans_are_cached_by_content_between_runs(tmp_path: Path) -> None:
    import hashlib
    import json
    import os

    from flask_s3.assets.javascript import ScanCache

    data = b'import "./a.js";\n'
    first = ScanCache()
    assert [r.value for r in first.scan(data).references] == ["./a.js"]
    first.save()
    cache_file = Path(os.environ["FLASK_S3_CACHE_DIR"]) / "js-references.json"
    stored = json.loads(cache_file.read_text(encoding="utf-8"))
    digest = hashlib.sha256(data).hexdigest()
    # The next run answers from the cache instead of parsing: prove it with an answer that
    # differs from what the parser would say.
    stored["scripts"][digest] = [[[8, 14, "./cached.js", 1, "import", '"']], True, []]
    cache_file.write_text(json.dumps(stored), encoding="utf-8")
    assert [r.value for r in ScanCache().scan(data).references] == ["./cached.js"]
    stored["v"] += 1  # written by another version of the finder: ignored
    cache_file.write_text(json.dumps(stored), encoding="utf-8")
    assert [r.value for r in ScanCache().scan(data).references] == ["./a.js"]
