"""Fingerprinted names: ``css/app.css`` is stored as ``css/app.<hash>.css``.

CSS ``url(...)`` and ``@import`` references to other local assets are rewritten to the hashed
names before the CSS itself is hashed, so a changed font gives its stylesheet a new name too.
The logical -> hashed map is written to a manifest file that ``FlaskS3`` reads at start-up.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

from .css import ReferenceCache, find_references, rewrite
from .errors import PlanError
from .globs import key_matcher
from .spec import FingerprintSpec, Spec

if TYPE_CHECKING:
    from flask import Flask

MANIFEST_FILE = ".flask-s3-manifest.json"
IMMUTABLE = "public, max-age=31536000, immutable"
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//|#)", re.IGNORECASE)


@dataclass
class Fingerprinted:
    """Hashed logical keys, and the rewritten bytes of the CSS files that needed it."""

    names: dict[str, str]
    content: dict[str, bytes]


def hashed_name(logical: str, data: bytes, length: int) -> str:
    """``static/css/app.css`` -> ``static/css/app.<hash>.css`` (hash of the content)."""
    digest = hashlib.sha256(data).hexdigest()[:length]
    folder, name = posixpath.split(logical)
    hashed = _with_digest(name, digest)
    return posixpath.join(folder, hashed) if folder else hashed


def fingerprint(files: Mapping[str, str], spec: FingerprintSpec) -> Fingerprinted:
    """Hash every logical key in ``files`` (logical key -> path on disk)."""
    result = Fingerprinted({}, {})
    visiting: set[str] = set()
    excluded = key_matcher(spec.exclude)
    references = ReferenceCache()

    def resolve(logical: str) -> str:
        if logical in result.names:
            return result.names[logical]
        if excluded(logical):
            result.names[logical] = logical
            return logical
        with open(files[logical], "rb") as fh:
            data = fh.read()
        if logical.lower().endswith(".css"):
            if logical in visiting:
                raise PlanError(f"{logical}: CSS files @import each other in a loop")
            visiting.add(logical)
            data = rewrite_css(logical, data, files, resolve, references)
            visiting.discard(logical)
            result.content[logical] = data
        result.names[logical] = hashed_name(logical, data, spec.length)
        return result.names[logical]

    for logical in sorted(files):
        resolve(logical)
    references.save()
    return result


def rewrite_css(
    logical: str,
    data: bytes,
    files: Mapping[str, str],
    resolve: Callable[[str], str],
    cache: ReferenceCache | None = None,
) -> bytes:
    """Point local references in a stylesheet at their hashed names.

    References are found by a CSS tokenizer (see ``css.py``): text in comments and ordinary
    strings is left alone. ``data:``, absolute and fragment-only URLs are not files.
    """
    text = data.decode("utf-8", errors="surrogateescape")
    references = cache.references(text) if cache is not None else find_references(text)
    if not references:
        return data
    folder = posixpath.dirname(logical)

    def new_value(ref: str) -> str:
        if not ref or EXTERNAL.match(ref):
            return ref
        path, sep, suffix = _split_suffix(ref)
        target = _target(folder, path)
        if target not in files and "%" in path:
            target = _target(folder, unquote(path))  # url(a%20b.png) is the file "a b.png"
        if target not in files:
            raise PlanError(
                f"{logical}: references {ref!r}, which is not a static file (looked for {target})",
                "Fix the reference, add the file, or exclude the stylesheet from "
                "assets.fingerprint with fingerprint.exclude.",
            )
        digest = _digest_part(target, resolve(target))
        name = posixpath.basename(path)
        return path[: len(path) - len(name)] + _with_digest(name, digest) + sep + suffix

    return rewrite(text, references, new_value).encode("utf-8", errors="surrogateescape")


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
