"""NumbaBackend's GroupNorm and InstanceNorm: checks, views and outputs around chankernels.

float16 and bfloat16 inputs run the same kernels compiled to read and write their 16-bit patterns
(halfkernels.variants), with float32 parameters and per-channel constants and float32 sums;
statistics come back float32 with float32 parameters, else in the input's half dtype (as torch
returns them). A strided input is copied dense first (that copy is part of its cost);
channels_last stays channels_last.
"""
from __future__ import annotations

import math

import numpy as np

from normbench.dtypes import channels_last_order
from normbench.ops import channelwise

from .halfbits import BF16, as_dtype, as_f32, from_bits, half_kind, kernels_for, store
from .halfbits import compute_dtype as _compute_dtype
from .halfbits import kernel_view as _k


SERIAL_BELOW = 1 << 15
_ck = None


def _kernels(x: np.ndarray):
    """Serial or parallel kernels for x; for half x, the variant reading its 16-bit patterns."""
    global _ck
    if _ck is None:
        from . import chankernels

        _ck = chankernels
    return kernels_for(_ck, x, SERIAL_BELOW)


def _f64(p: np.ndarray) -> np.ndarray:
    """A parameter or statistic of any of this backend's dtypes (uint16 = bfloat16) as float64."""
    return (from_bits(p, BF16) if p.dtype == np.uint16 else p).astype(np.float64)


def _threads() -> int:
    from numba import get_num_threads

    return get_num_threads()


def _is_cl(x: np.ndarray) -> bool:
    return x.ndim >= 3 and not x.flags.c_contiguous and x.transpose(channels_last_order(x.ndim)).flags.c_contiguous


def _views(x: np.ndarray):
    """("cl", (N, S, C) view) for channels_last input, else ("nc", (N, C, S) view of a dense x)."""
    n, c = x.shape[:2]
    s = math.prod(x.shape[2:])
    if _is_cl(x):
        return "cl", x.transpose(channels_last_order(x.ndim)).reshape(n, s, c)
    x = x if x.flags.c_contiguous else np.ascontiguousarray(x)
    return "nc", x.reshape(n, c, s)


def _like(x: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """An output of x's logical shape in x's layout (dense), and its kernel view."""
    n, c = x.shape[:2]
    s = math.prod(x.shape[2:])
    if kind == "cl":
        order = channels_last_order(x.ndim)
        buf = np.empty(tuple(x.shape[i] for i in order), x.dtype)
        return buf.transpose(np.argsort(order)), buf.reshape(n, s, c)
    buf = np.empty(x.shape, x.dtype)
    return buf, buf.reshape(n, c, s)


def _chunks(n: int) -> int:
    """Row blocks per sample for channels_last: 1 (a sample per work item) when there are enough samples."""
    t = _threads()
    return 1 if n >= t else max(1, (2 * t + n - 1) // n)


def _params(c: int, x: np.ndarray, weight, bias):
    """weight and bias in the compute dtype (float32 for half x; the kernels take it from w), ones
    and zeros where absent. Also casts float32 parameters for the float64 retry of an overflow."""
    dtype = _compute_dtype(x)
    if dtype != x.dtype:
        weight, bias = as_f32(weight), as_f32(bias)
    w = np.ones(c, dtype) if weight is None else weight
    b = np.zeros(c, dtype) if bias is None else bias
    return np.ascontiguousarray(w, dtype), np.ascontiguousarray(b, dtype)


def _stat_dtype(x, *params):
    """float32 for half x with float32 parameters (or running statistics), else x's dtype (NORM-SEMANTICS)."""
    given = [p for p in params if p is not None]
    half = half_kind(x) is not None
    return np.dtype(np.float32) if half and given and given[0].dtype == np.float32 else x.dtype


def _forward(x, groups: int, weight, bias, eps: float):
    """(y, mean64, var64) with (N, G) float64 statistics."""
    n, c = x.shape[:2]
    mean64, var64 = np.zeros((n, groups)), np.zeros((n, groups))
    if x.size == 0:
        return np.empty_like(x), mean64, var64
    kind, xv = _views(x)
    y, yv = _like(x, kind)
    w, b = _params(c, x, weight, bias)
    k = _kernels(x)
    if kind == "cl":
        k.cl_forward(_k(xv), groups, eps, w, b, _k(yv), mean64, var64, _chunks(n))
    else:
        k.nc_forward(_k(xv), groups, eps, w, b, _k(yv), mean64, var64)
    if x.dtype == np.float32 and not np.isfinite(var64).all() and np.isfinite(x).all():
        # the float32 squares of x - mean overflowed (|x| ~ 1e19, pytorch #162489): again in float64,
        # a path taken only then (the check is on the (N, G) statistics)
        y64, mean64, var64 = _forward(x.astype(np.float64, order="K"), groups, weight, bias, eps)
        y = y64.astype(np.float32, order="K")
    return y, mean64, var64


def _backward(dy, x, groups: int, weight, bias, mean, rstd):
    n, c = x.shape[:2]
    pdt = weight.dtype if weight is not None else bias.dtype if bias is not None else x.dtype
    if x.size == 0:
        zeros = np.zeros(c, pdt)
        return np.empty_like(x), None if weight is None else zeros, None if bias is None else zeros.copy()
    kind, xv = _views(x)
    if kind == "cl":  # dy in x's layout: channels_last (a dense copy when it arrives in another)
        order = channels_last_order(dy.ndim)
        dyv = (dy.transpose(order) if _is_cl(dy) else np.ascontiguousarray(dy.transpose(order))).reshape(xv.shape)
    else:
        dyv = (dy if dy.flags.c_contiguous else np.ascontiguousarray(dy)).reshape(xv.shape)
    dx, dxv = _like(x, kind)
    w, _ = _params(c, x, weight, None)
    dw_nc, db_nc = np.empty((n, c)), np.empty((n, c))
    if half_kind(x) is not None:  # the kernels take float32 statistics
        mean, rstd = as_f32(mean), as_f32(rstd)
    mean = np.ascontiguousarray(mean).reshape(n, groups)
    rstd = np.ascontiguousarray(rstd).reshape(n, groups)
    k = _kernels(x)
    if kind == "cl":
        k.cl_backward(_k(dyv), _k(xv), groups, w, mean, rstd, _k(dxv), dw_nc, db_nc, _chunks(n))
    else:
        k.nc_backward(_k(dyv), _k(xv), groups, w, mean, rstd, _k(dxv), dw_nc, db_nc)
    dw = None if weight is None else as_dtype(dw_nc.sum(axis=0), pdt)
    db = None if bias is None else as_dtype(db_nc.sum(axis=0), pdt)
    return dx, dw, db


def _rstd(var64, eps, sdt):
    with np.errstate(divide="ignore"):
        return as_dtype(1.0 / np.sqrt(var64 + eps), sdt)


def groupnorm_forward(x, num_groups, weight, bias, *, eps):
    _, _, groups = channelwise.validate_groupnorm(x, num_groups, weight, bias)
    y, mean64, var64 = _forward(x, groups, weight, bias, eps)
    sdt = _stat_dtype(x, weight, bias)
    return y, as_dtype(mean64, sdt), _rstd(var64, eps, sdt)


def groupnorm_backward(dy, x, num_groups, weight, bias, mean, rstd):
    _, _, groups = channelwise.validate_groupnorm(x, num_groups, weight, bias)
    return _backward(dy, x, groups, weight, bias, mean, rstd)


def instancenorm_train(x, weight, bias, running_mean, running_var, *, momentum, eps):
    n, c = channelwise.validate_instancenorm(x, weight, bias, running_mean, running_var)
    y, mean64, var64 = _forward(x, c, weight, bias, eps)
    if running_mean is not None and n:
        m = math.prod(x.shape[2:])
        store(running_mean, (1 - momentum) * _f64(running_mean) + momentum * mean64.mean(axis=0))
        store(running_var, (1 - momentum) * _f64(running_var) + momentum * (var64 * (m / (m - 1))).mean(axis=0))
    sdt = _stat_dtype(x, weight, bias, running_mean)
    return y, as_dtype(mean64, sdt), _rstd(var64, eps, sdt)


def instancenorm_eval(x, weight, bias, running_mean, running_var, *, eps):
    n, c = channelwise.validate_instancenorm(x, weight, bias, running_mean, running_var, use_input_stats=False)
    if x.size == 0:
        return np.empty_like(x)
    cdt = _compute_dtype(x)
    w = np.ones(c) if weight is None else _f64(weight)
    b = np.zeros(c) if bias is None else _f64(bias)
    a = (w / np.sqrt(_f64(running_var) + eps)).astype(cdt)
    m, b = _f64(running_mean).astype(cdt), b.astype(cdt)
    kind, xv = _views(x)
    y, yv = _like(x, kind)
    k = _kernels(x)
    if kind == "cl":
        rows = _k(xv).reshape(-1, c)
        k.cl_affine(rows, m, a, b, _k(yv).reshape(-1, c), max(1, min(rows.shape[0], 4 * _threads())))
    else:
        k.nc_affine(_k(xv), m, a, b, _k(yv))
    return y


def instancenorm_backward(dy, x, weight, bias, mean, rstd):
    _, c = channelwise.validate_instancenorm(x, weight, bias)
    return _backward(dy, x, c, weight, bias, mean, rstd)
