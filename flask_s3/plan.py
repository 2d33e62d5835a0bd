"""The plan: a typed value saying what an apply would do, and its versioned JSON form.

Everything about a plan file lives here: the action kinds and reasons, the parts of a plan,
``FORMAT_VERSION``, writing, reading and validating (``schemas/plan.schema.json``). The
renderers (``render.py``) only render the JSON form; the planner (``planner.py``) makes plans.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any

from ._version import __version__
from .errors import PlanError
from .records import frozen

FORMAT_VERSION = 1


class ActionKind(str, Enum):
    """What an action does; its ``symbol`` is what the renderers print before it."""

    CREATE_BUCKET = "create-bucket"
    UPDATE_BUCKET_CORS = "update-bucket-cors"
    UPDATE_BUCKET_POLICY = "update-bucket-policy"
    UPLOAD = "upload"
    UPDATE = "update"
    UPDATE_HEADERS = "update-headers"
    DELETE = "delete"
    INVALIDATE_CDN = "invalidate-cdn"

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]

    def __str__(self) -> str:
        return self.value


_SYMBOLS = {
    ActionKind.CREATE_BUCKET: "+",
    ActionKind.UPDATE_BUCKET_CORS: "~",
    ActionKind.UPDATE_BUCKET_POLICY: "~",
    ActionKind.UPLOAD: "+",
    ActionKind.UPDATE: "~",
    ActionKind.UPDATE_HEADERS: "*",
    ActionKind.DELETE: "-",
    ActionKind.INVALIDATE_CDN: "!",
}
BUCKET_ACTIONS = (
    ActionKind.CREATE_BUCKET,
    ActionKind.UPDATE_BUCKET_CORS,
    ActionKind.UPDATE_BUCKET_POLICY,
)
OBJECT_ACTIONS = (
    ActionKind.UPLOAD,
    ActionKind.UPDATE,
    ActionKind.UPDATE_HEADERS,
    ActionKind.DELETE,
)


class Reason(str, Enum):
    """Why an action is planned."""

    MISSING = "missing"  # create-bucket: the bucket is not there
    CORS = "cors"
    POLICY = "policy"
    NEW = "new"  # upload: no object under this key
    SIZE = "size"  # update: the stored size differs
    ETAG = "etag"  # update: the stored MD5 differs
    FORCE = "force"  # update: --force-refresh
    MULTIPART = "multipart"  # update: a multipart object the manifest says nothing about
    HEADERS = "headers"  # update-headers: same bytes, other headers
    PRUNED = "pruned"  # delete: no local file any more
    CHANGED = "changed"  # invalidate-cdn: paths of changed objects
    ALL = "all"  # invalidate-cdn: invalidate: all
    PENDING = "pending"  # invalidate-cdn: an earlier apply's invalidation never went through

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Action:
    """One change: its kind, a named reason, and what the apply needs to carry it out."""

    action: ActionKind
    reason: Reason
    key: str | None = None
    size: int | None = None
    md5: str | None = None
    headers: Mapping[str, str] | None = None
    logical: str | None = None  # the name before fingerprinting
    changed: Mapping[str, tuple[str | None, str | None]] | None = None
    before: Any = None
    after: Any = None
    cdn: Mapping[str, Any] | None = None  # invalidate-cdn: distribution, paths, wildcards

    def __post_init__(self) -> None:
        object.__setattr__(self, "action", ActionKind(self.action))
        object.__setattr__(self, "reason", Reason(self.reason))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "action": self.action.value,
            "key": self.key,
            "reason": self.reason.value,
        }
        if self.action in (ActionKind.UPDATE_BUCKET_CORS, ActionKind.UPDATE_BUCKET_POLICY):
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
            action=ActionKind(data["action"]),
            reason=Reason(data["reason"]),
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

    def describe(self) -> str:
        """One line for messages: ``update-headers static/app.css (Cache-Control: a -> b)``."""
        text = f"{self.action.value} {self.key or ''}".rstrip()
        if self.changed:
            text += " (" + ", ".join(f"{n}: {a} -> {b}" for n, (a, b) in self.changed.items()) + ")"
        return text


@frozen
class BucketInfo:
    name: str
    region: str | None
    endpoint_url: str | None
    prefix: str
    exists: bool


@frozen
class RemoteInfo:
    """What the plan saw of the bucket."""

    fingerprint: str  # keys, ETags and sizes under our roots ("missing": no bucket)
    objects: int
    manifest: str  # ok | missing | corrupt | none (no bucket)


@frozen
class LocalInfo:
    fingerprint: str  # keys, MD5s and header sets of the files to store
    files: int
    bytes: int


@frozen
class PlanOptions:
    prune: bool
    force_refresh: bool
    max_delete: int


def _from(cls: type[Any], data: Mapping[str, Any]) -> Any:
    return cls(**{name: data[name] for name in cls.__dataclass_fields__})


@frozen
class Plan:
    """What an apply would do, and what it saw when it was made (for the stale check)."""

    spec_path: str
    spec_digest: str
    app: str | None
    bucket: BucketInfo
    remote: RemoteInfo
    local: LocalInfo
    options: PlanOptions
    actions: tuple[Action, ...]
    unchanged: int
    created_at: str
    warnings: tuple[str, ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        tally = {kind: 0 for kind in ActionKind}
        for action in self.actions:
            tally[action.action] += 1
        return {
            "create_bucket": tally[ActionKind.CREATE_BUCKET],
            "update_bucket": tally[ActionKind.UPDATE_BUCKET_CORS]
            + tally[ActionKind.UPDATE_BUCKET_POLICY],
            "upload": tally[ActionKind.UPLOAD],
            "update": tally[ActionKind.UPDATE],
            "update_headers": tally[ActionKind.UPDATE_HEADERS],
            "delete": tally[ActionKind.DELETE],
            "unchanged": self.unchanged,
        }

    @property
    def has_changes(self) -> bool:
        return bool(self.actions)

    def of_kind(self, *kinds: ActionKind | str) -> list[Action]:
        wanted = {ActionKind(k) for k in kinds}
        return [a for a in self.actions if a.action in wanted]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "tool": {"name": "flask-s3", "version": __version__},
            "created_at": self.created_at,
            "spec": {"path": self.spec_path, "digest": self.spec_digest},
            "app": self.app,
            "bucket": vars(self.bucket).copy(),
            "remote": vars(self.remote).copy(),
            "local": vars(self.local).copy(),
            "options": vars(self.options).copy(),
            "actions": [a.to_dict() for a in self.actions],
            "counts": self.counts,
            "has_changes": self.has_changes,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        """A plan from its JSON form, checked against ``schemas/plan.schema.json`` first."""
        validate_plan_dict(data)
        return cls(
            spec_path=data["spec"]["path"],
            spec_digest=data["spec"]["digest"],
            app=data.get("app"),
            bucket=_from(BucketInfo, data["bucket"]),
            remote=_from(RemoteInfo, data["remote"]),
            local=_from(LocalInfo, data["local"]),
            options=_from(PlanOptions, data["options"]),
            actions=tuple(Action.from_dict(a) for a in data["actions"]),
            unchanged=int(data["counts"]["unchanged"]),
            created_at=data["created_at"],
            warnings=tuple(data.get("warnings", ())),
        )

    def write(self, path: str | Path) -> None:
        """Save the JSON form, secrets masked: a saved plan is an artifact others can read."""
        from .safe_output import mask_data

        text = json.dumps(mask_data(self.to_dict()), indent=2, sort_keys=True) + "\n"
        Path(path).write_text(text, encoding="utf-8")


MAX_DEPTH = 64  # a plan is at most a few levels deep; bucket policies and CORS rules too


def read_plan_file(path: str | Path) -> dict[str, Any]:
    """A saved plan's JSON form, validated; PlanError saying what is wrong otherwise.

    The file is hostile until proven otherwise (a pull-request job may have written it):
    any JSON at all, however deep, gives a PlanError naming the file, never a traceback.
    """
    try:
        text = Path(path).read_bytes().decode("utf-8")
        data = json.loads(text)
    except OSError as exc:
        raise PlanError(f"cannot read the plan {path}: {exc.strerror}") from None
    except RecursionError:
        raise PlanError(
            f"{path} is not a plan: its JSON is nested too deeply",
            "Make one with `flask-s3 plan SPEC --out PLAN.json`.",
        ) from None
    except ValueError as exc:  # invalid UTF-8 or invalid JSON
        raise PlanError(
            f"{path} is not a plan: invalid JSON ({exc})",
            "Make one with `flask-s3 plan SPEC --out PLAN.json`.",
        ) from None
    where = _too_deep(data)
    if where is not None:
        raise PlanError(
            f"{path} is not a plan: its JSON is nested too deeply",
            f"More than {MAX_DEPTH} levels at {json.dumps(where)}. Make a plan with "
            "`flask-s3 plan SPEC --out PLAN.json`.",
        )
    try:
        validate_plan_dict(data)
    except PlanError as exc:
        raise PlanError(f"{path}: {exc.summary}", exc.detail) from None
    return dict(data)


def _too_deep(data: Any) -> str | None:
    """The key path of the first value nested more than MAX_DEPTH deep, or None.

    Walked without recursion, so it is safe on any input the JSON parser accepted.
    """
    stack: list[tuple[Any, int, str]] = [(data, 0, "")]
    while stack:
        value, depth, where = stack.pop()
        if depth > MAX_DEPTH:
            return where or "(top level)"
        if isinstance(value, Mapping):
            stack += [(v, depth + 1, f"{where}.{k}" if where else str(k)) for k, v in value.items()]
        elif isinstance(value, list):
            stack += [
                (v, depth + 1, f"{where}.{i}" if where else str(i)) for i, v in enumerate(value)
            ]
    return None


@lru_cache(maxsize=1)
def plan_schema() -> dict[str, Any]:
    from .spec.validate import schema_bytes

    loaded: dict[str, Any] = json.loads(schema_bytes("plan.schema.json"))
    return loaded


def validate_plan_dict(data: Any) -> None:
    """Raise PlanError unless ``data`` is a plan this version of flask-s3 can read."""
    if not isinstance(data, Mapping):
        raise PlanError("not a plan: expected a JSON object")
    version = data.get("format_version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise PlanError(
            f"the plan was made by a newer flask-s3 (plan format {version}; this version "
            f"reads format {FORMAT_VERSION})",
            "Upgrade flask-s3 to the version that made the plan (see its `tool` field), or "
            "make a new plan with this one: `flask-s3 plan SPEC --out PLAN.json`.",
        )
    if version != FORMAT_VERSION:
        raise PlanError(
            f"unsupported plan format_version {version!r}",
            f"This flask-s3 reads format_version {FORMAT_VERSION}; make a new plan with "
            "`flask-s3 plan SPEC --out PLAN.json`.",
        )
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(plan_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [
            f"{'.'.join(str(p) for p in e.absolute_path) or '(top level)'}: {e.message}"
            for e in errors[:10]
        ]
        raise PlanError("the plan file is damaged or was edited by hand", "\n".join(lines))
