"""Float64 reference of ``F.instance_norm`` (train with running statistics, eval) and its backward."""
from __future__ import annotations

import math

import numpy as np

from .. import channelwise


def train(x: np.ndarray, weight=None, bias=None, running_mean=None, running_var=None, *, momentum: float = 0.1,
          eps: float = 1e-5):
    """(y, {"mean", "rstd", "var"}, (new running_mean, new running_var) or None); statistics (N, C)."""
    x = np.asarray(x, np.float64)
    y, stats = channelwise.forward(x, x.shape[1], weight, bias, eps)
    running = None
    if running_mean is not None:
        running = channelwise.running_update(running_mean, running_var, stats["mean"], stats["var"],
                                             math.prod(x.shape[2:]), momentum)
    return y, stats, running


def eval(x: np.ndarray, weight, bias, running_mean, running_var, *, eps: float = 1e-5) -> np.ndarray:  # noqa: A001
    return channelwise.eval_forward(x, weight, bias, running_mean, running_var, eps)


def backward(dy: np.ndarray, x: np.ndarray, weight=None, eps: float = 1e-5):
    return channelwise.backward(dy, x, np.asarray(x).shape[1], weight, eps)


def stat_dtype(dtype: str, param_dtype: str | None) -> str:
    """Saved mean/rstd, GroupNorm's rule: float32 for half inputs with float32 parameters or running
    statistics, else the input's dtype (as torch's batch-norm path returns them)."""
    if dtype in ("float16", "bfloat16") and param_dtype == "float32":
        return "float32"
    return dtype


NAME = "instancenorm"
#: what the channel-wise family (normbench.ops.channelwise) needs to know of this op
CHANOP = channelwise.ChanOp(name=NAME, passes=("train", "eval", "backward"), grouped=False, stat_dtype=stat_dtype,
                            ranks=(3, 4, 5))
