"""Every Python example in the README and the docs runs: each page's ```python blocks are executed
in order, in one namespace per page, as a reader would paste them. A listing of signatures (not
runnable on purpose) is marked with an HTML comment, ``<!-- signatures: not run -->``, on the line
before its fence, and must still parse as Python once bodies are added."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SIGNATURES = "<!-- signatures: not run -->"


def blocks(path: Path):
    """(first line, code, runnable) of every ```python block of ``path``."""
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```python":
            start, body = i + 1, []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            yield start + 1, "\n".join(body), not (start >= 2 and lines[start - 2].strip() == SIGNATURES)
        i += 1


PAGES_WITH_CODE = [p for p in PAGES if any(True for _ in blocks(p))]


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=[str(p.relative_to(ROOT)) for p in PAGES_WITH_CODE])
def test_the_examples_of_a_page_run(page, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # an example that writes files writes them here
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    ran = 0
    for line, code, runnable in blocks(page):
        if not runnable:
            # a listing of signatures: each def gets a body, then it must be valid Python
            ast.parse(re.sub(r"(\):[^\n]*)$", r"\1\n    ...", code, flags=re.M) if "def " in code else code)
            continue
        try:
            exec(compile(code, f"{page.name}:{line}", "exec"), namespace)  # noqa: S102 - the docs' own examples
        except Exception as exc:  # noqa: BLE001 - named, with the block's place
            pytest.fail(f"{page.relative_to(ROOT)}:{line}: the example raises {type(exc).__name__}: {exc}")
        ran += 1
    assert ran, f"{page.name} has no runnable example"


def test_the_docs_have_examples_to_run():
    assert {p.name for p in PAGES_WITH_CODE} >= {"functional.md", "plugins.md"}
