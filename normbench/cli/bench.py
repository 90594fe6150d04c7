"""``normbench bench``: the benchmark grid of every selected op without asv, to the terminal and a file."""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
from pathlib import Path

from ..backend import availability_of
from .._timing import bench, floor
from .._results import compare
from .._timing.bench import RIGORS, Config, Rigor, configurations, run_bench
from .._timing.schedule import MAX_DEATHS
from .common import rigor_of

#: moved to normbench._timing.bench and cli.common in 0.9; still importable from here
__all__ = ["MAX_DEATHS", "RIGORS", "Config", "Rigor", "configurations", "run_bench", "rigor_of", "cmd_bench", "add_parser"]
from ..dtypes import DTYPES, LAYOUTS, check_dtype, check_layout
from ..errors import InputError
from ..opinfo import OpInfo, format_shape
from ..records import config_key
from . import common


def _sweep(text: str) -> tuple[str, list[int]]:
    axis, sep, values = text.partition("=")
    try:
        sizes = [int(v) for v in values.split(",") if v.strip()]
    except ValueError:
        sizes = []
    if not sep or not axis.strip() or not sizes or min(sizes) < 0:
        raise argparse.ArgumentTypeError(f"expected AXIS=N[,N...] with sizes >= 0; got {text!r}")
    return axis.strip(), sizes


def _shard(text: str) -> tuple[int, int]:
    k, sep, n = text.partition("/")
    try:
        k_, n_ = int(k), int(n)
    except ValueError:
        k_ = n_ = 0
    if not sep or not 1 <= k_ <= n_:
        raise argparse.ArgumentTypeError(f"expected K/N with 1 <= K <= N (e.g. 2/4), got {text!r}")
    return k_, n_


def shard(todo: list, k: int, n: int) -> list:
    """Shard ``k`` of ``n`` (1-based): every n-th configuration of the plan. Shards are disjoint
    and cover the plan; each configuration's backends stay together, so ratios remain same-machine."""
    return todo[k - 1::n]


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="time backends over a grid of shapes (no asv needed)")
    common.plugin_options(p)
    common.store_option(p)
    common.norm_option(p)
    common.backend_option(p, "backend (default: all available)")
    plan_options(p)
    p.add_argument("--output", "-o", type=Path, default=None, metavar="FILE",
                   help="write rows to FILE (.csv or .json), rewritten after every worker process and on Ctrl-C")
    p.add_argument("--shard", type=_shard, default=None, metavar="K/N",
                   help="measure only shard K of N of the configurations (split a grid across machines; "
                        "normbench report --input merges the files)")
    p.add_argument("--floor", action="store_true",
                   help="also time the bandwidth floor (a copy of the bytes each pass moves) as one more backend, "
                        "'copy-floor', under the same protocol: rows' floor_fraction then comes from it")
    p.add_argument("--baseline", default="torch-cpu", metavar="BACKEND",
                   help="speed-ups printed are over this backend (default torch-cpu)")
    p.add_argument("--run-id", default=None, metavar="ID",
                   help="the run id recorded with every row (default: start time + random; give the shards of one "
                        "grid the same id so a report treats them as one run)")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="keep FILE's rows and skip the configurations it holds")
    again.add_argument("--force", action="store_true", help="overwrite an existing FILE")
    common.timing_options(p)
    p.set_defaults(func=cmd_bench)


def plan_options(p) -> None:
    """What to measure (passes, shapes, sweeps, dtypes, layouts, grid) and how (threads, time
    limit): shared by bench and ab."""
    p.add_argument("--op", action="append", default=[], metavar="PASS",
                   help="a pass of the op, e.g. train, eval, backward (repeatable; default: all)")
    p.add_argument("--shape", action="append", default=[], metavar="AxBx...", help="shape, e.g. 32x64x56x56 (repeatable)")
    p.add_argument("--sweep", type=_sweep, action="append", default=[], metavar="AXIS=N[,N]",
                   help="sizes along one of the op's axes for a sweep, repeatable, one AXIS each "
                        "(normbench list --json shows each op's axes)")
    p.add_argument("--dtype", action="append", default=[], metavar="DTYPE", help=f"{', '.join(DTYPES)} (repeatable; default float32)")
    p.add_argument("--layout", action="append", default=[], metavar="LAYOUT", help=f"{', '.join(LAYOUTS)} (repeatable; default contiguous)")
    p.add_argument("--grid", default=None, help="a predefined grid of each op: quick, standard, full, smoke "
                                                "(default: quick, unless shapes or a sweep are given)")
    p.add_argument("--threads", type=common.positive_int, default=None, help="CPU threads for every backend (recorded per row)")
    p.add_argument("--timeout", type=common.positive_float, default=300.0, metavar="S",
                   help="time limit for one backend's set-up or samples of one configuration (default 300 s)")


def plan(args, ops: list[OpInfo]) -> list[Config]:
    """Every measurement requested, validated, for each selected op."""
    passes = common.checked_passes(ops, args.op)
    dtypes = [check_dtype(d) for d in args.dtype]
    layouts = [check_layout(lay) for lay in args.layout]
    sweep = dict(args.sweep)
    swept = [op for op in ops if set(sweep) <= set(op.axes)] if sweep else []
    if sweep and not swept:
        raise InputError(f"no selected op has the axes {', '.join(sweep)}; "
                         + "; ".join(f"{op.name}: {', '.join(op.axes)}" for op in ops))
    todo: list[Config] = []
    explicit = bool(getattr(args, "norm", None))
    left_out: list[tuple[OpInfo, InputError]] = []
    fitted = 0  # ops the given shapes or sweep fit
    for op in ops:
        try:
            shapes = [op.parse_shape(s) for s in args.shape]
            if op in swept:
                import itertools

                names = list(sweep)
                shapes += [op.sweep_shape(dict(zip(names, combo))) for combo in itertools.product(*sweep.values())]
        except InputError as exc:
            if explicit:  # asked for by name: the shape must fit it
                raise
            left_out.append((op, exc))  # every installed op was selected by default: leave this one out
            continue
        fitted += bool(shapes)
        op_dtypes, op_layouts = dtypes, layouts
        if (not shapes and not sweep) or args.grid:
            grid = op.grid(args.grid or "quick")
            shapes += [s for s in grid.shapes() if s not in shapes]
            op_dtypes, op_layouts = dtypes or list(grid.dtypes), layouts or list(grid.layouts)
        op_passes = [p for p in (passes or op.passes) if p in op.passes]
        todo += bench.configurations(op, shapes, op_dtypes or ["float32"], op_layouts or ["contiguous"], op_passes)
    if left_out and not fitted:
        raise left_out[0][1]  # fits no op at all: the input itself is wrong
    for op, exc in left_out:
        print(f"normbench: notice: {op.name} left out: {exc}", file=sys.stderr)
    todo = list(dict.fromkeys(todo))
    refuse_what_cannot_fit(todo)
    return todo


def refuse_what_cannot_fit(todo: list[Config]) -> None:
    """Refuse, before any work, a configuration whose arrays alone (the op's byte model: what a
    pass reads and writes) exceed this machine's memory, instead of a MemoryError per process."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return
    for cfg in todo:
        need = cfg.op.bytes_moved(cfg.pass_, cfg.shape, cfg.dtype)
        if need > total:
            raise InputError(f"--shape {format_shape(cfg.shape)}: {cfg.op.name} {cfg.pass_} in {cfg.dtype} needs "
                             f"{_human(need)} of arrays, more than this machine's {_human(total)} of memory")


def _human(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if nbytes < 1024 or unit == "TiB":
            return f"{nbytes:.3g} {unit}"
        nbytes /= 1024
    return f"{nbytes:.3g} TiB"


def unfinished(row: dict, rigor: Rigor) -> bool:
    """A row that a killed run left before its rule was done with it: still ``running``, or (files
    from normbench 0.12 and older, which record no stop reason) fewer processes than the minimum."""
    stop = row.get("stop")
    if isinstance(stop, str) and stop:
        return stop == "running"
    return bool(row.get("process_n")) and len(row["process_n"]) < rigor.min_processes


def check_output(path: Path | None) -> None:
    from .._results.output import check_writable

    if path is not None:
        check_writable(path, suffixes=(".csv", ".json"))


def result_table(rows: list[dict], baseline: str = "torch-cpu") -> str:
    """The terminal table of bench and run: time, spread within processes, the processes and their
    interval's half-width, page faults per call, bandwidth, speed-up over ``baseline`` with its
    interval; ``!`` unstable (its cause and modes below the table), ``§`` contended."""
    from .._results.compare import is_contended, speedup_text, speedups
    from .._timing.sequential import CAUSES
    from .._reporting.tables import render

    ups = speedups(rows, baseline)

    def faults(r):
        v = r.get("faults_per_call")
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.0f}"

    def marks(r):
        return (" !" if r["unstable"] else "") + (" §" if is_contended(r) else "")

    out = render(
        ["norm", "backend", "op", "dtype", "layout", "shape", "threads", "median ms", "IQR", "procs ±95%", "faults/call",
         "GB/s", "% floor", f"vs {baseline}"],
        [[r["norm"], r["backend"], r["op"], r["dtype"], r["layout"], r["shape"], r["threads"],
          f"{r['median_s'] * 1e3:.3f}", f"{100 * r['dispersion']:.0f}%", procs_cell(r) + marks(r), faults(r),
          f"{r['gbps']:.1f}", f"{100 * r['floor_fraction']:.0f}%", speedup_text(ups[i]) if i in ups else ""]
         for i, r in enumerate(rows)],
    )
    lines = unstable_lines(rows)
    if lines:
        out += ("\n! unstable: the row's 95% interval is still wider than the rule's target after its last process, "
                "or its processes form modes. Why, for each (and what to do):\n" + "\n".join(f"  {x}" for x in lines))
        causes = sorted({r.get("unstable_cause") for r in rows if r.get("unstable_cause") in CAUSES})
        out += "\n" + "\n".join(f"  {c}: {CAUSES[c][0]}; {CAUSES[c][1]}" for c in causes)
    if any(is_contended(r) for r in rows):
        out += ("\n§ contended: the machine was busy while it was timed, even after re-measuring (wait_fraction in the "
                "file); shown, but left out of every summary")
    return out


def procs_cell(r: dict) -> str:
    """``5 ±3.1%``: the processes a row had and its interval's half-width (``3: 12%`` for rows of
    normbench 0.12 and older: their processes' spread, max - min over the median)."""
    h = r.get("half_width")
    n = r.get("processes", 1)
    if h is None or (isinstance(h, float) and math.isnan(h)):
        if r.get("stop"):
            return f"{n} ±?"
        return f"{n}: {100 * (r.get('process_dispersion') or 0):.0f}%"
    return f"{n} ±{100 * h:.1f}%"


def unstable_lines(rows: list[dict]) -> list[str]:
    """One line per unstable row: what it is, its cause and its modes."""
    from .._timing.sequential import unstable_text

    return [f"{r['backend']} {r['norm']} {r['op']} {r['shape']} {r['dtype']} {r['layout']}: "
            + unstable_text(r.get("unstable_cause"), r.get("modes"), r.get("processes"))
            for r in rows if r.get("unstable")]


def cmd_bench(args: argparse.Namespace) -> int:
    from .._results import benchfile, runinfo
    from .._results.output import Saver, lock_for
    from .._runtime.progress import Progress

    check_output(args.output)
    common.warn_threads(args.threads)
    registry = common.load_registry(args)
    ops, backends = common.selected(registry, args)
    todo = plan(args, ops)
    if args.shard:
        todo = shard(todo, *args.shard)
        print(f"shard {args.shard[0]}/{args.shard[1]}: {len(todo)} configurations", file=sys.stderr)
        if not todo:
            raise InputError(f"shard {args.shard[0]}/{args.shard[1]} is empty: the plan has fewer configurations "
                             f"than {args.shard[1]} shards")
    common.warn_problems(registry)
    if not [b for b in backends if any(registry.supports(b, op.name) for op in ops) and availability_of(b)]:
        raise InputError("nothing to measure: none of the selected backends is available and implements "
                         + ", ".join(op.name for op in ops))
    scopes = registry.scopes
    if args.floor:  # one more "backend", measured like the others (normbench._timing.floor)
        backends = [*backends, floor.CopyFloor([op.name for op in ops])]
        scopes = {**scopes, floor.NAME: floor.floor_scope(registry)}
    kept: list[dict] = []
    kept_runs: list[dict] = []
    run_id, started, facts = args.run_id or runinfo.new_run_id(), runinfo.now(), {}
    with lock_for(args.output):
        if args.output and args.output.exists():
            if args.resume:
                kept, kept_runs = benchfile.read(args.output)
                # a configuration interrupted before its rule was done with it is measured again, whole
                rigor = common.rigor_of(args)
                short = {config_key(r) for r in kept if unfinished(r, rigor)}
                kept = [r for r in kept if config_key(r) not in short]
                if short:
                    print(f"resuming: {len(short)} configurations had fewer processes than asked; measuring them again",
                          file=sys.stderr)
                done = {config_key(r) for r in kept}
                todo = [c for c in todo if c.key() not in done]
                print(f"resuming: {len(kept)} rows kept from {args.output}, {len(todo)} configurations to go", file=sys.stderr)
            elif not args.force:
                raise InputError(f"{args.output} exists; --resume adds to it, --force overwrites it")
        rigor = common.rigor_of(args)
        progress = Progress("bench", bench.planned_steps(backends, todo, rigor), unit="measurements")
        # built once (it runs git and reads /proc); ``facts`` fills in as backends are measured
        head = runinfo.header(run_id, started, backends=facts, protocol=bench.protocol(rigor, args.memory_policy, args.seed, args.placement))
        common.wait_for_idle(args.wait_idle)

        save = Saver(args.output, lambda rows: benchfile.write(
            args.output, kept + rows, kept_runs + [dataclasses.replace(head, ended=runinfo.now())])) if args.output else None

        try:
            rows, skipped = bench.run_bench(backends, todo, rigor=rigor, threads=args.threads, progress=progress,
                                      scopes=scopes, run_id=run_id, facts=facts, policy=args.memory_policy,
                                      timeout=args.timeout, plugins=tuple(args.plugin), seed=args.seed,
                                      placement=args.placement,
                                      on_rows=save if args.output else None)
        except KeyboardInterrupt:
            progress.done()
            where = f"; every finished row is in {args.output}" if args.output else ""
            print(f"normbench: interrupted{where}", file=sys.stderr)
            return 130
        progress.done()
        if args.output:
            save(rows)
    if rows:
        common.keep_in_store(args, "bench", header=dataclasses.replace(head, ended=runinfo.now()), rows=rows)
    print(result_table(rows, args.baseline))
    for s in skipped:
        print(f"skipped: {s}", file=sys.stderr)
    ratios = compare.speedup_lines(rows, args.baseline)
    if ratios:
        print()
        print("\n".join(ratios))
    if args.output:
        save.raise_if_failed()
        print(f"wrote {len(kept) + len(rows)} rows to {args.output}")
    if not rows and not kept:
        raise InputError("nothing was measured: every requested backend was unavailable or unsupported")
    return 0

