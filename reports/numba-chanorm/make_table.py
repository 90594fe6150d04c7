"""Tables for targets.md from three `normbench bench --grid standard` runs (run1.csv .. run3.csv)."""
import statistics
import sys
from pathlib import Path

import pandas as pd

here = Path(__file__).parent
runs = [pd.read_csv(here / f"run{i}.csv") for i in (1, 2, 3)]
key = ["norm", "op", "layout", "shape"]
lines = ["| op | pass | layout | shape | numba % of floor (runs 1/2/3) | speed-up over torch-cpu (runs 1/2/3) |",
         "|---|---|---|---|---|---|"]
geo: dict = {}
for (norm, pass_, layout, shape), _ in runs[0].groupby(key, sort=False):
    fracs, ups = [], []
    for i, df in enumerate(runs):
        sel = df[(df.norm == norm) & (df.op == pass_) & (df.layout == layout) & (df["shape"] == shape)].set_index("backend")
        fracs.append(sel.loc["numba", "floor_fraction"])
        up = sel.loc["torch-cpu", "median_s"] / sel.loc["numba", "median_s"]
        ups.append(up)
        geo.setdefault((norm, pass_, layout, i), []).append(up)
    lines.append(f"| {norm} | {pass_} | {layout} | {shape} | {' / '.join(f'{f:.0%}' for f in fracs)} | "
                 f"{' / '.join(f'{u:.1f}x' for u in ups)} |")
lines += ["", "| op | pass | layout | geomean speed-up over torch-cpu (runs 1/2/3) | numba % of floor: min / median over shapes and runs |",
          "|---|---|---|---|---|"]
for norm, pass_, layout in dict.fromkeys(k[:3] for k in geo):
    gms = [statistics.geometric_mean(geo[(norm, pass_, layout, i)]) for i in range(3)]
    fr = pd.concat([df[(df.norm == norm) & (df.op == pass_) & (df.layout == layout) & (df.backend == "numba")].floor_fraction
                    for df in runs])
    lines.append(f"| {norm} | {pass_} | {layout} | {' / '.join(f'{g:.2f}x' for g in gms)} | {fr.min():.0%} / {fr.median():.0%} |")
sys.stdout.write("\n".join(lines) + "\n")
