"""A lock object under the prefix, taken with a conditional write: one apply at a time.

The lock is taken before the bucket is read for a plan and held until the manifest is
written, so the plan that runs is the plan made under it. Its record says who holds it (host,
process, user, since when) and carries a token: ``flask-s3 unlock`` releases it only with that
token (or ``--force``). A holder rewrites its record every ``REFRESH_EVERY`` seconds; a record
older than ``STALE_AFTER`` (a few missed refreshes) belongs to a holder that is gone and may be
broken, as may a record left on this machine by a process that no longer exists. A lock that
cannot be read is an error, never a reason to break it.

Every write of the lock is conditional on the ETag read before it (``If-None-Match: *`` when
there is none): taking it, a holder's refresh, the takeover of an abandoned record and the
release. A release does not delete the lock: it overwrites the record with a "released" one
carrying a fresh nonce, so the lock object's ETag changes with every hand-over and never comes
back (no ABA). The ETag of this machine's last release is kept in the local cache folder. An
apply that reads it *before* its lock-free look is sent, and then takes the lock with
``If-Match`` on it, knows that nobody held the lock between its last release and now: nothing
was written since before the look (every writer holds the lock), so the look still holds and
is not made again under the lock (``Held.proven``). Any other hand-over in between changes the
ETag, the ``If-Match`` is refused, and the apply looks again under the lock as ever. A released
record says it is abandoned (an epoch of 0) to a build that predates it, which breaks it.
"""

from __future__ import annotations

import getpass
import json
import os
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import field
from datetime import datetime, timezone
from pathlib import Path

from ..errors import ApplyError, FlaskS3Error
from ..hashcache import read_cache, scoped_file, write_cache
from ..records import record
from .errors import (
    StoreCredentialsError,
    StoreError,
    StoreUnreachable,
    describe_error,
)
from .store import Store, put_bytes

LOCK_NAME = "lock.json"
REFRESH_EVERY = 60.0  # seconds between two rewrites of a held lock
STALE_AFTER = 4 * REFRESH_EVERY  # four missed refreshes: the holder is gone
LEGACY_STALE_AFTER = 30 * 60  # a record without refresh_every: flask-s3 1.0 refreshed every 5 min
LOCK_WAIT = 120.0  # how long an apply waits for another one to finish, by default
_HELD: set[str] = set()  # tokens of the locks this process holds right now
_HERE = threading.local()  # (bucket, key) of the locks the current thread holds
# Refusals of a conditional write: the lock changed since it was read (NoSuchKey: an If-Match
# on a lock that is gone), or another conditional write is in flight (409).
_BUSY = ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey")
_ETAG = re.compile(r"[0-9A-Za-z-]{1,128}")  # what S3 gives; anything else never goes in a header
RELEASES_VERSION = 1
WaitProgress = Callable[[str, float], None]  # (who holds it, seconds waited so far)


@record
class Held:
    """A lock this process holds; ``lost`` is set when another writer took it over."""

    key: str
    token: str
    lost: threading.Event = field(default_factory=threading.Event)
    etag: str = ""  # of our last write of the record: the next write is conditional on it
    # Taken with If-Match on the ETag this machine's last release left, remembered before the
    # lock-free look was sent: nobody held the lock since, so that look still holds.
    proven: bool = False

    def check(self) -> None:
        """Refuse to go on writing once the lock was broken by someone else."""
        if self.lost.is_set():
            raise ApplyError(
                f"lost the lock {self.key!r}: another apply or flask-s3 unlock --force took "
                "it over",
                "This apply stopped writing. Run apply again once the other one finished.",
            )


def _record(token: str, since: str) -> bytes:
    return json.dumps(
        {
            "token": token,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "user": _user(),
            "since": since,
            "epoch": time.time(),
            "refresh_every": REFRESH_EVERY,
        }
    ).encode()


def _released_record() -> bytes:
    # A nonce: no two releases leave the same bytes, so no two share an ETag. The epoch of 0
    # makes a build that predates released records see an abandoned lock, and break it.
    return json.dumps(
        {"released": True, "nonce": uuid.uuid4().hex, "epoch": 0, "refresh_every": REFRESH_EVERY}
    ).encode()


@record
class LockState:
    """The lock object as one read found it: its record (None: no object) and ETag."""

    record: dict[str, object] | None
    etag: str = ""
    # The ETag this machine's last release left (``recall_release``), read before the look
    # that made this read was sent; "" when none is kept.
    remembered: str = ""

    @property
    def released(self) -> bool:
        return self.record is not None and self.record.get("released") is True

    @property
    def held_by_someone(self) -> bool:
        return self.record is not None and not self.released


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        return "unknown"


def held_lock(store: Store, key: str) -> Held | None:
    """The lock ``key`` of this store's bucket, when the current thread holds it."""
    mine: dict[tuple[str, str], Held] = getattr(_HERE, "held", {})
    return mine.get((store.bucket, key))


@contextmanager
def apply_lock(
    store: Store,
    key: str,
    *,
    stale_after: float | None = None,
    refresh_every: float = REFRESH_EVERY,
    headers: Mapping[str, str] | None = None,
    wait: float = 0.0,
    on_wait: WaitProgress | None = None,
    seen: LockState | None = None,
) -> Iterator[Held]:
    """Hold the lock object ``key`` for the block; wait up to ``wait`` seconds for a live
    holder to finish, then refuse, naming it.

    ``headers`` go with every write of it (the spec's encryption, say). ``stale_after``
    overrides the age past which any record counts as abandoned (tests). ``seen``: the lock as
    the lock-free look read it (the first attempt is conditional on that, and may prove the
    look still holds: ``Held.proven``)."""
    held = Held(key, uuid.uuid4().hex)
    since = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = dict(headers or {})
    _acquire(store, held, since, stale_after, headers, wait, on_wait, seen)
    token = held.token
    _HELD.add(token)
    _HERE.held = {**getattr(_HERE, "held", {}), (store.bucket, key): held}
    stop = threading.Event()
    beat = threading.Thread(
        target=_keep_alive,
        args=(store, held, since, stop, refresh_every, headers),
        daemon=True,
    )
    beat.start()
    try:
        yield held
    finally:
        stop.set()
        beat.join()
        _HELD.discard(token)
        _HERE.held = {
            k: v for k, v in getattr(_HERE, "held", {}).items() if k != (store.bucket, key)
        }
        if not held.lost.is_set():
            _release_held(store, held, headers)


def _acquire(
    store: Store,
    held: Held,
    since: str,
    stale_after: float | None,
    headers: dict[str, str],
    wait: float,
    on_wait: WaitProgress | None,
    seen: LockState | None,
) -> None:
    """Take the lock: each attempt is conditional on the state last read (``seen`` first)."""
    started = time.monotonic()
    body = _record(held.token, since)
    state = seen  # None: not read yet (a first attempt with If-None-Match, as when absent)
    first = True
    broke = False
    refused = 0
    while True:
        # The condition of this attempt's PUT: the ETag it names ("" for If-None-Match: *).
        attempt: str | None = None
        if state is None or state.record is None:
            attempt = ""
        elif state.released:
            attempt = _usable_etag(state, held.key)
        elif state.record.get("token") == held.token:
            held.etag = state.etag  # our own write went through and a retry of it was refused
            return
        elif not broke and is_abandoned(state.record, stale_after):
            attempt = _usable_etag(state, held.key)  # taken over in one write, never deleted
            broke = True
        if attempt is not None:
            try:
                held.etag = put_bytes(
                    store,
                    held.key,
                    body,
                    headers,
                    if_none_match=not attempt,
                    if_match=attempt or None,
                )
            except StoreError as exc:
                if exc.code not in _BUSY:
                    raise describe_error(exc, "upload", store.bucket) from None
            except (StoreUnreachable, StoreCredentialsError) as exc:
                raise describe_error(exc, "upload", store.bucket) from None
            else:
                held.proven = (
                    first
                    and state is not None
                    and state.released
                    and bool(state.remembered)
                    and state.etag == state.remembered
                )
                if not held.etag:  # a store that does not say: read it back
                    _still_ours(store, held)
                return
            first = False
            state = read_state(store, held.key)
            refused += 1  # the lock changed between our read and our write: read, try again
            if refused > 20:
                raise ApplyError(
                    f"cannot take the lock {held.key!r}: it keeps changing",
                    "Another apply is starting and stopping on this bucket. Wait and run again.",
                )
            continue
        if first and seen is not None:
            first = False  # held when the look read it, a while ago: read it now
            state = read_state(store, held.key)
            continue
        first = False
        assert state is not None and state.record is not None
        holder = state.record
        waited = time.monotonic() - started
        if waited >= wait:
            raise ApplyError(
                "another apply is running on this bucket and prefix",
                f"The lock {held.key!r} is held by {describe_holder(holder)}"
                + (f"; waited {waited:.0f} s" if wait else "")
                + ". Wait for it to finish (apply --lock-timeout SECONDS waits longer). If it "
                f"died, the lock is broken {int(_limit(holder, stale_after))} s after its last "
                "refresh, or release it now with `flask-s3 unlock SPEC --token "
                f"{holder.get('token', '?')}`.",
            )
        if on_wait is not None:
            on_wait(describe_holder(holder), waited)
        # Short polls with jitter: two waiters do not retry in step.
        time.sleep(min(wait - waited, 0.5 + random.random()))
        state = read_state(store, held.key)


def _usable_etag(state: LockState, key: str) -> str:
    """The ETag a conditional write names: only what S3 gives (it goes in a header)."""
    if not _ETAG.fullmatch(state.etag):
        raise _unreadable(key, "its answer carries no usable ETag")
    return state.etag


def _limit(holder: Mapping[str, object], stale_after: float | None) -> float:
    """Seconds without a refresh after which ``holder``'s lock counts as abandoned."""
    if stale_after is not None:
        return stale_after
    every = holder.get("refresh_every")
    if isinstance(every, (int, float)) and not isinstance(every, bool) and every > 0:
        return max(STALE_AFTER, 4 * float(every))
    return LEGACY_STALE_AFTER


def lock_age(holder: Mapping[str, object]) -> float | None:
    """Seconds since the holder last refreshed its record (None: the record has no time)."""
    epoch = holder.get("epoch")
    if isinstance(epoch, (int, float)) and not isinstance(epoch, bool):
        return time.time() - float(epoch)
    return None


def is_abandoned(holder: Mapping[str, object], stale_after: float | None = None) -> bool:
    """Past its refresh limit, or left on this machine by a process that is gone."""
    age = lock_age(holder)
    return (age is not None and age > _limit(holder, stale_after)) or _holder_died(holder)


def describe_holder(holder: Mapping[str, object]) -> str:
    """``ci-7 (pid 4242, user deploy), since 2026-12-06T14:00:00Z, refreshed 12 s ago``."""
    age = lock_age(holder)
    who = f"{holder.get('host', 'an unknown host')}"
    extra = [f"pid {holder['pid']}"] if "pid" in holder else []
    if holder.get("user"):
        extra.append(f"user {holder['user']}")
    if extra:
        who += f" ({', '.join(extra)})"
    who += f", since {holder.get('since', 'an unknown time')}"
    if age is not None:
        who += f", refreshed {max(age, 0):.0f} s ago"
    return who


def read_state(store: Store, key: str) -> LockState:
    """The lock object now: its record and ETag. Unreadable is an error, never "free"."""
    try:
        raw, etag = store.get_tagged(key)
    except StoreError as exc:
        if exc.status == 404 or exc.code in ("NoSuchKey", "404"):
            return LockState(None)
        raise _unreadable(key, f"{exc.code} ({exc.status})") from None
    except StoreUnreachable as exc:
        raise _unreadable(key, exc.reason) from None
    except StoreCredentialsError as exc:
        raise describe_error(exc, "read-manifest", store.bucket) from None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply to be a record
        data = None
    if not isinstance(data, dict):
        raise _unreadable(key, "it is not a flask-s3 lock record")
    return LockState(data, etag)


def try_read_state(store: Store, key: str, remembered: str = "") -> LockState | None:
    """The lock as the lock-free look reads it, with the ETag ``remembered`` before that look
    was sent (``recall_release``); None when it cannot be read (the apply reads it again)."""
    try:
        state = read_state(store, key)
    except FlaskS3Error:
        return None
    state.remembered = remembered
    return state


def read_lock(store: Store, key: str) -> dict[str, object] | None:
    """The holder's record; None when nobody holds the lock (no object, or a released one)."""
    state = read_state(store, key)
    return state.record if state.held_by_someone else None


def release(
    store: Store, key: str, token: str | None, headers: Mapping[str, str] | None = None
) -> dict[str, object] | None:
    """Release the lock ``key`` if its record carries ``token`` (any record when None).

    Returns the record that was released (None: nobody held the lock). A record with another
    token is refused: it is a newer lock than the one the caller looked at. The release is a
    write of a released record on the ETag just read, so a lock taken meanwhile is left alone.
    """
    state = read_state(store, key)
    holder = state.record if state.held_by_someone else None
    if holder is None:
        return None
    if token is not None and holder.get("token") != token:
        raise ApplyError(
            "the lock is held under another token",
            f"It is held by {describe_holder(holder)} with token {holder.get('token', '?')}. "
            "Check that this holder is gone before releasing it with that token.",
        )
    try:
        put_bytes(
            store, key, _released_record(), dict(headers or {}), if_match=_usable_etag(state, key)
        )
    except StoreError as exc:
        if exc.code in _BUSY:
            raise ApplyError(
                "the lock changed while it was being released",
                "Another apply took or released it just now. Run `flask-s3 unlock SPEC` again "
                "to see who holds it.",
            ) from None
        raise describe_error(exc, "upload", store.bucket) from None
    except (StoreUnreachable, StoreCredentialsError) as exc:
        raise describe_error(exc, "upload", store.bucket) from None
    return holder


def _unreadable(key: str, why: str) -> ApplyError:
    return ApplyError(
        f"another apply may be running: the lock {key!r} exists but cannot be read ({why})",
        "Nothing was changed. Run again; if no other apply is running and this persists, "
        "release it with `flask-s3 unlock SPEC --force` (or delete that object by hand).",
    )


def _keep_alive(
    store: Store,
    held: Held,
    since: str,
    stop: threading.Event,
    every: float,
    headers: dict[str, str],
) -> None:
    while not stop.wait(every):
        try:
            held.etag = put_bytes(
                store, held.key, _record(held.token, since), headers, if_match=held.etag or None
            )
        except StoreError as exc:
            if exc.code in _BUSY and not _still_ours(store, held):
                # Broken as stale (we were stalled too long) or released by force: the lock is
                # someone else's now, and rewriting it would make two writers.
                held.lost.set()
                return
        except (StoreUnreachable, StoreCredentialsError):
            pass  # the next beat tries again; the lock is only broken once past its limit


def _still_ours(store: Store, held: Held) -> bool:
    """True when the record is still ours, its ETag taken for the next write (after a refused
    write: a retry of one that went through; or after a write the store gave no ETag for);
    unreadable counts as ours."""
    try:
        state = read_state(store, held.key)
    except FlaskS3Error:
        return True  # cannot tell right now: the next beat asks again
    if state.held_by_someone and state.record is not None:
        if state.record.get("token") == held.token and _ETAG.fullmatch(state.etag):
            held.etag = state.etag
            return True
    return False


def _release_held(store: Store, held: Held, headers: dict[str, str]) -> None:
    """Overwrite our record with a released one, only while it is ours; remember its ETag.

    Never masks the real outcome: a lock that cannot be released goes stale by itself."""
    body = _released_record()
    for _ in range(3):
        try:
            etag = put_bytes(store, held.key, body, headers, if_match=held.etag or None)
        except StoreError as exc:
            if exc.code in _BUSY and _still_ours(store, held):
                continue
            if exc.code in _BUSY:
                _remember_if_ours(store, held.key, body)
            return
        except (StoreUnreachable, StoreCredentialsError):
            return
        if etag:
            remember_release(store, held.key, etag)
        return


def _remember_if_ours(store: Store, key: str, body: bytes) -> None:
    """A refused release whose earlier try went through: the record is our released one."""
    try:
        state = read_state(store, key)
    except FlaskS3Error:
        return
    if state.released and state.record == json.loads(body):
        remember_release(store, key, state.etag)


def _releases_path(store: Store, key: str) -> Path | None:
    return scoped_file("lock", store.endpoint, store.bucket, key)


def remember_release(store: Store, key: str, etag: str) -> None:
    """Keep the ETag of the release this process just wrote, for the next apply here."""
    path = _releases_path(store, key)
    if path is not None and _ETAG.fullmatch(etag):
        write_cache(path, {"v": RELEASES_VERSION, "release": {"etag": etag}}, ".lock-")


def recall_release(store: Store, key: str) -> str:
    """The ETag of this machine's last release of ``key``, "" when none is kept (or usable).

    Read it *before* the look it vouches for is sent: a release written after that look
    started could postdate some of its answers."""
    path = _releases_path(store, key)
    etag = read_cache(path, RELEASES_VERSION, "release").get("etag")
    return etag if isinstance(etag, str) and _ETAG.fullmatch(etag) else ""


def _holder_died(holder: Mapping[str, object]) -> bool:
    """True when the lock was taken on this machine by a process that no longer exists."""
    pid = holder.get("pid")
    if holder.get("host") != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        # Ours: another apply of this process holds it, or one that ended left it behind.
        return holder.get("token") not in _HELD
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
