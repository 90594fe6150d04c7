"""Input validation for instancenorm: one-line errors naming the problem, before any backend runs."""
from __future__ import annotations

from typing import Any

from .. import channelwise


def validate(x: Any, weight: Any = None, bias: Any = None, running_mean: Any = None, running_var: Any = None, *,
             use_input_stats: bool = True) -> tuple[int, int]:
    """(N, C), or InputError naming what does not fit (as ``F.instance_norm`` raises)."""
    return channelwise.validate_instancenorm(x, weight, bias, running_mean, running_var, use_input_stats=use_input_stats)
