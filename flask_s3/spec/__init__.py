"""The deploy spec: its typed model (``model``), reading the YAML with locations
(``yamlfile``) and checking it against the schema (``validate``)."""

from .model import DEFAULT_GZIP_TYPES as DEFAULT_GZIP_TYPES
from .model import AssetsSpec as AssetsSpec
from .model import BucketSpec as BucketSpec
from .model import CdnSpec as CdnSpec
from .model import CloudFrontSpec as CloudFrontSpec
from .model import CorsSpec as CorsSpec
from .model import EncryptionSpec as EncryptionSpec
from .model import FingerprintSpec as FingerprintSpec
from .model import GzipSpec as GzipSpec
from .model import HeaderRule as HeaderRule
from .model import RuntimeSpec as RuntimeSpec
from .model import Spec as Spec
from .model import UploadSpec as UploadSpec
from .model import UrlSpec as UrlSpec
from .model import build_spec as build_spec
from .model import check_encryption as check_encryption
from .model import load_spec as load_spec
from .model import spec_from_dict as spec_from_dict
