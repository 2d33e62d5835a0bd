"""Apply: carry a plan out. The only module that writes to S3."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import field, replace
from typing import Any

from ..assets.local import LocalAsset, LocalInventory
from ..errors import ApplyError, CdnError, FlaskS3Error, S3Error
from ..headers import comparable
from ..plan import Action, Plan
from ..records import record as data_record
from ..remote import cdn
from ..remote.bucket import apply_bucket_actions
from ..remote.encryption import set_bucket_default, spec_headers
from ..remote.inventory import RemoteInventory, control_key, listing_prefixes
from ..s3.errors import StoreError, StoreUnreachable, describe_error, s3_errors
from ..s3.lock import LOCK_NAME, Held, apply_lock, held_lock
from ..s3.manifest import MANIFEST_NAME, ManifestEntry, encode_manifest
from ..s3.store import ObjectInfo, Store, put_bytes
from ..safe_output import term_safe
from ..spec import Spec
from . import interrupt
from .multipart import abort_leftovers, upload_in_parts
from .planner import generation_to_record
from .snapshot import check_saved_plan, replan

DELETE_BATCH = 1000
Progress = Callable[[int, int], None]  # (files done, bytes done)


@data_record
class Report:
    """What an apply did, and what it did not (on failure or interruption)."""

    bucket_created: bool = False
    uploaded: int = 0
    updated: int = 0
    headers_updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    bytes_sent: int = 0
    seconds: float = 0.0
    failed: dict[str, str] = field(default_factory=dict)
    not_attempted: int = 0
    deletes_skipped: int = 0
    interrupted: bool = False
    etags: dict[str, str] = field(default_factory=dict, repr=False)  # not MD5s (multipart)
    invalidation: str | None = None  # the CloudFront invalidation id, when one was sent

    @property
    def ok(self) -> bool:
        return not self.failed and not self.interrupted and not self.not_attempted

    @property
    def changed(self) -> int:
        return (
            self.bucket_created + self.uploaded + self.updated + self.headers_updated + self.deleted
        )

    def summary(self) -> str:
        parts = [
            f"{self.uploaded} uploaded",
            f"{self.updated} updated",
            f"{self.headers_updated} headers updated",
            f"{self.deleted} deleted",
            f"{self.unchanged} unchanged",
        ]
        if self.bucket_created:
            parts.insert(0, "bucket created")
        text = ", ".join(parts) + f" ({_mb(self.bytes_sent)} in {self.seconds:.1f} s)"
        if self.failed:
            text += f"; {len(self.failed)} failed"
        if self.not_attempted:
            text += f"; {self.not_attempted} not attempted"
        if self.deletes_skipped:
            text += f"; {self.deletes_skipped} deletes skipped"
        if self.invalidation:
            text += f"; CloudFront invalidation {self.invalidation} sent"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "bucket_created": self.bucket_created,
            "uploaded": self.uploaded,
            "updated": self.updated,
            "headers_updated": self.headers_updated,
            "deleted": self.deleted,
            "unchanged": self.unchanged,
            "bytes_sent": self.bytes_sent,
            "seconds": round(self.seconds, 3),
            "failed": dict(self.failed),
            "not_attempted": self.not_attempted,
            "deletes_skipped": self.deletes_skipped,
            "interrupted": self.interrupted,
            "invalidation": self.invalidation,
        }


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


def acl_of(spec: Spec) -> str | None:
    return None if spec.bucket.acl == "none" else spec.bucket.acl


def create_bucket(store: Store, spec: Spec) -> None:
    """Create the bucket in the spec's region (else the store's); ours already = success."""
    region = spec.bucket.region or store.region
    try:
        store.create_bucket(region, acl_of(spec))
    except StoreError as exc:
        if exc.code == "BucketAlreadyOwnedByYou":
            return
        raise describe_error(exc, "create-bucket", spec.bucket.name) from None
    except StoreUnreachable as exc:
        raise describe_error(exc, "create-bucket", spec.bucket.name) from None
    set_bucket_default(store, spec)


def put_asset(store: Store, spec: Spec, asset: LocalAsset) -> str | None:
    """One PutObject per file (so the ETag stays the MD5), body streamed from disk; files
    from ``upload.multipart_threshold`` up go in parts. The ETag when it is not the MD5."""
    if asset.size >= spec.upload.multipart_threshold:
        return upload_in_parts(store, asset, acl_of(spec))
    store.put_object(
        asset.key,
        asset.open_body,
        size=asset.size,
        md5_b64=base64.b64encode(bytes.fromhex(asset.md5)).decode(),
        headers=asset.headers,
        acl=acl_of(spec),
    )
    return None


def copy_headers(store: Store, spec: Spec, asset: LocalAsset) -> str | None:
    """New headers on unchanged bytes: copy the object onto itself, no re-upload."""
    etag = store.copy_in_place(asset.key, asset.headers, acl=acl_of(spec))
    return etag if etag and etag != asset.md5 else None


def apply_plan(
    plan: Plan,
    spec: Spec,
    local: LocalInventory,
    store: Store,
    *,
    remote: RemoteInventory | None = None,
    progress: Progress | None = None,
    cdn_client: Any = None,
    wait_cdn: bool = False,
    wait_progress: cdn.WaitProgress | None = None,
) -> Report:
    """Carry ``plan`` out: bucket, then uploads, then header updates, then deletes.

    Deletes run only if every upload succeeded. Raises ApplyError (with ``report``) when
    anything failed or the user interrupted; the manifest still records what was done.
    A CDN invalidation in the plan goes last, once all of that succeeded; ``wait_cdn`` (or the
    spec's ``wait``) polls until the CDN completes it. ``cdn_client``: made when needed.

    The plan must have been made under the apply lock (``deploy.deploy`` does that). When the
    caller does not hold it, apply takes it, gathers the bucket again and refuses the plan with
    StalePlanError unless the same actions would be planned now.
    """
    extra = CdnOptions(cdn_client, wait_cdn, wait_progress)
    started = time.monotonic()
    report = Report(unchanged=plan.unchanged)
    if plan.of_kind("create-bucket"):
        create_bucket(store, spec)
        report.bucket_created = True
    needs_manifest = plan.remote.manifest != "ok" or (
        remote is not None and generation_to_record(spec, local, remote)
    )
    if plan.has_changes or needs_manifest:
        lock_key = control_key(spec, LOCK_NAME)
        held = held_lock(store, lock_key)
        if held is not None:  # the caller locked, then planned: the plan is current
            run_locked(plan, spec, local, store, report, remote, progress, held, extra)
        else:
            seen = remote.lock if remote is not None else None
            with apply_lock(store, lock_key, headers=spec_headers(spec), seen=seen) as held:
                if (
                    held.proven
                    and remote is not None
                    and plan.remote.fingerprint == remote.fingerprint()
                ):
                    # nobody held the lock since before ``remote`` was read, and the plan was
                    # made from it: both are current
                    run_locked(plan, spec, local, store, report, remote, progress, held, extra)
                else:
                    # A plan made before the lock: carried out only if it still holds now.
                    fresh = replan(spec, local, store, force_refresh=plan.options.force_refresh)
                    check_saved_plan(without_bucket_creation(plan), fresh.plan)
                    run_locked(
                        plan, spec, local, store, report, fresh.remote, progress, held, extra
                    )
    report.seconds = time.monotonic() - started
    if report.interrupted:
        raise ApplyError("apply interrupted", _unfinished(report), report)
    if not report.ok:
        raise ApplyError(
            f"apply failed for {len(report.failed)} objects", _unfinished(report), report
        )
    return report


@data_record
class CdnOptions:
    cdn_client: Any = None
    wait_cdn: bool = False
    wait_progress: cdn.WaitProgress | None = None


def without_bucket_creation(plan: Plan) -> Plan:
    """The plan as it reads once its bucket exists (apply created it before locking)."""
    if not plan.of_kind("create-bucket"):
        return plan
    return replace(plan, actions=tuple(a for a in plan.actions if a.action != "create-bucket"))


def run_locked(
    plan: Plan,
    spec: Spec,
    local: LocalInventory,
    store: Store,
    report: Report,
    remote: RemoteInventory | None,
    progress: Progress | None,
    held: Held | None,
    extra: CdnOptions,
) -> None:
    """The writes, under the lock: CDN mark, objects, manifest, then the invalidation."""
    invalidation = next(iter(plan.of_kind(cdn.ACTION)), None)
    if invalidation is not None:
        cdn.mark_pending(store, spec)
    carry_out(plan, spec, local, store, report, remote, progress, held)
    if invalidation is not None and report.ok:
        send_invalidation(
            plan,
            spec,
            store,
            invalidation,
            report,
            extra.cdn_client,
            extra.wait_cdn,
            extra.wait_progress,
        )


def send_invalidation(
    plan: Plan,
    spec: Spec,
    store: Store,
    action: Action,
    report: Report,
    cdn_client: Any,
    wait_cdn: bool,
    wait_progress: cdn.WaitProgress | None,
) -> None:
    """Issue 14: the CDN invalidation, after every write succeeded and was recorded."""
    try:
        cdn_client = cdn_client if cdn_client is not None else cdn.make_client(spec)
        report.invalidation = cdn.invalidate(
            cdn_client,
            plan,
            action,
            wait=wait_cdn or bool((action.cdn or {}).get("wait")),
            progress=wait_progress,
        )
    except CdnError as exc:
        raise ApplyError(
            exc.summary,
            f"{exc.detail}\nThe {report.changed} object changes are done and recorded; the "
            "next plan invalidates the static roots again: run apply once this is fixed.",
            report,
        ) from None
    cdn.clear_pending(store, spec)


def carry_out(
    plan: Plan,
    spec: Spec,
    local: LocalInventory,
    store: Store,
    report: Report,
    remote: RemoteInventory | None,
    progress: Progress | None,
    held: Held | None = None,
) -> None:
    """The writes of an apply, under the lock: settings, uploads, header copies, deletes."""
    apply_bucket_actions(store, plan.of_kind("update-bucket-cors", "update-bucket-policy"))
    done: set[str] = set()
    puts = plan.of_kind("upload", "update")
    copies = plan.of_kind("update-headers")
    ahead = recorded_ahead(plan, spec, local, remote, held)
    beside: Future[bool] | None = None
    side = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flask-s3-manifest")
    if ahead is None:
        claim_keys(store, spec, remote, [a.key for a in puts if a.key])
    elif remote is not None and any(a.key not in (remote.manifest or {}) for a in puts):
        _put_manifest(store, spec, *ahead)  # new keys are ours before their first byte goes up
    else:
        beside = side.submit(_put_manifest_ok, store, spec, *ahead)
    if any((a.size or 0) >= spec.upload.multipart_threshold for a in puts):
        # Parts of an earlier, interrupted upload under our roots: nobody will finish them.
        abort_leftovers(store, listing_prefixes(local.roots))
    try:
        run_concurrently(store, spec, local, puts, put_asset, report, done, progress)
        run_concurrently(store, spec, local, copies, copy_headers, report, done, progress)
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        side.shutdown(wait=True)  # the manifest written beside is answered before the last one
    if beside is not None and not beside.result():
        ahead = None
    if interrupt.requested():
        report.interrupted = True  # a signal between two phases: no deletes now
    deletes = plan.of_kind("delete")
    deleted: set[str] = set()
    if report.ok and (held is None or not held.lost.is_set()):
        try:
            deleted = delete_keys(store, [a.key for a in deletes if a.key], report)
        except KeyboardInterrupt:
            report.interrupted = True
            report.deletes_skipped = len(deletes) - report.deleted
    else:
        report.deletes_skipped = len(deletes)
    if held is not None and held.lost.is_set():
        # Someone else writes now: recording our view would undo theirs.
        try:
            held.check()
        except ApplyError as exc:
            raise ApplyError(exc.summary, f"{exc.detail}\n{_unfinished(report)}", report) from None
    unsettled = {a.key for a in (*puts, *copies) if a.key not in done}
    write_manifest(store, spec, local, remote, report, unsettled, deleted, done, ahead)


def claim_keys(store: Store, spec: Spec, remote: RemoteInventory | None, keys: list[str]) -> None:
    """Before the first byte goes up, record the keys this apply may create as ours.

    Prune deletes only keys the manifest records; an apply killed mid-upload must not leave
    objects nobody owns. The entries vouch for nothing (no MD5), so the next plan still checks
    each of them.
    """
    old = dict(remote.manifest or {}) if remote is not None else {}
    new = [k for k in keys if k not in old]
    if not new:
        return
    entries = old | {k: CLAIMED for k in new}
    generations = list(remote.generations) if remote is not None else []
    _put_manifest(store, spec, entries, generations)


CLAIMED = ManifestEntry("", {})  # ours, bytes not verified: the next plan looks at them
Recorded = tuple[dict[str, ManifestEntry], list[list[str]]]  # a manifest's entries, generations


def recorded_ahead(
    plan: Plan,
    spec: Spec,
    local: LocalInventory,
    remote: RemoteInventory | None,
    held: Held | None,
) -> Recorded | None:
    """The manifest this apply will end with if every upload succeeds, when it may be written
    before (or beside) the uploads instead of after them: one round trip less.

    Only for a plan of single-part uploads (no header copies, no deletes, no fingerprinted
    generations), made under a lock this process holds, where no key to upload is listed with
    the MD5 it is about to get. Why that is safe, whatever happens to the uploads: an entry
    says "the object with ETag = this MD5 has these headers". Until our PUT of a key lands,
    the listing shows another ETag for it (or no object), so its new entry vouches for nothing
    and the next plan looks at the object as it would without a manifest (and uploads it
    again). Once the PUT lands, the object is those bytes with those headers, set in the same
    request: the entry is true. An apply killed at any point leaves only these two cases; a
    key new to the manifest is recorded as ours before its first byte goes up, as
    ``claim_keys`` does. Deletes (an entry must outlive its object until the delete is sent)
    and header copies (same ETag, new headers: an early entry would vouch for headers not yet
    set) are excluded, and so are multipart uploads (their ETag is known only afterwards).
    After the uploads the manifest is worked out as always; it is written again only when it
    differs from this one (a failed upload, an ETag that is not the MD5).
    """
    puts = plan.of_kind("upload", "update")
    if (
        held is None
        or remote is None
        or not puts
        or spec.assets.fingerprint.enabled
        or plan.of_kind("update-headers", "delete")
    ):
        return None
    for action in puts:
        asset = local.assets.get(action.key or "")
        listed = remote.objects.get(action.key or "")
        if (
            asset is None
            or asset.size >= spec.upload.multipart_threshold
            or (listed is not None and listed.etag == asset.md5)
        ):
            return None
    done = {a.key for a in puts if a.key}
    return manifest_after(spec, local, remote, {}, set(), set(), done)


def _put_manifest_ok(
    store: Store, spec: Spec, entries: dict[str, ManifestEntry], generations: list[list[str]]
) -> bool:
    try:
        _put_manifest(store, spec, entries, generations)
    except S3Error:
        return False  # the manifest is worked out and written again after the uploads
    return True


def _unfinished(report: Report) -> str:
    lines = [f"Done: {report.summary()}."]
    for key, why in sorted(report.failed.items())[:20]:
        lines.append(f"  failed: {term_safe(key)}: {term_safe(why)}")  # names on one line
    if len(report.failed) > 20:
        lines.append(f"  ... and {len(report.failed) - 20} more")
    if report.deletes_skipped:
        lines.append(f"No deletes were sent ({report.deletes_skipped} planned).")
    lines.append("Run apply again: it uploads only what is still missing.")
    return "\n".join(lines)


def run_concurrently(
    store: Store,
    spec: Spec,
    local: LocalInventory,
    actions: list[Action],
    work: Callable[[Store, Spec, LocalAsset], str | None],
    report: Report,
    done: set[str],
    progress: Progress | None,
) -> None:
    if not actions:
        return
    workers = wave_size(spec, actions)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="flask-s3")
    # A window of work in flight, refilled as it drains: waiting on a handful of futures
    # is cheap, waiting on tens of thousands at once costs more than the uploads.
    queue = iter(actions)
    window = workers * 2
    pending: dict[Future[str | None], Action] = {}
    unreachable = False

    def refill() -> None:
        while len(pending) < window and not unreachable and not interrupt.requested():
            action = next(queue, None)
            if action is None:
                return
            asset = local.assets[action.key or ""]
            pending[pool.submit(work, store, spec, asset)] = action

    try:
        refill()
        while pending:
            # With our signal handlers on, a signal only sets a flag: look at it a few times
            # a second, let the uploads in flight finish, start nothing new.
            finished, _ = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            if interrupt.requested() and not report.interrupted:
                report.interrupted = True
                for other in pending:
                    other.cancel()
            for future in finished:
                action = pending.pop(future)
                if record(future, action, report, done) and not unreachable:
                    # The store is gone (retries already spent): don't queue thousands more.
                    unreachable = True
                    for other in pending:
                        other.cancel()
                if future.cancelled():
                    continue
                if progress is not None:
                    progress(1, action.size or 0 if action.action != "update-headers" else 0)
            refill()
        report.not_attempted += sum(1 for _ in queue)
    except KeyboardInterrupt:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        for future, action in pending.items():
            record(future, action, report, done)
        report.not_attempted += sum(1 for _ in queue)
        raise
    finally:
        pool.shutdown(wait=True)


def wave_size(spec: Spec, actions: Sequence[Action]) -> int:
    """Requests in flight at once: ``upload.concurrency`` (the spec's "parallel requests", a
    cap the user may have set for a reason), or fewer when there are fewer actions."""
    return max(1, min(spec.upload.concurrency, len(actions)))


def record(future: Future[str | None], action: Action, report: Report, done: set[str]) -> bool:
    """Count a finished action; True when it failed because the store can't be reached."""
    key = action.key or ""
    if future.cancelled():
        report.not_attempted += 1
        return False
    exc = future.exception()
    if exc is not None:
        doing = "copy" if action.action == "update-headers" else "upload"
        if isinstance(exc, (StoreError, StoreUnreachable)):
            err = describe_error(exc, doing, "")
            report.failed[key] = err.summary.replace(" on bucket ''", "")
        elif isinstance(exc, FlaskS3Error):  # ours, e.g. a file changed during its upload
            report.failed[key] = exc.summary
        elif isinstance(exc, OSError):  # the file changed or went away since the scan
            why = exc.strerror or type(exc).__name__
            report.failed[key] = f"cannot read {exc.filename or 'the file'}: {why}"
        else:
            report.failed[key] = f"{type(exc).__name__}: {exc}"
        return isinstance(exc, StoreUnreachable)
    done.add(key)
    etag = future.result()
    if etag:
        report.etags[key] = etag
    if action.action == "upload":
        report.uploaded += 1
        report.bytes_sent += action.size or 0
    elif action.action == "update":
        report.updated += 1
        report.bytes_sent += action.size or 0
    else:
        report.headers_updated += 1
    return False


def delete_keys(store: Store, keys: list[str], report: Report) -> set[str]:
    """Delete in batches; the keys that are gone."""
    gone: set[str] = set()
    for start in range(0, len(keys), DELETE_BATCH):
        batch = keys[start : start + DELETE_BATCH]
        with s3_errors("delete", store.bucket):
            errors = store.delete_objects(batch)
        for key, code in errors.items():
            report.failed[key] = f"delete: {code}"
        gone.update(k for k in batch if k not in errors)
        report.deleted += len(batch) - len(errors)
    return gone


def write_manifest(
    store: Store,
    spec: Spec,
    local: LocalInventory,
    remote: RemoteInventory | None,
    report: Report,
    unsettled: set[str | None],
    deleted: set[str] | None = None,
    done: set[str] | None = None,
    written: Recorded | None = None,
) -> None:
    """Record what is verified to be stored, so the next plan needs no HEAD per object.

    An entry comes from a write that succeeded now (``done``), or from what was read under the
    lock: an earlier entry that still vouches for the listed ETag, or a HEAD. Never from what
    the plan assumed: a key the plan left alone gets no entry the bucket did not confirm.
    Keys of ours that stay stored (kept generations, failed deletes) keep their entries, so a
    later prune may still remove them. With fingerprinting on it also records this deploy's
    keys as the newest generation, once every write succeeded. ``written``: the manifest this
    apply wrote before its uploads (``recorded_ahead``), sent again only if this one differs.
    """
    if written is not None and not (report.etags or unsettled or deleted):
        # Every upload of the plan written ahead landed with its MD5 as ETag: the manifest
        # worked out now (from the same inputs) is the one already written.
        return
    entries, generations = manifest_after(
        spec, local, remote, report.etags, unsettled, deleted, done
    )
    if written is not None:
        unchanged = (entries, generations) == written
    else:
        unchanged = (
            remote is not None
            and remote.manifest_state == "ok"
            and entries == remote.manifest
            and generations == remote.generations
        )
    if unchanged:
        return
    try:
        _put_manifest(store, spec, entries, generations)
    except S3Error as exc:
        # Not fatal: the next plan falls back to HEAD requests.
        report.failed.setdefault("(manifest)", exc.summary)


def manifest_after(
    spec: Spec,
    local: LocalInventory,
    remote: RemoteInventory | None,
    etags: Mapping[str, str],
    unsettled: set[str | None],
    deleted: set[str] | None,
    done: set[str] | None,
) -> Recorded:
    """The entries and generations ``write_manifest`` records (see there)."""
    old = dict(remote.manifest or {}) if remote is not None else {}
    listed = remote.objects if remote is not None else {}
    heads = remote.heads if remote is not None else {}
    done = done if done is not None else {k for k in local.assets if k not in unsettled}
    entries: dict[str, ManifestEntry] = {}
    for key, asset in local.assets.items():
        if key in done:
            etag = etags.get(key)
            if etag is None and key in old and old[key].md5 == asset.md5:
                etag = old[key].etag
            entries[key] = ManifestEntry(asset.md5, dict(asset.headers), etag)
            continue
        if key in unsettled:
            entries[key] = old.get(key, CLAIMED)  # tried, maybe stored: still ours
            continue
        entry, obj = old.get(key), listed.get(key)
        if (
            entry is not None
            and obj is not None
            and entry.md5
            and (entry.etag or entry.md5) == obj.etag
        ):
            entries[key] = entry  # verified_entry's first answer, without a call per key
            continue
        verified = verified_entry(key, asset.md5, asset.headers, old, listed, heads)
        if verified is not None:
            entries[key] = verified
        elif key in old:
            entries[key] = old[key]  # ours; it vouches for nothing the listing shows
    for key, entry in old.items():
        if key not in entries and key in listed and key not in (deleted or set()):
            entries[key] = entry  # still stored and still ours (kept generation, say)
    generations = list(remote.generations) if remote is not None else []
    if spec.assets.fingerprint.enabled and not unsettled:
        current = sorted(local.assets)
        # Distinct deploys only: applying a tree again moves it to the end, never twice.
        generations = [g for g in generations if sorted(g) != current] + [current]
        generations = generations[-spec.assets.fingerprint.keep :]
    return entries, generations


def verified_entry(
    key: str,
    md5: str,
    headers: dict[str, str],
    old: dict[str, ManifestEntry],
    listed: Mapping[str, ObjectInfo],
    heads: Mapping[str, dict[str, str]],
) -> ManifestEntry | None:
    """What the bucket, read under the lock, says about a key this apply did not write."""
    obj = listed.get(key)
    if obj is None:
        return None
    entry = old.get(key)
    if entry is not None and entry.md5 and entry.vouches_for(obj.etag):
        return entry  # verified when it was written, and the listing still shows those bytes
    if key in heads and obj.etag == md5:
        return ManifestEntry(md5, comparable(heads[key], headers))
    return None


def _put_manifest(
    store: Store, spec: Spec, entries: dict[str, ManifestEntry], generations: list[list[str]]
) -> None:
    body = encode_manifest(entries, generations)
    headers = {"Content-Type": "application/gzip", "Cache-Control": "no-store"}
    with s3_errors("upload", store.bucket):
        put_bytes(store, control_key(spec, MANIFEST_NAME), body, headers | spec_headers(spec))
