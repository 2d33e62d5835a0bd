"""A body that is a byte range of a local file: read as it is sent, never held whole.

boto3 reads it like any file. The fast store, over plain TCP, hands it to the kernel instead
(``send_to``: sendfile), so its bytes go from the page cache to the socket without passing
through Python.
"""

from __future__ import annotations

import errno
import io
import socket
from typing import Any


class FileRange(io.RawIOBase):
    """Bytes ``offset`` to ``offset + length`` of the file at ``path``.

    No part is ever held in memory whole: big buffers, freed and allocated again by several
    threads, would stay with the process (malloc keeps them) and its memory would grow.
    """

    def __init__(self, path: str, offset: int, length: int) -> None:
        super().__init__()
        self._path = path
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
        if not got:  # the file shrank: a request short of its Content-Length would hang
            raise self._short()
        self._pos += got
        return got

    def _short(self) -> OSError:
        return OSError(errno.ENODATA, "the file is shorter than it was when read", self._path)

    def send_to(self, sock: socket.socket) -> int:
        """Send the rest of the range on ``sock`` with sendfile; the bytes sent.

        A file that shrank since it was opened would leave the request short of its
        Content-Length, waiting for bytes that never come: that is an error about the file."""
        wanted = self._length - self._pos
        sent = sock.sendfile(self._file, self._start + self._pos, wanted)
        self._pos += sent
        if sent < wanted:
            raise self._short()
        return sent

    def close(self) -> None:
        self._file.close()
        super().close()
