"""The local inventory: every static file of the app and its blueprints, as it will be stored.

The records (``LocalAsset``, ``LocalInventory``) and how one file becomes an asset: headers,
gzip, MD5 and SRI, through the hash cache. Walking the static folders is ``scan.py``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
from dataclasses import dataclass, field
from sys import intern
from typing import BinaryIO

from .. import headers as hdr
from ..hashcache import HashCache
from ..records import record
from ..spec import Spec
from .contenttypes import content_type, type_matches
from .globs import rule_matcher
from .parts import digest_file
from .sri import sri_of_digest, sri_value

CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True, init=False)  # slots: 200,000 of them in a big tree
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

    def __init__(
        self,
        key: str,
        path: str,
        size: int,
        md5: str,
        headers: dict[str, str],
        gzip: bool = False,
        logical: str | None = None,
        content: bytes | None = None,
        sri: str | None = None,
    ) -> None:
        # The slots' own setters: half the time of a frozen dataclass's generated __init__
        # (an object.__setattr__ looked up per field), made 200,000 times in a big tree.
        _SET_KEY(self, key)
        _SET_PATH(self, path)
        _SET_SIZE(self, size)
        _SET_MD5(self, md5)
        _SET_HEADERS(self, headers)
        _SET_GZIP(self, gzip)
        _SET_LOGICAL(self, logical)
        _SET_CONTENT(self, content)
        _SET_SRI(self, sri)

    @property
    def headers_are_ascii(self) -> bool:
        return all(v.isascii() for v in self.headers.values())

    @property
    def headers_digest(self) -> str:
        return hdr.digest(self.headers)

    def open_body(self) -> BinaryIO:
        """The bytes to store, streamed from disk (gzip output is rebuilt, deterministically,
        unless this run's scan kept it: ``kept_gzip``)."""
        if self.content is not None:
            return io.BytesIO(gzip_bytes(self.content) if self.gzip else self.content)
        if self.gzip:
            kept = _KEPT_GZIP.get(self.path)
            if kept is not None and kept[0] == self.md5 and len(kept[1]) == self.size:
                return io.BytesIO(kept[1])
            with open(self.path, "rb") as fh:
                return io.BytesIO(gzip_bytes(fh.read()))
        return open(self.path, "rb")


(
    _SET_KEY,
    _SET_PATH,
    _SET_SIZE,
    _SET_MD5,
    _SET_HEADERS,
    _SET_GZIP,
    _SET_LOGICAL,
    _SET_CONTENT,
    _SET_SRI,
) = (
    LocalAsset.__dict__[name].__set__
    for name in ("key", "path", "size", "md5", "headers", "gzip", "logical", "content", "sri")
)


@record
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


# The gzip output the scan made for files the hash cache did not know (new or changed: the
# ones an apply is about to upload), by path, with its MD5: compressing at level 9 costs more
# than the upload on a fast link, and the body then is the bytes the plan's MD5 was taken of.
# Bounded; a file past the bound is compressed again when it is uploaded.
_KEPT_GZIP: dict[str, tuple[str, bytes]] = {}
KEPT_GZIP_BYTES = 16 * 1024 * 1024
_kept_total = [0]


def kept_gzip(path: str, body: bytes, md5: str) -> None:
    """Keep ``body`` (the gzip output of ``path``, MD5 ``md5``) for its upload, within bounds."""
    if len(body) > KEPT_GZIP_BYTES // 64 or _kept_total[0] + len(body) > KEPT_GZIP_BYTES:
        return
    old = _KEPT_GZIP.get(path)
    _KEPT_GZIP[path] = (md5, body)
    _kept_total[0] += len(body) - (len(old[1]) if old is not None else 0)


RulesMemo = dict[tuple[str, tuple[int, ...], bool], tuple[dict[str, str], list[str]]]
# (type, rules matched, immutable) -> headers as stored (shared), names become metadata, gzip
HeaderMemo = dict[tuple[str, tuple[int, ...], bool], tuple[dict[str, str], list[str], bool]]


def asset_headers(
    logical: str, spec: Spec, *, immutable: bool = False, memo: RulesMemo | None = None
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


def stored_headers(
    logical: str, spec: Spec, immutable: bool, memo: HeaderMemo | None
) -> tuple[dict[str, str], list[str], bool]:
    """The headers stored with ``logical`` (Content-Encoding included), the names among them
    that become metadata, and whether it is gzipped.

    With ``memo`` (one scan's), each distinct combination is built once and its dict is shared
    by every asset that has it, not copied per file: a tree has a handful."""
    by_suffix = None
    if memo is not None and not spec.assets.rules:
        # Without rules the answer follows the extension alone: looked up by the name's end,
        # without working out its content type and matching no rules, once per file of a scan.
        by_suffix = _suffix_key(logical, immutable)
        if by_suffix is not None:
            found = memo.get(by_suffix)
            if found is not None:
                return found
    key = (content_type(logical), rule_matcher(spec.assets.rules)(logical), immutable)
    found = memo.get(key) if memo is not None else None
    if found is None:
        headers, became_meta = asset_headers(logical, spec, immutable=immutable)
        gzipped = spec.assets.gzip.enabled and type_matches(
            headers["Content-Type"], spec.assets.gzip.content_types
        )
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        found = (headers, became_meta, gzipped)
        if memo is not None:
            memo[key] = found
    if by_suffix is not None and memo is not None:
        memo[by_suffix] = found
    return found


_BY_SUFFIX = (-1,)  # in a memo key, where the rules matched: no rule index is negative


def extension(logical: str) -> str:
    """``logical``'s extension as ``content_type`` takes it (the last dot of the last segment,
    with something other than dots before it); "" when unsure: no extension, a hidden name, or
    dots only before it."""
    dot = logical.rfind(".")
    if dot <= logical.rfind("/") + 1 or logical[dot - 1] == ".":
        return ""
    return logical[dot:]


def _suffix_key(logical: str, immutable: bool) -> tuple[str, tuple[int, ...], bool] | None:
    """A memo key for ``logical`` by its ``extension``, or None when unsure (the long way)."""
    ext = extension(logical)
    return (ext, _BY_SUFFIX, immutable) if ext else None


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
    headers, became_meta, gzipped = stored_headers(logical, spec, immutable, memo)
    for name in became_meta:
        if name.lower() not in meta_warned:
            meta_warned.add(name.lower())
            warnings.append(
                f"header {name!r} is not an HTTP header S3 can set; it is stored as "
                f"{hdr.canonical_name(name)} metadata"
            )
    renamed = logical if stored not in (None, logical) else None
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
        # interned: the listing and the manifest hold the same MD5 strings
        return LocalAsset(key, path, known[0], intern(known[1]), headers, gzipped, renamed)
    if gzipped or content is not None:
        if content is None:
            with open(path, "rb") as fh:
                content_now = fh.read()
        else:
            content_now = content
        body = gzip_bytes(content_now) if gzipped else content_now
        digest = hashlib.md5(body).hexdigest()
        if gzipped and content is None:
            kept_gzip(path, body, digest)
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
        digest = hashlib.md5(body).hexdigest()
        kept_gzip(path, body, digest)
        return len(body), digest, sri_value(data)
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
    md5 = hashlib.md5(body).hexdigest()
    kept_gzip(path, body, md5)
    return len(body), md5


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
