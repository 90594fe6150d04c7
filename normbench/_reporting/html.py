"""``index.html``: the report as one self-contained page (figures embedded, no network access).

The page renders the report's model (:mod:`normbench._reporting.model`), the same blocks the
Markdown comes from, through a Jinja2 template (``templates/page.html.j2``), with the run
header and the accuracy-against-speed figures moved to the top, and one long table of every
measurement. Text inside blocks is rendered span by span (:func:`normbench._reporting.model.spans`);
nothing here parses Markdown. Its stylesheet and script are files of their own (``www/``), inlined. Every table
sorts by a click on its header; one filter bar (op, pass, dtype, layout, backend, free text)
filters the measurement table and every other table that has those columns, hides the other
ops' sections (each section carries its op and pass from its heading's fields), and keeps its
state in the URL's fragment, so a filtered view can be bookmarked
(``index.html#backend=numba&dtype=float32``). Opens from disk in any browser.
"""
from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Sequence

import pandas as pd
from markupsafe import Markup

from .model import Block, Heading, Table, spans, tree

#: the columns the filter bar filters by, with the table headers that hold them
FILTERS = {"op": ("op", "norm"), "pass": ("pass",), "dtype": ("dtype",), "layout": ("layout",),
           "backend": ("backend",)}

def _image(out_dir: Path, name: str, alt: str) -> str:
    """An ``<img>`` with the PNG inlined as a data URL (a missing file: its name, in words)."""
    path = out_dir / name
    if "/" in name or not path.is_file():
        return f'<span class="missing">[figure {html.escape(name)} not found]</span>'
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def inline(text: str, out_dir: Path) -> str:
    """A block's text as HTML, span by span (:func:`normbench._reporting.model.spans`): images
    embedded, links to PNGs embedded as a figure that opens on click, code spans, bold;
    everything else escaped."""
    out = []
    for s in spans(text):
        if s.kind == "code":
            out.append(f"<code>{html.escape(s.text)}</code>")
        elif s.kind == "bold":
            out.append(f"<strong>{html.escape(s.text)}</strong>")
        elif s.kind == "image":
            out.append(_image(out_dir, s.target, s.text))
        elif s.kind == "link" and s.target.endswith(".png"):
            out.append(f"<details class=\"fig\"><summary>{html.escape(s.text)}</summary>"
                       f"{_image(out_dir, s.target, s.text)}</details>")
        elif s.kind == "link" and s.target.startswith(("http://", "https://", "#")):
            out.append(f'<a href="{html.escape(s.target)}">{html.escape(s.text)}</a>')
        elif s.kind == "link":  # a relative link to a file beside the report: its text (the page stands alone)
            out.append(f"{html.escape(s.text)} (<code>{html.escape(s.target)}</code>)")
        else:
            out.append(html.escape(s.text))
    return "".join(out)


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


def _environment(out_dir: Path):
    """The page's Jinja2 environment: autoescaping on, with the report's inline marks (``inline``)
    and its figures embedded (``figure``) as filters."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("normbench._reporting", "templates"),
                             autoescape=True, keep_trailing_newline=True)
    env.filters["inline"] = lambda text: Markup(inline(str(text), out_dir))
    env.filters["figure"] = lambda name, alt: Markup(_image(out_dir, name, alt))
    return env


def write_index(out_dir: Path, title: str, blocks: Sequence[Block], measurements: tuple[list[str], list[list[str]]] | None,
                top_images: Sequence[Path] = (), header_key: str = "runs") -> Path:
    """Write ``out_dir/index.html`` from the report's model (:mod:`normbench._reporting.model`): the
    section whose heading has ``header_key`` (the runs and machines) and ``top_images`` first, then
    the rest, with the table of every measurement before the first op's section."""
    import json

    preamble, sections = tree(blocks)
    preamble = [b for b in preamble if not isinstance(b, Heading)]  # the title is the page's own
    header = [s for s in sections if s.heading.key == header_key]
    rest = [s for s in sections if s.heading.key != header_key]
    first_op = next((i for i, s in enumerate(rest) if s.heading.op), len(rest))
    filters = json.dumps({k: list(v) for k, v in FILTERS.items()}).replace("</", "<\\/")
    page = _environment(out_dir).get_template("page.html.j2").render(
        title=title, css=Markup(_asset("report.css")), js=Markup(_asset("report.js")), filters=Markup(filters),
        header=header, preamble=preamble, before=rest[:first_op], after=rest[first_op:],
        top_images=[(p.stem.removeprefix("accuracy-vs-speed-"), p.name, p.stem) for p in top_images],
        measurements=Table(*measurements, id="measurements") if measurements else None)
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
