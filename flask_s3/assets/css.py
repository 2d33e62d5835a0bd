"""References from a stylesheet to other files, found with a CSS tokenizer (tinycss2).

A reference is a ``url(...)`` (quoted or not), the string of an ``@import "x.css"``, or a
string inside ``image-set()``. Text inside comments and ordinary strings is not a reference,
nor is the URL of ``@namespace``. Rewriting replaces only the references' own text, so the
rest of the stylesheet keeps its bytes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import astuple, dataclass
from typing import TYPE_CHECKING

from ..hashcache import ContentCache

if TYPE_CHECKING:
    from tinycss2.ast import Node

LINE_BREAK = re.compile(r"\r\n|[\r\n\f]")  # what the tokenizer counts as one line break
IMAGE_SETS = frozenset({"image-set", "-webkit-image-set"})
SPACE = " \t\n\r\f"
FINDER_VERSION = 1  # bump when find_references changes what it returns: cached lists go
MAX_CACHED = 10_000  # stylesheets remembered before the cache keeps only the last run's


@dataclass(frozen=True)
class Reference:
    """One reference: its text spans ``start:end`` of the stylesheet; ``value`` is the URL
    with CSS escapes resolved; ``quote`` is ``"`` or ``'`` for a string, empty for
    ``url(...)`` without quotes."""

    start: int
    end: int
    value: str
    quote: str


def _spelled_any_way(word: str) -> str:
    """A pattern for ``word`` as an identifier may spell it: any case, any letter escaped
    (``u\\72l``, ``\\55 rl``). Over-inclusive is fine: it only decides whether to tokenize."""
    out = []
    for c in word:
        codes = "|".join(sorted({f"{ord(c.lower()):x}", f"{ord(c.upper()):x}"}))
        options = [re.escape(c), rf"\\0*(?:{codes})(?:\r\n|[ \t\r\n\f]|(?![0-9a-f]))"]
        if c.lower() not in "0123456789abcdef":
            options.append(rf"\\{re.escape(c)}")
        out.append("(?:" + "|".join(options) + ")")
    return "".join(out)


CANDIDATE = re.compile(
    rf"{_spelled_any_way('url')}\(|@{_spelled_any_way('import')}"
    rf"|{_spelled_any_way('image-set')}\(",
    re.IGNORECASE,
)


def maybe_has_references(text: str) -> bool:
    """A cheap test that lets most stylesheets skip tokenizing (escapes can spell url)."""
    if "\\" in text:
        return CANDIDATE.search(text) is not None
    lower = text.lower()
    return "url(" in lower or "@import" in lower or "image-set(" in lower


def find_references(text: str) -> list[Reference]:
    """Every reference in ``text``, in order."""
    if not maybe_has_references(text):
        return []
    return tokenized_references(text)


def tokenized_references(text: str) -> list[Reference]:
    """``find_references`` without the cheap test in front: always tokenizes."""
    import tinycss2

    nodes = tinycss2.parse_component_value_list(text, skip_comments=True)
    starts = [0] + [m.end() for m in LINE_BREAK.finditer(text)]

    def offset(node: Node) -> int:
        return starts[node.source_line - 1] + node.source_column - 1

    return [_reference(text, offset(node), node) for node in _url_nodes(nodes)]


class ReferenceCache:
    """References per stylesheet content, kept between runs in the cache folder.

    Tokenizing costs about 0.7 s per MB of CSS in pure Python; a plan with fingerprinting
    on would pay it for every stylesheet on every run. The references are a function of
    the text alone, so they are cached by the text's SHA-256 and never go stale.
    ``FLASK_S3_NO_HASH_CACHE=1`` turns this cache off too.
    """

    def __init__(self) -> None:
        self.cache = ContentCache("css-references.json", FINDER_VERSION, "stylesheets", MAX_CACHED)

    def references(self, text: str) -> list[Reference]:
        if "\\" not in text and not maybe_has_references(text):
            return []  # cheaper than hashing; with escapes, the cache answers first
        digest = hashlib.sha256(text.encode("utf-8", errors="surrogateescape")).hexdigest()
        cached = self.cache.get(digest)
        if cached is not None:
            try:
                return [Reference(*row) for row in cached]
            except TypeError:
                pass
        found = find_references(text)
        self.cache.put(digest, [list(astuple(ref)) for ref in found])
        return found

    def save(self) -> None:
        """Write the cache (atomically) if it changed."""
        self.cache.save()


def _url_nodes(nodes: Iterable[Node]) -> Iterator[Node]:
    """URL tokens and the string tokens that stand for URLs, depth first, in order."""
    from tinycss2 import ast

    pending_import = False
    in_namespace = False
    for node in nodes:
        if isinstance(node, ast.WhitespaceToken):
            continue
        if in_namespace:  # @namespace prefix url(...); names a namespace, not a file
            in_namespace = not (isinstance(node, ast.LiteralToken) and node.value == ";")
            continue
        if isinstance(node, ast.AtKeywordToken):
            pending_import = node.lower_value == "import"
            in_namespace = node.lower_value == "namespace"
            continue
        if pending_import and isinstance(node, ast.StringToken):
            yield node
        pending_import = False
        if isinstance(node, ast.URLToken):
            yield node
        elif isinstance(node, ast.FunctionBlock):
            if node.lower_name == "url":
                first = next((a for a in node.arguments if a.type != "whitespace"), None)
                if isinstance(first, ast.StringToken):
                    yield first
            elif node.lower_name in IMAGE_SETS:
                for argument in node.arguments:
                    if isinstance(argument, ast.StringToken):
                        yield argument
                    else:
                        yield from _url_nodes([argument])
            else:
                yield from _url_nodes(node.arguments)
        elif isinstance(
            node, (ast.CurlyBracketsBlock, ast.SquareBracketsBlock, ast.ParenthesesBlock)
        ):
            yield from _url_nodes(node.content)


def _reference(text: str, start: int, node: Node) -> Reference:
    from tinycss2 import ast

    value = node.value if isinstance(node, (ast.StringToken, ast.URLToken)) else ""
    if isinstance(node, ast.StringToken):
        quote = text[start]
        i = start + 1
        while i < len(text) and text[i] != quote:
            i += 3 if text.startswith("\\\r\n", i) else (2 if text[i] == "\\" else 1)
        return Reference(start, min(i + 1, len(text)), value, quote)
    i = text.index("(", start) + 1
    while i < len(text) and text[i] != ")":
        i += 2 if text[i] == "\\" else 1
    return Reference(start, min(i + 1, len(text)), value, "")


SOURCE_MAP = re.compile(r"/\*[#@][ \t]*sourceMappingURL=([^\s*]+)")


def source_map(text: str) -> Reference | None:
    """The URL of a ``/*# sourceMappingURL=... */`` comment at the top level, or None.

    Found with the tokenizer, so the same text inside a string or a rule is not one; its
    ``quote`` is ``/*``, which ``rewrite`` writes back bare.
    """
    if "sourceMappingURL" not in text:
        return None
    import tinycss2
    from tinycss2 import ast

    starts = [0] + [m.end() for m in LINE_BREAK.finditer(text)]
    found = None
    for node in tinycss2.parse_component_value_list(text, skip_comments=False):
        if not isinstance(node, ast.Comment):
            continue
        start = starts[node.source_line - 1] + node.source_column - 1
        match = SOURCE_MAP.match(text, start)
        if match is not None:
            found = Reference(match.start(1), match.end(1), match.group(1), "/*")
    return found


def rewrite(text: str, references: list[Reference], new_value: Callable[[Reference], str]) -> str:
    """``text`` with each reference's URL replaced by ``new_value(ref)`` (same quoting)."""
    out: list[str] = []
    done = 0
    for ref in references:
        value = new_value(ref)
        if value == ref.value:
            continue
        out.append(text[done : ref.start])
        out.append(_spelled(text[ref.start : ref.end], ref, value))
        done = ref.end
    out.append(text[done:])
    return "".join(out)


def _spelled(raw: str, ref: Reference, value: str) -> str:
    """The new text of a reference: same quotes, same ``url(`` spelling and inner spaces."""
    if ref.quote == "/*":
        return value  # the URL of a source-map comment, written bare
    if ref.quote:
        body = value.replace("\\", "\\\\").replace(ref.quote, "\\" + ref.quote)
        body = re.sub(r"[\n\r\f]", lambda m: f"\\{ord(m.group()):x} ", body)
        closing = ref.quote if len(raw) > 1 and raw.endswith(ref.quote) else ""
        return ref.quote + body + closing
    head, _, inner = raw.partition("(")
    closing = ")" if inner.endswith(")") else ""
    inner = inner[: len(inner) - len(closing)]
    lead = inner[: len(inner) - len(inner.lstrip(SPACE))]
    trail = inner[len(inner.rstrip(SPACE)) :]
    return f"{head}({lead}{_url_escaped(value)}{trail}{closing}"


def _url_escaped(value: str) -> str:
    out = []
    for c in value:
        if c in "\\\"'() ":
            out.append("\\" + c)
        elif c in SPACE or ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\{ord(c):x} ")
        else:
            out.append(c)
    return "".join(out)
