"""The manifest object ``PREFIX/.flask-s3/manifest.json.gz``: each key's MD5 and headers.

S3 listings carry size and ETag but no headers; the manifest lets the next plan see header
drift without one HEAD per object. It is checked against the listing (an entry whose MD5
is not the object's ETag is not trusted) and written last by apply.
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import field
from itertools import repeat
from operator import itemgetter
from sys import intern
from typing import Any, NamedTuple

from ..records import frozen

MANIFEST_NAME = "manifest.json.gz"
MANIFEST_FORMAT = 2
MAX_MANIFEST = 64 * 1024 * 1024  # unpacked; 20,000 files take about 2 MB


class ManifestEntry(NamedTuple):
    """What the manifest says of one stored object.

    A tuple (one per object, 200,000 in a big tree): ``decode_manifest`` makes them all with
    ``tuple.__new__`` in C, without a Python call each."""

    md5: str  # of the stored bytes
    headers: dict[str, str]
    etag: str | None = None  # a multipart object's ETag (not an MD5), which vouches for md5

    def vouches_for(self, etag: str) -> bool:
        """True when this entry describes the object the listing shows with ``etag``."""
        return (self.etag or self.md5) == etag


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
        # parse, the text after it, and the parsed objects once the entries are made.
        text = _gunzip(body).decode("utf-8")
        data = json.loads(text)
        del text
        if data.get("format") != MANIFEST_FORMAT:
            return Manifest(state="corrupt")
        header_sets = [{str(a): str(b) for a, b in h.items()} for h in data["headers"]]
        entries = _entries(data.pop("objects"), header_sets)
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


_MD5, _NUMBER = itemgetter(0), itemgetter(1)


def _entries(
    objects: dict[str, Any], header_sets: list[dict[str, str]]
) -> dict[str, ManifestEntry]:
    """Each key's entry, read field by field in C: ``[md5, header set]`` or ``[md5, header
    set, ETag]`` per key, each MD5 and ETag taken as ``str`` gives it, an index out of the
    header sets (or a value of another shape) raising as the loop it replaced did.

    Keys and MD5s interned: the listing and the local scan hold the same strings. (A JSON
    object's keys are strings already; the values are whatever was sent.)"""
    values = objects.values()
    lengths = list(map(len, values))
    md5s = map(intern, map(str, map(_MD5, values)))
    headers = map(header_sets.__getitem__, map(_NUMBER, values))
    entries = dict(
        zip(
            map(intern, objects),
            map(tuple.__new__, repeat(ManifestEntry), zip(md5s, headers, repeat(None))),
            strict=True,
        )
    )
    if lengths and max(lengths) > 2:  # an ETag of its own: a multipart or adopted object
        for key, value in objects.items():
            if len(value) > 2:
                entries[key] = ManifestEntry(entries[key].md5, entries[key].headers, str(value[2]))
    return entries


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
