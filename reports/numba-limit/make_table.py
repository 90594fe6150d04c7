"""Issue 30's table: Numba against the faster PyTorch backend and against the copy floor, three runs.

    python reports/numba-limit/make_table.py > reports/numba-limit/tables.md

Reads ``run1.json`` .. ``runN.json`` (float32: numba, torch-cpu, torch-compile and copy-floor, every
op's standard shapes and layouts) and ``half1.json`` .. (float16 and bfloat16: numba, torch-cpu,
copy-floor) beside this file; ``run.sh`` makes them. All rows are measured under the timing
protocol at its default rigor, the copy floor included (``bench --floor``: the copy is one more
backend in the same interleaved rounds, in fresh processes).

Per configuration and run:

- **speed-up**: the faster peer's time over Numba's, with its two-level interval
  (normbench._results.compare.row_ratio); the peer is whichever of torch-cpu and torch-compile had the
  lower median in that run;
- **floor fraction**: the copy's time over Numba's (the copy moves the op's byte model: x read, y
  written, and for backward x and dy read, dx written), with its interval the same way.

Per op and pass and run: the geometric mean of the speed-ups (normbench._results.compare.summarize_ratios:
contended rows and intervals wider than 2x are left out, and counted) and the median of the floor
fractions. The verdict takes the median of the three runs' figures: met when the speed-up is at
least 1.5x, or the floor fraction at least 85% (forward, train, eval) / 70% (backward).
"""
from __future__ import annotations

import statistics
import sys
from collections import defaultdict
from pathlib import Path

from normbench._results import benchfile
from normbench._results.compare import is_contended, row_ratio, summarize_ratios
from normbench._timing.floor import NAME as FLOOR

PEERS = ("torch-cpu", "torch-compile")
TARGET_SPEEDUP = 1.5
TARGET_FLOOR = {"backward": 0.70}  # every other pass: 0.85
KEY = ("norm", "op", "dtype", "layout", "shape")
HERE = Path(__file__).parent


def floor_target(pass_: str) -> float:
    return TARGET_FLOOR.get(pass_, 0.85)


def load(pattern: str) -> list[list[dict]]:
    return [benchfile.read(p)[0] for p in sorted(HERE.glob(pattern))]


def by_config(rows: list[dict]) -> dict[tuple, dict[str, dict]]:
    out: dict[tuple, dict[str, dict]] = defaultdict(dict)
    for r in rows:
        out[tuple(str(r[k]) for k in KEY)][r["backend"]] = r
    return out


def analyse(runs: list[list[dict]], peers: tuple[str, ...]):
    """Per (op, pass, dtype): per run, the ratios and floor fractions; and per configuration, per run."""
    groups: dict[tuple, list] = defaultdict(lambda: [None] * len(runs))
    per_config: dict[tuple, list] = defaultdict(lambda: [None] * len(runs))
    for i, rows in enumerate(runs):
        acc: dict[tuple, dict] = defaultdict(lambda: {"speedups": [], "floors": [], "contended": 0})
        for key, rs in by_config(rows).items():
            nb, fl = rs.get("numba"), rs.get(FLOOR)
            cands = [rs[p] for p in peers if p in rs]
            if nb is None or not cands or fl is None:
                continue
            g = acc[(key[0], key[1], key[2])]
            peer = min(cands, key=lambda r: float(r["median_s"]))
            if is_contended(nb) or is_contended(peer) or is_contended(fl):
                g["contended"] += 1
                per_config[key][i] = "contended"
                continue
            s, f = row_ratio(peer, nb), row_ratio(fl, nb)
            g["speedups"].append(s)
            g["floors"].append(f)
            per_config[key][i] = (peer["backend"], s, f, float(nb["median_s"]))
        for k, g in acc.items():
            groups[k][i] = g
    return groups, per_config


def geomean_cell(s: dict) -> str:
    g = s["geomean"]
    if g is None:
        return "n/a"
    left = s["wide"] + s["contended"]
    return g.text() + (f" ({s['used']} of {s['n'] + s['contended']})" if left else "")


def summary_table(groups, n_runs: int, title: str, verdicts: bool = True) -> None:
    print(f"## {title}\n")
    head = ["op", "pass", "dtype"] + [f"run {i + 1}: speed-up" for i in range(n_runs)] \
        + [f"run {i + 1}: floor" for i in range(n_runs)]
    if verdicts:
        head += ["median speed-up", "median floor", "target", "verdict"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for (norm, pass_, dtype), per_run in sorted(groups.items()):
        cells, floors, gms, fls = [], [], [], []
        for g in per_run:
            if g is None:
                cells.append("-")
                floors.append("-")
                continue
            s = summarize_ratios(g["speedups"], g["contended"])
            fl = statistics.median(r.ratio for r in g["floors"]) if g["floors"] else float("nan")
            cells.append(geomean_cell(s))
            floors.append(f"{fl:.0%}")
            if s["geomean"] is not None:
                gms.append(s["geomean"].ratio)
            fls.append(fl)
        row = [norm, pass_, dtype, *cells, *floors]
        if verdicts:
            gm = statistics.median(gms) if gms else float("nan")
            fl = statistics.median(fls) if fls else float("nan")
            target = floor_target(pass_)
            met = [w for w, ok in (("speed-up", gm >= TARGET_SPEEDUP), ("floor", fl >= target)) if ok]
            row += [f"{gm:.2f}x", f"{fl:.0%}", f">= {TARGET_SPEEDUP}x or >= {target:.0%}",
                    f"met ({' and '.join(met)})" if met else "**not met**"]
        print("| " + " | ".join(row) + " |")
    print()


def config_table(per_config, n_runs: int, title: str) -> None:
    print(f"## {title}\n")
    print("| op | pass | dtype | layout | shape | " + " | ".join(f"run {i + 1}" for i in range(n_runs)) + " |")
    print("|---|---|---|---|---|" + "---|" * n_runs)
    for key, per_run in sorted(per_config.items()):
        cells = []
        for v in per_run:
            if v is None or v == "contended":
                cells.append(v or "-")
                continue
            peer, s, f, t = v
            who = {"torch-compile": "compile", "torch-cpu": "cpu"}.get(peer, peer)
            cells.append(f"{s.text()} vs {who}; {t * 1e3:.3g} ms, floor {f.ratio:.0%}")
        print(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {key[4]} | " + " | ".join(cells) + " |")
    print()


def floor_bandwidth(runs, title: str) -> None:
    print(f"## {title}\n")
    print("| run | median GB/s | min | max | rows |")
    print("|---|---|---|---|---|")
    for i, rows in enumerate(runs):
        bw = [float(r["gbps"]) for r in rows if r["backend"] == FLOOR and r.get("gbps")]
        if bw:
            print(f"| {i + 1} | {statistics.median(bw):.1f} | {min(bw):.1f} | {max(bw):.1f} | {len(bw)} |")
    print()


#: memory traffic of a pass, in units of one array, when its data does not stay in cache between
#: the statistics pass and the output pass: train/forward read x twice and write y (3), backward
#: reads x and dy twice and writes dx (5); eval reads x and writes y once (2)
TWO_PASS_TRAFFIC = {"train": 3, "forward": 3, "backward": 5, "eval": 2}
L2_BYTES = 2 << 20  # per core on this VM (lscpu: 4 MiB, 2 instances)


def two_pass_table(runs) -> None:
    """Numba's train/backward time over its own eval time on the same configuration (batch norm and
    InstanceNorm, which have an eval pass): eval moves the byte model once, so a ratio near the
    two-pass traffic ratio (3/2 for train, 5/2 for backward) says the pass is bound by re-reading
    data that left the cache, not by its code."""
    print("## Two-pass bound: Numba's time over its own eval time on the same configuration\n")
    print("Eval reads x and writes y once. Train must read x twice (statistics first), backward x and dy twice, "
          "so where the data outgrows L2 between the two reads (2 MB per core here) the least traffic is 3/2 "
          "(train) and 5/2 (backward) of eval's; batch norm's statistics span the whole tensor, "
          "InstanceNorm's one sample's channel (contiguous) or one sample (channels_last, in these kernels).\n")
    print("| op | layout | shape | what must stay in cache | train / eval (bound 1.5 when it does not fit) | "
          "backward / eval (bound 2.5) |")
    print("|---|---|---|---|---|---|")
    from math import prod

    keys = sorted({(r["norm"], r["layout"], r["shape"]) for rows in runs for r in rows
                   if r["backend"] == "numba" and r["norm"] in ("batchnorm", "instancenorm") and r["dtype"] == "float32"})
    for norm, layout, shape in keys:
        dims = [int(v) for v in shape.split("x")]
        size = prod(dims) * 4
        if norm == "batchnorm":
            unit, what = (size // dims[1], "one channel") if layout == "contiguous" and len(dims) > 2 else (size, "the whole tensor")
        else:
            unit, what = (size // (dims[0] * dims[1]), "one channel of a sample") if layout == "contiguous" \
                else (size // dims[0], "one sample")
        cells = []
        for pass_ in ("train", "backward"):
            ratios = []
            for rows in runs:
                t = {r["op"]: float(r["median_s"]) for r in rows if r["backend"] == "numba" and r["norm"] == norm
                     and r["layout"] == layout and r["shape"] == shape and r["dtype"] == "float32"}
                if pass_ in t and "eval" in t:
                    ratios.append(t[pass_] / t["eval"])
            cells.append(" / ".join(f"{v:.2f}" for v in ratios) or "-")
        fits = "fits" if unit <= L2_BYTES else "does not fit"
        print(f"| {norm} | {layout} | {shape} | {what}: {unit / 2**20:.2f} MB ({fits}) | {cells[0]} | {cells[1]} |")
    print()


def main() -> int:
    runs, halves = load("run[0-9].json"), load("half[0-9].json")
    if not runs:
        sys.exit(f"no run1.json .. in {HERE}: run run.sh first")
    groups, per_config = analyse(runs, PEERS)
    summary_table(groups, len(runs), "Numba against the faster of torch-cpu and torch-compile, and the copy floor "
                                     "(float32, standard shapes, both layouts)")
    floor_bandwidth(runs, "The copy floor's own bandwidth, per run (float32 runs)")
    two_pass_table(runs)
    if halves:
        hgroups, hconfig = analyse(halves, ("torch-cpu",))
        summary_table(hgroups, len(halves), "Half precision: Numba against torch-cpu, and the copy floor "
                                            "(float16, bfloat16; no target, measured as issue 30 asks)", verdicts=False)
    config_table(per_config, len(runs), "Per configuration (float32): speed-up over the faster peer, Numba's median, "
                                        "floor fraction")
    if halves:
        config_table(hconfig, len(halves), "Per configuration (half): speed-up over torch-cpu, Numba's median, floor fraction")
    return 0


if __name__ == "__main__":
    sys.exit(main())
