"""Float64 reference of ``F.rms_norm`` and its backward (NORM-SEMANTICS.md), ``eps=None`` included."""
from __future__ import annotations

import numpy as np

from ...dtypes import MACHINE_EPS
from ..rowwise import RowOp, row_axes


def resolve_eps(eps: float | None, dtype: str) -> float:
    """``eps=None`` is ``finfo(dtype).eps`` for float32/float64, and float32's for half inputs
    (torch computes them in float32): 1.19e-7, 2.2e-16. Not 1e-5 or 1e-6."""
    if eps is not None:
        return float(eps)
    return MACHINE_EPS["float64"] if dtype == "float64" else MACHINE_EPS["float32"]


def forward(x: np.ndarray, normalized_shape, params: dict, eps: float | None, dtype: str = "float64"):
    """(y, {"rrms"}), rrms = 1/sqrt(mean(x^2) + eps) of shape x.shape[:-k] + (1,)*k."""
    x = np.asarray(x, np.float64)
    axes = row_axes(x.ndim, len(normalized_shape))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        ms = np.mean(x * x, axis=axes, keepdims=True) if x.size else np.zeros(x.shape[:x.ndim - len(axes)] + (1,) * len(axes))
        rrms = 1.0 / np.sqrt(ms + resolve_eps(eps, dtype))
        y = x * rrms
    if params.get("weight") is not None:
        y = y * params["weight"]
    return y, {"rrms": rrms}


def backward(dy: np.ndarray, x: np.ndarray, normalized_shape, params: dict, eps: float | None, dtype: str = "float64"):
    """(dx, {"weight", "terms_weight"}): dx = rrms (g - x rrms^2 mean(g x)), g = dy * weight."""
    _, st = forward(x, normalized_shape, {}, eps, dtype)
    rrms = st["rrms"]
    axes = row_axes(x.ndim, len(normalized_shape))
    w = params.get("weight")
    with np.errstate(invalid="ignore", over="ignore"):
        g = dy * w if w is not None else dy
        dx = rrms * (g - x * rrms**2 * np.mean(g * x, axis=axes, keepdims=True)) if x.size else np.zeros_like(x)
        terms = dy * x * rrms
    return dx, {"terms_weight": terms, "weight": np.sum(terms, axis=tuple(range(x.ndim - len(axes))))}


def stat_dtype(dtype: str, param_dtype: str | None) -> str:
    """Saved rrms: float32 for half inputs whatever the weight, else the input's dtype."""
    return "float32" if dtype in ("float16", "bfloat16") else dtype


NAME = "rmsnorm"
#: what the row-wise family (normbench.ops.rowwise) needs to know of this op
ROWOP = RowOp(name=NAME, params=('weight',), stats=('rrms',), forward=forward, backward=backward,
              stat_dtype=stat_dtype, eps_values=(None, 1e-6, 1e-5), centered=False, resolve_eps=resolve_eps)
