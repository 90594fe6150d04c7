"""Group normalization's conformance steps for the one checker (the channel-wise family's references
and per-unit tolerances: :func:`normbench.ops.channelwise.plan`)."""
from __future__ import annotations

from ...conformance.spec import Step
from .. import channelwise
from .cases import Case
from .reference import CHANOP


def plan(case: Case, passes: tuple[str, ...]) -> list[Step]:
    return channelwise.plan(CHANOP, case, passes)
