"""Where and how the fast store sends a bucket's requests: botocore's decisions, as data.

``resolve.target_of`` reads them from a botocore client (and the sealed cache keeps them
between runs); ``fast.FastStore`` obeys them. Neither needs the other to know the shape.
"""

from __future__ import annotations

from ..records import frozen


@frozen
class Target:
    """botocore's decisions for one bucket, as the fast store needs them."""

    scheme: str  # http | https
    host: str  # host[:port] the bucket's requests go to
    base_path: str  # "" (virtual host) or "/bucket", "/gateway/bucket" (path style)
    region: str  # signing region
    verify: bool | str  # TLS: verify or not, or the CA bundle path
    connect_timeout: float
    read_timeout: float
    max_attempts: int  # total attempts, first one included
    pool_size: int
    sign_payload: bool | None  # s3.payload_signing_enabled (None: botocore's implicit rule)
    credential_method: str  # botocore's name for where the credentials came from

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://{self.host}"
