"""The ``flask-s3`` command line (also ``flask s3`` inside the Flask CLI).

Exit codes: 0 success (``plan --detailed-exitcode``: no changes), 1 error, 2 changes
present (``plan --detailed-exitcode`` only), 130 interrupted (SIGINT), 143 stopped (SIGTERM).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from .errors import (
    AppImportError,
    ApplyError,
    CommentError,
    FlaskS3Error,
    LocalFileError,
    SpecError,
)

if TYPE_CHECKING:
    from flask import Flask

    from .assets.local import LocalInventory
    from .deployer.apply import Report
    from .deployer.snapshot import Snapshot
    from .plan import Plan
    from .s3.store import Store
    from .spec import Spec

F = TypeVar("F", bound=Callable[..., Any])
LOCK_WAIT = 120.0
FORMATS = click.Choice(["text", "markdown", "json"])
format_option = click.option(
    "--format",
    "fmt",
    type=FORMATS,
    default="text",
    show_default=True,
    help="text for a terminal, markdown for a pull-request comment, json for tools.",
)


def reports_errors(func: F) -> F:
    """Turn our errors into a clean message on stderr and exit 1; never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from .deployer.interrupt import handlers

        with handlers():  # SIGINT and SIGTERM: 130 / 143 with a message, never a traceback
            return _run_reporting(func, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _run_reporting(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    from .deployer.interrupt import exit_code

    try:
        return func(*args, **kwargs)
    except SpecError as exc:
        from .safe_output import printable

        for problem in exc.problems:
            click.echo(printable(str(problem)), err=True)
        click.secho(f"Error: {printable(exc.summary)}", fg="red", err=True, bold=True)
        sys.exit(1)
    except ApplyError as exc:
        fail(exc, exit_code() if getattr(exc.report, "interrupted", False) else 1)
    except FlaskS3Error as exc:
        fail(exc)
    except KeyboardInterrupt:
        click.secho("Interrupted before anything was written to S3.", fg="red", err=True)
        sys.exit(exit_code())
    except OSError as exc:
        if exc.filename is None:
            raise
        # A local file no step above anticipated: name it instead of a traceback.
        fail(
            LocalFileError(
                f"{exc.filename}: {exc.strerror or type(exc).__name__}",
                "Check that the file exists and that this user may read it, then run "
                "the command again.",
            )
        )


def fail(exc: FlaskS3Error, code: int = 1) -> None:
    """Print ``exc`` (secrets masked, control characters written out) and exit ``code``."""
    from .safe_output import printable

    click.secho(f"Error: {printable(exc.summary)}", fg="red", err=True, bold=True)
    if exc.detail:
        click.echo(printable(exc.detail, keep_newlines=True), err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="flask-s3", prog_name="flask-s3")
def main() -> None:
    """Deploy a Flask app's static assets to S3, with a plan to review first.

    \b
    flask-s3 validate deploy.yaml      check the spec
    flask-s3 plan deploy.yaml          show what would change
    flask-s3 apply deploy.yaml         make the bucket match
    flask-s3 iam-policy deploy.yaml --for plan    the IAM policy a plan needs
    """


@main.command()
@click.argument("spec_path", metavar="SPEC")
@reports_errors
def validate(spec_path: str) -> None:
    """Check the deploy spec SPEC; print every problem with its file, line and key path."""
    from .safe_output import printable
    from .spec import load_spec

    spec = load_spec(spec_path)
    click.echo(printable(f"{spec_path}: valid (bucket {spec.bucket.name})."))


app_option = click.option(
    "--app",
    "app_import",
    metavar="IMPORT",
    help="Flask app import string, as `flask --app` takes it (overrides `app` in the spec).",
)
force_option = click.option(
    "--force-refresh", is_flag=True, help="Upload every file again, changed or not."
)


def load_app(import_string: str | None) -> Flask:
    """Import the Flask app the way ``flask --app`` does (``pkg.mod:create_app()`` too)."""
    if not import_string:
        raise AppImportError(
            "no Flask app to deploy",
            'Set `app: "package.module:create_app()"` in the spec or pass --app.',
        )
    from flask.cli import ScriptInfo

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        app = ScriptInfo(app_import_path=import_string, set_debug_flag=False).load_app()
    except SystemExit as exc:
        raise AppImportError(
            f"importing the app {import_string!r} exited ({exc.code})", ""
        ) from None
    except Exception as exc:  # the last resort for the user's own code: name it, no traceback
        raise AppImportError(
            f"cannot load the Flask app {import_string!r}: {type(exc).__name__}: {exc}",
            "Check the `app` import string in the spec (or --app) and that the module imports "
            "from the current directory.",
        ) from None
    return app


def resolve_app(spec: Spec, app_import: str | None) -> tuple[Flask, str | None]:
    from .extension import loading_for_deploy

    target = app_import or spec.app
    with loading_for_deploy():  # a first deploy writes the fingerprint manifest
        if target is None:
            info = click.get_current_context().find_object(_script_info_type())
            if info is not None:  # running as `flask s3 ...`: use the Flask CLI's app
                return info.load_app(), None
        return load_app(target), target


def _script_info_type() -> type[Any]:
    from flask.cli import ScriptInfo

    return ScriptInfo


def take_snapshot(
    spec_path: str, app_import: str | None, force_refresh: bool, templates: bool = False
) -> tuple[Spec, Snapshot, Store]:
    """spec -> inventories -> plan, then the explicit step that writes the app's manifest."""
    from .headstart import claim

    started = claim(spec_path)  # sent before click was imported (`python -m flask_s3`)
    if started is not None:
        spec, look, opened = started
    else:
        from .deployer.memory import fewer_arenas, fewer_collections
        from .s3.reach import open_early
        from .spec import load_spec

        fewer_arenas()  # before the first thread
        fewer_collections()
        spec = load_spec(spec_path)
        # connecting overlaps the imports (ours and the app's); nothing listening is said
        # after the app loaded
        from .remote.early import EarlyLook

        look = EarlyLook(spec)  # the manifest, settings and last run's ranges, sent once open
        opened = open_early(spec, look.start)
    from .deployer.memory import keep_until_exit
    from .deployer.snapshot import snapshot, write_fingerprint_manifest

    app, target = resolve_app(spec, app_import)
    store = opened()
    snap = snapshot(
        spec,
        app,
        store,
        force_refresh=force_refresh,
        spec_path=spec_path,
        app_import=target,
        templates=templates,
        early=look,
    )
    write_fingerprint_manifest(app, spec, snap.local)
    keep_until_exit(snap)  # not freed object by object when the command returns
    return spec, snap, store


@main.command()
@click.argument("spec_path", metavar="SPEC")
@app_option
@format_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True),
    help="Save the plan as JSON, to show or apply later.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there is nothing to change, 2 when there are changes (1 on error).",
)
@force_option
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 1 when a template names a static file the deploy will not serve.",
)
@reports_errors
def plan(
    spec_path: str,
    app_import: str | None,
    fmt: str,
    out: str | None,
    detailed_exitcode: bool,
    force_refresh: bool,
    strict: bool = False,
) -> None:
    """Compare the app's static files with the bucket of SPEC and print what would change.

    The app's templates are read too: a literal `url_for('static', filename=...)` (or
    `sri()`, `s3_script()`, `s3_stylesheet()`) naming a file the deploy will not serve is a
    warning with its template and line; with --strict, an error.
    """
    from .deployer.render import render

    spec, snap, _store = take_snapshot(spec_path, app_import, force_refresh, templates=True)
    data = snap.plan.to_dict()
    if out:
        snap.plan.write(out)
    click.echo(render(data, fmt, color=fmt == "text" and sys.stdout.isatty()), nl=False)
    if out:
        click.echo(
            f"Saved the plan to {out}; apply it with `flask-s3 apply --plan {out}`.", err=True
        )
    if strict:
        fail_on_template_problems(spec, snap)
    if detailed_exitcode and snap.plan.has_changes:
        sys.exit(2)


def fail_on_template_problems(spec: Spec, snap: Snapshot) -> None:
    """plan --strict: a template naming a file that will not be served is an error."""
    from .assets.templates import reference_problems
    from .errors import PlanError

    if snap.references is None:
        return
    deleted = {a.key for a in snap.plan.of_kind("delete") if a.key}
    problems = reference_problems(snap.references, spec, snap.local, deleted)
    if problems:
        raise PlanError(
            f"{len(problems)} template reference{'s' if len(problems) != 1 else ''} to static "
            "files the deploy will not serve (plan --strict)",
            "\n".join(f"  {p}" for p in problems)
            + "\nFix the file names in the templates, or add the files.",
        )


@main.command()
@click.argument("plan_path", metavar="PLAN.json")
@format_option
@reports_errors
def show(plan_path: str, fmt: str) -> None:
    """Render the plan saved in PLAN.json (no network), with the spec and app it names."""
    from .deployer.render import render, render_origin
    from .plan import read_plan_file

    data = read_plan_file(plan_path)
    if fmt == "text":
        click.echo(render_origin(data), nl=False)
    click.echo(render(data, fmt, color=fmt == "text" and sys.stdout.isatty()), nl=False)


@main.command()
@click.argument("spec_path", metavar="SPEC", required=False)
@app_option
@click.option(
    "--plan",
    "plan_path",
    metavar="PLAN.json",
    type=click.Path(dir_okay=False),
    help="Apply a saved plan; refused if the bucket, files or spec changed since.",
)
@force_option
@click.option(
    "--wait",
    "wait_cdn",
    is_flag=True,
    help="Wait until the CDN invalidation completes (cdn.cloudfront.wait in the spec).",
)
@click.option(
    "--verify",
    "then_verify",
    is_flag=True,
    help="Then fetch every asset URL as a browser would (flask-s3 verify); exit 1 on a difference.",
)
@click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=LOCK_WAIT,  # flask_s3.s3.lock.LOCK_WAIT; not imported here to keep start-up light
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for another apply of this bucket and prefix to finish.",
)
@reports_errors
def apply(
    spec_path: str | None,
    app_import: str | None,
    plan_path: str | None,
    force_refresh: bool,
    wait_cdn: bool,
    then_verify: bool,
    lock_timeout: float,
) -> None:
    """Make the bucket of SPEC match the app's static files (create, upload, update, prune).

    With --plan PLAN.json, apply that saved plan if it still holds. SPEC (and --app) are
    still required: a plan file is data, the spec and the app are never taken from it.
    """
    from .deployer.interrupt import deferred, exit_code, requested

    if not spec_path:
        raise click.UsageError(
            "give the SPEC: `flask-s3 apply SPEC` or `flask-s3 apply SPEC --plan PLAN.json` "
            "(a saved plan never names the spec or app to use)"
        )
    saved = None
    if plan_path:
        from .deployer.snapshot import check_plan_origin
        from .plan import Plan, read_plan_file

        saved = Plan.from_dict(read_plan_file(plan_path))
        # Before anything is imported or sent: a plan made from another spec or app is stale.
        check_plan_origin(saved, spec_path, app_import)
        force_refresh = saved.options.force_refresh
    spec, snap, store = take_snapshot(spec_path, app_import, force_refresh)
    open_ahead(spec, store, saved or snap.plan)
    # imported once the first connections are on their way (take_snapshot)
    from .deployer.deploy import deploy
    from .deployer.memory import keep_until_exit
    from .deployer.render import summary_line

    announced: list[Plan] = []

    @contextmanager
    def announce(plan: Plan) -> Iterator[Callable[[int, int], None] | None]:
        announced.append(plan)
        click.echo(summary_line(plan.to_dict()), err=True)
        with progress_bar(plan) as progress:
            yield progress

    # Lock, then gather and plan again, then apply: the plan that runs is made under the lock.
    # From here a signal only asks to stop: deploy and apply stop at a safe point.
    with deferred():
        report = deploy(
            spec,
            store,
            snap,
            saved=saved,
            spec_path=spec_path,
            app_import=app_import,
            lock_wait=lock_timeout,
            on_lock_wait=LockWaitNotes().note,
            on_plan=announce,
            wait_cdn=wait_cdn,
            wait_progress=echo_cdn_wait,
        )
    if not announced:  # nothing to write: no lock was taken, the first plan was the last
        click.echo(summary_line((saved or snap.plan).to_dict()), err=True)
    keep_until_exit(report)
    echo_report(report)
    if then_verify:
        assert snap.app is not None  # snapshot() keeps the app it scanned
        run_verify(spec, snap.app, snap.local, store)
    if requested():  # the signal came after the last write: all done, still say it was seen
        click.secho("Interrupted after the apply completed.", fg="red", err=True)
        sys.exit(exit_code())


def open_ahead(spec: Spec, store: Store, plan: Plan) -> None:
    """The upload wave's connections, opened while the lock's PUT is in flight.

    The first look opens none beyond its own requests' (a no-op needs no more); opened under
    the lock instead (``deploy``'s own top-up, which then finds them idle), they would be
    threads and handshakes beside the look there, the one that decides the uploads."""
    puts = plan.of_kind("upload", "update")
    if puts:
        from .deployer.apply import wave_size
        from .s3.reach import top_up

        top_up(store, wave_size(spec, puts) + 1)


class LockWaitNotes:
    """A line on stderr when apply starts waiting for another apply's lock, then every 10 s."""

    def __init__(self) -> None:
        self.last: float | None = None

    def note(self, holder: str, waited: float) -> None:
        if self.last is None or waited - self.last >= 10:
            self.last = waited
            click.echo(f"Waiting for the lock held by {holder} ({waited:.0f} s)", err=True)


def echo_cdn_wait(status: str, waited: float) -> None:
    """One line per poll on stderr while apply waits for the CDN invalidation."""
    from .safe_output import term_safe

    click.echo(f"CloudFront invalidation: {term_safe(status)} ({waited:.0f} s)", err=True)


@contextmanager
def progress_bar(plan: Plan) -> Iterator[Callable[[int, int], None] | None]:
    """Files and bytes on stderr, only when stderr is a terminal."""
    work = plan.of_kind("upload", "update", "update-headers")
    if not work or not sys.stderr.isatty():
        yield None
        return
    total = sum(a.size or 0 for a in work if a.action != "update-headers")
    from .deployer.render import human_size

    done = [0, 0]  # files, bytes
    bar_cm: Any = click.progressbar(
        length=max(total, 1),
        label=f"Applying {len(work)} changes",
        file=sys.stderr,
        item_show_func=lambda _: (
            f"{done[0]}/{len(work)} files, {human_size(done[1])} of {human_size(total)}"
        ),
    )
    with bar_cm as bar:

        def advance(n_files: int, n_bytes: int) -> None:
            done[0] += n_files
            done[1] += n_bytes
            bar.update(n_bytes, None)

        yield advance


def echo_report(report: Report) -> None:
    click.secho(f"Apply complete: {report.summary()}.", fg="green" if sys.stdout.isatty() else None)


@main.command()
@click.argument("spec_path", metavar="SPEC")
@app_option
@format_option
@click.option(
    "--sample",
    type=click.IntRange(min=1),
    help="Check only N URLs, picked by a seeded generator (very large sites).",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of --sample: same seed, same URLs."
)
@click.option(
    "--signed",
    is_flag=True,
    help="Fetch through the S3 API with the deploy's credentials even when the assets are public.",
)
@reports_errors
def verify(
    spec_path: str,
    app_import: str | None,
    fmt: str,
    sample: int | None,
    seed: int,
    signed: bool,
) -> None:
    """Fetch every asset URL the app of SPEC emits, as a browser would, and check each one.

    Status 200, the local file's bytes, the planned headers, CORS and integrity values.

    Anonymous fetches when the assets are public (public_read_policy, public-read ACL, or a
    CDN domain), signed through the S3 API otherwise. Exit 0 when every URL serves the local
    file with the planned headers, 1 naming each URL that does not.
    """
    from .assets.scan import scan_app
    from .s3 import open_store
    from .spec import load_spec

    spec = load_spec(spec_path)
    app, _target = resolve_app(spec, app_import)
    store = open_store(spec)
    run_verify(spec, app, scan_app(app, spec), store, fmt, sample, seed, True if signed else None)


def run_verify(
    spec: Spec,
    app: Flask,
    local: LocalInventory,
    store: Store,
    fmt: str = "text",
    sample: int | None = None,
    seed: int = 0,
    signed: bool | None = None,
) -> None:
    """Verify, print the report on stdout, and exit 1 when a URL differs."""
    from .deployer.verify import verify_site
    from .deployer.verify_render import render

    with verify_progress() as progress:
        report = verify_site(
            spec, app, local, store, sample=sample, seed=seed, signed=signed, progress=progress
        )
    click.echo(render(report.to_dict(), fmt, color=fmt == "text" and sys.stdout.isatty()), nl=False)
    if not report.ok:
        sys.exit(1)


@contextmanager
def verify_progress() -> Iterator[Callable[[int, int], None]]:
    """``Verifying 120/500 URLs`` on stderr: rewritten in place on a terminal, otherwise a
    line every 10 seconds (only long runs print anything)."""
    import time

    tty = sys.stderr.isatty()
    last = [time.monotonic()]
    shown = [False]

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        if tty and (now - last[0] >= 0.1 or done == total):
            click.echo(f"\rVerifying {done}/{total} URLs", err=True, nl=False)
            last[0], shown[0] = now, True
        elif not tty and now - last[0] >= 10:
            click.echo(f"Verifying {done}/{total} URLs", err=True)
            last[0] = now

    yield show
    if shown[0]:
        click.echo(err=True)


@main.command()
@click.argument("spec_path", metavar="SPEC")
@click.option("--token", help="Release the lock only if it still carries this token.")
@click.option("--force", is_flag=True, help="Release the lock whoever holds it.")
@reports_errors
def unlock(spec_path: str, token: str | None, force: bool) -> None:
    """Show who holds the apply lock of SPEC's bucket and prefix; release it with --token.

    \b
    flask-s3 unlock deploy.yaml                  who holds it, since when, last refresh
    flask-s3 unlock deploy.yaml --token TOKEN    release it, if it is still that lock
    flask-s3 unlock deploy.yaml --force          release whatever lock is there
    Release a lock only when its holder is gone: a live apply that loses its lock stops.
    """
    from .remote.encryption import spec_headers
    from .remote.inventory import control_key
    from .s3 import open_store
    from .s3.lock import LOCK_NAME, describe_holder, is_abandoned, read_lock, release
    from .spec import load_spec

    spec = load_spec(spec_path)
    store = open_store(spec)
    key = control_key(spec, LOCK_NAME)
    where = f"s3://{spec.bucket.name}/{key}"
    if token is None and not force:
        holder = read_lock(store, key)
        if holder is None:
            click.echo(f"No lock: {where} is free.")
            return
        state = "abandoned (the next apply breaks it)" if is_abandoned(holder) else "held"
        click.echo(f"Lock {where}: {state}")
        click.echo(f"  holder: {describe_holder(holder)}")
        click.echo(f"  token:  {holder.get('token', '?')}")
        click.echo(
            f"Release it with `flask-s3 unlock {spec_path} --token {holder.get('token', '?')}`."
        )
        return
    released = release(store, key, None if force else token, spec_headers(spec))
    if released is None:
        click.echo(f"No lock: {where} is free.")
        return
    click.echo(f"Released the lock {where} held by {describe_holder(released)}.")


@main.command()
@app_option
@click.option(
    "--out",
    default="deploy.yaml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Where to write the spec.",
)
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.option(
    "--adopt/--no-adopt",
    default=True,
    show_default=True,
    help="Read the bucket: keep a public-read policy create_all put there, and (with gzip "
    "on) record the gzip objects whose content is today's files, so the first apply does not "
    "upload them again.",
)
@reports_errors
def init(app_import: str | None, out: str, force: bool, adopt: bool) -> None:
    """Write the deploy spec that reproduces an app's config (Flask-S3 0.3 keys included)."""
    from .tools.scaffold import adopt_existing, build, has_our_policy, write

    info = click.get_current_context().find_object(_script_info_type())
    if app_import is None and info is not None:  # `flask s3 init`: the Flask CLI's app
        app = info.load_app()
    else:
        app = load_app(app_import)
    scaffold = build(app, app_import)
    spec = write(scaffold, Path(out), force)
    if adopt and scaffold.flasks3 and has_our_policy(spec):  # keep what create_all 1.0 put
        scaffold = build(app, app_import, keep_policy=True)
        spec = write(scaffold, Path(out), True)
    click.echo(f"Wrote {out}: valid (bucket {spec.bucket.name}).")
    if adopt and spec.assets.gzip.enabled:
        for line in adopt_existing(spec, app):
            click.echo(line)
    for line in scaffold.advice(out):
        click.echo(line)


@main.command("iam-policy")
@click.argument("spec_path", metavar="SPEC")
@click.option(
    "--for",
    "command",
    type=click.Choice(["plan", "apply", "deploy", "admin"]),
    required=True,
    help="plan: the read-only role (pull requests); apply: one role for everything; or split "
    "it: deploy (objects only, no bucket settings) and admin (bucket settings too).",
)
@app_option
@click.option("--region", help="Region whose partition the ARNs use (default: the spec's).")
@reports_errors
def iam_policy(spec_path: str, command: str, app_import: str | None, region: str | None) -> None:
    """Print the least-privilege IAM policy (JSON) that `plan` or `apply` needs for SPEC.

    `--for deploy` leaves out bucket creation and settings (s3:PutBucketPolicy can grant
    anything on the bucket): those go to a separate `--for admin` role.

    Only the bucket, the app's static folders and the `.flask-s3/` folder under the prefix;
    CORS and bucket-policy rights only when the spec manages them. Loads the app to find its
    static folders: print the policy again after adding a blueprint with its own.
    """
    from .assets.scan import static_roots
    from .spec import load_spec
    from .tools.iam import Command, policy_document, policy_notes, render_policy

    spec = load_spec(spec_path)
    app, _target = resolve_app(spec, app_import)
    roots = static_roots(app, spec)
    role = cast("Command", command)
    document = policy_document(spec, roots, role, region)
    click.echo(render_policy(document), nl=False)
    for note in policy_notes(spec, role):
        click.echo(f"note: {note}", err=True)


@main.command()
@click.argument("body_path", metavar="PLAN.md", type=click.Path(dir_okay=False))
@reports_errors
def comment(body_path: str) -> None:
    """Post PLAN.md as the plan comment of this CI job's pull or merge request, or update it.

    \b
    GitHub Actions: needs GITHUB_TOKEN and `pull-requests: write`.
    GitLab CI: needs a project access token (`api` scope) in FLASK_S3_GITLAB_TOKEN.
    Make PLAN.md with `flask-s3 plan SPEC --format markdown`.
    """
    from .tools.comment import detect_target, post_or_update

    try:
        body = Path(body_path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CommentError(f"cannot read {body_path}: {exc.strerror}") from None
    from .safe_output import mask, printable

    # A PR comment is public to the repository's readers; CI log masking does not reach it.
    posted = post_or_update(detect_target(), mask(body))
    where = f": {posted.url}" if posted.url else f" (id {posted.comment_id})"
    click.echo(printable(f"{posted.action.capitalize()} the plan comment{where}"))


@main.command("local-s3")
@click.option(
    "--dir",
    "data_dir",
    type=click.Path(file_okay=False),
    help="Keep the data here (default: a temporary folder removed on exit).",
)
@click.option("--port", type=int, help="S3 port (default: a free one).")
@reports_errors
def local_s3(data_dir: str | None, port: int | None) -> None:
    """Run a local S3 server (SeaweedFS) on loopback for development."""
    from .tools.seaweedfs import serve

    serve(Path(data_dir) if data_dir else None, port)


flask_group = click.Group(
    "s3",
    help="Deploy static assets to S3 (flask-s3).",
    # Flask's own group knows only --help; its subcommands inherit this from here.
    context_settings={"help_option_names": ["-h", "--help"]},
)
for _name, _command in main.commands.items():
    # Made now, with -h: click makes a command's help option once, from the first context it
    # meets, so a command first shown by a tool that builds plain contexts (sphinx-click)
    # would otherwise lose -h for the rest of the process.
    _command.context_settings.setdefault("help_option_names", ["-h", "--help"])
    _command.get_help_option(click.Context(_command, help_option_names=["-h", "--help"]))
    flask_group.add_command(_command, _name)
for _group in (main, flask_group):  # the groups themselves, for the same reason
    _group.get_help_option(click.Context(_group, help_option_names=["-h", "--help"]))
