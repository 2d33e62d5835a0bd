"""A lock object under the prefix, taken with a conditional write: one apply at a time.

A lock is broken only when it was read and found past its age limit (or its process, on this
machine, is gone). A lock that cannot be read is an error, never a reason to break it; and a
long apply rewrites its lock every few minutes, so its age stays that of its last sign of life.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone

from ..errors import ApplyError
from .errors import (
    StoreCredentialsError,
    StoreError,
    StoreUnreachable,
    describe_error,
    s3_errors,
)
from .store import Store, put_bytes

LOCK_NAME = "lock.json"
STALE_AFTER = 30 * 60  # seconds without a sign of life before a lock may be broken
REFRESH_EVERY = STALE_AFTER / 6
_HELD: set[str] = set()  # tokens of the locks this process holds right now
_BUSY = ("PreconditionFailed", "ConditionalRequestConflict")


def _body(token: str) -> bytes:
    return json.dumps(
        {
            "token": token,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "since": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "epoch": time.time(),
        }
    ).encode()


@contextmanager
def apply_lock(
    store: Store,
    key: str,
    *,
    stale_after: float = STALE_AFTER,
    refresh_every: float = REFRESH_EVERY,
    headers: Mapping[str, str] | None = None,
) -> Iterator[None]:
    """Hold the lock object ``key`` for the block; refuse if a live apply holds it.

    ``headers`` go with every write of it (the spec's encryption, say)."""
    token = uuid.uuid4().hex
    headers = dict(headers or {})
    _acquire(store, key, token, stale_after, headers)
    _HELD.add(token)
    stop = threading.Event()
    beat = threading.Thread(
        target=_keep_alive, args=(store, key, token, stop, refresh_every, headers), daemon=True
    )
    beat.start()
    try:
        yield
    finally:
        stop.set()
        beat.join()
        _HELD.discard(token)
        try:
            store.delete_object(key)
        except (StoreError, StoreUnreachable):
            pass  # the lock goes stale by itself; never mask the real outcome


def _acquire(
    store: Store, key: str, token: str, stale_after: float, headers: dict[str, str]
) -> None:
    broke = False
    for _ in range(5):  # a lock that vanishes between our write and our read: try again
        try:
            put_bytes(store, key, _body(token), headers, if_none_match=True)
            return
        except StoreError as exc:
            if exc.code not in _BUSY:
                raise describe_error(exc, "upload", store.bucket) from None
        except (StoreUnreachable, StoreCredentialsError) as exc:
            raise describe_error(exc, "upload", store.bucket) from None
        holder = _read_lock(store, key)
        if holder is None:
            continue
        if holder.get("token") == token:
            return  # our own write went through and a retry of it was refused
        epoch = holder.get("epoch")
        age = time.time() - float(epoch) if isinstance(epoch, (int, float)) else None
        if not broke and ((age is not None and age > stale_after) or _holder_died(holder)):
            with s3_errors("delete", store.bucket):
                store.delete_object(key)
            broke = True
            continue
        raise ApplyError(
            "another apply is running on this bucket and prefix",
            f"It started {holder.get('since', 'at an unknown time')} on "
            f"{holder.get('host', 'an unknown host')}. Wait for it to finish; if it died, "
            f"the lock {key!r} expires {int(stale_after // 60)} minutes after its last "
            "refresh (or delete that object by hand).",
        )
    raise ApplyError(
        f"cannot take the lock {key!r}: it keeps changing",
        "Another apply is starting and stopping on this bucket. Wait and run again.",
    )


def _read_lock(store: Store, key: str) -> dict[str, object] | None:
    """The holder's record; None when the lock is gone. Unreadable is an error, not stale."""
    try:
        raw = store.get_object(key)
    except StoreError as exc:
        if exc.status == 404 or exc.code in ("NoSuchKey", "404"):
            return None
        raise _unreadable(key, f"{exc.code} ({exc.status})") from None
    except StoreUnreachable as exc:
        raise _unreadable(key, exc.reason) from None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply to be a record
        data = None
    if not isinstance(data, dict):
        raise _unreadable(key, "it is not a flask-s3 lock record")
    return data


def _unreadable(key: str, why: str) -> ApplyError:
    return ApplyError(
        f"another apply may be running: the lock {key!r} exists but cannot be read ({why})",
        "Nothing was changed. Run again; if no other apply is running and this persists, "
        "delete that object by hand.",
    )


def _keep_alive(
    store: Store,
    key: str,
    token: str,
    stop: threading.Event,
    every: float,
    headers: dict[str, str],
) -> None:
    while not stop.wait(every):
        try:
            put_bytes(store, key, _body(token), headers)
        except (StoreError, StoreUnreachable, StoreCredentialsError):
            pass  # the next beat tries again; the lock is only broken once past its limit


def _holder_died(holder: dict[str, object]) -> bool:
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
