"""Reading deploy.yaml: YAML to plain data with a line and column for every key path, and
``${VAR}`` interpolation. Tags, merge keys and alias bombs are refused, located."""

from __future__ import annotations

import os
import re
from dataclasses import field
from pathlib import Path
from typing import Any

import yaml

from ..errors import Problem, SpecError
from ..records import record
from ..safe_output import looks_secret_variable, remember_secret

MAX_NODES = 20_000  # far beyond any real spec; an alias bomb hits it at once
MAX_BYTES = 1_000_000
Path_ = tuple[str | int, ...]
PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
INTERPOLATION = re.compile(r"\$\{([^}]*)\}")
VAR_FORM = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.DOTALL)
# Optional string fields where an empty value (often from `${VAR:-}`) means "not set".
EMPTY_IS_UNSET = {
    ("app",),
    ("bucket", "region"),
    ("bucket", "endpoint_url"),
    ("bucket", "profile"),
    ("urls", "cdn_domain"),
    ("urls", "scheme"),
    ("urls", "style"),
    ("urls", "bucket_domain"),
    ("assets", "encryption", "kms_key_id"),
    ("cdn", "cloudfront", "profile"),
}


def dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@record
class Locator:
    """Where each key path sits in the file (1-based line and column)."""

    file: str
    where: dict[Path_, tuple[int, int]]
    # Problems found while reading that leave the data usable (a duplicate key keeps its
    # first value): validation reports them beside everything else it finds.
    carried: list[Problem] = field(default_factory=list)

    def at(self, path: Path_) -> tuple[int, int]:
        for end in range(len(path), -1, -1):
            if path[:end] in self.where:
                return self.where[path[:end]]
        return (1, 1)

    def problem(self, path: Path_, message: str) -> Problem:
        line, column = self.at(path)
        return Problem(self.file, line, column, dotted(path), message)


class _Builder:
    """Turns composed YAML nodes into data, refusing tags, duplicates and alias bombs."""

    def __init__(self, locator: Locator) -> None:
        self.locator = locator
        self.problems: list[Problem] = []
        self.duplicates: list[Problem] = []
        self.nodes = 0
        self.constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: Path_, stack: tuple[int, ...] = ()) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooBig(node)
        self.locator.where.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if id(node) in stack:
            self.problems.append(self.locator.problem(path, "an alias refers to itself"))
            return None
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in (
            "tag:yaml.org,2002:map",
            "tag:yaml.org,2002:seq",
        ):
            self.problems.append(
                self.locator.problem(path, f"the tag {node.tag} is not allowed; write plain YAML")
            )
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, (*stack, id(node)))
        if isinstance(node, yaml.SequenceNode):
            return [
                self.build(item, (*path, i), (*stack, id(node)))
                for i, item in enumerate(node.value)
            ]
        if node.tag not in PLAIN_TAGS:
            self.problems.append(
                self.locator.problem(
                    path, f"the tag {node.tag} is not allowed; write a plain value"
                )
            )
            return None
        try:
            return self.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError):
            self.problems.append(self.locator.problem(path, "this value cannot be read"))
            return None

    def _mapping(self, node: yaml.MappingNode, path: Path_, stack: tuple[int, ...]) -> Any:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.problems.append(
                    self.locator.problem(path, "merge keys (<<) are not supported; write keys out")
                )
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in PLAIN_TAGS:
                self.problems.append(self.locator.problem(path, "keys must be plain names"))
                continue
            key = str(key_node.value)
            child = (*path, key)
            position = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in out:
                first = self.locator.where.get(child, position)
                self.duplicates.append(
                    Problem(
                        self.locator.file,
                        position[0],
                        position[1],
                        dotted(child),
                        f"duplicate key (first given on line {first[0]}); keep one",
                    )
                )
                continue
            self.locator.where[child] = position
            out[key] = self.build(value_node, child, stack)
        return out


class _TooBig(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.node = node


def parse_file(path: Path) -> tuple[dict[str, Any], Locator]:
    """Read ``path`` into plain data and a Locator; SpecError for anything unreadable."""
    name = str(path)
    locator = Locator(name, {})

    def single(message: str, line: int = 1, column: int = 1) -> SpecError:
        return SpecError([Problem(name, line, column, "", message)])

    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise single("this is a folder; give the path of a deploy.yaml file") from None
    except FileNotFoundError:
        raise single("no such file; check the path (e.g. deploy.yaml)") from None
    except OSError as exc:
        raise single(f"cannot read the file: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise single(f"the file is larger than {MAX_BYTES // 1000} kB; a spec is a few lines")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise single("the file is not UTF-8 text; save it as UTF-8", line, column) from None
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or "invalid YAML"
        hint = "; indent with spaces, not tabs" if "\\t" in what or "tab" in what else ""
        raise single(
            f"YAML syntax error: {what}{hint}",
            (mark.line + 1) if mark else 1,
            (mark.column + 1) if mark else 1,
        ) from None
    except yaml.YAMLError as exc:
        raise single(f"YAML syntax error: {exc}") from None
    except RecursionError:
        raise single("the YAML nests too deeply") from None
    documents = [d for d in documents if d is not None]
    if not documents:
        raise single("the file is empty; a spec needs at least `version: 1` and `bucket.name`")
    if len(documents) > 1:
        line = documents[1].start_mark.line + 1
        raise single("only one YAML document is allowed (remove the second `---`)", line)
    builder = _Builder(locator)
    try:
        data = builder.build(documents[0], ())
    except _TooBig as big:
        line, column = big.node.start_mark.line + 1, big.node.start_mark.column + 1
        raise single(
            f"the document expands to more than {MAX_NODES} values (aliases?); "
            "write the spec out plainly",
            line,
            column,
        ) from None
    except RecursionError:
        raise single("the YAML nests too deeply") from None
    problems = builder.problems
    if not isinstance(data, dict):
        problems += builder.duplicates
        problems.append(
            locator.problem((), "the top level must be a mapping (`version: 1`, `bucket: ...`)")
        )
        raise SpecError(problems)
    problems += interpolate(data, (), locator, os.environ)
    if problems:
        raise SpecError(sorted([*problems, *builder.duplicates], key=lambda p: (p.line, p.column)))
    # The first value of a duplicated key stands, so the schema can still check the rest.
    locator.carried += builder.duplicates
    return data, locator


def interpolate(node: Any, path: Path_, locator: Locator, env: Any) -> list[Problem]:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in string values, in place."""
    problems: list[Problem] = []
    items: Any = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in list(items):
        child = (*path, key)
        if isinstance(value, (dict, list)):
            problems += interpolate(value, child, locator, env)
        elif isinstance(value, str) and "$" in value:
            result, errors = _substitute(value, env)
            problems += [locator.problem(child, e) for e in errors]
            if not errors:
                if result == "" and child in EMPTY_IS_UNSET and isinstance(node, dict):
                    del node[key]
                else:
                    node[key] = result
    return problems


def _substitute(value: str, env: Any) -> tuple[str, list[str]]:
    errors: list[str] = []
    if value.count("${") != len(INTERPOLATION.findall(value)):
        return value, ["unclosed `${`: write ${NAME} or ${NAME:-default}"]

    def replace(match: re.Match[str]) -> str:
        form = VAR_FORM.match(match.group(1))
        if form is None:
            errors.append(
                f"`${{{match.group(1)}}}` is not a variable: write ${{NAME}} or ${{NAME:-default}}"
            )
            return ""
        name, default = form.group(1), form.group(2)
        if name in env:
            if looks_secret_variable(name):  # masked in everything printed from now on
                remember_secret(str(env[name]))
            return str(env[name])
        if default is not None:
            return default
        errors.append(
            f"environment variable {name} is not set; set it or write ${{{name}:-default}}"
        )
        return ""

    return INTERPOLATION.sub(replace, value), errors
