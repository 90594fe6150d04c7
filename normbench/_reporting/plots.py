"""PNG plots for reports (matplotlib, headless), each sized for a screen.

- a summary heatmap: backend x (op, pass), coloured by geometric-mean speed-up, interval in each cell;
- per op and pass: speed-up per shape as dots with interval whiskers, one panel per layout
  (small multiples, not one long strip), or a heatmap where the op's two heatmap axes fill at
  least :data:`HEATMAP_FILL` of the grid;
- per op, pass, dtype and layout: time (IQR error bars) and GB/s (with the copy floor as a line)
  along each of the op's plotted axes (``OpInfo.plots``), where the grid has at least
  :data:`MIN_LINE_POINTS` sizes along it (two points make a line that says little);
- per op: accuracy against speed, each backend's worst error on the op's cases (a multiple of
  the tolerance) against its speed-up.

Every figure is at most :data:`MAX_PX` pixels on each side at :data:`DPI`, with text of at
least :data:`FONT_PT` points. Speed-up colours use one fixed, symmetric log range (1/8x to 8x)
so two figures can be compared, and shapes of different rank (2-D and 4-D) are never pooled.
"""
from __future__ import annotations

import math
import statistics
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from ..opinfo import OpInfo, rank_of

METRICS = {"time": ("median_s", "time (ms)", 1e3), "gbps": ("gbps", "GB/s", 1.0)}
DPI = 110
#: no figure is larger than this on either side, in pixels
MAX_PX = 2000
MAX_IN = (MAX_PX - 10) / DPI
#: the smallest text in any figure, in points
FONT_PT = 9
#: a line plot needs this many sizes along its axis; with fewer, the speed-up dots say it
MIN_LINE_POINTS = 3
#: heatmap colour range: log2 speed-up in [-3, 3], i.e. 1/8x .. 8x
HEAT_LIMIT = 3.0
#: a heatmap is drawn only when this fraction of its cells has a value; else grouped bars
HEATMAP_FILL = 0.75


#: one colour per backend in every plot of every report (tab10's), so numba is the same colour everywhere;
#: a backend not listed gets one of tab20's from a stable hash of its name (crc32: not salted per process)
COLOURS = {"torch-cpu": "#1f77b4", "numba": "#ff7f0e", "numpy": "#2ca02c", "torch-compile": "#d62728",
           "onnxruntime": "#9467bd", "keras-torch": "#8c564b", "keras-jax": "#e377c2", "flax": "#7f7f7f",
           "flax-nnx": "#bcbd22", "torch-cuda": "#17becf", "keras-tensorflow": "#393b79"}


def colour_of(backend: str) -> str:
    if backend in COLOURS:
        return COLOURS[backend]
    import zlib

    from matplotlib import colormaps

    r, g, b, _ = colormaps["tab20"](zlib.crc32(backend.encode()) % 20)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": FONT_PT, "axes.titlesize": FONT_PT + 1, "axes.labelsize": FONT_PT,
                         "xtick.labelsize": FONT_PT, "ytick.labelsize": FONT_PT, "legend.fontsize": FONT_PT,
                         "figure.titlesize": FONT_PT + 2})
    return plt


def _size(w: float, h: float) -> tuple[float, float]:
    """A figure size in inches, capped so neither side passes MAX_PX at DPI."""
    return min(w, MAX_IN), min(h, MAX_IN)


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)  # no bbox "tight": the size stays the one chosen
    _plt().close(fig)
    return path


def _title(ax, text: str, width: int = 60) -> None:
    ax.set_title("\n".join(textwrap.wrap(text, width)), fontsize=FONT_PT + 1)


def _most_common(df: pd.DataFrame, cols: list[str]):
    if not cols:
        return ()
    counts = df.groupby(cols).size()
    if not len(counts):
        return None
    key = counts.idxmax()
    return key if isinstance(key, tuple) else (key,)


def _whiskers(values, low, high):
    """Error-bar extents (below, above) from interval ends; zero where there is no interval."""
    v, lo, hi = (np.asarray(a, dtype=float) for a in (values, low, high))
    below = np.where(np.isnan(lo), 0.0, np.clip(v - lo, 0, None))
    above = np.where(np.isnan(hi), 0.0, np.clip(hi - v, 0, None))
    return np.vstack([below, above])


def _log2_ratio_axis(ax, axis: str = "x") -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator

    getattr(ax, f"set_{axis}scale")("log", base=2)
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(LogLocator(base=2))
    target.set_major_formatter(FuncFormatter(lambda v, _: _ratio_text(v)))


def _ratio_text(v: float) -> str:
    """2x, 1x, 1/4x: a power of two as people say it."""
    return f"{v:g}x" if v >= 1 or v <= 0 else f"1/{1 / v:g}x"


def _heat_colour(cmap, value: float):
    """(face colour, text colour) of a speed-up on the fixed log range."""
    r, g, b, _ = cmap((np.clip(np.log2(value), -HEAT_LIMIT, HEAT_LIMIT) + HEAT_LIMIT) / (2 * HEAT_LIMIT))
    return (r, g, b), "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black"


def summary_plot(gm: pd.DataFrame, path: Path, baseline: str, failed: frozenset = frozenset()) -> Path | None:
    """One compact heatmap of geometric-mean speed-ups: a panel per op (small multiples), a row per
    backend, a column per pass; each cell coloured on the fixed log range, with the geomean, its
    95% interval and a dagger where ``failed`` holds (backend, op): the backend failed conformance
    for some dtype and layout measured on that op. The newest run of each machine."""
    if gm.empty:
        return None
    plt = _plt()
    last = gm[(gm["run"] == gm.groupby("machine")["run"].transform("max")) & (gm["backend"] != baseline)]
    if last.empty:
        return None
    several = last["machine"].nunique() > 1
    last = last.assign(label=last["backend"] + (" (" + last["machine"] + ")" if several else ""))
    ops = list(dict.fromkeys(last["norm"]))
    passes = {o: list(dict.fromkeys(last.loc[last["norm"] == o, "op"])) for o in ops}
    labels = sorted(last["label"].unique())
    cell_w, cell_h, left, right = 1.05, 0.5, 1.9, 1.1
    per_row = max(1, int((MAX_IN - left - right) / cell_w))
    rows: list[list[str]] = [[]]
    for o in ops:  # ops in rows of panels, each row as wide as a screen allows
        if rows[-1] and sum(len(passes[x]) for x in rows[-1]) + len(passes[o]) > per_row:
            rows.append([])
        rows[-1].append(o)
    cols = max(sum(len(passes[o]) for o in r) for r in rows)
    panel_h = len(labels) * cell_h + 0.9
    fig = plt.figure(figsize=_size(left + right + cols * cell_w, len(rows) * panel_h + 0.7))
    cmap = plt.get_cmap("RdYlGn")
    gs = fig.add_gridspec(len(rows), cols + 1, width_ratios=[1] * cols + [0.25], left=left / fig.get_figwidth(),
                          right=0.98, top=1 - 0.55 / fig.get_figheight(), bottom=0.35 / fig.get_figheight(),
                          hspace=0.9 / cell_h / max(1, len(labels)), wspace=0.08)
    image = None
    for i, row in enumerate(rows):
        at = 0
        for o in row:
            ps = passes[o]
            ax = fig.add_subplot(gs[i, at:at + len(ps)])
            at += len(ps)
            sel = last[last["norm"] == o]
            data = np.full((len(labels), len(ps)), np.nan)
            for r in sel.itertuples():
                data[labels.index(r.label), ps.index(r.op)] = r.speedup
            image = ax.imshow(np.clip(np.log2(data), -HEAT_LIMIT, HEAT_LIMIT), cmap=cmap, vmin=-HEAT_LIMIT,
                              vmax=HEAT_LIMIT, aspect="auto")
            for r in sel.itertuples():
                y, x = labels.index(r.label), ps.index(r.op)
                if pd.isna(r.speedup):
                    continue
                _, ink = _heat_colour(cmap, r.speedup)
                lo, hi = getattr(r, "low", np.nan), getattr(r, "high", np.nan)
                text = f"{r.speedup:.2f}x" + (" \u2020" if (r.backend, o) in failed else "")
                if not pd.isna(lo) and not pd.isna(hi):
                    text += f"\n{lo:.2f}\u2013{hi:.2f}"
                ax.text(x, y, text, ha="center", va="center", fontsize=FONT_PT, color=ink)
            for y, x in zip(*np.where(np.isnan(data))):
                ax.text(x, y, "\u2014", ha="center", va="center", fontsize=FONT_PT, color="gray")
            ax.set_xticks(range(len(ps)), ps)
            ax.xaxis.tick_top()
            ax.set_yticks(range(len(labels)), labels if o == row[0] else [""] * len(labels))
            ax.set_xlabel(o, fontsize=FONT_PT + 1)
            ax.tick_params(length=0)
    if image is not None:
        cax = fig.add_subplot(gs[:, cols])
        bar = fig.colorbar(image, cax=cax, ticks=[-3, -2, -1, 0, 1, 2, 3])
        bar.ax.set_yticklabels(["1/8x", "1/4x", "1/2x", "1x", "2x", "4x", "8x"])
        bar.set_label(f"speed-up over {baseline}")
    fig.suptitle(f"Geometric-mean speed-up over {baseline} per op and pass (95% interval below; "
                 "\u2020 failed conformance on that op; \u2014 not measured)", fontsize=FONT_PT + 1)
    return _save(fig, path)


def make_plots(s: pd.DataFrame, op: OpInfo, out_dir: Path, baseline: str, failing=None) -> list[Path]:
    """The op's figures per machine and run: per pass and dtype, speed-up dots with a panel per
    layout and rank (or heatmaps where the grid fills them); per pass, dtype, layout and rank,
    line plots along the op's plotted axes. ``failing`` (:class:`normbench._reporting.report.Failures`)
    draws the configurations where a backend failed conformance hollow."""
    images: list[Path] = []
    axes = [a for a in op.axes if a in s]
    s = s.dropna(subset=axes).assign(_rank=s["shape"].map(rank_of))
    n_runs = len(s[["machine", "run"]].drop_duplicates())
    one_run_each = n_runs == s["machine"].nunique()
    for (machine, run), m in s.groupby(["machine", "run"], sort=False):
        tag = "" if n_runs == 1 else f"-{machine}" if one_run_each else f"-{machine}-{run}"
        for (dtype, pass_), gp in m.groupby(["dtype", "op"], sort=False):
            several = gp["_rank"].nunique() > 1
            dotted = []
            for (layout, rank), gr in gp.groupby(["layout", "_rank"], sort=False):
                rank_tag = f"-{rank}d" if several else ""
                what = f"{op.name} {pass_}, {dtype}, {layout}" + (f", {rank}-D" if several else "")
                stem = f"{op.name}-{pass_}-{dtype}-{layout}{rank_tag}{tag}"
                for x, metric in op.plots.lines:
                    fixed = [a for a in axes if a != x]
                    images += _line(gr, x, fixed, metric, out_dir / f"{metric}-vs-{x}-{stem}.png", what)
                heat = _heatmaps(gr, op, baseline, out_dir, stem, what) if baseline else []
                images += heat
                if not heat:
                    dotted.append(gr)
            if baseline and dotted:
                images += _dots(pd.concat(dotted), op, baseline, failing,
                                out_dir / f"speedups-{op.name}-{pass_}-{dtype}{tag}.png",
                                f"{op.name} {pass_}, {dtype}: speed-up over {baseline} per shape")
    return images


def _line(g, x, fixed, metric, path: Path, title: str) -> list[Path]:
    column, ylabel, scale = METRICS[metric]
    key = _most_common(g, fixed)
    if key is None:
        return []
    sel = g
    for col, value in zip(fixed, key):
        sel = sel[sel[col] == value]
    if sel[x].nunique() < MIN_LINE_POINTS:
        return []
    plt = _plt()
    fig, ax = plt.subplots(figsize=_size(6.5, 4.5))
    for backend, b in sel.groupby("backend"):
        b = b.sort_values(x)
        if metric == "time" and b["q1_s"].notna().any():
            ax.errorbar(b[x], b[column] * scale, yerr=_whiskers(b[column] * scale, b["q1_s"] * scale, b["q3_s"] * scale),
                        marker="o", capsize=3, label=backend, color=colour_of(backend))
        else:
            ax.plot(b[x], b[column] * scale, marker="o", label=backend, color=colour_of(backend))
    if metric == "gbps" and sel["copy_gbps"].notna().any():
        floor = sel.groupby(x)["copy_gbps"].median().sort_index()
        ax.plot(floor.index, floor.values, linestyle="--", color="gray", label="copy floor")
    ax.set_xscale("log", base=2)
    from matplotlib.ticker import NullLocator

    ticks = sorted(sel[x].unique())
    ax.set_xticks(ticks, [f"{int(v)}" for v in ticks])  # the grid's own sizes, not powers of two
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel + (" (bars: IQR)" if metric == "time" else ""))
    held = ", ".join(f"{c}={int(v)}" for c, v in zip(fixed, key))
    _title(ax, f"{title}; {held}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return [_save(fig, path)]


def _heatmaps(g, op: OpInfo, baseline: str, out_dir: Path, stem: str, what: str) -> list[Path]:
    """One heatmap per backend over the op's heatmap axes, where they fill the grid; else none."""
    g = g[g["backend"] != baseline].dropna(subset=["speedup"])
    heat = op.plots.heatmap
    if g.empty or not heat or not all(a in g for a in heat):
        return []
    row, col = heat
    cells = g[row].nunique() * g[col].nunique()
    if g[row].nunique() < 2 or g[col].nunique() < 2 or g.groupby([row, col]).ngroups < HEATMAP_FILL * cells:
        return []
    return [p for backend in sorted(g["backend"].unique())
            for p in _heatmap(g[g["backend"] == backend], heat, out_dir / f"speedup-{backend}-{stem}.png",
                              f"{backend} vs {baseline}: {what}")]


#: the most shapes a speed-up dot panel shows; a larger grid is left to the tables
MAX_DOT_SHAPES = 24


def _size_of(shape) -> int:
    return math.prod(int(v) for v in str(shape).split("x"))


def _dots(g, op: OpInfo, baseline: str, failing, path: Path, title: str) -> list[Path]:
    """Speed-up per shape (rows) and backend (dots, 95% interval whiskers), a panel per layout and
    rank, the shapes smallest first. Hollow: the backend failed conformance there."""
    g = g[g["backend"] != baseline].dropna(subset=["speedup"])
    if g.empty:
        return []
    panels = [(f"{layout}" + (f", {rank}-D" if g["_rank"].nunique() > 1 else ""), p)
              for (layout, rank), p in g.groupby(["layout", "_rank"], sort=False)]
    if max(p["shape"].nunique() for _, p in panels) > MAX_DOT_SHAPES:
        return []
    backends = sorted(g["backend"].unique())
    ncols = min(len(panels), 3)
    nrows = math.ceil(len(panels) / ncols)
    tallest = max(p["shape"].nunique() for _, p in panels)
    row_in = max(0.35, 0.11 * len(backends) + 0.12)  # one shape's band: a dot per backend
    legend_rows = math.ceil(len(backends) / 5)
    height = min(MAX_IN - 1.5, nrows * (tallest * row_in + 0.9)) + 0.9 + 0.25 * legend_rows
    plt = _plt()
    height += 0.2 if ncols == 1 else 0.0  # a one-panel figure's title takes two lines
    fig, axs = plt.subplots(nrows, ncols, figsize=_size(1.6 + 4.6 * ncols, height), squeeze=False)
    step = min(0.8 / len(backends), 0.22)
    for ax, (label, p) in zip(axs.flat, panels):
        shapes = sorted(p["shape"].unique(), key=_size_of)
        for i, b in enumerate(backends):
            sel = p[p["backend"] == b].groupby("shape").first().reindex(shapes)
            y = np.arange(len(shapes)) + (i - (len(backends) - 1) / 2) * step
            bad = np.array([bool(failing and not pd.isna(v) and failing.failed(op.name, b, r.dtype, r.layout, sh))
                            for sh, v, r in zip(shapes, sel["speedup"], sel.itertuples())])
            for mask, face in ((~bad, colour_of(b)), (bad, "white")):
                if mask.any():
                    ax.errorbar(sel["speedup"][mask], y[mask],
                                xerr=_whiskers(sel["speedup"][mask], sel["sp_low"][mask], sel["sp_high"][mask]),
                                fmt="o", ms=4.5, color=colour_of(b), mfc=face, capsize=2, linewidth=1,
                                label=b if mask is not bad or not (~bad).any() else None)
        ax.axvline(1.0, color="black", linewidth=0.8)
        _log2_ratio_axis(ax, "x")
        ax.set_yticks(range(len(shapes)), shapes)
        ax.set_ylim(len(shapes) - 0.5, -0.5)
        ax.set_title(label)
        ax.grid(True, axis="x", which="both", alpha=0.3)
        ax.set_xlabel("speed-up (> 1: faster)")
    for ax in list(axs.flat)[len(panels):]:
        ax.set_visible(False)
    handles = {h.get_label(): h for ax in axs.flat for h in ax.get_legend_handles_labels()[0]}
    fig.legend([handles[b] for b in backends if b in handles], [b for b in backends if b in handles],
               loc="lower center", ncol=min(5, len(backends)), frameon=False)
    width = 1.6 + 4.6 * ncols
    fig.suptitle("\n".join(textwrap.wrap(title + "; whiskers: 95% interval; hollow: failed conformance there",
                                          int(width * 10))))
    fig.tight_layout(rect=(0, (0.25 * legend_rows + 0.2) / height, 1, 1))
    return [_save(fig, path)]


def _heatmap(g, rows_cols: tuple[str, str], path: Path, title: str) -> list[Path]:
    row, col = rows_cols
    table = g.pivot_table(index=row, columns=col, values="speedup", aggfunc=lambda v: statistics.geometric_mean(v))
    plt = _plt()
    cmap = plt.get_cmap("RdYlGn")
    fig, ax = plt.subplots(figsize=_size(1.2 * table.shape[1] + 2.8, 0.6 * table.shape[0] + 2))
    data = np.clip(np.log2(table.values.astype(float)), -HEAT_LIMIT, HEAT_LIMIT)
    im = ax.imshow(data, cmap=cmap, vmin=-HEAT_LIMIT, vmax=HEAT_LIMIT, aspect="auto")
    ax.set_xticks(range(table.shape[1]), [str(int(c)) for c in table.columns])
    ax.set_yticks(range(table.shape[0]), [str(int(b)) for b in table.index])
    ax.set_xlabel(col)
    ax.set_ylabel(row)
    for i in range(table.shape[0]):
        for j in range(table.shape[1]):
            v = table.values[i, j]
            if np.isnan(v):
                continue
            _, ink = _heat_colour(cmap, v)
            ax.text(j, i, f"{v:.2f}x", ha="center", va="center", fontsize=FONT_PT, color=ink)
    several = len(g) > g.groupby([row, col]).ngroups
    _title(ax, title + (" (geometric mean over the other axes)" if several else ""), 50)
    cbar = fig.colorbar(im, ax=ax, ticks=[-3, -2, -1, 0, 1, 2, 3])
    cbar.ax.set_yticklabels(["1/8x", "1/4x", "1/2x", "1x", "2x", "4x", "8x"])
    cbar.set_label("speed-up")
    fig.tight_layout()
    return [_save(fig, path)]


#: errors below this multiple of the tolerance are drawn on it (exact answers have no log)
ERROR_FLOOR = 1e-3
#: marker and legend text per conformance verdict
VERDICT_STYLE = {"pass": ("o", "every case passes"), "known": ("s", "known failures (recorded defects)"),
                 "fail": ("X", "unexpected failures"), "error": ("^", "errors or crashes")}


def accuracy_speed_plot(points: pd.DataFrame, path: Path, op_name: str, baseline: str) -> Path | None:
    """Accuracy against speed for one op: x, each backend's geometric-mean speed-up over
    ``baseline`` on the op's configurations (95% interval whiskers); y, its worst error on the
    op's conformance cases as a multiple of the tolerance (log; 1 is the tolerance). Marker by
    verdict (:data:`VERDICT_STYLE`), each point labelled. ``points``: backend, speedup, low,
    high, worst, verdict, as :func:`normbench._reporting.report.accuracy_speed` makes them."""
    p = points.dropna(subset=["speedup"])
    unmeasured = (p["unmeasured"] if "unmeasured" in p else pd.Series(0, index=p.index)).fillna(0).astype(int)
    p = p[p["worst"].notna() | (unmeasured > 0)]
    if p.empty:
        return None
    unmeasured = unmeasured.loc[p.index].to_numpy()
    plt = _plt()
    fig, ax = plt.subplots(figsize=_size(7.5, 5.6))
    y = np.maximum(p["worst"].to_numpy(dtype=float), ERROR_FLOOR)
    finite = y[np.isfinite(y)]
    # an infinite error, or a failure with no error figure and no measured one above the tolerance,
    # is drawn on a line of its own at the top: it must not sit among the right answers
    inf_at = 10.0 ** min(300, math.ceil(math.log10(max(10.0, min(finite.max(), 1e299) if finite.size else 1.0))) + 1)
    top = ~np.isfinite(y) | ((unmeasured > 0) & ~(y > 1.0))
    y = np.where(top, inf_at, y)
    placed: list[tuple[float, float, int]] = []  # labels drawn so far: (log x, log y, lines down)
    for verdict, (marker, text) in VERDICT_STYLE.items():
        sel = (p["verdict"] == verdict).to_numpy()
        if not sel.any():
            continue
        q = p[sel]
        for r, yy in zip(q.itertuples(), y[sel]):
            ax.errorbar([r.speedup], [yy], xerr=_whiskers([r.speedup], [r.low], [r.high]), fmt=marker, ms=8,
                        color=colour_of(r.backend), mec="black" if verdict != "pass" else colour_of(r.backend),
                        capsize=3, linewidth=1)
            n = int(getattr(r, "unmeasured", 0) or 0)
            label = r.backend + (f" (+{n} without a figure)" if n else "")
            lx, ly = math.log2(r.speedup), math.log10(yy)
            down = sum(1 for px, py, _ in placed if abs(px - lx) < 1.2 and abs(py - ly) < 0.35)
            placed.append((lx, ly, down))  # a neighbour's label is there already: this one goes below
            ax.annotate(label, (r.speedup, yy), textcoords="offset points", xytext=(6, 5 - 12 * down),
                        fontsize=FONT_PT)
        ax.plot([], [], marker, color="gray", label=text, linestyle="none")
    ax.axhline(1.0, color="firebrick", linewidth=1, linestyle="--")
    if (y == inf_at).any():
        ax.axhline(inf_at, color="gray", linewidth=0.8, linestyle=":",
                   label="dotted: infinite error, or failed without an error figure")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.text(0.005, 1.0, "tolerance", transform=ax.get_yaxis_transform(), color="firebrick", va="bottom",
            fontsize=FONT_PT)
    _log2_ratio_axis(ax, "x")
    xs = np.concatenate([p["speedup"].to_numpy(float), p["low"].dropna().to_numpy(float),
                         p["high"].dropna().to_numpy(float), [1.0]])
    ax.set_xlim(xs.min() / 1.4, xs.max() * 1.6)  # room for the labels right of the points
    ax.set_yscale("log")
    lo, hi = ax.get_ylim()
    ax.set_ylim(min(lo, ERROR_FLOOR / 2), max(hi, 10.0, inf_at * 4 if (y == inf_at).any() else 0))
    ax.set_xlabel(f"speed-up over {baseline} (geometric mean over the op's configurations; > 1: faster)")
    ax.set_ylabel(f"worst error / tolerance (floor {ERROR_FLOOR:g})")
    _title(ax, f"{op_name}: accuracy against speed. Fast and right is bottom right; above the dashed line a "
               "backend gave a wrong answer on some case", 80)
    ax.grid(True, which="both", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    ncol = len(labels) if len(labels) <= 2 else 2
    fig.legend(handles, labels, loc="lower center", ncol=ncol, frameon=False)
    rows = math.ceil(len(labels) / ncol) if labels else 1
    fig.tight_layout(rect=(0, 0.04 + 0.035 * rows, 1, 1))  # the legend below the axes: no point hides behind it
    return _save(fig, path)
