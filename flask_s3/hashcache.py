"""A local cache of file MD5s keyed by (size, mtime, inode), so an unchanged tree isn't re-read.

With ``assets.integrity`` on, an entry also keeps the SHA-384 (SRI) value of the original bytes,
taken in the same read as the MD5.

Like git's index: an entry is trusted only when the file's size, mtime and inode are as
recorded and the file was last modified well before the cache was written (a file changed
in the same instant as the write could otherwise hide a change). A fresh CI checkout has new
mtimes, so everything is hashed there; a laptop re-running a deploy skips the reading.
Set FLASK_S3_NO_HASH_CACHE=1 to turn it off.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from . import hashpack

RACY_NS = 2_000_000_000  # entries modified this close to the cache's write are re-hashed


def cache_dir() -> Path | None:
    if os.environ.get("FLASK_S3_NO_HASH_CACHE"):
        return None
    if os.environ.get("FLASK_S3_CACHE_DIR"):
        return Path(os.environ["FLASK_S3_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "flask-s3"


def scoped_file(kind: str, *scope: str) -> Path | None:
    """The cache file of ``kind`` for one scope (endpoint, bucket, ...); None: caching is off."""
    directory = cache_dir()
    if directory is None:
        return None
    digest = hashlib.sha256("\0".join(scope).encode()).hexdigest()[:24]
    return directory / f"{kind}-{digest}.json"


def read_cache(path: Path | None, version: int | str, section: str) -> dict[str, Any]:
    """The ``section`` of a cache file written by ``write_cache`` with this ``version``.

    Anything missing, unreadable or of another version is an empty cache, never an error.
    """
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("v") == version and isinstance(data[section], dict):
            return dict(data[section])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return {}


def write_cache(path: Path, payload: dict[str, object], prefix: str) -> None:
    """Write ``payload`` as JSON atomically (a reader sees the old file or the new one)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, separators=(",", ":"))
        os.replace(tmp, path)
    except OSError:
        pass  # a cache that cannot be written only costs time


class ContentCache:
    """Answers keyed by a digest of some content, kept between runs in one cache file.

    An answer is a function of the content alone, so an entry never goes stale; past
    ``limit`` entries only the ones this run used are written back.
    """

    def __init__(self, filename: str, version: int, section: str, limit: int) -> None:
        self.version, self.section, self.limit = version, section, limit
        self.seen: set[str] = set()
        self.dirty = False
        directory = cache_dir()
        self.path = None if directory is None else directory / filename
        self.entries: dict[str, Any] = read_cache(self.path, version, section)

    def get(self, digest: str) -> Any:
        self.seen.add(digest)
        return self.entries.get(digest)

    def put(self, digest: str, answer: Any) -> None:
        self.entries[digest] = answer
        self.dirty = True

    def save(self) -> None:
        """Write the cache (atomically) if it changed."""
        if self.path is None or not self.dirty:
            return
        if len(self.entries) > self.limit:
            self.entries = {k: v for k, v in self.entries.items() if k in self.seen}
        write_cache(self.path, {"v": self.version, self.section: self.entries}, f".{self.section}-")


class HashCache:
    """MD5s of the files below one folder, per storage mode (``raw`` or ``gzip``).

    Held packed, for a 200,000-file tree sits in memory beside everything else a plan holds:
    the relative paths as one block of bytes, sorted, and one fixed-size binary record per
    path (``hashpack.RECORD``: stat, mode, stored size, the MD5 as 16 bytes, the SRI value as
    48), about 80 bytes a file where a dict of text entries and their paths took 260. The file
    on disk is the same (``hashpack.py``); the JSON of format 2 is read once and replaced.
    """

    def __init__(self, folder: Path) -> None:
        self.path: Path | None = None
        self.old_path = Path()  # format 2's JSON, replaced by the next save
        self.converting = False
        self.written_ns = 0
        self.loaded = hashpack.Table()
        # per loaded record: 0 not asked for this scan, 1 asked for, 2 replaced by a put
        self.seen = bytearray()
        self.cursor = 0  # the scan asks in nearly sorted order: try the next record first
        self.at = 0  # where the cursor's name starts in the block of names
        self.last: tuple[str, int, bytes] = ("", -1, b"")  # the key looked up last, its index
        self.added = hashpack.Added()
        directory = cache_dir()
        if directory is None:
            return
        name = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:24]
        self.path = directory / f"md5-{name}.bin"
        self.old_path = directory / f"md5-{name}.json"
        try:
            self.written_ns, self.loaded = hashpack.read_table(self.path)
        except FileNotFoundError:
            self.written_ns, self.loaded = hashpack.read_json_table(self.old_path)
            self.converting = self.old_path.exists()
        except (OSError, ValueError):
            pass  # damaged or foreign: an empty cache, everything hashed
        self.seen = bytearray(len(self.loaded))

    @property
    def paths(self) -> list[str]:
        """The relative paths the cache held when it was read."""
        table = self.loaded
        return [table.name(i).decode("utf-8", "surrogatepass") for i in range(len(table))]

    def _find(self, key: str) -> tuple[int, bytes]:
        name = hashpack.encoded(key)
        # a put follows the get that missed: the same lookup, not done twice
        self.last = (key, -1, name)
        loaded = self.loaded
        index = self.cursor
        ends = loaded.ends
        if (
            index >= len(ends)
            or ends[index] != self.at + len(name)
            or not loaded.blob.startswith(name, self.at)
        ):
            if not ends:  # an empty cache (a first run)
                return -1, name
            index = loaded.find(name)
            if index < 0:
                return index, name
        self.cursor = index + 1
        self.at = ends[index] + 1
        self.last = (key, index, name)
        return index, name

    def _known(
        self, key: str, stat: os.stat_result, mode: str
    ) -> tuple[int, str, str | None] | None:
        index, _ = self._find(key)
        if index < 0:
            return None
        self.seen[index] = 1
        if stat.st_mtime_ns > self.written_ns - RACY_NS:
            return None
        return self.loaded.known(index, (stat.st_size, stat.st_mtime_ns, stat.st_ino), mode)

    def get(self, key: str, stat: os.stat_result, mode: str) -> tuple[int, str] | None:
        # ``_known`` with ``_find``'s first try inlined: once per file of every warm scan.
        name = key.encode("utf-8", "surrogatepass")  # hashpack.encoded
        loaded = self.loaded
        ends = loaded.ends
        index = self.cursor
        if (
            index < len(ends)
            and ends[index] == self.at + len(name)
            and loaded.blob.startswith(name, self.at)
        ):
            self.cursor = index + 1
            self.at = ends[index] + 1
        else:
            index, _ = self._find(key)
            if index < 0:
                return None
        self.seen[index] = 1
        mtime = stat.st_mtime_ns
        if mtime <= self.written_ns - RACY_NS and loaded.width == hashpack.NARROW:
            # Table.known for a narrow record (no SRI value), without a call and a tuple or two
            size, at, inode, flags, stored, digest = hashpack.RECORD.unpack_from(
                loaded.records, index * hashpack.NARROW
            )
            if (
                at == mtime
                and size == stat.st_size
                and inode == stat.st_ino
                and flags == (hashpack.GZIP if mode == "gzip" else 0)
                and mode in ("raw", "gzip")
            ):
                return stored, digest.hex()
        self.last = (key, index, name)  # the put that follows a miss finds it here
        if mtime > self.written_ns - RACY_NS:
            return None
        known = loaded.known(index, (stat.st_size, mtime, stat.st_ino), mode)
        return None if known is None else (known[0], known[1])

    def get_sri(self, key: str, stat: os.stat_result, mode: str) -> tuple[int, str, str] | None:
        """Like ``get``, with the integrity value; None when the entry was stored without one."""
        known = self._known(key, stat, mode)
        if known is None or known[2] is None:
            return None
        return known[0], known[1], known[2]

    def put(
        self, key: str, stat: os.stat_result, mode: str, size: int, md5: str, sri: str | None = None
    ) -> None:
        last_key, index, name = self.last
        if last_key is not key:
            index, name = self._find(key)
        if index >= 0:
            self.seen[index] = 2
        self.added.add(
            name,
            hashpack.Entry((stat.st_size, stat.st_mtime_ns, stat.st_ino), mode, size, md5, sri),
        )

    def save(self) -> None:
        """Write the cache (atomically) if it changed; drop the entries this scan did not ask
        for (files gone, excluded, or no longer read from disk)."""
        if self.path is None:
            return
        unchanged = self.written_ns and not self.added and all(self.seen)
        if unchanged and not self.converting:
            return
        merge = hashpack.Merge(self.loaded, self.seen, self.added)
        if hashpack.write_table(self.path, time.time_ns(), merge) and self.converting:
            try:
                self.old_path.unlink(missing_ok=True)
            except OSError:
                pass
