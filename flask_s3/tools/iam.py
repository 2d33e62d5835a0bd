"""The least-privilege IAM policy a plan or an apply of one spec needs.

Every statement names the S3 calls behind it, so the list can be checked against the calls
a run really sends (``tests/test_iam.py`` records them through a proxy and compares).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..assets.keys import CONTROL_DIR, join_key, normalize_prefix
from ..remote.arns import bucket_arn, dns_suffix, objects_arn, partition_for
from ..spec import Spec

# plan: read only. apply: everything an apply may send, in one role. The split for teams:
# deploy: objects only (no bucket creation or settings); admin: the bucket settings as well.
Command = Literal["plan", "apply", "deploy", "admin"]
WRITERS = ("apply", "deploy", "admin")
POLICY_VERSION = "2012-10-17"


@dataclass(frozen=True)
class Statement:
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: dict[str, dict[str, list[str]]] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Sid": self.sid,
            "Effect": "Allow",
            "Action": list(self.actions),
            "Resource": list(self.resources),
        }
        if self.condition:
            out["Condition"] = self.condition
        return out


def spec_region(spec: Spec) -> str:
    """The region the spec deploys to: ``bucket.region``, else botocore's configured one."""
    if spec.bucket.region:
        return spec.bucket.region
    import botocore.exceptions
    import botocore.session

    session = botocore.session.Session(profile=spec.bucket.profile)
    try:
        configured = session.get_config_variable("region")
    except botocore.exceptions.BotoCoreError:  # an unknown profile: the deploy will say so
        configured = None
    return str(configured or "us-east-1")


def statements(
    spec: Spec, roots: Sequence[str], command: Command, partition: str, region: str = "us-east-1"
) -> list[Statement]:
    """What ``command`` may send for this spec. ``roots`` are the app's static key prefixes."""
    bucket = spec.bucket.name
    control = join_key(normalize_prefix(spec.urls.prefix), CONTROL_DIR)
    folders = sorted({*roots, control})
    the_bucket = (bucket_arn(partition, bucket),)
    objects = tuple(objects_arn(partition, bucket, f) for f in folders)
    # HeadBucket carries no s3:prefix, a listing always does: "IfExists" keeps the bucket
    # check working while listings stay inside our folders.
    list_condition = {
        "StringLikeIfExists": {"s3:prefix": [f"{f}/*" if f else "*" for f in folders]}
    }
    out = [
        # HeadBucket, ListObjectsV2 under the static roots and the control folder
        Statement("FlaskS3ListOwnFolders", ("s3:ListBucket",), the_bucket, list_condition),
        # GET of the manifest (and of a lock held by another apply), HEAD of objects
        Statement("FlaskS3ReadObjects", ("s3:GetObject",), objects),
    ]
    if spec.bucket.cors is not None:
        out.append(Statement("FlaskS3ReadCors", ("s3:GetBucketCORS",), the_bucket))
    if spec.bucket.public_read_policy:
        out.append(Statement("FlaskS3ReadPolicy", ("s3:GetBucketPolicy",), the_bucket))
    if command in WRITERS:
        out.extend(_writes(spec, roots, control, partition, settings=command != "deploy"))
    out.extend(_other_services(spec, command, partition, region))
    return out


def cloudfront_account(spec: Spec) -> str | None:
    """The account of the CloudFront distribution, when the spec says or implies it.

    CloudFront has no cross-account access: the distribution belongs to the account whose
    credentials invalidate it. ``cdn.cloudfront.account`` names it; without a separate
    CloudFront profile those are the bucket's credentials, so ``bucket.expected_owner`` does.
    """
    cloudfront = spec.cdn.cloudfront
    if cloudfront is None:
        return None
    if cloudfront.account:
        return cloudfront.account
    return spec.bucket.expected_owner if not cloudfront.profile else None


def _other_services(spec: Spec, command: Command, partition: str, region: str) -> list[Statement]:
    """CloudFront invalidations and the KMS key, when the spec configures them."""
    out: list[Statement] = []
    cloudfront = spec.cdn.cloudfront
    if command in WRITERS and cloudfront is not None and cloudfront.invalidate != "off":
        account = cloudfront_account(spec) or "*"  # unknown: see policy_notes
        distribution = (
            f"arn:{partition}:cloudfront::{account}:distribution/{cloudfront.distribution_id}"
        )
        out.append(
            Statement(
                "FlaskS3InvalidateCdn",
                ("cloudfront:CreateInvalidation", "cloudfront:GetInvalidation"),
                (distribution,),
            )
        )
    encryption = spec.assets.encryption
    if encryption.type == "aws:kms":
        key = encryption.kms_key_id
        resource = key if key and key.startswith("arn:") else "*"
        # Reads of SSE-KMS objects (manifest, lock, HEAD) need Decrypt; writes GenerateDataKey.
        actions = ("kms:Decrypt",) if command == "plan" else ("kms:Decrypt", "kms:GenerateDataKey")
        # Only through S3 in the bucket's region: without a key ARN the resource is every
        # key, and this condition keeps the role from using them directly.
        via = {"StringEquals": {"kms:ViaService": [f"s3.{region}.{dns_suffix(partition)}"]}}
        out.append(Statement("FlaskS3UseKmsKey", actions, (resource,), via))
    return out


def policy_notes(spec: Spec, command: Command) -> list[str]:
    """What the policy cannot narrow from this spec, and how to narrow it."""
    notes: list[str] = []
    cloudfront = spec.cdn.cloudfront
    if (
        command in WRITERS
        and cloudfront is not None
        and cloudfront.invalidate != "off"
        and not cloudfront_account(spec)
    ):
        notes.append(
            "the CloudFront distribution's account is unknown, so its ARN allows any account: "
            "set cdn.cloudfront.account (or bucket.expected_owner) to the 12-digit account id."
        )
    encryption = spec.assets.encryption
    if encryption.type == "aws:kms" and not (encryption.kms_key_id or "").startswith("arn:"):
        notes.append(
            "no KMS key ARN in assets.encryption.kms_key_id: the KMS statement allows any key, "
            "used through S3 only (kms:ViaService); set the key's full ARN to narrow it."
        )
    return notes


def _writes(
    spec: Spec, roots: Sequence[str], control: str, partition: str, *, settings: bool
) -> list[Statement]:
    """Object writes; with ``settings`` also bucket creation and bucket settings."""
    bucket = spec.bucket.name
    the_bucket = (bucket_arn(partition, bucket),)
    acl = spec.bucket.acl != "none"
    out: list[Statement] = []
    if spec.bucket.create and settings:
        # CreateBucket; an ACL sent with it needs PutBucketAcl too
        actions = ("s3:CreateBucket", "s3:PutBucketAcl") if acl else ("s3:CreateBucket",)
        out.append(Statement("FlaskS3CreateBucket", actions, the_bucket))
    # PutObject of assets, manifest and lock; CopyObject onto itself for new headers
    put = ("s3:PutObject", "s3:PutObjectAcl") if acl else ("s3:PutObject",)
    folders = sorted({*roots, control})
    out.append(
        Statement(
            "FlaskS3WriteObjects", put, tuple(objects_arn(partition, bucket, f) for f in folders)
        )
    )
    # DeleteObjects under the roots only when prune is on; under the control folder only for
    # the CDN's pending-invalidation marker (a lock is released by a write, never deleted)
    deletable = set(roots) if spec.assets.prune else set()
    if spec.cdn.cloudfront is not None:
        deletable.add(control)
    if deletable:
        out.append(
            Statement(
                "FlaskS3DeleteObjects",
                ("s3:DeleteObject",),
                tuple(objects_arn(partition, bucket, f) for f in sorted(deletable)),
            )
        )
    if not settings:
        return out
    if spec.bucket.cors is not None:
        out.append(Statement("FlaskS3WriteCors", ("s3:PutBucketCORS",), the_bucket))
    if spec.bucket.public_read_policy:
        # PutBucketPolicy can grant anyone anything on the bucket: an admin's right, see
        # `--for deploy` / `--for admin` in docs/ci.md.
        out.append(Statement("FlaskS3WritePolicy", ("s3:PutBucketPolicy",), the_bucket))
    if spec.bucket.create and spec.assets.encryption.type != "none":
        # A bucket flask-s3 creates gets the spec's encryption as its default.
        out.append(
            Statement("FlaskS3BucketEncryption", ("s3:PutEncryptionConfiguration",), the_bucket)
        )
    return out


def policy_document(
    spec: Spec, roots: Sequence[str], command: Command, region: str | None = None
) -> dict[str, Any]:
    """The IAM policy JSON (as a dict) for ``command`` on this spec."""
    region = region or spec_region(spec)
    partition = partition_for(region)
    return {
        "Version": POLICY_VERSION,
        "Statement": [s.to_dict() for s in statements(spec, roots, command, partition, region)],
    }


def render_policy(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"
