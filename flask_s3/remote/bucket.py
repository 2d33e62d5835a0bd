"""Bucket-level settings as planned resources: CORS rules and the public-read policy statement."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..assets.keys import normalize_prefix
from ..errors import S3Error
from ..plan import Action, ActionKind, Reason
from ..s3.errors import s3_errors
from ..s3.store import Store
from ..spec import Spec
from .arns import objects_arn, partition_for

POLICY_SID = "FlaskS3PublicRead"


def desired_cors(spec: Spec) -> list[dict[str, Any]] | None:
    cors = spec.bucket.cors
    if cors is None:
        return None
    rule: dict[str, Any] = {
        "AllowedOrigins": sorted(cors.allowed_origins),
        "AllowedMethods": sorted(m.upper() for m in cors.allowed_methods),
        "MaxAgeSeconds": cors.max_age_seconds,
    }
    if cors.allowed_headers:
        rule["AllowedHeaders"] = sorted(cors.allowed_headers)
    return [rule]


def normalize_cors(rules: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    for rule in rules:
        norm: dict[str, Any] = {
            "AllowedOrigins": sorted(rule.get("AllowedOrigins", [])),
            "AllowedMethods": sorted(m.upper() for m in rule.get("AllowedMethods", [])),
            "MaxAgeSeconds": rule.get("MaxAgeSeconds"),
        }
        if rule.get("AllowedHeaders"):
            norm["AllowedHeaders"] = sorted(rule["AllowedHeaders"])
        out.append(norm)
    return out


def policy_statement(spec: Spec, region: str = "") -> dict[str, Any]:
    """Our public-read statement; ``region`` (else the spec's) picks the ARN's partition."""
    prefix = normalize_prefix(spec.urls.prefix)
    partition = partition_for(spec.bucket.region or region)
    resource = objects_arn(partition, spec.bucket.name, prefix)
    return {
        "Sid": POLICY_SID,
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": resource,
    }


def current_cors(store: Store) -> list[dict[str, Any]] | None:
    with s3_errors("read-cors", store.bucket):
        rules = store.get_bucket_cors()
    return normalize_cors(rules or []) or None


def current_policy(store: Store) -> dict[str, Any] | None:
    with s3_errors("read-policy", store.bucket):
        text = store.get_bucket_policy()
    if text is None:
        return None
    try:
        policy = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply to be a policy
        raise S3Error(
            f"the policy of bucket {store.bucket!r} is not valid JSON",
            "Fix or remove it by hand, then plan again.",
        ) from None
    return policy if isinstance(policy, dict) else None


def our_statement(policy: dict[str, Any] | None) -> dict[str, Any] | None:
    for statement in (policy or {}).get("Statement", []) or []:
        if isinstance(statement, dict) and statement.get("Sid") == POLICY_SID:
            return statement
    return None


def _same_statement(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    def norm(s: dict[str, Any] | None) -> Any:
        if s is None:
            return None
        principal = s.get("Principal")
        if isinstance(principal, dict) and principal.get("AWS") in ("*", ["*"]):
            principal = "*"
        action = s.get("Action")
        action = action[0] if isinstance(action, list) and len(action) == 1 else action
        resource = s.get("Resource")
        resource = resource[0] if isinstance(resource, list) and len(resource) == 1 else resource
        return (s.get("Effect"), principal, action, resource)

    return bool(norm(a) == norm(b))


def plan_bucket_actions(
    spec: Spec, cors: list[dict[str, Any]] | None, policy: dict[str, Any] | None, region: str
) -> list[Action]:
    """Compare CORS and our policy statement with the bucket; an action only where they differ.

    Pure: the bucket's settings (``cors``, ``policy``, ``region``) were read by ``gather_remote``.
    """
    actions: list[Action] = []
    want_cors = desired_cors(spec)
    if want_cors is not None and cors != want_cors:
        actions.append(
            Action(ActionKind.UPDATE_BUCKET_CORS, Reason.CORS, before=cors, after=want_cors)
        )
    want = policy_statement(spec, region) if spec.bucket.public_read_policy else None
    have = our_statement(policy)
    if not _same_statement(have, want):
        actions.append(
            Action(ActionKind.UPDATE_BUCKET_POLICY, Reason.POLICY, before=have, after=want)
        )
    return actions


def read_settings(
    store: Store, spec: Spec
) -> tuple[list[dict[str, Any]] | None, dict[str, Any] | None]:
    """The bucket's CORS rules (only when the spec manages them) and its policy.

    A policy that may not be read is no obstacle when the spec does not manage one.
    """
    cors = current_cors(store) if desired_cors(spec) is not None else None
    try:
        policy = current_policy(store)
    except S3Error:
        if spec.bucket.public_read_policy:
            raise
        policy = None
    return cors, policy


def apply_bucket_actions(store: Store, actions: Sequence[Action]) -> None:
    for action in actions:
        if action.action is ActionKind.UPDATE_BUCKET_CORS:
            with s3_errors("write-cors", store.bucket):
                store.put_bucket_cors(action.after or [])
        elif action.action is ActionKind.UPDATE_BUCKET_POLICY:
            write_policy(store, action.after)


def write_policy(store: Store, statement: dict[str, Any] | None) -> None:
    """Put our statement in (or take it out), leaving every other statement intact."""
    bucket = store.bucket
    policy = current_policy(store) or {"Version": "2012-10-17", "Statement": []}
    others = [
        s
        for s in policy.get("Statement", []) or []
        if not (isinstance(s, dict) and s.get("Sid") == POLICY_SID)
    ]
    statements = [*others, statement] if statement is not None else others
    with s3_errors("write-policy", bucket):
        if statements:
            policy["Statement"] = statements
            store.put_bucket_policy(json.dumps(policy))
        else:
            store.delete_bucket_policy()
