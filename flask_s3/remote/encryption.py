"""Encryption at rest (``assets.encryption``): the headers every write carries, and the
default a bucket flask-s3 creates is given.

The per-object headers live in the asset's header set (see ``headers.ENCRYPTION``), so the
manifest records them and a changed setting is planned as ``update-headers``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import headers as hdr
from ..s3.errors import s3_errors
from ..spec import Spec

if TYPE_CHECKING:
    from ..s3.store import Store


def spec_headers(spec: Spec) -> dict[str, str]:
    """Encryption headers for writes of our own objects (manifest, lock), canonical names."""
    encryption = spec.assets.encryption
    return hdr.encryption_headers(encryption.type, encryption.kms_key_id)


def default_rule(spec: Spec) -> dict[str, Any] | None:
    """The bucket's default-encryption rule for ``spec``; None when encryption is ``none``."""
    encryption = spec.assets.encryption
    if encryption.type == "none":
        return None
    default: dict[str, Any] = {"SSEAlgorithm": encryption.type}
    if encryption.type == "aws:kms" and encryption.kms_key_id:
        default["KMSMasterKeyID"] = encryption.kms_key_id
    rule: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": default}
    if encryption.type == "aws:kms":
        rule["BucketKeyEnabled"] = True  # one KMS call per bucket key, not per object
    return rule


def set_bucket_default(store: Store, spec: Spec) -> None:
    """Give a bucket we just created the spec's encryption as its default."""
    rule = default_rule(spec)
    if rule is None:
        return
    with s3_errors("write-encryption", store.bucket):
        store.put_bucket_encryption(rule)
