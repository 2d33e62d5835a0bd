"""The ``flask-s3`` command line (also ``flask s3`` inside the Flask CLI)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from .errors import FlaskS3Error, SpecError

F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(func: F) -> F:
    """Turn our errors into a clean message on stderr and exit 1; never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FlaskS3Error as exc:
            fail(exc)

    return wrapper  # type: ignore[return-value]


def fail(exc: FlaskS3Error, code: int = 1) -> None:
    click.secho(f"Error: {exc.summary}", fg="red", err=True, bold=True)
    if exc.detail:
        click.echo(exc.detail, err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="flask-s3", prog_name="flask-s3")
def main() -> None:
    """Deploy a Flask app's static assets to S3 and review the plan first."""


@main.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False))
@reports_errors
def validate(spec_path: str) -> None:
    """Check a deploy spec; print every problem with its file, line and key path."""
    from .spec import load_spec

    try:
        spec = load_spec(spec_path)
    except SpecError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        click.secho(f"Error: {exc.summary}", fg="red", err=True, bold=True)
        sys.exit(1)
    click.echo(f"{spec_path}: valid (bucket {spec.bucket.name}).")


flask_group = click.Group("s3", help="Deploy static assets to S3 (flask-s3).")
for _name, _command in main.commands.items():
    flask_group.add_command(_command, _name)
