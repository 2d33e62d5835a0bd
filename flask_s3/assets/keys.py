"""The one rule that turns a static file into an S3 key and a ``url_for`` call into a URL.

Both the deployer (which stores files under keys) and the extension (which builds URLs) call
these functions, so a key and its URL cannot drift apart.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from ..records import frozen

if TYPE_CHECKING:  # Flask is imported by the app itself, after the first connections opened
    from flask import Flask

FILENAME_SUFFIX = "/<path:filename>"

# our own objects (manifest, lock, CDN marker) live in this folder under the prefix
CONTROL_DIR = ".flask-s3"


@frozen
class StaticSource:
    """A static folder and the URL path Flask routes it under (``static``, ``admin/static``)."""

    endpoint: str
    folder: Path
    url_path: str


def static_sources(app: Flask) -> list[StaticSource]:
    """Every static folder of the app and of every registered blueprint, nested ones too.

    The URL path comes from ``app.url_map`` so that ``url_prefix`` given at registration and
    nested blueprints appear exactly as Flask routes them.
    """
    sources: list[StaticSource] = []
    seen: set[str] = set()
    for rule in app.url_map.iter_rules():
        endpoint = rule.endpoint
        if endpoint in seen or not is_static_endpoint(endpoint):
            continue
        url_path = static_url_path(rule.rule)
        if url_path is None:
            continue
        folder = static_folder(app, endpoint)
        if folder is None:
            continue
        seen.add(endpoint)
        sources.append(StaticSource(endpoint=endpoint, folder=folder, url_path=url_path))
    return sources


def is_static_endpoint(endpoint: str) -> bool:
    return endpoint == "static" or endpoint.endswith(".static")


def static_url_path(rule: str) -> str | None:
    """``/admin/static/<path:filename>`` -> ``admin/static``; None for a rule we cannot map."""
    if not rule.endswith(FILENAME_SUFFIX):
        return None
    head = rule[: -len(FILENAME_SUFFIX)]
    if "<" in head:  # a variable part (e.g. <lang>) has no single key
        return None
    return head.strip("/")


def static_folder(app: Flask, endpoint: str) -> Path | None:
    if endpoint == "static":
        folder = app.static_folder
    else:
        blueprint = app.blueprints.get(endpoint[: -len(".static")])
        folder = blueprint.static_folder if blueprint is not None else None
    return Path(folder) if folder else None


def normalize_prefix(prefix: str) -> str:
    """``/assets/`` -> ``assets``; the empty prefix stays empty."""
    return prefix.strip("/")


def join_key(*parts: str) -> str:
    """Join key parts with single slashes, skipping empty ones."""
    kept = []
    for part in parts:
        part = part.strip("/")
        if part:
            kept.append(part)
    return "/".join(kept)


def key_filename(filename: str) -> str:
    """The part of a key a file name gives: NFC, forward slashes, no slash at either end.

    NFC because macOS file systems hand out NFD names while editors and templates type NFC:
    both must reach the same key.
    """
    name = filename.replace("\\", "/")
    if not name.isascii():  # ASCII is already NFC
        name = unicodedata.normalize("NFC", name)
    return name.strip("/")


def static_key(prefix: str, url_path: str, filename: str) -> str:
    """The S3 key of ``filename`` (relative, POSIX) served under ``url_path``."""
    return join_key(prefix, url_path, key_filename(filename))


def quote_key(key: str) -> str:
    """Percent-encode a key for a URL the way S3 expects (``+`` too, which S3 reads as space)."""
    return quote(key, safe="/~")


def bucket_base_url(
    bucket: str,
    *,
    scheme: str | None,
    style: str = "host",
    bucket_domain: str = "s3.amazonaws.com",
    cdn_domain: str | None = None,
) -> str:
    """``https://bucket.s3.amazonaws.com`` / ``//cdn.example.com`` / ``http://host/bucket``."""
    if cdn_domain:
        host = cdn_domain.strip("/")
    elif style == "path":
        host = f"{bucket_domain.strip('/')}/{bucket}"
    else:
        host = f"{bucket}.{bucket_domain.strip('/')}"
    lead = f"{scheme}://" if scheme and scheme != "relative" else "//"
    return lead + host
