"""Replay the sequential rule on recorded processes: what each rule costs, and whether it stops early.

    python reports/protocol/sequential.py FILE.json [--rule MIN,MAX,TARGET ...] [--shuffles N]

FILE is a bench file whose rows have many processes (``normbench bench --processes 16``, or a run
under a stricter rule than the ones replayed). For each rule and each row, the row's processes
are fed to :func:`normbench._timing.sequential.assess` one at a time, in ``--shuffles`` random orders,
until the rule stops. Printed per rule:

- processes used (mean; and the share of rows that stop at the minimum and at the cap);
- the share of rows left unstable, by cause;
- for a rule with futility (``--rule MIN,MAX,TARGET,FUTILITY``, rigor quick's 2,4,0.15,1.5): the
  rows it stopped before the cap, and how many of those the same processes, in the same order,
  would have made sure by the cap (a futility stop that gave up on a row it could have finished);
- **coverage**: how often the stopped row's 95% interval contains the location of *all* its
  recorded processes (the truth, as far as the file knows it). A rule that stops early on a row
  that is about to change shows here as coverage well below 95%; a row that never settles shows
  as stops at the cap, never as more processes than the cap.
"""
from __future__ import annotations

import argparse
import dataclasses
import collections
import json
import math
import random
import statistics

from normbench._timing import sequential
from normbench._results import stats


def location(groups) -> float:
    return statistics.fmean(statistics.median(math.log(v) for v in g) for g in groups)


def replay(groups, rule: sequential.Rule, rng: random.Random, number: int = 1, prior=None):
    order = list(groups)
    rng.shuffle(order)
    k = 0
    for k in range(1, len(order) + 1):
        a = sequential.assess(order[:k], rule, number, prior)
        if not a.needs_more:
            break
    return order[:k], a


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--rule", action="append", default=[], help="MIN,MAX,TARGET[,FUTILITY] (repeatable)")
    ap.add_argument("--shuffles", type=int, default=20)
    ap.add_argument("--backend", action="append", default=[])
    ap.add_argument("--no-prior", action="store_true", help="judge each row on its own processes only")
    args = ap.parse_args()
    rows = json.load(open(args.file))["rows"]
    rows = [r for r in rows if not args.backend or r["backend"] in args.backend]
    rules = [sequential.Rule(int(v[0]), int(v[1]), float(v[2]), futility=float(v[3]) if len(v) > 3 else 0.0)
             for v in (x.split(",") for x in args.rule)] or [sequential.Rule(3, 12, 0.05)]
    # each backend's prior as a run would have it once its rows have their minimum of processes
    priors = {} if args.no_prior else {
        b: sequential.prior_of([stats.split(r["samples_s"], r["process_n"])[:3] for r in rows if r["backend"] == b])
        for b in {r["backend"] for r in rows}}
    print(f"{args.file}: {len(rows)} rows, {statistics.fmean(len(r['process_n']) for r in rows):.1f} processes each")
    for rule in rules:
        rng = random.Random(0)
        used, covered, judged, at_min, at_cap = [], 0, 0, 0, 0
        futile, futile_sure = 0, 0
        plain = dataclasses.replace(rule, futility=0.0)
        causes: collections.Counter = collections.Counter()
        per_backend: dict[str, list[int]] = collections.defaultdict(list)
        for r in rows:
            groups = stats.split(r["samples_s"], r["process_n"])
            if len(groups) < rule.max_processes and len(groups) < 2 * rule.min_processes:
                continue  # too few recorded processes to replay this rule honestly
            truth = location(groups)
            for _ in range(args.shuffles):
                state = rng.getstate()
                got, a = replay(groups, rule, rng, int(r.get("number") or 1), priors.get(r["backend"]))
                if a.futile:  # the same order without futility: would the cap have made it sure?
                    futile += 1
                    after = rng.getstate()
                    rng.setstate(state)
                    _, b = replay(groups, plain, rng, int(r.get("number") or 1), priors.get(r["backend"]))
                    rng.setstate(after)
                    futile_sure += not sequential.diagnose(b, plain)
                used.append(len(got))
                per_backend[r["backend"]].append(len(got))
                at_min += len(got) == rule.min_processes
                at_cap += len(got) >= rule.max_processes
                cause = sequential.diagnose(a, rule)
                causes[cause or "sure"] += 1
                if len(got) < len(groups) and math.isfinite(a.half_width):  # the truth is not just these processes
                    judged += 1
                    half = math.log1p(a.half_width)
                    covered += abs(location(got) - truth) <= half
        n = len(used)
        if not n:
            print(f"{rule.describe()}: no row has enough processes to replay it")
            continue
        print(f"\nrule {rule.min_processes}-{rule.max_processes} processes, target ±{rule.target:.0%}: "
              f"{statistics.fmean(used):.2f} processes per row ({at_min / n:.0%} stop at the minimum, {at_cap / n:.0%} "
              f"at the cap); " + ", ".join(f"{k} {v / n:.0%}" for k, v in causes.most_common())
              + (f"; coverage of the full-run location {covered / judged:.1%} of {judged} stopped rows" if judged else "")
              + (f"; stopped for futility {futile / n:.0%}, of which sure by the cap without it: {futile_sure}"
                 if rule.futility else ""))
        print("  per backend: " + ", ".join(f"{b} {statistics.fmean(v):.1f}" for b, v in sorted(per_backend.items())))


if __name__ == "__main__":
    main()
