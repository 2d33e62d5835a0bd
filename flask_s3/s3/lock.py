"""A lock object under the prefix, taken with a conditional write: one apply at a time.

The lock is taken before the bucket is read for a plan and held until the manifest is
written, so the plan that runs is the plan made under it. Its record says who holds it (host,
process, user, since when) and carries a token: ``flask-s3 unlock`` releases it only with that
token (or ``--force``). A holder rewrites its record every ``REFRESH_EVERY`` seconds; a record
older than ``STALE_AFTER`` (a few missed refreshes) belongs to a holder that is gone and may be
broken, as may a record left on this machine by a process that no longer exists. A lock that
cannot be read is an error, never a reason to break it.
"""

from __future__ import annotations

import getpass
import json
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import field
from datetime import datetime, timezone

from ..errors import ApplyError, FlaskS3Error
from ..records import record
from .errors import (
    StoreCredentialsError,
    StoreError,
    StoreUnreachable,
    describe_error,
    s3_errors,
)
from .store import Store, put_bytes

LOCK_NAME = "lock.json"
REFRESH_EVERY = 60.0  # seconds between two rewrites of a held lock
STALE_AFTER = 4 * REFRESH_EVERY  # four missed refreshes: the holder is gone
LEGACY_STALE_AFTER = 30 * 60  # a record without refresh_every: flask-s3 1.0 refreshed every 5 min
LOCK_WAIT = 120.0  # how long an apply waits for another one to finish, by default
_HELD: set[str] = set()  # tokens of the locks this process holds right now
_HERE = threading.local()  # (bucket, key) of the locks the current thread holds
_BUSY = ("PreconditionFailed", "ConditionalRequestConflict")
WaitProgress = Callable[[str, float], None]  # (who holds it, seconds waited so far)


@record
class Held:
    """A lock this process holds; ``lost`` is set when another writer took it over."""

    key: str
    token: str
    lost: threading.Event = field(default_factory=threading.Event)

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
) -> Iterator[Held]:
    """Hold the lock object ``key`` for the block; wait up to ``wait`` seconds for a live
    holder to finish, then refuse, naming it.

    ``headers`` go with every write of it (the spec's encryption, say). ``stale_after``
    overrides the age past which any record counts as abandoned (tests)."""
    token = uuid.uuid4().hex
    since = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = dict(headers or {})
    _acquire(store, key, token, since, stale_after, headers, wait, on_wait)
    held = Held(key, token)
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
            try:
                store.delete_object(key)
            except (StoreError, StoreUnreachable):
                pass  # the lock goes stale by itself; never mask the real outcome


def _acquire(
    store: Store,
    key: str,
    token: str,
    since: str,
    stale_after: float | None,
    headers: dict[str, str],
    wait: float,
    on_wait: WaitProgress | None,
) -> None:
    started = time.monotonic()
    broke = False
    vanished = 0
    while True:
        try:
            put_bytes(store, key, _record(token, since), headers, if_none_match=True)
            return
        except StoreError as exc:
            if exc.code not in _BUSY:
                raise describe_error(exc, "upload", store.bucket) from None
        except (StoreUnreachable, StoreCredentialsError) as exc:
            raise describe_error(exc, "upload", store.bucket) from None
        holder = read_lock(store, key)
        if holder is None:
            vanished += 1  # released between our write and our read: try again
            if vanished > 20:
                raise ApplyError(
                    f"cannot take the lock {key!r}: it keeps changing",
                    "Another apply is starting and stopping on this bucket. Wait and run again.",
                )
            continue
        if holder.get("token") == token:
            return  # our own write went through and a retry of it was refused
        if not broke and is_abandoned(holder, stale_after):
            with s3_errors("delete", store.bucket):
                store.delete_object(key)
            broke = True
            continue
        waited = time.monotonic() - started
        if waited >= wait:
            raise ApplyError(
                "another apply is running on this bucket and prefix",
                f"The lock {key!r} is held by {describe_holder(holder)}"
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


def read_lock(store: Store, key: str) -> dict[str, object] | None:
    """The holder's record; None when the lock is gone. Unreadable is an error, not stale."""
    try:
        raw = store.get_object(key)
    except StoreError as exc:
        if exc.status == 404 or exc.code in ("NoSuchKey", "404"):
            return None
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
    return data


def release(store: Store, key: str, token: str | None) -> dict[str, object] | None:
    """Delete the lock ``key`` if its record carries ``token`` (any record when None).

    Returns the record that was released (None: there was no lock). A record with another
    token is refused: it is a newer lock than the one the caller looked at."""
    holder = read_lock(store, key)
    if holder is None:
        return None
    if token is not None and holder.get("token") != token:
        raise ApplyError(
            "the lock is held under another token",
            f"It is held by {describe_holder(holder)} with token {holder.get('token', '?')}. "
            "Check that this holder is gone before releasing it with that token.",
        )
    with s3_errors("delete", store.bucket):
        store.delete_object(key)
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
            holder = read_lock(store, held.key)
        except FlaskS3Error:  # unreadable right now: rewrite ours, as before
            holder = {"token": held.token}
        if holder is None or holder.get("token") != held.token:
            # Broken as stale (we were stalled too long) or released by force: the lock is
            # someone else's now, and rewriting it would make two writers.
            held.lost.set()
            return
        try:
            put_bytes(store, held.key, _record(held.token, since), headers)
        except (StoreError, StoreUnreachable, StoreCredentialsError):
            pass  # the next beat tries again; the lock is only broken once past its limit


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
