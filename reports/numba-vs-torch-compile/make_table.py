"""Tables for targets.md: Numba against the faster of torch-cpu and torch-compile, three runs.

    python make_table.py            # run1.csv, run2.csv, run3.csv (`normbench bench --grid standard`)

Per configuration and run, the peer is whichever of the two PyTorch backends was faster *in
that run* (both are timed in the same interleaved rounds as Numba), so a slow window of the
machine cannot pick the peer for another run. The targets are those of issues 5, 12 and 13,
unchanged; only the peer is new (issue 14).
"""
import statistics
import sys
from pathlib import Path

import pandas as pd

PEERS = ("torch-cpu", "torch-compile")
# (op, pass) -> geomean speed-up target; pass None: one target over every pass and layout.
TARGETS = {("batchnorm", "train"): 2.0, ("batchnorm", "backward"): 1.5, ("batchnorm", "eval"): 0.9,
           ("layernorm", "forward"): 3.0, ("layernorm", "backward"): 3.0,
           ("rmsnorm", "forward"): 8.0, ("rmsnorm", "backward"): 8.0,
           ("groupnorm", None): 1.5, ("instancenorm", None): 3.0}
SHORT = {"torch-cpu": "cpu", "torch-compile": "compile"}

here = Path(__file__).parent
prefix = sys.argv[1] if len(sys.argv) > 1 else "run"
runs = [pd.read_csv(p) for p in sorted(here.glob(f"{prefix}[0-9].csv"))]
if len(runs) < 2:
    sys.exit(f"need at least two {prefix}N.csv files in {here}")
key = ["norm", "op", "dtype", "layout", "shape"]
n = len(runs)
per_run = " / ".join(str(i + 1) for i in range(n))


def times(df: pd.DataFrame, k: tuple) -> pd.Series:
    sel = df
    for col, v in zip(key, k):
        sel = sel[sel[col] == v]
    return sel.set_index("backend").median_s


rows, geo = [], {}
for k, _ in runs[0][runs[0].backend == "numba"].groupby(key, sort=False):
    ups = {p: [] for p in PEERS}
    best, winners = [], []
    for i, df in enumerate(runs):
        t = times(df, k)
        for p in PEERS:
            ups[p].append(t[p] / t["numba"] if p in t else float("nan"))
        peer = min((p for p in PEERS if p in t), key=lambda p: t[p])
        winners.append(SHORT[peer])
        best.append(t[peer] / t["numba"])
        geo.setdefault(k[:4] + (i,), []).append(best[-1])
    rows.append(f"| {' | '.join(k)} | {' / '.join(f'{u:.2f}x' for u in ups['torch-cpu'])} | "
                f"{' / '.join(f'{u:.2f}x' for u in ups['torch-compile'])} | "
                f"{' / '.join(f'{u:.2f}x' for u in best)} ({'/'.join(winners)}) |")

out = [f"| op | pass | dtype | layout | shape | over torch-cpu (runs {per_run}) | over torch-compile (runs {per_run}) "
       f"| over the faster (runs {per_run}; which) |", "|---|---|---|---|---|---|---|---|"] + rows
out += ["", f"Geometric mean over the standard shapes of the speed-up over the faster peer (runs {per_run}), "
        "against the target:", "",
        f"| op | pass | dtype | geomean (runs {per_run}) | median run | target | verdict |", "|---|---|---|---|---|---|---|"]
for (norm, pass_), target in TARGETS.items():
    for dtype in dict.fromkeys(k[2] for k in geo):
        groups = [g for g in geo if g[0] == norm and g[2] == dtype and (pass_ is None or g[1] == pass_)]
        if not groups:
            continue
        gms = [statistics.geometric_mean([u for g in groups if g[4] == i for u in geo[g]]) for i in range(n)]
        med = statistics.median(gms)
        verdict = "met" if min(gms) >= target else ("met by the median run" if med >= target else "not met")
        out.append(f"| {norm} | {pass_ or 'all, both layouts'} | {dtype} | {' / '.join(f'{g:.2f}x' for g in gms)} "
                   f"| **{med:.2f}x** | >= {target}x | {verdict} |")
sys.stdout.write("\n".join(out) + "\n")
