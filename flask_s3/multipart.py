"""Files too big for one PUT: multipart uploads, several parts at a time, bounded memory.

A part is streamed from disk as it is sent, in small blocks, so memory stays small whatever
the file's size. The part size is the smallest whole
number of MiB (8 at least) that fits the file in S3's 10,000 parts: a 5 TiB file fits.
An upload that fails or is interrupted is aborted, so no hidden parts are left to pay for.
So is one whose bytes are not the planned ones: the MD5 of what is sent is checked.
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from typing import IO, Any, cast

from .errors import FlaskS3Error
from .local import LocalAsset
from .s3.errors import StoreError, StoreUnreachable, s3_errors
from .s3.store import Body, Store

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


class ChangedDuringUpload(FlaskS3Error):
    """The bytes read for a multipart upload are not the ones the plan hashed."""


def _read_part(source: IO[bytes], length: int, whole: Any) -> tuple[bytes | None, str]:
    """Read the next ``length`` bytes of ``source`` once: the part's MD5 (base64, sent as
    Content-MD5, which S3 checks against what arrives) and, fed in order, the whole object's.

    The bytes themselves are kept only for an in-memory source; a file part is read again from
    disk as it is sent, and S3 refuses it (BadDigest) if it is not what was hashed here.
    """
    digest = hashlib.md5()
    kept = io.BytesIO() if isinstance(source, io.BytesIO) else None
    left = length
    while left > 0:
        block = source.read(min(MIB, left))
        if not block:
            break  # shorter than planned: the whole MD5 will not match
        digest.update(block)
        whole.update(block)
        if kept is not None:
            kept.write(block)
        left -= len(block)
    return (kept.getvalue() if kept is not None else None), base64.b64encode(
        digest.digest()
    ).decode()


def _opener(asset: LocalAsset, data: bytes | None, offset: int, length: int) -> Body:
    """Opens the bytes of one part afresh (for each attempt)."""
    if data is not None:  # gzip output or rewritten CSS: in memory anyway
        return lambda: io.BytesIO(data)
    return lambda: cast(IO[bytes], _Span(asset.path, offset, length))


def upload_in_parts(store: Store, asset: LocalAsset, acl: str | None) -> str:
    """Upload ``asset`` as a multipart upload; the new object's ETag. Aborted on failure.

    The bytes are read once, in order, to hash each part and the whole object: an upload whose
    bytes are not the planned ones (the file changed since the plan, or while it went up) is
    aborted with ChangedDuringUpload before it is completed, so the object is never stored
    and the manifest never vouches for it.
    """
    step = part_size(asset.size)
    upload_id = store.create_multipart_upload(asset.key, asset.headers, acl)
    whole = hashlib.md5()
    try:
        with ThreadPoolExecutor(max_workers=PARTS_IN_FLIGHT) as pool, asset.open_body() as source:
            sent: list[tuple[int, Future[str]]] = []
            for number, offset in enumerate(range(0, asset.size, step), start=1):
                length = min(step, asset.size - offset)
                data, md5_b64 = _read_part(source, length, whole)
                # Read ahead of the sending by a few parts at most.
                while sum(not f.done() for _, f in sent) >= PARTS_IN_FLIGHT:
                    futures_wait([f for _, f in sent], return_when=FIRST_COMPLETED)
                opener = _opener(asset, data, offset, length)
                sent.append(
                    (
                        number,
                        pool.submit(
                            store.upload_part,
                            asset.key,
                            upload_id,
                            number,
                            opener,
                            size=length,
                            md5_b64=md5_b64,
                        ),
                    )
                )
            parts = [(number, future.result()) for number, future in sent]
        if whole.hexdigest() != asset.md5:
            raise ChangedDuringUpload(
                f"{asset.path} changed since the plan (its bytes have MD5 {whole.hexdigest()}, "
                f"the plan uploads {asset.md5}); the multipart upload was aborted",
                "Make a new plan once the file stays put, and apply that.",
            )
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
