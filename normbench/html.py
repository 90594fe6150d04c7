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
    from .sequential import unstable_text

    if not r.get("unstable"):
        return ""
    return unstable_text(r.get("unstable_cause"), r.get("modes"), None if pd.isna(r.get("processes")) else int(r["processes"]))


STYLE = """
[hidden]{display:none!important}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1400px;padding:0 1.2em 3em;
 color:#1b1b1b;line-height:1.45}
h1{margin-top:.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
img{max-width:100%;height:auto;border:1px solid #eee}
code{background:#f3f3f3;padding:0 .25em;border-radius:3px}
table{border-collapse:collapse;margin:.6em 0;font-size:13px;display:block;overflow-x:auto;max-width:100%}
th,td{border:1px solid #d6d6d6;padding:3px 7px;text-align:left;vertical-align:top;white-space:nowrap}
th{background:#f4f6f8;cursor:pointer;position:sticky;top:0;user-select:none}
th.asc::after{content:" \\25B2"}th.desc::after{content:" \\25BC"}
tr:nth-child(even) td{background:#fafafa}
#filters{position:sticky;top:0;z-index:2;background:#fff;border-bottom:1px solid #ccc;padding:.5em 0;display:flex;
 flex-wrap:wrap;gap:.8em;align-items:center}
#filters label{font-size:13px}#filters select,#filters input{font-size:13px;margin-left:.3em}
#shown{font-size:13px;color:#555}
details.fig{display:inline-block;margin:.2em .6em .2em 0}details.fig[open]{display:block}
.missing{color:#a00}
.top-figures figure{display:inline-block;max-width:49%;margin:0;vertical-align:top}.top-figures img{max-width:100%}
"""

SCRIPT = r"""
(function () {
  const FILTERS = %FILTERS%;
  const bar = document.getElementById('filters');
  const selects = {};
  // a cell's value for the filters: its first word ("numba \u2020" and "numba (machine)" are numba)
  function key_of(cell) { return cell ? cell.textContent.trim().split(/\s+/)[0] : ''; }
  function columnIndex(table, names) {
    const ths = Array.from(table.tHead ? table.tHead.rows[0].cells : []);
    return ths.findIndex(th => names.includes(th.dataset.col));
  }
  function values(key) {
    const seen = new Set();
    document.querySelectorAll('table.data').forEach(t => {
      const c = columnIndex(t, FILTERS[key]);
      if (c < 0) return;
      Array.from(t.tBodies[0].rows).forEach(r => { const v = key_of(r.cells[c]); if (v) seen.add(v); });
    });
    document.querySelectorAll('section[data-' + key + ']').forEach(s => seen.add(s.dataset[key]));
    return Array.from(seen).sort();
  }
  Object.keys(FILTERS).forEach(key => {
    const label = document.createElement('label');
    label.textContent = key;
    const sel = document.createElement('select');
    sel.id = 'filter-' + key;
    sel.appendChild(new Option('all', ''));
    values(key).forEach(v => sel.appendChild(new Option(v, v)));
    sel.addEventListener('change', apply);
    label.appendChild(sel);
    bar.appendChild(label);
    selects[key] = sel;
  });
  const BACKENDS_LOWER = values('backend').map(b => b.toLowerCase());
  const text = document.createElement('input');
  text.type = 'search'; text.id = 'filter-text'; text.placeholder = 'text in a row';
  text.addEventListener('input', apply);
  const tl = document.createElement('label'); tl.textContent = 'search'; tl.appendChild(text); bar.appendChild(tl);
  const shown = document.createElement('span'); shown.id = 'shown'; bar.appendChild(shown);

  function apply() {
    const want = {};
    Object.keys(selects).forEach(k => { if (selects[k].value) want[k] = selects[k].value; });
    const needle = text.value.trim().toLowerCase();
    document.querySelectorAll('[data-op]').forEach(s => {
      s.hidden = !!want.op && s.dataset.op !== want.op;
    });
    document.querySelectorAll('section[data-pass]').forEach(s => {
      if (!s.hidden) s.hidden = !!want.pass && s.dataset.pass !== want.pass;
    });
    let visible = 0, total = 0;
    document.querySelectorAll('table.data').forEach(t => {
      const cols = {};
      Object.keys(want).forEach(k => { cols[k] = columnIndex(t, FILTERS[k]); });
      const ths = Array.from(t.tHead.rows[0].cells);
      // per-pass tables have a column per backend: the backend filter hides the others
      const backendCols = ths.map((th, i) => [th.dataset.col, i]).filter(([c]) => BACKENDS_LOWER.includes(c));
      backendCols.forEach(([c, i]) => {
        const hide = !!want.backend && c !== want.backend.toLowerCase() && cols.backend === -1;
        ths[i].hidden = hide;
        Array.from(t.tBodies[0].rows).forEach(r => { if (r.cells[i]) r.cells[i].hidden = hide; });
      });
      Array.from(t.tBodies[0].rows).forEach(r => {
        let ok = Object.keys(want).every(k => cols[k] < 0 || key_of(r.cells[cols[k]]) === want[k]);
        if (ok && needle) ok = r.textContent.toLowerCase().includes(needle);
        r.hidden = !ok;
        if (t.id === 'measurements') { total += 1; if (ok) visible += 1; }
      });
    });
    shown.textContent = visible + ' of ' + total + ' measurements shown';
    const frag = Object.entries(want).map(([k, v]) => k + '=' + encodeURIComponent(v));
    if (needle) frag.push('text=' + encodeURIComponent(needle));
    history.replaceState(null, '', frag.length ? '#' + frag.join('&') : location.pathname + location.search);
  }

  function sortKey(text) {
    const m = text.replace(/,/g, '').match(/^[~\s]*(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)/i);
    return m ? parseFloat(m[1]) : null;
  }
  document.querySelectorAll('table.data').forEach(t => {
    Array.from(t.tHead.rows[0].cells).forEach((th, i) => th.addEventListener('click', () => {
      const asc = !th.classList.contains('asc');
      Array.from(t.tHead.rows[0].cells).forEach(h => h.classList.remove('asc', 'desc'));
      th.classList.add(asc ? 'asc' : 'desc');
      const rows = Array.from(t.tBodies[0].rows);
      rows.sort((a, b) => {
        const x = a.cells[i] ? a.cells[i].textContent.trim() : '', y = b.cells[i] ? b.cells[i].textContent.trim() : '';
        const nx = sortKey(x), ny = sortKey(y);
        let c = (nx !== null && ny !== null) ? nx - ny : 0;
        if (c === 0) c = x.localeCompare(y, undefined, {numeric: true});  // 1024x768 before 1024x4096
        return asc ? c : -c;
      });
      rows.forEach(r => t.tBodies[0].appendChild(r));
    }));
  });
  if (location.hash.length > 1) {
    location.hash.slice(1).split('&').forEach(kv => {
      let k, v;
      try { [k, v] = kv.split('=').map(decodeURIComponent); } catch (e) { return; }  // a malformed fragment
      if (selects[k]) {
        if (!Array.from(selects[k].options).some(o => o.value === v)) selects[k].appendChild(new Option(v, v));
        selects[k].value = v;
      } else if (k === 'text') text.value = v;
    });
  }
  apply();
})();
"""


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
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>\n"
            + "\n".join(parts)
            + f"\n<script>{SCRIPT.replace('%FILTERS%', json.dumps({k: list(v) for k, v in FILTERS.items()}))}</script>"
            + "\n</body></html>\n")
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
