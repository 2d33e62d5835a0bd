"""The MigrationWarning category, apart from the error types so that ``import flask_s3`` (which
sets its filter) and the command's first instruction stay cheap: nothing here imports."""


class MigrationWarning(DeprecationWarning):
    """A Flask-S3 0.3 or deprecated setting: what 1.0 does with it and what to write instead.

    A ``DeprecationWarning``, as Flask and its extensions signal deprecations, so that
    ``-W error::DeprecationWarning`` catches it; ``import flask_s3`` adds a ``default``
    filter for this category, so it is still shown once per place without any flag.
    """

    __module__ = "flask_s3.errors"  # where it is documented and always was
