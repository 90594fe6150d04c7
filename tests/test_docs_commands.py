"""Every `normbench ...` command line shown in a code block of the README, the docs and the
reports' and plugins' READMEs parses with the real argument parser: a renamed or removed option
breaks this test, not a reader's first try."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from normbench.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "plugins").glob("*/README.md")),
         *sorted((ROOT / "reports").glob("*/README.md"))]


def command_lines(path: Path):
    """(line number, argv after `normbench`) of every normbench command in the page's code blocks."""
    fenced, pending, start = False, "", 0
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced, pending = not fenced, ""
            continue
        if not fenced:
            continue
        text = pending + line.strip()
        if text.endswith("\\"):
            pending, start = text[:-1] + " ", start or n
            continue
        pending, where, start = "", start or n, 0
        text = re.sub(r"^\$\s+", "", text)
        for part in re.split(r"\s*(?:&&|\|\||;|\|)\s*", text):
            try:
                words = shlex.split(part, comments=True)
            except ValueError:
                continue
            while words and "=" in words[0] and not words[0].startswith("-"):
                words = words[1:]  # VAR=value before the command
            if words and re.fullmatch(r"(\S*/)?normbench", words[0]):
                yield where, words[1:]


CASES = [(p, n, argv) for p in PAGES for n, argv in command_lines(p)]


def test_the_pages_show_commands():
    assert len(CASES) > 40
    assert {argv[0] for _, _, argv in CASES if argv} >= {"run", "check", "bench", "compare", "ab", "report",
                                                         "regressions", "history", "store", "export"}


@pytest.mark.parametrize("page,line,argv", CASES, ids=[f"{p.relative_to(ROOT)}:{n}" for p, n, _ in CASES])
def test_a_documented_command_parses(page, line, argv):
    parser = build_parser()
    try:
        parser.parse_args(argv)
    except SystemExit as exc:
        if exc.code:  # --help and --version exit 0
            pytest.fail(f"{page.relative_to(ROOT)}:{line}: `normbench {' '.join(argv)}` does not parse")
