"""A snapshot: load the app, gather both inventories, make the plan; and the saved-plan check.

The steps the CLI and ``create_all`` share, in the one direction data flows:
spec -> inventories (local scan, remote gathering) -> plan. Nothing here writes to S3.
"""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..assets.keys import normalize_prefix
from ..assets.local import LocalInventory
from ..assets.scan import scan_app, static_roots
from ..errors import PlanError, Problem, SpecError, StalePlanError
from ..plan import Plan
from ..records import record
from ..remote.inventory import RemoteInventory, gather_heads, gather_remote
from ..remote.listing import local_key_hints
from ..safe_output import term_safe
from ..spec import Spec
from .memory import collector_paused
from .planner import differences, make_plan, settle, unvouched_keys

if TYPE_CHECKING:
    from flask import Flask

    from ..assets.templates import TemplateScan
    from ..remote.early import EarlyLook
    from ..s3.store import Store


@record
class Snapshot:
    """Both sides as they are now, and the plan that reconciles them."""

    plan: Plan
    local: LocalInventory
    remote: RemoteInventory
    references: TemplateScan | None = None  # with templates=True
    app: Flask | None = None  # the app scanned, for a verify after the apply


@collector_paused()  # a million objects made, none in a cycle
def snapshot(
    spec: Spec,
    app: Flask,
    store: Store,
    *,
    force_refresh: bool = False,
    spec_path: str = "",
    app_import: str | None = None,
    templates: bool = False,
    early: EarlyLook | None = None,
) -> Snapshot:
    """Gather both inventories, then decide: spec -> inventories -> plan (nothing written).

    With ``templates``, the app's templates are read for the static files they name. ``early``:
    the look's requests sent while the app was imported (``remote/early.py``)."""
    roots = static_roots(app, spec)
    check_prune_roots(spec, roots)
    # The local scan (and the templates' parse) overlaps the listing (network). The listing's
    # ranges are split at the keys the scan walked: the folders are walked once, not twice.
    walked: Future[list[str]] = Future()
    with ThreadPoolExecutor(max_workers=1) as pool:
        scanning = pool.submit(scan_app, app, spec, walked.set_result)
        templating = pool.submit(_scan_templates, app) if templates else None
        first: list[Future[Any]] = [walked, scanning]
        wait(first, return_when=FIRST_COMPLETED)
        # A scan that failed before its walk was done: its error is raised after the listing,
        # as ever (a missing bucket is said first), with hints taken the old way.
        hints = walked.result() if walked.done() else local_key_hints(app, spec)
        remote = gather_remote(store, spec, roots, hints, early=early)
        local = scanning.result()
    references = templating.result() if templating is not None else None
    snap = decide(
        spec,
        local,
        remote,
        store,
        force_refresh=force_refresh,
        spec_path=spec_path,
        app_import=app_import,
        references=references,
    )
    snap.app = app
    return snap


@collector_paused()  # a million objects made, none in a cycle
def replan(
    spec: Spec,
    local: LocalInventory,
    store: Store,
    *,
    force_refresh: bool = False,
    spec_path: str = "",
    app_import: str | None = None,
    earlier: RemoteInventory | None = None,
    local_digest: str | None = None,
) -> Snapshot:
    """Gather the bucket again and plan against an inventory already scanned: the plan made
    under the apply lock, once the first (lock-free) plan found something to write.
    ``earlier``: that first look (its manifest's bytes, if read again, are not decoded again);
    ``local_digest``: its plan's fingerprint of ``local`` (not worked out again)."""
    remote = gather_remote(store, spec, local.roots, sorted(local.assets), earlier)
    return decide(
        spec,
        local,
        remote,
        store,
        force_refresh=force_refresh,
        spec_path=spec_path,
        app_import=app_import,
        local_digest=local_digest,
    )


def decide(
    spec: Spec,
    local: LocalInventory,
    remote: RemoteInventory,
    store: Store,
    *,
    force_refresh: bool,
    spec_path: str,
    app_import: str | None,
    references: TemplateScan | None = None,
    local_digest: str | None = None,
) -> Snapshot:
    settled = settle(local, remote, force_refresh)  # the common case decided once, for both
    gather_heads(
        store,
        spec,
        remote,
        unvouched_keys(local, remote, force_refresh=force_refresh, settled=settled),
    )
    plan = make_plan(
        spec,
        local,
        remote,
        force_refresh=force_refresh,
        spec_path=spec_path,
        app_import=app_import,
        created_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        references=references,
        local_digest=local_digest,
        settled=settled,
    )
    return Snapshot(plan, local, remote, references)


def _scan_templates(app: Flask) -> TemplateScan:
    from ..assets.templates import scan_templates

    return scan_templates(app)


def check_prune_roots(spec: Spec, roots: list[str]) -> None:
    """Refuse prune when a static folder is served at the bucket root without a prefix.

    Its static root would then be the whole bucket, where other apps and people keep their
    objects; prune owns only what flask-s3 wrote, and a prefix makes that visible.
    """
    if not spec.assets.prune or normalize_prefix(spec.urls.prefix) or "" not in roots:
        return
    message = (
        'a static folder is served at the URL root (static_url_path="") and urls.prefix is '
        "empty, so prune would work on the whole bucket; set urls.prefix (e.g. assets) or "
        "turn prune off"
    )
    raise SpecError([spec_problem(spec, ("assets", "prune"), message)])


def spec_problem(spec: Spec, path: tuple[str, ...], message: str) -> Problem:
    """A problem located at ``path`` in the spec's file (line 1 when it has none)."""
    if spec.source is not None:
        from ..spec.yamlfile import parse_file

        try:
            _, locator = parse_file(spec.source)
            return locator.problem(path, message)
        except (SpecError, OSError):
            pass
    return Problem(str(spec.source or "<spec>"), 1, 1, ".".join(path), message)


def write_fingerprint_manifest(app: Flask, spec: Spec, local: LocalInventory) -> None:
    """The logical -> stored names (and integrity values) FlaskS3 reads at start-up.

    An explicit step of ``plan`` and ``apply`` (and ``create_all``), after the snapshot.
    """
    from ..assets.scan import fingerprint_manifest

    path = fingerprint_manifest(app, spec)
    if path is not None:
        from ..assets.fingerprint import write_manifest_file  # its CSS/JS parts: only when needed

        try:
            write_manifest_file(path, local.names, local.integrity)
        except OSError as exc:
            raise PlanError(
                f"cannot write the fingerprint manifest {path}: {exc.strerror}",
                "Set assets.fingerprint.manifest to a writable path.",
            ) from None


def check_plan_origin(saved: Plan, spec_path: str, app_import: str | None) -> None:
    """Refuse a saved plan made from another spec file or app than the ones given now.

    A plan file is data that a pull-request job can write: the spec and the app (code that
    runs with the deploy role) come from the command line and the spec, never from the file.
    ``app_import`` is ``--app`` as given; without it the spec's ``app`` is the one used.
    """
    from ..spec import load_spec

    target = app_import or load_spec(spec_path).app
    found = []
    if os.path.normpath(saved.spec_path) != os.path.normpath(spec_path):
        found.append(f"  spec: the plan was made from {saved.spec_path!r}, given {spec_path!r}")
    if saved.app != target:
        found.append(
            f"  app: the plan was made for {_app_name(saved.app)}, given {_app_name(target)}"
        )
    if found:
        raise StalePlanError(
            "plan is stale: it was made from another spec or app than the ones given",
            "\n".join(found)
            + "\nApply a plan with the spec and app it was made from, or make a new plan with "
            "`flask-s3 plan SPEC --out PLAN.json`, review it, and apply that.",
        )


def _app_name(app: str | None) -> str:
    return repr(app) if app else "the Flask CLI's app (no --app, no `app` in the spec)"


def check_saved_plan(saved: Plan, fresh: Plan) -> Plan:
    """Refuse a saved plan unless the same actions would be planned now; the plan to run.

    A saved plan holds secrets masked (``***``): it is compared with the fresh plan masked the
    same way, and then the fresh one runs, which is the saved one with the real values.
    """
    from ..safe_output import mask_data

    fresh_dict = fresh.to_dict()
    masked = mask_data(fresh_dict)
    if masked != fresh_dict:
        _refuse_if_differs(saved, Plan.from_dict(masked))
        return fresh
    _refuse_if_differs(saved, fresh)
    return saved


def _refuse_if_differs(saved: Plan, fresh: Plan) -> None:
    found = differences(saved, fresh)
    if found:
        shown = found[:20] + ([f"... and {len(found) - 20} more"] if len(found) > 20 else [])
        raise StalePlanError(
            f"plan is stale: it no longer matches the spec, the files and the bucket "
            f"(made {saved.created_at})",
            "\n".join(f"  {term_safe(line)}" for line in shown)  # keys: one line each
            + "\nMake a new plan with `flask-s3 plan SPEC --out PLAN.json`, review it, and "
            "apply that.",
        )
