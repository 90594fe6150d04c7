"""NumbaBackend's LayerNorm and RMSNorm: shape checks, views and outputs around rowkernels."""
from __future__ import annotations

import math
import sys

import numpy as np

from normbench.ops import rowwise
from normbench.ops.rmsnorm import resolve_eps

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


def _flat(p, h, dtype):
    return (p.reshape(h), True) if p is not None else (np.ones(h, dtype), False)


class _Pool:
    """Output buffers reused once every array made from them is gone (a caching allocator, as
    PyTorch keeps for CUDA). Why: a fresh 32 MB array from malloc is a fresh mmap, and the OS
    zeroes its pages on first touch, ~3-5 ms per 32 MB on this VM: more than the whole kernel.
    A buffer is free again when only the pool refers to it (NumPy views keep their base alive)."""

    LIMIT = 1 << 31  # bytes kept at most; beyond it, plain np.empty

    def __init__(self) -> None:
        self.buffers: list[np.ndarray] = []
        self.nbytes = 0

    def empty(self, shape, dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        n = math.prod(shape) * dtype.itemsize
        if n < (1 << 20):
            return np.empty(shape, dtype)
        for buf in self.buffers:
            # references: the list, ``buf`` and getrefcount's argument; more means an array uses it
            if buf.nbytes == n and sys.getrefcount(buf) <= 3:
                return buf.view(dtype).reshape(shape)
        if self.nbytes + n > self.LIMIT:
            return np.empty(shape, dtype)
        buf = np.empty(n, np.uint8)
        self.buffers.append(buf)
        self.nbytes += n
        return buf.view(dtype).reshape(shape)


_pool = _Pool()


def _stat_shape(x, ns):
    return x.shape[:x.ndim - len(ns)] + (1,) * len(ns)


def layernorm_forward(x, normalized_shape, weight, bias, *, eps):
    ns = rowwise.validate(x, normalized_shape, {"weight": weight, "bias": bias}, "layernorm")
    x2, h = _rows(x, ns)
    y = _pool.empty(x.shape, x.dtype)
    mean, rstd = np.empty(_stat_shape(x, ns), x.dtype), np.empty(_stat_shape(x, ns), x.dtype)
    if x.size:
        w, has_w = _flat(weight, h, x.dtype)
        b, has_b = _flat(bias, h, x.dtype)
        _kernels(x.size).ln_forward(x2, w, b, has_w, has_b, float(eps), y.reshape(-1, h), mean.reshape(-1),
                                    rstd.reshape(-1))
    return y, mean, rstd


def layernorm_backward(dy, x, normalized_shape, weight, bias, mean, rstd):
    ns = rowwise.validate(x, normalized_shape, {"weight": weight, "bias": bias}, "layernorm")
    x2, h = _rows(x, ns)
    dy2, _ = _rows(dy, ns)
    dx = _pool.empty(x.shape, x.dtype)
    blocks = _blocks(x2.shape[0]) if x.size else 1
    dw_part, db_part, coef = np.zeros((blocks, h), x.dtype), np.zeros((blocks, h), x.dtype), np.empty((blocks, 2), x.dtype)
    k = _kernels(x.size)
    if x.size:
        w, has_w = _flat(weight, h, x.dtype)
        k.ln_backward(dy2, x2, w, has_w, np.ascontiguousarray(mean).reshape(-1), np.ascontiguousarray(rstd).reshape(-1),
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
    x2, h = _rows(x, ns)
    y = _pool.empty(x.shape, x.dtype)
    rrms = np.empty(_stat_shape(x, ns), x.dtype)
    if x.size:
        w, has_w = _flat(weight, h, x.dtype)
        _kernels(x.size).rms_forward(x2, w, has_w, resolve_eps(eps, str(x.dtype)), y.reshape(-1, h), rrms.reshape(-1))
    return y, rrms


def rmsnorm_backward(dy, x, normalized_shape, weight, rrms):
    ns = rowwise.validate(x, normalized_shape, {"weight": weight}, "rmsnorm")
    x2, h = _rows(x, ns)
    dy2, _ = _rows(dy, ns)
    dx = _pool.empty(x.shape, x.dtype)
    blocks = _blocks(x2.shape[0]) if x.size else 1
    dw_part, coef = np.zeros((blocks, h), x.dtype), np.empty((blocks, 2), x.dtype)
    k = _kernels(x.size)
    if x.size:
        w, has_w = _flat(weight, h, x.dtype)
        k.rms_backward(dy2, x2, w, has_w, np.ascontiguousarray(rrms).reshape(-1), dx.reshape(-1, h), dw_part, coef, blocks)
    dw = None
    if weight is not None:
        dw = np.empty(h, weight.dtype)
        k.sum_blocks(dw_part, dw)
        dw = dw.reshape(ns)
    return dx, dw
