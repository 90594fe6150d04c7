"""PNG plots for reports (matplotlib, headless): scaling lines and speed-up heatmaps."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _most_common(df: pd.DataFrame, cols: list[str]):
    counts = df.groupby(cols).size()
    return counts.idxmax() if len(counts) else None


def make_plots(s: pd.DataFrame, out_dir: Path, baseline: str) -> list[Path]:
    """Line plots vs batch and vs channels, and batch x channels speed-up heatmaps."""
    images: list[Path] = []
    s = s[s["spatial"].notna()]
    for machine, m in s.groupby("machine"):
        tag = "" if s["machine"].nunique() == 1 else f"-{machine}"
        for (dtype, layout), g in m.groupby(["dtype", "layout"]):
            for op, go in g.groupby("op"):
                images += _line(go, "batch", ["channels", "spatial"], "median_s", "time (ms)", 1e3,
                                out_dir / f"time-vs-batch-{op}-{dtype}-{layout}{tag}.png", f"{op}, {dtype}, {layout}")
                images += _line(go, "channels", ["batch", "spatial"], "gbps", "GB/s", 1.0,
                                out_dir / f"gbps-vs-channels-{op}-{dtype}-{layout}{tag}.png", f"{op}, {dtype}, {layout}")
                for backend in sorted(set(go["backend"]) - {baseline}):
                    images += _heatmap(go[go["backend"] == backend], out_dir / f"speedup-{backend}-{op}-{dtype}-{layout}{tag}.png",
                                       f"{backend} vs {baseline}: {op}, {dtype}, {layout}")
    return images


def _line(g, x, fixed, y, ylabel, scale, path: Path, title: str) -> list[Path]:
    key = _most_common(g, fixed)
    if key is None:
        return []
    sel = g[(g[fixed[0]] == key[0]) & (g[fixed[1]] == key[1])]
    if sel[x].nunique() < 2:
        return []
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for backend, b in sel.groupby("backend"):
        b = b.sort_values(x)
        ax.plot(b[x], b[y] * scale, marker="o", label=backend)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel)
    ax.set_title(f"{title}; {fixed[0]}={key[0]}, {fixed[1]}={key[1]}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


def _heatmap(g, path: Path, title: str) -> list[Path]:
    g = g.dropna(subset=["speedup"])
    if g["batch"].nunique() < 2 or g["channels"].nunique() < 2:
        return []
    table = g.pivot_table(index="batch", columns="channels", values="speedup", aggfunc=lambda v: float(np.exp(np.log(v).mean())))
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.2 * table.shape[1] + 2.5, 0.6 * table.shape[0] + 2))
    data = np.log2(table.values.astype(float))
    lim = max(1.0, float(np.nanmax(np.abs(data))))
    im = ax.imshow(data, cmap="RdYlGn", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(table.shape[1]), [str(c) for c in table.columns])
    ax.set_yticks(range(table.shape[0]), [str(b) for b in table.index])
    ax.set_xlabel("channels")
    ax.set_ylabel("batch")
    for i in range(table.shape[0]):
        for j in range(table.shape[1]):
            v = table.values[i, j]
            if not np.isnan(v):
                ax.text(j, i, f"{v:.2f}x", ha="center", va="center", fontsize=8)
    several = g["spatial"].nunique() > 1
    ax.set_title(title + (" (geometric mean over spatial sizes)" if several else ""), fontsize=9)
    fig.colorbar(im, ax=ax, label="log2 speed-up")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]
