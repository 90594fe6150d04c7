"""``normbench run``: the whole product in one go (list, check, quick benchmarks, report).

The report folder is built beside the target and renamed into place at the end, so an
interrupted run never leaves a mix of two runs; a second run into the same folder while one is
going refuses (a lock).
"""
from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import os
import shutil
import sys
import time
from pathlib import Path

from ..errors import InputError
from ..records import CHECK_SCHEMA
from .._results.runinfo import usable_cores
from .._runtime.progress import _clock
from . import common


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="the whole product: list, check every available backend, quick benchmarks, report")
    common.plugin_options(p)
    common.store_option(p)
    common.norm_option(p)
    common.backend_option(p)
    p.add_argument("--output", "-o", type=Path, default=Path("normbench-report"), metavar="DIR", help="report folder (default normbench-report)")
    p.add_argument("--grid", default="quick", help="benchmark grid of each op: quick (default), standard, full or smoke")
    p.add_argument("--threads", type=common.positive_int, default=usable_cores(),
                   help="CPU threads for every backend (default: the cores this process may use)")
    p.add_argument("--all-compiled", action="store_true",
                   help="check in full and benchmark the backends that compile every configuration in each process "
                        "(torch-compile, keras-jax, flax...): by default they are checked on a sample, the first case of "
                        "every kind of data (normal, constant, offset, NaN...) per op, and not benchmarked (minutes each); a backend named with --backend always is")
    p.add_argument("--invariance", action="store_true",
                   help="also probe every checked backend's invariance (bitwise: run to run, batch, threads, layout; "
                        "a minute or two on 2 cores), as normbench check does, and show it in the report")
    p.add_argument("--baseline", default=None, metavar="BACKEND",
                   help="speed-ups are over this backend (default: torch-cpu when it is measured)")

    # a first look measures to +-15% (2-4 processes a row): on a noisy 2-core VM the default rigor's
    # 3-6 processes cost the first report two more minutes (reports/protocol, "Measure until sure")
    common.timing_options(p, rigor="quick")
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from .._results.output import Lock, check_writable

    started = time.monotonic()
    registry = common.load_registry(args)
    ops, backends = common.selected(registry, args)
    grids = {op.name: op.grid(args.grid) for op in ops}  # an unknown grid fails before any work
    if not ops:
        raise InputError("no op is installed")
    if args.baseline and args.baseline not in {b.name for b in backends}:
        raise InputError(f"--baseline {args.baseline!r} is not among the selected backends "
                         f"({', '.join(b.name for b in backends)})")
    check_writable(args.output, directory=True)
    common.warn_threads(args.threads)
    with Lock(args.output):
        _remove_stale_folders(args.output)
        staging = args.output.parent / f".{args.output.name}.partial-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            failed = _run(args, registry, ops, backends, grids, staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _replace_dir(staging, args.output)
    print(("FAILED: unexpected conformance failures (see the report)" if failed else "done: no unexpected failures")
          + f"; report in {args.output}/ after {_clock(time.monotonic() - started)}")
    return 1 if failed else 0


def _remove_stale_folders(target: Path) -> None:
    """Staging folders a killed run left beside ``target`` (``.NAME.partial-PID``, ``.NAME.old-PID``).
    The caller holds ``target``'s lock, so no run that could still use them is alive."""
    for stale in sorted(target.parent.glob(f".{glob.escape(target.name)}.partial-*")) + \
            sorted(target.parent.glob(f".{glob.escape(target.name)}.old-*")):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
            print(f"normbench: removed {stale.name}, left by a run that was killed", file=sys.stderr)


def _replace_dir(new: Path, target: Path) -> None:
    """Put ``new`` where ``target`` is, in two renames (the old folder goes only once the new is in)."""
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def _run(args, registry, ops, backends, grids, out: Path) -> bool:
    """The four steps, written into ``out``; True if a conformance case failed unexpectedly."""
    import pandas as pd

    from .._timing import bench, schedule
    from .._results import benchfile, compare, runinfo
    from .._reporting import report
    from ..conformance import runner
    from ..conformance.invariance import Request
    from ..conformance.pace import Pace
    from .._runtime.discovery import backend_rows
    from .._reporting.tables import render
    from .._runtime.progress import RunProgress

    run_id, facts, rigor = runinfo.new_run_id(), {}, common.rigor_of(args)
    # once; facts fill in as backends are measured
    head = runinfo.header(run_id, runinfo.now(), backends=facts, protocol=bench.protocol(rigor, args.memory_policy, args.seed, args.placement))
    print(f"run {run_id}")
    print("== 1/4 backends")
    chosen = {b.name for b in backends}
    rows = [r for r in backend_rows(registry, ops) if r["name"] in chosen]
    print(render(["backend", "available", "from", "ops"],
                 [[r["name"], "yes" if r["available"] else f"no: {r['reason']}", r["source"], ",".join(r["ops"])] for r in rows]))
    for p in registry.problems:
        print(f"broken plugin: {p}")
    for notice in registry.notices:
        print(f"notice: {notice}")

    print("\n== 2/4 conformance")
    cases = runner.select_cases(ops)
    todo = [cfg for op in ops for cfg in bench.configurations(op, grids[op.name].shapes(), grids[op.name].dtypes,
                                                         grids[op.name].layouts, op.passes)]
    available = [b for b in backends if b.availability()]
    to_bench = _to_bench(args, available)
    sampled = [b.name for b in available if b not in to_bench and any(registry.supports(b, op.name) for op in ops)]
    progress = RunProgress(4)
    per_case = {op.name: sum(c.op == op.name for c in cases) for op in ops}
    per_sample = {op.name: len(runner.first_of_each_data(c for c in cases if c.op == op.name)) for op in ops}
    planned = {(b.name, op.name): (per_sample if b.name in sampled else per_case)[op.name] for b in available
               for op in ops if registry.supports(b, op.name)}
    pace = Pace(planned, {b.name for b in available if getattr(b, "compiles_per_configuration", False)}, usable_cores())
    progress.phase(2, "conformance", sum(planned.values()), "case runs",
                   later=[(bench.planned_steps(to_bench, todo, rigor), schedule.STEP_PRIOR_S), (1, REPORT_S)])
    progress.replan(sum(planned.values()), pace.seconds_left)
    if sampled:
        print(f"  checked on a sample (the first case of every kind of data per op): {', '.join(sampled)}")
    reports = runner.run_checks(registry, ops, backends, cases, timeout=runner.DEFAULT_TIMEOUT, threads=args.threads,
                                jobs=usable_cores(), plugins=tuple(args.plugin), step=progress.step,
                                sampled=sampled, pace=pace,
                                invariance=Request() if args.invariance else None)
    progress.done()
    for rep in reports:
        print(f"  {rep.name} {rep.op}: " + (", ".join(f"{k} {v}" for k, v in sorted(rep.counts().items())) if rep.available
                                            else f"unavailable ({rep.reason})"))
    check = runner.check_json(reports, registry, run=dataclasses.replace(head, schema=CHECK_SCHEMA))
    (out / "check.json").write_text(json.dumps(check, indent=1))
    print(check["summary"])

    print(f"\n== 3/4 benchmarks ({args.grid} grid, {args.threads} threads)")
    unavailable = {rep.name for rep in reports if not rep.available}
    usable = _to_bench(args, [b for b in backends if b.name not in unavailable])
    not_measured = _left_out_note(sampled, args.output)
    if not_measured:
        print(f"  {not_measured}")
    progress.phase(3, "benchmarks", bench.planned_steps(usable, todo, rigor), "measurements", later=[(1, REPORT_S)])
    common.wait_for_idle(args.wait_idle)
    bench_rows, skipped = bench.run_bench(usable, todo, rigor=rigor, threads=args.threads, progress=progress,
                                    scopes=registry.scopes, run_id=run_id, facts=facts, policy=args.memory_policy,
                                    plugins=tuple(args.plugin), seed=args.seed, placement=args.placement)
    progress.done()
    runs = [dataclasses.replace(head, ended=runinfo.now())]
    benchfile.write(out / "bench.json", bench_rows, runs)  # canonical: header, rows, raw samples
    benchfile.write(out / "bench.csv", bench_rows, runs)  # flat export
    common.keep_in_store(args, "check", document=check)
    if bench_rows:
        common.keep_in_store(args, "bench", header=runs[0], rows=bench_rows)
    errors = [s for s in skipped if ": unsupported (" not in s and ": unavailable (" not in s]
    for line in errors:
        print(f"  not measured: {line}")
    print(f"{len(bench_rows)} measurements, {len(skipped) - len(errors)} skipped (unsupported or unavailable), "
          f"{len(errors)} failed")
    baseline = args.baseline or ("torch-cpu" if any(r["backend"] == "torch-cpu" for r in bench_rows) else None)
    unstable = sum(bool(r["unstable"]) for r in bench_rows)
    contended = sum(bool(r.get("contended")) for r in bench_rows)
    if unstable:
        from collections import Counter

        causes = Counter(r.get("unstable_cause") or "spread" for r in bench_rows if r["unstable"])
        print(f"{unstable} of {len(bench_rows)} measurements unstable ("
              + ", ".join(f"{n} {c}" for c, n in causes.most_common()) + "); each with its cause in the report")
    if contended:
        print(f"{contended} of {len(bench_rows)} measurements contended (the machine was busy): shown, but left out of "
              "every summary")
    if baseline:
        print("\n".join(compare.speedup_lines(bench_rows, baseline)))

    print("\n== 4/4 report")
    left_out = [not_measured] if not_measured else []
    if args.grid == "quick":
        left_out.append(f"This is the quick grid, a first look: {len(todo)} configurations, a few representative "
                        "shapes per op, pass and layout, small to large, measured at the rigor in *Runs and machines*. "
                        "The full picture (batch and channel sweeps, more dtypes, each row to +-10%) is "
                        "`normbench run --grid full --rigor default`, or `--grid standard` for each op's standard shapes; "
                        "to check a change, `normbench ab` times both versions in one run.")
    path = report.write_report(pd.DataFrame(bench_rows), out, ops, baseline=baseline, check=check, runs=runs,
                               not_measured=left_out)
    print(f"wrote {path.name}")
    return any(r.failed for r in reports)


#: a rough cost on this project's 2-core VM, for the run's ETA before the report phase has its own
#: rate (a measurement's is the scheduler's prior, schedule.STEP_PRIOR_S)
REPORT_S = 30.0


def _to_bench(args, backends: list) -> list:
    """The backends checked in full and benchmarked: all of them when named with --backend or with
    --all-compiled, else those that do not compile every configuration in each process."""
    if args.backend or args.all_compiled:
        return list(backends)
    return [b for b in backends if not getattr(b, "compiles_per_configuration", False)]


def _left_out_note(names: list[str], output: Path) -> str:
    """What the default run left out (a full check and the benchmarks of ``names``), and the commands
    that run it."""
    if not names:
        return ""
    flags = " ".join(f"--backend {n}" for n in names)
    return (f"Checked on a sample (the first case of every kind of data per op) and not benchmarked: {', '.join(names)}. "
            f"They compile every configuration anew in each process, minutes per backend for the full cases "
            f"and again for the quick grid, so `normbench run` does both only when asked: `normbench run "
            f"--all-compiled`, or add them to this report with `normbench check -o full-check.json` (every "
            f"backend, in full), `normbench bench --grid quick {flags} -o more.json` and `normbench report "
            f"--input {output}/bench.json --input more.json --check full-check.json --output {output}`.")
