"""Deploy: lock, then gather and plan, then apply; the plan that runs is made under its lock.

A plan made without the lock is only a first look. When it finds nothing to write, the run
ends there: a no-op stays read-only and takes no lock. As soon as there is something to write,
the lock is taken (waiting a bounded time for another apply to finish), the bucket is gathered
again and a new plan is made under the lock; that plan, or a saved one checked against it, is
carried out. Terraform takes its state lock before refreshing for the same reason.

What the lock costs at a distance: three round trips (its PUT, the look under it, the release at
the end), beside the no-op's two (connect, one wave of listings + manifest + policy + the lock's
record); the writes add the uploads' waves, with the manifest beside them when
``apply.recorded_ahead`` allows it, and the look under the lock re-parses only the pages whose
bytes changed.

The look under the lock is skipped when the lock proves it useless (``Held.proven``, see
``s3/lock.py``): the lock was taken with ``If-Match`` on the ETag of this machine's last
release, read from the local cache before the first look was sent, so nobody held the lock
(and nobody wrote) between that release and now, and the first look is the bucket as it is.
Short of that proof the look is made again: requests sent side by side are served in any order,
so a listing sent beside the lock's read (or its PUT) may be served before another apply's last
uploads and its release, and the plan would miss them (a lost write, which tests/test_converge.py,
tests/test_lock_proof.py and the soak look for). An unchanged manifest is no such proof either:
the first wave's listing may be served before another apply's uploads and the manifest GET
beside it after that apply's manifest write.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace

from ..errors import ApplyError
from ..plan import Plan
from ..remote.cdn import WaitProgress
from ..remote.encryption import spec_headers
from ..remote.inventory import control_key
from ..s3.lock import LOCK_NAME, LOCK_WAIT, apply_lock
from ..s3.lock import WaitProgress as LockWaitProgress
from ..s3.reach import top_up
from ..s3.store import Store
from ..spec import Spec
from .apply import (
    Progress,
    Report,
    apply_plan,
    create_bucket,
    wave_size,
    without_bucket_creation,
)
from .interrupt import stop_here
from .planner import generation_to_record
from .snapshot import Snapshot, check_saved_plan, replan

OnPlan = Callable[[Plan], AbstractContextManager[Progress | None]]


def needs_writes(plan: Plan) -> bool:
    """Anything to change, or a manifest to write (missing or damaged)."""
    return plan.has_changes or plan.remote.manifest != "ok"


def deploy(
    spec: Spec,
    store: Store,
    first: Snapshot,
    *,
    saved: Plan | None = None,
    spec_path: str = "",
    app_import: str | None = None,
    lock_wait: float = LOCK_WAIT,
    on_lock_wait: LockWaitProgress | None = None,
    on_plan: OnPlan | None = None,
    cdn_client: object = None,
    wait_cdn: bool = False,
    wait_progress: WaitProgress | None = None,
) -> Report:
    """Make the bucket match ``first.local`` (or carry out ``saved``), planning under the lock.

    ``first`` is the lock-free snapshot; ``on_plan(plan)`` is entered with the plan about to
    run (the CLI prints its summary and opens a progress bar there).
    """
    force_refresh = (
        saved.options.force_refresh if saved is not None else first.plan.options.force_refresh
    )
    if saved is not None:
        check_saved_plan(saved, first.plan)  # refused early, before any lock or write
    if not needs_writes(saved or first.plan) and not generation_to_record(
        spec, first.local, first.remote
    ):
        return Report(unchanged=(saved or first.plan).unchanged)
    created = False
    create = (saved or first.plan).of_kind("create-bucket")
    if not first.remote.exists:
        create_bucket(store, spec)  # the lock lives in the bucket: it must exist first
        created = True

    def waiting(holder: str, waited: float) -> None:
        stop_here()  # a signal while waiting: give up the wait, nothing was written
        if on_lock_wait is not None:
            on_lock_wait(holder, waited)

    puts = (saved or first.plan).of_kind("upload", "update")
    with apply_lock(
        store,
        control_key(spec, LOCK_NAME),
        headers=spec_headers(spec),
        wait=lock_wait,
        on_wait=waiting,
        seen=first.remote.lock,
    ) as held:
        stop_here()
        if puts:
            # the upload wave's connections (and the manifest's beside it) open while the
            # look under the lock is in flight
            top_up(store, wave_size(spec, puts) + 1)
        if held.proven and not created:
            # Nobody held the lock since this machine's last release, which was before the
            # first look was sent: nothing was written since, so that look is the bucket now.
            snap = first
        else:
            snap = replan(
                spec,
                first.local,
                store,
                force_refresh=force_refresh,
                spec_path=spec_path,
                app_import=app_import,
                earlier=first.remote,
                local_digest=first.plan.local.fingerprint,  # the same inventory, scanned once
            )
        stop_here()
        plan = snap.plan
        if saved is not None:
            plan = check_saved_plan(without_bucket_creation(saved) if created else saved, snap.plan)
        # What the user is told runs: the bucket creation just done is part of it.
        shown = replace(plan, actions=(*create, *plan.actions)) if created else plan
        with on_plan(shown) if on_plan is not None else nullcontext() as progress:
            try:
                report = apply_plan(
                    plan,
                    spec,
                    snap.local,
                    store,
                    remote=snap.remote,
                    progress=progress,
                    cdn_client=cdn_client,
                    wait_cdn=wait_cdn,
                    wait_progress=wait_progress,
                )
            except ApplyError as exc:
                if created and isinstance(exc.report, Report):
                    exc.report.bucket_created = True
                raise
    report.bucket_created = report.bucket_created or created
    return report
