"""The S3 layer: one ``Store`` protocol, a fast and a boto3 implementation, chosen once."""

from .errors import StoreError as StoreError
from .errors import StoreUnreachable as StoreUnreachable
from .errors import describe_error as describe_error
from .errors import s3_errors as s3_errors
from .resolve import open_store as open_store
from .store import ObjectInfo as ObjectInfo
from .store import Store as Store
