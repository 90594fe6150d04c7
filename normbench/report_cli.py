"""``normbench report`` (results -> Markdown + PNG) and ``normbench run`` (the whole product)."""
from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import InputError


def _asv_results_dir() -> Path:
    """results_dir from asv.conf.json in the current directory (asv's default otherwise)."""
    conf = Path("asv.conf.json")
    if conf.exists():
        import re

        text = re.sub(r"^\s*//.*$", "", conf.read_text(), flags=re.M)  # asv allows // comments
        try:
            return Path(json.loads(text).get("results_dir", "results"))
        except json.JSONDecodeError:
            pass
    return Path(".asv/results")


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="turn bench files and/or asv results into Markdown + PNG plots")
    p.add_argument("--input", "-i", action="append", default=[], type=Path, metavar="FILE",
                   help="a normbench bench .csv/.json file (repeatable)")
    p.add_argument("--asv", nargs="?", const="", default=None, metavar="DIR",
                   help="include asv results (default DIR: results_dir of ./asv.conf.json)")
    p.add_argument("--check", type=Path, default=None, metavar="FILE", help="include 'normbench check --json' results")
    p.add_argument("--output", "-o", type=Path, default=Path("normbench-report"), metavar="DIR", help="folder to write (default normbench-report)")
    p.add_argument("--baseline", default="torch-cpu", metavar="BACKEND", help="speed-ups are relative to it (default torch-cpu)")
    p.add_argument("--no-plots", action="store_true", help="Markdown only")
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    import pandas as pd

    from . import report

    if not args.input and args.asv is None:
        default = _asv_results_dir()
        if not default.is_dir():
            raise InputError(f"nothing to report: give --input FILE (from normbench bench) or run asv first ({default} does not exist)")
        args.asv = str(default)
    frames = [report.load_bench(args.input)]
    if args.asv is not None:
        frames.append(report.load_asv(Path(args.asv) if args.asv else _asv_results_dir()))
    df = pd.concat([f for f in frames if not f.empty], ignore_index=True) if any(not f.empty for f in frames) else frames[0]
    if df.empty:
        raise InputError("the results hold no measurements (asv skipped everything, or the files are empty)")
    check = report.load_check(args.check) if args.check else None
    path = report.write_report(df, args.output, baseline=args.baseline, check=check, plots=not args.no_plots)
    print(f"wrote {path} ({len(df)} measurements)")
    return 0


def add_run_parser(sub, plugin_options) -> None:
    p = sub.add_parser("run", help="the whole product: list, check every available backend, quick benchmarks, report")
    plugin_options(p)
    p.add_argument("--backend", action="append", default=[], metavar="NAME", help="backends (repeatable; default: all)")
    p.add_argument("--output", "-o", type=Path, default=Path("normbench-report"), metavar="DIR", help="report folder (default normbench-report)")
    p.add_argument("--grid", default="quick", help="benchmark grid: quick (default), standard or full")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads for every backend (default: all cores)")
    p.add_argument("--repeat", type=int, default=7, help="timed samples per measurement")
    p.add_argument("--baseline", default="torch-cpu", metavar="BACKEND")
    p.set_defaults(func=cmd_run)


def cmd_run(args) -> int:
    from . import bench, report
    from .backend import safe_call
    from .bench_cli import configurations, run_bench, speedup_lines, write_rows
    from .cli import _check_json, _registry, backend_rows
    from .conformance import runner
    from .grids import GRIDS
    from .tables import Progress, render

    if args.grid not in GRIDS:
        raise InputError(f"unknown grid {args.grid!r}; expected one of {', '.join(GRIDS)}")
    registry = _registry(args)
    backends = registry.select(args.backend)
    out = args.output
    out.mkdir(parents=True, exist_ok=True)

    print("== 1/4 backends")
    rows = [r for r in backend_rows(registry) if not args.backend or r["name"] in args.backend]
    print(render(["backend", "available", "from"], [[r["name"], "yes" if r["available"] else f"no: {r['reason']}", r["source"]] for r in rows]))
    for p in registry.problems:
        print(f"broken plugin: {p}")

    print("\n== 2/4 conformance")
    cases = runner.select_cases()
    reports = []
    for b in backends:
        safe_call(lambda: b.set_threads(args.threads))
        progress = Progress(f"check {b.name}", len(cases))
        reports.append(runner.check_backend(b, cases, on_result=lambda r: progress.step()))
        progress.done()
        print(f"  {b.name}: " + (", ".join(f"{k} {v}" for k, v in sorted(reports[-1].counts().items())) if reports[-1].available
                                 else f"unavailable ({reports[-1].reason})"))
    check = _check_json(reports, registry)
    (out / "check.json").write_text(json.dumps(check, indent=1))
    print(check["summary"])

    print(f"\n== 3/4 benchmarks ({args.grid} grid, {args.threads} threads)")
    grid = GRIDS[args.grid]
    todo = configurations(grid.shapes(), grid.dtypes, grid.layouts, grid.ops)
    usable = [b for b, rep in zip(backends, reports) if rep.available]
    progress = Progress("bench", len(todo))
    bench_rows, skipped = run_bench(usable, todo, repeat=args.repeat, threads=args.threads, progress=progress)
    progress.done()
    write_rows(bench_rows, out / "bench.csv")
    print(f"{len(bench_rows)} measurements, {len(skipped)} skipped (unsupported or unavailable)")
    print("\n".join(speedup_lines(bench_rows, args.baseline)))

    print("\n== 4/4 report")
    import pandas as pd

    machine = bench.machine_info()
    machine["threads"] = args.threads
    path = report.write_report(pd.DataFrame(bench_rows), out, baseline=args.baseline, check=check, machines=machine)
    print(f"wrote {path}")
    failed = any(r.failed for r in reports)
    print(("FAILED: unexpected conformance failures (see the report)" if failed else "done: no unexpected failures")
          + f"; report in {out}/")
    return 1 if failed else 0
