"""Sphinx configuration of the aioxmpp-avatar documentation.

Build it (warnings are errors, as ``dev/test.sh`` does)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The API reference is taken from the docstrings of the installed package
(``bash dev/setup.sh`` builds and installs it into ``.venv``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import aioxmpp_avatar

sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))

project = "aioxmpp-avatar"
author = "the aioxmpp-avatar authors"
copyright = "the aioxmpp-avatar authors; LGPL-3.0-or-later"
release = aioxmpp_avatar.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "avatar_docs",
]

exclude_patterns = ["_build"]
templates_path: list[str] = []
primary_domain = "py"
# Single backquotes are argument names (as in aioxmpp's docstrings): italics.
default_role = "emphasis"

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
# aioxmpp ships no type information: its names in signatures stay text.
autodoc_type_aliases: dict[str, str] = {}

html_theme = "alabaster"
html_title = f"aioxmpp-avatar {release}"
html_static_path: list[str] = []
html_theme_options = {
    "description": "User Avatars for aioxmpp, with a Rust core",
    "fixed_sidebar": True,
}
