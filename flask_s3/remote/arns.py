"""ARNs and partitions, as botocore's partition data names them.

The public-read policy statement (``bucket.py``) and the IAM policies (``iam.py``) both name
the bucket's objects by ARN; the partition (``aws``, ``aws-cn``, ``aws-us-gov``...) comes from
the region, by botocore's own data, so a China or GovCloud bucket gets the right ARN.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any


@lru_cache(maxsize=1)
def partitions() -> list[dict[str, Any]]:
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
    known = partitions()
    for partition in known:
        if region in partition.get("regions", {}):
            return str(partition["outputs"]["name"])
    for partition in known:
        if re.match(partition["regionRegex"], region):
            return str(partition["outputs"]["name"])
    return "aws"


def bucket_arn(partition: str, bucket: str) -> str:
    return f"arn:{partition}:s3:::{bucket}"


def objects_arn(partition: str, bucket: str, key_prefix: str) -> str:
    """Every object under ``key_prefix`` (a folder, no trailing slash; "" for the bucket)."""
    return f"{bucket_arn(partition, bucket)}/{key_prefix + '/' if key_prefix else ''}*"


def dns_suffix(partition: str) -> str:
    for known in partitions():
        if known["outputs"]["name"] == partition:
            return str(known["outputs"]["dnsSuffix"])
    return "amazonaws.com"
