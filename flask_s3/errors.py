"""Error types. Library code raises these; only the CLI turns them into exit codes."""

from __future__ import annotations

from collections.abc import Sequence

from .deprecation import MigrationWarning as MigrationWarning
from .records import frozen


class FlaskS3Error(Exception):
    """Base error: a one-line ``summary`` and a ``detail`` that says how to fix it."""

    def __init__(self, summary: str, detail: str = "") -> None:
        super().__init__(summary)
        self.summary = summary
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.summary}\n{self.detail}" if self.detail else self.summary


@frozen
class Problem:
    """One located problem in a spec file: ``FILE:LINE:COL: key.path: message``."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class SpecError(FlaskS3Error, ValueError):
    """The deploy spec cannot be used. ``problems`` lists every problem found at once."""

    def __init__(self, problems: Sequence[Problem], summary: str | None = None) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        head = summary or f"{count} problem{'s' if count != 1 else ''} in the deploy spec"
        super().__init__(head, "\n".join(str(p) for p in self.problems))


class ConfigError(FlaskS3Error, ValueError):
    """The Flask app is not configured well enough (e.g. no bucket name, no init_app).

    A ``ValueError``, as Flask-S3 0.3's configuration errors were: apps catch that.
    """


class UrlBuildError(FlaskS3Error, RuntimeError):
    """``url_for`` has no URL to give: a local static URL outside a request, for instance.

    A ``RuntimeError``, as the Flask error it replaces was, so existing handlers still catch it.
    """


class AppImportError(FlaskS3Error):
    """The Flask app named by the spec or ``--app`` could not be imported or created."""


class S3Error(FlaskS3Error):
    """Talking to S3 failed: credentials, permissions, endpoint, bucket ownership."""


class CdnError(FlaskS3Error):
    """Talking to the CDN (CloudFront) failed: distribution, permissions, credentials."""


class PlanError(FlaskS3Error):
    """A plan cannot be made (e.g. more deletions than ``max_delete`` allows)."""


class StalePlanError(PlanError):
    """A saved plan no longer matches the bucket or the local files."""


class ApplyError(FlaskS3Error):
    """An apply did not finish. ``report`` says what was done and what was not."""

    def __init__(self, summary: str, detail: str = "", report: object | None = None) -> None:
        super().__init__(summary, detail)
        self.report = report


class CommentError(FlaskS3Error):
    """The plan comment could not be posted to the pull or merge request."""


class LocalFileError(FlaskS3Error):
    """A file of a static folder could not be read (permissions, removed meanwhile, I/O)."""
