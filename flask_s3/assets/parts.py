"""A large file's parts: their size, and their MD5s taken in the same read as the whole file's.

A multipart upload sends each part with its MD5 (Content-MD5, which S3 checks against the
bytes it receives), and the plan needs the whole file's MD5. Both come from one read here: the
reading thread hashes the whole file while a second thread hashes the parts (hashlib lets go
of the GIL, so the two digests run on two cores). The plan's scan takes them for files big
enough for parts and keeps them for this process, so the upload reads each part only once, to
send it: a part whose bytes are not the planned ones is refused by S3 (BadDigest).

A file's digests are only handed out while its stat (device, inode, size, mtime, ctime) is the
one it had when it was read; any write since then changes it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from ..records import frozen

MIB = 1024 * 1024
MIN_PART = 8 * MIB
MAX_PARTS = 10_000
BLOCK = MIB  # one read; a part size is a whole number of them
DEPTH = 4  # blocks read ahead of the part hashing: 4 MiB of buffers, reused


def part_size(size: int) -> int:
    """The part size for a file of ``size`` bytes: at least 8 MiB, at most 10,000 parts."""
    needed = -(-size // MAX_PARTS)  # ceiling
    return max(MIN_PART, -(-needed // MIB) * MIB)


class Readable(Protocol):
    def readinto(self, buffer: Any, /) -> int | None: ...


@frozen
class PartDigests:
    """What one read of a file (or of in-memory bytes) found."""

    size: int
    md5: str  # hex, of everything read
    step: int  # the part size
    parts: tuple[str, ...]  # base64 MD5 of each part, as Content-MD5 wants it
    stat: tuple[int, ...] = ()  # the file's signature while it was read; () for bytes

    def span(self, number: int) -> tuple[int, int]:
        """(offset, length) of part ``number`` (1-based)."""
        offset = (number - 1) * self.step
        return offset, min(self.step, self.size - offset)


def digest_parts(source: Readable, step: int) -> tuple[int, str, tuple[str, ...]]:
    """Size and MD5 (hex) of everything ``source`` gives, and the MD5 (base64) of each ``step``
    bytes, in one read: the whole digest on this thread, the parts' on a second one."""
    free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
    for _ in range(DEPTH):
        free.put(bytearray(BLOCK))  # reused: no fresh pages to fault in for every block

    def blocks(whole: Any) -> Iterator[tuple[bytearray, int]]:
        while True:
            buffer = free.get()
            length = source.readinto(buffer) or 0
            if not length:
                return
            with memoryview(buffer) as view:
                whole.update(view[:length])
            yield buffer, length

    return _hash_both(blocks, step, free.put)


def _hash_both(
    blocks: Callable[[Any], Iterator[tuple[Any, int]]], step: int, done: Callable[[Any], None]
) -> tuple[int, str, tuple[str, ...]]:
    """The whole MD5 taken by ``blocks`` (on this thread) as it yields each block, the parts'
    MD5s on a helper thread that hands each block to ``done`` once hashed."""
    work: queue.SimpleQueue[tuple[Any, int] | None] = queue.SimpleQueue()
    parts: list[str] = []

    failed: list[BaseException] = []

    def hash_parts() -> None:
        digest, filled = hashlib.md5(), 0
        while (item := work.get()) is not None:
            buffer, length = item
            try:
                if not failed:
                    with memoryview(buffer) as whole_view:
                        view = whole_view[:length]
                        while view:
                            take = min(len(view), step - filled)
                            digest.update(view[:take])
                            filled += take
                            view = view[take:]
                            if filled == step:
                                parts.append(base64.b64encode(digest.digest()).decode())
                                digest, filled = hashlib.md5(), 0
                        view.release()
                done(buffer)  # the reader waits for its buffers back: never leave it waiting
            except BaseException as exc:  # raised on the reader's thread, after the join
                failed.append(exc)
        if filled:
            parts.append(base64.b64encode(digest.digest()).decode())

    helper = threading.Thread(target=hash_parts, name="flask-s3-part-md5", daemon=True)
    helper.start()
    whole, size = hashlib.md5(), 0
    try:
        for buffer, length in blocks(whole):
            size += length
            work.put((buffer, length))
    finally:
        work.put(None)
        helper.join()
    if failed:
        raise failed[0]
    return size, whole.hexdigest(), tuple(parts)


def signature(stat: os.stat_result) -> tuple[int, ...]:
    """What changes when a file is written to, replaced or touched."""
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def digest_file(path: str) -> PartDigests:
    """Read ``path`` once for its MD5 and its parts' MD5s; kept for ``known`` to hand out."""
    with open(path, "rb", buffering=0) as fh:
        before = signature(os.fstat(fh.fileno()))
        step = part_size(before[2])
        size, md5, parts = digest_parts(fh, step)
        after = signature(os.fstat(fh.fileno()))
    # Written to while it was read: no signature, so nothing trusts these digests later.
    stable = after == before and size == before[2]
    digests = PartDigests(size, md5, step, parts, after if stable else ())
    if stable:
        with _lock:
            _read[path] = digests
    return digests


def known(path: str, md5: str) -> PartDigests | None:
    """The digests this process took of ``path``, if they are of ``md5`` and the file has not
    changed since."""
    with _lock:
        digests = _read.get(path)
    if digests is None or digests.md5 != md5 or not unchanged(path, digests):
        return None
    return digests


def unchanged(path: str, digests: PartDigests) -> bool:
    """True while ``path`` has the signature it had when ``digests`` were taken."""
    try:
        return bool(digests.stat) and signature(os.stat(path)) == digests.stat
    except OSError:
        return False


_read: dict[str, PartDigests] = {}  # path -> its digests, taken by this process's scan
_lock = threading.Lock()
