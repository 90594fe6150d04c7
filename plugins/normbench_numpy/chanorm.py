"""NumPy GroupNorm and InstanceNorm: float64 accumulation, two-pass variance per (sample, group)."""
from __future__ import annotations

import math

import numpy as np

from normbench.ops import channelwise

from .quiet import quiet
from .rownorm import stat_dtype

ACC = np.float64


def _chan(v, ndim: int):
    return v.astype(ACC).reshape((1, -1) + (1,) * (ndim - 2))


def _forward(x, groups: int, weight, bias, eps: float, sdt):
    """(y, mean, rstd) in their dtypes, and the float64 (mean, var) for running statistics."""
    n = x.shape[0]
    x = np.ascontiguousarray(x)  # reductions in logical order, whatever the layout (layout-invariant bits)
    if x.size == 0:
        stat = np.empty((n, groups), sdt)
        return np.empty_like(x), stat, stat.copy(), (np.zeros((n, groups)), np.zeros((n, groups)))
    xu = x.reshape(n, groups, x.size // (n * groups))
    mean = np.mean(xu, axis=2, dtype=ACC)
    d = np.subtract(xu, mean[..., None], dtype=ACC)
    var = np.mean(d * d, axis=2)
    rstd = 1.0 / np.sqrt(var + eps)
    y = (d * rstd[..., None]).reshape(x.shape)
    if weight is not None:
        y *= _chan(weight, x.ndim)
    if bias is not None:
        y += _chan(bias, x.ndim)
    return y.astype(x.dtype), mean.astype(sdt), rstd.astype(sdt), (mean, var)


def _backward(dy, x, groups: int, weight, bias, mean, rstd):
    n, c = x.shape[:2]
    x, dy = np.ascontiguousarray(x), np.ascontiguousarray(dy)  # reductions in logical order (as _forward)
    if x.size == 0:
        zeros = np.zeros(c, weight.dtype if weight is not None else ACC)
        return np.empty_like(x), None if weight is None else zeros, None if bias is None else zeros.copy()
    m64, r64 = mean.astype(ACC)[..., None], rstd.astype(ACC)[..., None]
    xhat = ((x.reshape(n, groups, x.size // (n * groups)) - m64) * r64).reshape(x.shape)
    d = dy.astype(ACC)
    g = d * _chan(weight, x.ndim) if weight is not None else d
    gu, xu = g.reshape(n, groups, x.size // (n * groups)), xhat.reshape(n, groups, x.size // (n * groups))
    dx = (r64 * (gu - gu.mean(axis=2, keepdims=True) - xu * (gu * xu).mean(axis=2, keepdims=True))).reshape(x.shape)
    over = (0, *range(2, x.ndim))
    dw = None if weight is None else np.sum(d * xhat, axis=over).astype(weight.dtype)
    db = None if bias is None else np.sum(d, axis=over).astype(bias.dtype)
    return dx.astype(x.dtype), dw, db


@quiet
def groupnorm_forward(x, num_groups, weight, bias, *, eps):
    _, _, groups = channelwise.validate_groupnorm(x, num_groups, weight, bias)
    sdt = stat_dtype(x, (weight, bias))
    return _forward(x, groups, weight, bias, eps, sdt)[:3]


@quiet
def groupnorm_backward(dy, x, num_groups, weight, bias, mean, rstd):
    _, _, groups = channelwise.validate_groupnorm(x, num_groups, weight, bias)
    return _backward(dy, x, groups, weight, bias, mean, rstd)


@quiet
def instancenorm_train(x, weight, bias, running_mean, running_var, *, momentum, eps):
    n, c = channelwise.validate_instancenorm(x, weight, bias, running_mean, running_var)
    sdt = stat_dtype(x, (weight, bias, running_mean))
    y, mean, rstd, (mean64, var) = _forward(x, c, weight, bias, eps, sdt)
    if running_mean is not None and n:
        m = math.prod(x.shape[2:])
        running_mean[...] = ((1 - momentum) * running_mean.astype(ACC) + momentum * mean64.mean(axis=0)).astype(running_mean.dtype)
        running_var[...] = ((1 - momentum) * running_var.astype(ACC)
                            + momentum * (var * (m / (m - 1))).mean(axis=0)).astype(running_var.dtype)
    return y, mean, rstd


@quiet
def instancenorm_eval(x, weight, bias, running_mean, running_var, *, eps):
    channelwise.validate_instancenorm(x, weight, bias, running_mean, running_var, use_input_stats=False)
    y = (x.astype(ACC) - _chan(running_mean, x.ndim)) / np.sqrt(_chan(running_var, x.ndim) + eps)
    if weight is not None:
        y *= _chan(weight, x.ndim)
    if bias is not None:
        y += _chan(bias, x.ndim)
    return y.astype(x.dtype)


@quiet
def instancenorm_backward(dy, x, weight, bias, mean, rstd):
    _, c = channelwise.validate_instancenorm(x, weight, bias)
    return _backward(dy, x, c, weight, bias, mean, rstd)
