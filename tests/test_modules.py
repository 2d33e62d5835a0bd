"""Fingerprinting ES modules and a bundler's output: imports rewritten leaves first, cycles
hashed together, missing files warned about with file:line, bundler files kept as they are
(immutable, served by url_for and sri unchanged), and the CORS warning for modules."""

from __future__ import annotations

import json
import os
import re
import textwrap
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from clirun import flask_s3 as cli
from flask import Flask, render_template_string

from flask_s3 import FlaskS3
from flask_s3.assets.fingerprint import IMMUTABLE, Fingerprinted, fingerprint, hashed_name
from flask_s3.spec import FingerprintSpec

LENGTH = 10
SPEC = FingerprintSpec(enabled=True, length=LENGTH)


def tree(root: Path, files: dict[str, str]) -> dict[str, str]:
    """Write ``files`` (path below root -> text); logical key -> path, as scan_sources gives."""
    out = {}
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")
        out[rel] = str(path)
    return out


def run(root: Path, files: dict[str, str], **kw: Any) -> Fingerprinted:
    return fingerprint(tree(root, files), kw.pop("spec", SPEC), **kw)


MODULES = {
    "static/js/app.js": (
        'import { a } from "./lib/a.js";\n'
        "import x from 'react';\n"  # bare: a package, left alone
        'import y from "https://cdn.example.com/y.js";\n'
        'import("/static/js/lazy.js");\n'  # root-relative
        'const img = new URL("../img/logo.svg", import.meta.url);\n'
        "//# sourceMappingURL=app.js.map\n"
    ),
    "static/js/lib/a.js": 'export { b as a } from "./b.js";\n',
    "static/js/lib/b.js": "export const b = 1;\n",
    "static/js/lazy.js": "export default 2;\n",
    "static/js/app.js.map": '{"version":3}',
    "static/img/logo.svg": "<svg/>",
}


def test_imports_are_rewritten_leaves_first(tmp_path: Path) -> None:
    result = run(tmp_path, MODULES)
    names = result.names
    b = names["static/js/lib/b.js"]
    assert b == hashed_name("static/js/lib/b.js", MODULES["static/js/lib/b.js"].encode(), LENGTH)
    a_text = result.content["static/js/lib/a.js"].decode()
    assert a_text == f'export {{ b as a }} from "./{b.rsplit("/", 1)[1]}";\n'
    # a.js's name is the hash of its rewritten bytes, so it follows b.js's content
    assert names["static/js/lib/a.js"] == hashed_name("static/js/lib/a.js", a_text.encode(), LENGTH)
    app = result.content["static/js/app.js"].decode()
    base = {k: v.rsplit("/", 1)[1] for k, v in names.items()}
    assert app == (
        f'import {{ a }} from "./lib/{base["static/js/lib/a.js"]}";\n'
        "import x from 'react';\n"
        'import y from "https://cdn.example.com/y.js";\n'
        f'import("/static/js/{base["static/js/lazy.js"]}");\n'
        f'const img = new URL("../img/{base["static/img/logo.svg"]}", import.meta.url);\n'
        f"//# sourceMappingURL={base['static/js/app.js.map']}\n"
    )
    assert result.modules == [
        "static/js/app.js",
        "static/js/lazy.js",
        "static/js/lib/a.js",
        "static/js/lib/b.js",
    ]
    assert result.warnings == []

    changed = run(tmp_path, {**MODULES, "static/js/lib/b.js": "export const b = 3;\n"})
    renamed = {k for k in names if names[k] != changed.names[k]}
    assert renamed == {"static/js/lib/b.js", "static/js/lib/a.js", "static/js/app.js"}


def test_an_import_cycle_is_hashed_together(tmp_path: Path) -> None:
    files = {
        "static/main.js": 'import "./a.js";\n',
        "static/a.js": 'import { b } from "./b.js";\nexport const a = 1;\n',
        "static/b.js": 'import { a } from "./a.js";\nexport const b = 2;\n',
        "static/self.js": 'import("./self.js");\n',
    }
    first = run(tmp_path, files)
    again = run(tmp_path, files)
    assert first.names == again.names and first.content == again.content  # stable
    a, b = first.names["static/a.js"], first.names["static/b.js"]
    assert re.fullmatch(r"static/a\.[0-9a-f]{10}\.js", a) and a != "static/a.js"
    assert f'"./{b[len("static/") :]}"' in first.content["static/a.js"].decode()
    assert f'"./{a[len("static/") :]}"' in first.content["static/b.js"].decode()
    me = first.names["static/self.js"]
    assert first.content["static/self.js"].decode() == f'import("./{me[len("static/") :]}");\n'
    assert f'"./{a[len("static/") :]}"' in first.content["static/main.js"].decode()

    changed = run(tmp_path, {**files, "static/b.js": files["static/b.js"] + "// edit\n"})
    assert changed.names["static/a.js"] != a and changed.names["static/b.js"] != b
    assert changed.names["static/main.js"] != first.names["static/main.js"]
    assert changed.names["static/self.js"] == me


def test_a_missing_file_is_a_located_warning(tmp_path: Path) -> None:
    files = {
        "static/js/app.js": (
            "// a comment\n"
            'import "./here.js";\n'
            'import "./gone.js";\n'
            'import("../../outside.js");\n'
            "//# sourceMappingURL=app.js.map\n"
        ),
        "static/js/here.js": "",
        "static/css/app.css": "p{}\n/*# sourceMappingURL=app.css.map */\n",
    }
    result = run(tmp_path, files)
    assert result.warnings == [
        "static/css/app.css:2: names the source map 'app.css.map', which is not a static file "
        "(looked for static/css/app.css.map); left as written",
        "static/js/app.js:3: imports './gone.js', which is not a static file "
        "(looked for static/js/gone.js); left as written",
        "static/js/app.js:4: imports '../../outside.js', which is not a static file "
        "(looked for outside.js); left as written",
        "static/js/app.js:5: names the source map 'app.js.map', which is not a static file "
        "(looked for static/js/app.js.map); left as written",
    ]
    text = result.content["static/js/app.js"].decode()
    assert '"./gone.js"' in text and "./here." in text and "./here.js" not in text


def test_css_source_map_comment_is_rewritten(tmp_path: Path) -> None:
    files = {
        "static/css/app.css": 'a { content: "/*# sourceMappingURL=no.map */" }\n'
        "/*# sourceMappingURL=app.css.map */\n",
        "static/css/app.css.map": "{}",
    }
    result = run(tmp_path, files)
    mapped = result.names["static/css/app.css.map"].rsplit("/", 1)[1]
    assert result.content["static/css/app.css"].decode() == (
        f'a {{ content: "/*# sourceMappingURL=no.map */" }}\n/*# sourceMappingURL={mapped} */\n'
    )


def test_already_hashed_files_keep_their_names_and_bytes(tmp_path: Path) -> None:
    files = {
        "static/dist/assets/index-4f3a2b1c.js": 'import "./chunk-9d8e.js";\n',
        "static/dist/assets/chunk-9d8e.js": "export {};\n",
        "static/js/app.js": 'import "../dist/assets/chunk-9d8e.js";\n',
    }
    hashed = {"static/dist/assets/index-4f3a2b1c.js", "static/dist/assets/chunk-9d8e.js"}
    result = run(tmp_path, files, hashed=hashed)
    assert {k: result.names[k] for k in hashed} == {k: k for k in hashed}
    assert not hashed & result.content.keys()  # never read for references, never rewritten
    assert "static/js/app.js" not in result.content  # unchanged: stored from the file
    assert set(result.modules) == {*hashed, "static/js/app.js"}


# Through the CLI: a project with a Vite build, a webpack manifest and a `hashed` glob.

APP = """
from flask import Flask

def create_app():
    return Flask(__name__, static_folder="static")
"""
VITE_MANIFEST = {
    "src/main.js": {
        "file": "assets/main-DeEatJad.js",
        "isEntry": True,
        "dynamicImports": ["src/lazy.js"],
        "css": ["assets/main--jaQyUyX.css"],
        "assets": ["assets/logo-ZDIX.svg"],
    },
    "src/lazy.js": {"file": "assets/lazy-Bqs1Q9bg.js", "isDynamicEntry": True},
}
PROJECT = {
    "static/dist/assets/main-DeEatJad.js": (
        'import("./lazy-Bqs1Q9bg.js");new URL("./logo-ZDIX.svg",import.meta.url);\n'
        "//# sourceMappingURL=main-DeEatJad.js.map\n"
    ),
    "static/dist/assets/main-DeEatJad.js.map": "{}",
    "static/dist/assets/lazy-Bqs1Q9bg.js": "export const lazy = 1;\n",
    "static/dist/assets/main--jaQyUyX.css": "body{}",
    "static/dist/assets/logo-ZDIX.svg": "<svg/>",
    "static/dist/.vite/manifest.json": json.dumps(VITE_MANIFEST),
    "static/wp/main.1a2b3c.js": "var a = 1;\n",
    "static/wp/manifest.json": json.dumps({"main.js": "/static/wp/main.1a2b3c.js"}),
    "static/vendor/lib-0badc0de.js": "var b = 2;\n",
    "static/app.js": 'import "./dist/assets/lazy-Bqs1Q9bg.js";\n',
}


def spec_text(bucket: str, host: str, extra: str = "", cors: str = "") -> str:
    return textwrap.dedent(
        f"""\
        version: 1
        app: "modapp:create_app()"
        bucket:
          name: {bucket}
          endpoint_url: ${{S3_ENDPOINT}}
          region: us-east-1
          public_read_policy: true
        {cors}
        urls: {{scheme: http, style: path, bucket_domain: {host}}}
        assets:
          integrity: true
          fingerprint:
            enabled: true
            hashed: ["static/vendor/**"]
        {extra}
        """
    )


@pytest.fixture
def project(tmp_path: Path, s3_server: Any, bucket_name: str) -> Path:
    (tmp_path / "modapp.py").write_text(APP)
    tree(tmp_path, PROJECT)
    spec = spec_text(bucket_name, s3_server.host, cors='  cors: ["*"]')
    (tmp_path / "deploy.yaml").write_text(spec)
    return tmp_path


@pytest.fixture
def env(s3_env: Any, s3_server: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("S3_ENDPOINT", s3_server.endpoint_url)  # FlaskS3 reads the spec too
    return dict(os.environ)


def test_bundler_output_is_stored_as_is_and_cached_forever(
    project: Path, env: dict[str, str], s3_server: Any, bucket_name: str
) -> None:
    result = cli(project, "apply", "deploy.yaml", env=env)
    assert result.returncode == 0, result.stderr
    app = Flask("modapp", root_path=str(project))
    FlaskS3(app, spec=project / "deploy.yaml")
    kept = [k for k in PROJECT if not k.endswith(("manifest.json", "static/app.js"))]
    page = "\n".join(
        f"{{{{ url_for('static', filename='{k[len('static/') :]}') }}}} "
        f"{{{{ sri('static', filename='{k[len('static/') :]}') }}}}"
        for k in kept
    )
    with app.test_request_context():
        lines = render_template_string(page).splitlines()
    base = f"{s3_server.endpoint_url}/{bucket_name}/"
    for key, line in zip(kept, lines, strict=True):
        url, sri = line.split()
        assert url == base + key  # its own name, through url_for
        assert sri.startswith("sha384-")
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.headers["Cache-Control"] == IMMUTABLE, key
            assert resp.read() == PROJECT[key].encode()  # byte for byte
    ours = json.loads((project / "static" / ".flask-s3-manifest.json").read_text())["files"]
    assert re.fullmatch(r"static/app\.[0-9a-f]{12}\.js", ours["static/app.js"])
    again = cli(project, "plan", "deploy.yaml", env=env)
    assert again.returncode == 0, again.stdout + again.stderr  # no change, nothing hashed twice


def test_plan_warns_when_modules_would_be_refused(
    project: Path, env: dict[str, str], s3_server: Any, bucket_name: str
) -> None:
    spec = project / "deploy.yaml"
    spec.write_text(spec_text(bucket_name, s3_server.host))  # no bucket.cors
    result = cli(project, "plan", "deploy.yaml", env=env)
    assert result.returncode == 0, result.stderr
    assert (
        "the static files hold ES modules (static/app.js, static/dist/assets/lazy-Bqs1Q9bg.js, "
        "static/dist/assets/main-DeEatJad.js) but bucket.cors is not set: browsers fetch "
        "module scripts as CORS requests"
    ) in result.stdout
    spec.write_text(spec_text(bucket_name, s3_server.host, cors='  cors: ["https://a.example"]'))
    result = cli(project, "plan", "deploy.yaml", env=env)
    assert "ES modules" not in result.stdout


def test_a_manifest_named_in_the_spec(
    project: Path, env: dict[str, str], s3_server: Any, bucket_name: str
) -> None:
    outside = project / "build" / "manifest.json"
    outside.parent.mkdir()
    outside.write_text(json.dumps({"lib.js": "../static/other/lib-77aa.js"}))
    tree(project, {"static/other/lib-77aa.js": "1;"})
    extra = "    manifests: [build/manifest.json]"
    spec = project / "deploy.yaml"
    spec.write_text(spec_text(bucket_name, s3_server.host, extra=extra, cors='  cors: ["*"]'))
    result = cli(project, "plan", "deploy.yaml", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    keys = {a["key"] for a in json.loads(result.stdout)["actions"] if "key" in a}
    assert "static/other/lib-77aa.js" in keys

    outside.unlink()
    result = cli(project, "plan", "deploy.yaml", env=env)
    assert result.returncode == 1
    assert "assets.fingerprint.manifests[0]: cannot read the bundler manifest" in result.stderr
    assert "Traceback" not in result.stderr
    outside.write_text('{"not": ["a manifest"]}')
    result = cli(project, "plan", "deploy.yaml", env=env)
    assert result.returncode == 1
    assert "is neither a Vite nor a webpack manifest" in result.stderr


def test_hashed_globs_are_validated(tmp_path: Path) -> None:
    spec = tmp_path / "deploy.yaml"

    def validate(hashed: str) -> str:
        spec.write_text(
            f"version: 1\nbucket: {{name: shop}}\nassets:\n  fingerprint:\n    hashed: {hashed}\n"
        )
        result = cli(Path.cwd(), "validate", str(spec), timeout=60)
        assert result.returncode == 1
        return result.stderr

    assert "deploy.yaml:5:14: assets.fingerprint.hashed[0]: expected text" in validate("[3]")
    assert "deploy.yaml:5:17: assets.fingerprint.hashed[1]: this glob starts with /" in validate(
        '[a, "/static/x/**"]'
    )


def test_stylesheets_that_import_each_other_are_hashed_together(tmp_path: Path) -> None:
    files = {
        "static/css/a.css": '@import "b.css";\na { color: red }\n',
        "static/css/b.css": "@import url(a.css);\nb { color: blue }\n",
    }
    result = run(tmp_path, files)
    a, b = (result.names[f"static/css/{n}.css"].rsplit("/", 1)[1] for n in "ab")
    assert result.content["static/css/a.css"].decode().startswith(f'@import "{b}";')
    assert result.content["static/css/b.css"].decode().startswith(f"@import url({a});")


def test_a_source_map_left_out_on_purpose_is_not_warned_about(tmp_path: Path) -> None:
    files = tree(
        tmp_path,
        {
            "static/js/app.js": "x();\n//# sourceMappingURL=app.js.map\n",
            "static/css/app.css": "p{}\n/*# sourceMappingURL=app.css.map */\n",
        },
    )
    (tmp_path / "static/js/app.js.map").write_text("{}")  # on disk, but assets.exclude'd
    (tmp_path / "static/css/app.css.map").write_text("{}")
    result = fingerprint(files, SPEC)
    assert result.warnings == []
    assert "static/js/app.js" not in result.content  # left as written


def test_components_come_leaves_first_even_for_deep_graphs() -> None:
    from flask_s3.assets.fingerprint import strongly_connected

    depth = 20_000  # deeper than Python's recursion limit
    graph = {f"m{i}": [f"m{i + 1}"] for i in range(depth)}
    graph[f"m{depth}"] = []
    graph["m5"] = ["m6", "m3"]  # m3 -> m4 -> m5 -> m3: one cycle in the chain
    order = strongly_connected(graph)
    assert order[0] == [f"m{depth}"]
    assert sorted(order[-4]) == ["m3", "m4", "m5"] and order[-1] == ["m0"]
    position = {node: i for i, part in enumerate(order) for node in part}
    assert all(position[n] >= position[m] for n, targets in graph.items() for m in targets)


def test_which_manifests_are_read(tmp_path: Path) -> None:
    from dataclasses import replace

    from flask_s3.assets.bundlers import already_hashed
    from flask_s3.spec import AssetsSpec, BucketSpec, Spec

    files = tree(
        tmp_path,
        {
            "static/dist/assets/a-1234abcd.js": "",
            "static/dist/assets/a-1234abcd.js.map": "{}",
            "static/dist/assets/b-99.css": "",
            "static/other/c-77.js": "",
            "static/manifest.json": json.dumps(  # a web app manifest: not a bundler's
                {"name": "Shop", "icons": [{"src": "icon.png"}], "start_url": "/"}
            ),
            "static/icon.png": "png",
        },
    )
    (tmp_path / "static/dist/.vite").mkdir()
    (tmp_path / "static/dist/.vite/manifest.json").write_text(
        json.dumps({"src/a.js": {"file": "assets/a-1234abcd.js", "css": ["assets/b-99.css"]}})
    )
    (tmp_path / "build").mkdir()
    (tmp_path / "build/vite-manifest.json").write_text(  # Vite's shape under another name
        json.dumps({"src/c.js": {"file": "../static/other/c-77.js"}, "x": {"file": "gone.js"}})
    )
    spec = Spec(bucket=BucketSpec(name="b"), source=tmp_path / "deploy.yaml")
    found = already_hashed(files, [tmp_path / "static"], spec)
    assert found.keys == {
        "static/dist/assets/a-1234abcd.js",
        "static/dist/assets/a-1234abcd.js.map",  # the map beside a kept file
        "static/dist/assets/b-99.css",
    }
    assert found.warnings == []
    fingerprint = replace(spec.assets.fingerprint, manifests=("build/vite-manifest.json",))
    named = replace(spec, assets=AssetsSpec(fingerprint=fingerprint))
    found = already_hashed(files, [tmp_path / "static"], named)
    assert "static/other/c-77.js" in found.keys
    assert found.warnings == [
        f"{tmp_path / 'build/vite-manifest.json'}: names 'gone.js', which is not a static file; "
        "build the front end into a static folder"
    ]


def test_the_vite_example_spec_validates() -> None:
    root = Path(__file__).resolve().parent.parent
    result = cli(root, "validate", "examples/vite/deploy.yaml", timeout=60)
    assert result.returncode == 0, result.stderr
