"""Sphinx configuration for the flask-s3 documentation (``make docs``)."""

from __future__ import annotations

import sys
from pathlib import Path

from pallets_sphinx_themes import ProjectLink

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

from flask_s3 import __version__  # noqa: E402

project = "flask-s3"
copyright = "flask-s3 contributors"
release = __version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx_click",
    "myst_parser",
    "pallets_sphinx_themes",
    "flask_s3_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
myst_enable_extensions = ["colon_fence"]
# Help texts and descriptions write code in single backticks, as Markdown does.
default_role = "code"
myst_heading_anchors = 3

# Everything is built from this checkout: no intersphinx inventories, nothing fetched.
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True

html_theme = "flask"
html_title = f"flask-s3 documentation ({release})"
html_short_title = "flask-s3"
html_static_path = ["_static"]
html_css_files = ["flask-s3.css"]
html_context = {
    "project_links": [
        ProjectLink("Source code", "https://github.com/flask-s3/flask-s3/"),
        ProjectLink("Issue tracker", "https://github.com/flask-s3/flask-s3/issues/"),
    ]
}
# Every page shows the whole site (the global table of contents), then its own sections.
html_sidebars = {
    "index": ["project.html", "globaltoc.html", "searchbox.html"],
    "**": ["globaltoc.html", "localtoc.html", "relations.html", "searchbox.html"],
}
html_theme_options = {"globaltoc_maxdepth": 1}
html_show_sourcelink = False
# The theme's version banner asks PyPI about "flask-s3" in the reader's browser; PyPI's
# flask-s3 is still the 0.3 line, so the banner would mislead until 1.0 is released.
version_banner = False
smartquotes = False
