"""The local inventory: every static file of the app and its blueprints, as it will be stored."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from sys import intern
from typing import TYPE_CHECKING, BinaryIO

from . import headers as hdr
from .contenttypes import content_type, type_matches
from .errors import LocalFileError, PlanError
from .globs import key_matcher, outside_roots, rule_matcher, spec_globs
from .hashcache import HashCache
from .keys import (
    StaticSource,
    join_key,
    key_filename,
    normalize_prefix,
    static_key,
    static_sources,
)
from .parts import digest_file
from .spec import Spec
from .sri import cors_warning, module_reason, sri_of_digest, sri_value

if TYPE_CHECKING:
    from flask import Flask

CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)  # slots: 200,000 of them in a big tree
class LocalAsset:
    """A file as it will be stored: its key, the bytes' size and MD5, and its headers."""

    key: str
    path: str
    size: int
    md5: str
    headers: dict[str, str]
    gzip: bool = False
    logical: str | None = None  # the name before fingerprinting, when it differs
    content: bytes | None = None  # rewritten bytes (fingerprinted CSS) instead of the file
    sri: str | None = None  # with assets.integrity: SHA-384 of the bytes before gzip

    @property
    def headers_are_ascii(self) -> bool:
        return all(v.isascii() for v in self.headers.values())

    @property
    def headers_digest(self) -> str:
        return hdr.digest(self.headers)

    def open_body(self) -> BinaryIO:
        """The bytes to store, streamed from disk (gzip output is rebuilt, deterministically)."""
        if self.content is not None:
            return io.BytesIO(gzip_bytes(self.content) if self.gzip else self.content)
        if self.gzip:
            with open(self.path, "rb") as fh:
                return io.BytesIO(gzip_bytes(fh.read()))
        return open(self.path, "rb")


@dataclass
class LocalInventory:
    assets: dict[str, LocalAsset] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    roots: list[str] = field(default_factory=list)  # key prefixes the static folders map to
    names: dict[str, str] = field(default_factory=dict)  # fingerprinting: logical -> stored
    integrity: dict[str, str] | None = None  # assets.integrity: logical -> sha384-...

    @property
    def total_bytes(self) -> int:
        return sum(a.size for a in self.assets.values())


def gzip_bytes(data: bytes) -> bytes:
    """Deterministic gzip: no timestamp and no file name, so the MD5 only follows content."""
    return gzip.compress(data, compresslevel=9, mtime=0)


def scan_app(app: Flask, spec: Spec) -> LocalInventory:
    """Scan every static folder of ``app`` (app and blueprints) into a key -> asset map."""
    return scan_sources(static_sources(app), spec, fingerprint_manifest(app, spec))


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
    sources: list[StaticSource], spec: Spec, manifest: Path | None = None
) -> LocalInventory:
    """Key -> asset for every file below ``sources``; ``manifest`` is never uploaded."""
    inventory = LocalInventory()
    prefix = normalize_prefix(spec.urls.prefix)
    files: dict[str, str] = {}  # logical key (no prefix) -> path on disk
    caches: list[tuple[HashCache, str]] = []  # (hash cache, endpoint) of each folder
    # logical key -> relpath as on disk, and its folder's index in ``caches`` when not the
    # first: no tuple per file (a 200,000-file tree holds them all until the hashing)
    relpaths: dict[str, str] = {}
    slots: dict[str, int] = {}
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
        cache = HashCache(source.folder)
        slot = len(caches)
        base = source.url_path.strip("/")
        caches.append((cache, source.endpoint))
        for relpath, path in walk_static(source.folder, spec.assets.include_hidden, inventory):
            if relpath in never:
                continue
            name = key_filename(relpath)
            if base and name:  # key_filename strips the slashes: static_key's answer, quicker
                # interned: without a prefix it is the key, a string the listing holds already
                logical = intern(f"{base}/{name}")
            else:
                logical = static_key("", source.url_path, relpath)
            if excluded(logical):
                continue
            first = relpaths.get(logical)  # set with files[logical]
            if first is not None:
                endpoint = caches[slots.get(logical, 0)][1]
                if endpoint == source.endpoint and first != relpath:  # another spelling
                    clashes.append((logical, files[logical], path))
                    continue
                inventory.warnings.append(
                    f"{logical}: served by two static folders; the first wins "
                    f"({source.endpoint} is shadowed)"
                )
                continue
            files[logical] = path
            relpaths[logical] = relpath
            if slot:
                slots[logical] = slot
    if clashes:
        raise normalisation_clash(clashes)
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
    if spec.assets.integrity:
        inventory.integrity = {}
        problem = cors_warning(spec)
        if problem is not None:
            inventory.warnings.append(problem)
    for logical, path in files.items():
        stored = inventory.names.get(logical, logical)
        # The listing and the manifest hold the same keys and MD5s (interned there too): one
        # string each in a big plan instead of three.
        if stored and stored[0] != "/" and stored[-1] != "/":  # join_key's answer, quicker
            key = intern(f"{prefix}/{stored}" if prefix else stored)
        else:
            key = intern(join_key(prefix, stored))
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
                (caches[slots.get(logical, 0)][0], relpaths[logical]),
                memo,
                immutable=logical in kept or stored != logical,
            )
        except OSError as exc:
            raise unreadable(path, exc) from None
        object.__setattr__(asset, "md5", intern(asset.md5))
        shared = header_sets.setdefault(tuple(asset.headers.items()), asset.headers)
        if shared is not asset.headers:
            # One dict per distinct header set, not per file (a tree has a handful): frozen
            # for callers, set here once before anyone else sees the asset.
            object.__setattr__(asset, "headers", shared)
        if inventory.integrity is not None and asset.sri is not None:
            inventory.integrity[logical] = asset.sri
    for slot, (cache, _) in enumerate(caches):
        cache.save(partial(scanned_in, relpaths, slots, slot))
    return inventory


def scanned_in(relpaths: dict[str, str], slots: dict[str, int], slot: int) -> set[str]:
    """The relative paths scanned in the folder ``slot`` (its hash cache keeps only those)."""
    return {rel for logical, rel in relpaths.items() if slots.get(logical, 0) == slot}


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
HeaderMemo = dict[tuple[str, tuple[int, ...], bool], tuple[dict[str, str], list[str]]]


def asset_headers(
    logical: str, spec: Spec, *, immutable: bool = False, memo: HeaderMemo | None = None
) -> tuple[dict[str, str], list[str]]:
    """Headers for a key (relative to the prefix): type, global headers, then matching rules.

    A fingerprinted name never changes content, so it is cached for a year, immutable,
    unless a rule says otherwise. ``memo`` shares the work between the files of one scan:
    a deploy has only a handful of distinct (type, rules) combinations.
    """
    ctype = content_type(logical)
    matching = rule_matcher(spec.assets.rules)(logical)
    found = memo.get((ctype, matching, immutable)) if memo is not None else None
    if found is None:
        headers = {"Content-Type": ctype}
        became_meta = hdr.merge(headers, spec.assets.headers)
        if immutable:
            from .fingerprint import IMMUTABLE

            headers["Cache-Control"] = IMMUTABLE
        for i in matching:
            became_meta += hdr.merge(headers, spec.assets.rules[i].headers)
        encryption = spec.assets.encryption
        headers.update(hdr.encryption_headers(encryption.type, encryption.kms_key_id))
        found = (headers, became_meta)
        if memo is not None:
            memo[(ctype, matching, immutable)] = found
    return dict(found[0]), list(found[1])


def build_asset(
    key: str,
    logical: str,
    path: str,
    spec: Spec,
    meta_warned: set[str],
    warnings: list[str],
    content: bytes | None = None,
    stored: str | None = None,
    cache: tuple[HashCache, str] | None = None,
    memo: HeaderMemo | None = None,
    immutable: bool | None = None,
) -> LocalAsset:
    if immutable is None:
        immutable = stored not in (None, logical)
    headers, became_meta = asset_headers(logical, spec, immutable=immutable, memo=memo)
    for name in became_meta:
        if name.lower() not in meta_warned:
            meta_warned.add(name.lower())
            warnings.append(
                f"header {name!r} is not an HTTP header S3 can set; it is stored as "
                f"{hdr.canonical_name(name)} metadata"
            )
    gzipped = spec.assets.gzip.enabled and type_matches(
        headers["Content-Type"], spec.assets.gzip.content_types
    )
    renamed = logical if stored not in (None, logical) else None
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    if spec.assets.integrity:
        return build_asset_sri(key, path, headers, gzipped, renamed, content, cache)
    if cache is not None and content is None:
        hashes, relpath = cache
        stat = os.stat(path)
        mode = "gzip" if gzipped else "raw"
        known = hashes.get(relpath, stat, mode)
        if known is None:
            known = hash_stored(path, gzipped, spec.upload.multipart_threshold)
            hashes.put(relpath, stat, mode, *known)
        return LocalAsset(key, path, known[0], known[1], headers, gzipped, renamed)
    if gzipped or content is not None:
        if content is None:
            with open(path, "rb") as fh:
                content_now = fh.read()
        else:
            content_now = content
        body = gzip_bytes(content_now) if gzipped else content_now
        digest = hashlib.md5(body).hexdigest()
        return LocalAsset(key, path, len(body), digest, headers, gzipped, renamed, content)
    size, md5 = hash_file(path, spec.upload.multipart_threshold)
    return LocalAsset(key, path, size, md5, headers, logical=renamed)


def build_asset_sri(
    key: str,
    path: str,
    headers: dict[str, str],
    gzipped: bool,
    renamed: str | None,
    content: bytes | None,
    cache: tuple[HashCache, str] | None,
) -> LocalAsset:
    """``build_asset`` with assets.integrity on: the SHA-384 is taken in the MD5's read."""
    if content is not None:
        body = gzip_bytes(content) if gzipped else content
        md5 = hashlib.md5(body).hexdigest()
        return LocalAsset(
            key, path, len(body), md5, headers, gzipped, renamed, content, sri_value(content)
        )
    if cache is None:
        size, md5, sri = hash_stored_sri(path, gzipped)
    else:
        hashes, relpath = cache
        stat = os.stat(path)
        mode = "gzip" if gzipped else "raw"
        known = hashes.get_sri(relpath, stat, mode)
        if known is None:
            known = hash_stored_sri(path, gzipped)
            hashes.put(relpath, stat, mode, *known)
        size, md5, sri = known
    return LocalAsset(key, path, size, md5, headers, gzipped, renamed, sri=sri)


def hash_stored_sri(path: str, gzipped: bool) -> tuple[int, str, str]:
    """Size and MD5 of the bytes stored for ``path``, and the SRI value of the original bytes."""
    if gzipped:
        with open(path, "rb") as fh:
            data = fh.read()
        body = gzip_bytes(data)
        return len(body), hashlib.md5(body).hexdigest(), sri_value(data)
    md5, sha = hashlib.md5(), hashlib.sha384()
    size = 0
    with open(path, "rb", buffering=0) as fh:
        while chunk := fh.read(CHUNK):
            size += len(chunk)
            md5.update(chunk)
            sha.update(chunk)
    return size, md5.hexdigest(), sri_of_digest(sha.digest())


def hash_stored(path: str, gzipped: bool, parts_from: int | None = None) -> tuple[int, str]:
    """Size and MD5 of the bytes that will be stored for ``path``."""
    if not gzipped:
        return hash_file(path, parts_from)
    with open(path, "rb") as fh:
        body = gzip_bytes(fh.read())
    return len(body), hashlib.md5(body).hexdigest()


def hash_file(path: str, parts_from: int | None = None) -> tuple[int, str]:
    """Size and MD5 of a file; from ``parts_from`` bytes up, its parts' MD5s are taken in the
    same read and kept for the multipart upload (``parts.py``)."""
    with open(path, "rb", buffering=0) as fh:
        chunk = fh.read(CHUNK)
        if len(chunk) < CHUNK:  # most static files: one read
            return len(chunk), hashlib.md5(chunk).hexdigest()
        if parts_from is not None and os.fstat(fh.fileno()).st_size >= parts_from:
            taken = digest_file(path)
            return taken.size, taken.md5
        digest = hashlib.md5(chunk)
        size = len(chunk)
        while chunk := fh.read(CHUNK):
            size += len(chunk)
            digest.update(chunk)
    return size, digest.hexdigest()


def _link_text(path: str) -> str:
    try:
        return f"-> {os.readlink(path)}"
    except OSError:
        return "unreadable link"


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
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            inventory.warnings.append(f"{rel_dir or '.'}: cannot read folder ({exc.strerror})")
            continue
        for entry in entries:
            if entry.name.startswith(".") and not include_hidden:
                continue
            # interned: the hash cache's keys are the same strings (hashcache.py)
            rel = intern(f"{rel_dir}/{entry.name}" if rel_dir else entry.name)
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
            elif entry.is_file(follow_symlinks=False):
                yield rel, entry.path
