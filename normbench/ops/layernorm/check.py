"""Layer normalization's conformance steps for the one checker (the row-wise family's references and
per-row tolerances: :func:`normbench.ops.rowwise.plan`)."""
from __future__ import annotations

from ...conformance.spec import Step
from .. import rowwise
from .cases import Case
from .reference import ROWOP


def plan(case: Case, passes: tuple[str, ...]) -> list[Step]:
    return rowwise.plan(ROWOP, case, passes)
