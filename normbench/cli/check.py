"""``normbench check``: the conformance suite of every selected op against every selected backend."""
from __future__ import annotations

import argparse
import json
import sys

from ..backend import safe_call
from . import common


def add_parser(sub) -> None:
    p = sub.add_parser("check", help="run the conformance suite against backends")
    common.plugin_options(p)
    common.norm_option(p)
    common.backend_option(p, "backend to check")
    p.add_argument("--case", action="append", default=[], metavar="PATTERN", help="only cases whose id matches (fnmatch or substring)")
    p.add_argument("--group", action="append", default=[], metavar="GROUP", help="only this case group (repeatable)")
    p.add_argument("--dtype", action="append", default=[], metavar="DTYPE", help="only cases of this dtype (repeatable)")
    p.add_argument("--timeout", type=common.positive_float, default=120.0, metavar="S", help="time limit per case (default 120 s)")
    p.add_argument("--threads", type=common.positive_int, default=None, help="CPU threads for each backend")
    p.add_argument("--list-cases", action="store_true", help="print the case ids and exit")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_check)


def run_checks(registry, ops, backends, cases, *, timeout, threads=None, progress=True):
    """Every (op, backend) pair the backend declares: a list of BackendReport."""
    from ..conformance import runner
    from ..tables import Progress

    reports = []
    for b in backends:
        if threads:
            safe_call(lambda b=b: b.set_threads(threads))
        for op in ops:
            if not registry.supports(b, op.name):
                continue
            op_cases = [c for c in cases if c.op == op.name]
            bar = Progress(f"check {b.name} {op.name}", len(op_cases), enabled=progress)
            reports.append(runner.check_backend(b, op, op_cases, timeout=timeout, on_result=lambda r: bar.step()))
            bar.done()
    return reports


def print_tables(reports, ops, cases, stream=None) -> None:
    """Per op, a backend x case-group table, then one line per failure or known failure."""
    from ..results import NOTABLE, group_cell
    from ..tables import render

    stream = stream or sys.stdout
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
        print(render(["backend", *groups], rows), file=stream)
        first = False
    details = [(rep.name, r) for rep in reports for r in rep.results if r.status in NOTABLE]
    if details:
        print(file=stream)
    for name, r in details:
        label = {"xfail": "known failure", "xpass": "XPASS"}.get(r.status, r.status.upper())
        reason = f" [{r.known_reason}]" if r.known_reason else ""
        print(f"{label}: {name} {r.case.id}: {r.message}{reason}", file=stream)


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
    if not any(registry.supports(b, op.name) for b in backends for op in ops):
        raise InputError(f"none of the selected backends implements {', '.join(op.name for op in ops)}")
    reports = run_checks(registry, ops, backends, cases, timeout=args.timeout, threads=args.threads,
                         progress=not args.json)
    if args.json:
        json.dump(runner.check_json(reports, registry), sys.stdout, indent=2)
        print()
    else:
        print_tables(reports, ops, cases)
        print(runner.summary_line(reports))
    return 1 if any(rep.failed for rep in reports) else 0
