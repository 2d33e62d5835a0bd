"""Reading deploy.yaml: YAML to plain data with a line and column for every key path,
``${VAR}`` interpolation, and schema validation turned into located, plain-worded problems."""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .errors import Problem, SpecError

MAX_NODES = 20_000  # far beyond any real spec; an alias bomb hits it at once
MAX_BYTES = 1_000_000
Path_ = tuple[str | int, ...]
SECRET_WORDS = ("secret", "password", "passwd", "token", "credential", "private_key")
SECRET_KEYS = {"aws_access_key_id", "access_key_id", "access_key", "aws_access_key"}
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


@dataclass
class Locator:
    """Where each key path sits in the file (1-based line and column)."""

    file: str
    where: dict[Path_, tuple[int, int]]

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
                self.problems.append(
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
        problems.append(
            locator.problem((), "the top level must be a mapping (`version: 1`, `bucket: ...`)")
        )
        raise SpecError(problems)
    problems += interpolate(data, (), locator, os.environ)
    if problems:
        raise SpecError(problems)
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
            return str(env[name])
        if default is not None:
            return default
        errors.append(
            f"environment variable {name} is not set; set it or write ${{{name}:-default}}"
        )
        return ""

    return INTERPOLATION.sub(replace, value), errors


@lru_cache(maxsize=1)
@lru_cache(maxsize=1)
def schema_bytes() -> bytes:
    """``schemas/deploy.schema.json``: from the installed package, else the source checkout."""
    packaged = resources.files("flask_s3") / "schemas" / "deploy.schema.json"
    if packaged.is_file():
        return packaged.read_bytes()
    return (Path(__file__).resolve().parent.parent / "schemas" / "deploy.schema.json").read_bytes()


def load_schema() -> dict[str, Any]:
    return dict(json.loads(schema_bytes()))


def looks_secret(key: str) -> bool:
    lower = key.lower().replace("-", "_")
    return lower in SECRET_KEYS or any(word in lower for word in SECRET_WORDS)


def find_secrets(node: Any, path: Path_, locator: Locator) -> list[Problem]:
    problems: list[Problem] = []
    if isinstance(node, dict):
        for key in list(node):
            child = (*path, key)
            if looks_secret(str(key)):
                problems.append(
                    locator.problem(
                        child,
                        "credentials do not belong in the spec; set AWS_ACCESS_KEY_ID and "
                        "AWS_SECRET_ACCESS_KEY in the environment, or name a profile in "
                        "bucket.profile",
                    )
                )
                del node[key]
            else:
                problems += find_secrets(node[key], child, locator)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            problems += find_secrets(item, (*path, index), locator)
    return problems


def validate(data: dict[str, Any], locator: Locator) -> None:
    """Raise SpecError with every problem: secrets first, then everything the schema finds."""
    problems = find_secrets(data, (), locator)
    for path in EMPTY_IS_UNSET:
        parent: Any = data
        for part in path[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and parent.get(path[-1]) == "":
            del parent[path[-1]]
    problems += glob_problems(data, locator)
    if not problems and _known_valid(data):
        return
    from jsonschema import Draft202012Validator

    schema = load_schema()
    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    for error in errors:
        problems += explain(error, locator, schema)
    problems += check_dates(data, locator)
    if problems:
        problems.sort(key=lambda p: (p.line, p.column))
        raise SpecError(problems)
    _known_valid(data, remember=True)


def check_dates(data: dict[str, Any], locator: Locator) -> list[Problem]:
    """An ``Expires`` header must be a date boto3 can send (it refuses anything else)."""
    from .headers import http_date

    found = data.get("assets")
    assets: dict[str, Any] = found if isinstance(found, dict) else {}
    places: list[tuple[Path_, Any]] = [(("assets", "headers"), assets.get("headers"))]
    rules = assets.get("rules")
    for index, rule in enumerate(rules if isinstance(rules, list) else []):
        if isinstance(rule, dict):
            places.append((("assets", "rules", index, "headers"), rule.get("headers")))
    problems = []
    for path, headers in places:
        for name, value in (headers or {}).items() if isinstance(headers, dict) else ():
            if str(name).strip().lower() == "expires" and http_date(str(value)) is None:
                problems.append(
                    locator.problem(
                        (*path, name),
                        f"{_shown(value)} is not a date; write an HTTP date such as "
                        "'Thu, 01 Jan 2027 00:00:00 GMT' (or better, use Cache-Control: max-age)",
                    )
                )
    return problems


def glob_problems(data: dict[str, Any], locator: Locator) -> list[Problem]:
    """Globs that can never match a key (``/static/x.css``, ``static\\x.css``...), located.

    Values of the wrong type and empty strings are left to the schema, which names them.
    """
    from .globs import glob_problem

    assets = data.get("assets")
    if not isinstance(assets, dict):
        return []
    fingerprint = assets.get("fingerprint")
    lists: list[tuple[Path_, Any]] = [
        (("assets", "exclude"), assets.get("exclude")),
        (
            ("assets", "fingerprint", "exclude"),
            fingerprint.get("exclude") if isinstance(fingerprint, dict) else None,
        ),
    ]
    found: list[tuple[Path_, Any]] = []
    for path, values in lists:
        if isinstance(values, list):
            found += [((*path, i), v) for i, v in enumerate(values)]
    rules = assets.get("rules")
    if isinstance(rules, list):
        found += [
            (("assets", "rules", i, "match"), rule.get("match"))
            for i, rule in enumerate(rules)
            if isinstance(rule, dict)
        ]
    problems = []
    for path, pattern in found:
        message = glob_problem(pattern) if isinstance(pattern, str) and pattern else None
        if message is not None:
            problems.append(locator.problem(path, message))
    return problems


def _known_valid(data: dict[str, Any], remember: bool = False) -> bool:
    """Whether this exact document passed this exact schema before (a marker in the cache).

    Importing jsonschema and validating costs more than the rest of a no-op plan's start-up,
    so a spec that validated once is not validated again until it or the schema changes.
    Only plain JSON values are cached: anything else (a YAML date, say) always validates.
    """
    from .hashcache import cache_dir

    directory = cache_dir()
    if directory is None:
        return False
    try:
        document = json.dumps(data, sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return False
    digest = hashlib.sha256(schema_bytes() + b"\0" + document.encode()).hexdigest()
    marker = directory / "valid-specs" / digest
    if not remember:
        return marker.exists()
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        pass
    return True


TYPE_WORDS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping (key: value lines)",
    "array": "a list",
    "null": "nothing (null)",
}


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _bounds(sub: dict[str, Any]) -> str:
    low, high = sub.get("minimum"), sub.get("maximum")
    if low is not None and high is not None:
        return f"from {low} to {high}"
    if low is not None:
        return f"of {low} or more"
    return f"of {high} or less"


def explain(error: Any, locator: Locator, schema: dict[str, Any]) -> list[Problem]:
    """One jsonschema error in plain words, located, saying what to write instead."""
    path: Path_ = tuple(error.absolute_path)
    sub = error.schema if isinstance(error.schema, dict) else {}
    fix = sub.get("x-fix")
    kind = error.validator
    if kind == "additionalProperties":
        allowed = sorted(sub.get("properties", {}))
        out = []
        for key in sorted(set(error.instance) - set(allowed)):
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f'did you mean "{close[0]}"?' if close else f"allowed: {', '.join(allowed)}"
            out.append(locator.problem((*path, key), f"unknown key; {hint}"))
        return out
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "?"
        present = [str(k) for k in error.instance] if isinstance(error.instance, dict) else []
        close = difflib.get_close_matches(missing, present, n=1, cutoff=0.6)
        hint = f' (is "{close[0]}" a misspelling of it?)' if close else ""
        return [locator.problem(path, f'missing required key "{missing}"{hint}')]
    if kind == "propertyNames" or "propertyNames" in error.schema_path:
        name = str(error.instance)
        return [
            locator.problem(
                (*path, name),
                f"{_shown(name)} is not a valid header name; use letters, digits and '-' "
                "(e.g. Cache-Control)",
            )
        ]
    if kind == "oneOf" and error.context and isinstance(error.instance, (dict, list)):
        # Explain the branch meant by the value's shape (the mapping or the list form).
        branch = 1 if isinstance(error.instance, dict) else 0
        inner = [e for e in error.context if e.relative_schema_path[0] == branch]
        if inner:
            return [p for e in inner for p in explain(e, locator, schema)]
    got = _shown(error.instance)
    if kind == "type":
        wanted = sub.get("type")
        names = wanted if isinstance(wanted, list) else [wanted]
        words = " or ".join(TYPE_WORDS.get(str(n), str(n)) for n in names)
        if "minimum" in sub or "maximum" in sub:
            words += " " + _bounds(sub)
        return [locator.problem(path, f"expected {words}, got {got}")]
    if kind == "enum":
        options = ", ".join(str(o) for o in sub.get("enum", []))
        return [locator.problem(path, f"expected one of {options}; got {got}")]
    if kind == "const":
        return [
            locator.problem(path, f"{fix or 'expected ' + _shown(sub.get('const'))}; got {got}")
        ]
    if kind in ("minimum", "maximum"):
        return [locator.problem(path, f"expected a whole number {_bounds(sub)}, got {got}")]
    if kind in ("pattern", "oneOf") and fix:
        return [locator.problem(path, f"{fix}; got {got}")]
    if kind == "minLength":
        return [locator.problem(path, "must not be empty")]
    if kind == "minItems":
        return [locator.problem(path, "the list must not be empty")]
    return [locator.problem(path, f"{error.message}")]
