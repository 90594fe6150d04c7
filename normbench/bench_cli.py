"""``normbench bench``: the benchmark grid without asv, to the terminal and/or a CSV/JSON file."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .backend import OPS, availability_of
from .dtypes import DTYPES, LAYOUTS, check_dtype, check_layout
from .errors import InputError, Unsupported
from .grids import GRIDS, make_shape, parse_shape


def _csv_ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas, got {text!r}") from None


def add_parser(sub, plugin_options) -> None:
    p = sub.add_parser("bench", help="time backends over a grid of shapes (no asv needed)")
    plugin_options(p)
    p.add_argument("--backend", action="append", default=[], metavar="NAME", help="backend (repeatable; default: all available)")
    p.add_argument("--op", action="append", default=[], metavar="OP", help=f"op: {', '.join(OPS)} (repeatable; default: all)")
    p.add_argument("--shape", action="append", default=[], metavar="NxCxHxW", help="shape, e.g. 32x64x56x56 or 1024x1024 (repeatable)")
    p.add_argument("--batch", type=_csv_ints, action="extend", default=[], metavar="N[,N]", help="batch sizes for a sweep")
    p.add_argument("--channels", type=_csv_ints, action="extend", default=[], metavar="C[,C]", help="channel counts for a sweep")
    p.add_argument("--spatial", type=_csv_ints, action="extend", default=[], metavar="S[,S]", help="H = W sizes for a sweep (0: 2-D input)")
    p.add_argument("--dtype", action="append", default=[], metavar="DTYPE", help=f"{', '.join(DTYPES)} (repeatable; default float32)")
    p.add_argument("--layout", action="append", default=[], metavar="LAYOUT", help=f"{', '.join(LAYOUTS)} (repeatable; default contiguous)")
    p.add_argument("--grid", choices=sorted(GRIDS), default=None, help="a predefined grid (default: quick, unless shapes are given)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for every backend (recorded per row)")
    p.add_argument("--repeat", type=int, default=10, help="timed samples per measurement (default 10)")
    p.add_argument("--timeout", type=float, default=300.0, metavar="S",
                   help="time limit for one backend's set-up or samples of one configuration (default 300 s)")
    p.add_argument("--output", "-o", type=Path, default=None, metavar="FILE", help="write rows to FILE (.csv or .json)")
    p.set_defaults(func=cmd_bench)


def plan(args) -> list[tuple[str, tuple[int, ...], str, str]]:
    """(op, shape, dtype, layout) for every measurement requested, validated."""
    ops = args.op or list(OPS)
    for op in ops:
        if op not in OPS:
            raise InputError(f"unknown op {op!r}; expected one of {', '.join(OPS)}")
    dtypes = [check_dtype(d) for d in args.dtype]
    layouts = [check_layout(lay) for lay in args.layout]
    shapes = [parse_shape(s) for s in args.shape]
    if args.batch or args.channels or args.spatial:
        if not (args.batch and args.channels):
            raise InputError("a sweep needs both --batch and --channels (and optionally --spatial, default 14)")
        for v in (*args.batch, *args.channels, *args.spatial):
            if v < 0:
                raise InputError(f"sizes must be positive, got {v}")
        shapes += [make_shape(n, c, s) for n in args.batch for c in args.channels for s in (args.spatial or [14])]
    if not shapes or args.grid:
        grid = GRIDS[args.grid or "quick"]
        shapes += [s for s in grid.shapes() if s not in shapes]
        dtypes = dtypes or list(grid.dtypes)
        layouts = layouts or list(grid.layouts)
    dtypes, layouts = dtypes or ["float32"], layouts or ["contiguous"]
    if args.repeat < 1:
        raise InputError(f"--repeat must be at least 1, got {args.repeat}")
    return configurations(shapes, dtypes, layouts, ops)


def configurations(shapes, dtypes, layouts, ops) -> list[tuple[str, tuple[int, ...], str, str]]:
    """Every (op, shape, dtype, layout), without repeats; 2-D shapes have one layout."""
    out = [(op, shape, dtype, layout) for shape in shapes for dtype in dtypes
           for layout in (layouts if len(shape) > 2 else ["contiguous"]) for op in ops]
    return list(dict.fromkeys(out))


def run_bench(backends, todo, *, repeat: int, threads: int | None, progress=None, timeout: float | None = 300.0):
    """Measure every (op, shape, dtype, layout) on every backend, the backends of a configuration
    back to back so their ratios are fair. A backend that hangs past ``timeout`` is dropped for
    the rest of the run. Returns (rows, skipped lines)."""
    from . import bench
    from .limits import TimedOut

    machine = bench.machine_info()
    rows, skipped, usable = [], [], []
    for b in backends:
        avail = availability_of(b)
        if avail:
            usable.append(b)
        else:
            skipped.append(f"{b.name}: unavailable ({avail.reason})")
    for op, shape, dtype, layout in todo:
        got, failed = bench.measure_interleaved(usable, op, shape, dtype, layout, repeat=repeat, threads=threads,
                                                machine=machine, timeout=timeout)
        rows += got
        for b, exc in failed:
            what = "unsupported" if isinstance(exc, Unsupported) else f"error {type(exc).__name__}"
            if isinstance(exc, TimedOut):
                usable.remove(b)  # a hung call still runs: send this backend nothing more
                what = "hung, dropped for the rest of the run"
            skipped.append(f"{b.name} {op} {'x'.join(map(str, shape))} {dtype} {layout}: {what} ({exc})")
        if progress:
            progress.step(f"{op} {'x'.join(map(str, shape))} {layout}")
    return rows, skipped


def write_rows(rows: list[dict], path: Path) -> None:
    import pandas as pd

    from .bench import COLUMNS

    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise InputError(f"--output must end in .csv or .json, got {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows, columns=COLUMNS)
    if suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        path.write_text(json.dumps({"normbench_bench": 1, "rows": df.to_dict(orient="records")}, indent=1))


def cmd_bench(args) -> int:
    from .cli import _registry, _warn_problems
    from .tables import Progress, render

    todo = plan(args)
    if args.output and args.output.suffix.lower() not in (".csv", ".json"):
        raise InputError(f"--output must end in .csv or .json, got {args.output.name!r}")
    registry = _registry(args)
    _warn_problems(registry)
    backends = registry.select(args.backend)
    progress = Progress("bench", len(todo))
    rows, skipped = run_bench(backends, todo, repeat=args.repeat, threads=args.threads, progress=progress,
                              timeout=args.timeout)
    progress.done()
    print(render(
        ["backend", "op", "dtype", "layout", "shape", "threads", "median ms", "GB/s", "% floor", "compile s"],
        [[r["backend"], r["op"], r["dtype"], r["layout"], r["shape"], r["threads"], f"{r['median_s'] * 1e3:.3f}",
          f"{r['gbps']:.1f}", f"{100 * r['floor_fraction']:.0f}%", f"{r['compile_s']:.2f}"] for r in rows],
    ))
    for s in skipped:
        print(f"skipped: {s}", file=sys.stderr)
    ratios = speedup_lines(rows)
    if ratios:
        print()
        print("\n".join(ratios))
    if args.output:
        write_rows(rows, args.output)
        print(f"wrote {len(rows)} rows to {args.output}")
    if not rows:
        raise InputError("nothing was measured: every requested backend was unavailable or unsupported")
    return 0


def speedup_lines(rows: list[dict], baseline: str = "torch-cpu") -> list[str]:
    """Geometric-mean speed-up of each backend over ``baseline`` per op, on shared configurations."""
    import math

    index = {(r["op"], r["shape"], r["dtype"], r["layout"]): r["median_s"] for r in rows if r["backend"] == baseline}
    if not index:
        return []
    out = []
    for name in dict.fromkeys(r["backend"] for r in rows):
        if name == baseline:
            continue
        for op in OPS:
            pairs = [(index[k], r["median_s"]) for r in rows if r["backend"] == name and r["op"] == op
                     and (k := (r["op"], r["shape"], r["dtype"], r["layout"])) in index]
            if pairs:
                gm = math.exp(sum(math.log(b / t) for b, t in pairs) / len(pairs))
                out.append(f"{name} vs {baseline}, {op}: {gm:.2f}x geometric mean over {len(pairs)} configurations (>1: faster)")
    return out
