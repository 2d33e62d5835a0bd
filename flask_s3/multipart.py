"""Files too big for one PUT: multipart uploads, several parts at a time, bounded memory.

A part is read from disk when it is sent and dropped after, so memory stays near
``part size x parts in flight`` whatever the file's size. The part size is the smallest whole
number of MiB (8 at least) that fits the file in S3's 10,000 parts: a 5 TiB file fits.
An upload that fails or is interrupted is aborted, so no hidden parts are left to pay for.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from .local import LocalAsset
from .s3.errors import StoreError, StoreUnreachable, s3_errors
from .s3.store import Store

MIB = 1024 * 1024
MIN_PART = 8 * MIB
MAX_PARTS = 10_000
PARTS_IN_FLIGHT = 4  # per file; the apply's own workers run several files at once


def part_size(size: int) -> int:
    """The part size for a file of ``size`` bytes: at least 8 MiB, at most 10,000 parts."""
    needed = -(-size // MAX_PARTS)  # ceiling
    return max(MIN_PART, -(-needed // MIB) * MIB)


def _reader(asset: LocalAsset) -> Callable[[int, int], bytes]:
    """Read ``length`` bytes at ``offset`` of what is stored for ``asset``."""
    if asset.gzip or asset.content is not None:
        with asset.open_body() as body:  # rebuilt in memory anyway (gzip, rewritten CSS)
            whole = body.read()
        return lambda offset, length: whole[offset : offset + length]

    def read(offset: int, length: int) -> bytes:
        with open(asset.path, "rb") as fh:
            fh.seek(offset)
            return fh.read(length)

    return read


def upload_in_parts(store: Store, asset: LocalAsset, acl: str | None) -> str:
    """Upload ``asset`` as a multipart upload; the new object's ETag. Aborted on failure."""
    read = _reader(asset)
    step = part_size(asset.size)
    spans = [(n + 1, offset) for n, offset in enumerate(range(0, asset.size, step))]
    upload_id = store.create_multipart_upload(asset.key, asset.headers, acl)

    def send(span: tuple[int, int]) -> tuple[int, str]:
        number, offset = span
        data = read(offset, min(step, asset.size - offset))
        md5_b64 = base64.b64encode(hashlib.md5(data).digest()).decode()
        etag = store.upload_part(
            asset.key, upload_id, number, lambda: data, size=len(data), md5_b64=md5_b64
        )
        return number, etag

    try:
        with ThreadPoolExecutor(max_workers=min(PARTS_IN_FLIGHT, len(spans))) as pool:
            parts = list(pool.map(send, spans))
        return store.complete_multipart_upload(asset.key, upload_id, parts)
    except BaseException:
        try:
            store.abort_multipart_upload(asset.key, upload_id)
        except (StoreError, StoreUnreachable):
            pass  # the original failure is the one to report; cleanup retries next apply
        raise


def abort_leftovers(store: Store, prefixes: Sequence[str]) -> int:
    """Abort unfinished multipart uploads under our static roots (an earlier apply's)."""
    aborted = 0
    for prefix in prefixes:
        with s3_errors("list", store.bucket):
            uploads = store.list_multipart_uploads(prefix)
        for key, upload_id in uploads:
            with s3_errors("delete", store.bucket):
                store.abort_multipart_upload(key, upload_id)
            aborted += 1
    return aborted
