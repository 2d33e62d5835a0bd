"""Checking a deploy spec: the JSON Schema, secrets, dates and globs, every problem located
(``FILE:LINE:COL: key.path: message``) and worded as what to write instead."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import Problem, SpecError
from .yamlfile import EMPTY_IS_UNSET, Locator, Path_

# S3's bucket naming rules beyond the schema's pattern (length and characters):
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
RESERVED_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
IP_FORM = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
SECRET_WORDS = ("secret", "password", "passwd", "token", "credential", "private_key")
SECRET_KEYS = {"aws_access_key_id", "access_key_id", "access_key", "aws_access_key"}


@lru_cache(maxsize=2)
def schema_bytes(name: str = "deploy.schema.json") -> bytes:
    """``schemas/NAME``: from the installed package, else the source checkout."""
    here = Path(__file__).resolve().parents[1] / "schemas" / name
    if here.is_file():  # a package on disk: no importlib.resources (20 ms) on every run
        return here.read_bytes()
    if not Path(__file__).is_file():  # not on disk (a zip, say): importlib.resources reads it
        from importlib import resources

        packaged = resources.files("flask_s3") / "schemas" / name
        if packaged.is_file():
            return packaged.read_bytes()
    # A source checkout (an editable install): on disk, where importlib.resources would look
    # in the same folder as above, so it is not imported (before every run's first request).
    return (Path(__file__).resolve().parents[2] / "schemas" / name).read_bytes()


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
    problems = [*locator.carried, *find_secrets(data, (), locator)]
    for path in EMPTY_IS_UNSET:
        parent: Any = data
        for part in path[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and parent.get(path[-1]) == "":
            del parent[path[-1]]
    problems += glob_problems(data, locator)
    problems += endpoint_problems(data, locator) + prefix_problems(data, locator)
    problems += bucket_name_problems(data, locator)
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
    from ..headers import http_date

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


def bucket_name_problem(name: str) -> str | None:
    """Why S3 would refuse this bucket name (InvalidBucketName), or None.

    Length and characters are the schema's pattern; these are the rules a name that passes
    the pattern can still break.
    """
    if ".." in name:
        return f"{_shown(name)} has two adjacent periods; S3 refuses it (write one '.')"
    if IP_FORM.match(name):
        return f"{_shown(name)} looks like an IP address; S3 refuses such names"
    for prefix in RESERVED_BUCKET_PREFIXES:
        if name.startswith(prefix):
            return f"{_shown(name)} starts with {prefix!r}, which S3 reserves; choose another name"
    for suffix in RESERVED_BUCKET_SUFFIXES:
        if name.endswith(suffix):
            return f"{_shown(name)} ends with {suffix!r}, which S3 reserves; choose another name"
    return None


def bucket_name_problems(data: dict[str, Any], locator: Locator) -> list[Problem]:
    """S3's bucket naming rules on ``bucket.name`` (after interpolation), located."""
    bucket = data.get("bucket")
    name = bucket.get("name") if isinstance(bucket, dict) else None
    if not isinstance(name, str):
        return []  # a missing or non-text name is the schema's to explain
    message = bucket_name_problem(name)
    return [locator.problem(("bucket", "name"), message)] if message else []


def glob_problems(data: dict[str, Any], locator: Locator) -> list[Problem]:
    """Globs that can never match a key (``/static/x.css``, ``static\\x.css``...), located.

    Values of the wrong type and empty strings are left to the schema, which names them.
    """
    from ..assets.globs import glob_problem

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
        (
            ("assets", "fingerprint", "hashed"),
            fingerprint.get("hashed") if isinstance(fingerprint, dict) else None,
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


def endpoint_problems(data: dict[str, Any], locator: Locator) -> list[Problem]:
    """Credentials in ``bucket.endpoint_url`` (``http://user:pass@host``) are refused.

    They would be printed in every plan, saved in plan files and caches; the AWS credential
    chain is where they belong. The value itself is never repeated in the message.
    """
    bucket = data.get("bucket")
    url = bucket.get("endpoint_url") if isinstance(bucket, dict) else None
    if not isinstance(url, str) or "@" not in url.split("://", 1)[-1].split("/", 1)[0]:
        return []
    return [
        locator.problem(
            ("bucket", "endpoint_url"),
            "credentials in the URL (user:password@host) are refused; give only the scheme, "
            "host and port, and put the keys in the AWS credential chain (AWS_ACCESS_KEY_ID / "
            "AWS_SECRET_ACCESS_KEY, or bucket.profile)",
        )
    ]


def prefix_problems(data: dict[str, Any], locator: Locator) -> list[Problem]:
    """``urls.prefix`` must name a folder: no ``.``/``..`` parts, no ``//``, not only ``/``.

    S3 keys are literal strings: ``../other`` is not a way out of the prefix, it is a folder
    called ``..`` that browsers and CDNs normalise away, so the URLs would miss the objects.
    Leading and trailing slashes are ignored (as documented); type errors are the schema's.
    """
    urls = data.get("urls")
    prefix = urls.get("prefix") if isinstance(urls, dict) else None
    if not isinstance(prefix, str) or prefix == "":
        return []
    inner = prefix.strip("/")
    message = None
    if inner == "":
        message = (
            "a prefix of only slashes is the bucket root; leave urls.prefix out for that, "
            "or name a folder such as v2"
        )
    elif any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in inner):
        message = "a prefix has no control characters; write a folder name such as v2"
    elif "\\" in inner:
        message = "a prefix uses / between folders, not \\; write e.g. assets/shop"
    else:
        parts = inner.split("/")
        if "" in parts:
            message = "a prefix has no empty folder names (//); write e.g. assets/shop"
        elif "." in parts or ".." in parts:
            message = (
                "a prefix has no . or .. parts (S3 keys are literal, and browsers would "
                "rewrite the URLs); write the folder name, e.g. assets/shop"
            )
    return [] if message is None else [locator.problem(("urls", "prefix"), message)]


def _known_valid(data: dict[str, Any], remember: bool = False) -> bool:
    """Whether this exact document passed this exact schema before (a marker in the cache).

    Importing jsonschema and validating costs more than the rest of a no-op plan's start-up,
    so a spec that validated once is not validated again until it or the schema changes.
    Only plain JSON values are cached: anything else (a YAML date, say) always validates.
    """
    from ..hashcache import cache_dir

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
    from ..safe_output import mask

    # Masked: the value may come from a secret ${VAR}, or carry user:password@ in a URL.
    text = mask(json.dumps(value, default=str, ensure_ascii=False))
    text = re.sub(r"://[^/@\s\"]*@", "://***@", text)
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
