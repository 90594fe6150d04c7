"""Every `normbench ...` command line the documentation shows parses with the real argument parser.

The README, docs/ and the plugins' READMEs are read for fenced code blocks; each command (split
at `&&`, `;` and `|`, comments dropped) that runs `normbench` is handed to
:func:`normbench.cli.build_parser`, which must accept it. Nothing is executed: a renamed or
removed option breaks this test instead of a reader's copy-paste (pytest's docs are doctested for
the same reason).
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from normbench.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "plugins").glob("*/README.md"))]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)


def documented_commands() -> list[tuple[str, list[str]]]:
    """(where, argv after `normbench`) for every normbench command in a fenced block."""
    found = []
    for doc in DOCS:
        for block in FENCE.findall(doc.read_text(encoding="utf-8")):
            for line in block.splitlines():
                try:
                    words = shlex.split(line, comments=True)
                except ValueError:  # not shell (a TOML or Python line with an odd quote)
                    continue
                command: list[str] = []
                for word in [*words, ";"]:
                    if word in ("&&", ";", "|", "||"):
                        if command and Path(command[0]).name == "normbench":
                            found.append((f"{doc.relative_to(ROOT)}: {line.strip()}", command[1:]))
                        command = []
                    else:
                        command.append(word)
    return found


COMMANDS = documented_commands()


def test_the_documentation_shows_commands():
    assert len(COMMANDS) >= 15, [where for where, _ in COMMANDS]


@pytest.mark.parametrize("where, argv", COMMANDS, ids=[where for where, _ in COMMANDS])
def test_a_documented_command_parses(where, argv, capsys):
    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"{where}\n  does not parse (exit {exc.code}): {capsys.readouterr().err.strip()}")
