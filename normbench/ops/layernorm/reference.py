"""Float64 reference of ``F.layer_norm`` and its backward (NORM-SEMANTICS.md)."""
from __future__ import annotations

import numpy as np

from ..rowwise import RowOp, row_axes


def forward(x: np.ndarray, normalized_shape, params: dict, eps: float, dtype: str = "float64"):
    """(y, {"mean", "rstd", "var"}), statistics of shape x.shape[:-k] + (1,)*k. Two-pass variance."""
    x = np.asarray(x, np.float64)
    axes = row_axes(x.ndim, len(normalized_shape))
    with np.errstate(invalid="ignore", divide="ignore"):
        if x.size:
            mean = np.mean(x, axis=axes, keepdims=True)
            var = np.mean((x - mean) ** 2, axis=axes, keepdims=True)
        else:
            mean = var = np.zeros(x.shape[:x.ndim - len(axes)] + (1,) * len(axes))
        rstd = 1.0 / np.sqrt(var + eps)
        y = (x - mean) * rstd
    if params.get("weight") is not None:
        y = y * params["weight"]
    if params.get("bias") is not None:
        y = y + params["bias"]
    return y, {"mean": mean, "rstd": rstd, "var": var}


def backward(dy: np.ndarray, x: np.ndarray, normalized_shape, params: dict, eps: float, dtype: str = "float64"):
    """(dx, {"weight", "bias", "terms_weight", "terms_bias"}): dx = rstd (g - mean(g) - xhat mean(g xhat))."""
    _, st = forward(x, normalized_shape, {}, eps)
    axes = row_axes(x.ndim, len(normalized_shape))
    lead = tuple(range(x.ndim - len(axes)))
    w = params.get("weight")
    with np.errstate(invalid="ignore"):
        xhat = (x - st["mean"]) * st["rstd"]
        g = dy * w if w is not None else dy
        if x.size:
            dx = st["rstd"] * (g - np.mean(g, axis=axes, keepdims=True) - xhat * np.mean(g * xhat, axis=axes, keepdims=True))
        else:
            dx = np.zeros_like(x)
        terms_w = dy * xhat
    grads = {"terms_weight": terms_w, "terms_bias": dy,
             "weight": np.sum(terms_w, axis=lead), "bias": np.sum(dy, axis=lead)}
    return dx, grads


def stat_dtype(dtype: str, param_dtype: str | None) -> str:
    """Saved mean/rstd: float32 with float32 parameters, else the input's dtype (as torch returns)."""
    if dtype in ("float16", "bfloat16") and param_dtype == "float32":
        return "float32"
    return dtype


NAME = "layernorm"
#: what the row-wise family (normbench.ops.rowwise) needs to know of this op
ROWOP = RowOp(name=NAME, params=('weight', 'bias'), stats=('mean', 'rstd'), forward=forward, backward=backward,
              stat_dtype=stat_dtype, eps_values=(1e-5, 1e-3, 1e-12))
