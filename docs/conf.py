"""Sphinx configuration of normbench's documentation (MyST Markdown pages; the CLI reference is
generated from the real parser, the API reference from the docstrings).

    python -m sphinx -W --keep-going -n -b html docs docs/_build/html
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

project = "normbench"
author = "the normbench developers"
extensions = ["myst_parser", "sphinxarg.ext", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path: list[str] = []
# links between pages resolve to the site's pages (and their headings' anchors). Links out of docs/
# (reports/, plugins/) point at repository files the site does not hold: Sphinx cannot resolve
# them and they render as text. tests/test_docs_links.py checks every relative link of every page,
# in and out of docs/, offline, so the one warning class left off here is checked there.
myst_all_links_external = False
suppress_warnings = ["myst.xref_missing", "myst.domains"]
myst_heading_anchors = 3
nitpicky = True
autodoc_typehints = "none"  # the signatures' annotations name library types Sphinx cannot resolve
autodoc_member_order = "bysource"
# docstrings of the public API may name internal modules (the conformance machinery, the store's
# URL helpers) that the reference does not document on purpose: those references stay plain text
nitpick_ignore_regex = [
    ("py:.*", r"(numpy|np|torch|pd|pandas|pluggy|argparse|pathlib)\..*"),
    ("py:.*", r"normbench\.(conformance|backend\.Capabilities|store\.url)(\..*)?"),
    # the private subsystems (normbench._runtime, _timing, _results, _reporting) are not documented
    ("py:.*", r"normbench\._.*"),
    ("py:func", r"url\..*"),
]
