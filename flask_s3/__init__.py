"""flask-s3: deploy a Flask app's static assets to S3 and serve them from S3 or a CDN."""

from .errors import FlaskS3Error as FlaskS3Error
from .errors import SpecError as SpecError
from .spec import Spec as Spec
from .spec import load_spec as load_spec

__version__ = "1.0.0.dev0"
