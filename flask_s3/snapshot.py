"""A snapshot: load the app, gather both inventories, make the plan; and the saved-plan check.

The steps the CLI and ``create_all`` share, in the one direction data flows:
spec -> inventories (local scan, remote gathering) -> plan. Nothing here writes to S3.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from flask import Flask

from .errors import PlanError, StalePlanError
from .listing import local_key_hints
from .local import LocalInventory, scan_app, static_roots
from .plan import Plan
from .planner import differences, make_plan, unvouched_keys
from .remote import RemoteInventory, gather_heads, gather_remote
from .safe_output import term_safe
from .spec import Spec

if TYPE_CHECKING:
    from .s3.store import Store
    from .templates import TemplateScan


@dataclass
class Snapshot:
    """Both sides as they are now, and the plan that reconciles them."""

    plan: Plan
    local: LocalInventory
    remote: RemoteInventory
    app: Flask
    references: TemplateScan | None = None  # with templates=True


def snapshot(
    spec: Spec,
    app: Flask,
    store: Store,
    *,
    force_refresh: bool = False,
    spec_path: str = "",
    app_import: str | None = None,
    templates: bool = False,
) -> Snapshot:
    """Gather both inventories, then decide: spec -> inventories -> plan (nothing written).

    With ``templates``, the app's templates are read for the static files they name."""
    # The local scan (and the templates' parse) overlaps the listing (network).
    with ThreadPoolExecutor(max_workers=1) as pool:
        scanning = pool.submit(scan_app, app, spec)
        templating = pool.submit(_scan_templates, app) if templates else None
        remote = gather_remote(store, spec, static_roots(app, spec), local_key_hints(app, spec))
        local = scanning.result()
    references = templating.result() if templating is not None else None
    gather_heads(store, spec, remote, unvouched_keys(local, remote, force_refresh=force_refresh))
    plan = make_plan(
        spec,
        local,
        remote,
        force_refresh=force_refresh,
        spec_path=spec_path,
        app_import=app_import,
        created_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        references=references,
    )
    return Snapshot(plan, local, remote, app, references)


def _scan_templates(app: Flask) -> TemplateScan:
    from .templates import scan_templates

    return scan_templates(app)


def write_fingerprint_manifest(app: Flask, spec: Spec, local: LocalInventory) -> None:
    """The logical -> stored names (and integrity values) FlaskS3 reads at start-up.

    An explicit step of ``plan`` and ``apply`` (and ``create_all``), after the snapshot.
    """
    from .fingerprint import write_manifest_file
    from .local import fingerprint_manifest

    path = fingerprint_manifest(app, spec)
    if path is not None:
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
    from .spec import load_spec

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


def check_saved_plan(saved: Plan, fresh: Plan) -> None:
    """Refuse a saved plan unless the same actions would be planned now."""
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
