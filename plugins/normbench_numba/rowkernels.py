"""Numba kernels for LayerNorm and RMSNorm on an (R, H) view: parallel over rows, fused.

Forward reads a row once for its statistics and again, from cache, to write y (a row of 16K
float32 is 64 KB); backward reads x and dy once for the two row sums and again from cache for
dx, while it accumulates dweight/dbias into per-block float64 partial sums (blocks of rows, a
few per thread), combined at the end. Statistics use float64 accumulators on values shifted by
the row's first element, so LayerNorm's one-pass ``S2 - S1^2/H`` does not cancel when
|mean| >> std. NaN and Inf propagate to their row (no nnan/ninf fast-math).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .kernels import FAST, _Namespace, serial_twins
from .kernels import PAR as _PAR

PAR = dict(_PAR)


@njit(**PAR)
def ln_forward(x, w, b, has_w, has_b, eps, y, mean, rstd):
    rows, h = x.shape
    for r in prange(rows):
        k = np.float64(x[r, 0])
        s1 = 0.0
        s2 = 0.0
        for j in range(h):
            d = np.float64(x[r, j]) - k
            s1 += d
            s2 += d * d
        mu = s1 / h
        var = s2 / h - mu * mu
        if var < 0.0:
            var = 0.0
        m = k + mu
        rs = 1.0 / np.sqrt(var + eps)
        mean[r] = m
        rstd[r] = rs
        if has_w and has_b:
            for j in range(h):
                y[r, j] = (np.float64(x[r, j]) - m) * rs * w[j] + b[j]
        elif has_w:
            for j in range(h):
                y[r, j] = (np.float64(x[r, j]) - m) * rs * w[j]
        elif has_b:
            for j in range(h):
                y[r, j] = (np.float64(x[r, j]) - m) * rs + b[j]
        else:
            for j in range(h):
                y[r, j] = (np.float64(x[r, j]) - m) * rs


@njit(**PAR)
def ln_backward(dy, x, w, has_w, mean, rstd, dx, dw_part, db_part, blocks):
    rows, h = x.shape
    per = (rows + blocks - 1) // blocks
    for blk in prange(blocks):
        for r in range(blk * per, min(rows, (blk + 1) * per)):
            m = np.float64(mean[r])
            rs = np.float64(rstd[r])
            sg = 0.0
            sgx = 0.0
            for j in range(h):
                xh = (np.float64(x[r, j]) - m) * rs
                g = np.float64(dy[r, j]) * w[j] if has_w else np.float64(dy[r, j])
                sg += g
                sgx += g * xh
            a = sg / h
            c = sgx / h
            for j in range(h):
                d = np.float64(dy[r, j])
                xh = (np.float64(x[r, j]) - m) * rs
                g = d * w[j] if has_w else d
                dx[r, j] = rs * (g - a - xh * c)
                dw_part[blk, j] += d * xh
                db_part[blk, j] += d


@njit(**PAR)
def rms_forward(x, w, has_w, eps, y, rrms):
    rows, h = x.shape
    for r in prange(rows):
        s2 = 0.0
        for j in range(h):
            v = np.float64(x[r, j])
            s2 += v * v
        rr = 1.0 / np.sqrt(s2 / h + eps)
        rrms[r] = rr
        if has_w:
            for j in range(h):
                y[r, j] = np.float64(x[r, j]) * rr * w[j]
        else:
            for j in range(h):
                y[r, j] = np.float64(x[r, j]) * rr


@njit(**PAR)
def rms_backward(dy, x, w, has_w, rrms, dx, dw_part, blocks):
    rows, h = x.shape
    per = (rows + blocks - 1) // blocks
    for blk in prange(blocks):
        for r in range(blk * per, min(rows, (blk + 1) * per)):
            rr = np.float64(rrms[r])
            sgx = 0.0
            for j in range(h):
                g = np.float64(dy[r, j]) * w[j] if has_w else np.float64(dy[r, j])
                sgx += g * np.float64(x[r, j])
            c = rr * rr * sgx / h
            for j in range(h):
                d = np.float64(dy[r, j])
                v = np.float64(x[r, j])
                g = d * w[j] if has_w else d
                dx[r, j] = rr * (g - v * c)
                dw_part[blk, j] += d * v * rr


@njit(**PAR)
def sum_blocks(part, out):
    """out[j] = sum over blocks of part[:, j] (parallel over j)."""
    blocks, h = part.shape
    for j in prange(h):
        s = 0.0
        for blk in range(blocks):
            s += part[blk, j]
        out[j] = s


#: the same kernels without threads, for inputs too small to pay for launching them
serial = _Namespace(serial_twins({k: v for k, v in globals().items()}))
__all__ = ["FAST", "ln_forward", "ln_backward", "rms_forward", "rms_backward", "sum_blocks", "serial"]
