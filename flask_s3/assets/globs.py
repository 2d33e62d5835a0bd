"""Globs on keys (``assets.exclude``, ``assets.rules[].match``, ``fingerprint.exclude``).

wcmatch reads what users write: ``*`` within one folder, ``**`` across folders (none too),
``?`` one character, ``[ab]`` / ``[!ab]``, ``{css,js}``, and ``\\`` to escape any of these.
Hidden names are ours to decide, not the matcher's: the local scan already drops them unless
``assets.include_hidden``, so a key that reaches a glob is matched like any other (``*``
matches ``.well-known``). Matching is case-sensitive, as S3 keys are.

Each pattern is translated once into wcmatch's regular expressions; matching a key is a
``startswith``/``endswith`` test on the pattern's literal ends and, only if that passes, one
``fullmatch``, so the local scan stays fast on large trees.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..spec import AssetsSpec, HeaderRule

# wcmatch and bracex are imported when a spec has globs, not on every start-up.
BRACE_LIMIT = 1000  # expansions one pattern may produce ({a,b}{c,d} is 4)
ESCAPABLE = frozenset("*?[]{},!")
MAGIC = frozenset("*?[]{}\\")


def _flags() -> int:
    """wcmatch flags: ``**`` crosses folders (GLOBSTAR); ``*`` matches a leading ``.``
    (DOTGLOB: hiding is the scan's job); ``/`` is the only separator and ``\\`` escapes,
    case-sensitive, on every OS (FORCEUNIX, CASE). Braces are expanded before, by bracex as
    wcmatch's BRACE would, so that each alternative gets its own literal ends."""
    from wcmatch import glob as wcglob

    return wcglob.GLOBSTAR | wcglob.DOTGLOB | wcglob.FORCEUNIX | wcglob.CASE


def alternatives(pattern: str) -> list[str] | None:
    """``static/*.{css,js}`` -> ``static/*.css``, ``static/*.js`` (escaped braces stay);
    None when the braces expand to more than ``BRACE_LIMIT`` patterns."""
    if "{" not in pattern:
        return [pattern]
    import bracex

    try:
        return bracex.expand(pattern, keep_escapes=True, limit=BRACE_LIMIT, return_empty=True)
    except bracex.ExpansionLimitException:
        return None


def glob_problem(pattern: str) -> str | None:
    """Why ``pattern`` can never match a key (and what to write instead), or None.

    Keys are relative, normalised, forward-slash paths of files: no leading ``/``, no
    ``.`` or ``..`` segments, no trailing ``/`` and no backslash. With braces, every
    alternative must be able to match: a dead alternative is a mistake too.
    """
    if pattern == "":
        return "an empty glob matches nothing; remove it or write e.g. static/**"
    expanded = alternatives(pattern)
    if expanded is None:
        return f"the braces expand to more than {BRACE_LIMIT} patterns; simplify them"
    for alternative in expanded:
        problem = _alternative_problem(alternative)
        if problem is not None:
            if alternative != pattern:
                return f"the alternative {alternative!r} {problem}"
            return f"this glob {problem}"
    return None


def _alternative_problem(pattern: str) -> str | None:
    if pattern == "":
        return "is empty and matches nothing"
    if pattern.startswith("/"):
        return (
            "starts with / and never matches: keys have no leading slash; "
            f"write {pattern.lstrip('/') or '**'}"
        )
    if _stray_backslash(pattern):
        return (
            "never matches: keys use forward slashes, never backslashes "
            f"(write {pattern.replace(chr(92), '/')}); a backslash only escapes one of "
            f"{''.join(sorted(ESCAPABLE))}"
        )
    if pattern.endswith("/"):
        return (
            f"ends in / and names a folder, never a file; write {pattern}** for the files below it"
        )
    if any(part in (".", "..") for part in pattern.split("/")):
        return "has a '.' or '..' segment and never matches: keys are normalised paths"
    segments = pattern.split("/")
    for i, segment in enumerate(segments):
        if "**" in segment and segment != "**":
            name = segment.replace("**", "*")
            deep = "/".join([*segments[:i], "**", name, *segments[i + 1 :]])
            flat = "/".join([*segments[:i], name, *segments[i + 1 :]])
            return (
                f"has {segment!r}: ** crosses folders only as a whole segment, and inside a "
                f"name it is the same as *; write {deep} for any depth, or {flat}"
            )
    if pattern.startswith("!"):
        return (
            "starts with !, which does not negate a glob here: write the keys to match "
            "(or \\! for a name that really starts with !)"
        )
    return None


def _stray_backslash(pattern: str) -> bool:
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            if i + 1 == len(pattern) or pattern[i + 1] not in ESCAPABLE:
                return True
            i += 2
        else:
            i += 1
    return False


class KeyMatcher:
    """Matches a key against compiled globs: ``matcher(key)`` is True when any matches.

    Each brace alternative is one wcmatch regular expression, guarded by the literal text
    every matching key must start and end with (``static/fonts/``, ``.map``), so most keys
    are turned away by ``startswith``/``endswith`` before a regular expression runs.
    """

    __slots__ = ("alternatives", "patterns")

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.patterns = patterns
        self.alternatives: list[tuple[str, str, re.Pattern[str]]] = []
        if not patterns:
            return
        from wcmatch import glob as wcglob

        flags = _flags()
        for pattern in patterns:
            expanded = alternatives(pattern)
            if expanded is None:  # only a Spec built in Python gets here: load_spec refuses it
                raise ConfigError(
                    f"the glob {pattern!r} expands to more than {BRACE_LIMIT} patterns",
                    "Simplify its braces.",
                )
            for alternative in expanded:
                for regex in wcglob.translate(alternative, flags=flags)[0]:
                    head, tail = _literal_ends(alternative)
                    self.alternatives.append((head, tail, re.compile(regex)))

    def __call__(self, key: str) -> bool:
        for head, tail, regex in self.alternatives:
            if key.startswith(head) and key.endswith(tail) and regex.fullmatch(key):
                return True
        return False

    def __bool__(self) -> bool:
        return bool(self.alternatives)


def _literal_ends(pattern: str) -> tuple[str, str]:
    """The literal text a key matching ``pattern`` must start and end with.

    Stops at any glob syntax; a ``/`` right after it is dropped from the tail because
    ``**/`` also matches no folder at all. Empty when a repeated ``/`` makes it unsafe.
    """
    if "//" in pattern:
        return "", ""
    first = next((i for i, c in enumerate(pattern) if c in MAGIC), len(pattern))
    last = max((i for i, c in enumerate(pattern) if c in MAGIC), default=-1)
    tail = pattern[last + 1 :] if last >= 0 else pattern
    return pattern[:first], tail.removeprefix("/")


@lru_cache(maxsize=256)
def key_matcher(patterns: tuple[str, ...]) -> KeyMatcher:
    """The compiled matcher for ``patterns`` (compiled once per distinct tuple)."""
    return KeyMatcher(patterns)


class IndexMatcher:
    """Which of several globs match a key: ``matcher(key)`` gives their indexes, in order."""

    __slots__ = ("alternatives",)

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.alternatives = [
            (index, head, tail, regex)
            for index, pattern in enumerate(patterns)
            for head, tail, regex in key_matcher((pattern,)).alternatives
        ]

    def __call__(self, key: str) -> tuple[int, ...]:
        found: list[int] = []
        last = -1
        for index, head, tail, regex in self.alternatives:
            if (
                index != last
                and key.startswith(head)
                and key.endswith(tail)
                and regex.fullmatch(key)
            ):
                found.append(index)
                last = index
        return tuple(found)


_LAST_RULES: tuple[object, IndexMatcher] | None = None


def rule_matcher(rules: Sequence[HeaderRule]) -> IndexMatcher:
    """The matcher for ``rules[].match``, built once per rules object (a spec's are frozen).

    Rules hold header dicts, so they cannot key an ``lru_cache``; the last rules object
    seen is remembered instead (held, so its id cannot be reused while remembered).
    """
    global _LAST_RULES
    last = _LAST_RULES
    if last is not None and last[0] is rules:
        return last[1]
    matcher = IndexMatcher(tuple(rule.match for rule in rules))
    _LAST_RULES = (rules, matcher)
    return matcher


def glob_match(pattern: str, key: str) -> bool:
    """Whether ``key`` (relative to the prefix, forward slashes) matches ``pattern``."""
    return key_matcher((pattern,))(key)


def matches_any(patterns: Sequence[str], key: str) -> bool:
    return bool(patterns) and key_matcher(tuple(patterns))(key)


def literal_head(pattern: str) -> tuple[str, bool]:
    """The leading part of ``pattern`` that holds no glob syntax, and whether that is all
    of it: ``("static/css", False)`` for ``static/css/*.css``, ``("static/robots.txt",
    True)`` for a plain key, ``("", False)`` when the first segment is a wildcard."""
    if not any(c in MAGIC for c in pattern):
        return pattern, True
    head: list[str] = []
    for segment in pattern.split("/")[:-1]:
        if not segment or any(c in MAGIC for c in segment):
            break
        head.append(segment)
    return "/".join(head), False


def outside_roots(patterns: Iterable[tuple[str, str]], roots: Sequence[str]) -> list[str]:
    """Warnings for globs that lie outside every static root, so can never match.

    ``patterns`` holds (key path in the spec, pattern). A root is the key path a static
    folder is served under (``static``, ``admin/assets``); the empty root (a folder served
    at ``/``) holds every key. Only the fixed leading folders are compared, so a glob that
    starts with a wildcard or braces is never reported.
    """
    warnings: list[str] = []
    for where, pattern in patterns:
        head, whole = literal_head(pattern)
        if whole:
            inside = any(not root or head.startswith(root + "/") for root in roots)
        else:
            inside = not head or any(_overlaps(head, root) for root in roots)
        if not inside:
            shown = ", ".join(f"{root}/" for root in roots) or "nothing: no static folders"
            warnings.append(
                f"{where}: {pattern!r} can never match: no static folder serves such keys "
                f"(keys start with {shown})"
            )
    return warnings


def _overlaps(head: str, root: str) -> bool:
    if not root:
        return True
    return head == root or head.startswith(root + "/") or root.startswith(head + "/")


def spec_globs(assets: AssetsSpec) -> list[tuple[str, str]]:
    """(key path, pattern) for every glob of a spec, named as the spec names them."""
    found = [(f"assets.exclude[{i}]", p) for i, p in enumerate(assets.exclude)]
    found += [(f"assets.rules[{i}].match", r.match) for i, r in enumerate(assets.rules)]
    found += [
        (f"assets.fingerprint.exclude[{i}]", p) for i, p in enumerate(assets.fingerprint.exclude)
    ]
    found += [
        (f"assets.fingerprint.hashed[{i}]", p) for i, p in enumerate(assets.fingerprint.hashed)
    ]
    return found
