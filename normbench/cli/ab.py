"""``normbench ab A B``: is backend B slower than backend A? Both timed in the same processes.

The way to check a change to a kernel: register the old and the new version as two backends (a
copy of the plugin module under another name, loaded with ``--plugin``), and time them
alternately inside the same fresh worker processes, round after round, under the same memory
policy (:mod:`normbench._timing.paired`). Drift between two separate runs (a shared VM's neighbours,
frequency, the heap of a day) then cannot come between them, which is what ``normbench compare``
on two files must estimate and cannot always see; nor can one worker's own speed, which every
configuration it measures shares. ``--unpaired`` times each version in workers of its own instead
(isolated from each other; the design of 0.14, weaker on small calls). Per configuration B's
time over A's with its 95% interval over processes, a verdict, geometric means, and the same gate
as compare: exit 1 when B is slower than A by more than ``--threshold`` (Holm-tested as a family,
or on an op and pass's geometric mean), 0 otherwise, 2 on bad input.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import InputError
from . import bench as bench_cli
from . import common
from .compare import _confidence, _fraction


#: ab's rule unless --target / --max-processes / --processes say otherwise: tighter than a first look
AB_TARGET = 0.05
AB_MAX_PROCESSES = 10


def add_parser(sub) -> None:
    p = sub.add_parser("ab", help="time two backends (two versions of a kernel) interleaved in one run: is B slower "
                                  "than A? (the recommended way to check a change)")
    p.add_argument("a", metavar="A", help="the reference backend (e.g. the kernel before the change)")
    p.add_argument("b", metavar="B", help="the backend to judge against A (e.g. the kernel after it)")
    common.plugin_options(p)
    common.norm_option(p)
    bench_cli.plan_options(p)
    p.add_argument("--output", "-o", type=Path, default=None, metavar="FILE",
                   help="also write both backends' rows to FILE (.csv or .json; overwritten)")
    p.add_argument("--threshold", type=_fraction, default=0.10, metavar="FRACTION",
                   help="exit 1 when B is slower than A by more than this in a configuration (Holm-tested as one "
                        "family) or on an op and pass's geometric mean (default 0.10 = 10%%)")
    p.add_argument("--confidence", type=_confidence, default=0.95, help="of each interval (default 0.95)")
    p.add_argument("--json", action="store_true", help="print one JSON object per configuration (a list) instead")
    p.add_argument("--unpaired", action="store_true",
                   help="time A and B in worker processes of their own (isolated from each other) instead of "
                        "alternately inside the same ones; each worker's own speed then comes between them")
    common.timing_options(p)
    p.set_defaults(func=cmd_ab)


def cmd_ab(args: argparse.Namespace) -> int:
    from .._timing import bench
    from .._results import benchfile, runinfo, stats
    from ..backend import availability_of
    from .._results.compare import CONFIG_KEYS, ab_rows
    from .._timing.paired import PairedManager
    from .._reporting.tables import render
    from .._runtime.progress import Progress
    from .compare import _fmt, _summary

    if args.a == args.b:
        raise InputError(f"A and B are the same backend ({args.a!r}): name two, e.g. the kernel before and after a change")
    bench_cli.check_output(args.output)
    common.warn_threads(args.threads)
    # a regression check needs more than a first look: to ±5% with up to 10 processes a row, unless told
    # otherwise (reports/protocol/power.sh: what this buys in power)
    if args.target is None:
        args.target = AB_TARGET
    if args.max_processes is None and args.processes is None:
        args.max_processes = AB_MAX_PROCESSES
    args.backend = [args.a, args.b]
    registry = common.load_registry(args)
    ops, backends = common.selected(registry, args)
    for b in backends:
        avail = availability_of(b)
        if not avail:
            raise InputError(f"backend {b.name!r} is unavailable: {avail.reason}")
    ops = [op for op in ops if all(registry.supports(b, op.name) for b in backends)]
    if not ops:
        raise InputError(f"{args.a} and {args.b} implement no op in common among those selected")
    todo = bench_cli.plan(args, ops)
    common.warn_problems(registry)
    rigor = common.rigor_of(args)
    run_id, started, facts = runinfo.new_run_id(), runinfo.now(), {}
    design = "unpaired" if args.unpaired else "paired"
    head = runinfo.header(run_id, started, backends=facts,
                          protocol={**bench.protocol(rigor, args.memory_policy, args.seed, args.placement),
                                    "ab": {"a": args.a, "b": args.b, "design": design,
                                           # how the samples inside a paired process were taken (0.15: in turns)
                                           **({} if args.unpaired else {"samples": "interleaved A B B A"})}})
    progress = Progress("ab", bench.planned_steps(backends, todo, rigor), unit="measurements")
    common.wait_for_idle(args.wait_idle)
    rows, skipped = bench.run_bench(backends, todo, rigor=rigor, threads=args.threads, progress=progress,
                                    scopes=registry.scopes, run_id=run_id, facts=facts, policy=args.memory_policy,
                                    timeout=args.timeout, plugins=tuple(args.plugin), seed=args.seed,
                                    placement=args.placement, scheduler=None if args.unpaired else PairedManager)
    progress.done()
    for line in skipped:
        print(f"skipped: {line}", file=sys.stderr)
    if args.output:
        import dataclasses

        benchfile.write(args.output, rows, [dataclasses.replace(head, ended=runinfo.now())])
    result = ab_rows(rows, args.a, args.b, confidence=args.confidence, threshold=args.threshold,
                     paired=not args.unpaired)
    if not result:
        raise InputError(_why_nothing_matched(rows, args.a, args.b))
    counts = {"matched": len(result), "only_a": 0, "only_b": 0, "noise_estimated": False, "noise": 0.0,
              "noise_by_backend": {}}
    summary = _summary(result, counts, args, stats, same_run=design)
    if args.json:
        json.dump(result, sys.stdout, indent=1)
        print()
        print("\n".join(summary), file=sys.stderr)
    else:
        keys = [k for k in CONFIG_KEYS if k != "backend"]
        print(render([*keys, f"{args.a} ms", f"{args.b} ms", f"B/A [{args.confidence:.0%} interval]", "verdict"],
                     [[r[k] for k in keys] + [f"{r['a_median_s'] * 1e3:.3f}", f"{r['b_median_s'] * 1e3:.3f}",
                                              f"{r['ratio']:.3f} [{_fmt(r['low'])}, {_fmt(r['high'])}]"
                                              if r["low"] is not None else f"{r['ratio']:.3f} [too few samples]",
                                              r["verdict"] + (" REGRESSION" if r["regression"] else "")]
                      for r in result]))
        print()
        print("\n".join(summary))
    if args.output:
        print(f"wrote {len(rows)} rows to {args.output}", file=sys.stderr if args.json else sys.stdout)
    return 1 if any(r["regression"] or r.get("group_regression") for r in result) else 0


def _why_nothing_matched(rows: list[dict], a: str, b: str) -> str:
    """One line on why A and B share no configuration: nothing measured on one of them, or both
    measured but at different thread counts (each backend's rows record the threads it put in
    effect, and a configuration at 1 thread is not one at 2)."""
    # the thread counts in effect that each backend's rows record (None or "": the backend took no count)
    threads = {name: sorted({str(r["threads"]) for r in rows if r.get("backend") == name
                             and r.get("threads") not in (None, "")}) for name in (a, b)}
    if threads[a] and threads[b] and not set(threads[a]) & set(threads[b]):
        return (f"{a} and {b} ran at different thread counts ({a}: {', '.join(threads[a])}; {b}: "
                f"{', '.join(threads[b])}: the threads each put in effect), so no configuration matches; "
                f"--threads N with an N both take (--threads 1) times them alike")
    return f"no configuration was measured on both {a} and {b}"
