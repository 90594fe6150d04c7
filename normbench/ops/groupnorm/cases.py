"""Group normalization's conformance grid and its deterministic data (the channel-wise family's)."""
from __future__ import annotations

from .. import channelwise
from ..channelwise import Case, make_data
from .reference import CHANOP

GROUPS = tuple(dict.fromkeys(c.group for c in channelwise.all_cases(CHANOP)))


def all_cases() -> list[Case]:
    return channelwise.all_cases(CHANOP)


def invariance_probe(dtype: str, layout: str) -> channelwise.Case:
    return channelwise.invariance_probe(CHANOP, dtype, layout)


__all__ = ["GROUPS", "Case", "all_cases", "invariance_probe", "make_data"]
