"""Subresource Integrity values of the stored assets, and when browsers need CORS for them.

A value is the SHA-384 of the bytes a browser receives after undoing Content-Encoding, so a
gzip-stored object has the hash of the uncompressed file. The local scan takes it in the same
read as the MD5; the template helpers (``integrity.py``) only look values up.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..spec import Spec

ALGORITHM = "sha384"
VALUE = re.compile(r"sha(?:256|384|512)-[A-Za-z0-9+/]+={0,2}")  # safe in an attribute as is


def sri_of_digest(digest: bytes) -> str:
    """``sha384-<base64>`` for a raw SHA-384 digest, as the SRI spec writes it."""
    return f"{ALGORITHM}-{base64.b64encode(digest).decode('ascii')}"


def sri_value(data: bytes) -> str:
    """The integrity value of ``data`` (the bytes as the browser sees them, decoded)."""
    return sri_of_digest(hashlib.sha384(data).digest())


INTEGRITY_REASON = ("assets.integrity is on", "assets with an integrity attribute")


def module_reason(modules: list[str]) -> tuple[str, str]:
    """``cors_warning``'s reason for ES modules (``<script type="module">`` and what it
    imports are fetched as CORS requests too)."""
    shown = ", ".join(modules[:3]) + (f" and {len(modules) - 3} more" if len(modules) > 3 else "")
    return f"the static files hold ES modules ({shown})", "module scripts"


def cors_warning(spec: Spec, reason: tuple[str, str] = INTEGRITY_REASON) -> str | None:
    """Why browsers would refuse every asset with an integrity attribute, or None.

    ``crossorigin="anonymous"`` makes the fetch a CORS request; without an
    Access-Control-Allow-Origin answer the browser blocks the asset. Module scripts are
    always fetched that way; ``reason`` (why, what is refused) says which case this is.
    """
    why, what = reason
    cors = spec.bucket.cors
    if cors is None:
        return (
            f"{why} but bucket.cors is not set: browsers fetch {what} as CORS requests and "
            "refuse them without CORS headers. Set bucket.cors to the pages' origins "
            '(e.g. ["https://shop.example.com"]) unless the bucket or CDN already sends them'
        )
    if not cors.allowed_origins:
        return (
            f"{why} but bucket.cors allows no origin: browsers will refuse {what}. List the "
            "pages' origins in bucket.cors.allowed_origins"
        )
    if "GET" not in {m.upper() for m in cors.allowed_methods}:
        return (
            f"{why} but bucket.cors does not allow GET: browsers will refuse {what}. Add GET "
            "to bucket.cors.allowed_methods"
        )
    return None
