"""The hash cache packed: sorted relative paths and one fixed-size binary record per path.

A 200,000-file tree keeps its whole hash cache in memory during the scan, beside the listing
and the local inventory: as text entries in a dict, keyed by path strings (format 2), it took
about 260 bytes a file; packed, about 80 (the path's bytes and where they end, and a 49-byte
record; 97 with the SRI value).

The file (format 3)::

    MAGIC, then HEADER (written_ns, count, record width, length of the names)
    the relative paths, UTF-8 (surrogates passed through), separated by NUL, in byte order
    count records of the given width, in the same order

Read from the user's own cache folder, but still untrusted: any damage (a short or long file,
an unknown width, names out of order or repeated) makes the whole file an empty cache, a name
no path encodes to is never found, and a record with unknown flags is a miss. A record only
ever says "this stat had this MD5"; hashcache.py decides whether the stat is the file's and old
enough to trust.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import struct
import tempfile
from array import array
from collections.abc import Callable, Iterator
from functools import partial
from itertools import accumulate, pairwise
from pathlib import Path
from typing import BinaryIO, NamedTuple

MAGIC = b"flask-s3 md5 cache\n"
HEADER = struct.Struct("<qIIQ")  # written_ns, count, record width, bytes of names
# size, mtime_ns, inode, flags, stored size, MD5 (binary); wide records add the SHA-384
RECORD = struct.Struct("<QqQBQ16s")
SRI = struct.Struct("48s")
NARROW, WIDE = RECORD.size, RECORD.size + SRI.size
GZIP, HAS_SRI = 1, 2  # flags
SRI_PREFIX = "sha384-"


class Entry(NamedTuple):
    stat: tuple[int, int, int]  # size, mtime_ns, inode of the file when it was hashed
    mode: str  # raw or gzip
    size: int  # of the stored bytes
    md5: str  # hex, of the stored bytes
    sri: str | None  # sha384-... of the original bytes, when integrity was on


def pack(entry: Entry, width: int) -> bytes | None:
    """The record for ``entry`` (None when it cannot be one: it is then not cached)."""
    if entry.mode not in ("raw", "gzip") or len(entry.md5) != 32:
        return None
    flags = GZIP if entry.mode == "gzip" else 0
    try:
        digest = bytes.fromhex(entry.md5)
        sri = sri_bytes(entry.sri) if width == WIDE else None
        if sri is not None:
            flags |= HAS_SRI
        record = RECORD.pack(*entry.stat, flags, entry.size, digest)
    except (ValueError, struct.error):
        return None
    return record + (sri or bytes(SRI.size)) if width == WIDE else record


def sri_bytes(sri: str | None) -> bytes | None:
    """The 48 bytes of a ``sha384-`` value, or None when it is not one exactly."""
    if sri is None or not sri.startswith(SRI_PREFIX):
        return None
    try:
        raw = base64.b64decode(sri[len(SRI_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == SRI.size and sri_text(raw) == sri else None


def sri_text(raw: bytes) -> str:
    return SRI_PREFIX + base64.b64encode(raw).decode("ascii")


class Table:
    """Sorted names and their records (``width`` bytes each), as read or merged.

    The names stay one block of bytes as in the file (UTF-8, NUL between them) with where
    each ends, not a string each: a plan's scan keeps only the paths it needs."""

    def __init__(
        self,
        blob: bytes = b"",
        ends: array[int] | None = None,
        records: bytes = b"",
        width: int = NARROW,
    ) -> None:
        self.blob = blob
        self.ends = ends if ends is not None else array("Q")
        self.records = records
        self.width = width

    def __len__(self) -> int:
        return len(self.ends)

    def name(self, index: int) -> bytes:
        return self.blob[self.ends[index - 1] + 1 if index else 0 : self.ends[index]]

    def is_name(self, index: int, name: bytes) -> bool:
        if index >= len(self.ends):
            return False
        start = self.ends[index - 1] + 1 if index else 0
        return self.ends[index] - start == len(name) and self.blob.startswith(name, start)

    def find(self, name: bytes) -> int:
        """The index of ``name``, or -1 (the names are in byte order)."""
        low, high = 0, len(self.ends)
        while low < high:
            middle = (low + high) // 2
            if self.name(middle) < name:
                low = middle + 1
            else:
                high = middle
        return low if self.is_name(low, name) else -1

    def record(self, index: int) -> bytes:
        return self.records[index * self.width : (index + 1) * self.width]

    def known(
        self, index: int, stat: tuple[int, int, int], mode: str
    ) -> tuple[int, str, str | None] | None:
        """(stored size, MD5, SRI value) when the record at ``index`` is of ``stat`` and
        ``mode``: ``entry`` without an Entry made for every file of a warm scan."""
        size, mtime, inode, flags, stored, digest = RECORD.unpack_from(
            self.records, index * self.width
        )
        if (size, mtime, inode) != stat or flags & GZIP != (mode == "gzip"):
            return None
        if mode not in ("raw", "gzip") or flags & ~(GZIP | HAS_SRI):
            return None
        if not flags & HAS_SRI:
            return stored, digest.hex(), None
        entry = self.entry(index)
        return None if entry is None else (stored, entry.md5, entry.sri)

    def entry(self, index: int) -> Entry | None:
        """The record at ``index``; None when its flags are not ones this version wrote."""
        offset = index * self.width
        size, mtime, inode, flags, stored, digest = RECORD.unpack_from(self.records, offset)
        if flags & ~(GZIP | HAS_SRI) or (flags & HAS_SRI and self.width != WIDE):
            return None
        sri = None
        if flags & HAS_SRI:
            sri = sri_text(SRI.unpack_from(self.records, offset + RECORD.size)[0])
        mode = "gzip" if flags & GZIP else "raw"
        return Entry((size, mtime, inode), mode, stored, digest.hex(), sri)


def encoded(name: str) -> bytes:
    """A relative path as the file holds it (any str a file name can be, surrogates too)."""
    return name.encode("utf-8", "surrogatepass")


class Added:
    """Entries put during a scan, in the order they came: names and packed records."""

    def __init__(self) -> None:
        self.names: list[bytes] = []
        self.records = bytearray()
        self.width = 0  # decided by the first entry: wide when it has an SRI value

    def __len__(self) -> int:
        return len(self.names)

    def add(self, name: bytes, entry: Entry) -> None:
        if not self.width:
            self.width = WIDE if entry.sri is not None else NARROW
        record = None
        if self.width == NARROW and entry.mode == "raw" and len(entry.md5) == 32:
            try:  # the common case, without pack()'s checks for SRI values and modes
                record = RECORD.pack(*entry.stat, 0, entry.size, bytes.fromhex(entry.md5))
            except (ValueError, struct.error):
                return
        else:
            record = pack(entry, self.width)
        if record is not None and b"\0" not in name:  # else not cached: costs a hash next time
            self.names.append(name)
            self.records += record

    def record(self, index: int) -> bytes:
        return bytes(self.records[index * self.width : (index + 1) * self.width])


def widened(record: bytes, width: int) -> bytes:
    """A record at ``width``: padded with an empty SRI value, or cut to the narrow part (its
    SRI flag cleared, so the value is taken again next time)."""
    if len(record) == width:
        return record
    if width == WIDE:
        return record + bytes(SRI.size)
    flags = record[24] & ~HAS_SRI  # the flags byte follows size, mtime and inode
    return record[:24] + bytes([flags]) + record[25:NARROW]


class Merge(NamedTuple):
    """The loaded records flagged 1 in ``keep`` and the added ones, in name order (the last
    added wins when a name was added twice): what a save writes, read twice (names, then
    records) instead of built as a second table at the end of a scan, where a plan peaks."""

    table: Table
    keep: bytearray
    added: Added

    @property
    def width(self) -> int:
        widths = (self.added.width, self.table.width if 1 in self.keep else 0)
        return WIDE if WIDE in widths else NARROW

    def items(self) -> Iterator[tuple[bytes, Callable[[], bytes]]]:
        """(name, its record) in name order; records are made only when asked for."""
        table, added = self.table, self.added
        order = sorted(range(len(added)), key=added.names.__getitem__)
        kept = (i for i, flag in enumerate(self.keep) if flag == 1)
        old = next(kept, -1)
        for rank, new in enumerate(order):
            name = added.names[new]
            if rank + 1 < len(order) and added.names[order[rank + 1]] == name:
                continue  # added again later: that one is kept
            while old >= 0 and table.name(old) < name:
                yield table.name(old), partial(table.record, old)
                old = next(kept, -1)
            if old >= 0 and table.is_name(old, name):
                old = next(kept, -1)  # replaced
            yield name, partial(added.record, new)
        while old >= 0:
            yield table.name(old), partial(table.record, old)
            old = next(kept, -1)

    def table_of(self) -> Table:
        width = self.width
        blob = bytearray()
        ends = array("Q")
        records = bytearray()
        for name, record in self.items():
            blob += (b"\0" if ends else b"") + name
            ends.append(len(blob))
            records += widened(record(), width)
        return Table(bytes(blob), ends, bytes(records), width)


def read_table(path: Path) -> tuple[int, Table]:
    """(written_ns, table) of a format 3 file; FileNotFoundError when there is none, another
    OSError or ValueError when it cannot be trusted as a whole."""
    with open(path, "rb") as fh:
        total = os.fstat(fh.fileno()).st_size
        head = fh.read(len(MAGIC) + HEADER.size)
        if len(head) != len(MAGIC) + HEADER.size or not head.startswith(MAGIC):
            raise ValueError("not a hash cache")
        written_ns, count, width, names_size = HEADER.unpack_from(head, len(MAGIC))
        # sizes checked against the file before anything that large is read
        if width not in (NARROW, WIDE) or len(head) + names_size + count * width != total:
            raise ValueError("hash cache of another shape")
        blob = fh.read(names_size)
        records = fh.read(count * width)
    if len(blob) != names_size or len(records) != count * width:
        raise ValueError("hash cache changed while read")
    names = blob.split(b"\0") if count else []
    if len(names) != count or any(a >= b for a, b in pairwise(names)):
        raise ValueError("hash cache names out of order")
    # where each name ends: the NULs between them, and the end of the block
    ends = array("Q", (end - 1 for end in accumulate(len(n) + 1 for n in names)))
    return written_ns, Table(blob, ends, records, width)


def read_json_table(path: Path) -> tuple[int, Table]:
    """The entries of a format 2 file (JSON, one "size mtime inode mode stored md5[ sri]"
    string per path), packed; (0, empty) when it is missing or damaged."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("v") != 2 or not isinstance(data["files"], dict):
            return 0, Table()
        written_ns = int(data["written_ns"])
        added = Added()
        for name, text in data["files"].items():
            entry = json_entry(text)
            if isinstance(name, str) and entry is not None:
                added.add(encoded(name), entry)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return 0, Table()
    return written_ns, Merge(Table(), bytearray(), added).table_of()


def json_entry(text: object) -> Entry | None:
    if not isinstance(text, str):
        return None
    fields = text.split(" ")
    if len(fields) not in (6, 7):
        return None
    try:
        size, mtime, inode, stored = int(fields[0]), int(fields[1]), int(fields[2]), int(fields[4])
    except ValueError:
        return None
    sri = fields[6] if len(fields) == 7 else None
    return Entry((size, mtime, inode), fields[3], stored, fields[5], sri)


def write_batches(fh: BinaryIO, parts: Iterator[bytes], between: bytes) -> tuple[int, int]:
    """Write ``parts`` with ``between`` between them, a few thousand at a time (one write
    each would cost more than the merge); (how many, bytes written)."""
    count = size = 0
    batch: list[bytes] = []
    for part in parts:
        batch.append(part)
        if len(batch) == 4096:
            size += fh.write((between if count else b"") + between.join(batch))
            count += len(batch)
            batch.clear()
    if batch:
        size += fh.write((between if count else b"") + between.join(batch))
        count += len(batch)
    return count, size


def write_table(path: Path, written_ns: int, merge: Merge) -> bool:
    """Write the merged records atomically (a reader sees the old file or the new one); False
    when it could not be written (a cache that cannot be written only costs time)."""
    width = merge.width
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".md5-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(bytes(len(MAGIC) + HEADER.size))  # written once the sizes are known
                count, names_size = write_batches(fh, (name for name, _ in merge.items()), b"\0")
                write_batches(fh, (widened(record(), width) for _, record in merge.items()), b"")
                fh.seek(0)
                fh.write(MAGIC + HEADER.pack(written_ns, count, width, names_size))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        return False
    return True
