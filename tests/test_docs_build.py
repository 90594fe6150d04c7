"""The documentation site builds with Sphinx, warnings as errors and every reference checked
(``-W --keep-going -n``): the CLI reference from the real parser, the API reference from the
docstrings. Skipped where Sphinx is not installed (``pip install -e '.[docs]'``), except on CI,
where .ci/run installs it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_docs_build_without_a_warning(tmp_path):
    try:
        import myst_parser  # noqa: F401
        import sphinx  # noqa: F401
        import sphinxarg  # noqa: F401
    except ImportError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"the docs extra is not installed ({exc}): pip install -e '.[docs]'")
    got = subprocess.run([sys.executable, "-m", "sphinx", "-E", "-W", "--keep-going", "-n", "-q", "-b", "html",
                          str(ROOT / "docs"), str(tmp_path / "html")], capture_output=True, text=True, timeout=300)
    assert got.returncode == 0, got.stderr[-3000:]
    cli = (tmp_path / "html" / "reference" / "cli.html").read_text()
    for command in ("regressions", "history", "compare", "ab", "run", "--skip-backend", "--no-store"):
        assert command in cli  # generated from build_parser, so every command and option is there
    assert "normbench.store.Store" in (tmp_path / "html" / "reference" / "api.html").read_text()
