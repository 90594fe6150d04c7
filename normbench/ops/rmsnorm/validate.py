"""Input validation for rmsnorm: one-line errors naming the problem, before any backend runs."""
from __future__ import annotations

from typing import Any, Sequence

from .. import rowwise
from .reference import NAME


def validate(x: Any, normalized_shape: Sequence[int], weight=None) -> tuple[int, ...]:
    """The normalized shape, or InputError when it or a parameter does not fit ``x``."""
    return rowwise.validate(x, normalized_shape, {"weight": weight}, NAME)
