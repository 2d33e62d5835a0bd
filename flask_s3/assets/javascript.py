"""References from a JavaScript file to other files, found with a real parser (tree-sitter).

A reference is the source of a static ``import``/``export ... from``, the string literal of a
dynamic ``import('./x.js')``, the first argument of ``new URL('./x.png', import.meta.url)``,
or the URL of a ``//# sourceMappingURL=`` comment. Strings, template literals, regular
expressions and other comments that merely contain such text are not references: the parser
knows where each of them begins and ends, which a regular expression over the source does not.

Offsets are bytes of the UTF-8 source, so rewriting replaces only the references' own bytes and
the rest of the file is kept byte for byte.
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import astuple, dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from tree_sitter import Node, Parser, Query

Kind = Literal["import", "url", "sourcemap"]
SOURCE_MAP = re.compile(rb"\A(?://|/\*)[#@][ \t]*sourceMappingURL=([^\s'\"*]+)")
# Cheap test before parsing: a file without any of these has no reference.
CANDIDATES = (b"import", b"export", b"URL", b"sourceMappingURL")
ESCAPE = re.compile(r"\\(u\{[0-9a-fA-F]+\}|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|\r\n|[\s\S])")
COMMENT_UNSAFE = re.compile(r"[\s'\"*]")
SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


@dataclass(frozen=True)
class JsReference:
    """One reference: bytes ``start:end`` of the file hold its text without quotes;
    ``value`` is the URL with escapes resolved; ``line`` counts from 1.

    ``kind`` says how the URL is resolved: an ``import`` specifier must start with ``./``,
    ``../`` or ``/`` to be a path (anything else is a bare package name); a ``url`` or
    ``sourcemap`` is resolved like any URL, relative to the file.
    """

    start: int
    end: int
    value: str
    line: int
    kind: Kind
    quote: str = ""  # the string's quote character; empty in a comment


@dataclass(frozen=True)
class JsScan:
    """What one parse tells: the references, whether the file is an ES module (it has
    ``import``/``export`` statements or ``import.meta``), and the lines tree-sitter could not
    parse (references near them may be missed)."""

    references: tuple[JsReference, ...]
    module: bool
    error_lines: tuple[int, ...] = ()


# What the parser is asked for; Python then checks each match (first non-comment argument,
# ``import.meta.url`` as the base). Matching in C is what keeps a megabyte bundle cheap.
QUERY = """
(import_statement) @statement
(export_statement) @statement
(meta_property) @meta
(call_expression function: (import) arguments: (arguments) @dynamic)
(new_expression constructor: (identifier) @constructor (#eq? @constructor "URL")) @new
(comment) @comment
"""
FINDER_VERSION = 1  # bump when scan changes what it returns: cached answers are dropped
MAX_CACHED = 10_000  # scripts remembered before the cache keeps only the last run's


@lru_cache(maxsize=1)
def _parser() -> tuple[Parser, Query]:
    import tree_sitter
    import tree_sitter_javascript

    language = tree_sitter.Language(tree_sitter_javascript.language())
    return tree_sitter.Parser(language), tree_sitter.Query(language, QUERY)


def scan(data: bytes) -> JsScan:
    """Every reference in the JavaScript source ``data``, in order."""
    if not any(word in data for word in CANDIDATES):
        return JsScan((), False)
    from tree_sitter import QueryCursor

    parser, query = _parser()
    tree = parser.parse(data)
    captures = QueryCursor(query).captures(tree.root_node)
    found: list[JsReference] = []
    statements = captures.get("statement", [])
    module = bool(statements or captures.get("meta"))
    for node in statements:
        source = node.child_by_field_name("source")
        if source is not None:
            found += _string_reference(data, source, "import")
    for node in captures.get("dynamic", []):
        found += _first_argument(data, node, "import")
    for node in captures.get("new", []):
        found += _new_url(data, node)
    for node in captures.get("comment", []):
        found += _source_map(data, node)
    found.sort(key=lambda ref: ref.start)
    errors = _error_lines(tree.root_node) if tree.root_node.has_error else ()
    return JsScan(tuple(found), module, errors)


def find_references(data: bytes) -> list[JsReference]:
    """The references of ``scan(data)``."""
    return list(scan(data).references)


def _error_lines(root: Node) -> tuple[int, ...]:
    """Lines of the parse errors, descending only into the parts that hold one."""
    lines: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            lines.add(node.start_point[0] + 1)
            continue
        stack += [child for child in node.children if child.has_error or child.is_missing]
    return tuple(sorted(lines))


class ScanCache:
    """``scan`` answers per script content, kept between runs in the cache folder.

    Parsing costs about a second per MB of minified JavaScript on a busy machine; the answer
    is a function of the bytes alone, so it is cached by their SHA-256 and never goes stale.
    ``FLASK_S3_NO_HASH_CACHE=1`` turns this cache off too.
    """

    def __init__(self) -> None:
        from ..hashcache import ContentCache

        self.cache = ContentCache("js-references.json", FINDER_VERSION, "scripts", MAX_CACHED)

    def scan(self, data: bytes) -> JsScan:
        """``scan(data)``, from the cache when this content was scanned before."""
        if not any(word in data for word in CANDIDATES):
            return JsScan((), False)
        digest = hashlib.sha256(data).hexdigest()
        cached = self.cache.get(digest)
        if cached is not None:
            try:
                references, module, errors = cached
                return JsScan(
                    tuple(JsReference(*row) for row in references), bool(module), tuple(errors)
                )
            except (TypeError, ValueError):
                pass
        found = scan(data)
        self.cache.put(
            digest,
            [
                [list(astuple(ref)) for ref in found.references],
                found.module,
                list(found.error_lines),
            ],
        )
        return found

    def save(self) -> None:
        """Write the cache (atomically) if it changed."""
        self.cache.save()


def _first_argument(data: bytes, call: Node, kind: Kind) -> list[JsReference]:
    arguments = call if call.type == "arguments" else call.child_by_field_name("arguments")
    if arguments is None:
        return []
    first = next((a for a in arguments.named_children if a.type != "comment"), None)
    if first is None:
        return []
    return _string_reference(data, first, kind)


def _new_url(data: bytes, node: Node) -> list[JsReference]:
    """``new URL('literal', import.meta.url)``: only with ``import.meta.url`` as the base, the
    one case where the literal is a path relative to this very file."""
    constructor = node.child_by_field_name("constructor")
    arguments = node.child_by_field_name("arguments")
    if constructor is None or arguments is None or _text(data, constructor) != "URL":
        return []
    args = [a for a in arguments.named_children if a.type != "comment"]
    if len(args) != 2 or args[1].type != "member_expression":
        return []
    base_object = args[1].child_by_field_name("object")
    base_property = args[1].child_by_field_name("property")
    if base_object is None or base_object.type != "meta_property":
        return []
    if base_property is None or _text(data, base_property) != "url":
        return []
    return _string_reference(data, args[0], "url")


def _string_reference(data: bytes, node: Node, kind: Kind) -> list[JsReference]:
    """A reference for a plain string literal or a template literal without substitutions."""
    if node.type == "string":
        quote = chr(data[node.start_byte])
    elif node.type == "template_string":
        if any(child.type == "template_substitution" for child in node.named_children):
            return []
        quote = "`"
    else:
        return []
    start, end = node.start_byte + 1, node.end_byte - 1
    if end < start or data[end : end + 1] != quote.encode():
        return []  # an unterminated string (a parse error): not something to rewrite
    raw = data[start:end].decode("utf-8", errors="surrogateescape")
    value = _unescaped(raw) if "\\" in raw else raw
    return [JsReference(start, end, value, node.start_point[0] + 1, kind, quote)]


def _source_map(data: bytes, node: Node) -> list[JsReference]:
    text = data[node.start_byte : node.end_byte]
    match = SOURCE_MAP.match(text)
    if match is None:
        return []
    start = node.start_byte + match.start(1)
    value = match.group(1).decode("utf-8", errors="surrogateescape")
    return [
        JsReference(start, start + len(match.group(1)), value, node.start_point[0] + 1, "sourcemap")
    ]


def _text(data: bytes, node: Node) -> str:
    return data[node.start_byte : node.end_byte].decode("utf-8", errors="surrogateescape")


def _unescaped(raw: str) -> str:
    """The value of a string literal's body (``\\u002e`` is ``.``; a line continuation is
    nothing)."""

    def one(match: re.Match[str]) -> str:
        body = match.group(1)
        if body[0] == "u":
            return chr(int(body[1:].strip("{}"), 16))
        if body[0] == "x" and len(body) == 3:
            return chr(int(body[1:], 16))
        if body in ("\n", "\r", "\r\n", "\u2028", "\u2029"):
            return ""
        return SIMPLE_ESCAPES.get(body, body)

    return ESCAPE.sub(one, raw)


def rewrite(
    data: bytes,
    references: list[JsReference] | tuple[JsReference, ...],
    new_value: Callable[[JsReference], str],
) -> bytes:
    """``data`` with each reference replaced by ``new_value(ref)``; a reference whose value
    does not change keeps its original bytes (escapes and all)."""
    out: list[bytes] = []
    done = 0
    for ref in references:
        value = new_value(ref)
        if value == ref.value:
            continue
        out.append(data[done : ref.start])
        out.append(_spelled(value, ref.quote).encode("utf-8", errors="surrogateescape"))
        done = ref.end
    if not out:
        return data
    out.append(data[done:])
    return b"".join(out)


def _spelled(value: str, quote: str) -> str:
    """``value`` as the body of a literal in ``quote`` (or bare, in a comment)."""
    if not quote:  # a comment's URL ends at white space, a quote or "*": encode those
        return COMMENT_UNSAFE.sub(lambda m: urllib.parse.quote(m.group()), value)
    body = value.replace("\\", "\\\\").replace(quote, "\\" + quote)
    if quote == "`":
        body = body.replace("${", "\\${")
    return body.replace("\n", "\\n").replace("\r", "\\r")
