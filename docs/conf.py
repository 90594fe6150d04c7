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
# pages link to the repository's other files (reports/, plugins/, the README) by relative path, as
# GitHub renders them; the offline link check (tests/test_docs_links.py) verifies every one of
# them, so Sphinx treats them as plain links rather than as references it would have to resolve
myst_all_links_external = True
myst_heading_anchors = 3
nitpicky = True
autodoc_typehints = "none"  # the signatures' annotations name library types Sphinx cannot resolve
autodoc_member_order = "bysource"
nitpick_ignore_regex = [("py:.*", r"(numpy|np|torch|pd|pandas|pluggy|argparse|pathlib)\..*")]
