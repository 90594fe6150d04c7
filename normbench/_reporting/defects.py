"""The defects a conformance run found, one row per (backend, known failure), from its check JSON.

A known failure's reason says what is wrong and states no figure; what a run measured lives in
its cases. This module puts the two together: per backend and reason, the ops and cases it
covered in that run, how many listed cases passed instead (XPASS), which outputs were off, and
the range of the error over those cases as a multiple of the tolerance. The report prints it, and
the README's defect list is this table from a real run.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from .tables import markdown

#: an output's name without its step tag: "y (step 2)" -> "y"
_STEP = re.compile(r"\s*\(.*\)$")


@dataclass
class Defect:
    backend: str
    reason: str
    ops: list[str] = field(default_factory=list)
    #: cases that failed as listed in this run, and listed cases that passed
    cases: int = 0
    xpass: int = 0
    #: outputs that were off, over the cases
    outputs: list[str] = field(default_factory=list)
    #: smallest and largest worst-output error over the cases, in multiples of the tolerance
    #: (inf: a non-finite value where the reference is finite; None: no numeric error, e.g. a dtype)
    low: float | None = None
    high: float | None = None


def _case_worst(case: Mapping[str, Any]) -> tuple[float | None, list[str]]:
    off = [o for o in case.get("outputs", []) if not o.get("ok", True)]
    if not off:
        return None, []
    return max(float(o["worst"]) for o in off), [_STEP.sub("", o["output"]) for o in off]


def summarize(check: Mapping[str, Any]) -> list[Defect]:
    """One :class:`Defect` per (backend, known-failure reason), in the order the run met them."""
    found: dict[tuple[str, str], Defect] = {}
    for op, entry in check.get("norms", {}).items():
        for backend in entry.get("backends", []):
            for case in backend.get("cases", []):
                if case.get("status") not in ("xfail", "xpass") or not case.get("known_reason"):
                    continue
                d = found.setdefault((backend["name"], case["known_reason"]),
                                     Defect(backend["name"], case["known_reason"]))
                if op not in d.ops:
                    d.ops.append(op)
                if case["status"] == "xpass":
                    d.xpass += 1
                    continue
                d.cases += 1
                worst, outputs = _case_worst(case)
                for name in outputs:
                    if name not in d.outputs:
                        d.outputs.append(name)
                if worst is not None:
                    d.low = worst if d.low is None else min(d.low, worst)
                    d.high = worst if d.high is None else max(d.high, worst)
    return sorted(found.values(), key=lambda d: (d.backend, list(check["norms"]).index(d.ops[0])))


def _times(value: float | None) -> str:
    if value is None:
        return ""
    return "inf" if math.isinf(value) else f"{value:.3g}"


def error_range(d: Defect) -> str:
    """``"1.02 - 1.73"`` (multiples of the tolerance); ``inf`` for a non-finite mismatch; "" when no
    case had a numeric error."""
    if d.low is None:
        return ""
    low, high = _times(d.low), _times(d.high)
    return low if low == high else f"{low} - {high}"


def headline(reason: str, width: int = 150) -> str:
    """A reason's first clause (up to its first colon, semicolon or full stop), for a compact table."""
    text = " ".join(reason.split())
    depth = 0
    for i, ch in enumerate(text):  # the first ": ", "; " or ". " outside parentheses
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and ch in ":;." and text[i + 1:i + 2] == " ":
            text = text[:i]
            break
    return text if len(text) <= width else text[:width - 3].rstrip() + "..."


def table(defects: list[Defect], short: bool = False) -> tuple[list[str], list[list[str]]]:
    """(head, rows) of the table; ``short``: each reason cut to its first clause."""
    rows = [[d.backend, ", ".join(d.ops), f"{d.cases}" + (f" (+{d.xpass} XPASS)" if d.xpass else ""),
             error_range(d), ", ".join(d.outputs), headline(d.reason) if short else " ".join(d.reason.split())]
            for d in defects]
    return ["backend", "ops", "cases", "error (x tolerance)", "outputs off", "defect"], rows


def to_markdown(defects: list[Defect], short: bool = False) -> str:
    """The table as Markdown (:func:`table`)."""
    return markdown(*table(defects, short))


def main(argv: list[str] | None = None) -> int:
    """``python -m normbench.defects CHECK.json [BACKEND ...] [--short]``: the table, for those
    backends only when named (how the README's and the plugins' READMEs' defect lists are made)."""
    import argparse
    import json
    import sys

    p = argparse.ArgumentParser(prog="python -m normbench.defects", description=main.__doc__)
    p.add_argument("check", help="a 'normbench check -o FILE' (or --json) result")
    p.add_argument("backends", nargs="*", help="only these backends (default: all)")
    p.add_argument("--short", action="store_true", help="each reason cut to its first clause")
    args = p.parse_intermixed_args(argv)
    try:
        with open(args.check, encoding="utf-8") as f:
            check = json.load(f)
    except (OSError, ValueError) as e:
        print(f"normbench.defects: cannot read {args.check}: {e}", file=sys.stderr)
        return 2
    found = [d for d in summarize(check) if not args.backends or d.backend in args.backends]
    print(to_markdown(found, short=args.short))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
