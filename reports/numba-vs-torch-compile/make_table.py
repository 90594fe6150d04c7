"""Tables for README.md: Numba against the faster of torch-cpu and torch-compile, three runs.

    python reports/numba-vs-torch-compile/make_table.py        # run1.json .. run3.json beside it

Per configuration and run, the peer is whichever PyTorch backend had the lower median *in that
run* (all three backends are timed in the same interleaved rounds), and the speed-up is the
peer's time over Numba's with its two-level interval (normbench.compare.row_ratio). Per op and
pass: the geometric mean of those speed-ups (normbench.compare.summarize_ratios: contended rows
and intervals wider than 2x are left out, and counted) and the median of Numba's floor fractions
(its GB/s over the machine's copy bandwidth, under the op's byte model). Issue 30's target per op
and pass: a geometric mean of at least 1.5x over the faster peer, or a median floor fraction of
at least 85% (forward passes) / 70% (backward).
"""
from __future__ import annotations

import statistics
import sys
from collections import defaultdict
from pathlib import Path

from normbench import benchfile
from normbench.compare import is_contended, row_ratio, summarize_ratios

PEERS = ("torch-cpu", "torch-compile")
TARGET_SPEEDUP = 1.5
TARGET_FLOOR = {"backward": 0.70}  # every other pass: 0.85
KEY = ("norm", "op", "dtype", "layout", "shape")

here = Path(__file__).parent
paths = sorted(here.glob("run[0-9].json"))
if len(paths) < 2:
    sys.exit(f"need at least two runN.json files in {here}")
runs = [benchfile.read(p)[0] for p in paths]


def by_config(rows):
    out = defaultdict(dict)
    for r in rows:
        out[tuple(str(r[k]) for k in KEY)][r["backend"]] = r
    return out


def floor_target(pass_: str) -> float:
    return TARGET_FLOOR.get(pass_, 0.85)


groups: dict[tuple[str, str], list] = defaultdict(lambda: [None] * len(runs))
per_config: dict[tuple, list] = defaultdict(lambda: [None] * len(runs))
for i, rows in enumerate(runs):
    acc = defaultdict(lambda: {"ratios": [], "floors": [], "contended": 0, "vs_compile": [], "vs_cpu": []})
    for key, rs in by_config(rows).items():
        nb = rs.get("numba")
        peers = [rs[p] for p in PEERS if p in rs]
        if nb is None or not peers:
            continue
        g = acc[(key[0], key[1])]
        peer = min(peers, key=lambda r: float(r["median_s"]))
        if is_contended(nb) or is_contended(peer):
            g["contended"] += 1
            continue
        r = row_ratio(peer, nb)
        g["ratios"].append(r)
        g["floors"].append(float(nb["floor_fraction"]))
        for p, name in (("torch-compile", "vs_compile"), ("torch-cpu", "vs_cpu")):
            if p in rs and not is_contended(rs[p]):
                g[name].append(row_ratio(rs[p], nb))
        per_config[key][i] = (peer["backend"], r, float(nb["median_s"]), float(nb["floor_fraction"]))
    for k, g in acc.items():
        groups[k][i] = g


def cell(s) -> str:
    g = s["geomean"]
    if g is None:
        return "n/a"
    left = s["wide"] + s["contended"]
    return f"{g.text()}" + (f" ({s['used']} of {s['n'] + s['contended']})" if left else "")


print("## Numba over the faster of torch-cpu and torch-compile, per op and pass\n")
print("| op | pass | " + " | ".join(f"run {i + 1}: speed-up" for i in range(len(runs))) + " | "
      + " | ".join(f"run {i + 1}: floor" for i in range(len(runs))) + " | >= 1.5x (runs) | floor target (runs) |")
print("|---|---|" + "---|" * (2 * len(runs) + 2))
for (norm, pass_), per_run in sorted(groups.items()):
    cells, floors, met, met_floor = [], [], 0, 0
    for g in per_run:
        if g is None:
            cells.append("-"); floors.append("-")
            continue
        s = summarize_ratios(g["ratios"], g["contended"])
        fl = statistics.median(g["floors"]) if g["floors"] else float("nan")
        cells.append(cell(s))
        floors.append(f"{fl:.0%}")
        gm = s["geomean"]
        met += gm is not None and gm.ratio >= TARGET_SPEEDUP
        met_floor += fl >= floor_target(pass_)
    print(f"| {norm} | {pass_} | " + " | ".join(cells) + " | " + " | ".join(floors)
          + f" | {met} of {len(runs)} | {met_floor} of {len(runs)} |")

print("\n## The floor's yardstick: copy bandwidth (GB/s) recorded with Numba's rows, per run\n")
print("| run | median | min | max |")
print("|---|---|---|---|")
for i, rows in enumerate(runs):
    bw = [float(r["copy_gbps"]) for r in rows if r["backend"] == "numba" and r.get("copy_gbps")]
    print(f"| {i + 1} | {statistics.median(bw):.1f} | {min(bw):.1f} | {max(bw):.1f} |")

print("\n## Against each peer alone (geometric means; > 1: Numba faster)\n")
print("| op | pass | " + " | ".join(f"run {i + 1}: vs torch-cpu" for i in range(len(runs))) + " | "
      + " | ".join(f"run {i + 1}: vs torch-compile" for i in range(len(runs))) + " |")
print("|---|---|" + "---|" * (2 * len(runs)))
for (norm, pass_), per_run in sorted(groups.items()):
    a = [cell(summarize_ratios(g["vs_cpu"])) if g else "-" for g in per_run]
    b = [cell(summarize_ratios(g["vs_compile"])) if g else "-" for g in per_run]
    print(f"| {norm} | {pass_} | " + " | ".join(a) + " | " + " | ".join(b) + " |")

print("\n## Per configuration: faster peer, Numba's speed-up over it, Numba's median and floor fraction\n")
print("| op | pass | layout | shape | " + " | ".join(f"run {i + 1}" for i in range(len(runs))) + " |")
print("|---|---|---|---|" + "---|" * len(runs))
for key, per_run in sorted(per_config.items()):
    cells = []
    for v in per_run:
        if v is None:
            cells.append("contended")
            continue
        peer, r, t, fl = v
        cells.append(f"{r.text()} vs {'compile' if peer == 'torch-compile' else 'cpu'}; {t * 1e3:.2f} ms, {fl:.0%}")
    print(f"| {key[0]} | {key[1]} | {key[3]} | {key[4]} | " + " | ".join(cells) + " |")
