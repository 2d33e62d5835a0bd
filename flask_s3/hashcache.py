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
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from pathlib import Path
from sys import intern
from typing import Any

FORMAT = 2  # 1 kept a list per file
RACY_NS = 2_000_000_000  # entries modified this close to the cache's write are re-hashed


def cache_dir() -> Path | None:
    if os.environ.get("FLASK_S3_NO_HASH_CACHE"):
        return None
    if os.environ.get("FLASK_S3_CACHE_DIR"):
        return Path(os.environ["FLASK_S3_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "flask-s3"


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
    """MD5s of the files below one folder, per storage mode (``raw`` or ``gzip``)."""

    def __init__(self, folder: Path) -> None:
        self.path: Path | None = None
        # relpath -> "size mtime_ns inode mode stored_size md5[ sri]": one string per file,
        # not a list of seven objects (a third of the memory on a 200,000-file tree)
        self.entries: dict[str, str] = {}
        self.written_ns = 0
        self.dirty = False
        # entries this scan asked for or added (each file once): when that is all of them, none
        # is stale and ``save`` needs no set of the files kept
        self.consulted = 0
        directory = cache_dir()
        if directory is None:
            return
        name = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:24]
        self.path = directory / f"md5-{name}.json"
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("v") == FORMAT and isinstance(data["files"], dict):
                # keys interned: the scan's relative paths are the same strings (local.py)
                self.entries = {intern(k): v for k, v in data["files"].items()}
                self.written_ns = int(data["written_ns"])
        except (OSError, ValueError, KeyError, TypeError):
            self.entries = {}

    def _fields(self, key: str, stat: os.stat_result, mode: str) -> list[str] | None:
        text = self.entries.get(key)
        if text is not None:
            self.consulted += 1
        if not isinstance(text, str) or stat.st_mtime_ns > self.written_ns - RACY_NS:
            return None
        # One prefix test for size, mtime, inode and mode: 200,000 files in a big plan.
        if not text.startswith(f"{stat.st_size} {stat.st_mtime_ns} {stat.st_ino} {mode} "):
            return None
        fields = text.split(" ")
        if len(fields) < 6 or not fields[4].isdigit():
            return None
        return fields

    def get(self, key: str, stat: os.stat_result, mode: str) -> tuple[int, str] | None:
        fields = self._fields(key, stat, mode)
        if fields is None:
            return None
        return int(fields[4]), fields[5]

    def get_sri(self, key: str, stat: os.stat_result, mode: str) -> tuple[int, str, str] | None:
        """Like ``get``, with the integrity value; None when the entry was stored without one."""
        fields = self._fields(key, stat, mode)
        if fields is None or len(fields) < 7:
            return None
        return int(fields[4]), fields[5], fields[6]

    def put(
        self, key: str, stat: os.stat_result, mode: str, size: int, md5: str, sri: str | None = None
    ) -> None:
        entry = f"{stat.st_size} {stat.st_mtime_ns} {stat.st_ino} {mode} {size} {md5}"
        if key not in self.entries:
            self.consulted += 1
        self.entries[key] = f"{entry} {sri}" if sri is not None else entry
        self.dirty = True

    def save(self, keep: Callable[[], AbstractSet[str]]) -> None:
        """Write the cache (atomically) if it changed; drop entries for files gone.

        ``keep()`` gives the relative paths of the files scanned, asked for only when some
        entry was not consulted: a 200,000-file tree holds no such set at its peak otherwise.
        """
        if self.path is None:
            return
        if self.consulted < len(self.entries):
            kept = keep()
            if any(k not in kept for k in self.entries):
                self.entries = {k: v for k, v in self.entries.items() if k in kept}
                self.dirty = True
        if not self.dirty and self.written_ns:
            return
        payload = {"v": FORMAT, "written_ns": time.time_ns(), "files": self.entries}
        write_cache(self.path, payload, ".md5-")
