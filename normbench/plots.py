"""PNG plots for reports (matplotlib, headless): scaling lines and speed-up heatmaps.

Which plots an op gets, over which of its axes, comes from its record (``OpInfo.plots``).
"""
from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import pandas as pd

from .opinfo import OpInfo

METRICS = {"time": ("median_s", "time (ms)", 1e3), "gbps": ("gbps", "GB/s", 1.0)}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _most_common(df: pd.DataFrame, cols: list[str]):
    if not cols:
        return ()
    counts = df.groupby(cols).size()
    if not len(counts):
        return None
    key = counts.idxmax()
    return key if isinstance(key, tuple) else (key,)


def make_plots(s: pd.DataFrame, op: OpInfo, out_dir: Path, baseline: str) -> list[Path]:
    """The op's line plots and row x column speed-up heatmaps, per machine, dtype, layout and pass."""
    images: list[Path] = []
    axes = [a for a in op.axes if a in s]
    s = s.dropna(subset=axes)
    for machine, m in s.groupby("machine"):
        tag = "" if s["machine"].nunique() == 1 else f"-{machine}"
        for (dtype, layout), g in m.groupby(["dtype", "layout"]):
            for pass_, go in g.groupby("op"):
                what = f"{op.name} {pass_}, {dtype}, {layout}"
                stem = f"{op.name}-{pass_}-{dtype}-{layout}{tag}"
                for x, metric in op.plots.lines:
                    fixed = [a for a in axes if a != x]
                    images += _line(go, x, fixed, metric, out_dir / f"{metric}-vs-{x}-{stem}.png", what)
                if op.plots.heatmap:
                    for backend in sorted(set(go["backend"]) - {baseline}):
                        images += _heatmap(go[go["backend"] == backend], op.plots.heatmap,
                                           out_dir / f"speedup-{backend}-{stem}.png", f"{backend} vs {baseline}: {what}")
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
        ax.plot(b[x], b[column] * scale, marker="o", label=backend)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel)
    held = ", ".join(f"{c}={int(v)}" for c, v in zip(fixed, key))
    ax.set_title(f"{title}; {held}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


def _heatmap(g, rows_cols: tuple[str, str], path: Path, title: str) -> list[Path]:
    row, col = rows_cols
    g = g.dropna(subset=["speedup"])
    if g[row].nunique() < 2 or g[col].nunique() < 2:
        return []
    table = g.pivot_table(index=row, columns=col, values="speedup", aggfunc=lambda v: statistics.geometric_mean(v))
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.2 * table.shape[1] + 2.5, 0.6 * table.shape[0] + 2))
    data = np.log2(table.values.astype(float))
    lim = max(1.0, float(np.nanmax(np.abs(data))))
    im = ax.imshow(data, cmap="RdYlGn", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(table.shape[1]), [str(int(c)) for c in table.columns])
    ax.set_yticks(range(table.shape[0]), [str(int(b)) for b in table.index])
    ax.set_xlabel(col)
    ax.set_ylabel(row)
    for i in range(table.shape[0]):
        for j in range(table.shape[1]):
            v = table.values[i, j]
            if not np.isnan(v):
                ax.text(j, i, f"{v:.2f}x", ha="center", va="center", fontsize=8)
    several = len(g) > g.groupby([row, col]).ngroups
    ax.set_title(title + (" (geometric mean over the other axes)" if several else ""), fontsize=9)
    fig.colorbar(im, ax=ax, label="log2 speed-up")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]
