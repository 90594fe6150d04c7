"""RMS normalization's conformance grid and its deterministic data (the row-wise family's)."""
from __future__ import annotations

from .. import rowwise
from ..rowwise import GROUPS, Case
from .reference import ROWOP


def all_cases() -> list[Case]:
    return rowwise.all_cases(ROWOP)


def make_data(case: Case) -> rowwise.CaseData:
    return rowwise.make_data(case, ROWOP.params)


def invariance_probe(dtype: str, layout: str) -> rowwise.Case:
    return rowwise.invariance_probe(ROWOP, dtype, layout)


__all__ = ["GROUPS", "Case", "all_cases", "invariance_probe", "make_data"]
