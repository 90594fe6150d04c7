"""Random layer normalization cases for the property tests (hypothesis)."""
from __future__ import annotations

from .. import rowwise
from .reference import ROWOP


def property_cases():
    return rowwise.property_cases(ROWOP)
