"""Files too big for one PUT: multipart uploads, several parts at a time, bounded memory.

The part size is the smallest whole number of MiB (8 at least) that fits the file in S3's
10,000 parts: a 5 TiB file fits. Each part goes up with its MD5 (Content-MD5, checked by S3),
taken with the whole file's MD5 in the plan's one read of the file (``parts.py``); the upload
reads each part once more, only to send it (with sendfile on the fast store over plain TCP).
Memory stays small whatever the file's size: parts are streamed, never held whole.

An upload that fails or is interrupted is aborted, so no hidden parts are left to pay for. So
is one whose bytes are not the planned ones: digests of other bytes than the plan's are refused
before anything is sent, a part whose bytes changed since they were hashed is refused by S3
(BadDigest), and a file whose stat changed while its parts went up is not completed.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from typing import IO, cast

from ..assets import parts as part_digests
from ..assets.local import LocalAsset
from ..assets.parts import MAX_PARTS as MAX_PARTS
from ..assets.parts import MIB as MIB
from ..assets.parts import MIN_PART as MIN_PART
from ..assets.parts import PartDigests, digest_parts
from ..assets.parts import part_size as part_size
from ..errors import FlaskS3Error
from ..s3.errors import StoreError, StoreUnreachable, s3_errors
from ..s3.filerange import FileRange
from ..s3.store import Body, Store

# Parts of one file sent side by side. Each holds a connection and a 256 KiB send block, not
# its part: memory does not grow with this.
PARTS_IN_FLIGHT = 8


class ChangedDuringUpload(FlaskS3Error):
    """The bytes read for a multipart upload are not the ones the plan hashed."""


def digests_of(asset: LocalAsset) -> tuple[PartDigests, bytes | None]:
    """The parts' digests of ``asset``, and its bytes when they are built in memory.

    The plan's own read of the file when it is still the file that was read; otherwise one
    more read (a hash cache hit, or assets.integrity, took the MD5 without the parts)."""
    if asset.content is not None or asset.gzip:  # rewritten or gzip output: in memory anyway
        with asset.open_body() as body:
            data = body.read()
        step = part_size(len(data))
        size, md5, md5s = digest_parts(io.BytesIO(data), step)
        return PartDigests(size, md5, step, md5s), data
    known = part_digests.known(asset.path, asset.md5)
    return (known or part_digests.digest_file(asset.path)), None


def _opener(path: str, data: bytes | None, offset: int, length: int) -> Body:
    """Opens the bytes of one part afresh (for each attempt)."""
    if data is not None:
        return lambda: data[offset : offset + length]
    return lambda: cast(IO[bytes], FileRange(path, offset, length))


def _changed(asset: LocalAsset, found: str, outcome: str) -> ChangedDuringUpload:
    return ChangedDuringUpload(
        f"{asset.path} changed since the plan ({found}, the plan uploads MD5 {asset.md5}); "
        f"{outcome}",
        "Make a new plan once the file stays put, and apply that.",
    )


def upload_in_parts(store: Store, asset: LocalAsset, acl: str | None) -> str:
    """Upload ``asset`` as a multipart upload; the new object's ETag. Aborted on failure.

    An upload whose bytes are not the planned ones (the file changed since the plan, or while
    it went up) fails with ChangedDuringUpload and is never completed, so the object is never
    stored and the manifest never vouches for it.
    """
    digests, data = digests_of(asset)
    if digests.md5 != asset.md5 or digests.size != asset.size:
        raise _changed(asset, f"its bytes have MD5 {digests.md5}", "nothing was uploaded")
    upload_id = store.create_multipart_upload(asset.key, asset.headers, acl)
    try:
        sent = _send_parts(store, asset, upload_id, digests, data)
        if data is None and not part_digests.unchanged(asset.path, digests):
            raise _changed(asset, "it was written to", "the multipart upload was aborted")
        return store.complete_multipart_upload(asset.key, upload_id, sent)
    except BaseException as exc:
        try:
            store.abort_multipart_upload(asset.key, upload_id)
        except (StoreError, StoreUnreachable):
            pass  # the original failure is the one to report; cleanup retries next apply
        if (
            isinstance(exc, (StoreError, StoreUnreachable, OSError))
            and data is None
            and not part_digests.unchanged(asset.path, digests)
        ):
            # S3 refused a part (BadDigest) or the file ran short: because it changed.
            raise _changed(asset, "it was written to", "the multipart upload was aborted") from None
        raise


def _send_parts(
    store: Store, asset: LocalAsset, upload_id: str, digests: PartDigests, data: bytes | None
) -> list[tuple[int, str]]:
    """Every part, ``PARTS_IN_FLIGHT`` at a time; (number, ETag) in order. On the first
    failure the parts not started are dropped and the ones under way finish first."""
    pool = ThreadPoolExecutor(max_workers=PARTS_IN_FLIGHT, thread_name_prefix="flask-s3-part")
    try:
        futures = []
        for number, md5_b64 in enumerate(digests.parts, start=1):
            offset, length = digests.span(number)
            futures.append(
                pool.submit(
                    store.upload_part,
                    asset.key,
                    upload_id,
                    number,
                    _opener(asset.path, data, offset, length),
                    size=length,
                    md5_b64=md5_b64,
                )
            )
        futures_wait(futures, return_when=FIRST_EXCEPTION)  # not every part before failing
        for future in futures:
            if future.done() and (failure := future.exception()) is not None:
                raise failure
        return [(number, future.result()) for number, future in enumerate(futures, start=1)]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


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
