"""What a finished apply leaves of its lock: nothing, or a released record (never a held one)."""

from __future__ import annotations

import json
from typing import Any


def lock_is_free(s3_client: Any, bucket: str, key: str) -> bool:
    """True when ``key`` is absent or holds a released record (no apply holds the lock)."""
    try:
        body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3_client.exceptions.NoSuchKey:
        return True
    record = json.loads(body)
    return record.get("released") is True and "token" not in record
