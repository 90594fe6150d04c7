"""The report page's own JS and CSS (normbench/_reporting/www), linted as what they are: ESLint's
and stylelint's recommended rules, from .ci/www-lint (`npm ci --prefix .ci/www-lint` installs
them; CI does). Without them this skips here and fails on CI."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = ROOT / ".ci" / "www-lint"
WWW = ROOT / "normbench" / "_reporting" / "www"


def _tool(name: str) -> Path:
    exe = LINT / "node_modules" / ".bin" / name
    if not exe.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not installed: CI runs `npm ci --prefix .ci/www-lint` first")
        pytest.skip(f"{name} is not installed: npm ci --prefix .ci/www-lint")
    return exe


def _lint(tool: str, config: str, target: Path) -> subprocess.CompletedProcess:
    """``tool`` on one file, from the file's folder (ESLint skips, with a mere warning, files outside
    the folder it runs in); any warning fails too."""
    return subprocess.run([str(_tool(tool)), "--config", str(LINT / config), "--max-warnings", "0", target.name],
                          cwd=target.parent, capture_output=True, text=True, timeout=120)


def test_the_page_script_passes_eslint():
    got = _lint("eslint", "eslint.config.mjs", WWW / "report.js")
    assert got.returncode == 0, got.stdout + got.stderr


def test_the_page_stylesheet_passes_stylelint():
    got = _lint("stylelint", "stylelint.config.mjs", WWW / "report.css")
    assert got.returncode == 0, got.stdout + got.stderr


def test_the_linters_find_what_they_are_for(tmp_path):
    """The same commands fail on a script with an undefined name and a stylesheet with an unknown
    property, so the two tests above cannot pass by linting nothing."""
    bad_js = tmp_path / "bad.js"
    bad_js.write_text("(function () { return undefinedName + 1; })();\n")
    bad_css = tmp_path / "bad.css"
    bad_css.write_text("body { colour: red; }\n")
    js, css = _lint("eslint", "eslint.config.mjs", bad_js), _lint("stylelint", "stylelint.config.mjs", bad_css)
    assert js.returncode != 0 and "no-undef" in js.stdout + js.stderr
    assert css.returncode != 0 and "property-no-unknown" in css.stdout + css.stderr
