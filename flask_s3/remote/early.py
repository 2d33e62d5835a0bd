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

Each range also keeps how many keys it held (``keys``, beside ``ranges``), and asks for a page
of about that many, not S3's 1000: a range holds only its share of the keys, and the rest of a
full page lies in the next range, listed there a second time. At 2,000 keys in three ranges
that was 2,667 keys listed by the server, sent and parsed, where 2,000 were needed; the
store's listing is most of its work in a no-op. A range that grew past its page costs one
more page (``list_after`` goes on until it passes the range's end), never a key.

Errors of early requests are kept in their futures and raised where the usual look raises
them (after the app's own import errors, which the main thread meets first).
"""

from __future__ import annotations

import json
import math
import threading
from bisect import bisect_left, bisect_right
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
FULL_PAGE = 1000  # S3's largest page, and the page of a range whose size is not known
MIN_PAGE = 100  # the least asked for: a hostile count cannot turn a range into many pages
MAX_COUNT = 10**9  # a count beyond any bucket's: the file is not ours


def in_background(call: Callable[[], T]) -> Future[T]:
    """``call`` run in a daemon thread of the early look (see ``reach.in_background``)."""
    return reach.in_background(call, "flask-s3-look")


class EarlyLook:
    """The requests of the lock-free look that need only the spec, sent while the app imports."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.cached: list[KeyRange] = []
        self.counts: list[int] | None = None  # keys each cached range held, when kept
        self.manifest: Future[tuple[Manifest, bytes] | None] = Future()
        self.settings: Future[tuple[Any, Any]] = Future()
        self.answers: list[Future[list[ObjectInfo]]] = []
        self.lock: Future[LockState | None] = Future()
        self.started = threading.Event()
        self.doubted = False  # the early listings covered the prefixes but failed the check
        # Set once this run's listing is sent (at once when the last run's ranges are kept):
        # the manifest's decode waits for it (``inventory.read_manifest``).
        self.listing_sent = threading.Event()
        self.path: Path | None = None

    def start(self, store: Store) -> bool:
        """Send the requests (each in a thread of its own) as soon as ``store`` is open; True
        when they include listings (the last run's ranges), i.e. the look's whole first wave."""
        from ..s3.lock import LOCK_NAME, recall_release, try_read_state
        from ..s3.manifest import MANIFEST_NAME
        from .bucket import read_settings
        from .inventory import _try_read_manifest, control_key

        lock_key = control_key(self.spec, LOCK_NAME)
        # kept from this machine's last release: read before any request of the look is sent
        remembered = recall_release(store, lock_key)
        manifest_key = control_key(self.spec, MANIFEST_NAME)
        self.manifest = in_background(
            lambda: _try_read_manifest(store, manifest_key, None, self.listing_sent)
        )
        self.lock = in_background(lambda: try_read_state(store, lock_key, remembered))
        self.settings = in_background(lambda: read_settings(store, self.spec))
        self.path = ranges_path(store, self.spec)
        self.cached, self.counts = load_cache(self.path, self.spec)
        counts: Sequence[int | None] = self.counts or [None] * len(self.cached)
        self.answers = [
            _list_in_background(store, span, page_for(count))
            for span, count in zip(self.cached, counts, strict=True)
        ]
        if self.answers:
            self.listing_sent.set()
        self.started.set()
        return bool(self.answers)

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

    def remember(
        self, prefixes: Sequence[str], hints: Sequence[str], listed: Sequence[ObjectInfo]
    ) -> None:
        """Keep ranges for the next run, when the ones used do not fit this bucket any more,
        or their key counts drifted out of the pages they ask for."""
        from .listing import MAX_RANGES, RANGE_KEYS, plan_ranges

        if self.path is None or not hints:
            return
        same = sorted({r.prefix for r in self.cached}) == sorted(prefixes)
        pages = math.ceil(max(len(listed), len(hints)) / RANGE_KEYS)
        wanted = max(len(prefixes), min(MAX_RANGES, pages))
        # plan_ranges gives each prefix a range of its own: up to one more a prefix
        if same and abs(len(self.cached) - wanted) <= len(prefixes):
            ranges = self.cached
            counts = range_counts(ranges, hints, listed)
            if self.counts is not None and all(
                still_fits(old, new) for old, new in zip(self.counts, counts, strict=True)
            ):
                return  # still about one page a range, each page its size: no write on a no-op
        else:
            ranges = plan_ranges(prefixes, hints)
            counts = range_counts(ranges, hints, listed)
        payload = {
            "v": RANGES_VERSION,
            "ranges": [[r.prefix, r.start_after] for r in ranges],
            "keys": counts,
        }
        write_cache(self.path, payload, ".ranges-")


def _room(count: int) -> int:
    # Keys a range may gain between runs without a second page. Its own applies never make it
    # grow unseen (the look before an upload counts the local keys too): only another
    # machine's deploy or a hand upload does, so a little room, not much.
    return count // 16 + 8


def page_for(count: int | None) -> int:
    """The page asked for a range that held ``count`` keys: those, a little room, and the
    first key past its end (which ``listing.checked`` compares with the next range's first
    key), in one page."""
    if count is None:
        return FULL_PAGE
    return max(MIN_PAGE, min(FULL_PAGE, count + _room(count) + 1))


def still_fits(kept: int, now: int) -> bool:
    """True while ``kept`` (the count a page is sized from) still suits a range of ``now`` keys:
    not grown past half its room, not shrunk so far that the page lists another range's keys.
    """
    room = _room(kept)
    return kept - room <= now <= kept + room // 2


def range_counts(
    ranges: Sequence[KeyRange], hints: Sequence[str], listed: Sequence[ObjectInfo]
) -> list[int]:
    """Keys in each range: the more of the local keys (what an apply will leave there) and the
    listed ones (what the bucket holds, kept or not yet pruned)."""
    local = sorted(hints)
    remote = sorted(obj.key for obj in listed)  # already in order: a linear pass
    return [max(_within(local, span), _within(remote, span)) for span in ranges]


def _within(keys: list[str], span: KeyRange) -> int:
    """How many of the sorted ``keys`` lie in ``span`` (after its start, up to its end)."""
    low = bisect_left(keys, span.prefix)
    if span.start_after:
        low = max(low, bisect_right(keys, span.start_after))
    if span.until is not None:
        high = bisect_right(keys, span.until)
    elif span.prefix and ord(span.prefix[-1]) < 0x10FFFF:
        # the keys under a prefix end before its successor ("static/" -> "static0")
        high = bisect_left(keys, span.prefix[:-1] + chr(ord(span.prefix[-1]) + 1))
    else:
        high = len(keys)  # at worst a page too large
    return max(0, high - low)


def _list_in_background(store: Store, span: KeyRange, page: int) -> Future[list[ObjectInfo]]:
    return in_background(lambda: store.list_after(span.prefix, span.start_after, span.until, page))


def ranges_path(store: Store, spec: Spec) -> Path | None:
    """The cache file of one endpoint, bucket and prefix (None: caching is off)."""
    return scoped_file("ranges", store.endpoint, store.bucket, normalize_prefix(spec.urls.prefix))


def load_ranges(path: Path | None, spec: Spec) -> list[KeyRange]:
    """The ranges kept by the last run, or [] for anything missing, damaged or implausible."""
    return load_cache(path, spec)[0]


def load_cache(path: Path | None, spec: Spec) -> tuple[list[KeyRange], list[int] | None]:
    """The ranges kept by the last run and their key counts (None: not kept, or not valid;
    the ranges then ask for full pages)."""
    if path is None:
        return [], None
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            return [], None
        data = json.loads(raw)
        if data.get("v") != RANGES_VERSION:
            return [], None
        ranges = valid_ranges(data["ranges"], spec)
        return ranges, valid_counts(data.get("keys"), len(ranges)) if ranges else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return [], None


def valid_counts(counts: Any, ranges: int) -> list[int] | None:
    """``counts`` when it is one plausible count per range, else None."""
    if not isinstance(counts, list) or len(counts) != ranges:
        return None
    if not all(type(n) is int and 0 <= n <= MAX_COUNT for n in counts):
        return None  # bool is an int subclass: `type` is exact
    return counts


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
