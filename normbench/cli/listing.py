"""``normbench list``: ops and backends, where they came from, availability, support per op."""
from __future__ import annotations

import argparse
import json
import sys

from .._runtime import discovery
from .._runtime.discovery import backend_rows

#: backend_rows moved to normbench._runtime.discovery in 0.9; still importable from here
__all__ = ["backend_rows", "cmd_list", "add_parser"]
from . import common


def add_parser(sub) -> None:
    p = sub.add_parser("list", help="list ops and backends: source, version, availability, what each supports per op")
    common.plugin_options(p)
    common.norm_option(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_list)


def op_rows(registry, ops) -> list[dict]:
    return [{"name": op.name, "title": op.title, "passes": list(op.passes), "axes": list(op.axes),
             "source": str(registry.ops[op.name].source), "case_groups": list(op.case_groups)} for op in ops]


def cmd_list(args: argparse.Namespace) -> int:
    registry = common.load_registry(args)
    ops = registry.select_ops(args.norm)
    rows = discovery.backend_rows(registry, ops)
    if args.norm:
        rows = [r for r in rows if r["ops"]]
    if args.json:
        problems = [{"plugin": p.plugin, "backend": p.backend, "message": p.message} for p in registry.problems]
        json.dump({"norms": op_rows(registry, ops), "backends": rows, "problems": problems,
                   "notices": registry.notices}, sys.stdout, indent=2)
        print()
        return 0
    from .._reporting.tables import render

    print(render(["backend", "available", "from", "version", "ops"],
                 [[r["name"], "yes" if r["available"] else f"no: {r['reason']}", r["source"], r["implementation_version"],
                   ",".join(r["ops"])] for r in rows]))
    for op in ops:
        table = [[r["name"], ",".join(s["passes"]), ",".join(s["dtypes"]), ",".join(s["layouts"]),
                  ",".join(map(str, s["ranks"]))] for r in rows if (s := r["ops"].get(op.name))]
        print(f"\n{op.name} ({op.title}; from {registry.ops[op.name].source})")
        print(render(["backend", "passes", "dtypes", "layouts", "ranks"], table) if table else "  no backend implements it")
    for problem in registry.problems:
        print(f"broken plugin: {problem}")
    for notice in registry.notices:
        print(f"notice: {notice}")
    return 0
