"""``index.html``: the report as one self-contained page (figures embedded, no network access).

The page holds the same sections as the report's Markdown (converted here: the report uses
headings, lists, tables, images, links, code spans and bold only), with the run header and the
accuracy-against-speed figures moved to the top, and one long table of every measurement.
Every table sorts by a click on its header; one filter bar (op, pass, dtype, layout, backend,
free text) filters the measurement table and every other table that has those columns, hides
the other ops' sections, and keeps its state in the URL's fragment, so a filtered view can be
bookmarked (``index.html#backend=numba&dtype=float32``). Opens from disk in any browser.
"""
from __future__ import annotations

import base64
import html
import math
import re
from pathlib import Path
from typing import Sequence

import pandas as pd

#: the columns the filter bar filters by, with the table headers that hold them
FILTERS = {"op": ("op", "norm"), "pass": ("pass",), "dtype": ("dtype",), "layout": ("layout",),
           "backend": ("backend",)}

_INLINE = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)|`([^`]+)`|\*\*([^*]+)\*\*")


def _image(out_dir: Path, name: str, alt: str) -> str:
    """An ``<img>`` with the PNG inlined as a data URL (a missing file: its name, in words)."""
    path = out_dir / name
    if "/" in name or not path.is_file():
        return f'<span class="missing">[figure {html.escape(name)} not found]</span>'
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def inline(text: str, out_dir: Path) -> str:
    """Markdown inline markup to HTML: images (embedded), links (PNG targets embedded as a
    figure that opens on click), code spans, bold; everything else escaped."""
    out, at = [], 0
    for m in _INLINE.finditer(text):
        out.append(html.escape(text[at:m.start()]))
        at = m.end()
        bang, label, target, code, bold = m.groups()
        if code is not None:
            out.append(f"<code>{html.escape(code)}</code>")
        elif bold is not None:
            out.append(f"<strong>{html.escape(bold)}</strong>")
        elif bang:
            out.append(_image(out_dir, target, label))
        elif target.endswith(".png"):
            out.append(f"<details class=\"fig\"><summary>{html.escape(label)}</summary>"
                       f"{_image(out_dir, target, label)}</details>")
        elif target.startswith(("http://", "https://", "#")):
            out.append(f'<a href="{html.escape(target)}">{html.escape(label)}</a>')
        else:  # a relative link to a file beside the report: its text (the page stands alone)
            out.append(f"{html.escape(label)} (<code>{html.escape(target)}</code>)")
    out.append(html.escape(text[at:]))
    return "".join(out)


def _cells(line: str) -> list[str]:
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") else body
    cells, cur, escaped = [], [], False
    for i, ch in enumerate(body):  # "\|" inside a cell is a literal bar; other backslashes stay
        if escaped:
            cur.append(ch)
            escaped = False
        elif ch == "\\" and body[i + 1:i + 2] == "|":
            escaped = True
        elif ch == "|":
            cells.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    cells.append("".join(cur).strip())
    return cells


def table(head: Sequence[str], rows: Sequence[Sequence[str]], out_dir: Path, table_id: str = "") -> str:
    """A sortable, filterable table: each header names its column (``data-col``) for the filters."""
    ths = "".join(f'<th data-col="{html.escape(h.strip().lower())}" title="sort">{inline(h, out_dir)}</th>'
                  for h in head)
    trs = "\n".join("<tr>" + "".join(f"<td>{inline(str(c), out_dir)}</td>" for c in r) + "</tr>" for r in rows)
    ident = f' id="{html.escape(table_id)}"' if table_id else ""
    return f'<table class="data"{ident}><thead><tr>{ths}</tr></thead><tbody>\n{trs}\n</tbody></table>'


def markdown_to_html(lines: Sequence[str], out_dir: Path) -> str:
    """The report's Markdown as HTML, each ``##`` section a ``<section>`` that names its op and
    pass (``data-op``, ``data-pass``) where its heading does, for the filter bar."""
    lines = "\n".join(lines).split("\n")
    out: list[str] = []
    i, open_sections = 0, 0
    para: list[str] = []
    ops = set()

    def flush() -> None:
        if para:
            out.append("<p>" + inline(" ".join(para), out_dir) + "</p>")
            para.clear()

    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            flush()
            level = len(line) - len(line.lstrip("#"))
            text = line[level:].strip()
            if level == 1:
                out.append(f"<h1>{inline(text, out_dir)}</h1>")
            else:
                while open_sections >= level - 1 and open_sections:
                    out.append("</section>")
                    open_sections -= 1
                words = re.split(r"[\s:]+", text)
                attrs = f' data-op="{html.escape(words[0])}"' if words and words[0] in ops or level == 2 and \
                    ":" in text else ""
                if level == 2 and ":" in text:
                    ops.add(words[0])
                if level == 3 and len(words) > 1 and words[0] in ops and ":" not in text:
                    attrs += f' data-pass="{html.escape(words[1])}"'
                out.append(f"<section{attrs}><h{level}>{inline(text, out_dir)}</h{level}>")
                open_sections += 1
            i += 1
        elif line.startswith("|"):
            flush()
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append(lines[i])
                i += 1
            head, rows = _cells(block[0]), [_cells(b) for b in block[2:]]
            out.append(table(head, rows, out_dir))
        elif re.match(r"^\s*- ", line):
            flush()
            out.append("<ul>")
            depth = 0
            while i < len(lines) and re.match(r"^\s*- ", lines[i]):
                d = (len(lines[i]) - len(lines[i].lstrip())) // 2
                while depth < d:
                    out.append("<ul>")
                    depth += 1
                while depth > d:
                    out.append("</ul>")
                    depth -= 1
                out.append("<li>" + inline(lines[i].strip()[2:], out_dir) + "</li>")
                i += 1
            out.append("</ul>" * (depth + 1))
        elif not line.strip():
            flush()
            i += 1
        else:
            para.append(line.strip())
            i += 1
    flush()
    out.append("</section>" * open_sections)
    return "\n".join(out)


def measurement_rows(s: pd.DataFrame, baseline: str, mark) -> tuple[list[str], list[list[str]]]:
    """The long table: one row per measurement, every column the filters and sorting need.
    ``mark(row)`` gives a row's conformance mark (empty, or the report's dagger)."""
    head = ["op", "pass", "dtype", "layout", "shape", "backend", "median ms", "IQR %", "processes", "±95% %",
            f"speed-up over {baseline}", "95% interval", "% floor", "marks", "unstable: cause, modes"]
    rows = []
    size = s["shape"].map(lambda x: math.prod(int(v) for v in str(x).split("x")))
    for _, r in s.assign(_size=size).sort_values(["norm", "op", "dtype", "layout", "_size", "backend"]).iterrows():
        sp = r.get("speedup")
        lo, hi = r.get("sp_low"), r.get("sp_high")
        rows.append([r["norm"], r["op"], r["dtype"], r["layout"], str(r["shape"]), r["backend"],
                     f"{r['median_s'] * 1e3:.4g}",
                     "" if pd.isna(r.get("dispersion")) else f"{100 * r['dispersion']:.0f}",
                     "" if pd.isna(r.get("processes")) else f"{int(r['processes'])}",
                     "" if pd.isna(r.get("half_width")) else f"{100 * r['half_width']:.1f}",
                     "" if pd.isna(sp) else f"{sp:.3g}",
                     "" if pd.isna(lo) or pd.isna(hi) else f"{lo:.3g} \u2013 {hi:.3g}",
                     "" if pd.isna(r.get("floor_fraction")) else f"{100 * r['floor_fraction']:.0f}",
                     mark(r), _unstable_cell(r)])
    return head, rows


def _unstable_cell(r) -> str:
    from .._timing.sequential import unstable_text

    if not r.get("unstable"):
        return ""
    return unstable_text(r.get("unstable_cause"), r.get("modes"), None if pd.isna(r.get("processes")) else int(r["processes"]))


def _asset(name: str) -> str:
    """A file of the page's own (``normbench/_reporting/www``: its stylesheet and script, kept as real files
    as asv keeps ``asv/www``), inlined so the page stays one self-contained file."""
    from importlib.resources import files

    return files("normbench._reporting").joinpath("www", name).read_text(encoding="utf-8")


def write_index(out_dir: Path, title: str, lines: Sequence[str], measurements: tuple[list[str], list[list[str]]] | None,
                top_images: Sequence[Path] = (), header_section: str = "## Runs") -> Path:
    """Write ``out_dir/index.html`` from the report's Markdown ``lines``: the run header section
    (``header_section``) and ``top_images`` first, then every other section, with the
    measurement table after the summary."""
    import json

    body = "\n".join(lines).split("\n")  # a table arrives as one string of several lines
    if body and body[0].startswith("# "):
        body = body[1:]
    start = next((i for i, ln in enumerate(body) if ln.strip() == header_section), None)
    header: list[str] = []
    if start is not None:
        end = next((i for i in range(start + 1, len(body)) if body[i].startswith("## ")), len(body))
        header, body = body[start:end], body[:start] + body[end:]
    parts = [f"<h1>{html.escape(title)}</h1>", '<div id="filters"></div>', markdown_to_html(header, out_dir)]
    if top_images:
        parts.append('<section><h2>Accuracy against speed</h2><div class="top-figures">'
                     + "".join(f'<figure data-op="{html.escape(p.stem.removeprefix("accuracy-vs-speed-"))}">'
                               f"{_image(out_dir, p.name, p.stem)}</figure>" for p in top_images)
                     + "</div></section>")
    rest = markdown_to_html(body, out_dir)
    if measurements:
        head, rows = measurements
        block = f"<section><h2>Every measurement</h2>{table(head, rows, out_dir, 'measurements')}</section>"
        at = rest.find("<section data-op=")
        rest = rest[:at] + block + rest[at:] if at >= 0 else rest + block
    parts.append(rest)
    page = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>{_asset('report.css')}</style></head>\n<body>\n"
            + "\n".join(parts)
            + '\n<script type="application/json" id="normbench-filters">'
            + json.dumps({k: list(v) for k, v in FILTERS.items()}).replace("</", "<\\/") + "</script>"
            + f"\n<script>{_asset('report.js')}</script>"
            + "\n</body></html>\n")
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
