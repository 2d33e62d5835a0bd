"""Files too big for one PUT: multipart uploads, several parts at a time, bounded memory.

A part is streamed from disk as it is sent, in small blocks, so memory stays small whatever
the file's size. The part size is the smallest whole
number of MiB (8 at least) that fits the file in S3's 10,000 parts: a 5 TiB file fits.
An upload that fails or is interrupted is aborted, so no hidden parts are left to pay for.
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any, cast

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


class _Span(io.RawIOBase):
    """Bytes ``offset`` to ``offset + length`` of a file, read as they are sent.

    No part is ever held in memory whole: big buffers, freed and allocated again by several
    threads, would stay with the process (malloc keeps them) and its memory would grow.
    """

    def __init__(self, path: str, offset: int, length: int) -> None:
        super().__init__()
        self._file = open(path, "rb")
        self._start, self._length, self._pos = offset, length, 0
        self._file.seek(offset)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._length}[whence]
        self._pos = max(0, min(self._length, base + pos))
        self._file.seek(self._start + self._pos)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), self._length - self._pos)
        if wanted <= 0:
            return 0
        got = self._file.readinto(memoryview(buffer)[:wanted]) or 0
        self._pos += got
        return got

    def close(self) -> None:
        self._file.close()
        super().close()


def _span_md5(opener: Callable[[], IO[bytes]]) -> str:
    digest = hashlib.md5()
    with opener() as body:
        for block in iter(lambda: body.read(MIB), b""):
            digest.update(block)
    return base64.b64encode(digest.digest()).decode()


def _opener(asset: LocalAsset, offset: int, length: int) -> Callable[[], IO[bytes]]:
    """Opens the bytes of one part afresh (for each attempt)."""
    if asset.gzip or asset.content is not None:
        with asset.open_body() as body:  # in memory anyway (gzip output, rewritten CSS)
            part = body.read()[offset : offset + length]
        return lambda: io.BytesIO(part)
    return lambda: cast(IO[bytes], _Span(asset.path, offset, length))


def upload_in_parts(store: Store, asset: LocalAsset, acl: str | None) -> str:
    """Upload ``asset`` as a multipart upload; the new object's ETag. Aborted on failure."""
    step = part_size(asset.size)
    spans = [(n + 1, offset) for n, offset in enumerate(range(0, asset.size, step))]
    upload_id = store.create_multipart_upload(asset.key, asset.headers, acl)

    def send(span: tuple[int, int]) -> tuple[int, str]:
        number, offset = span
        length = min(step, asset.size - offset)
        opener = _opener(asset, offset, length)
        etag = store.upload_part(
            asset.key, upload_id, number, opener, size=length, md5_b64=_span_md5(opener)
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
