"""The ``normbench`` command line: list, check, bench, report, run."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from . import __version__
from .backend import availability_of, safe_call
from .errors import NormbenchError


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump), like every other normbench error."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _plugin_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--plugin", action="append", default=[], metavar="MODULE",
        help="import MODULE as a plugin (repeatable), like NORMBENCH_PLUGINS=mod1,mod2",
    )


def _registry(args):
    from .pluginmanager import load

    return load(args.plugin)


def _warn_problems(registry) -> None:
    for problem in registry.problems:
        print(f"normbench: warning: {problem}", file=sys.stderr)


# -- list ---------------------------------------------------------------------------------------
def backend_rows(registry) -> list[dict]:
    rows = []
    for name, loaded in registry.backends.items():
        b = loaded.backend
        avail = availability_of(b)
        available, reason = avail.available, avail.reason
        version = safe_call(b.version, "") if available else ""
        rows.append(
            {
                "name": name,
                "available": available,
                "reason": reason,
                "source": str(loaded.source),
                "distribution": loaded.source.distribution,
                "distribution_version": loaded.source.version,
                "plugin": loaded.source.plugin,
                "implementation_version": version,
                "description": getattr(b, "description", ""),
                "capabilities": b.capabilities.as_dict(),
                "known_failures": [{"case": k.case, "reason": k.reason} for k in getattr(b, "known_failures", ())],
            }
        )
    return rows


def cmd_list(args) -> int:
    registry = _registry(args)
    rows = backend_rows(registry)
    if args.json:
        problems = [{"plugin": p.plugin, "backend": p.backend, "message": p.message} for p in registry.problems]
        json.dump({"backends": rows, "problems": problems}, sys.stdout, indent=2)
        print()
        return 0
    from .tables import render

    table = [
        [
            r["name"],
            "yes" if r["available"] else f"no: {r['reason']}",
            r["source"],
            r["implementation_version"],
            ",".join(r["capabilities"]["ops"]),
            ",".join(r["capabilities"]["dtypes"]),
            ",".join(r["capabilities"]["layouts"]),
            ",".join(map(str, r["capabilities"]["ranks"])),
        ]
        for r in rows
    ]
    print(render(["backend", "available", "from", "version", "ops", "dtypes", "layouts", "ranks"], table))
    for problem in registry.problems:
        print(f"broken plugin: {problem}")
    return 0


# -- check --------------------------------------------------------------------------------------
def cmd_check(args) -> int:
    from .conformance import runner
    from .ops.batchnorm import GROUPS
    from .tables import Progress, render

    cases = runner.select_cases(args.case, args.group, args.dtype)
    if args.list_cases:
        for c in cases:
            print(c.id)
        return 0
    registry = _registry(args)
    _warn_problems(registry)
    backends = registry.select(args.backend)
    if args.threads:
        for b in backends:
            safe_call(lambda b=b: b.set_threads(args.threads))
    reports = []
    for b in backends:
        progress = Progress(f"check {b.name}", len(cases), enabled=not args.json)
        reports.append(runner.check_backend(b, cases, timeout=args.timeout, on_result=lambda r: progress.step()))
        progress.done()
    if args.json:
        json.dump(_check_json(reports, registry), sys.stdout, indent=2)
        print()
    else:
        groups = [g for g in GROUPS if any(c.group == g for c in cases)]
        rows = []
        for rep in reports:
            if not rep.available:
                rows.append([rep.name] + [f"unavailable: {rep.reason}"] + [""] * (len(groups) - 1))
                continue
            rows.append([rep.name] + [runner.group_cell([r for r in rep.results if r.case.group == g]) for g in groups])
        print(render(["backend", *groups], rows))
        details = [
            (rep.name, r) for rep in reports for r in rep.results if r.status in runner.FAILING | {"xfail", "xpass"}
        ]
        if details:
            print()
        for name, r in details:
            label = {"xfail": "known failure", "xpass": "XPASS"}.get(r.status, r.status.upper())
            reason = f" [{r.known_reason}]" if r.known_reason else ""
            print(f"{label}: {name} {r.case.id}: {r.message}{reason}")
        print(runner.summary_line(reports))
    return 1 if any(rep.failed for rep in reports) else 0


def _check_json(reports, registry) -> dict:
    from .conformance import runner

    return {
        "summary": runner.summary_line(reports),
        "problems": [str(p) for p in registry.problems],
        "backends": [
            {
                "name": rep.name,
                "available": rep.available,
                "reason": rep.reason,
                "counts": dict(rep.counts()),
                "cases": [
                    {
                        "case": r.case.id,
                        "group": r.case.group,
                        "status": r.status,
                        "message": r.message,
                        "known_reason": r.known_reason,
                        "max_abs": r.max_abs,
                        "max_rel": r.max_rel,
                        "outputs": [
                            {"output": c.output, "ok": c.ok, "max_abs": c.max_abs, "max_rel": c.max_rel, "worst": c.worst}
                            for c in r.comparisons
                        ],
                    }
                    for r in rep.results
                ],
            }
            for rep in reports
        ],
    }


# -- parser -------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="normbench", description="Is your normalization kernel right, and is it fast?")
    parser.add_argument("--version", action="version", version=f"normbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("list", help="list backends: source, version, availability, capabilities")
    _plugin_options(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("check", help="run the conformance suite against backends")
    _plugin_options(p)
    p.add_argument("--backend", action="append", default=[], metavar="NAME", help="backend to check (repeatable; default: all)")
    p.add_argument("--case", action="append", default=[], metavar="PATTERN", help="only cases whose id matches (fnmatch or substring)")
    p.add_argument("--group", action="append", default=[], metavar="GROUP", help="only this case group (repeatable)")
    p.add_argument("--dtype", action="append", default=[], metavar="DTYPE", help="only cases of this dtype (repeatable)")
    p.add_argument("--timeout", type=float, default=120.0, metavar="S", help="time limit per case (default 120 s)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for each backend")
    p.add_argument("--list-cases", action="store_true", help="print the case ids and exit")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_check)

    from . import bench_cli, report_cli

    bench_cli.add_parser(sub, _plugin_options)
    report_cli.add_parser(sub)
    report_cli.add_run_parser(sub, _plugin_options)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except NormbenchError as exc:
        print(f"normbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("normbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
