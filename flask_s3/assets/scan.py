"""Walking the static roots: every static file of the app and its blueprints, found once.

``scan_app`` walks each static folder (hidden names, symlinks, exclusions, two folders serving
one URL), fingerprints when asked, and builds each file into a ``LocalInventory`` with
``local.build_asset``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from operator import attrgetter
from pathlib import Path
from sys import intern
from typing import TYPE_CHECKING

from ..errors import LocalFileError, PlanError
from ..hashcache import HashCache
from ..spec import Spec
from . import local
from .globs import key_matcher, outside_roots, spec_globs
from .keys import (
    StaticSource,
    join_key,
    key_filename,
    normalize_prefix,
    static_key,
    static_sources,
)
from .local import (
    HeaderMemo,
    LocalAsset,
    LocalInventory,
    build_asset,
    extension,
    stored_headers,
)
from .sri import cors_warning, module_reason

if TYPE_CHECKING:
    from flask import Flask


def scan_app(
    app: Flask, spec: Spec, on_walked: Callable[[list[str]], None] | None = None
) -> LocalInventory:
    """Scan every static folder of ``app`` (app and blueprints) into a key -> asset map.

    ``on_walked`` is given the keys the files will have (before fingerprinting), as soon as
    the folders are walked and before any file is read: the listing splits its ranges there
    instead of walking the folders a second time."""
    return scan_sources(static_sources(app), spec, fingerprint_manifest(app, spec), on_walked)


def static_roots(app: Flask, spec: Spec) -> list[str]:
    """The key prefixes the app's static folders map to: all a deploy may touch."""
    return roots_of(static_sources(app), spec)


def roots_of(sources: list[StaticSource], spec: Spec) -> list[str]:
    prefix = normalize_prefix(spec.urls.prefix)
    return [static_key(prefix, source.url_path, "") for source in sources]


def fingerprint_manifest(app: Flask, spec: Spec) -> Path | None:
    """Where the manifest FlaskS3 reads lives (None when neither fingerprinting nor
    integrity is on)."""
    if not (spec.assets.fingerprint.enabled or spec.assets.integrity):
        return None
    from .fingerprint import manifest_path

    static = Path(app.static_folder or app.root_path)
    return manifest_path(spec.assets.fingerprint.manifest, spec.source, static)


def scan_sources(
    sources: list[StaticSource],
    spec: Spec,
    manifest: Path | None = None,
    on_walked: Callable[[list[str]], None] | None = None,
) -> LocalInventory:
    """Key -> asset for every file below ``sources``; ``manifest`` is never uploaded.

    ``on_walked``: see ``scan_app``."""
    inventory = LocalInventory()
    prefix = normalize_prefix(spec.urls.prefix)
    files: dict[str, str] = {}  # logical key (no prefix) -> path on disk
    # (hash cache, endpoint, length of the folder's path with its separator) of each folder
    # (folder, endpoint, length of the folder's path with its separator) of each folder; its
    # hash cache is read once the walk is done (the listing waits for the walk, not for it)
    walked: list[tuple[Path, str, int]] = []
    # A file's relative path is its path after its folder's: not kept a second time (a
    # 200,000-file tree holds them all until the hashing), save where it is not (``odd``).
    # Its folder's index in ``walked`` is kept when not the first: no tuple per file.
    odd: dict[str, str] = {}
    slots: dict[str, int] = {}

    def relpath_of(logical: str, path: str) -> str:
        found = odd.get(logical)
        return path[walked[slots.get(logical, 0)][2] :] if found is None else found

    clashes: list[tuple[str, str, str]] = []  # (key, first file, second file)
    inventory.roots = roots_of(sources, spec)
    if spec.assets.encryption.type == "aws:kms":
        inventory.warnings.append(KMS_ETAG_WARNING)
    excluded = key_matcher(spec.assets.exclude)
    inventory.warnings += outside_roots(spec_globs(spec.assets), [s.url_path for s in sources])
    for source in sources:
        if not source.folder.is_dir():
            continue
        never = never_upload(source.folder, spec, manifest)
        slot = len(walked)
        base = source.url_path.strip("/")
        start = len(os.path.join(source.folder, ""))
        walked.append((source.folder, source.endpoint, start))
        for relpath, path in walk_static(source.folder, spec.assets.include_hidden, inventory):
            if never and relpath in never:
                continue
            # key_filename's answer without its call: the walk joins names with "/" and never
            # ends with one, and an ASCII name without backslashes is already NFC
            name = relpath if relpath.isascii() and "\\" not in relpath else key_filename(relpath)
            if base and name:  # key_filename strips the slashes: static_key's answer, quicker
                # interned: without a prefix it is the key, a string the listing holds already
                logical = intern(f"{base}/{name}")
            else:
                logical = static_key("", source.url_path, relpath)
            if excluded and excluded(logical):  # no call per file when nothing is excluded
                continue
            first = files.get(logical)
            if first is not None:
                endpoint = walked[slots.get(logical, 0)][1]
                if endpoint == source.endpoint and relpath_of(logical, first) != relpath:
                    # another spelling
                    clashes.append((logical, files[logical], path))
                    continue
                inventory.warnings.append(
                    f"{logical}: served by two static folders; the first wins "
                    f"({source.endpoint} is shadowed)"
                )
                continue
            files[logical] = path
            if slot:
                slots[logical] = slot
            if len(path) - start != len(relpath) or not path.endswith(relpath):
                odd[logical] = relpath  # another separator (Windows), another spelling
    if clashes:
        raise normalisation_clash(clashes)
    if on_walked is not None:
        # interned: the scan's keys below and the listing's are then these same strings
        on_walked([intern(f"{prefix}/{k}") for k in files] if prefix else list(files))
    caches = [(HashCache(folder), endpoint, start) for folder, endpoint, start in walked]
    content: dict[str, bytes] = {}
    kept: set[str] = set()  # already hashed by a bundler: immutable under their own names
    if spec.assets.fingerprint.enabled:
        from .bundlers import already_hashed
        from .fingerprint import fingerprint

        bundled = already_hashed(files, [s.folder for s in sources], spec)
        modules_refused = cors_warning(spec) is not None  # only then do modules matter
        try:
            hashed = fingerprint(
                files, spec.assets.fingerprint, bundled.keys, scan_hashed=modules_refused
            )
        except OSError as exc:
            raise unreadable(exc.filename or "a static file", exc) from None
        inventory.names, content, kept = hashed.names, hashed.content, hashed.hashed
        inventory.warnings += bundled.warnings + hashed.warnings
        if hashed.modules:
            problem = cors_warning(spec, module_reason(hashed.modules))
            if problem is not None:
                inventory.warnings.append(problem)
    meta_warned: set[str] = set()
    memo: HeaderMemo = {}
    header_sets: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
    kept_sets: set[int] = set()  # ids of the dicts in header_sets
    if spec.assets.integrity:
        inventory.integrity = {}
        problem = cors_warning(spec)
        if problem is not None:
            inventory.warnings.append(problem)
    names = inventory.names
    rest = files
    if not (spec.assets.fingerprint.enabled or spec.assets.integrity or spec.assets.rules):
        # The common tree (no fingerprinting, integrity or header rules): the same assets,
        # built by _build_plain with a few calls per file instead of build_asset's dozens.
        _build_plain(inventory, files, prefix, caches, slots, odd, spec, header_sets, kept_sets)
        rest = {}
    for logical, path in rest.items():
        stored = names.get(logical, logical) if names else logical
        key = _asset_key(prefix, stored)
        try:
            asset = inventory.assets[key] = build_asset(
                key,
                logical,
                path,
                spec,
                meta_warned,
                inventory.warnings,
                content.get(logical),
                stored,
                _hash_home(logical, path, caches, slots, odd),
                memo,
                immutable=logical in kept or stored != logical,
            )
        except OSError as exc:
            raise unreadable(path, exc) from None
        _share_strings(asset, header_sets, kept_sets)
        if inventory.integrity is not None and asset.sri is not None:
            inventory.integrity[logical] = asset.sri
    for cache, _, _ in caches:
        cache.save()
    return inventory


def _build_plain(
    inventory: LocalInventory,
    files: dict[str, str],
    prefix: str,
    caches: list[tuple[HashCache, str, int]],
    slots: dict[str, int],
    odd: dict[str, str],
    spec: Spec,
    header_sets: dict[tuple[tuple[str, str], ...], dict[str, str]],
    kept_sets: set[int],
) -> None:
    """``build_asset`` for every file of a scan without fingerprinting, integrity or header
    rules, in file order: there the headers follow the extension alone, and a file's MD5 comes
    from its folder's hash cache (or a read, put into it). A file whose headers are not the
    plain case (no extension, or a header that becomes metadata, warned about) takes
    ``build_asset``'s way."""
    assets = inventory.assets
    memo: HeaderMemo = {}
    meta_warned: set[str] = set()
    # extension -> (headers, gzipped, "gzip" or "raw"), shared by every file that has it
    by_ext: dict[str, tuple[dict[str, str], bool, str]] = {}
    threshold = spec.upload.multipart_threshold
    stat = os.stat
    make = LocalAsset
    for logical, path in files.items():
        key = _asset_key(prefix, logical)
        hashes, relpath = _hash_home(logical, path, caches, slots, odd)
        ext = extension(logical)  # the one stored_headers' memo goes by
        plain = by_ext.get(ext) if ext else None
        try:
            if plain is None:
                headers, became_meta, gzipped = stored_headers(logical, spec, False, memo)
                if became_meta or not ext:
                    asset = assets[key] = build_asset(
                        key,
                        logical,
                        path,
                        spec,
                        meta_warned,
                        inventory.warnings,
                        None,
                        logical,
                        (hashes, relpath),
                        memo,
                        immutable=False,
                    )
                    _share_strings(asset, header_sets, kept_sets)
                    continue
                shared = header_sets.setdefault(tuple(headers.items()), headers)
                plain = by_ext[ext] = (shared, gzipped, "gzip" if gzipped else "raw")
            found = stat(path)
            known = hashes.get(relpath, found, plain[2])
            if known is None:
                known = local.hash_stored(path, plain[1], threshold)  # as build_asset reads
                hashes.put(relpath, found, plain[2], *known)
        except OSError as exc:
            raise unreadable(path, exc) from None
        # interned: the listing and the manifest hold the same MD5 strings
        assets[key] = make(key, path, known[0], intern(known[1]), plain[0], plain[1], None)


def _asset_key(prefix: str, name: str) -> str:
    """``join_key(prefix, name)``, interned: the listing and the manifest hold the same keys and
    MD5s (interned there too), one string each in a big plan instead of three."""
    if name and name[0] != "/" and name[-1] != "/":  # join_key's answer, quicker
        return intern(f"{prefix}/{name}" if prefix else name)
    return intern(join_key(prefix, name))


def _hash_home(
    logical: str,
    path: str,
    caches: list[tuple[HashCache, str, int]],
    slots: dict[str, int],
    odd: dict[str, str],
) -> tuple[HashCache, str]:
    """The hash cache of the file's static folder, and the file's path relative to it."""
    home = caches[slots.get(logical, 0)] if slots else caches[0]
    odd_rel = odd.get(logical) if odd else None
    return home[0], path[home[2] :] if odd_rel is None else odd_rel


def _share_strings(
    asset: LocalAsset,
    header_sets: dict[tuple[tuple[str, str], ...], dict[str, str]],
    kept_sets: set[int],
) -> None:
    """The asset's MD5 interned, and its headers one dict per distinct set, not per file (a
    tree has a handful): frozen for callers, set here once before anyone else sees the asset.
    ``kept_sets``: ids of the dicts in ``header_sets`` (most assets share them already)."""
    if asset.md5 is not intern(asset.md5):
        object.__setattr__(asset, "md5", intern(asset.md5))
    if id(asset.headers) in kept_sets:
        return
    shared = header_sets.setdefault(tuple(asset.headers.items()), asset.headers)
    if shared is not asset.headers:
        object.__setattr__(asset, "headers", shared)
    else:
        kept_sets.add(id(shared))  # alive as long as the inventory holds the asset


def unreadable(path: str | os.PathLike[str], exc: OSError) -> LocalFileError:
    """A static file that cannot be read: which, why, and what to do (nothing is uploaded)."""
    why = exc.strerror or type(exc).__name__
    return LocalFileError(
        f"cannot read {os.fspath(path)}: {why}",
        "Nothing was uploaded. Make the file readable by this user (or remove it, or leave "
        "it out with assets.exclude), then run the command again.",
    )


def normalisation_clash(clashes: list[tuple[str, str, str]]) -> PlanError:
    """Two files whose names differ only in Unicode normalisation would share one key."""
    lines = [f"  {first!a} and {second!a} -> {key}" for key, first, second in clashes[:20]]
    if len(clashes) > 20:
        lines.append(f"  ... and {len(clashes) - 20} more")
    return PlanError(
        f"{len(clashes)} pair(s) of files differ only in Unicode normalisation and would be "
        f"stored under one key ({clashes[0][0]})",
        "\n".join(lines) + "\nKeys are NFC (as browsers and templates spell names); macOS "
        "writes NFD. Keep one spelling of each name: rename or delete the other file.",
    )


def never_upload(folder: Path, spec: Spec, manifest: Path | None) -> set[str]:
    """Relative paths inside ``folder`` that are never assets: the spec, the manifest."""
    never: set[str] = set()
    root = folder.resolve()
    for path in (spec.source, manifest):
        if path is None:
            continue
        try:
            never.add(Path(path).resolve().relative_to(root).as_posix())
        except (ValueError, OSError):
            continue
    return never


KMS_ETAG_WARNING = (
    "assets.encryption aws:kms: on AWS, SSE-KMS objects get ETags that are not the MD5 of "
    "their bytes, so every such object looks changed and is uploaded again on each apply"
)


def _link_text(path: str) -> str:
    try:
        return f"-> {os.readlink(path)}"
    except OSError:
        return "unreadable link"


_NAME = attrgetter("name")  # a sort key without a Python call per file


def walk_static(
    folder: Path, include_hidden: bool, inventory: LocalInventory
) -> Iterator[tuple[str, str]]:
    """Yield (relative POSIX path, file path) below ``folder``, never leaving it.

    Hidden names (a file or any parent folder starting with ".") are skipped unless
    ``include_hidden``. Symlinks are followed only when their target stays inside the folder.
    """
    root = folder.resolve()
    seen_dirs: set[Path] = {root}
    stack: list[tuple[str, str]] = [(str(folder), "")]
    while stack:
        directory, rel_dir = stack.pop()
        try:
            entries = sorted(os.scandir(directory), key=_NAME)
        except OSError as exc:
            inventory.warnings.append(f"{rel_dir or '.'}: cannot read folder ({exc.strerror})")
            continue
        for entry in entries:
            name = entry.name
            if name[0] == "." and not include_hidden:
                continue
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if entry.is_file(follow_symlinks=False):  # most entries: one test, not three
                yield rel, entry.path
                continue
            if entry.is_symlink():
                if not os.path.exists(entry.path):  # dangling, or a loop of links
                    inventory.warnings.append(
                        f"{rel}: symlink points to nothing ({_link_text(entry.path)}); skipped"
                    )
                    continue
                target = Path(entry.path).resolve()
                if not target.is_relative_to(root):
                    inventory.warnings.append(f"{rel}: symlink leaves the static folder; skipped")
                    continue
                if target.is_dir():
                    if target in seen_dirs:
                        continue
                    seen_dirs.add(target)
                    stack.append((entry.path, rel))
                elif target.is_file():
                    yield rel, entry.path
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append((entry.path, rel))
