"""``python -m flask_s3`` runs the ``flask-s3`` command line."""

from .cli import main

main(prog_name="flask-s3")
