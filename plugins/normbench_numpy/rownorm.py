"""NumPy LayerNorm and RMSNorm: float64 accumulation, two-pass variance, float32 for float16 input."""
from __future__ import annotations

import numpy as np

from normbench.ops import rowwise
from normbench.ops.rmsnorm import resolve_eps

from .quiet import quiet

ACC = np.float64


def _cdt(x: np.ndarray) -> np.dtype:
    return np.dtype(np.float32) if x.dtype == np.float16 else x.dtype


def stat_dtype(x: np.ndarray, params) -> np.dtype:
    """Saved statistics of LayerNorm, GroupNorm and InstanceNorm: float32 for float16 input with
    float32 parameters (or running statistics), else the input dtype."""
    given = [p for p in params if p is not None]
    if x.dtype == np.float16 and given and given[0].dtype == np.float32:
        return np.dtype(np.float32)
    return x.dtype


def _axes(x: np.ndarray, ns) -> tuple[int, ...]:
    return tuple(range(x.ndim - len(ns), x.ndim))


@quiet
def layernorm_forward(x, normalized_shape, weight, bias, *, eps):
    ns = rowwise.validate(x, normalized_shape, {"weight": weight, "bias": bias}, "layernorm")
    axes, cdt = _axes(x, ns), _cdt(x)
    sdt = stat_dtype(x, (weight, bias))
    if x.size == 0:
        stat = np.empty(x.shape[:x.ndim - len(ns)] + (1,) * len(ns), sdt)
        return np.empty_like(x), stat, stat.copy()
    mean = np.mean(x, axis=axes, dtype=ACC, keepdims=True)
    d = np.subtract(x, mean, dtype=ACC)
    var = np.mean(d * d, axis=axes, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    y = d * rstd
    if weight is not None:
        y *= weight.astype(cdt)
    if bias is not None:
        y += bias.astype(cdt)
    return y.astype(x.dtype), mean.astype(sdt), rstd.astype(sdt)


@quiet
def layernorm_backward(dy, x, normalized_shape, weight, bias, mean, rstd):
    ns = rowwise.validate(x, normalized_shape, {"weight": weight, "bias": bias}, "layernorm")
    axes = _axes(x, ns)
    lead = tuple(range(x.ndim - len(ns)))
    mean, rstd = mean.astype(ACC), rstd.astype(ACC)
    xhat = (x.astype(ACC) - mean) * rstd
    d = dy.astype(ACC)
    g = d * weight if weight is not None else d
    if x.size:
        dx = rstd * (g - np.mean(g, axis=axes, keepdims=True) - xhat * np.mean(g * xhat, axis=axes, keepdims=True))
    else:
        dx = np.zeros(x.shape)
    dw = None if weight is None else np.sum(d * xhat, axis=lead).astype(weight.dtype)
    db = None if bias is None else np.sum(d, axis=lead).astype(bias.dtype)
    return dx.astype(x.dtype), dw, db


@quiet
def rmsnorm_forward(x, normalized_shape, weight, *, eps):
    ns = rowwise.validate(x, normalized_shape, {"weight": weight}, "rmsnorm")
    axes = _axes(x, ns)
    sdt = np.dtype(np.float32) if x.dtype == np.float16 else x.dtype
    x64 = x.astype(ACC)
    if x.size == 0:
        return np.empty_like(x), np.empty(x.shape[:x.ndim - len(ns)] + (1,) * len(ns), sdt)
    rrms = 1.0 / np.sqrt(np.mean(x64 * x64, axis=axes, keepdims=True) + resolve_eps(eps, str(x.dtype)))
    y = x64 * rrms
    if weight is not None:
        y *= weight
    return y.astype(x.dtype), rrms.astype(sdt)


@quiet
def rmsnorm_backward(dy, x, normalized_shape, weight, rrms):
    ns = rowwise.validate(x, normalized_shape, {"weight": weight}, "rmsnorm")
    axes = _axes(x, ns)
    lead = tuple(range(x.ndim - len(ns)))
    r, x64, d = rrms.astype(ACC), x.astype(ACC), dy.astype(ACC)
    g = d * weight if weight is not None else d
    dx = r * (g - x64 * r * r * np.mean(g * x64, axis=axes, keepdims=True)) if x.size else np.zeros(x.shape)
    dw = None if weight is None else np.sum(d * x64 * r, axis=lead).astype(weight.dtype)
    return dx.astype(x.dtype), dw
