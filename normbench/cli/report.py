"""``normbench report``: bench files, asv results and check results -> Markdown + PNG."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from . import common


def asv_results_dir(conf: Path = Path("asv.conf.json")) -> Path:
    """``results_dir`` of ``conf`` as asv itself reads it (asv's default when there is none)."""
    if conf.exists():
        import asv.config

        try:
            return Path(asv.config.Config.load(str(conf)).results_dir)
        except Exception as exc:  # noqa: BLE001 - asv raises its own UserError for a bad file
            raise InputError(f"cannot read {conf}: {exc}") from None
    return Path(".asv/results")


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="turn bench files and/or asv results into Markdown + PNG plots")
    common.plugin_options(p)
    common.norm_option(p)
    p.add_argument("--input", "-i", action="append", default=[], type=Path, metavar="FILE",
                   help="a normbench bench .csv/.json file (repeatable)")
    p.add_argument("--asv", nargs="?", const="", default=None, metavar="DIR",
                   help="include asv results (default DIR: results_dir of ./asv.conf.json)")
    p.add_argument("--check", type=Path, action="append", default=[], metavar="FILE",
                   help="include 'normbench check --json' results (repeatable: files of different backends, e.g. "
                        "from CI runners, are merged)")
    p.add_argument("--output", "-o", type=Path, default=Path("normbench-report"), metavar="DIR", help="folder to write (default normbench-report)")
    p.add_argument("--baseline", default=None, metavar="BACKEND",
                   help="speed-ups are relative to it (default: torch-cpu when it was measured)")
    p.add_argument("--no-plots", action="store_true", help="Markdown only")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    import pandas as pd

    from .._reporting import report

    registry = common.load_registry(args)
    ops = registry.select_ops(args.norm)
    # nothing given: asv's results; --check alone is a report of conformance and invariance, no timings
    if not args.input and args.asv is None and not args.check:
        default = asv_results_dir()
        if not default.is_dir():
            raise InputError(f"nothing to report: give --input FILE (from normbench bench) or run asv first ({default} does not exist)")
        args.asv = str(default)
    runs: list = []  # RunHeader of every input file's runs
    frames = [report.load_bench(args.input, ops, runs)]
    if args.asv is not None:
        frames.append(report.load_asv(Path(args.asv) if args.asv else asv_results_dir(), ops))
    present = [f for f in frames if not f.empty]
    df = pd.concat(present, ignore_index=True) if present else frames[0]
    if args.norm and not df.empty:
        df = df[df["norm"].isin([op.name for op in ops])]
    if df.empty and (args.input or args.asv is not None):
        raise InputError("the results hold no measurements (asv skipped everything, or the files are empty)")
    check = report.merge_checks(args.check) if args.check else None
    path = report.write_report(df, args.output, ops, baseline=args.baseline, check=check, runs=runs,
                               plots=not args.no_plots)
    print(f"wrote {path} ({len(df)} measurements{', conformance only' if df.empty else ''})")
    return 0
