"""The steps the CLI and ``create_all`` share: load the app, scan both sides, make the plan."""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask

from .bucket import plan_bucket_actions
from .errors import AppImportError, PlanError, StalePlanError
from .local import LocalInventory, scan_app, static_roots
from .plan import Plan, make_plan
from .remote import RemoteInventory, scan_remote
from .spec import Spec

if TYPE_CHECKING:
    from .s3.store import Store


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
    except Exception as exc:
        raise AppImportError(
            f"cannot load the Flask app {import_string!r}: {type(exc).__name__}: {exc}",
            "Check the `app` import string in the spec (or --app) and that the module imports "
            "from the current directory.",
        ) from None
    return app


@dataclass
class Snapshot:
    """Both sides as they are now, and the plan that reconciles them."""

    plan: Plan
    local: LocalInventory
    remote: RemoteInventory | None


def snapshot(
    spec: Spec,
    app: Flask,
    store: Store,
    *,
    force_refresh: bool = False,
    spec_path: str = "",
    app_import: str | None = None,
) -> Snapshot:
    # The local scan (disk, hashing) overlaps the listing (network).
    with ThreadPoolExecutor(max_workers=1) as pool:
        scanning = pool.submit(scan_app, app, spec)
        remote = scan_remote(store, spec, static_roots(app, spec))
        bucket_actions = plan_bucket_actions(store, spec, exists=remote is not None)
        local = scanning.result()
    write_fingerprint_manifest(app, spec, local)
    plan = make_plan(
        spec,
        local,
        remote,
        store=store,
        force_refresh=force_refresh,
        spec_path=spec_path,
        app_import=app_import,
        bucket_actions=bucket_actions,
    )
    return Snapshot(plan, local, remote)


def write_fingerprint_manifest(app: Flask, spec: Spec, local: LocalInventory) -> None:
    """Plan and apply both write the logical -> hashed map FlaskS3 reads at start-up."""
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


def check_not_stale(saved: Plan, fresh: Plan) -> None:
    """Refuse a saved plan when the spec, the local files or the bucket changed since."""
    reasons = []
    if saved.spec_digest != fresh.spec_digest:
        reasons.append("the spec changed")
    if saved.local.get("fingerprint") != fresh.local.get("fingerprint"):
        reasons.append("the local static files changed")
    if saved.remote.get("fingerprint") != fresh.remote.get("fingerprint"):
        reasons.append("the bucket changed")
    if saved.options.get("force_refresh") != fresh.options.get("force_refresh"):
        reasons.append("the options differ")
    if reasons:
        raise StalePlanError(
            f"plan is stale: {', '.join(reasons)} since it was made ({saved.created_at})",
            "Make a new plan with `flask-s3 plan SPEC --out PLAN.json`, review it, and apply that.",
        )
