"""What may be printed: secrets masked, control characters in names made visible.

Two dangers meet wherever flask-s3 prints something (the plan in any format, errors, logs,
the pull-request comment, the job summary):

* **Secrets.** CI masks secrets in its log, but not in a PR comment, a job summary or a saved
  plan artifact. A value is treated as a secret when it came from a ``${VAR}`` in the spec
  whose name looks secret (``SECRET``, ``TOKEN``, ``PASSWORD``, ``KEY``...), or when it is the
  value of one of the credential variables below, however it got into the output. Such values
  are shown as ``***``. Other interpolated values (``${BUCKET}``, ``${ENV}``) are not masked:
  a bucket name or a prefix must stay readable in a plan a reviewer approves.
* **Control characters.** A file name may hold a newline (which can forge a
  ``::warning::`` workflow command line in CI), an ESC (terminal escape sequences, OSC
  hyperlinks, title changes) or a bidirectional override. :func:`term_safe` shows them as
  ``\\n``, ``\\x1b``, ``\\u202e``.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

MASK = "***"
# Shorter values are not masked as substrings: masking "ab" everywhere would garble output
# without hiding anything a guess could not find.
MIN_SECRET_LENGTH = 4
# Credentials flask-s3 or its CI steps read from the environment.
CREDENTIAL_VARIABLES = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "FLASK_S3_GITLAB_TOKEN",
    "CI_JOB_TOKEN",
)
_SECRET_NAME = re.compile(
    r"SECRET|PASSWORD|PASSWD|PASSPHRASE|TOKEN|CREDENTIAL|PRIVATE|(^|_)(KEY|PASS|PWD|AUTH)(_|$)",
    re.IGNORECASE,
)

_lock = threading.Lock()
_secrets: set[str] = set()


def looks_secret_variable(name: str) -> bool:
    """Whether an environment variable's name says it holds a secret (``DB_PASSWORD``...)."""
    return name in CREDENTIAL_VARIABLES or bool(_SECRET_NAME.search(name))


def remember_secret(value: str) -> None:
    """Mask ``value`` in everything printed from now on (this process)."""
    if len(value) >= MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(value)


def known_secrets(env: Mapping[str, str] | None = None) -> list[str]:
    """Remembered secrets plus the credential variables' current values, longest first."""
    env = os.environ if env is None else env
    with _lock:
        found = set(_secrets)
    found.update(
        v for name in CREDENTIAL_VARIABLES if len(v := env.get(name, "")) >= MIN_SECRET_LENGTH
    )
    # Longest first: a secret that contains another is masked whole.
    return sorted(found, key=lambda s: (-len(s), s))


def mask(text: str, secrets: Iterable[str] | None = None) -> str:
    """``text`` with every known secret replaced by ``***``."""
    for secret in known_secrets() if secrets is None else secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def mask_data(data: Any, secrets: Iterable[str] | None = None) -> Any:
    """JSON-like ``data`` with every string (keys of mappings too) masked.

    ``data`` itself when no secret occurs in it (the common case, found by one pass of the
    C JSON encoder), else a masked copy.
    """
    found = list(known_secrets() if secrets is None else secrets)
    if not found:
        return data
    try:
        blob = json.dumps(data, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        blob = None
    if blob is not None and not any(json.dumps(s, ensure_ascii=False)[1:-1] in blob for s in found):
        return data
    pattern = re.compile("|".join(re.escape(s) for s in found))  # longest first: masked whole
    return map_strings(data, lambda text: pattern.sub(MASK, text))


def map_strings(data: Any, change: Callable[[str], str]) -> Any:
    """A copy of JSON-like ``data`` with ``change`` applied to every string, keys too."""
    # Iterative, so a hostile plan nested thousands deep cannot overflow the stack here.
    if isinstance(data, str):
        return change(data)
    if not isinstance(data, (dict, list, tuple)):
        return data
    root: Any = {} if isinstance(data, dict) else []
    stack: list[tuple[Any, Any]] = [(data, root)]
    while stack:
        source, target = stack.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, value in items:
            if isinstance(value, (dict, list, tuple)):
                child: Any = {} if isinstance(value, dict) else []
                stack.append((value, child))
            else:
                child = change(value) if isinstance(value, str) else value
            if isinstance(target, dict):
                target[change(key) if isinstance(key, str) else key] = child
            else:
                target.append(child)
    return root


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# C0 and C1 controls, DEL, and the invisible format characters that reorder or hide text
# (bidirectional embeddings, overrides and isolates; line/paragraph separators).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def term_safe(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with control characters written out (``\\n``, ``\\x1b``): one line, inert.

    ``keep_newlines`` keeps real line breaks (a message of several lines we wrote ourselves).
    """
    if keep_newlines:
        return "\n".join(_inert_line(_UNSAFE.sub(_escape, line)) for line in text.split("\n"))
    return _UNSAFE.sub(_escape, text)


# Lines a CI runner reads as commands (GitHub's ``::warning ...::``, Azure's ``##[...]``),
# even after leading spaces. Ours never start so; a name that slipped into a message might.
_COMMAND_LINE = re.compile(r"^(\s*)(::|##\[)")


def _inert_line(line: str) -> str:
    return _COMMAND_LINE.sub(lambda m: f"{m.group(1)}| {m.group(2)}", line)


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """Both at once: what any message must go through before it is printed."""
    return term_safe(mask(text), keep_newlines=keep_newlines)
