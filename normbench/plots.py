"""PNG plots for reports (matplotlib, headless).

- a summary figure: each backend's geometric-mean speed-up per op and pass, with interval whiskers;
- per op, pass, dtype and layout: time (IQR error bars) and GB/s (with the copy floor as a line)
  along each of the op's plotted axes (``OpInfo.plots``);
- speed-ups per shape as grouped bars with interval whiskers, or as a heatmap where the op's two
  heatmap axes fill at least :data:`HEATMAP_FILL` of the grid (a sparse diagonal says more as bars).

Heatmaps use one fixed, symmetric colour range (1/8x to 8x) so two of them can be compared, and
shapes of different rank (2-D and 4-D) are never pooled into one cell or one line.
"""
from __future__ import annotations

import math
import statistics
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from .opinfo import OpInfo, rank_of

METRICS = {"time": ("median_s", "time (ms)", 1e3), "gbps": ("gbps", "GB/s", 1.0)}
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

    return plt


def _title(ax, text: str, width: int = 60) -> None:
    ax.set_title("\n".join(textwrap.wrap(text, width)), fontsize=9)


def _most_common(df: pd.DataFrame, cols: list[str]):
    if not cols:
        return ()
    counts = df.groupby(cols).size()
    if not len(counts):
        return None
    key = counts.idxmax()
    return key if isinstance(key, tuple) else (key,)


def _ratio_axis(ax) -> None:
    """Log-2 y axis labelled as ratios (0.25x, 1x, 4x)."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    ax.set_yscale("log", base=2)
    ax.yaxis.set_major_locator(LogLocator(base=2))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))


def _whiskers(values, low, high):
    """Error-bar extents (below, above) from interval ends; zero where there is no interval."""
    v, lo, hi = (np.asarray(a, dtype=float) for a in (values, low, high))
    below = np.where(np.isnan(lo), 0.0, np.clip(v - lo, 0, None))
    above = np.where(np.isnan(hi), 0.0, np.clip(hi - v, 0, None))
    return np.vstack([below, above])


def summary_plot(gm: pd.DataFrame, path: Path, baseline: str) -> Path | None:
    """Geometric-mean speed-up per op and pass (x) and backend (bars), newest run of each machine."""
    if gm.empty:
        return None
    plt = _plt()
    last = gm[gm["run"] == gm.groupby("machine")["run"].transform("max")]
    if last["machine"].nunique() > 1:
        last = last.assign(backend=last["backend"] + " (" + last["machine"] + ")")
    groups = list(dict.fromkeys(f"{r.norm}\n{r.op}" for r in last.itertuples()))
    backends = sorted(last["backend"].unique())
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(groups) * max(1, len(backends)) / 2 + 2), 4.2))
    width = 0.8 / max(1, len(backends))
    for i, b in enumerate(backends):
        sel = last[last["backend"] == b].set_index(last[last["backend"] == b].apply(lambda r: f"{r.norm}\n{r.op}", axis=1))
        sel = sel.reindex(groups)
        x = np.arange(len(groups)) + (i - (len(backends) - 1) / 2) * width
        ax.bar(x, sel["speedup"] - 1, width, bottom=1, label=b, color=colour_of(b), yerr=_whiskers(sel["speedup"], sel["low"], sel["high"]),
               capsize=2)  # bars grow from 1x: up is faster, down is slower
    ax.axhline(1.0, color="black", linewidth=0.8)
    _ratio_axis(ax)
    ax.set_xticks(range(len(groups)), groups, fontsize=8)
    ax.set_ylabel(f"speed-up over {baseline} (geometric mean)")
    _title(ax, f"Speed-up over {baseline} per op and pass; whiskers: 95% interval (measurement noise)", 80)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def make_plots(s: pd.DataFrame, op: OpInfo, out_dir: Path, baseline: str) -> list[Path]:
    """The op's line plots and speed-up bars or heatmaps, per machine, run, dtype, layout, pass and rank."""
    images: list[Path] = []
    axes = [a for a in op.axes if a in s]
    s = s.dropna(subset=axes).assign(_rank=s["shape"].map(rank_of))
    n_runs = len(s[["machine", "run"]].drop_duplicates())
    one_run_each = n_runs == s["machine"].nunique()
    for (machine, run), m in s.groupby(["machine", "run"], sort=False):
        tag = "" if n_runs == 1 else f"-{machine}" if one_run_each else f"-{machine}-{run}"
        for (dtype, layout), g in m.groupby(["dtype", "layout"]):
            for pass_, go in g.groupby("op"):
                several = go["_rank"].nunique() > 1
                in_heatmaps = set()
                for rank, gr in go.groupby("_rank"):
                    rank_tag = f"-{rank}d" if several else ""
                    what = f"{op.name} {pass_}, {dtype}, {layout}" + (f", {rank}-D" if several else "")
                    stem = f"{op.name}-{pass_}-{dtype}-{layout}{rank_tag}{tag}"
                    for x, metric in op.plots.lines:
                        fixed = [a for a in axes if a != x]
                        images += _line(gr, x, fixed, metric, out_dir / f"{metric}-vs-{x}-{stem}.png", what)
                    heat = _heatmaps(gr, op, baseline, out_dir, stem, what) if baseline else []
                    if heat:
                        images += heat
                        in_heatmaps.add(rank)
                rest = go[~go["_rank"].isin(in_heatmaps)]
                if baseline and not rest.empty:
                    images += _bars(rest, baseline, out_dir / f"bars-{op.name}-{pass_}-{dtype}-{layout}{tag}.png",
                                    f"speed-up over {baseline}: {op.name} {pass_}, {dtype}, {layout}")
    return images


def _line(g, x, fixed, metric, path: Path, title: str) -> list[Path]:
    column, ylabel, scale = METRICS[metric]
    key = _most_common(g, fixed)
    if key is None:
        return []
    sel = g
    for col, value in zip(fixed, key):
        sel = sel[sel[col] == value]
    if sel[x].nunique() < 2:
        return []
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
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
    ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel + (" (bars: IQR)" if metric == "time" else ""))
    held = ", ".join(f"{c}={int(v)}" for c, v in zip(fixed, key))
    _title(ax, f"{title}; {held}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


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


def _bars(g, baseline: str, path: Path, title: str) -> list[Path]:
    """Speed-up per shape (x) and backend (bars), with 95% interval whiskers."""
    g = g[g["backend"] != baseline].dropna(subset=["speedup"])
    if g.empty:
        return []
    shapes = sorted(g["shape"].unique(), key=lambda sh: math.prod(int(v) for v in str(sh).split("x")))
    if len(shapes) > 24:
        return []  # a wide grid without a filled heatmap: the tables say it better than 100 bars
    backends = sorted(g["backend"].unique())
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(5.0, 0.5 * len(shapes) * len(backends) + 2), 4))
    width = 0.8 / len(backends)
    for i, b in enumerate(backends):
        sel = g[g["backend"] == b].groupby("shape").first().reindex(shapes)
        x = np.arange(len(shapes)) + (i - (len(backends) - 1) / 2) * width
        ax.bar(x, sel["speedup"] - 1, width, bottom=1, label=b, color=colour_of(b),
               yerr=_whiskers(sel["speedup"], sel["sp_low"], sel["sp_high"]), capsize=2)
    ax.axhline(1.0, color="black", linewidth=0.8)
    _ratio_axis(ax)
    ax.set_xticks(range(len(shapes)), shapes, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("speed-up (> 1: faster)")
    _title(ax, title + "; whiskers: 95% interval")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


def _heatmap(g, rows_cols: tuple[str, str], path: Path, title: str) -> list[Path]:
    row, col = rows_cols
    table = g.pivot_table(index=row, columns=col, values="speedup", aggfunc=lambda v: statistics.geometric_mean(v))
    plt = _plt()
    cmap = plt.get_cmap("RdYlGn")
    fig, ax = plt.subplots(figsize=(1.2 * table.shape[1] + 2.5, 0.6 * table.shape[0] + 2))
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
            r, gr, b, _ = cmap((data[i, j] + HEAT_LIMIT) / (2 * HEAT_LIMIT))
            dark = 0.299 * r + 0.587 * gr + 0.114 * b < 0.5  # text colour readable on the cell's colour
            ax.text(j, i, f"{v:.2f}x", ha="center", va="center", fontsize=8, color="white" if dark else "black")
    several = len(g) > g.groupby([row, col]).ngroups
    _title(ax, title + (" (geometric mean over the other axes)" if several else ""), 50)
    cbar = fig.colorbar(im, ax=ax, ticks=[-3, -2, -1, 0, 1, 2, 3])
    cbar.ax.set_yticklabels(["1/8x", "1/4x", "1/2x", "1x", "2x", "4x", "8x"])
    cbar.set_label("speed-up")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]
