"""Plain-text and Markdown tables (no dependencies). The progress line is
:mod:`normbench._runtime.progress`."""
from __future__ import annotations

from typing import Sequence


def render(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A left-aligned text table with a header rule."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) if i < len(r) else 0 for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_fit(headers: Sequence[str], rows: Sequence[Sequence[object]], width: int = 100) -> str:
    """``render``, split into several tables of the first column plus as many of the others as fit
    in ``width`` characters (a wide check table stays readable in a terminal or a CI log)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) if i < len(r) else 0 for r in cells) for i in range(len(headers))]
    chunks, current, used = [], [], widths[0]
    for i in range(1, len(headers)):
        if current and used + 2 + widths[i] > width:
            chunks.append(current)
            current, used = [], widths[0]
        current.append(i)
        used += 2 + widths[i]
    chunks.append(current)
    return "\n\n".join(render([headers[0], *(headers[i] for i in chunk)],
                               [[row[0], *(row[i] if i < len(row) else "" for i in chunk)] for row in rows])
                        for chunk in chunks)


def markdown(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    out = ["| " + " | ".join(map(str, headers)) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(out)
