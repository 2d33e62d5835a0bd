"""Adopt what another deployer stored: gzip objects whose decoded bytes are already ours.

Flask-S3 0.3 gzipped with the file name and the time in the gzip header, so its objects
hold the same content as ours in other bytes: size and ETag differ and a plan would upload
every one again. Adopting reads each such object once, decodes it and compares the content
with the local file; where they are equal, the manifest records that this object (its ETag)
stands for our bytes (their MD5) with the headers it has, so the next plan leaves it alone.
Nothing else is written, and only under the apply lock.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field

from flask import Flask

from .. import headers as hdr
from ..assets.local import LocalAsset
from ..plan import ActionKind
from ..remote.encryption import spec_headers
from ..remote.inventory import control_key
from ..s3.errors import s3_errors
from ..s3.lock import LOCK_NAME, apply_lock
from ..s3.manifest import MANIFEST_NAME, ManifestEntry, encode_manifest
from ..s3.store import Store, put_bytes
from ..spec import Spec
from .snapshot import snapshot

MAX_ADOPT_BYTES = 64 * 1024 * 1024  # a static file larger than this is uploaded again


@dataclass
class Adoption:
    """Keys adopted, and keys looked at but left to the plan (with why)."""

    adopted: list[str] = field(default_factory=list)
    left: dict[str, str] = field(default_factory=dict)


def _raw_bytes(asset: LocalAsset) -> bytes:
    if asset.content is not None:
        return asset.content
    with open(asset.path, "rb") as fh:
        return fh.read()


def gunzip_at_most(body: bytes, limit: int) -> bytes | None:
    """One gzip member decoded, or None when it holds more than ``limit`` bytes.

    The object is the bucket's, so hostile: a few kilobytes may decode to gigabytes. Only
    ``limit + 1`` bytes (the local file's size, plus one to see that there is more) are
    ever decoded. Trailing data after the member is not 0.3's output either: None.
    """
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    decoded = decoder.decompress(body, limit + 1)
    if len(decoded) > limit or not decoder.eof or decoder.unused_data:
        return None
    return decoded


def adopt_gzip(spec: Spec, app: Flask, store: Store) -> Adoption:
    """Record in the manifest the gzip objects that decode to today's files (see module doc)."""
    result = Adoption()
    with apply_lock(store, control_key(spec, LOCK_NAME), headers=spec_headers(spec)):
        snap = snapshot(spec, app, store)
        remote, local = snap.remote, snap.local
        entries = dict(remote.manifest or {})
        for action in snap.plan.actions:
            if action.action is not ActionKind.UPDATE or action.key is None:
                continue
            asset = local.assets[action.key]
            obj = remote.objects[action.key]
            if not asset.gzip:
                continue
            if obj.size > MAX_ADOPT_BYTES:
                result.left[action.key] = "too large to read"
                continue
            with s3_errors("read", store.bucket):
                stored = store.head_object(action.key)
                body = store.get_object(action.key)
            if stored.get("Content-Encoding", "").lower() != "gzip":
                result.left[action.key] = "not stored gzip-encoded"
                continue
            raw = _raw_bytes(asset)
            try:
                decoded = gunzip_at_most(body, len(raw))
            except (OSError, EOFError, zlib.error):
                result.left[action.key] = "not a readable gzip stream"
                continue
            if decoded is None or hashlib.sha256(decoded).digest() != hashlib.sha256(raw).digest():
                result.left[action.key] = "other content"
                continue
            headers = hdr.comparable(stored, asset.headers)
            entries[action.key] = ManifestEntry(asset.md5, headers, obj.etag)
            result.adopted.append(action.key)
        if result.adopted:
            body = encode_manifest(entries, list(remote.generations))
            headers = {"Content-Type": "application/gzip", "Cache-Control": "no-store"}
            with s3_errors("upload", store.bucket):
                put_bytes(
                    store, control_key(spec, MANIFEST_NAME), body, headers | spec_headers(spec)
                )
    return result
