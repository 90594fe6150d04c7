"""Float64 reference of ``F.group_norm`` and its backward (NORM-SEMANTICS.md)."""
from __future__ import annotations

import numpy as np

from .. import channelwise


def forward(x: np.ndarray, num_groups: int, weight=None, bias=None, eps: float = 1e-5):
    """(y, {"mean", "rstd", "var"}), statistics (N, G), two-pass variance."""
    return channelwise.forward(x, num_groups, weight, bias, eps)


def backward(dy: np.ndarray, x: np.ndarray, num_groups: int, weight=None, eps: float = 1e-5):
    """(dx, {"weight", "bias", ...}): the gradients of forward's y for upstream ``dy``."""
    return channelwise.backward(dy, x, num_groups, weight, eps)


def stat_dtype(dtype: str, param_dtype: str | None) -> str:
    """Saved mean/rstd: float32 with float32 parameters, else the input's dtype (as torch returns)."""
    if dtype in ("float16", "bfloat16") and param_dtype == "float32":
        return "float32"
    return dtype


NAME = "groupnorm"
#: what the channel-wise family (normbench.ops.channelwise) needs to know of this op
CHANOP = channelwise.ChanOp(name=NAME, passes=("forward", "backward"), grouped=True, stat_dtype=stat_dtype,
                            ranks=(2, 3, 4, 5))
