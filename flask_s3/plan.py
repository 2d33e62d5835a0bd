"""The plan: a pure value saying what an apply would change, with a versioned dict form."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from . import headers as hdr
from ._version import __version__
from .cdn import is_pending, plan_invalidation
from .errors import PlanError
from .local import LocalInventory
from .remote import RemoteInventory, head_headers, listing_prefixes
from .spec import Spec

if TYPE_CHECKING:
    from .s3.store import Store

FORMAT_VERSION = 1
BUCKET_ACTIONS = ("create-bucket", "update-bucket-cors", "update-bucket-policy")
OBJECT_ACTIONS = ("upload", "update", "update-headers", "delete")


@dataclass(frozen=True)
class Action:
    """One change: ``action`` with a named ``reason`` (new, etag, size, force, headers, ...)."""

    action: str
    reason: str
    key: str | None = None
    size: int | None = None
    md5: str | None = None
    headers: Mapping[str, str] | None = None
    logical: str | None = None  # the name before fingerprinting
    changed: Mapping[str, tuple[str | None, str | None]] | None = None
    before: Any = None
    after: Any = None
    cdn: Mapping[str, Any] | None = None  # invalidate-cdn: distribution, paths, wildcards

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action, "key": self.key, "reason": self.reason}
        if self.action in BUCKET_ACTIONS[1:]:
            out["before"], out["after"] = self.before, self.after
        if self.size is not None:
            out["size"] = self.size
        if self.md5 is not None:
            out["md5"] = self.md5
        if self.headers is not None:
            out["headers"] = dict(self.headers)
        if self.changed is not None:
            out["changed"] = {k: list(v) for k, v in self.changed.items()}
        if self.logical is not None:
            out["logical"] = self.logical
        if self.cdn is not None:
            out["cdn"] = dict(self.cdn)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Action:
        changed = data.get("changed")
        return cls(
            action=data["action"],
            reason=data["reason"],
            key=data.get("key"),
            size=data.get("size"),
            md5=data.get("md5"),
            headers=data.get("headers"),
            changed={k: (v[0], v[1]) for k, v in changed.items()} if changed else None,
            before=data.get("before"),
            after=data.get("after"),
            logical=data.get("logical"),
            cdn=data.get("cdn"),
        )


@dataclass(frozen=True)
class Plan:
    """What an apply would do, and what it saw when it was made (for the stale check)."""

    spec_path: str
    spec_digest: str
    app: str | None
    bucket: Mapping[str, Any]
    remote: Mapping[str, Any]
    local: Mapping[str, Any]
    options: Mapping[str, Any]
    actions: tuple[Action, ...]
    unchanged: int
    warnings: tuple[str, ...] = ()
    created_at: str = field(
        default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    )

    @property
    def counts(self) -> dict[str, int]:
        tally = {a: 0 for a in (*BUCKET_ACTIONS, *OBJECT_ACTIONS)}
        for action in self.actions:
            tally[action.action] = tally.get(action.action, 0) + 1
        return {
            "create_bucket": tally["create-bucket"],
            "update_bucket": tally["update-bucket-cors"] + tally["update-bucket-policy"],
            "upload": tally["upload"],
            "update": tally["update"],
            "update_headers": tally["update-headers"],
            "delete": tally["delete"],
            "unchanged": self.unchanged,
        }

    @property
    def has_changes(self) -> bool:
        return bool(self.actions)

    def of_kind(self, *kinds: str) -> list[Action]:
        return [a for a in self.actions if a.action in kinds]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "tool": {"name": "flask-s3", "version": __version__},
            "created_at": self.created_at,
            "spec": {"path": self.spec_path, "digest": self.spec_digest},
            "app": self.app,
            "bucket": dict(self.bucket),
            "remote": dict(self.remote),
            "local": dict(self.local),
            "options": dict(self.options),
            "actions": [a.to_dict() for a in self.actions],
            "counts": self.counts,
            "has_changes": self.has_changes,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        """Read a saved plan (checked against ``schemas/plan.schema.json`` first)."""
        from .render import validate_plan_dict

        validate_plan_dict(data)
        return cls(
            spec_path=data["spec"]["path"],
            spec_digest=data["spec"]["digest"],
            app=data.get("app"),
            bucket=data["bucket"],
            remote=data["remote"],
            local=data["local"],
            options=data["options"],
            actions=tuple(Action.from_dict(a) for a in data["actions"]),
            unchanged=int(data["counts"]["unchanged"]),
            warnings=tuple(data.get("warnings", ())),
            created_at=data["created_at"],
        )


def local_fingerprint(local: LocalInventory) -> str:
    digest = hashlib.sha256()
    for key in sorted(local.assets):
        asset = local.assets[key]
        digest.update(f"{key}\0{asset.md5}\0{asset.headers_digest}\n".encode())
    return "sha256:" + digest.hexdigest()


def header_changes(
    old: Mapping[str, str], new: Mapping[str, str]
) -> dict[str, tuple[str | None, str | None]]:
    names = sorted(set(old) | set(new))
    return {n: (old.get(n), new.get(n)) for n in names if old.get(n) != new.get(n)}


def make_plan(
    spec: Spec,
    local: LocalInventory,
    remote: RemoteInventory | None,
    *,
    store: Store | None = None,
    force_refresh: bool = False,
    spec_path: str = "",
    app_import: str | None = None,
    bucket_actions: Sequence[Action] = (),
) -> Plan:
    """Compare local files with the bucket; HEAD only objects the manifest can't vouch for."""
    actions: list[Action] = []
    if remote is None and not spec.bucket.create:
        raise PlanError(
            f"bucket {spec.bucket.name!r} does not exist",
            "Create it, or set bucket.create: true in the spec to let apply create it.",
        )
    if remote is None:
        actions.append(Action("create-bucket", "missing"))
    actions.extend(bucket_actions)
    remote_objects = remote.objects if remote is not None else {}
    manifest = remote.manifest if remote is not None and remote.manifest is not None else {}
    unchanged = 0
    to_head: list[str] = []
    for key in sorted(local.assets):
        asset = local.assets[key]
        obj = remote_objects.get(key)
        if obj is None:
            actions.append(object_action("upload", "new", asset))
        elif force_refresh:
            actions.append(object_action("update", "force", asset))
        elif obj.size != asset.size:
            actions.append(object_action("update", "size", asset))
        elif obj.etag != asset.md5:
            actions.append(object_action("update", "etag", asset))
        else:
            entry = manifest.get(key)
            if entry is None or entry.md5 != obj.etag:
                to_head.append(key)
            elif entry.headers != asset.headers:
                actions.append(headers_action(asset, entry.headers))
            else:
                unchanged += 1
    if to_head:
        assert store is not None, "a store is needed to check headers the manifest lacks"
        found = head_many(store, spec, to_head)
        for key in to_head:
            asset = local.assets[key]
            seen = hdr.comparable(found[key], asset.headers)  # hook: issue 14 (encryption)
            if seen == asset.headers:
                unchanged += 1
            else:
                actions.append(headers_action(asset, seen))
    kept = remote.generations if remote is not None else []
    deletes = plan_deletes(spec, local, remote_objects, kept) if spec.assets.prune else []
    if len(deletes) > spec.assets.max_delete:
        raise PlanError(
            f"prune would delete {len(deletes)} objects, more than assets.max_delete "
            f"({spec.assets.max_delete})",
            f"If that is intended, set assets.max_delete: {len(deletes)} (or more) in the spec; "
            "otherwise check urls.prefix and the static folders.",
        )
    objects = sorted(
        actions[len(bucket_actions) + (remote is None) :] + deletes, key=lambda a: a.key or ""
    )
    actions = actions[: len(bucket_actions) + (remote is None)] + objects
    # hook: issue 14 (CloudFront): the invalidation goes last, after every object action.
    invalidation = plan_invalidation(
        spec, local, actions, pending=is_pending(spec, remote.control if remote else ())
    )
    if invalidation is not None:
        actions.append(invalidation)
    return Plan(
        spec_path=spec_path,
        spec_digest=spec.digest,
        app=app_import,
        bucket={
            "name": spec.bucket.name,
            "region": spec.bucket.region,
            "endpoint_url": spec.bucket.endpoint_url,
            "prefix": spec.urls.prefix,
            "exists": remote is not None,
        },
        remote={
            "fingerprint": remote.fingerprint() if remote is not None else "missing",
            "objects": len(remote_objects),
            "manifest": remote.manifest_state if remote is not None else "none",
        },
        local={
            "fingerprint": local_fingerprint(local),
            "files": len(local.assets),
            "bytes": local.total_bytes,
        },
        options={
            "prune": spec.assets.prune,
            "force_refresh": force_refresh,
            "max_delete": spec.assets.max_delete,
        },
        actions=tuple(actions),
        unchanged=unchanged,
        warnings=tuple(local.warnings),
    )


def object_action(kind: str, reason: str, asset: Any) -> Action:
    return Action(
        kind, reason, asset.key, asset.size, asset.md5, dict(asset.headers), logical=asset.logical
    )


def headers_action(asset: Any, old: Mapping[str, str]) -> Action:
    return Action(
        "update-headers",
        "headers",
        asset.key,
        asset.size,
        asset.md5,
        dict(asset.headers),
        changed=header_changes(old, asset.headers),
        logical=asset.logical,
    )


def head_many(store: Store, spec: Spec, keys: list[str]) -> dict[str, dict[str, str]]:
    workers = max(1, min(spec.upload.concurrency, len(keys)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(lambda k: head_headers(store, k), keys)
        return dict(zip(keys, results, strict=True))


def plan_deletes(
    spec: Spec,
    local: LocalInventory,
    remote_objects: Mapping[str, Any],
    generations: Sequence[Sequence[str]] = (),
) -> list[Action]:
    """Keys under a static root of ours that no longer exist locally; nothing else is touched.

    With fingerprinting, the objects of the last ``keep`` deploys (this one included) stay,
    so pages cached by browsers and CDNs keep loading their assets.
    """
    roots = listing_prefixes(local.roots)
    keep: set[str] = set()
    if spec.assets.fingerprint.enabled and spec.assets.fingerprint.keep > 1:
        for generation in generations[-(spec.assets.fingerprint.keep - 1) :]:
            keep.update(generation)
    deletes: list[Action] = []
    for key in sorted(remote_objects):
        if key in local.assets or key in keep:
            continue
        if any(key.startswith(root) for root in roots):
            deletes.append(Action("delete", "pruned", key, remote_objects[key].size))
    return deletes
