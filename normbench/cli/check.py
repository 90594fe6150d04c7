"""``normbench check``: the conformance suite of every selected op against every selected backend."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..conformance.runner import kept_reports, run_checks
from .._results.runinfo import usable_cores
from . import common

#: run_checks and kept_reports moved to normbench.conformance.runner in 0.9; still importable from here
__all__ = ["run_checks", "kept_reports", "cmd_check", "add_parser"]


def add_parser(sub) -> None:
    p = sub.add_parser("check", help="run the conformance suite against backends")
    common.plugin_options(p)
    common.store_option(p)
    common.norm_option(p)
    common.backend_option(p, "backend to check")
    p.add_argument("--case", action="append", default=[], metavar="PATTERN", help="only cases whose id matches (fnmatch or substring)")
    p.add_argument("--group", action="append", default=[], metavar="GROUP", help="only this case group (repeatable)")
    p.add_argument("--dtype", action="append", default=[], metavar="DTYPE", help="only cases of this dtype (repeatable)")
    p.add_argument("--timeout", type=common.positive_float, default=120.0, metavar="S", help="time limit per case (default 120 s)")
    p.add_argument("--threads", type=common.positive_int, default=None, help="CPU threads for each backend")
    p.add_argument("--jobs", "-j", type=common.positive_int, default=None, metavar="N",
                   help="check N (backend, op) pairs at once, each in its own worker processes (default: the usable cores); "
                        "the output is the same as one at a time")
    p.add_argument("--list-cases", action="store_true", help="print the case ids and exit")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.add_argument("--output", "-o", type=Path, default=None, metavar="FILE",
                   help="also write the JSON to FILE, rewritten after every backend (kept if interrupted)")
    p.add_argument("--resume", action="store_true",
                   help="keep FILE's finished (backend, op) results and run only the rest")
    p.add_argument("--known-failures", type=Path, default=None, metavar="FILE",
                   help="your own known failures: lines 'BACKEND CASE-PATTERN [REASON]' (stale entries are warned about)")
    invariance_options(p)
    p.set_defaults(func=cmd_check)


def invariance_options(p) -> None:
    from ..conformance.invariance import PROPERTIES

    p.add_argument("--require", action="append", default=[], metavar="PROPERTY[,PROPERTY]",
                   help="make these invariance properties failures for every backend: " + ", ".join(PROPERTIES) +
                        " (default: reported, never failed, unless a backend promises them)")
    p.add_argument("--no-invariance", action="store_true",
                   help="skip the invariance probes (bitwise: run to run, batch, threads, layout)")


def invariance_request(args):
    """The invariance probes ``args`` ask for, or None (``--no-invariance``)."""
    from ..conformance.invariance import Request, parse_require
    from ..errors import InputError

    require = parse_require(args.require)
    if args.no_invariance:
        if require:
            raise InputError("--require needs the invariance probes: drop --no-invariance")
        return None
    return Request(require=require, dtypes=tuple(args.dtype) or None)


def print_invariance(reports, stream=None) -> None:
    """The invariance table: one row per (backend, op), one cell per property; then one line per
    failure (a required or promised property that does not hold)."""
    from ..conformance.invariance import HEADS, PROPERTIES, summary_cells
    from .._reporting.tables import render

    stream = stream or sys.stdout
    probed = [rep for rep in reports if rep.invariance]
    if not probed:
        return
    print("\ninvariance (bitwise, every output; yes = on every pass, dtype and layout probed; no: the first that "
          "differs, +N more)", file=stream)
    rows = []
    for rep in probed:
        cells = summary_cells(rep.invariance)
        rows.append([rep.name, rep.op, *(cells[p] for p in PROPERTIES)])
    print(render(["backend", "op", *(HEADS[p] for p in PROPERTIES)], rows), file=stream)
    for rep in probed:
        for row in rep.invariance_failures:
            for prop in row.failed:
                print(f"FAILED: {rep.name} {rep.op} {row.pass_} {row.dtype} {row.layout}: not {prop}: "
                      f"{row.verdicts[prop].detail}", file=stream)


def print_tables(reports, ops, cases, stream=None) -> None:
    """Per op, a backend x case-group table, then one line per failure or known failure."""
    import shutil
    import textwrap

    from ..results import NOTABLE, group_cell
    from .._reporting.tables import render_fit

    stream = stream or sys.stdout
    tty = stream.isatty()
    width = max(60, shutil.get_terminal_size((100, 24)).columns) if tty else 100
    first = True
    for op in ops:
        op_reports = [r for r in reports if r.op == op.name]
        if not op_reports:
            continue
        groups = [g for g in op.case_groups if any(c.group == g and c.op == op.name for c in cases)]
        rows = []
        for rep in op_reports:
            if not rep.available:
                rows.append([rep.name, f"unavailable: {rep.reason}"] + [""] * (len(groups) - 1))
                continue
            rows.append([rep.name] + [group_cell(r.as_dict() for r in rep.results if r.case.group == g) for g in groups])
        print(("" if first else "\n") + f"{op.name}", file=stream)
        print(render_fit(["backend", *groups], rows, width), file=stream)
        first = False
    details = [(rep.name, r) for rep in reports for r in rep.results if r.status in NOTABLE]
    if details:
        print(file=stream)
    for name, r in details:
        label = {"xfail": "known failure", "xpass": "XPASS"}.get(r.status, r.status.upper())
        reason = f" [{r.known_reason}]" if r.known_reason else ""
        line = f"{label}: {name} {r.case.id}: {r.message}{reason}"
        # wrapped on a terminal; one line each in a file or CI log, so that grep finds a record whole
        print(textwrap.fill(line, width, subsequent_indent="    ", break_on_hyphens=False) if tty else line, file=stream)
    for rep in reports:
        skipped = [r for r in rep.results if r.status == "skipped"]
        if skipped:
            print(f"DROPPED: {rep.name} {rep.op}: {len(skipped)} cases not run ({skipped[0].message})", file=stream)


def cmd_check(args: argparse.Namespace) -> int:
    from ..conformance import runner
    from ..errors import InputError

    registry = common.load_registry(args)
    ops, backends = common.selected(registry, args)
    cases = runner.select_cases(ops, args.case, args.group, args.dtype)
    if args.list_cases:
        for c in cases:
            print(c.id)
        return 0
    common.warn_problems(registry)
    from ..backend import availability_of
    from ..conformance.knownfile import KnownFailuresFile

    known = KnownFailuresFile.read(args.known_failures) if args.known_failures else None
    invariance = invariance_request(args)
    from .._results.output import Saver, atomic_write, check_writable, lock_for

    runnable = [b for b in backends if any(registry.supports(b, op.name) for op in ops)]
    if not runnable:
        raise InputError(f"none of the selected backends implements {', '.join(op.name for op in ops)}")
    if not any(availability_of(b) for b in runnable):
        raise InputError("nothing to check: " + "; ".join(f"{b.name} is unavailable ({availability_of(b).reason})"
                                                            for b in runnable))
    if args.output:
        check_writable(args.output, suffixes=(".json",))
    elif args.resume:
        raise InputError("--resume needs --output FILE (the results to resume)")
    done = runner.kept_reports(args.output, cases) if args.resume and args.output.exists() else {}
    if done:
        print(f"resuming: {len(done)} finished (backend, op) results kept from {args.output}", file=sys.stderr)

    from ..records import CHECK_SCHEMA
    from .._results.runinfo import header, new_run_id, now

    run = {"run": header(new_run_id(), now(), schema=CHECK_SCHEMA)}  # once: it runs git and reads /proc

    saver = Saver(args.output, lambda reports: atomic_write(
        args.output, json.dumps(runner.check_json(reports, registry, **run), indent=1))) if args.output else None

    def save(reports):
        if saver:
            saver(reports)

    reports: list = []

    def keep(so_far):
        reports[:] = so_far
        save(so_far)

    with lock_for(args.output):
        try:
            keep(runner.run_checks(registry, ops, backends, cases, timeout=args.timeout, threads=args.threads,
                                   progress=not args.json, plugins=tuple(args.plugin), on_report=keep, done=done,
                                   known=known, jobs=args.jobs or usable_cores(), invariance=invariance))
        except KeyboardInterrupt:
            where = f"; results of every finished backend are in {args.output}" if args.output else ""
            print(f"normbench: interrupted{where}", file=sys.stderr)
            return 130
    for warning in known.stale() if known else ():
        print(f"normbench: warning: known-failures {warning}", file=sys.stderr)
    if not (args.case or args.group or args.dtype):
        for warning in runner.stale_known_failures(reports, registry):
            print(f"normbench: warning: {warning}", file=sys.stderr)
    if args.json:
        json.dump(runner.check_json(reports, registry, **run), sys.stdout, indent=2)
        print()
    else:
        print_tables(reports, ops, cases)
        print_invariance(reports)
        print(runner.summary_line(reports))
    if saver:
        saver.raise_if_failed()
    if reports:
        common.keep_in_store(args, "check", document=runner.check_json(reports, registry, **run))
    results = [r for rep in reports for r in rep.results]
    if not any(r.status != "unsupported" for r in results):
        # e.g. --dtype float16 for a backend without it: "passed" would be a claim about nothing
        why = "; ".join(dict.fromkeys(f"{rep.name}: {r.message}" for rep in reports for r in rep.results))[:300]
        print(f"normbench: error: nothing was checked: every selected case is unsupported by the selected "
              f"backends ({why or 'no case selected'})", file=sys.stderr)
        return 2
    return 1 if any(rep.failed for rep in reports) else 0

