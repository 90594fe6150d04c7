"""RMS normalization's wrong backends, one per bug class (the row-wise family's catalogue,
:mod:`normbench.ops.rowmutants`): ``normbench selftest --norm rmsnorm`` runs them against the cases."""
from __future__ import annotations

from .. import rowmutants
from .reference import ROWOP


def mutants() -> list[rowmutants.RowMutant]:
    return rowmutants.catalogue(ROWOP)
