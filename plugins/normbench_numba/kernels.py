"""Numba kernels for batch norm, one shape per memory layout.

* Contiguous (N, C, S) with S = prod(spatial), long planes: parallel over channels. A channel's
  N*S values are read once from memory for its statistics, then again for the normalize (or dx)
  pass while they are still in cache (a channel of 32x56x56 float32 is 400 KB).
* Contiguous with short planes (S < SHORT_PLANE, e.g. 7x7): walking a channel would touch N
  tiny runs far apart, so these stream through memory in order instead: per-block partial sums,
  then an elementwise pass over (n, c) planes.
* Channels-last (R, C) with R = N * prod(spatial), also plain 2-D (N, C) input: parallel over
  blocks of rows; each block keeps per-channel float64 partial sums (the inner loop over C is
  contiguous and vectorizes), combined at the end; then an elementwise pass.

Statistics use float64 accumulators on data shifted by one sample of the channel (K_c), so the
one-pass ``S2 - S1^2/m`` never cancels catastrophically: with x = 1e4 + N(0, 1) the shifted
values are O(1). Sums of float64 values may be reassociated (vectorized): that changes the
rounding by a few float64 ulps, nothing a float32 or float64 result can see. NaN and Inf are
never assumed away (no ``nnan``/``ninf`` fast-math), so they propagate to their channel.

Every kernel does its per-channel bookkeeping (running statistics, invstd, dweight, dbias)
itself: from Python a call is one dispatch, which is what small inputs pay for.
"""
from __future__ import annotations

import sys

import numpy as np
from numba import njit, prange



def _cache_problem() -> str:
    """Why numba cannot cache this module's kernels on disk here ("" if it can).

    Numba looks for a writable folder (NUMBA_CACHE_DIR, the package's __pycache__, the user's
    cache folder) and, with ``cache=True``, fails every compilation when none is writable (a
    read-only install and home). Asking its own locator search is the only exact test.
    """
    from numba.core.caching import FunctionCache

    try:
        FunctionCache(_cache_problem)
    except Exception as exc:  # noqa: BLE001 - numba raises RuntimeError("cannot cache function ...")
        return str(exc).strip().splitlines()[0]
    return ""


CACHE_PROBLEM = _cache_problem()
if CACHE_PROBLEM:  # an uncached JIT still works: it only compiles again in every process
    print(f"normbench: notice: numba: {CACHE_PROBLEM}; compiling without the on-disk cache (every worker pays "
          f"the JIT time). Set NUMBA_CACHE_DIR to a writable folder to keep compiled kernels.", file=sys.stderr)
FAST = {"reassoc", "contract"}
PAR = dict(parallel=True, cache=not CACHE_PROBLEM, fastmath=FAST, nogil=True)
SER = dict(cache=not CACHE_PROBLEM, fastmath=FAST, nogil=True)
SHORT_PLANE = 128


@njit(inline="always", **SER)
def ld(v):
    """An element of x or dy as the kernels compute with it: itself here. The float16 and bfloat16
    variants (halfkernels.variants) bind ``ld``/``st`` to widening/narrowing conversions instead,
    and take the compute dtype from the per-channel scratch (float32), never from x."""
    return v


@njit(inline="always", **SER)
def acc(v):
    """A value as GroupNorm/InstanceNorm's flat unit sums accumulate it (chankernels): float64 here.
    The half variants bind float32, what torch accumulates half inputs in (NORM-SEMANTICS):
    float64 lanes made those sums compute-bound, at float32's time for half the bytes. Batch
    norm keeps float64: its float32 statistics of 66,560 half values per channel need it."""
    return np.float64(v)


@njit(inline="always", **SER)
def st(v):
    """A computed value as it is stored into y or dx: itself here (narrowed in the half variants)."""
    return v
#: channels-last partial sums run in the input dtype over at most this many rows
ROWS_PER_BLOCK = 256


@njit(inline="always", **SER)  # called per channel: a real call would pass 8 array structs each time
def _finish_stats(ch, k, s1, s2, m, eps, weight, bias, affine, rm, rv, running, factor, save_mean, save_invstd, tmp):
    """Per-channel epilogue of a training forward: stats, running update, normalize constants."""
    mu = s1 / m
    var = max(s2 / m - mu * mu, 0.0) if np.isfinite(s2) else s2 - s1  # NaN/Inf stay in the channel
    mean = k + mu
    invstd = 1.0 / np.sqrt(var + eps)
    save_mean[ch] = mean
    save_invstd[ch] = invstd
    if running:
        rm[ch] = (1.0 - factor) * rm[ch] + factor * mean
        rv[ch] = (1.0 - factor) * rv[ch] + factor * var * m / (m - 1)
    tmp[0, ch] = mean  # rounded to x's dtype: the normalize loop runs in that dtype
    tmp[1, ch] = invstd * weight[ch] if affine else invstd
    tmp[2, ch] = bias[ch] if affine else 0.0


@njit(**SER)
def _sum_blocks(partial):
    """(blocks, C) partial sums -> (C,), walking memory in order."""
    blocks, c = partial.shape
    out = np.zeros(c)
    for blk in range(blocks):
        for ch in range(c):
            out[ch] += partial[blk, ch]
    return out


@njit(**SER)
def _finish_blocks(shift, s1, s2, m, eps, weight, bias, affine, rm, rv, running, factor, save_mean, save_invstd, tmp):
    """Combine per-block partial sums, then the per-channel epilogue (serial: C is small work).

    Kept out of the parallel kernels, where numba would turn array expressions into parallel
    regions of their own; and written out rather than calling _finish_stats per channel, which
    measured much slower (old timing protocol; not re-measured since)."""
    a = _sum_blocks(s1)
    b = _sum_blocks(s2)
    for ch in range(a.shape[0]):
        mu = a[ch] / m
        var = max(b[ch] / m - mu * mu, 0.0) if np.isfinite(b[ch]) else b[ch] - a[ch]
        mean = shift[ch] + mu
        invstd = 1.0 / np.sqrt(var + eps)
        save_mean[ch] = mean
        save_invstd[ch] = invstd
        if running:
            rm[ch] = (1.0 - factor) * rm[ch] + factor * mean
            rv[ch] = (1.0 - factor) * rv[ch] + factor * var * m / (m - 1)
        tmp[0, ch] = mean
        tmp[1, ch] = invstd * weight[ch] if affine else invstd
        tmp[2, ch] = bias[ch] if affine else 0.0


@njit(**SER)
def _grad_blocks(sa, sb, m, mean, invstd, weight, affine, dweight, dbias, tmp):
    a = _sum_blocks(sa)
    b = _sum_blocks(sb)
    for ch in range(a.shape[0]):
        istd = np.float64(invstd[ch])
        w = weight[ch] if affine else 1.0
        if affine:
            dweight[ch] = b[ch] * istd
            dbias[ch] = a[ch]
        tmp[0, ch] = mean[ch]
        tmp[1, ch] = a[ch] / m
        tmp[2, ch] = istd * istd * b[ch] / m
        tmp[3, ch] = w * istd


@njit(**SER)
def _zeros2(rows, cols):
    return np.zeros((rows, cols))


@njit(**SER)
def _first_sample(first):
    """float64 copy of one sample per channel: the shift K_c of the one-pass sums."""
    out = np.empty(first.shape[0])
    for ch in range(out.shape[0]):
        out[ch] = ld(first[ch])
    return out


@njit(**SER)
def _eval_constants(weight, bias, affine, rm, rv, eps, tmp):
    for ch in range(rm.shape[0]):
        invstd = 1.0 / np.sqrt(np.float64(rv[ch]) + eps)
        tmp[0, ch] = rm[ch]
        tmp[1, ch] = invstd * weight[ch] if affine else invstd
        tmp[2, ch] = bias[ch] if affine else 0.0


@njit(inline="always", **SER)
def _grad_constants(ch, a, b, m, mean, invstd, weight, affine, dweight, dbias, tmp):
    """Per-channel epilogue of a backward: dweight, dbias and the dx constants."""
    istd = np.float64(invstd[ch])
    w = weight[ch] if affine else 1.0
    if affine:
        dweight[ch] = b * istd
        dbias[ch] = a
    tmp[0, ch] = mean[ch]
    tmp[1, ch] = a / m
    tmp[2, ch] = istd * istd * b / m
    tmp[3, ch] = w * istd


# -- contiguous (N, C, S), long planes: parallel over channels ------------------------------------
@njit(**PAR)
def train_ncs(x, weight, bias, affine, rm, rv, running, factor, eps, y, save_mean, save_invstd, tmp):
    n, c, s = x.shape
    m = n * s
    for ch in prange(c):
        k = np.float64(ld(x[0, ch, 0]))
        s1 = 0.0
        s2 = 0.0
        for i in range(n):
            for j in range(s):
                d = np.float64(ld(x[i, ch, j])) - k
                s1 += d
                s2 += d * d
        _finish_stats(ch, k, s1, s2, m, eps, weight, bias, affine, rm, rv, running, factor, save_mean, save_invstd, tmp)
        mu = tmp[0, ch]
        sc = tmp[1, ch]
        sh = tmp[2, ch]
        for i in range(n):
            for j in range(s):
                y[i, ch, j] = st((ld(x[i, ch, j]) - mu) * sc + sh)


@njit(**PAR)
def backward_ncs(dy, x, mean, invstd, weight, affine, dx, dweight, dbias, tmp):
    n, c, s = x.shape
    m = n * s
    for ch in prange(c):
        tmp[0, ch] = mean[ch]
        mu_t = tmp[0, ch]
        a = 0.0
        b = 0.0
        for i in range(n):
            # one plane in x's dtype (vectorized lanes of at most S/16 terms each), then float64
            tmp[1, ch] = 0.0
            tmp[2, ch] = 0.0
            pa = tmp[1, ch]
            pb = tmp[2, ch]
            for j in range(s):
                g = ld(dy[i, ch, j])
                pa += g
                pb += g * (ld(x[i, ch, j]) - mu_t)
            a += np.float64(pa)
            b += np.float64(pb)
        _grad_constants(ch, a, b, m, mean, invstd, weight, affine, dweight, dbias, tmp)
        mu_t = tmp[0, ch]
        g_mean = tmp[1, ch]
        kk = tmp[2, ch]
        wi = tmp[3, ch]
        for i in range(n):
            for j in range(s):
                dx[i, ch, j] = st((ld(dy[i, ch, j]) - g_mean - (ld(x[i, ch, j]) - mu_t) * kk) * wi)


# -- contiguous (N, C, S), short planes: stream in memory order -----------------------------------
@njit(**PAR)
def _planes_apply(x, tmp, y):
    n, c, s = x.shape
    for p in prange(n * c):
        i = p // c
        ch = p % c
        mu = tmp[0, ch]
        sc = tmp[1, ch]
        sh = tmp[2, ch]
        for j in range(s):
            y[i, ch, j] = st((ld(x[i, ch, j]) - mu) * sc + sh)


@njit(**PAR)
def train_ncs_planes(x, weight, bias, affine, rm, rv, running, factor, eps, y, save_mean, save_invstd, tmp, blocks):
    n, c, s = x.shape
    m = n * s
    shift = _first_sample(x[0, :, 0])
    s1 = _zeros2(blocks, c)
    s2 = _zeros2(blocks, c)
    step = (n + blocks - 1) // blocks
    for blk in prange(blocks):
        for i in range(blk * step, min(n, (blk + 1) * step)):
            for ch in range(c):
                k = shift[ch]
                a = 0.0
                b = 0.0
                for j in range(s):
                    d = np.float64(ld(x[i, ch, j])) - k
                    a += d
                    b += d * d
                s1[blk, ch] += a
                s2[blk, ch] += b
    _finish_blocks(shift, s1, s2, m, eps, weight, bias, affine, rm, rv, running, factor, save_mean, save_invstd, tmp)
    _planes_apply(x, tmp, y)


@njit(**PAR)
def backward_ncs_planes(dy, x, mean, invstd, weight, affine, dx, dweight, dbias, tmp, blocks):
    n, c, s = x.shape
    m = n * s
    sa = _zeros2(blocks, c)
    sb = _zeros2(blocks, c)
    mean_t = tmp[0]
    for ch in range(c):
        mean_t[ch] = mean[ch]
    zero = tmp[1, :1].copy()
    zero[0] = 0.0
    step = (n + blocks - 1) // blocks
    for blk in prange(blocks):
        for i in range(blk * step, min(n, (blk + 1) * step)):
            for ch in range(c):
                mu = mean_t[ch]
                a = zero[0]
                b = zero[0]
                for j in range(s):  # a short plane: summed in x's dtype, then into float64
                    g = ld(dy[i, ch, j])
                    a += g
                    b += g * (ld(x[i, ch, j]) - mu)
                sa[blk, ch] += a
                sb[blk, ch] += b
    _grad_blocks(sa, sb, m, mean, invstd, weight, affine, dweight, dbias, tmp)
    for p in prange(n * c):
        i = p // c
        ch = p % c
        mu_t = tmp[0, ch]
        g_mean = tmp[1, ch]
        kk = tmp[2, ch]
        wi = tmp[3, ch]
        for j in range(s):
            dx[i, ch, j] = st((ld(dy[i, ch, j]) - g_mean - (ld(x[i, ch, j]) - mu_t) * kk) * wi)


@njit(**SER)  # its parallel part is _planes_apply
def eval_ncs(x, weight, bias, affine, rm, rv, eps, y, tmp):
    _eval_constants(weight, bias, affine, rm, rv, eps, tmp)
    _planes_apply(x, tmp, y)


# -- channels last (R, C): parallel over blocks of rows -------------------------------------------
# The elementwise passes see k rows at a time as one row of k*C values (a free reshape of the
# contiguous (R, C) array, with the per-channel constants tiled k times): with C = 16 or 64 a row
# is too short for the loop to run at speed (faster at C = 16 and 64 under the old timing protocol;
# the figures are to be re-measured under the current one. The same for the sums passes measured
# no gain, so they keep plain rows.)
TILE = 1024


@njit(**SER)
def _rows_per_tile(r, c):
    k = 1
    while k * 2 * c <= TILE and r % (k * 2) == 0:
        k *= 2
    return k


@njit(**SER)
def _tile(consts, k):
    rows, c = consts.shape
    out = np.empty((rows, k * c), dtype=consts.dtype)
    for i in range(rows):
        for t in range(k):
            for ch in range(c):
                out[i, t * c + ch] = consts[i, ch]
    return out


@njit(**SER)
def _apply_tiled(x, tmp, y, blocks):
    r, c = x.shape
    k = _rows_per_tile(r, c)
    _rows_apply(x.reshape(r // k, k * c), _tile(tmp, k), y.reshape(r // k, k * c), blocks)
@njit(**PAR)
def _rows_apply(x, tmp, y, blocks):
    r, c = x.shape
    step = (r + blocks - 1) // blocks
    mu = tmp[0]
    sc = tmp[1]
    sh = tmp[2]
    for blk in prange(blocks):
        for i in range(blk * step, min(r, (blk + 1) * step)):
            row = x[i]
            out = y[i]
            for ch in range(c):
                out[ch] = st((ld(row[ch]) - mu[ch]) * sc[ch] + sh[ch])


@njit(**PAR)
def _rc_sums(x, shift_t, blocks):
    """Shifted sums per block of at most ROWS_PER_BLOCK rows in x's dtype (the shifted values
    are O(std), and a channel's accumulator sees at most 256 of them), combined in float64."""
    r, c = x.shape
    blocks = max(blocks, (r + ROWS_PER_BLOCK - 1) // ROWS_PER_BLOCK)
    s1 = np.zeros((blocks, c), dtype=shift_t.dtype)
    s2 = np.zeros((blocks, c), dtype=shift_t.dtype)
    step = (r + blocks - 1) // blocks
    for blk in prange(blocks):
        a1 = s1[blk]
        a2 = s2[blk]
        for i in range(blk * step, min(r, (blk + 1) * step)):
            row = x[i]
            for ch in range(c):
                d = ld(row[ch]) - shift_t[ch]
                a1[ch] += d
                a2[ch] += d * d
    return s1, s2


@njit(**SER)
def train_rc(x, weight, bias, affine, rm, rv, running, factor, eps, y, save_mean, save_invstd, tmp, blocks):
    # serial driver around the two parallel passes (sums, then the elementwise pass)
    k = _first_sample(x[0])
    shift_t = tmp[0]  # the first row in the compute dtype (exact); tmp is overwritten only after the sums
    for ch in range(x.shape[1]):
        shift_t[ch] = ld(x[0, ch])
    s1, s2 = _rc_sums(x, shift_t, blocks)
    _finish_blocks(k, s1, s2, x.shape[0], eps, weight, bias, affine, rm, rv, running, factor, save_mean, save_invstd, tmp)
    _apply_tiled(x, tmp, y, blocks)


@njit(**SER)  # its parallel part is _rows_apply
def eval_rc(x, weight, bias, affine, rm, rv, eps, y, tmp, blocks):
    _eval_constants(weight, bias, affine, rm, rv, eps, tmp)
    _apply_tiled(x, tmp, y, blocks)


@njit(**PAR)
def _rc_grad_sums(dy, x, mean_t, blocks):
    """Per-block sums in x's dtype over at most ROWS_PER_BLOCK rows (accurate: <= 256 terms a
    lane; and twice as fast as converting every element to float64), combined in float64."""
    r, c = x.shape
    blocks = max(blocks, (r + ROWS_PER_BLOCK - 1) // ROWS_PER_BLOCK)
    sa = np.zeros((blocks, c), dtype=mean_t.dtype)
    sb = np.zeros((blocks, c), dtype=mean_t.dtype)
    step = (r + blocks - 1) // blocks
    for blk in prange(blocks):
        a = sa[blk]
        b = sb[blk]
        for i in range(blk * step, min(r, (blk + 1) * step)):
            g_row = dy[i]
            x_row = x[i]
            for ch in range(c):
                g = ld(g_row[ch])
                a[ch] += g
                b[ch] += g * (ld(x_row[ch]) - mean_t[ch])
    return sa, sb


@njit(**PAR)
def _rc_dx(dy, x, tmp, dx, blocks):
    r, c = x.shape
    step = (r + blocks - 1) // blocks
    mu_t = tmp[0]
    g_mean = tmp[1]
    kk = tmp[2]
    wi = tmp[3]
    for blk in prange(blocks):
        for i in range(blk * step, min(r, (blk + 1) * step)):
            g_row = dy[i]
            x_row = x[i]
            out = dx[i]
            for ch in range(c):
                out[ch] = st((ld(g_row[ch]) - g_mean[ch] - (ld(x_row[ch]) - mu_t[ch]) * kk[ch]) * wi[ch])


@njit(**SER)
def backward_rc(dy, x, mean, invstd, weight, affine, dx, dweight, dbias, tmp, blocks):
    mean_t = tmp[0]
    for ch in range(mean.shape[0]):
        mean_t[ch] = mean[ch]
    sa, sb = _rc_grad_sums(dy, x, mean_t, blocks)
    _grad_blocks(sa, sb, x.shape[0], mean, invstd, weight, affine, dweight, dbias, tmp)
    r, c = x.shape
    k = _rows_per_tile(r, c)
    _rc_dx(dy.reshape(r // k, k * c), x.reshape(r // k, k * c), _tile(tmp, k), dx.reshape(r // k, k * c), blocks)


# -- variants: serial twins, and the float16/bfloat16 copies (halfkernels.variants) -----------------
def variant(namespace: dict, suffix: str, *, parallel: bool = True, **overrides) -> dict:
    """A copy of every kernel in ``namespace``, calling only copies of the same variant.

    Each copy is compiled from the same source with its own qualified name, so that numba's
    on-disk cache (whose index records neither the parallel flag nor the globals) keeps variants
    apart, and with globals in which every kernel it calls is a copy of the same variant and the
    names in ``overrides`` (``ld``/``st`` for the half variants) are replaced. ``parallel=False``
    gives serial twins, for inputs too small to pay for launching threads.
    """
    import types

    from numba.core.registry import CPUDispatcher

    shared = dict(namespace, **overrides)
    copies = {}
    for name, disp in list(namespace.items()):
        if not isinstance(disp, CPUDispatcher) or name in overrides:
            continue
        f = disp.py_func
        copy = types.FunctionType(f.__code__, shared, f.__name__, f.__defaults__, f.__closure__)
        copy.__qualname__ = f"{f.__qualname__}_{suffix}"
        copy.__module__ = f.__module__
        options = {k: v for k, v in disp.targetoptions.items() if k not in ("nopython", "boundscheck")}
        if not parallel:
            options.pop("parallel", None)
        copies[name] = njit(cache=not CACHE_PROBLEM, **options)(copy)
    shared.update(copies)
    return copies


def serial_twins(namespace: dict) -> dict:
    """The serial variant of every kernel in ``namespace``."""
    return variant(namespace, "serial", parallel=False)


class _Namespace:
    def __init__(self, items: dict) -> None:
        self.__dict__.update(items)


#: ``serial.train_rc`` etc.: the same kernels without threads
serial = _Namespace({**serial_twins(globals()), "SHORT_PLANE": SHORT_PLANE})
