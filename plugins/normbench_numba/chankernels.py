"""Numba kernels for GroupNorm and InstanceNorm (G = C), one per memory layout.

* Contiguous, viewed as (N, C, S) with S = prod(spatial): a unit (n, g) is one dense run of
  (C/G) * S values. Parallel over units; each unit is read once from memory for its statistics
  and again, from cache, for the output (a unit of 2 x 56 x 56 float32 is 25 KB).
* Channels-last, viewed as (N, S, C): a unit is a column block of every row of sample n. Each
  thread keeps per-channel float64 sums over its rows (the inner loop over C is contiguous and
  vectorizes); per-channel sums combine into group statistics with the parallel-variance
  formula. With at least as many samples as threads a sample is one work item, whose second
  pass finds it in cache (800 KB at 64 x 56 x 56); with fewer (style transfer: N = 1) samples
  are split into row blocks, summed in parallel, combined, then normalized in parallel.

Sums are taken on values shifted by the first value of their channel (or unit), so the one-pass
``S2 - S1^2/m`` does not cancel when |mean| >> std: contiguous units in float64 lanes; channels-last
rows in x's dtype over short blocks (full SIMD width; a block's rounding is a few ulps of the
block), in float64 across blocks. The elementwise passes run in x's
dtype as ``(x - mean) * a + b`` (x - mean is exact near the mean). Backward uses the saved
mean/rstd: per channel ``A = sum(dy)``, ``B = sum(dy * (x - mean))``, and then
``dx = alpha_c dy + beta (x - mean) + gamma`` per unit; ``rstd * B`` and ``A`` per (n, c) are
returned for dweight and dbias (summed over n by the caller). NaN and Inf propagate to their
unit (no nnan/ninf fast-math).

Elements of x and dy are read through ``ld`` and outputs written through ``st`` (identities here),
and the compute dtype is w's, never x's: so halfkernels.variants compiles the same source for
float16/bfloat16 patterns with float32 weights.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .kernels import PAR, SER, _Namespace, acc, ld, serial_twins, st  # noqa: F401 - ld/st/acc are rebound per variant

#: rows (channels-last) summed in x's dtype before adding into float64: short enough that a float32
#: partial sum stays accurate to a few ulps. The contiguous kernels sum in float64 in one flat loop
#: instead: blocks of float32 partial sums there (any block length from 256 to 4096) did not
#: vectorize, and read at 25 GB/s against 52-58 GB/s for the flat float64 loop (a microbenchmark of
#: the sums alone, 4x128x128x128 and 32x64x56x56, 2 threads, reuse policy; 2026-12-03)
ROWS = 64


@njit(inline="always", **SER)
def _unit_forward(x, n, g, cpg, eps, w, b, y, mean64, var64):
    """Statistics of unit (n, g) of a (N, C, S) array, then its output (the unit is in cache)."""
    s = x.shape[2]
    c0 = g * cpg
    kx = ld(x[n, c0, 0])
    k = np.float64(kx)
    ka = acc(kx)
    s1 = acc(0.0)
    s2 = acc(0.0)
    for c in range(c0, c0 + cpg):
        for j in range(s):  # float64 lanes (float32 for half x), one flat loop: it vectorizes (see ROWS's note)
            d = acc(ld(x[n, c, j])) - ka
            s1 += d
            s2 += d * d
    m = cpg * s
    mu = s1 / m
    var = s2 / m - mu * mu
    if var < 0.0:
        var = 0.0
    mean64[n, g] = k + mu
    var64[n, g] = var
    rs = 1.0 / np.sqrt(var + eps)
    mt = w.dtype.type(k + mu)  # the elementwise pass in x's dtype: full-width SIMD
    for c in range(c0, c0 + cpg):
        a = w.dtype.type(rs * w[c])
        bc = w.dtype.type(b[c])
        for j in range(s):
            y[n, c, j] = st((ld(x[n, c, j]) - mt) * a + bc)


@njit(**PAR)
def nc_forward(x, groups, eps, w, b, y, mean64, var64):
    n_, c_ = x.shape[0], x.shape[1]
    cpg = c_ // groups
    for u in prange(n_ * groups):
        _unit_forward(x, u // groups, u % groups, cpg, eps, w, b, y, mean64, var64)


@njit(inline="always", **SER)
def _unit_backward(dy, x, n, g, cpg, w, mean, rstd, dx, dw_nc, db_nc):
    s = x.shape[2]
    c0 = g * cpg
    mt = w.dtype.type(mean[n, g])
    ma = acc(mean[n, g])
    rs = np.float64(rstd[n, g])
    swa = 0.0
    swb = 0.0
    for c in range(c0, c0 + cpg):
        a_c = acc(0.0)
        b_c = acc(0.0)
        for j in range(s):  # float64 lanes (float32 for half x), one flat loop (see ROWS's note)
            d = acc(ld(dy[n, c, j]))
            a_c += d
            b_c += d * (acc(ld(x[n, c, j])) - ma)
        db_nc[n, c] = a_c
        dw_nc[n, c] = rs * b_c
        swa += w[c] * a_c
        swb += w[c] * b_c
    m = cpg * s
    beta = w.dtype.type(-rs * rs * rs * swb / m)
    gamma = w.dtype.type(-rs * swa / m)
    for c in range(c0, c0 + cpg):
        alpha = w.dtype.type(rs * w[c])
        for j in range(s):
            dx[n, c, j] = st(alpha * ld(dy[n, c, j]) + beta * (ld(x[n, c, j]) - mt) + gamma)


@njit(**PAR)
def nc_backward(dy, x, groups, w, mean, rstd, dx, dw_nc, db_nc):
    n_, c_ = x.shape[0], x.shape[1]
    cpg = c_ // groups
    for u in prange(n_ * groups):
        _unit_backward(dy, x, u // groups, u % groups, cpg, w, mean, rstd, dx, dw_nc, db_nc)


# -- channels-last (N, S, C) ------------------------------------------------------------------------
@njit(inline="always", **SER)
def _cl_sums(x, n, lo, hi, k, s1, s2, w):
    """Per-channel sums of rows [lo, hi) of sample n, shifted by k: in the compute dtype (w's: x's,
    float32 for half x) over ROWS rows (the loop over channels is full-width SIMD), added into
    float64 ``s1``/``s2``."""
    c_ = x.shape[2]
    kx = np.empty(c_, w.dtype)
    t1 = np.empty(c_, w.dtype)
    t2 = np.empty(c_, w.dtype)
    for c in range(c_):
        kx[c] = k[c]  # a value of x: exact in x's dtype
    for b0 in range(lo, hi, ROWS):
        t1[:] = 0.0
        t2[:] = 0.0
        for p in range(b0, min(hi, b0 + ROWS)):
            for c in range(c_):
                d = ld(x[n, p, c]) - kx[c]
                t1[c] += d
                t2[c] += d * d
        for c in range(c_):
            s1[c] += t1[c]
            s2[c] += t2[c]


@njit(inline="always", **SER)
def _cl_finish(n, groups, rows, eps, k, s1, s2, w, b, mean64, var64, mc, ac, bc):
    """Group statistics of sample n from per-channel shifted sums over ``rows`` rows (parallel-variance
    combination), and the per-channel constants of the elementwise pass (in x's dtype)."""
    c_ = k.shape[0]
    cpg = c_ // groups
    for g in range(groups):
        tot = 0.0
        for c in range(g * cpg, (g + 1) * cpg):
            tot += k[c] + s1[c] / rows
        mu = tot / cpg  # every channel has the same count
        m2 = 0.0
        for c in range(g * cpg, (g + 1) * cpg):
            mc_ = k[c] + s1[c] / rows
            m2 += s2[c] - s1[c] * s1[c] / rows + rows * (mc_ - mu) * (mc_ - mu)
        var = m2 / (cpg * rows)
        if var < 0.0:
            var = 0.0
        mean64[n, g] = mu
        var64[n, g] = var
        rs = 1.0 / np.sqrt(var + eps)
        for c in range(g * cpg, (g + 1) * cpg):
            mc[c] = mu
            ac[c] = rs * w[c]
            bc[c] = b[c]


@njit(inline="always", **SER)
def _cl_apply(x, y, n, lo, hi, mc, ac, bc):
    c_ = x.shape[2]
    for p in range(lo, hi):
        for c in range(c_):
            y[n, p, c] = st((ld(x[n, p, c]) - mc[c]) * ac[c] + bc[c])


@njit(**PAR)
def cl_forward(x, groups, eps, w, b, y, mean64, var64, chunks):
    """``chunks`` row blocks per sample: 1 fuses a sample's two passes (it stays in cache)."""
    n_, s_, c_ = x.shape
    if chunks == 1:
        for n in prange(n_):
            k = np.empty(c_)
            for c in range(c_):
                k[c] = np.float64(ld(x[n, 0, c]))
            s1 = np.zeros(c_)
            s2 = np.zeros(c_)
            _cl_sums(x, n, 0, s_, k, s1, s2, w)
            mc = np.empty(c_, w.dtype)
            ac = np.empty(c_, w.dtype)
            bc = np.empty(c_, w.dtype)
            _cl_finish(n, groups, s_, eps, k, s1, s2, w, b, mean64, var64, mc, ac, bc)
            _cl_apply(x, y, n, 0, s_, mc, ac, bc)
        return
    per = (s_ + chunks - 1) // chunks
    part = np.zeros((n_ * chunks, 2, c_))
    for blk in prange(n_ * chunks):
        n = blk // chunks
        lo = (blk % chunks) * per
        hi = min(s_, lo + per)
        k = np.empty(c_)
        for c in range(c_):
            k[c] = np.float64(ld(x[n, 0, c]))
        _cl_sums(x, n, lo, hi, k, part[blk, 0], part[blk, 1], w)
    consts = np.empty((n_, 3, c_), w.dtype)
    for n in range(n_):
        k = np.empty(c_)
        for c in range(c_):
            k[c] = np.float64(ld(x[n, 0, c]))
        s1 = np.zeros(c_)
        s2 = np.zeros(c_)
        for blk in range(n * chunks, (n + 1) * chunks):
            for c in range(c_):
                s1[c] += part[blk, 0, c]
                s2[c] += part[blk, 1, c]
        _cl_finish(n, groups, s_, eps, k, s1, s2, w, b, mean64, var64, consts[n, 0], consts[n, 1], consts[n, 2])
    for blk in prange(n_ * chunks):
        n = blk // chunks
        lo = (blk % chunks) * per
        _cl_apply(x, y, n, lo, min(s_, lo + per), consts[n, 0], consts[n, 1], consts[n, 2])


@njit(inline="always", **SER)
def _cl_grad_sums(dy, x, n, lo, hi, mc, a, bsum, w):
    """Per-channel sum(dy) and sum(dy * (x - mean)), blocked like _cl_sums."""
    c_ = x.shape[2]
    mx = np.empty(c_, w.dtype)
    t1 = np.empty(c_, w.dtype)
    t2 = np.empty(c_, w.dtype)
    for c in range(c_):
        mx[c] = mc[c]
    for b0 in range(lo, hi, ROWS):
        t1[:] = 0.0
        t2[:] = 0.0
        for p in range(b0, min(hi, b0 + ROWS)):
            for c in range(c_):
                d = ld(dy[n, p, c])
                t1[c] += d
                t2[c] += d * (ld(x[n, p, c]) - mx[c])
        for c in range(c_):
            a[c] += t1[c]
            bsum[c] += t2[c]


@njit(inline="always", **SER)
def _cl_grad_finish(n, groups, rows, w, mean, rstd, a, bsum, dw_nc, db_nc, alpha, beta, gamma, mt):
    c_ = a.shape[0]
    cpg = c_ // groups
    for g in range(groups):
        rs = np.float64(rstd[n, g])
        swa = 0.0
        swb = 0.0
        for c in range(g * cpg, (g + 1) * cpg):
            db_nc[n, c] = a[c]
            dw_nc[n, c] = rs * bsum[c]
            swa += w[c] * a[c]
            swb += w[c] * bsum[c]
        m = cpg * rows
        for c in range(g * cpg, (g + 1) * cpg):
            alpha[c] = rs * w[c]
            beta[c] = -rs * rs * rs * swb / m
            gamma[c] = -rs * swa / m
            mt[c] = mean[n, g]


@njit(inline="always", **SER)
def _cl_grad_apply(dy, x, dx, n, lo, hi, alpha, beta, gamma, mt):
    c_ = x.shape[2]
    for p in range(lo, hi):
        for c in range(c_):
            dx[n, p, c] = st(alpha[c] * ld(dy[n, p, c]) + beta[c] * (ld(x[n, p, c]) - mt[c]) + gamma[c])


@njit(inline="always", **SER)
def _group_means(mean, n, groups, c_):
    mc = np.empty(c_)
    cpg = c_ // groups
    for c in range(c_):
        mc[c] = np.float64(mean[n, c // cpg])
    return mc


@njit(**PAR)
def cl_backward(dy, x, groups, w, mean, rstd, dx, dw_nc, db_nc, chunks):
    n_, s_, c_ = x.shape
    if chunks == 1:
        for n in prange(n_):
            mc = _group_means(mean, n, groups, c_)
            a = np.zeros(c_)
            bsum = np.zeros(c_)
            _cl_grad_sums(dy, x, n, 0, s_, mc, a, bsum, w)
            cs = np.empty((4, c_), w.dtype)
            _cl_grad_finish(n, groups, s_, w, mean, rstd, a, bsum, dw_nc, db_nc, cs[0], cs[1], cs[2], cs[3])
            _cl_grad_apply(dy, x, dx, n, 0, s_, cs[0], cs[1], cs[2], cs[3])
        return
    per = (s_ + chunks - 1) // chunks
    part = np.zeros((n_ * chunks, 2, c_))
    for blk in prange(n_ * chunks):
        n = blk // chunks
        lo = (blk % chunks) * per
        mc = _group_means(mean, n, groups, c_)
        _cl_grad_sums(dy, x, n, lo, min(s_, lo + per), mc, part[blk, 0], part[blk, 1], w)
    consts = np.empty((n_, 4, c_), w.dtype)
    for n in range(n_):
        a = np.zeros(c_)
        bsum = np.zeros(c_)
        for blk in range(n * chunks, (n + 1) * chunks):
            for c in range(c_):
                a[c] += part[blk, 0, c]
                bsum[c] += part[blk, 1, c]
        _cl_grad_finish(n, groups, s_, w, mean, rstd, a, bsum, dw_nc, db_nc, consts[n, 0], consts[n, 1],
                        consts[n, 2], consts[n, 3])
    for blk in prange(n_ * chunks):
        n = blk // chunks
        lo = (blk % chunks) * per
        _cl_grad_apply(dy, x, dx, n, lo, min(s_, lo + per), consts[n, 0], consts[n, 1], consts[n, 2], consts[n, 3])


@njit(**PAR)
def nc_affine(x, m, a, b, y):
    """y = (x - m[c]) * a[c] + b[c] on (N, C, S): InstanceNorm's eval."""
    n_, c_, s_ = x.shape
    for u in prange(n_ * c_):
        n = u // c_
        c = u % c_
        mc = m[c]
        ac = a[c]
        bc = b[c]
        for j in range(s_):
            y[n, c, j] = st((ld(x[n, c, j]) - mc) * ac + bc)


@njit(**PAR)
def cl_affine(x, m, a, b, y, blocks):
    """The same on (R, C) rows (channels-last), parallel over row blocks."""
    r_, c_ = x.shape
    per = (r_ + blocks - 1) // blocks
    for blk in prange(blocks):
        for r in range(blk * per, min(r_, (blk + 1) * per)):
            for c in range(c_):
                y[r, c] = st((ld(x[r, c]) - m[c]) * a[c] + b[c])


#: the same kernels without threads, for inputs too small to pay for launching them
serial = _Namespace(serial_twins({k: v for k, v in globals().items()}))
__all__ = ["nc_forward", "nc_backward", "cl_forward", "cl_backward", "nc_affine", "cl_affine", "serial"]
