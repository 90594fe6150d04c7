"""Input validation for groupnorm: one-line errors naming the problem, before any backend runs."""
from __future__ import annotations

from typing import Any

from .. import channelwise


def validate(x: Any, num_groups: int, weight: Any = None, bias: Any = None) -> tuple[int, int, int]:
    """(N, C, G), or InputError naming what does not fit (as ``F.group_norm`` raises)."""
    return channelwise.validate_groupnorm(x, num_groups, weight, bias)
