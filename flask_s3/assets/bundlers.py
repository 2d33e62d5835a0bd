"""A bundler's output, already content-hashed: which static files to store under their own names.

Vite, webpack, esbuild and Rollup name their chunks after their content
(``assets/index-4f3a2b1c.js``) and import each other by those names. Hashing them a second time
would break those imports and the bundler's manifest, so they are recognised and kept:

- from a Vite manifest (``<outDir>/.vite/manifest.json``: entries with ``file``, ``css`` and
  ``assets``, relative to ``outDir``) or a webpack manifest (``manifest.json`` from
  webpack-manifest-plugin: a flat map of source name -> output path), found in the static
  folders or named in ``assets.fingerprint.manifests``;
- from globs in ``assets.fingerprint.hashed``.

A source map next to a kept file (``index-4f3a2b1c.js.map``) is kept too: the file names it.
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import PlanError
from ..spec import Spec
from .globs import key_matcher

VITE_MANIFEST = (".vite", "manifest.json")
WEBPACK_MANIFEST = "manifest.json"
MAX_MANIFEST = 16 * 1024 * 1024  # a larger "manifest" is not one a bundler wrote


@dataclass
class Hashed:
    """Keys to store as they are, and warnings about the manifests they came from."""

    keys: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)
    manifests: list[str] = field(default_factory=list)  # the manifests read, for messages


def already_hashed(files: Mapping[str, str], folders: Iterable[Path], spec: Spec) -> Hashed:
    """The logical keys in ``files`` (key -> path on disk) that a bundler already hashed.

    ``folders`` are the static folders, searched for manifests. A manifest named in the spec
    that is missing or unreadable is an error; one found by looking is read only if it has
    the shape of a bundler's manifest.
    """
    found = Hashed()
    fingerprint = spec.assets.fingerprint
    by_path = _LazyPaths(files)
    named: list[Path] = []
    for name in fingerprint.manifests:
        path = Path(name)
        if not path.is_absolute() and spec.source is not None:
            path = Path(spec.source).parent / path
        named.append(path)
    for i, path in enumerate(named):
        where = f"assets.fingerprint.manifests[{i}]"
        try:
            data = _load(path)
        except (OSError, ValueError, RecursionError) as exc:
            raise PlanError(
                f"{where}: cannot read the bundler manifest {path} ({exc})",
                "Build the front end first (npm run build), or fix the path: it is taken "
                "from the spec's folder.",
            ) from None
        entries = _entries(path, data)
        if entries is None:
            raise PlanError(
                f"{where}: {path} is neither a Vite nor a webpack manifest",
                "Name the .vite/manifest.json Vite writes with build.manifest, or the "
                "manifest.json of webpack-manifest-plugin.",
            )
        _add(found, path, entries, files, by_path, strict=True)
    seen = {_real(str(p)) for p in named}
    for path in _discovered(files, folders):
        if _real(str(path)) in seen:
            continue
        seen.add(_real(str(path)))
        try:
            data = _load(path)
        except (OSError, ValueError, RecursionError):
            continue  # not a bundler's manifest after all (a web app manifest, say)
        entries = _entries(path, data)
        if entries is not None:
            _add(found, path, entries, files, by_path, strict=path.parent.name == ".vite")
    globbed = key_matcher(fingerprint.hashed)
    found.keys.update(key for key in files if globbed(key))
    found.keys.update(
        key for key in files if key.endswith(".map") and key[: -len(".map")] in found.keys
    )
    return found


def _discovered(files: Mapping[str, str], folders: Iterable[Path]) -> list[Path]:
    """Manifests in the static folders: ``.vite/manifest.json`` beside any folder that holds
    files (hidden, so not among ``files``), and every file named ``manifest.json``."""
    out: list[Path] = []
    for folder in folders:
        directories: set[str] = set()
        root = str(folder)
        for path in files.values():
            if not path.startswith(root + os.sep):
                continue
            parent = os.path.dirname(path)
            while len(parent) >= len(root) and parent not in directories:
                directories.add(parent)
                parent = os.path.dirname(parent)
        for directory in sorted(directories):
            candidate = Path(directory, *VITE_MANIFEST)
            if candidate.is_file():
                out.append(candidate)
    out += [Path(p) for k, p in sorted(files.items()) if posixpath.basename(k) == WEBPACK_MANIFEST]
    return out


def _load(path: Path) -> object:
    if path.stat().st_size > MAX_MANIFEST:
        raise ValueError("larger than 16 MiB")
    return json.loads(path.read_text(encoding="utf-8"))


def _entries(path: Path, data: object) -> list[str] | None:
    """The output files a manifest names, as paths relative to its build folder (or rooted
    at ``/``: a URL path), or None when it is not a bundler's manifest.

    Vite's entries are objects with ``file`` (also when ``build.manifest`` gives the file
    another name); webpack-manifest-plugin's are strings.
    """
    if not isinstance(data, dict) or not data:
        return None
    if all(isinstance(entry, dict) for entry in data.values()):  # Vite's shape
        out: list[str] = []
        for entry in data.values():
            if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
                return None
            out.append(entry["file"])
            for name in ("css", "assets"):
                values = entry.get(name, [])
                if isinstance(values, list):
                    out += [v for v in values if isinstance(v, str)]
        return out
    if all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        return [v for k, v in data.items() if posixpath.basename(k) != posixpath.basename(v)]
    return None


def _add(
    found: Hashed,
    manifest: Path,
    entries: list[str],
    files: Mapping[str, str],
    by_path: _LazyPaths,
    *,
    strict: bool,
) -> None:
    """Keys for a manifest's entries; with ``strict``, an entry that is no static file is a
    warning (a webpack manifest found by looking may be something else: no noise)."""
    base = manifest.parent.parent if manifest.parent.name == ".vite" else manifest.parent
    found.manifests.append(str(manifest))
    for entry in entries:
        parts = urlsplit(entry)
        path = unquote(parts.path)
        key = None
        if parts.scheme or parts.netloc or path.startswith("/"):
            key = _by_url_path(path, files)
        else:
            key = by_path.get(_real(str(base / path)))
        if key is not None:
            found.keys.add(key)
        elif strict:
            found.warnings.append(
                f"{manifest}: names {entry!r}, which is not a static file; build the front end "
                "into a static folder"
            )


def _by_url_path(path: str, files: Mapping[str, str]) -> str | None:
    """The key a URL path (``/static/dist/x.js``, with any prefix before it) names."""
    parts = path.strip("/").split("/")
    for i in range(len(parts)):
        key = "/".join(parts[i:])
        if key in files:
            return key
    return None


def _real(path: str) -> str:
    return os.path.normpath(os.path.abspath(path))


class _LazyPaths:
    """Path on disk -> key, built on first use: most deploys have no manifest to resolve."""

    def __init__(self, files: Mapping[str, str]) -> None:
        self.files = files
        self.table: dict[str, str] | None = None

    def get(self, path: str) -> str | None:
        if self.table is None:
            self.table = {_real(p): key for key, p in self.files.items()}
        return self.table.get(path)
