"""The suite's own power: every wrong backend an op declares, run against every case group.

Mutation testing (mutmut, PIT) asks whether a test suite notices a deliberately broken program;
this asks whether the conformance cases notice a deliberately broken kernel. Each op declares its
wrong backends (``OpInfo.mutants``, one per bug class real kernels had); the kill matrix counts,
per wrong backend and case group, the cases that fail on it. A wrong backend that no case catches
*survived*; one caught by fewer than :data:`MIN_CATCHES` cases hangs on a lucky case (*thin*):
a kernel with a different bug in the same code path could pass.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from ..results import FAILING
from . import runner

#: a bug class must be caught by at least this many cases
MIN_CATCHES = 3


@dataclass
class MutantRow:
    """One wrong backend's catches: case group -> cases that failed on it."""

    name: str
    bug: str
    description: str
    caught: dict[str, int] = field(default_factory=dict)
    ran: int = 0

    @property
    def total(self) -> int:
        return sum(self.caught.values())

    @property
    def verdict(self) -> str:
        return "survived" if self.total == 0 else "thin" if self.total < MIN_CATCHES else "caught"


def kill_matrix(op: Any, cases: Iterable[Any] | None = None, *,
                on_row: Callable[[MutantRow], None] | None = None) -> list[MutantRow]:
    """Every wrong backend of ``op`` against ``cases`` (default: all of the op's fixed cases), in
    this process: they are the op package's own NumPy code, with a time limit per case."""
    if op.mutants is None:
        return []
    cases = list(op.cases() if cases is None else cases)
    rows = []
    for mutant in op.mutants():
        with warnings.catch_warnings():  # a wrong kernel's overflows are its bug, not news
            warnings.simplefilter("ignore", RuntimeWarning)
            report = runner.check_backend(mutant, op, cases)
        row = MutantRow(mutant.name, mutant.bug, getattr(mutant, "description_of_bug", "") or mutant.description,
                        {g: 0 for g in op.case_groups})
        for result in report.results:
            row.ran += result.status != "unsupported"
            if result.status in FAILING:
                row.caught[result.case.group] = row.caught.get(result.case.group, 0) + 1
        rows.append(row)
        if on_row:
            on_row(row)
    return rows


def table(op: Any, rows: list[MutantRow]) -> tuple[list[str], list[list[Any]]]:
    """(headers, rows) of the matrix: one line per wrong backend, one column per case group with
    cases in it (a dot for none), then the total and the verdict."""
    groups = [g for g in op.case_groups if any(r.caught.get(g) for r in rows)] or list(op.case_groups)
    headers = ["bug", *groups, "total", "verdict"]
    body = [[r.bug, *(r.caught.get(g) or "." for g in groups), r.total, r.verdict] for r in rows]
    return headers, body


def weak(rows: list[MutantRow]) -> list[MutantRow]:
    """The wrong backends that survived or were caught by fewer than MIN_CATCHES cases."""
    return [r for r in rows if r.verdict != "caught"]
