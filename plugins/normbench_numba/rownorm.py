"""NumbaBackend's LayerNorm and RMSNorm: shape checks, views and outputs around rowkernels."""
from __future__ import annotations

import math

import numpy as np

from normbench.ops import rowwise
from normbench.ops.rmsnorm import resolve_eps

from . import halfbits

SERIAL_BELOW = 1 << 16
_rk = None


def _kernels(size: int):
    global _rk
    if _rk is None:
        from . import rowkernels

        _rk = rowkernels
    return _rk.serial if size < SERIAL_BELOW else _rk


def _blocks(rows: int) -> int:
    from numba import get_num_threads

    return max(1, min(rows, get_num_threads() * 4))


def _rows(x: np.ndarray, ns: tuple[int, ...]):
    """(R, H) view of x (a contiguous copy first when x is not dense: that copy is part of the cost)."""
    h = math.prod(ns)
    x = x if x.flags.c_contiguous else np.ascontiguousarray(x)
    return x.reshape(-1, h), h


def _stat_shape(x, ns):
    return x.shape[:x.ndim - len(ns)] + (1,) * len(ns)


def layernorm_forward(x, normalized_shape, weight, bias, *, eps):
    ns = rowwise.validate(x, normalized_shape, {"weight": weight, "bias": bias}, "layernorm")
    if half_kind(x) is not None:
        return half_layernorm_forward(x, ns, weight, bias, eps)
    x2, h = _rows(x, ns)
    y = np.empty(x.shape, x.dtype)
    mean, rstd = np.empty(_stat_shape(x, ns), x.dtype), np.empty(_stat_shape(x, ns), x.dtype)
    if x.size:
        w = weight.reshape(h) if weight is not None else np.ones(h, x.dtype)
        b = bias.reshape(h) if bias is not None else np.zeros(h, x.dtype)
        _kernels(x.size).ln_forward(x2, w, b, float(eps), y.reshape(-1, h), mean.reshape(-1), rstd.reshape(-1),
                                    _blocks(x2.shape[0]))
    return y, mean, rstd


def layernorm_backward(dy, x, normalized_shape, weight, bias, mean, rstd):
    ns = rowwise.validate(x, normalized_shape, {"weight": weight, "bias": bias}, "layernorm")
    if half_kind(x) is not None:
        return half_layernorm_backward(dy, x, ns, weight, bias, mean, rstd)
    x2, h = _rows(x, ns)
    dy2, _ = _rows(dy, ns)
    dx = np.empty(x.shape, x.dtype)
    blocks = _blocks(x2.shape[0]) if x.size else 1
    dw_part, db_part, coef = np.zeros((blocks, h), x.dtype), np.zeros((blocks, h), x.dtype), np.empty((blocks, 2), x.dtype)
    k = _kernels(x.size)
    if x.size:
        w = weight.reshape(h) if weight is not None else np.ones(h, x.dtype)
        k.ln_backward(dy2, x2, w, np.ascontiguousarray(mean).reshape(-1), np.ascontiguousarray(rstd).reshape(-1),
                      dx.reshape(-1, h), dw_part, db_part, coef, blocks)
    dw = db = None
    if weight is not None:
        dw = np.empty(h, weight.dtype)
        k.sum_blocks(dw_part, dw)
        dw = dw.reshape(ns)
    if bias is not None:
        db = np.empty(h, bias.dtype)
        k.sum_blocks(db_part, db)
        db = db.reshape(ns)
    return dx, dw, db


def rmsnorm_forward(x, normalized_shape, weight, *, eps):
    ns = rowwise.validate(x, normalized_shape, {"weight": weight}, "rmsnorm")
    if half_kind(x) is not None:
        return half_rmsnorm_forward(x, ns, weight, eps)
    x2, h = _rows(x, ns)
    y = np.empty(x.shape, x.dtype)
    rrms = np.empty(_stat_shape(x, ns), x.dtype)
    if x.size:
        w = weight.reshape(h) if weight is not None else np.ones(h, x.dtype)
        _kernels(x.size).rms_forward(x2, w, resolve_eps(eps, str(x.dtype)), y.reshape(-1, h), rrms.reshape(-1),
                                     _blocks(x2.shape[0]))
    return y, rrms


def rmsnorm_backward(dy, x, normalized_shape, weight, rrms):
    ns = rowwise.validate(x, normalized_shape, {"weight": weight}, "rmsnorm")
    if half_kind(x) is not None:
        return half_rmsnorm_backward(dy, x, ns, weight, rrms)
    x2, h = _rows(x, ns)
    dy2, _ = _rows(dy, ns)
    dx = np.empty(x.shape, x.dtype)
    blocks = _blocks(x2.shape[0]) if x.size else 1
    dw_part, coef = np.zeros((blocks, h), x.dtype), np.empty((blocks, 2), x.dtype)
    k = _kernels(x.size)
    if x.size:
        w = weight.reshape(h) if weight is not None else np.ones(h, x.dtype)
        k.rms_backward(dy2, x2, w, np.ascontiguousarray(rrms).reshape(-1), dx.reshape(-1, h), dw_part, coef, blocks)
    dw = None
    if weight is not None:
        dw = np.empty(h, weight.dtype)
        k.sum_blocks(dw_part, dw)
        dw = dw.reshape(ns)
    return dx, dw


# -- float16 / bfloat16 (halfkernels.py) --------------------------------------------------------
_hk = None


def _half():
    global _hk
    if _hk is None:
        from . import halfkernels

        _hk = halfkernels
    return _hk


half_kind = halfbits.half_kind
_f32 = halfbits.as_f32  # a parameter or statistic of any dtype this backend uses, as float32
_like = halfbits.as_dtype  # float32 values in the dtype of an input (uint16 means bfloat16)


def _half_setup(x, ns):
    hk = _half()
    kind = half_kind(x)
    h = math.prod(ns)
    xu = np.ascontiguousarray(x).view(np.uint16).reshape(-1, h)
    blocks = _blocks(xu.shape[0]) if x.size else 1
    return hk, kind, xu, h, blocks


def _w(p, h, fill=1.0):
    """A parameter as a flat float32 array; an absent one as ``fill`` (ones, or zeros for a bias)."""
    return p.reshape(h) if p is not None else np.full(h, fill, np.float32)


def half_layernorm_forward(x, ns, weight, bias, eps):
    hk, kind, xu, h, blocks = _half_setup(x, ns)
    pdt = next((p.dtype for p in (weight, bias) if p is not None), x.dtype)
    sdt = np.float32 if pdt == np.float32 else x.dtype
    yu = np.empty(xu.shape, np.uint16)
    mean, rstd = np.empty(xu.shape[0], np.float32), np.empty(xu.shape[0], np.float32)
    if x.size:
        w, b = _w(_f32(weight), h), _w(_f32(bias), h, 0.0)
        hk.KERNELS[kind].ln_forward(xu, w, b, float(eps), yu, mean, rstd, np.empty((blocks, h), np.float32), blocks)
    shape = _stat_shape(x, ns)
    y = yu.view(x.dtype).reshape(x.shape) if kind == 0 else yu.reshape(x.shape)
    return y, _like(mean, sdt).reshape(shape), _like(rstd, sdt).reshape(shape)


def half_layernorm_backward(dy, x, ns, weight, bias, mean, rstd):
    hk, kind, xu, h, blocks = _half_setup(x, ns)
    dyu = np.ascontiguousarray(dy).view(np.uint16).reshape(-1, h)
    dxu = np.empty(xu.shape, np.uint16)
    dw_part, db_part = np.zeros((blocks, h), np.float32), np.zeros((blocks, h), np.float32)
    if x.size:
        w = _w(_f32(weight), h)
        scratch = np.empty((blocks, h), np.float32), np.empty((blocks, h), np.float32)
        hk.KERNELS[kind].ln_backward(dyu, xu, w, _f32(mean).reshape(-1), _f32(rstd).reshape(-1), dxu, dw_part, db_part,
                       *scratch, blocks)
    dx = dxu.view(x.dtype).reshape(x.shape) if kind == 0 else dxu.reshape(x.shape)
    dw = None if weight is None else _like(dw_part.sum(axis=0, dtype=np.float64), weight.dtype).reshape(ns)
    db = None if bias is None else _like(db_part.sum(axis=0, dtype=np.float64), bias.dtype).reshape(ns)
    return dx, dw, db


def half_rmsnorm_forward(x, ns, weight, eps):
    hk, kind, xu, h, blocks = _half_setup(x, ns)
    yu = np.empty(xu.shape, np.uint16)
    rrms = np.empty(xu.shape[0], np.float32)
    if x.size:
        w = _w(_f32(weight), h)
        hk.KERNELS[kind].rms_forward(xu, w, resolve_eps(eps, "float16"), yu, rrms, np.empty((blocks, h), np.float32),
                       blocks)
    y = yu.view(x.dtype).reshape(x.shape) if kind == 0 else yu.reshape(x.shape)
    return y, rrms.reshape(_stat_shape(x, ns))


def half_rmsnorm_backward(dy, x, ns, weight, rrms):
    hk, kind, xu, h, blocks = _half_setup(x, ns)
    dyu = np.ascontiguousarray(dy).view(np.uint16).reshape(-1, h)
    dxu = np.empty(xu.shape, np.uint16)
    dw_part = np.zeros((blocks, h), np.float32)
    if x.size:
        w = _w(_f32(weight), h)
        hk.KERNELS[kind].rms_backward(dyu, xu, w, _f32(rrms).reshape(-1), dxu, dw_part,
                        np.empty((blocks, h), np.float32), np.empty((blocks, h), np.float32), blocks)
    dx = dxu.view(x.dtype).reshape(x.shape) if kind == 0 else dxu.reshape(x.shape)
    dw = None if weight is None else _like(dw_part.sum(axis=0, dtype=np.float64), weight.dtype).reshape(ns)
    return dx, dw
