"""The lock-free look, started before the app is imported.

Importing the user's app (Flask and whatever it pulls in) takes a tenth of a second or more, and
most of the look needs nothing from it: the manifest GET and the bucket settings depend only on
the spec. Those are sent as soon as the store is open, in background threads. The listing's key
ranges need the app's static folders; the last run's ranges (prefixes and ``start-after``
boundaries) are kept in the local cache folder, per endpoint, bucket and prefix, and listed
early too. Once the app is imported, the early listings count only if the app gives the same
prefixes; otherwise they are dropped and the listing is done the usual way.

Any partition of the key space lists the same objects, and ``listing.checked`` verifies every
range's boundaries, so a stale, damaged or hostile cache file costs speed, never correctness.
Errors of early requests are kept in their futures and raised where the usual look raises
them (after the app's own import errors, which the main thread meets first).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..assets.keys import normalize_prefix
from ..hashcache import scoped_file, write_cache
from ..s3 import reach

if TYPE_CHECKING:
    from ..s3.lock import LockState
    from ..s3.manifest import Manifest
    from ..s3.store import ObjectInfo, Store
    from ..spec import Spec
    from .listing import KeyRange

T = TypeVar("T")

RANGES_VERSION = 1
MAX_FILE_BYTES = 64 * 1024  # a real file is a few KB: anything larger is not ours
MAX_CACHED_RANGES = 64  # listing.MAX_RANGES plus one per prefix, with room to spare
MAX_KEY_BYTES = 1024  # S3's own limit on a key


def in_background(call: Callable[[], T]) -> Future[T]:
    """``call`` run in a daemon thread of the early look (see ``reach.in_background``)."""
    return reach.in_background(call, "flask-s3-look")


class EarlyLook:
    """The requests of the lock-free look that need only the spec, sent while the app imports."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.cached: list[KeyRange] = []
        self.manifest: Future[tuple[Manifest, bytes] | None] = Future()
        self.settings: Future[tuple[Any, Any]] = Future()
        self.answers: list[Future[list[ObjectInfo]]] = []
        self.lock: Future[LockState | None] = Future()
        self.started = threading.Event()
        self.doubted = False  # the early listings covered the prefixes but failed the check
        self.path: Path | None = None

    def start(self, store: Store) -> None:
        """Send the requests (each in a thread of its own) as soon as ``store`` is open."""
        from ..s3.lock import LOCK_NAME, recall_release, try_read_state
        from ..s3.manifest import MANIFEST_NAME
        from .bucket import read_settings
        from .inventory import _try_read_manifest, control_key

        lock_key = control_key(self.spec, LOCK_NAME)
        # kept from this machine's last release: read before any request of the look is sent
        remembered = recall_release(store, lock_key)
        manifest_key = control_key(self.spec, MANIFEST_NAME)
        self.manifest = in_background(lambda: _try_read_manifest(store, manifest_key, None))
        self.lock = in_background(lambda: try_read_state(store, lock_key, remembered))
        self.settings = in_background(lambda: read_settings(store, self.spec))
        self.path = ranges_path(store, self.spec)
        self.cached = load_ranges(self.path, self.spec)
        self.answers = [_list_in_background(store, span) for span in self.cached]
        self.started.set()

    def ready(self) -> bool:
        """True once the early requests were sent (the store was opened, and this started)."""
        return self.started.is_set()

    def listed(self, prefixes: Sequence[str]) -> list[ObjectInfo] | None:
        """The early range listings, checked, when they cover exactly ``prefixes``; else None.

        A store error of an early listing is raised here, as the usual listing would raise it.
        """
        from .listing import checked

        if (
            not self.ready()
            or not self.cached
            or sorted({r.prefix for r in self.cached}) != sorted(prefixes)
        ):
            return None
        answers = [future.result() for future in self.answers]
        found = checked(self.cached, answers)
        self.doubted = found is None
        return found

    def remember(self, prefixes: Sequence[str], hints: Sequence[str], found: int) -> None:
        """Keep ranges for the next run, when the ones used do not fit this bucket any more."""
        from .listing import MAX_RANGES, RANGE_KEYS, plan_ranges

        if self.path is None or not hints:
            return
        same = sorted({r.prefix for r in self.cached}) == sorted(prefixes)
        pages = math.ceil(max(found, len(hints)) / RANGE_KEYS)
        wanted = max(len(prefixes), min(MAX_RANGES, pages))
        # plan_ranges gives each prefix a range of its own: up to one more a prefix
        if same and abs(len(self.cached) - wanted) <= len(prefixes):
            return  # still about one page a range: no write on a no-op
        ranges = plan_ranges(prefixes, hints)
        payload = {"v": RANGES_VERSION, "ranges": [[r.prefix, r.start_after] for r in ranges]}
        write_cache(self.path, payload, ".ranges-")


def _list_in_background(store: Store, span: KeyRange) -> Future[list[ObjectInfo]]:
    return in_background(lambda: store.list_after(span.prefix, span.start_after, span.until))


def ranges_path(store: Store, spec: Spec) -> Path | None:
    """The cache file of one endpoint, bucket and prefix (None: caching is off)."""
    return scoped_file("ranges", store.endpoint, store.bucket, normalize_prefix(spec.urls.prefix))


def load_ranges(path: Path | None, spec: Spec) -> list[KeyRange]:
    """The ranges kept by the last run, or [] for anything missing, damaged or implausible."""
    if path is None:
        return []
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            return []
        data = json.loads(raw)
        return valid_ranges(data["ranges"], spec) if data.get("v") == RANGES_VERSION else []
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return []


def valid_ranges(rows: Any, spec: Spec) -> list[KeyRange]:
    """``rows`` ([prefix, start_after] pairs) as key ranges, or [] unless they are a partition:
    every prefix inside the spec's, each prefix's ranges starting at "" and strictly rising."""
    from .listing import KeyRange

    if not isinstance(rows, list) or not 0 < len(rows) <= MAX_CACHED_RANGES:
        return []
    prefix = normalize_prefix(spec.urls.prefix)
    base = f"{prefix}/" if prefix else ""
    spans: list[tuple[str, str]] = []
    for row in rows:
        if not (isinstance(row, list) and len(row) == 2 and all(isinstance(x, str) for x in row)):
            return []
        under, start = row
        if not under.startswith(base) or any(len(x.encode()) > MAX_KEY_BYTES for x in row):
            return []
        if start and (not start.startswith(under) or start == under):
            return []
        if spans and spans[-1][0] == under:
            if start <= spans[-1][1]:
                return []
        elif start or any(under == u for u, _ in spans):
            return []  # a prefix's first range starts at its beginning; prefixes not repeated
        spans.append((under, start))
    prefixes = [u for u, s in spans if not s]
    if any(a != b and b.startswith(a) for a in prefixes for b in prefixes):
        return []  # nested prefixes would list keys twice
    ranges: list[KeyRange] = []
    for index, (under, start) in enumerate(spans):
        following = spans[index + 1] if index + 1 < len(spans) else None
        until = following[1] if following is not None and following[0] == under else None
        ranges.append(KeyRange(under, start, until))
    return ranges
