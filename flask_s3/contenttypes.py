"""Our own, versioned Content-Type table: OS ``mimetypes`` tables differ between machines."""

from __future__ import annotations

import mimetypes
import posixpath

TABLE_VERSION = 1

CONTENT_TYPES: dict[str, str] = {
    ".css": "text/css",
    ".js": "application/javascript",
    ".mjs": "application/javascript",
    ".cjs": "application/javascript",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".wasm": "application/wasm",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".eot": "application/vnd.ms-fontobject",
    ".ico": "image/x-icon",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".bmp": "image/bmp",
    ".html": "text/html",
    ".htm": "text/html",
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".csv": "text/csv",
    ".xml": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".pdf": "application/pdf",
    ".zip": "application/zip",
    ".gz": "application/gzip",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".ogg": "audio/ogg",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".vtt": "text/vtt",
}

FALLBACK = "application/octet-stream"
TEXT_LIKE = frozenset(
    {
        "application/javascript",
        "application/json",
        "application/manifest+json",
        "application/xml",
        "application/rss+xml",
        "application/atom+xml",
        "image/svg+xml",
    }
)


def content_type(name: str) -> str:
    """The Content-Type for a file name, with ``charset=utf-8`` on text types."""
    ext = posixpath.splitext(name)[1].lower()
    known = _FROM_TABLE.get(ext)
    if known is not None:
        return known
    return _with_charset(mimetypes.guess_type(name, strict=False)[0] or FALLBACK)


def _with_charset(base: str) -> str:
    if base.startswith("text/") or base in TEXT_LIKE:
        return f"{base}; charset=utf-8"
    return base


_FROM_TABLE = {ext: _with_charset(base) for ext, base in CONTENT_TYPES.items()}


def media_type(value: str) -> str:
    """``text/css; charset=utf-8`` -> ``text/css``."""
    return value.split(";", 1)[0].strip().lower()


def type_matches(ctype: str, patterns: tuple[str, ...] | list[str]) -> bool:
    """Whether a Content-Type is one of ``patterns``: ``text/css``, ``text/*`` or ``*/*``."""
    media = media_type(ctype)
    family = media.split("/", 1)[0] + "/*"
    return any(media_type(p) in (media, family, "*/*") for p in patterns)
