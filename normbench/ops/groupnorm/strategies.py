"""Random group normalization cases for the property tests (hypothesis)."""
from __future__ import annotations

from .. import channelwise
from .reference import CHANOP


def property_cases():
    return channelwise.property_cases(CHANOP)
