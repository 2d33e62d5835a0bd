"""The manifest object ``PREFIX/.flask-s3/manifest.json.gz``: each key's MD5 and headers.

S3 listings carry size and ETag but no headers; the manifest lets the next plan see header
drift without one HEAD per object. It is checked against the listing (an entry whose MD5
is not the object's ETag is not trusted) and written last by apply.
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass, field
from sys import intern
from typing import Any

from ..records import frozen

MANIFEST_NAME = "manifest.json.gz"
MANIFEST_FORMAT = 2
MAX_MANIFEST = 64 * 1024 * 1024  # unpacked; 20,000 files take about 2 MB


@dataclass(frozen=True, slots=True, init=False)  # slots: one per object, 200,000 in a big tree
class ManifestEntry:
    """What the manifest says of one stored object."""

    md5: str  # of the stored bytes
    headers: dict[str, str]
    etag: str | None = None  # a multipart object's ETag (not an MD5), which vouches for md5

    def __init__(self, md5: str, headers: dict[str, str], etag: str | None = None) -> None:
        # The slots' own setters, not the frozen dataclass's object.__setattr__ per field:
        # a third of the time, for an entry made per object of every manifest read.
        _SET_MD5(self, md5)
        _SET_HEADERS(self, headers)
        _SET_ETAG(self, etag)

    def vouches_for(self, etag: str) -> bool:
        """True when this entry describes the object the listing shows with ``etag``."""
        return (self.etag or self.md5) == etag


_SET_MD5, _SET_HEADERS, _SET_ETAG = (
    ManifestEntry.__dict__[name].__set__ for name in ("md5", "headers", "etag")
)


def is_multipart_etag(etag: str) -> bool:
    """``<md5 of the parts' md5s>-<parts>``: an ETag that says nothing about the content."""
    return "-" in etag


@frozen
class Manifest:
    """What the manifest object says; ``state`` is ok, missing or corrupt."""

    entries: dict[str, ManifestEntry] = field(default_factory=dict)
    generations: list[list[str]] = field(default_factory=list)  # fingerprinted deploys
    state: str = "missing"


def decode_manifest(body: bytes) -> Manifest:
    """Read the manifest's bytes; damage gives state "corrupt", never an exception."""
    try:
        # A 200,000-key manifest parses into about 60 MB of short-lived lists and strings, while
        # the listing and the scan run beside it: the unpacked bytes are let go before the
        # parse, the text after it, and each parsed entry as soon as it has been read.
        text = _gunzip(body).decode("utf-8")
        data = json.loads(text)
        del text
        if data.get("format") != MANIFEST_FORMAT:
            return Manifest(state="corrupt")
        header_sets = [{str(a): str(b) for a, b in h.items()} for h in data["headers"]]
        objects = data["objects"]
        entries: dict[str, ManifestEntry] = {}
        pop = objects.popitem
        while objects:
            k, v = pop()
            # Keys and MD5s interned: the listing and the local scan hold the same strings.
            # (A JSON object's keys are strings already; the values are whatever was sent.)
            entries[intern(k)] = ManifestEntry(
                intern(str(v[0])), header_sets[v[1]], str(v[2]) if v[2:] else None
            )
        generations = [[intern(str(k)) for k in gen] for gen in data.get("generations", [])]
    except (
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        OSError,
        EOFError,
        RecursionError,  # nested too deeply to be a manifest
        zlib.error,
    ):
        return Manifest(state="corrupt")
    return Manifest(entries, generations, "ok")


def _gunzip(body: bytes) -> bytes:
    """The manifest's JSON, refused (ValueError) beyond MAX_MANIFEST bytes: a small object
    from a hostile endpoint must not unpack into gigabytes."""
    unpacker = zlib.decompressobj(wbits=31)  # gzip framing
    data = unpacker.decompress(body, MAX_MANIFEST + 1)
    if len(data) > MAX_MANIFEST or unpacker.unconsumed_tail:
        raise ValueError("manifest too large")
    if not unpacker.eof:
        raise ValueError("manifest truncated")
    return data


def encode_manifest(
    entries: dict[str, ManifestEntry], generations: list[list[str]] | None = None
) -> bytes:
    """Every key's MD5 and the index of its header set: a few hundred KB for 20,000 files."""
    header_sets: list[dict[str, str]] = []
    index: dict[tuple[tuple[str, str], ...], int] = {}
    # Entries share a handful of header dicts: each is frozen and looked up once, not once per
    # key (keyed by id: every dict stays alive in ``entries`` meanwhile).
    numbers: dict[int, int] = {}
    objects: dict[str, list[Any]] = {}
    for key in sorted(entries):  # the keys alone: sorting (key, entry) pairs costs far more
        entry = entries[key]
        number = numbers.get(id(entry.headers))
        if number is None:
            frozen = tuple(sorted(entry.headers.items()))
            number = index.get(frozen)
            if number is None:
                number = index[frozen] = len(header_sets)
                header_sets.append(dict(frozen))
            numbers[id(entry.headers)] = number
        objects[key] = [entry.md5, number, entry.etag] if entry.etag else [entry.md5, number]
    data: dict[str, Any] = {"format": MANIFEST_FORMAT, "headers": header_sets, "objects": objects}
    if generations:
        data["generations"] = generations
    return gzip.compress(json.dumps(data, separators=(",", ":")).encode(), compresslevel=6, mtime=0)
