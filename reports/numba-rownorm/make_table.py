"""Build targets.md from three `normbench bench --grid standard` runs (run1.csv, run2.csv, run3.csv)."""
import statistics
import sys
from pathlib import Path

import pandas as pd

here = Path(__file__).parent
runs = [pd.read_csv(here / f"run{i}.csv") for i in (1, 2, 3)]
lines = ["| op | pass | shape | numba % of floor (runs 1/2/3) | speed-up over torch-cpu (runs 1/2/3) |",
         "|---|---|---|---|---|"]
geo = {}
for (norm, pass_, shape), _ in runs[0].groupby(["norm", "op", "shape"], sort=False):
    fracs, ups = [], []
    for i, df in enumerate(runs):
        sel = df[(df.norm == norm) & (df.op == pass_) & (df["shape"] == shape)].set_index("backend")
        fracs.append(sel.loc["numba", "floor_fraction"])
        up = sel.loc["torch-cpu", "median_s"] / sel.loc["numba", "median_s"]
        ups.append(up)
        geo.setdefault((norm, pass_, i), []).append(up)
    lines.append(f"| {norm} | {pass_} | {shape} | {' / '.join(f'{f:.0%}' for f in fracs)} | "
                 f"{' / '.join(f'{u:.1f}x' for u in ups)} |")
lines += ["", "| op | pass | geomean speed-up over torch-cpu (runs 1/2/3) | min % of floor over shapes and runs |",
          "|---|---|---|---|"]
for norm, pass_ in dict.fromkeys((n, p) for n, p, _ in geo):
    gms = [statistics.geometric_mean(geo[(norm, pass_, i)]) for i in range(3)]
    lo = min(df[(df.norm == norm) & (df.op == pass_) & (df.backend == "numba")].floor_fraction.min() for df in runs)
    lines.append(f"| {norm} | {pass_} | {' / '.join(f'{g:.2f}x' for g in gms)} | {lo:.0%} |")
sys.stdout.write("\n".join(lines) + "\n")
