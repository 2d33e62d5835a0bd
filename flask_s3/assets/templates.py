"""Static files the app's templates ask for, read with Jinja's own parser.

``scan_templates`` walks every template of the app's loader and of each blueprint's, parses it
with the app's Jinja environment (``env.parse``), and collects the calls that name a static
file: ``url_for('static', filename=...)`` (``bp.static`` and ``.static`` too), ``sri()``,
``s3_script()`` and ``s3_stylesheet()``. A literal file name is resolved to its key and looked
up on disk now; a computed one is only counted. ``reference_problems`` is pure: the planner
passes it the scan as data, with the inventory and the keys prune deletes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from .globs import key_matcher
from .keys import (
    StaticSource,
    is_static_endpoint,
    join_key,
    key_filename,
    normalize_prefix,
    static_key,
    static_sources,
)

if TYPE_CHECKING:
    from flask import Flask
    from jinja2 import BaseLoader, Environment, nodes

    from ..spec import Spec
    from .local import LocalInventory

STATIC_CALLS = ("url_for", "sri", "s3_script", "s3_stylesheet")
SHOWN_DYNAMIC = 5  # locations named in the note about computed file names


@dataclass(frozen=True)
class StaticRef:
    """One literal static file name in a template."""

    where: str  # "templates/index.html:12"
    call: str  # "url_for('static', filename='css/app.css')"
    endpoint: str  # resolved: "static", "admin.static"
    filename: str
    logical: str | None  # the key without the prefix; None when the endpoint has no folder
    on_disk: bool  # a regular file inside that static folder


@dataclass
class TemplateScan:
    refs: list[StaticRef] = field(default_factory=list)
    dynamic: list[str] = field(default_factory=list)  # where a computed file name is used
    errors: list[str] = field(default_factory=list)  # templates that cannot be read or parsed
    templates: int = 0


def template_loaders(app: Flask) -> Iterator[tuple[str | None, BaseLoader]]:
    """(blueprint name or None, loader), the app's first: Flask's own search order."""
    if app.jinja_loader is not None:
        yield None, app.jinja_loader
    for name, blueprint in app.blueprints.items():
        if blueprint.jinja_loader is not None:
            yield name, blueprint.jinja_loader


def scan_templates(app: Flask) -> TemplateScan:
    """Every static reference in the app's templates (a template shadowed by an earlier
    loader's of the same name is never rendered, so it is not read).

    Parsing is the costly step (about a millisecond per line of Jinja here), so what a
    template's source gives is cached by its digest: an unchanged template, even in a fresh
    checkout, is not parsed again.
    """
    from jinja2 import TemplateError

    is_static_file.cache_clear()  # files come and go between two scans of one process
    scan = TemplateScan()
    sources = {s.endpoint: s for s in static_sources(app)}
    env = app.jinja_env
    cache = ParseCache(env)
    seen: set[str] = set()
    root = Path(app.root_path)
    for blueprint, loader in template_loaders(app):
        try:
            names = loader.list_templates()
        except (TypeError, OSError):  # a loader that cannot list (e.g. a FunctionLoader)
            continue
        for name in names:
            if name in seen:
                continue
            seen.add(name)
            try:
                source, filename, _ = loader.get_source(env, name)
            except (TemplateError, OSError, UnicodeDecodeError) as exc:
                scan.errors.append(f"{name}: cannot read the template ({exc})")
                continue
            shown = display_path(filename, root) if filename else name
            scan.templates += 1
            if not any(call in source for call in STATIC_CALLS):
                continue  # no call that could name a static file: nothing to parse
            found = cache.get(source)
            if found is None:
                try:
                    found = static_calls(env.parse(source, name, filename))
                except TemplateError as exc:
                    line = getattr(exc, "lineno", None)
                    scan.errors.append(f"{shown}:{line or 1}: cannot parse the template ({exc})")
                    continue
                cache.put(source, found)
            record(found, shown, blueprint, sources, scan)
    cache.save()
    return scan


def display_path(filename: str, root: Path) -> str:
    """The template's path relative to the app, POSIX style (absolute only when outside)."""
    try:
        return Path(os.path.relpath(filename, root)).as_posix()
    except ValueError:
        return Path(filename).as_posix()


# (line, function, endpoint, file name); a None file name is a computed one
Found = tuple[int, str, str, str | None]


def static_calls(tree: nodes.Template) -> list[Found]:
    """The calls in a parsed template that name a static file, literal or computed."""
    from jinja2 import nodes

    out: list[Found] = []
    for call in tree.find_all(nodes.Call):
        func = call.node
        if not (isinstance(func, nodes.Name) and func.name in STATIC_CALLS):
            continue
        line = call.lineno
        first = call.args[0] if call.args else None
        if not (isinstance(first, nodes.Const) and isinstance(first.value, str)):
            if func.name != "url_for" and first is not None:
                out.append((line, func.name, "", None))  # sri() & co. always name a file
            continue
        if not is_static_endpoint(first.value):
            continue
        named = [k.value for k in call.kwargs if k.key == "filename"]
        value = named[0] if named else None
        literal = value.value if isinstance(value, nodes.Const) else None
        out.append((line, func.name, first.value, literal if isinstance(literal, str) else None))
    return out


def record(
    found: list[Found],
    shown: str,
    blueprint: str | None,
    sources: dict[str, StaticSource],
    scan: TemplateScan,
) -> None:
    for line, func, endpoint, filename in found:
        where = f"{shown}:{line}"
        if filename is None:
            scan.dynamic.append(where)
            continue
        call = f"{func}({endpoint!r}, filename={filename!r})"
        resolved = resolve_endpoint(endpoint, blueprint)
        scan.refs.append(locate(where, call, resolved, filename, sources))


class ParseCache:
    """What each template source gave, by the digest of the source and of the Jinja syntax
    that parsed it, in the flask-s3 cache folder (FLASK_S3_NO_HASH_CACHE=1: off)."""

    def __init__(self, env: Environment) -> None:
        import jinja2

        from ..hashcache import cache_dir

        syntax = (
            jinja2.__version__,
            env.block_start_string,
            env.block_end_string,
            env.variable_start_string,
            env.variable_end_string,
            env.comment_start_string,
            env.comment_end_string,
            env.line_statement_prefix,
            env.line_comment_prefix,
            env.trim_blocks,
            env.lstrip_blocks,
            sorted(env.extensions),
        )
        self.salt = json.dumps(syntax, default=str).encode()
        self.entries: dict[str, list[Found]] = {}
        self.used: dict[str, list[Found]] = {}
        directory = cache_dir()
        self.path = directory / "templates.json" if directory is not None else None
        if self.path is not None:
            self.entries = load_parse_cache(self.path)

    def digest(self, source: str) -> str:
        return hashlib.sha256(
            self.salt + b"\0" + source.encode("utf-8", "surrogatepass")
        ).hexdigest()

    def get(self, source: str) -> list[Found] | None:
        key = self.digest(source)
        found = self.entries.get(key)
        if found is not None:
            self.used[key] = found
        return found

    def put(self, source: str, found: list[Found]) -> None:
        self.used[self.digest(source)] = found

    def save(self) -> None:
        """Keep what this scan used (others' templates and old versions drop out)."""
        if self.path is None or self.used.keys() == self.entries.keys():
            return
        from ..hashcache import write_cache

        write_cache(self.path, {"v": 1, "templates": self.used}, ".templates-")


def load_parse_cache(path: Path) -> dict[str, list[Found]]:
    """The cache file's entries; anything malformed is dropped, never trusted."""
    from ..hashcache import read_cache

    out: dict[str, list[Found]] = {}
    try:
        for key, items in read_cache(path, 1, "templates").items():
            found: list[Found] = []
            for line, func, endpoint, filename in items:
                if not (
                    isinstance(line, int)
                    and func in STATIC_CALLS
                    and isinstance(endpoint, str)
                    and (filename is None or isinstance(filename, str))
                ):
                    raise ValueError(key)
                found.append((line, func, endpoint, filename))
            out[str(key)] = found
        return out
    except (ValueError, TypeError):
        return {}


def resolve_endpoint(endpoint: str, blueprint: str | None) -> str:
    """``.static`` in a blueprint's own template is that blueprint's; in the app's, the app's
    (the page's blueprint is only known at request time: the common case is assumed)."""
    if endpoint.startswith("."):
        return f"{blueprint}{endpoint}" if blueprint else endpoint[1:]
    return endpoint


def locate(
    where: str, call: str, endpoint: str, filename: str, sources: dict[str, StaticSource]
) -> StaticRef:
    source = sources.get(endpoint)
    if source is None:
        return StaticRef(where, call, endpoint, filename, None, False)
    name = key_filename(filename)
    logical = static_key("", source.url_path, name)
    return StaticRef(where, call, endpoint, filename, logical, is_static_file(source.folder, name))


@lru_cache(maxsize=65536)
def is_static_file(folder: Path, name: str) -> bool:
    """Whether Flask's static route would find ``name`` in ``folder``: its ``safe_join`` is
    lexical (no ``..``, no absolute name), then the file must exist. Asked once per name."""
    parts = name.split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        return False
    return os.path.isfile(os.path.join(folder, *parts))


# -- pure: the scan against the inventory and the plan ------------------------------------


def reference_problems(
    scan: TemplateScan, spec: Spec, local: LocalInventory, deleted: Collection[str] = ()
) -> list[str]:
    """Each literal reference to a file the deploy will not serve, with template and line."""
    prefix = normalize_prefix(spec.urls.prefix)
    cut = len(prefix) + 1 if prefix else 0
    deployed = {asset.logical or key[cut:] for key, asset in local.assets.items()}
    excluded = key_matcher(spec.assets.exclude)
    out: list[str] = []
    for ref in scan.refs:
        if ref.logical is not None and ref.logical in deployed:
            continue
        out.append(f"{ref.where}: {ref.call}: {why_missing(ref, spec, excluded, deleted)}")
    return out


def why_missing(
    ref: StaticRef, spec: Spec, excluded: Callable[[str], bool], deleted: Collection[str]
) -> str:
    if ref.logical is None:
        return f"the endpoint {ref.endpoint!r} has no static folder"
    if ref.on_disk:
        parts = ref.logical.split("/")
        if not spec.assets.include_hidden and any(p.startswith(".") for p in parts):
            return (
                "the file is hidden (a name starting with '.') and is not uploaded; "
                "set assets.include_hidden or rename it"
            )
        if excluded(ref.logical):
            return "the file is excluded by assets.exclude and is not uploaded"
        return "the file is not uploaded (the spec or the fingerprint manifest, or shadowed)"
    key = join_key(normalize_prefix(spec.urls.prefix), ref.logical)
    if key in deleted:
        return "no such file, and prune deletes it from the bucket in this plan"
    return "no such file in the static folder"


def scan_warnings(
    scan: TemplateScan, spec: Spec, local: LocalInventory, deleted: Collection[str] = ()
) -> list[str]:
    """The plan's warnings from a scan: problems, unreadable templates, computed names."""
    out = [f"template {p}" for p in reference_problems(scan, spec, local, deleted)]
    out += [f"template {e}" for e in scan.errors]
    if scan.dynamic:
        shown = ", ".join(scan.dynamic[:SHOWN_DYNAMIC])
        extra = len(scan.dynamic) - SHOWN_DYNAMIC
        more = f" and {extra} more" if extra > 0 else ""
        out.append(
            f"templates: {len(scan.dynamic)} static reference"
            f"{'s' if len(scan.dynamic) != 1 else ''} with a computed file name "
            f"unchecked ({shown}{more})"
        )
    return out
