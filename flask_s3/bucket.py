"""Bucket-level settings as planned resources: CORS rules and the public-read policy statement."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .errors import S3Error
from .keys import normalize_prefix
from .plan import Action
from .remote import describe_error, s3_errors
from .spec import Spec

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

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


def parse_cors_xml(data: bytes) -> list[dict[str, Any]]:
    """GetBucketCors's XML as boto3 would give it (namespace or not)."""
    import xml.etree.ElementTree as ET

    rules: list[dict[str, Any]] = []
    for rule in ET.fromstring(data).iter():
        if rule.tag.rsplit("}", 1)[-1] != "CORSRule":
            continue
        out: dict[str, Any] = {}
        for child in rule:
            name = child.tag.rsplit("}", 1)[-1]
            text = (child.text or "").strip()
            if name == "MaxAgeSeconds":
                out[name] = int(text or 0)
            elif name in ("AllowedOrigin", "AllowedMethod", "AllowedHeader", "ExposeHeader"):
                out.setdefault(name + "s", []).append(text)
        rules.append(out)
    return rules


def policy_statement(spec: Spec) -> dict[str, Any]:
    from .iam import objects_arn, partition_for  # hook (issue 18): partition-aware ARN

    prefix = normalize_prefix(spec.urls.prefix)
    resource = objects_arn(partition_for(spec.bucket.region or ""), spec.bucket.name, prefix)
    return {
        "Sid": POLICY_SID,
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": resource,
    }


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def current_cors(client: S3Client, bucket: str) -> list[dict[str, Any]] | None:
    from .wire import wire_for

    wire = wire_for(client, bucket)
    try:
        if wire is not None:
            rules = parse_cors_xml(wire.get(bucket, "", "cors=", "GetBucketCors"))
        else:
            rules = [dict(r) for r in client.get_bucket_cors(Bucket=bucket).get("CORSRules", [])]
    except Exception as exc:
        if _error_code(exc) in ("NoSuchCORSConfiguration", "NoSuchCors"):
            return None
        raise describe_error(exc, "read-cors", bucket) from None
    return normalize_cors(rules) or None


def current_policy(client: S3Client, bucket: str) -> dict[str, Any] | None:
    from .wire import wire_for

    wire = wire_for(client, bucket)
    try:
        if wire is not None:
            text = wire.get(bucket, "", "policy=", "GetBucketPolicy").decode("utf-8")
        else:
            text = client.get_bucket_policy(Bucket=bucket)["Policy"]
    except Exception as exc:
        if _error_code(exc) in ("NoSuchBucketPolicy", "NoSuchPolicy"):
            return None
        raise describe_error(exc, "read-policy", bucket) from None
    try:
        policy = json.loads(text)
    except ValueError:
        raise S3Error(
            f"the policy of bucket {bucket!r} is not valid JSON",
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


def plan_bucket_actions(client: S3Client, spec: Spec, exists: bool) -> list[Action]:
    """Compare CORS and our policy statement with the bucket; an action only where they differ."""
    actions: list[Action] = []
    bucket = spec.bucket.name
    want_cors = desired_cors(spec)
    if want_cors is not None:
        have_cors = current_cors(client, bucket) if exists else None
        if have_cors != want_cors:
            actions.append(Action("update-bucket-cors", "cors", before=have_cors, after=want_cors))
    want = policy_statement(spec) if spec.bucket.public_read_policy else None
    try:
        policy = current_policy(client, bucket) if exists else None
    except S3Error:
        if want is not None:
            raise
        policy = None  # not managing a policy: no need to be allowed to read one
    have = our_statement(policy)
    if not _same_statement(have, want):
        actions.append(Action("update-bucket-policy", "policy", before=have, after=want))
    return actions


def apply_bucket_actions(client: S3Client, spec: Spec, actions: Sequence[Action]) -> None:
    bucket = spec.bucket.name
    for action in actions:
        if action.action == "update-bucket-cors":
            with s3_errors("write-cors", bucket):
                client.put_bucket_cors(
                    Bucket=bucket, CORSConfiguration={"CORSRules": action.after or []}
                )
        elif action.action == "update-bucket-policy":
            write_policy(client, spec, action.after)


def write_policy(client: S3Client, spec: Spec, statement: dict[str, Any] | None) -> None:
    """Put our statement in (or take it out), leaving every other statement intact."""
    bucket = spec.bucket.name
    policy = current_policy(client, bucket) or {"Version": "2012-10-17", "Statement": []}
    others = [
        s
        for s in policy.get("Statement", []) or []
        if not (isinstance(s, dict) and s.get("Sid") == POLICY_SID)
    ]
    statements = [*others, statement] if statement is not None else others
    with s3_errors("write-policy", bucket):
        if statements:
            policy["Statement"] = statements
            client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
        else:
            client.delete_bucket_policy(Bucket=bucket)
