"""``normbench compare A B``: did B get slower or faster than A, configuration by configuration?

Both files come from ``normbench bench --output`` (JSON or CSV, with raw samples); either may be a
folder of such files, repeated runs of one version, from which the shift of a whole run between
runs is estimated (normbench._results.compare.compare_runs). For each
configuration in both (norm, pass, shape, dtype, layout, threads, backend), B's time over A's
with a 95% interval over processes and runs, and a verdict (normbench._results.stats, normbench._results.compare),
then geometric means. Exit
status 1 when a configuration got slower by more than ``--threshold`` (Holm-tested as a family), so CI can
gate on it; 0 otherwise; 2 on bad input.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from ..errors import InputError
from .common import parse_fraction


def _fraction(text: str) -> float:
    value = parse_fraction(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"expected a fraction such as 0.1 or 10%, got {text!r}")
    if not 0 <= value < 10:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 10, got {text!r}")
    return value


def _confidence(text: str) -> float:
    value = _fraction(text)
    if not 0.5 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a confidence between 0.5 and 1 (e.g. 0.95), got {text!r}")
    return value


def add_parser(sub) -> None:
    p = sub.add_parser("compare", help="compare two bench result files: B/A time ratios with intervals and verdicts")
    p.add_argument("a", metavar="A", help="the reference results (normbench bench --output, .json or .csv), "
                   "a folder of them (repeated runs of one version), or run:ID[,ID...] from the store "
                   "(run:latest, run:latest~1, ...)")
    p.add_argument("b", metavar="B", help="the results to judge against A (a file, a folder of runs, or run:ID[,ID...])")
    p.add_argument("--store", metavar="PATH_OR_URL", default=None,
                   help="the store that run:ID refers to (default: $NORMBENCH_STORE, else .normbench/results.sqlite)")
    p.add_argument("--threshold", type=_fraction, default=0.10, metavar="FRACTION",
                   help="exit 1 when a configuration is slower by more than this, tested as one family of configurations "
                        "(Holm), or a backend's op and pass is on its geometric mean (default 0.10 = 10%%)")
    p.add_argument("--confidence", type=_confidence, default=0.95, help="of each interval (default 0.95)")
    p.add_argument("--norm", action="append", default=[], metavar="OP", help="only this op (repeatable)")
    p.add_argument("--backend", action="append", default=[], metavar="NAME", help="only this backend (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON object per configuration (a list) instead")
    p.set_defaults(func=cmd_compare)


def side_runs(source: str, store: str | None) -> list[list[dict]]:
    """The runs of one side: a bench file, a folder of them, or ``run:ID[,ID...]`` from the store."""
    if source.startswith("run:"):
        from ..store import open_store

        with open_store(store, create=False) as st:
            return [st.rows([st.run(ref)]) for ref in source[4:].split(",") if ref]
    from .._results import benchfile

    return [benchfile.read(f)[0] for f in run_files(Path(source))]


def run_files(path: Path) -> list[Path]:
    """A bench file, or the bench files (.json, .csv) in a folder: each one run."""
    if path.is_dir():
        files = sorted(f for f in path.iterdir() if f.suffix.lower() in (".json", ".csv") and f.is_file())
        if not files:
            raise InputError(f"{path} is a folder with no bench files (.json or .csv) in it")
        return files
    return [path]


def _fmt(v) -> str:
    return "" if v is None else f"{v:.2f}"


def cmd_compare(args: argparse.Namespace) -> int:
    from .._results import stats
    from .._results.compare import CONFIG_KEYS, compare_runs
    from .._reporting.tables import render

    sides = []
    for path in (args.a, args.b):
        runs = []
        for got in side_runs(str(path), args.store):
            runs.append([r for r in got if (not args.norm or r.get("norm") in args.norm)
                         and (not args.backend or r.get("backend") in args.backend)])
        if not any(runs):
            raise InputError(f"{path} holds no measurements" + (" of the selected ops/backends" if args.norm or args.backend else ""))
        sides.append([run for run in runs if run])
    result, counts = compare_runs(sides[0], sides[1], confidence=args.confidence, threshold=args.threshold)
    if not result:
        raise InputError(f"{args.a} and {args.b} have no configuration in common (norm, pass, shape, dtype, layout, "
                         "threads, backend)")
    regressions = [r for r in result if r["regression"] or r.get("group_regression")]
    summary = _summary(result, counts, args, stats)
    if args.json:
        json.dump(result, sys.stdout, indent=1)
        print()
        print("\n".join(summary), file=sys.stderr)
    else:
        keys = list(CONFIG_KEYS)
        print(render([*keys, "A ms", "B ms", f"B/A [{args.confidence:.0%} interval]", "verdict"],
                     [[r[k] for k in keys] + [f"{r['a_median_s'] * 1e3:.3f}", f"{r['b_median_s'] * 1e3:.3f}",
                                              f"{r['ratio']:.3f} [{_fmt(r['low'])}, {_fmt(r['high'])}]" if r["low"] is not None
                                              else f"{r['ratio']:.3f} [too few samples]",
                                              r["verdict"] + (" REGRESSION" if r["regression"] else "")] for r in result]))
        print()
        print("\n".join(summary))
    return 1 if regressions else 0


def _summary(result, counts, args, stats, same_run: bool | str = False) -> list[str]:
    """Geometric means per backend and pass, overall, the verdict counts and what matched; what the
    drift between the runs does to the verdict (``same_run``: none came between A and B; "paired":
    they shared their processes too)."""
    def as_ratio(r):
        return stats.Ratio(r["ratio"], r["low"] if r["low"] is not None else 0.0,
                           r["high"] if r["high"] is not None else math.inf, r["p_value"], 1, 1, r.get("se"), r.get("df"))

    lines = []
    groups: dict[tuple, list] = {}
    quiet = [r for r in result if not r.get("contended")]
    for r in quiet:
        groups.setdefault((r["backend"], r["norm"], r["op"]), []).append(as_ratio(r))
    # compare_runs's own geometric means where given: they add the shift shared by a run's configurations once
    means = {g: (counts.get("geomeans") or {}).get(g) or stats.geomean(rs) for g, rs in groups.items()}
    for (backend, norm, pass_), rs in groups.items():
        lines.append(f"{backend} {norm} {pass_}: B/A {means[(backend, norm, pass_)].text(3)} geometric mean over {len(rs)}")
    busy = len(result) - len(quiet)
    if busy:
        lines.append(f"{busy} configuration(s) contended in A or B (the machine was busy): shown, no verdict, not averaged")
    if not quiet:
        lines.append("no uncontended configuration in common: nothing to judge")
        return lines
    overall = counts.get("overall") or stats.geomean([as_ratio(r) for r in quiet])
    slower = sum(r["verdict"] == "slower" for r in result)
    faster = sum(r["verdict"] == "faster" for r in result)
    regressions = [r for r in result if r["regression"]]
    group_slow = list(dict.fromkeys((r["backend"], r["norm"], r["op"]) for r in result if r.get("group_regression")))
    lines.append(f"overall: B/A {overall.text(3)} geometric mean over {len(quiet)} configurations; {slower} slower, "
                 f"{faster} faster, {len(quiet) - slower - faster} no clear difference"
                 + (f"; only in A: {counts['only_a']}" if counts["only_a"] else "")
                 + (f"; only in B: {counts['only_b']}" if counts["only_b"] else ""))
    if same_run == "paired":
        lines.append("A and B were timed alternately inside the same fresh processes: neither drift between runs nor a "
                     "worker's own speed comes between them, so each interval is on the per-process ratios B/A")
    elif same_run:
        lines.append("A and B were timed interleaved in the same rounds of fresh processes (each in workers of its "
                     "own): no drift between runs comes between them, so the intervals carry the processes' spread only")
    elif counts["noise_estimated"]:
        per = ", ".join(f"{b} {v:.1%}" for b, v in counts["noise_by_backend"].items())
        lines.append(f"run-to-run noise between A and B beyond their processes' spread: {counts['noise']:.1%} (one standard "
                     f"deviation, estimated from the {len(quiet)} uncontended configurations" + (f"; per backend: {per}" if per else "")
                     + "; every interval is widened by its backend's)")
        if counts["noise"] > args.threshold / 2:
            lines.append(f"DRIFT: the two runs differ by {counts['noise']:.1%} (one standard deviation) beyond their "
                         f"processes' spread, too much to find a {args.threshold:.0%} slowdown in one configuration: a "
                         "verdict of no difference here is not a clean bill; time both versions in one run with "
                         "`normbench ab A B`")
    else:
        lines.append("run-to-run noise not estimated (fewer than 8 configurations in common): this compare cannot "
                     "tell drift between the two runs from a change, so the intervals carry only the processes' spread; "
                     "time both versions in one run with `normbench ab A B` for a verdict drift cannot sway")
    if not same_run and counts.get("shift_estimated"):
        each = "; ".join(f"{side} " + ", ".join(f"{s:+.1%}" for s in counts[f"shifts_{side.lower()}"])
                         for side in ("A", "B") if len(counts[f"shifts_{side.lower()}"]) > 1)
        lines.append(f"whole-run shift: {counts['shift']:.1%} (one standard deviation of one run, from {counts['runs_a']} "
                     f"run(s) of A and {counts['runs_b']} of B; each run from its side's mean: {each}); every interval "
                     "and geometric mean carries it")
    elif not same_run:
        lines.append(f"one run a side: a shift of the whole run (a shared machine running faster or slower for its "
                     f"duration) moves every configuration alike, and cannot be told from a change of that size here "
                     f"(B/A overall {overall.ratio:.3f}); give A and B as folders of repeated runs, or time both in one "
                     "run with `normbench ab A B`")
    for backend, norm, pass_ in group_slow:
        g = means[(backend, norm, pass_)]
        lines.append(f"REGRESSION: {backend} {norm} {pass_} slower by more than {args.threshold:.0%} on its geometric "
                     f"mean: B/A {g.text(3)}")
    if regressions:
        lines.append(f"REGRESSION: {len(regressions)} configuration(s) slower by more than "
                     f"{args.threshold:.0%} (Holm, family-wise {1 - args.confidence:.0%}): " + "; ".join(f"{r['backend']} {r['norm']} {r['op']} {r['shape']} {r['dtype']} "
                                                          f"{r['layout']} {r['ratio']:.2f}x" for r in regressions[:10])
                     + (" ..." if len(regressions) > 10 else ""))
    elif not group_slow:
        lines.append(f"no configuration slower by more than {args.threshold:.0%} (Holm, family-wise "
                     f"{1 - args.confidence:.0%}), and no backend's op and pass on its geometric mean")
    return lines
