"""Sphinx directives that generate flask-s3's reference pages from the data the code uses.

``.. flask-s3-schema:: schemas/deploy.schema.json``
    Every field of a JSON schema: path, type, default, allowed values, description, and (with
    ``:examples: deploy.example.yaml``) a YAML example per field.
``.. flask-s3-config-keys::``
    The current Flask config keys, from ``flask_s3.config.CONFIG_KEYS``.
``.. flask-s3-old-config-keys::``
    Flask-S3 0.3's keys and the deprecated ones, with what 1.0 does with each (same source).

The walkers are plain functions so ``tests/test_docs.py`` checks the very fields these pages
show (every one needs a description and, for the deploy spec, an example).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml
from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

ROOT = Path(__file__).resolve().parents[2]
MISSING = object()
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Field:
    """One field of a schema, with its ``$ref`` resolved."""

    path: tuple[str, ...]  # ("assets", "rules", "[]", "match")
    schema: Mapping[str, Any]
    required: bool

    @property
    def dotted(self) -> str:
        return ".".join(self.path).replace(".[]", "[]")

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.dotted.lower()).strip("-")

    @property
    def description(self) -> str:
        return str(self.schema.get("description") or "").strip()

    @property
    def default(self) -> Any:
        return self.schema.get("default", MISSING)


def load_schema(path: str | Path) -> dict[str, Any]:
    return dict(json.loads((ROOT / path).read_text(encoding="utf-8")))


def _resolve(node: Mapping[str, Any], root: Mapping[str, Any]) -> dict[str, Any]:
    """The node with its ``$ref`` target merged in; the node's own keys win."""
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return dict(node)
    target: Any = root
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    merged = _resolve(target, root)
    merged.update({k: v for k, v in node.items() if k != "$ref"})
    return merged


def schema_fields(schema: Mapping[str, Any]) -> list[Field]:
    """Every property of the schema, depth first, in the schema's order."""
    return list(_walk(schema, schema, ()))


def _walk(
    node: Mapping[str, Any], root: Mapping[str, Any], path: tuple[str, ...]
) -> Iterator[Field]:
    node = _resolve(node, root)
    required = set(node.get("required", ()))
    for name, child in node.get("properties", {}).items():
        child = _resolve(child, root)
        here = (*path, name)
        yield Field(here, child, name in required)
        yield from _children(child, root, here)


def _children(
    node: Mapping[str, Any], root: Mapping[str, Any], path: tuple[str, ...]
) -> Iterator[Field]:
    yield from _walk(node, root, path)
    items = node.get("items")
    if isinstance(items, Mapping):
        yield from _walk(items, root, (*path, "[]"))
    for alternative in [*node.get("oneOf", ()), *node.get("anyOf", ())]:
        yield from _children(_resolve(alternative, root), root, path)


_TYPE_WORDS = {
    "string": "string",
    "integer": "integer",
    "boolean": "boolean",
    "null": "null",
    "number": "number",
    "object": "mapping",
    "array": "list",
}


def type_words(node: Mapping[str, Any], root: Mapping[str, Any] | None = None) -> str:
    """A reader's name for the type: ``string or null``, ``list of strings``, ``one of: ...``."""
    node = _resolve(node, root or {})
    if "const" in node:
        return f"always {json.dumps(node['const'])}"
    if "enum" in node:
        return "one of " + ", ".join(json.dumps(v) for v in node["enum"])
    alternatives = node.get("oneOf") or node.get("anyOf")
    if alternatives:
        return ", or ".join(type_words(a, root) for a in alternatives)
    kinds = node.get("type")
    if kinds is None:
        return "any JSON value"
    words = []
    for kind in [kinds] if isinstance(kinds, str) else kinds:
        if kind == "array" and isinstance(node.get("items"), Mapping):
            inner = type_words(node["items"], root)
            plural = inner if inner.startswith(("one of", "list", "mapping")) else f"{inner}s"
            words.append(f"list of {plural}")
        elif kind == "object" and "properties" not in node and node.get("additionalProperties"):
            values = node["additionalProperties"]
            value_words = type_words(values, root) if isinstance(values, Mapping) else "any"
            words.append(f"mapping of names to {value_words}")
        else:
            words.append(_TYPE_WORDS.get(kind, kind))
    bounds = [f">= {node['minimum']}" for _ in [0] if "minimum" in node]
    bounds += [f"<= {node['maximum']}" for _ in [0] if "maximum" in node]
    text = " or ".join(words)
    return f"{text} ({', '.join(bounds)})" if bounds else text


def example_value(field: Field, example: Any) -> Any:
    """The value to show for a field: the schema's ``examples``, else the example file's
    value (when it has no ``${VAR}``), else the default. ``MISSING`` when there is none."""
    if field.schema.get("examples"):
        return field.schema["examples"][0]
    value = _lookup(example, field.path)
    if value is not MISSING and "${" not in json.dumps(value):
        return value
    return field.default


def _lookup(data: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if part == "[]":
            if not isinstance(data, list) or not data:
                return MISSING
            data = data[0]
        elif isinstance(data, Mapping) and part in data:
            data = data[part]
        else:
            return MISSING
    return data


def example_yaml(field: Field, value: Any) -> str:
    """The value nested under its path, as a user would write it in deploy.yaml."""
    for part in reversed(field.path):
        value = [value] if part == "[]" else {part: value}
    return yaml.safe_dump(value, sort_keys=False, default_flow_style=False, width=80).strip()


def _inline(text: str) -> list[nodes.Node]:
    """Schema descriptions use Markdown backticks for code; nothing else is markup."""
    out: list[nodes.Node] = []
    for i, part in enumerate(re.split(r"`([^`]+)`", text)):
        if part:
            out.append(nodes.literal(part, part) if i % 2 else nodes.Text(part))
    return out


def _para(*children: nodes.Node) -> nodes.paragraph:
    para = nodes.paragraph()
    para.extend(children)
    return para


class SchemaDirective(SphinxDirective):
    """Render every field of a JSON schema as a definition list."""

    required_arguments = 1
    option_spec: ClassVar[dict[str, Any]] = {
        "examples": directives.unchanged,
        "anchor-prefix": directives.unchanged,
    }

    def run(self) -> list[nodes.Node]:
        schema_path = self.arguments[0]
        schema = load_schema(schema_path)
        self.env.note_dependency(str(ROOT / schema_path))
        example: Any = MISSING
        if "examples" in self.options:
            example_path = ROOT / self.options["examples"]
            self.env.note_dependency(str(example_path))
            example = yaml.safe_load(example_path.read_text(encoding="utf-8"))
        prefix = self.options.get("anchor-prefix", "field")
        fields = schema_fields(schema)
        # Top-level scalars first, then one section per top-level field that has fields.
        parents = {f.path[0] for f in fields if len(f.path) > 1}
        groups: dict[str, list[Field]] = {"top level": []}
        groups.update((name, []) for name in schema["properties"] if name in parents)
        for field in fields:
            if len(field.path) > 1:
                groups[field.path[0]].append(field)
            elif field.path[0] not in parents:
                groups["top level"].append(field)
        out: list[nodes.Node] = []
        for title, members in groups.items():
            if not members:
                continue
            section = nodes.section(ids=[f"{prefix}-{title.replace(' ', '-')}"])
            section += nodes.title(
                title,
                "",
                nodes.literal(title, title) if title != "top level" else nodes.Text("Top level"),
            )
            if title in schema["properties"]:
                node = _resolve(schema["properties"][title], schema)
                section += _para(*_inline(str(node.get("description", ""))))
                if not node.get("description"):
                    self._warn_no_description(title)
            section += self._fields(members, schema, example, prefix)
            out.append(section)
        return out

    @staticmethod
    def _config_key_of(field: Field) -> str | None:
        for key in config_keys():
            current = getattr(key, "status", "current") == "current"
            if current and getattr(key, "spec_field", None) == field.dotted:
                return str(key.name)
        return None

    def _warn_no_description(self, dotted: str) -> None:
        logger.warning(
            "%s: %s has no description", self.arguments[0], dotted, location=self.get_location()
        )

    def _fields(
        self, fields: list[Field], schema: Mapping[str, Any], example: Any, prefix: str
    ) -> nodes.definition_list:
        dlist = nodes.definition_list(classes=["flask-s3-fields"])
        for field in fields:
            if not field.description:
                self._warn_no_description(field.dotted)
            term = nodes.term("", "", nodes.literal(field.dotted, field.dotted))
            label = f"{prefix}-{field.anchor}"  # :ref:`bucket.name <spec-bucket-name>`
            term["ids"].append(label)
            term["names"].append(label)
            self.state.document.note_explicit_target(term)
            facts: list[nodes.Node] = [
                nodes.strong("Type: ", "Type: "),
                nodes.Text(type_words(field.schema, schema)),
            ]
            if field.required:
                facts.append(nodes.Text("; required"))
            if field.default is not MISSING:
                shown = json.dumps(field.default)
                facts += [
                    nodes.Text("; "),
                    nodes.strong("default: ", "default: "),
                    nodes.literal(shown, shown),
                ]
            key = self._config_key_of(field) if prefix == "spec" else None
            if key is not None:  # link to the Flask config key the field fills
                ref = addnodes.pending_xref(
                    "", refdomain="py", reftype="data", reftarget=key, refexplicit=False
                )
                ref += nodes.literal(key, key)
                facts += [nodes.Text("; "), nodes.strong("Flask config: ", "Flask config: "), ref]
            body = nodes.definition("", _para(*facts), _para(*_inline(field.description)))
            if example is not MISSING and not field.schema.get("properties"):
                value = example_value(field, example)
                if value is MISSING:
                    logger.warning(
                        "%s: %s has no example (add `examples` to the schema)",
                        self.arguments[0],
                        field.dotted,
                        location=self.get_location(),
                    )
                else:
                    text = example_yaml(field, value)
                    block = nodes.literal_block(text, text, language="yaml")
                    body.append(block)
            dlist.append(nodes.definition_list_item("", term, body))
        return dlist


def config_keys() -> tuple[Any, ...]:
    """The registry the extension reads; imported late so a docs build sees the checkout."""
    from flask_s3.config import CONFIG_KEYS

    return tuple(CONFIG_KEYS)


class ConfigKeysDirective(SphinxDirective):
    """One ``.. data::`` entry per config key, as Flask documents its own configuration."""

    def run(self) -> list[nodes.Node]:
        lines: list[str] = []
        for key in config_keys():
            if getattr(key, "status", "current") != "current":
                continue
            description = str(key.description).strip()
            if not description:
                logger.warning(
                    "config key %s has no description", key.name, location=self.get_location()
                )
            facts = f"Default: ``{_python_value(key.default)}``."
            spec_field = getattr(key, "spec_field", None)
            if spec_field:
                anchor = re.sub(r"[^a-z0-9]+", "-", spec_field.lower()).strip("-")
                facts += f" Set by the spec's :ref:`{spec_field} <spec-{anchor}>`."
            lines += [f".. data:: {key.name}", "", f"   {_rst(description)}", "", f"   {facts}", ""]
        container = nodes.container(classes=["flask-s3-config"])
        self.state.nested_parse(StringList(lines, source="CONFIG_KEYS"), 0, container)
        return container.children


def _rst(text: str) -> str:
    """Markdown-ish text (backticks for code) as reStructuredText, other markup escaped."""
    parts = re.split(r"`([^`]+)`", " ".join(text.split()))
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"``{part}``")
        else:
            out.append(re.sub(r"([\\*_|`<>\[\]])", r"\\\1", part))
    return "".join(out)


class OldConfigKeysDirective(SphinxDirective):
    """A table of the keys that are not current: default then, and what 1.0 does."""

    def run(self) -> list[nodes.Node]:
        keys = [k for k in config_keys() if getattr(k, "status", "current") != "current"]
        # Flask-S3 0.3's keys first, then the seed's deprecated ones, as the registry groups them.
        keys.sort(key=lambda k: k.status != "flask-s3-0.3")
        rows = []
        for key in keys:
            if not str(getattr(key, "in_1_0", "")).strip():
                logger.warning(
                    "config key %s does not say what 1.0 does with it", key.name,
                    location=self.get_location(),
                )  # fmt: skip
            default = _python_value(key.default)
            rows.append(
                [
                    [nodes.literal(key.name, key.name)],
                    [nodes.literal(default, default)],
                    _inline(str(key.in_1_0)),
                ]
            )
        header = ["Old key", "Its default then", "What flask-s3 1.0 does with it"]
        return [_table(header, rows, ids=["old-config-keys"])]


def _table(header: list[str], rows: list[list[list[nodes.Node]]], ids: list[str]) -> nodes.table:
    table = nodes.table(ids=ids, classes=["flask-s3-table"])
    group = nodes.tgroup(cols=len(header))
    table.append(group)
    group.extend(nodes.colspec(colwidth=1) for _ in header)

    def row_of(cells: list[list[nodes.Node]]) -> nodes.row:
        row = nodes.row()
        for cell in cells:
            row.append(nodes.entry("", _para(*cell)))
        return row

    group.append(nodes.thead("", row_of([[nodes.Text(h)] for h in header])))
    body = nodes.tbody()
    body.extend(row_of(r) for r in rows)
    group.append(body)
    return table


def _python_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_python_value(v) for v in value) + "]"
    return repr(value)


EXAMPLE_LINE = re.compile(r"^\| (\S.*?)\s{2,}(\S.*)$")


def examples_as_lists(app: Sphinx, ctx: Any, lines: list[str]) -> None:
    """A help text's aligned examples (a click ``\\b`` block: ``COMMAND   what it does``)
    become a list of ``COMMAND``: what it does; HTML would run the columns together."""
    out: list[str] = []
    index = 0
    while index < len(lines):
        end = index
        while end < len(lines) and lines[end].startswith("| "):
            end += 1
        block = lines[index:end]
        matches = [EXAMPLE_LINE.match(line) for line in block]
        if block and all(matches):
            out += [f"* ``{m.group(1)}``: {m.group(2)}" for m in matches if m] + [""]
            index = end
        else:
            out.append(lines[index])
            index += 1
    lines[:] = out


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("sphinx-click-process-description", examples_as_lists)
    app.add_directive("flask-s3-schema", SchemaDirective)
    app.add_directive("flask-s3-config-keys", ConfigKeysDirective)
    app.add_directive("flask-s3-old-config-keys", OldConfigKeysDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
