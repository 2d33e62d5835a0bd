"""flask-s3: deploy a Flask app's static assets to S3 and serve them from S3 or a CDN."""

from ._version import __version__ as __version__
from .apply import Report as Report
from .apply import apply_plan as apply_plan
from .createall import create_all as create_all
from .errors import ApplyError as ApplyError
from .errors import ConfigError as ConfigError
from .errors import FlaskS3Error as FlaskS3Error
from .errors import MigrationWarning as MigrationWarning
from .errors import PlanError as PlanError
from .errors import S3Error as S3Error
from .errors import SpecError as SpecError
from .errors import StalePlanError as StalePlanError
from .extension import FlaskS3 as FlaskS3
from .extension import url_for as url_for
from .integrity import s3_script as s3_script
from .integrity import s3_stylesheet as s3_stylesheet
from .integrity import sri as sri
from .plan import Plan as Plan
from .planner import make_plan as make_plan
from .spec import Spec as Spec
from .spec import load_spec as load_spec
