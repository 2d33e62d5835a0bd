"""A lock object under the prefix, taken with a conditional write: one apply at a time."""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from .encryption import spec_headers
from .errors import ApplyError
from .headers import to_put_params
from .remote import control_key, s3_errors
from .spec import Spec
from .wire import wire_for

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LOCK_NAME = "lock.json"
STALE_AFTER = 30 * 60  # seconds: an apply that died leaves a lock; after this it is broken
_HELD: set[str] = set()  # tokens of the locks this process holds right now


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


@contextmanager
def apply_lock(client: S3Client, spec: Spec, stale_after: float = STALE_AFTER) -> Iterator[None]:
    """Hold ``PREFIX/.flask-s3/lock.json`` for the block; refuse if another apply holds it."""
    key = control_key(spec, LOCK_NAME)
    bucket = spec.bucket.name
    token = uuid.uuid4().hex
    body = json.dumps(
        {
            "token": token,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "since": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "epoch": time.time(),
        }
    ).encode()
    for attempt in (1, 2):
        try:
            with s3_errors("upload", bucket):
                wire = wire_for(client, bucket)
                encrypted = spec_headers(spec)  # hook: issue 14 (assets.encryption)
                if wire is not None:
                    wire.put_bytes(bucket, key, body, **{"If-None-Match": "*"}, **encrypted)
                else:
                    client.put_object(
                        Bucket=bucket,
                        Key=key,
                        Body=body,
                        IfNoneMatch="*",
                        **to_put_params(encrypted),
                    )
            break
        except Exception as exc:
            cause = exc.__cause__ or exc.__context__ or exc
            if _error_code(cause) not in (
                "PreconditionFailed",
                "ConditionalRequestConflict",
            ):
                raise
            holder = _read_lock(client, bucket, key)
            if holder.get("token") == token:
                break  # our own write went through and a retry of it was refused
            epoch = holder.get("epoch", 0)
            age = time.time() - (float(epoch) if isinstance(epoch, (int, float)) else 0.0)
            if (age > stale_after or _holder_died(holder)) and attempt == 1:
                _delete(client, bucket, key)
                continue
            raise ApplyError(
                "another apply is running on this bucket and prefix",
                f"It started {holder.get('since', 'at an unknown time')} on "
                f"{holder.get('host', 'an unknown host')}. Wait for it to finish; if it died, "
                f"the lock {key!r} expires after {int(stale_after // 60)} minutes "
                "(or delete that object by hand).",
            ) from None
    _HELD.add(token)
    try:
        yield
    finally:
        _HELD.discard(token)
        try:
            _delete(client, bucket, key)
        except Exception:  # the lock goes stale by itself; never mask the real outcome
            pass


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


def _delete(client: S3Client, bucket: str, key: str) -> None:
    wire = wire_for(client, bucket)
    if wire is not None:
        wire.delete(bucket, key)
    else:
        client.delete_object(Bucket=bucket, Key=key)


def _read_lock(client: S3Client, bucket: str, key: str) -> dict[str, object]:
    wire = wire_for(client, bucket)
    try:
        if wire is not None:
            raw = wire.get(bucket, key)
        else:
            raw = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        data = json.loads(raw)
    except Exception:
        return {}
    return data if isinstance(data, dict) else {}
