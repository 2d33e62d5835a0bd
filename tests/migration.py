"""Asserting MigrationWarnings: every one a test provokes is caught and checked.

pytest.warns(match=...) lets the warnings that do not match escape (pytest 8 re-emits them),
and pyproject's filterwarnings makes an escaped MigrationWarning an error. ``expect_migration``
catches them all and checks that one says what the test is about.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from flask_s3.errors import MigrationWarning


@contextmanager
def expect_migration(pattern: str) -> Iterator[Any]:
    """Like ``pytest.warns(MigrationWarning, match=pattern)``, keeping the others too."""
    with pytest.warns(MigrationWarning) as caught:
        yield caught
    messages = [str(w.message) for w in caught]
    assert any(re.search(pattern, m) for m in messages), messages
