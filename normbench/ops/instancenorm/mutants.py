"""Instance normalization's wrong backends, one per bug class (the channel-wise family's catalogue,
:mod:`normbench.ops.chanmutants`): ``normbench selftest --norm instancenorm`` runs them against the cases."""
from __future__ import annotations

from .. import chanmutants
from .reference import CHANOP


def mutants() -> list[chanmutants.ChanMutant]:
    return chanmutants.catalogue(CHANOP)
