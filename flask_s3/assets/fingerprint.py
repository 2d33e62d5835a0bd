"""Fingerprinted names: ``css/app.css`` is stored as ``css/app.<hash>.css``.

CSS ``url(...)`` and ``@import`` references, JavaScript module imports and
``new URL(..., import.meta.url)``, and source-map comments in both, are rewritten to the hashed
names before the file itself is hashed, so a changed font gives its stylesheet a new name too,
and a changed module every module that imports it. A bundler's output, already hashed, is kept
as it is (``bundlers.py`` finds it).
The logical -> hashed map is written to a manifest file that ``FlaskS3`` reads at start-up.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

from ..errors import PlanError
from ..spec import FingerprintSpec, Spec
from . import javascript
from .css import Reference, ReferenceCache
from .css import rewrite as css_rewrite
from .css import source_map as css_source_map
from .globs import key_matcher

if TYPE_CHECKING:
    from flask import Flask

MANIFEST_FILE = ".flask-s3-manifest.json"
IMMUTABLE = "public, max-age=31536000, immutable"
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//|#)", re.IGNORECASE)


@dataclass
class Fingerprinted:
    """Hashed logical keys, the rewritten bytes of the stylesheets and scripts that were read
    for references, the keys a bundler had already hashed (stored as they are), the ES modules
    found (a browser fetches them with CORS), and warnings located by file and line."""

    names: dict[str, str]
    content: dict[str, bytes]
    warnings: list[str] = field(default_factory=list)
    hashed: set[str] = field(default_factory=set)
    modules: list[str] = field(default_factory=list)


def hashed_name(logical: str, data: bytes, length: int) -> str:
    """``static/css/app.css`` -> ``static/css/app.<hash>.css`` (hash of the content)."""
    return _named(logical, hashlib.sha256(data).hexdigest()[:length])


def _named(logical: str, digest: str) -> str:
    folder, name = posixpath.split(logical)
    hashed = _with_digest(name, digest)
    return posixpath.join(folder, hashed) if folder else hashed


@dataclass
class _Parsed:
    """A stylesheet or script read for references: the keys it points at, and how to write
    it with some of them renamed (references to keys missing from the map stay as they are)."""

    targets: set[str]
    rewrite: Callable[[Mapping[str, str]], bytes]
    original: bytes


def fingerprint(
    files: Mapping[str, str],
    spec: FingerprintSpec,
    hashed: Collection[str] = (),
    *,
    scan_hashed: bool = True,
) -> Fingerprinted:
    """Hash every logical key in ``files`` (logical key -> path on disk).

    Stylesheets and scripts are read for references first, and hashed leaves first, so a
    file's hash covers the hashed names it points at: a changed module renames every module
    that imports it. Files that import each other in a cycle (a strongly connected part of the
    graph) cannot be hashed leaves first: they are hashed together, each name taken from the
    digest of all their contents (their references to each other left unrenamed) and their
    own key, so a change to any of them renames all of them. ``hashed`` keys (a bundler's
    output) keep their names and bytes; with ``scan_hashed`` their scripts are still parsed,
    only to tell whether they are ES modules.
    """
    result = Fingerprinted({}, {}, hashed=set(hashed))
    excluded = key_matcher(spec.exclude)
    references = ReferenceCache()
    scripts = javascript.ScanCache()
    parsed: dict[str, _Parsed] = {}
    for logical in sorted(files):
        kind = _kind(logical)
        if logical in result.hashed:
            result.names[logical] = logical
            if kind == "js" and scan_hashed and scripts.scan(_read(files[logical])).module:
                result.modules.append(logical)
            continue
        if not kind and excluded(logical):
            result.names[logical] = logical  # keeps its name and points at nothing: not read
            continue
        if not kind:  # streamed: a large video need not fit in memory
            result.names[logical] = _named(logical, _file_digest(files[logical])[: spec.length])
            continue
        data = _read(files[logical])
        if kind == "css":
            parsed[logical] = _parse_css(logical, data, files, references, result.warnings)
        else:
            parsed[logical] = _parse_js(logical, data, files, result, scripts)
    references.save()
    scripts.save()
    graph = {k: sorted(p.targets & parsed.keys()) for k, p in sorted(parsed.items())}
    for component in strongly_connected(graph):
        _hash_component(sorted(component), parsed, excluded, spec.length, result)
    return result


def _hash_component(
    members: list[str],
    parsed: Mapping[str, _Parsed],
    excluded: Callable[[str], bool],
    length: int,
    result: Fingerprinted,
) -> None:
    """Name one strongly connected part of the reference graph; every file it points at
    outside itself is named already (``strongly_connected`` yields leaves first)."""
    if len(members) == 1 and members[0] not in parsed[members[0]].targets:
        logical = members[0]
        data = parsed[logical].rewrite(result.names)
        _keep(result, logical, data, parsed[logical].original)
        result.names[logical] = logical if excluded(logical) else hashed_name(logical, data, length)
        return
    together = hashlib.sha256()
    for logical in members:  # references to each other left as written
        data = parsed[logical].rewrite(result.names)
        together.update(f"{logical}\0{len(data)}\0".encode("utf-8", "surrogateescape") + data)
    for logical in members:
        own = hashlib.sha256(together.digest() + logical.encode("utf-8", "surrogateescape"))
        result.names[logical] = (
            logical if excluded(logical) else _named(logical, own.hexdigest()[:length])
        )
    for logical in members:
        _keep(result, logical, parsed[logical].rewrite(result.names), parsed[logical].original)


def _keep(result: Fingerprinted, logical: str, data: bytes, original: bytes) -> None:
    """Record the bytes to store for a file read for references. A script whose bytes did
    not change is left out, so it is stored from disk (and its MD5 comes from the hash cache);
    stylesheets are always kept, as they were before scripts were read."""
    if _kind(logical) == "css" or data != original:
        result.content[logical] = data


def strongly_connected(graph: Mapping[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of ``graph`` (node -> successors), leaves first.

    Iterative: a module graph can be deeper than Python's recursion limit.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            successors = graph.get(node, [])
            if i < len(successors):
                work.append((node, i + 1))
                nxt = successors[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                out.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return out


def _kind(logical: str) -> str:
    lower = logical.lower()
    if lower.endswith(".css"):
        return "css"
    if lower.endswith((".js", ".mjs")):
        return "js"
    return ""


def _file_digest(path: str) -> str:
    """The SHA-256 of a file, as ``hashed_name`` takes it of bytes."""
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _parse_css(
    logical: str,
    data: bytes,
    files: Mapping[str, str],
    cache: ReferenceCache,
    warnings: list[str],
) -> _Parsed:
    """References of a stylesheet (see ``css.py``); a missing file is an error, except in the
    source-map comment, where it is a warning (a map is for developers only)."""
    text = data.decode("utf-8", errors="surrogateescape")
    found = list(cache.references(text))
    folder = posixpath.dirname(logical)
    targets: dict[int, str] = {}
    for ref in found:
        if not ref.value or EXTERNAL.match(ref.value):
            continue
        target = _existing(folder, _split_suffix(ref.value)[0], files)
        if target is None:
            looked = _target(folder, _split_suffix(ref.value)[0])
            raise PlanError(
                f"{logical}: references {ref.value!r}, which is not a static file "
                f"(looked for {looked})",
                "Fix the reference, add the file, or exclude the stylesheet from "
                "assets.fingerprint with fingerprint.exclude.",
            )
        targets[ref.start] = target
    source_map = css_source_map(text)
    if source_map is not None and source_map.value and not EXTERNAL.match(source_map.value):
        target = _existing(folder, _split_suffix(source_map.value)[0], files)
        if target is None and _left_out(files[logical], source_map.value):
            pass  # the map is there but not deployed (assets.exclude): nothing to warn about
        elif target is None:
            line = text.count("\n", 0, source_map.start) + 1
            warnings.append(
                _missing(
                    logical,
                    line,
                    "names the source map",
                    source_map.value,
                    _target(folder, _split_suffix(source_map.value)[0]),
                )
            )
        else:
            targets[source_map.start] = target
            found = sorted([*found, source_map], key=lambda r: r.start)

    def rewrite(names: Mapping[str, str]) -> bytes:
        def new_value(ref: Reference) -> str:
            target = targets.get(ref.start)
            if target is None or target not in names:
                return ref.value
            return _renamed(ref.value, target, names[target])

        return css_rewrite(text, found, new_value).encode("utf-8", errors="surrogateescape")

    return _Parsed(set(targets.values()), rewrite, data)


def _parse_js(
    logical: str,
    data: bytes,
    files: Mapping[str, str],
    result: Fingerprinted,
    cache: javascript.ScanCache,
) -> _Parsed:
    """References of a script (see ``javascript.py``); a missing file is a located warning and
    the reference is left as written."""
    found = cache.scan(data)
    if found.module:
        result.modules.append(logical)
    if found.error_lines and found.references:
        result.warnings.append(
            f"{logical}:{found.error_lines[0]}: JavaScript the parser does not understand; "
            "references near it may be left as written"
        )
    folder = posixpath.dirname(logical)
    targets: dict[int, str] = {}
    for ref in found.references:
        value = ref.value
        if not value or EXTERNAL.match(value):
            continue
        if ref.kind == "import" and not value.startswith(("./", "../", "/")):
            continue  # a bare specifier names a package (an import map resolves it), not a file
        path = _split_suffix(value)[0]
        target = _existing(folder, path, files)
        if target is None and ref.kind == "sourcemap" and _left_out(files[logical], path):
            continue  # the map is there but not deployed (assets.exclude)
        if target is None:
            verb = {"import": "imports", "url": "loads", "sourcemap": "names the source map"}
            result.warnings.append(
                _missing(logical, ref.line, verb[ref.kind], value, _target(folder, path))
            )
            continue
        targets[ref.start] = target

    def rewrite(names: Mapping[str, str]) -> bytes:
        def new_value(ref: javascript.JsReference) -> str:
            target = targets.get(ref.start)
            if target is None or target not in names:
                return ref.value
            return _renamed(ref.value, target, names[target])

        return javascript.rewrite(data, found.references, new_value)

    return _Parsed(set(targets.values()), rewrite, data)


def _left_out(source: str, path: str) -> bool:
    """Whether a relative ``path`` from the file at ``source`` names a file on disk (one that
    is not a static file because the spec leaves it out)."""
    if not path or path.startswith("/"):
        return False
    path = _split_suffix(path)[0]
    folder = os.path.dirname(source)
    return os.path.isfile(os.path.join(folder, path)) or os.path.isfile(
        os.path.join(folder, unquote(path))
    )


def _missing(logical: str, line: int, verb: str, value: str, looked: str) -> str:
    return (
        f"{logical}:{line}: {verb} {value!r}, which is not a static file (looked for {looked}); "
        "left as written"
    )


def _existing(folder: str, path: str, files: Mapping[str, str]) -> str | None:
    """The static file a reference's path names, or None."""
    target = _target(folder, path)
    if target not in files and "%" in path:
        target = _target(folder, unquote(path))  # url(a%20b.png) is the file "a b.png"
    return target if target in files else None


def _renamed(ref: str, target: str, stored: str) -> str:
    """``ref`` (which names ``target``) pointing at ``stored`` instead, written the same way."""
    path, sep, suffix = _split_suffix(ref)
    digest = _digest_part(target, stored)
    name = posixpath.basename(path)
    return path[: len(path) - len(name)] + _with_digest(name, digest) + sep + suffix


def _target(folder: str, path: str) -> str:
    return posixpath.normpath(
        path.lstrip("/") if path.startswith("/") else posixpath.join(folder, path)
    )


def _digest_part(logical: str, hashed: str) -> str:
    """``static/a.css``, ``static/a.0123.css`` -> ``0123`` (empty when kept unhashed)."""
    name, new = posixpath.basename(logical), posixpath.basename(hashed)
    if name == new:
        return ""
    stem, dot, ext = name.rpartition(".")
    if dot and stem:
        return new[len(stem) + 1 : -(len(ext) + 1)]
    return new[len(name) + 1 :]


def _with_digest(name: str, digest: str) -> str:
    """Put ``digest`` into ``name`` the way ``hashed_name`` does."""
    if not digest:
        return name
    stem, dot, ext = name.rpartition(".")
    return f"{stem}.{digest}.{ext}" if dot and stem else f"{name}.{digest}"


def _split_suffix(ref: str) -> tuple[str, str, str]:
    for sep in ("?", "#"):
        if sep in ref:
            path, _, rest = ref.partition(sep)
            return path, sep, rest
    return ref, "", ""


def manifest_path(spec_manifest: str | None, spec_source: Path | None, static: Path) -> Path:
    """Where the logical -> hashed manifest lives on disk."""
    if spec_manifest is None:
        return static / MANIFEST_FILE
    path = Path(spec_manifest)
    if not path.is_absolute() and spec_source is not None:
        path = spec_source.parent / path
    return path


def app_manifest_path(app: Flask, spec: Spec | None) -> Path:
    """The manifest file an app reads: S3_FINGERPRINT_MANIFEST (relative to the spec file, or
    to the app without one), else ``.flask-s3-manifest.json`` in the static folder."""
    configured = app.config.get("S3_FINGERPRINT_MANIFEST")
    origin = spec.source if spec is not None and spec.source is not None else None
    if configured and origin is None and not Path(configured).is_absolute():
        configured = str(Path(app.root_path) / configured)
    return manifest_path(configured, origin, Path(app.static_folder or app.root_path))


@dataclass
class Manifest:
    """The manifest FlaskS3 reads: logical -> stored names, and integrity values if recorded."""

    names: dict[str, str]
    integrity: dict[str, str] | None = None  # logical key -> "sha384-..."


def write_manifest_file(
    path: Path, names: Mapping[str, str], integrity: Mapping[str, str] | None = None
) -> None:
    """Write the map only when it changed, atomically, so a running app never reads half.

    Format 1 holds the names only; format 2 adds ``integrity`` (written when
    ``assets.integrity`` is on, whether or not names are fingerprinted).
    """
    data: dict[str, object] = {"format": 1, "files": dict(sorted(names.items()))}
    if integrity is not None:
        data["format"] = 2
        data["integrity"] = dict(sorted(integrity.items()))
    blob = json.dumps(data, indent=1) + "\n"
    if path.exists() and path.read_text(encoding="utf-8") == blob:
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(blob, encoding="utf-8")
    tmp.replace(path)


def read_manifest(path: Path) -> Manifest:
    """Read format 1 (names) or format 2 (names and integrity values)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("format") not in (1, 2):
        raise ValueError("not a flask-s3 fingerprint manifest")
    names = {str(k): str(v) for k, v in data["files"].items()}
    if data["format"] == 1:
        return Manifest(names)
    return Manifest(names, {str(k): str(v) for k, v in data["integrity"].items()})


def read_manifest_file(path: Path) -> dict[str, str]:
    return read_manifest(path).names
