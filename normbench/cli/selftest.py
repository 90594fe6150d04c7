"""``normbench selftest``: the conformance suite's power, as a kill matrix of wrong backends."""
from __future__ import annotations

import argparse

from . import common


def add_parser(sub) -> None:
    p = sub.add_parser("selftest", help="run every op's wrong backends (one per bug class) against its cases: "
                                        "the kill matrix of the conformance suite")
    common.plugin_options(p)
    common.norm_option(p)
    p.set_defaults(func=cmd_selftest)


def cmd_selftest(args: argparse.Namespace) -> int:
    from ..conformance import selftest
    from .._reporting.tables import render_fit

    registry = common.load_registry(args)
    common.warn_problems(registry)
    weak = []
    for op in registry.select_ops(args.norm):
        if op.mutants is None:
            print(f"{op.name}: declares no wrong backends (OpInfo.mutants): its suite's power is unmeasured\n")
            continue
        print(f"{op.name}: cases caught per wrong backend and case group (each needs {selftest.MIN_CATCHES})", flush=True)
        rows = selftest.kill_matrix(op)
        print(render_fit(*selftest.table(op, rows)))
        for r in selftest.weak(rows):
            weak.append(f"{op.name} {r.bug} ({r.description}): {r.verdict}, {r.total} case(s)")
        print()
    if weak:
        print(f"WEAK: {len(weak)} wrong backend(s) survived or hang on fewer than {selftest.MIN_CATCHES} cases:")
        print("\n".join(f"  {w}" for w in weak))
        return 1
    print("every wrong backend caught by at least three cases")
    return 0
