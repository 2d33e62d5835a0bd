"""A ListObjectsV2 page read without building a tree, for the shape S3 stores send.

ElementTree builds an element per field (six per object) and the fields are then read back in
Python: about 6 ms of CPU a page of 1000 keys, a second on a 200,000-file no-op. S3 and
SeaweedFS send one flat shape (an XML declaration, the root with S3's namespace, simple
elements, ``Contents`` and ``CommonPrefixes`` one level deep), which a few regular
expressions read in a single pass, half the cost.

Strictness stays ElementTree's: this reader accepts only a subset of XML whose meaning is plain
(no DOCTYPE, comments, CDATA, attributes, other namespaces or encodings; only the five
predefined entities and character references to characters XML allows; no raw control
characters, carriage returns or ">"), and answers ``None`` for anything else, which then goes
to ElementTree as before (``xmlcodec.Page``). For every page it accepts, it gives what
ElementTree's reading gives, field for field: the first ``EncodingType``,
``IsTruncated`` and ``NextContinuationToken`` of the root; each ``Contents``'s last ``Key``,
``Size`` and ``ETag``; each ``CommonPrefixes``'s first ``Prefix``. The objects of a page
as these stores send them (one run of flat ``Contents``, no references but the ETag's quotes)
are read in one ``findall`` and made without a Python call each (``plain_run``), twice as
fast again; a page with anything else among its objects is read element by element.
``tests/test_listxml.py`` holds both ways to ElementTree on random and hostile pages.

An error body (``<Error>`` with simple elements: S3's and SeaweedFS's) is read the same way:
a no-op meets one every run when the bucket has no policy (``NoSuchBucketPolicy``), and
ElementTree's import alone (with pyexpat) is several milliseconds of CPU.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from itertools import repeat
from operator import itemgetter
from sys import intern

from .store import ObjectInfo, listed

_QUOTES = ("&#34;", "&quot;")  # around an ETag: SeaweedFS's (Go's encoder), S3's

# A character of text taken as it is: not markup, not a control character (tab and line feed
# are kept as they are by XML too; a carriage return would be normalised, so it is left to
# ElementTree), not a non-character. A reference is one of the five entities or a number.
_CHAR = r"[^<>&\x00-\x08\x0b-\x1f]"  # ASCII only: a class with ranges above it takes 5x
# longer to compile (at every start). Surrogates cannot come out of a strict UTF-8 decode, and
# the two non-characters are looked for in the whole page (``read_page``).
_TEXT = rf"{_CHAR}*(?:&(?:amp|lt|gt|quot|apos|#[0-9]{{1,7}}|#x[0-9a-fA-F]{{1,6}});{_CHAR}*)*"
_WS = r"[ \t\n]*"  # XML's white space between elements, without the carriage return
_NAME = r"[A-Za-z][A-Za-z0-9]*"
# ElementTree's ``iter`` finds CommonPrefixes at any depth: outside the top level, none at all.
_NOT_CP = r"(?!CommonPrefixes>)"


def _simple(group: int, but: str = "") -> str:
    """A simple element (text only), its name in group number ``group``, not named ``but``."""
    other = f"(?!{but}>)" if but else ""
    return rf"<({_NOT_CP}{other}{_NAME})>{_TEXT}</\{group}>"


_DECLARATIONS = (
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<?xml version="1.0" encoding="utf-8"?>',
)
_ROOT_OPEN = '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
_ROOT_CLOSE = "</ListBucketResult>"

# One object: the last Key, ETag and Size win (ElementTree's reading walks every child); any
# other child is a simple element or one holding simple elements (Owner, RestoreStatus).
_CONTENTS = re.compile(
    rf"<Contents>{_WS}(?:(?:<Key>({_TEXT})</Key>|<ETag>({_TEXT})</ETag>"
    rf"|<Size>([0-9]+)</Size>|<({_NOT_CP}(?!(?:Key|ETag|Size)>){_NAME})>"
    rf"(?:{_TEXT}|{_WS}(?:{_simple(5)}{_WS})*)</\4>){_WS})*</Contents>{_WS}"
)
_FOLDER_OPEN = "<CommonPrefixes>"


@functools.cache
def _folder() -> re.Pattern[str]:
    """One folder: its first Prefix (``findtext``), any other simple children before or after.
    Compiled on the first page that has one (1-2 ms): a flat listing has none."""
    return re.compile(
        rf"{_FOLDER_OPEN}{_WS}(?:{_simple(1, 'Prefix')}{_WS})*"
        rf"(?:<Prefix>({_TEXT})</Prefix>{_WS}(?:{_simple(3)}{_WS})*)?</CommonPrefixes>{_WS}"
    )


# The run of objects as S3 and SeaweedFS send it, one ``Contents`` after another: Key, ETag
# (its quotes as references), Size, and LastModified and StorageClass where these two stores put
# them, nothing between the elements and no reference in any text. ``findall`` reads a whole
# run in one pass of the engine, and the objects are then made without a Python call each (a
# third of the CPU of a 200,000-file no-op went into the page loop below). Anything else in the
# run (group 4: from there to the run's end, so that a pretty-printed page costs one row more,
# not a row per character) sends the page the general way.
_PLAIN_TEXT = r"[^<>&\x00-\x08\x0b-\x1f]*"  # _CHAR without references: the text is its value
_QUOTE = "(?:&#34;|&quot;)"
_PLAIN_RUN = re.compile(
    rf"<Contents><Key>({_PLAIN_TEXT})</Key>(?:<LastModified>{_PLAIN_TEXT}</LastModified>)?"
    rf"<ETag>{_QUOTE}([0-9A-Za-z-]*){_QUOTE}</ETag><Size>([0-9]+)</Size>"
    rf"(?:<StorageClass>{_PLAIN_TEXT}</StorageClass>)?"
    rf"(?:<LastModified>{_PLAIN_TEXT}</LastModified>)?</Contents>|([\s\S]+)"
)
_CONTENTS_CLOSE = "</Contents>"
_KEYS, _ETAGS, _SIZES, _OTHER = (itemgetter(n) for n in range(4))

_FIELD = re.compile(rf"<((?!(?:Contents|CommonPrefixes)>){_NAME})>({_TEXT})</\1>{_WS}")
_SPACE = re.compile(_WS)
_REFERENCE = re.compile(r"&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


class _NotPlain(Exception):
    """A reference this reader leaves to ElementTree (one to a character XML forbids)."""


def _character(match: re.Match[str]) -> str:
    name = match.group(1)
    if name[0] != "#":
        return _ENTITIES[name]
    code = int(name[2:], 16) if name[1] == "x" else int(name[1:])
    if (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    ):
        return chr(code)
    raise _NotPlain


def _text(value: str | None) -> str:
    """An element's text with its references replaced; "" for an element that was absent."""
    if not value:
        return ""
    if "&" not in value:
        return value
    return _REFERENCE.sub(_character, value)


def read_page(
    data: bytes, decode_url: Callable[[str], str]
) -> tuple[list[ObjectInfo], list[str], str | None] | None:
    """(objects, folders, next token) of a page, or None when ElementTree must read it.

    ``decode_url`` undoes ``encoding-type=url`` on keys and folders when the page says so."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\ufffe" in text or "\uffff" in text:  # not XML characters: ElementTree refuses them
        return None
    for declaration in _DECLARATIONS:
        if text.startswith(declaration):
            text = text[len(declaration) :].lstrip(" \t\n")
            break
    if not text.startswith(_ROOT_OPEN):
        return None
    end = text.rfind(_ROOT_CLOSE)
    if end < 0 or text[end + len(_ROOT_CLOSE) :].strip(" \t\n"):
        return None
    try:
        return _read_body(text, len(_ROOT_OPEN), end, decode_url)
    except _NotPlain:
        return None


def _read_body(
    text: str, pos: int, end: int, decode_url: Callable[[str], str]
) -> tuple[list[ObjectInfo], list[str], str | None] | None:
    found: list[tuple[str | None, str | None, str | None]] = []
    folders: list[str | None] = []
    fields: dict[str, str] = {}
    start = pos
    run = plain_run(text, pos, end)
    if run is None:
        if not _read_items(text, pos, end, found, folders, fields):
            return None
    else:
        # the elements before the run and after it (root fields, folders) the general way
        first, stop, rows = run
        if (space := _SPACE.match(text, stop, end)) is not None:
            stop = space.end()  # as _CONTENTS ends: with the white space after the element
        if not (
            _read_items(text, pos, first, found, folders, fields)
            and _read_items(text, stop, end, found, folders, fields)
        ):
            return None
    decode = decode_url if _text(fields.get("EncodingType")) == "url" else _same
    if decode is not _same and "%" not in text and "+" not in text:
        # URL decoding leaves a name without "%" or "+" as it is: one look at the page instead
        # of a decoding call per key (most pages of a static tree have neither).
        decode = _same
    token = (
        _text(fields.get("NextContinuationToken")) if "NextContinuationToken" in fields else None
    )
    truncated = _text(fields.get("IsTruncated")) == "true"
    return (
        _objects(text, start, end, found, decode) if run is None else _plain_objects(rows, decode),
        [decode(_text(f)) for f in folders],
        (token if truncated else None),
    )


def _read_items(
    text: str,
    pos: int,
    end: int,
    found: list[tuple[str | None, str | None, str | None]],
    folders: list[str | None],
    fields: dict[str, str],
) -> bool:
    """Read the elements between ``pos`` and ``end`` one by one into ``found`` (each object's
    raw Key, ETag and Size), ``folders`` and ``fields``; False for anything else."""
    contents, field = _CONTENTS.match, _FIELD.match
    while pos < end:
        item = contents(text, pos, end)
        if item is not None:
            found.append(item.group(1, 2, 3))  # type: ignore[arg-type]  # three groups
        elif text.startswith(_FOLDER_OPEN, pos) and (item := _folder().match(text, pos, end)):
            folders.append(item.group(2))
        elif (item := field(text, pos, end)) is not None:
            fields.setdefault(item.group(1), item.group(2))
        else:
            return False
        pos = item.end()
    return True


def plain_run(
    text: str, pos: int, end: int
) -> tuple[int, int, list[tuple[str, str, str, str]]] | None:
    """(start, end, rows) of the page's objects when all of them stand in one run of
    ``_PLAIN_RUN``'s shape: each row the key, the ETag without its quotes, the size and "".
    None when the page has no object or anything else stands among them."""
    first = text.find("<Contents>", pos, end)
    if first < 0:
        return None
    stop = text.rfind(_CONTENTS_CLOSE, first, end)
    if stop < 0:
        return None
    stop += len(_CONTENTS_CLOSE)
    rows: list[tuple[str, str, str, str]] = _PLAIN_RUN.findall(text, first, stop)
    if any(map(_OTHER, rows)):  # a character outside the shape: not a plain run
        return None
    return first, stop, rows


def _plain_objects(
    rows: list[tuple[str, str, str, str]], decode: Callable[[str], str]
) -> list[ObjectInfo]:
    """``plain_run``'s rows as objects, made as ``listed`` makes them (the key decoded when
    the page says so, key and ETag interned), one pass of C per field."""
    keys = map(_KEYS, rows) if decode is _same else map(decode, map(_KEYS, rows))
    return list(
        map(
            tuple.__new__,
            repeat(ObjectInfo),
            zip(
                map(intern, keys),
                map(int, map(_SIZES, rows)),
                map(intern, map(_ETAGS, rows)),
                strict=True,
            ),
        )
    )


def _objects(
    text: str,
    start: int,
    end: int,
    found: list[tuple[str | None, str | None, str | None]],
    decode: Callable[[str], str],
) -> list[ObjectInfo]:
    """The objects of a page. The references are replaced field by field only when the page
    has others than the quotes around each ETag (that work is a third of the page's)."""
    references = text.count("&", start, end)
    # ObjectInfo's own __new__ is a Python function: the tuple is made directly (the fields
    # as it would take them), and no decoding call is made for a page that needs none.
    make, plain = tuple.__new__, decode is _same
    if references == 0:
        if plain:
            return [
                make(
                    ObjectInfo, (intern(key or ""), int(size or 0), intern((etag or "").strip('"')))
                )
                for key, etag, size in found
            ]
        return [
            make(
                ObjectInfo,
                (intern(decode(key or "")), int(size or 0), intern((etag or "").strip('"'))),
            )
            for key, etag, size in found
        ]
    quote = found[0][1][:6] if found and found[0][1] else ""
    quote = quote if quote == "&quot;" else quote[:5]
    if quote in _QUOTES and references == 2 * len(found):
        width = len(quote)
        if all(
            # two references of its own in each ETag, so none anywhere else in the page
            etag and len(etag) >= 2 * width and etag[:width] == quote and etag[-width:] == quote
            for _, etag, _ in found
        ):
            if plain:
                return [
                    make(
                        ObjectInfo,
                        (
                            intern(key or ""),
                            int(size or 0),
                            intern((etag or "")[width:-width].strip('"')),
                        ),
                    )
                    for key, etag, size in found
                ]
            return [
                make(
                    ObjectInfo,
                    (
                        intern(decode(key or "")),
                        int(size or 0),
                        intern((etag or "")[width:-width].strip('"')),
                    ),
                )
                for key, etag, size in found
            ]
    return [listed(decode(_text(key)), int(size or 0), _text(etag)) for key, etag, size in found]


def _same(value: str) -> str:
    return value


_ERROR_OPEN, _ERROR_CLOSE = "<Error>", "</Error>"


def read_error(data: bytes) -> tuple[str, str, str] | None:
    """(Code, Message, Region) of a flat error body as ElementTree's ``findtext`` reads them
    (the first of each, "" when absent), or None when ElementTree must read it."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\ufffe" in text or "\uffff" in text:
        return None
    for declaration in _DECLARATIONS:
        if text.startswith(declaration):
            text = text[len(declaration) :]
            break
    text = text.strip(" \t\n")
    if not (text.startswith(_ERROR_OPEN) and text.endswith(_ERROR_CLOSE)):
        return None
    pos, end = len(_ERROR_OPEN), len(text) - len(_ERROR_CLOSE)
    found: dict[str, str] = {}
    if (space := _SPACE.match(text, pos, end)) is not None:
        pos = space.end()
    try:
        while pos < end:
            item = _FIELD.match(text, pos, end)
            if item is None:
                return None
            found.setdefault(item.group(1), _text(item.group(2)))
            pos = item.end()
    except _NotPlain:
        return None
    return found.get("Code", ""), found.get("Message", ""), found.get("Region", "")
