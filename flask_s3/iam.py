"""The least-privilege IAM policy a plan or an apply of one spec needs.

Every statement names the S3 calls behind it, so the list can be checked against the calls
a run really sends (``tests/test_iam.py`` records them through a proxy and compares).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from .keys import join_key, normalize_prefix
from .remote import CONTROL_DIR
from .spec import Spec

Command = Literal["plan", "apply"]
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


@lru_cache(maxsize=1)
def _partitions() -> list[dict[str, Any]]:
    """botocore's partition data (the file its endpoint rules use)."""
    import botocore

    path = Path(botocore.__file__).parent / "data" / "partitions.json"
    try:  # read directly: importing botocore.loaders costs about 70 ms
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError:  # packaged another way (compressed): let botocore find it
        import botocore.loaders

        data = botocore.loaders.create_loader().load_data("partitions")
    return list(data["partitions"])


def partition_for(region: str) -> str:
    """The ARN partition of ``region`` (``aws``, ``aws-cn``, ``aws-us-gov``, ``aws-iso``...)
    as botocore's partition data says: its region list first, then its region patterns; a
    region no partition knows (a custom S3-compatible store's) is ``aws``, as in botocore."""
    partitions = _partitions()
    for partition in partitions:
        if region in partition.get("regions", {}):
            return str(partition["outputs"]["name"])
    for partition in partitions:
        if re.match(partition["regionRegex"], region):
            return str(partition["outputs"]["name"])
    return "aws"


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


def bucket_arn(partition: str, bucket: str) -> str:
    return f"arn:{partition}:s3:::{bucket}"


def objects_arn(partition: str, bucket: str, key_prefix: str) -> str:
    """Every object under ``key_prefix`` (a folder, no trailing slash; "" for the bucket)."""
    return f"{bucket_arn(partition, bucket)}/{key_prefix + '/' if key_prefix else ''}*"


def statements(
    spec: Spec, roots: Sequence[str], command: Command, partition: str
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
    if command == "apply":
        out.extend(_writes(spec, roots, control, partition))
    out.extend(_other_services(spec, command, partition))
    return out


def _other_services(spec: Spec, command: Command, partition: str) -> list[Statement]:
    """CloudFront invalidations and the KMS key, when the spec configures them."""
    out: list[Statement] = []
    cloudfront = spec.cdn.cloudfront
    if command == "apply" and cloudfront is not None and cloudfront.invalidate != "off":
        # The account is not in the spec; the distribution id is unique across accounts.
        distribution = f"arn:{partition}:cloudfront::*:distribution/{cloudfront.distribution_id}"
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
        actions = ("kms:Decrypt", "kms:GenerateDataKey") if command == "apply" else ("kms:Decrypt",)
        out.append(Statement("FlaskS3UseKmsKey", actions, (resource,)))
    return out


def _writes(spec: Spec, roots: Sequence[str], control: str, partition: str) -> list[Statement]:
    bucket = spec.bucket.name
    the_bucket = (bucket_arn(partition, bucket),)
    acl = spec.bucket.acl != "none"
    out: list[Statement] = []
    if spec.bucket.create:
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
    # DeleteObject of the lock; DeleteObjects under the roots only when prune is on
    deletable = sorted({*roots, control}) if spec.assets.prune else [control]
    out.append(
        Statement(
            "FlaskS3DeleteObjects",
            ("s3:DeleteObject",),
            tuple(objects_arn(partition, bucket, f) for f in deletable),
        )
    )
    if spec.bucket.cors is not None:
        out.append(Statement("FlaskS3WriteCors", ("s3:PutBucketCORS",), the_bucket))
    if spec.bucket.public_read_policy:
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
    partition = partition_for(region or spec_region(spec))
    return {
        "Version": POLICY_VERSION,
        "Statement": [s.to_dict() for s in statements(spec, roots, command, partition)],
    }


def render_policy(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"
