"""flask-s3: deploy a Flask app's static assets to S3 and serve them from S3 or a CDN.

The names below are imported on first use (PEP 562), so ``flask-s3 plan`` loads only the
modules a plan needs, not the whole library.
"""

from __future__ import annotations

import sys
import warnings
from importlib import import_module

from ._version import __version__ as __version__
from .deprecation import MigrationWarning as _MigrationWarning

TYPE_CHECKING = False  # not typing's: the console script imports this first, and typing costs
if TYPE_CHECKING:
    from typing import Any

# Category names in a -W option that cover MigrationWarning ("" is every category).
_OUR_BASES = {"", "Warning", "DeprecationWarning", "MigrationWarning"}


def _show_migration_warnings() -> None:
    """Show MigrationWarning by default, unless the user already chose for its category.

    Python's stock filters hide a DeprecationWarning raised on behalf of a module other than
    __main__; an upgrade must not be silent. A filter placed before the stock ones (``-W
    error::DeprecationWarning``, ``PYTHONWARNINGS``) is the user's choice and is kept first.
    """
    for option in sys.warnoptions:  # -W and PYTHONWARNINGS: action:message:category:module
        _action, message, category, module, *_ = (option.split(":") + [""] * 4)[:5]
        if not message and not module and category.rsplit(".", 1)[-1] in _OUR_BASES:
            return
    for action, message, category, module, _line in warnings.filters:
        if message is not None or module is not None:
            continue  # narrower than "every MigrationWarning" (Python's own one for __main__)
        if action == "ignore" and category is DeprecationWarning:
            break  # the stock filter: nothing before it covers our category
        if issubclass(_MigrationWarning, category):
            return  # the user's choice (-W, PYTHONWARNINGS) comes first
    warnings.filterwarnings("default", category=_MigrationWarning)


_show_migration_warnings()

_EXPORTS = {
    "ApplyError": ".errors",
    "ConfigError": ".errors",
    "FlaskS3": ".extension",
    "FlaskS3Error": ".errors",
    "MigrationWarning": ".errors",
    "Plan": ".plan",
    "PlanError": ".errors",
    "Report": ".deployer.apply",
    "S3Error": ".errors",
    "Spec": ".spec",
    "SpecError": ".errors",
    "StalePlanError": ".errors",
    "apply_plan": ".deployer.apply",
    "create_all": ".tools.createall",
    "load_spec": ".spec",
    "make_plan": ".deployer.planner",
    "s3_script": ".integrity",
    "s3_stylesheet": ".integrity",
    "sri": ".integrity",
    "url_for": ".extension",
}
__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flask_s3' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from .deployer.apply import Report as Report
    from .deployer.apply import apply_plan as apply_plan
    from .deployer.planner import make_plan as make_plan
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
    from .spec import Spec as Spec
    from .spec import load_spec as load_spec
    from .tools.createall import create_all as create_all
