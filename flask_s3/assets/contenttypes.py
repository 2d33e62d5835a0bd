"""Our own, versioned Content-Type table: the same answer on every machine.

``mimetypes.guess_type`` reads the OS tables (``/etc/mime.types``, the Windows registry), so
one file gets different types on a laptop and in CI (``.ts`` as Qt Linguist, ``.js`` as
``text/plain`` on some Windows setups) and ``update-headers`` churns between them. We look a
name up in our table first, then in Python's built-in table through a ``MimeTypes`` instance,
which holds only the defaults compiled into the standard library and never the OS files.

Python's built-in table also changes between versions (``.js``, ``.bmp``, ``.rtf``, ``.md``,
``.avif``, ``.webp``, ``.vtt`` differ between 3.10 and 3.13, and newer versions add audio,
video, font and office types), so every extension a website plausibly serves is pinned here.
Only the long tail (``.tex``, ``.pbm``...) comes from the standard library.
"""

from __future__ import annotations

import mimetypes
import posixpath

TABLE_VERSION = 3  # 3: .js/.mjs/.cjs as text/javascript (RFC 9239)

CONTENT_TYPES: dict[str, str] = {
    # Styles, scripts, data
    ".css": "text/css",
    # RFC 9239 (2022): text/javascript is the one JavaScript type; application/javascript is
    # obsolete (still understood by every browser).
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".cjs": "text/javascript",
    # TypeScript sources, shipped next to the compiled JS for source maps. Not the MPEG
    # transport stream of the IANA registry (.ts HLS segments): set those with a rule.
    ".ts": "application/typescript",
    ".mts": "application/typescript",
    ".cts": "application/typescript",
    ".tsx": "application/typescript",
    ".json": "application/json",
    ".map": "application/json",
    ".jsonld": "application/ld+json",
    ".geojson": "application/geo+json",
    ".webmanifest": "application/manifest+json",
    ".wasm": "application/wasm",
    ".xml": "application/xml",
    ".xsl": "application/xml",
    ".xhtml": "application/xhtml+xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".toml": "application/toml",
    # Text
    ".html": "text/html",
    ".htm": "text/html",
    ".txt": "text/plain",
    ".srt": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".rst": "text/x-rst",
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".ics": "text/calendar",
    ".vtt": "text/vtt",
    ".n3": "text/n3",
    ".nq": "application/n-quads",
    ".nt": "application/n-triples",
    ".trig": "application/trig",
    # Fonts
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".ttc": "font/collection",
    ".eot": "application/vnd.ms-fontobject",
    # Images
    ".svg": "image/svg+xml",
    ".svgz": "image/svg+xml",  # already gzipped: give it Content-Encoding with a rule
    ".ico": "image/x-icon",
    ".png": "image/png",
    ".apng": "image/apng",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".jxl": "image/jxl",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    # Audio
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".weba": "audio/webm",
    ".mid": "audio/midi",
    ".midi": "audio/midi",
    # Video and streaming playlists
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".webm": "video/webm",
    ".ogv": "video/ogg",
    ".mov": "video/quicktime",
    ".mkv": "video/matroska",
    ".mpeg": "video/mpeg",
    ".mpg": "video/mpeg",
    ".avi": "video/x-msvideo",
    ".3gp": "video/3gpp",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mpd": "application/dash+xml",
    # 3D models
    ".glb": "model/gltf-binary",
    ".gltf": "model/gltf+json",
    ".stl": "model/stl",
    ".usdz": "model/vnd.usdz+zip",
    # Documents
    ".pdf": "application/pdf",
    ".epub": "application/epub+zip",
    ".rtf": "application/rtf",
    ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xls": "application/vnd.ms-excel",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".ppt": "application/vnd.ms-powerpoint",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".odp": "application/vnd.oasis.opendocument.presentation",
    # Archives: the archive itself, never "the type inside with an encoding"
    ".zip": "application/zip",
    ".gz": "application/gzip",
    ".tgz": "application/gzip",
    ".bz2": "application/x-bzip2",
    ".xz": "application/x-xz",
    ".zst": "application/zstd",
    ".br": "application/x-brotli",
    ".tar": "application/x-tar",
    ".7z": "application/x-7z-compressed",
    ".rar": "application/vnd.rar",
}

FALLBACK = "application/octet-stream"
TEXT_LIKE = frozenset(
    {
        "application/javascript",
        "application/typescript",
        "application/json",
        "application/xml",
        "application/yaml",
        "application/toml",
        "application/n-quads",
        "application/n-triples",
        "application/trig",
    }
)
TEXT_SUFFIXES = ("+json", "+xml")


def content_type(name: str) -> str:
    """The Content-Type for a file name, with ``charset=utf-8`` on text types.

    Decided by the last extension alone, case-insensitively: ``app.css.gz`` is a gzip file,
    not CSS with an encoding (S3 would serve it as CSS without ``Content-Encoding``).
    """
    ext = _extension(name).lower()
    known = _FROM_TABLE.get(ext)
    if known is not None:
        return known
    if not ext:
        return FALLBACK
    found = _BUILTIN.get(ext)
    if found is None:
        found = _BUILTIN[ext] = _with_charset(_builtin_type(ext) or FALLBACK)
    return found


def _extension(name: str) -> str:
    """``posixpath.splitext(name)[1]`` without its two Python calls (once per file of a scan):
    from the last dot of the last segment, unless only dots come before it there."""
    base = name[name.rfind("/") + 1 :]
    dot = base.rfind(".")
    return base[dot:] if dot > 0 and base[:dot].strip(".") else ""


def _builtin_type(ext: str) -> str | None:
    """Python's own table for ``ext``, strict types first: never the OS's files.

    ``MimeTypes()`` starts from the defaults compiled into the standard library and reads
    only the files it is given (none here); ``mimetypes.init`` would read ``knownfiles``.
    """
    global _DEFAULTS
    if _DEFAULTS is None:
        _DEFAULTS = mimetypes.MimeTypes(filenames=())
    strict, lenient = _DEFAULTS.types_map[True], _DEFAULTS.types_map[False]
    return strict.get(ext) or lenient.get(ext)


def _with_charset(base: str) -> str:
    if base.startswith("text/") or base in TEXT_LIKE or base.endswith(TEXT_SUFFIXES):
        return f"{base}; charset=utf-8"
    return base


_FROM_TABLE = {ext: _with_charset(base) for ext, base in CONTENT_TYPES.items()}
_BUILTIN: dict[str, str] = {}  # extension -> answer from Python's table, filled on use
_DEFAULTS: mimetypes.MimeTypes | None = None


# What Flask-S3 0.3 stored as Content-Type (``mimetypes.guess_type`` with the OS tables of a
# current Debian/Ubuntu, no charset), for the extensions a website serves: pinned, so
# `flask-s3 init` writes the same rules on every machine. 0.3 set it only on gzipped objects
# or with FLASKS3_FORCE_MIMETYPE; an extension missing here got no Content-Type from 0.3.
FLASKS3_0_3_TYPES: dict[str, str] = {
    ".css": "text/css",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".xml": "application/xml",
    ".html": "text/html",
    ".htm": "text/html",
    ".txt": "text/plain",
    ".csv": "text/csv",
    ".svg": "image/svg+xml",
    ".ico": "image/vnd.microsoft.icon",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".bmp": "image/bmp",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".eot": "application/vnd.ms-fontobject",
    ".pdf": "application/pdf",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".mp3": "audio/mpeg",
    ".wasm": "application/wasm",
    ".webmanifest": "application/manifest+json",
    ".zip": "application/zip",
}


def flasks3_content_type(name: str) -> str | None:
    """The Content-Type Flask-S3 0.3 stored for ``name`` when it set one; None if unknown.

    0.3 compared extensions case-sensitively through ``mimetypes``, which lower-cases them.
    """
    return FLASKS3_0_3_TYPES.get(posixpath.splitext(name)[1].lower())


def media_type(value: str) -> str:
    """``text/css; charset=utf-8`` -> ``text/css``."""
    return value.split(";", 1)[0].strip().lower()


# Names JavaScript had before RFC 9239: a pattern naming one matches text/javascript too, so a
# spec listing application/javascript keeps gzipping .js files now typed text/javascript.
JAVASCRIPT_ALIASES = frozenset(
    {"application/javascript", "application/x-javascript", "application/ecmascript"}
)


def _unaliased(media: str) -> str:
    return "text/javascript" if media in JAVASCRIPT_ALIASES else media


def type_matches(ctype: str, patterns: tuple[str, ...] | list[str]) -> bool:
    """Whether a Content-Type is one of ``patterns``: ``text/css``, ``text/*`` or ``*/*``."""
    media = media_type(ctype)
    family = media.split("/", 1)[0] + "/*"
    if any(media_type(p) in (media, family, "*/*") for p in patterns):
        return True
    canonical = _unaliased(media)
    return any(_unaliased(media_type(p)) == canonical for p in patterns)
