"""The planner: compare the two inventories and decide. Pure: no client, no I/O, no clock.

``make_plan`` takes the spec, the local inventory (what the files will be stored as) and the
remote inventory (what the bucket holds, gathered beforehand by ``remote.gather_remote``)
and returns a ``Plan``. The same inputs always give the same plan.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, NamedTuple

from .. import headers as hdr
from ..assets.local import LocalAsset, LocalInventory
from ..errors import PlanError
from ..plan import (
    Action,
    ActionKind,
    BucketInfo,
    LocalInfo,
    Plan,
    PlanOptions,
    Reason,
    RemoteInfo,
)
from ..remote.bucket import plan_bucket_actions
from ..remote.cdn import is_pending, plan_invalidation
from ..remote.inventory import RemoteInventory, listing_prefixes
from ..s3.manifest import is_multipart_etag
from ..s3.store import ObjectInfo
from ..spec import Spec

if TYPE_CHECKING:
    from ..assets.templates import TemplateScan


def local_fingerprint(local: LocalInventory) -> str:
    digest = hashlib.sha256()
    # Assets share a handful of header dicts (scan.scan_sources): each is digested once,
    # not once per file. Keyed by id: every dict stays alive in the inventory meanwhile.
    header_digests: dict[int, str] = {}
    assets = local.assets
    lines: list[str] = []
    for key in sorted(assets):
        asset = assets[key]
        headers_digest = header_digests.get(id(asset.headers))
        if headers_digest is None:
            headers_digest = header_digests[id(asset.headers)] = asset.headers_digest
        lines.append(f"{key}\0{asset.md5}\0{headers_digest}\n")
        if len(lines) == DIGEST_BATCH:
            digest.update("".join(lines).encode())
            lines.clear()
    digest.update("".join(lines).encode())
    return "sha256:" + digest.hexdigest()


DIGEST_BATCH = 4096  # lines hashed at once: a call per batch, not per key, and little memory


def header_changes(
    old: Mapping[str, str], new: Mapping[str, str]
) -> dict[str, tuple[str | None, str | None]]:
    names = sorted(set(old) | set(new))
    return {n: (old.get(n), new.get(n)) for n in names if old.get(n) != new.get(n)}


class Settled(NamedTuple):
    """The local assets that need nothing at a glance (counted), and the keys of the others."""

    unchanged: int
    rest: list[str]


def settle(local: LocalInventory, remote: RemoteInventory, force_refresh: bool = False) -> Settled:
    """Count the common case of a big tree once, for ``unvouched_keys`` and ``make_plan`` both:
    the listed object is these bytes and a plain manifest entry (no ETag of its own) vouches
    for it, with the same headers. ``object_actions`` decides the rest, branch by branch."""
    if force_refresh:
        return Settled(0, list(local.assets))
    manifest = remote.manifest or {}
    listed = remote.objects
    unchanged = 0
    rest: list[str] = []
    for key, asset in local.assets.items():
        obj = listed.get(key)
        entry = manifest.get(key)
        if (
            entry is not None
            and obj is not None
            and entry.etag is None
            and obj.etag == asset.md5
            and entry.md5 == obj.etag
            and obj.size == asset.size
            and "-" not in obj.etag
            and entry.headers == asset.headers
        ):
            unchanged += 1
        else:
            rest.append(key)
    return Settled(unchanged, rest)


def unvouched_keys(
    local: LocalInventory,
    remote: RemoteInventory,
    *,
    force_refresh: bool = False,
    settled: Settled | None = None,
) -> list[str]:
    """Keys whose stored headers the planner must see and the manifest cannot vouch for.

    The same bytes are stored (size and ETag match) but the manifest has no entry for the key
    or one for other bytes: only a HEAD tells the headers. Gathered before planning.
    ``settled``: ``settle``'s answer for these inventories (its settled keys are vouched for).
    """
    if force_refresh or not remote.exists:
        return []
    manifest = remote.manifest or {}
    keys = []
    listed = remote.objects
    assets = local.assets
    for key in assets if settled is None else settled.rest:
        asset = assets[key]
        obj = listed.get(key)
        if obj is None or obj.etag != asset.md5 or obj.size != asset.size:
            continue  # uploaded anyway (a multipart object without an entry too)
        entry = manifest.get(key)
        # entry.vouches_for(obj.etag), without a call per key
        if entry is None or (entry.etag or entry.md5) != obj.etag:
            keys.append(key)
    return sorted(keys)


def make_plan(
    spec: Spec,
    local: LocalInventory,
    remote: RemoteInventory,
    *,
    force_refresh: bool = False,
    spec_path: str = "",
    app_import: str | None = None,
    created_at: str = "",
    references: TemplateScan | None = None,
    local_digest: str | None = None,
    settled: Settled | None = None,
) -> Plan:
    """The actions that make the bucket match the local files, each with its reason.

    ``references`` (the static files the templates name, scanned beforehand) add a warning
    for each one the deploy will not serve. ``local_digest``: ``local_fingerprint(local)``
    when already worked out for this very inventory (the plan made again under the lock).
    ``settled``: ``settle(local, remote, force_refresh)`` when already worked out."""
    if not remote.exists and not spec.bucket.create:
        raise PlanError(
            f"bucket {spec.bucket.name!r} does not exist",
            "Create it, or set bucket.create: true in the spec to let apply create it.",
        )
    head: list[Action] = []
    if not remote.exists:
        head.append(Action(ActionKind.CREATE_BUCKET, Reason.MISSING))
    head.extend(plan_bucket_actions(spec, remote.cors, remote.policy, remote.region))
    objects, unchanged = object_actions(local, remote, force_refresh, settled)
    deletes = (
        plan_deletes(spec, local, remote.objects, remote.generations, owned_keys(remote))
        if spec.assets.prune
        else []
    )
    if len(deletes) > spec.assets.max_delete:
        raise PlanError(
            f"prune would delete {len(deletes)} objects, more than assets.max_delete "
            f"({spec.assets.max_delete})",
            f"If that is intended, set assets.max_delete: {len(deletes)} (or more) in the spec; "
            "otherwise check urls.prefix and the static folders.",
        )
    actions = head + sorted(objects + deletes, key=lambda a: a.key or "")
    # The CDN invalidation goes last, after every object action.
    invalidation = plan_invalidation(spec, local, actions, pending=is_pending(spec, remote.control))
    if invalidation is not None:
        actions.append(invalidation)
    return Plan(
        spec_path=spec_path,
        spec_digest=spec.digest,
        app=app_import,
        bucket=BucketInfo(
            name=spec.bucket.name,
            region=spec.bucket.region,
            endpoint_url=spec.bucket.endpoint_url,
            prefix=spec.urls.prefix,
            exists=remote.exists,
        ),
        remote=RemoteInfo(
            fingerprint=remote.fingerprint() if remote.exists else "missing",
            objects=len(remote.objects),
            manifest=remote.manifest_state if remote.exists else "none",
        ),
        local=LocalInfo(
            fingerprint=local_digest or local_fingerprint(local),
            files=len(local.assets),
            bytes=local.total_bytes,
        ),
        options=PlanOptions(
            prune=spec.assets.prune,
            force_refresh=force_refresh,
            max_delete=spec.assets.max_delete,
        ),
        actions=tuple(actions),
        unchanged=unchanged,
        created_at=created_at,
        warnings=tuple(local.warnings)
        + template_warnings(references, spec, local, deletes)
        + tuple(unowned_warning(spec, local, remote)),
    )


def template_warnings(
    references: TemplateScan | None, spec: Spec, local: LocalInventory, deletes: list[Action]
) -> tuple[str, ...]:
    if references is None:
        return ()
    from ..assets.templates import scan_warnings

    return tuple(scan_warnings(references, spec, local, {a.key for a in deletes if a.key}))


def object_actions(
    local: LocalInventory,
    remote: RemoteInventory,
    force_refresh: bool,
    settled: Settled | None = None,
) -> tuple[list[Action], int]:
    """Uploads, updates and header updates, and how many objects need nothing."""
    manifest = remote.manifest or {}
    actions: list[Action] = []
    listed = remote.objects
    assets = local.assets
    # The common case of a big tree was counted by settle(), as the branches below would
    # decide it; they decide the rest. In any order: make_plan sorts the actions by key.
    unchanged, rest = settled or settle(local, remote, force_refresh)
    for key in rest:
        asset = assets[key]
        obj = listed.get(key)
        entry = manifest.get(key)
        # An entry with an ETag of its own says what the object holds where the ETag cannot:
        # a multipart upload, or an adopted object (other gzip bytes of the same content).
        vouched = (
            obj is not None
            and entry is not None
            and entry.etag is not None
            and entry.vouches_for(obj.etag)
        )
        if obj is None:
            actions.append(object_action(ActionKind.UPLOAD, Reason.NEW, asset))
        elif force_refresh:
            actions.append(object_action(ActionKind.UPDATE, Reason.FORCE, asset))
        elif obj.size != asset.size and not vouched:
            actions.append(object_action(ActionKind.UPDATE, Reason.SIZE, asset))
        elif is_multipart_etag(obj.etag) and not vouched:
            # Its ETag is not an MD5 and no manifest entry says what it holds.
            actions.append(object_action(ActionKind.UPDATE, Reason.MULTIPART, asset))
        elif (manifest[key].md5 if vouched else obj.etag) != asset.md5:
            actions.append(object_action(ActionKind.UPDATE, Reason.ETAG, asset))
        else:
            if entry is not None and entry.vouches_for(obj.etag):
                stored = entry.headers
            elif key in remote.heads:
                stored = hdr.comparable(remote.heads[key], asset.headers)
            else:
                raise PlanError(
                    f"the headers of {key!r} were not gathered",
                    "This is a bug in flask-s3: gather them with unvouched_keys() first.",
                )
            if stored == asset.headers:
                unchanged += 1
            else:
                actions.append(headers_action(asset, stored))
    return actions, unchanged


def object_action(kind: ActionKind, reason: Reason, asset: LocalAsset) -> Action:
    return Action(
        kind, reason, asset.key, asset.size, asset.md5, dict(asset.headers), logical=asset.logical
    )


def headers_action(asset: LocalAsset, old: Mapping[str, str]) -> Action:
    return Action(
        ActionKind.UPDATE_HEADERS,
        Reason.HEADERS,
        asset.key,
        asset.size,
        asset.md5,
        dict(asset.headers),
        changed=header_changes(old, asset.headers),
        logical=asset.logical,
    )


def owned_keys(remote: RemoteInventory) -> set[str]:
    """The keys flask-s3 wrote (or took over by deploying identical bytes): prune's limit.

    The manifest records every key an apply stored or was about to store, and the kept
    fingerprint generations; a key in neither was put there by someone else (or by a
    flask-s3 before 1.1 whose manifest was lost) and is never deleted.
    """
    owned = set(remote.manifest or {})
    for generation in remote.generations:
        owned.update(generation)
    return owned


def kept_generations(
    spec: Spec, local: LocalInventory, generations: Sequence[Sequence[str]]
) -> list[Sequence[str]]:
    """The earlier deploys ``fingerprint.keep`` promises to keep, besides the current tree.

    ``keep: K`` keeps K distinct deploys, the current one included: the current tree is never
    counted twice, however often it is applied (see docs/fingerprinting.md).
    """
    keep = spec.assets.fingerprint.keep
    if not spec.assets.fingerprint.enabled or keep <= 1:
        return []
    current = sorted(local.assets)
    earlier = [g for g in generations if sorted(g) != current]
    return earlier[-(keep - 1) :]


def generation_to_record(spec: Spec, local: LocalInventory, remote: RemoteInventory) -> bool:
    """True when the current tree is not the newest recorded deploy (a rollback to a kept
    deploy, say): apply then writes the manifest, though no object changes, so that ``keep``
    counts from the deploy that is really current."""
    if not spec.assets.fingerprint.enabled or not remote.exists:
        return False
    generations = remote.generations
    return not generations or sorted(generations[-1]) != sorted(local.assets)


def plan_deletes(
    spec: Spec,
    local: LocalInventory,
    remote_objects: Mapping[str, ObjectInfo],
    generations: Sequence[Sequence[str]] = (),
    owned: AbstractSet[str] = frozenset(),
) -> list[Action]:
    """Keys of ours under a static root that no longer exist locally; nothing else is touched.

    Only ``owned`` keys (``owned_keys``: the manifest's) are candidates. With fingerprinting,
    the objects of the last ``keep`` deploys (this one included) stay, so pages cached by
    browsers and CDNs keep loading their assets.
    """
    roots = listing_prefixes(local.roots)
    keep: set[str] = set()
    for generation in kept_generations(spec, local, generations):
        keep.update(generation)
    deletes: list[Action] = []
    for key in sorted(remote_objects):
        if key in local.assets or key in keep or key not in owned:
            continue
        if any(key.startswith(root) for root in roots):
            deletes.append(Action(ActionKind.DELETE, Reason.PRUNED, key, remote_objects[key].size))
    return deletes


def unowned_warning(spec: Spec, local: LocalInventory, remote: RemoteInventory) -> list[str]:
    """Say so when prune leaves objects under the static roots that flask-s3 did not write."""
    if not spec.assets.prune:
        return []
    owned = owned_keys(remote)
    foreign = [k for k in remote.objects if k not in local.assets and k not in owned]
    if not foreign:
        return []
    example = min(foreign)
    more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
    return [
        f"prune leaves {len(foreign)} object(s) under the static roots that the manifest does "
        f"not record as written by flask-s3 ({example}{more}); delete them by hand if they "
        "are yours"
    ]


def differences(saved: Plan, fresh: Plan) -> list[str]:
    """How a saved plan differs from the one that would be made now (empty: it still holds)."""
    out: list[str] = []
    if saved.spec_digest != fresh.spec_digest:
        out.append("the spec changed")
    if saved.local.fingerprint != fresh.local.fingerprint:
        out.append("the local static files changed")
    if saved.options != fresh.options:
        out.append("the options differ (prune, max_delete or force-refresh)")
    # What show prints as the target must be where the apply goes (the spec's bucket).
    where = ("name", "region", "endpoint_url", "prefix")
    if any(getattr(saved.bucket, f) != getattr(fresh.bucket, f) for f in where):
        out.append("the bucket differs (name, region, endpoint or prefix)")

    def identity(action: Action) -> tuple[object, ...]:
        changed = tuple(sorted((action.changed or {}).items()))
        headers = tuple(sorted((action.headers or {}).items()))
        # Everything an apply acts on: the distribution and paths it invalidates, too.
        cdn = json.dumps(action.cdn, sort_keys=True)
        after = json.dumps(action.after, sort_keys=True)  # as a saved plan holds it
        return (action.action, action.key, action.md5, action.size, headers, changed, after, cdn)

    before = {identity(a): a for a in saved.actions}
    now = {identity(a): a for a in fresh.actions}
    for ident in sorted(set(before) - set(now), key=repr):
        out.append(f"planned then, not now: {before[ident].describe()}")
    for ident in sorted(set(now) - set(before), key=repr):
        out.append(f"needed now, not in the plan: {now[ident].describe()}")
    return out
