"""Per-dtype, per-output tolerances for batch norm, and the comparison that applies them.

An element passes when ``|actual - ref| <= atol * S + rtol * |ref| + K * eps(dtype) * cond * T``:

* ``rtol``/``atol`` are ``torch.testing.assert_close``'s defaults for the output's dtype
  (table :data:`normbench.closeness.BASE`), unchanged.
* ``S`` is the natural size of the output in that channel (so atol means "1e-5 of the output's
  scale", not of 1): the channel RMS of y; for dx the size of the terms it cancels,
  ``|w| * invstd * rms(dy)`` (with m = 2, dx is exactly 0 but its terms are not); the L2 norm of
  the summed terms for dweight (``dy * xhat``) and dbias (``dy``), since a float32 sum's rounding
  grows with it; the channel std for the means. Never below 1.
* The last term admits the rounding no algorithm can avoid when |x| >> std: the mean kept in
  the compute dtype is off by about eps(dtype) * |x|, which ``invstd`` magnifies. ``cond`` is
  ``max|x_c| * invstd_c`` per channel, ``T`` the scale that error is carried into, and
  ``K = 4`` (docs/semantics.md: "single digits"). For well-conditioned data this term is at the
  level of ``atol``; at x = 1e4 + N(0, 1) in float32 it admits ~5e-3 in y, which still fails
  a one-pass ``E[x^2] - E[x]^2`` (error of order 1) and PyTorch's CPU channels_last kernel
  (~1e-2 and growing with the size).

Non-finite values must appear exactly where the reference has them (NaN/Inf propagate to their
channel only); finite ones are compared as above.
"""
from __future__ import annotations

import numpy as np

from ...closeness import compare_arrays
from ...results import Comparison
from .reference import reduce_axes


def _per_channel(v: np.ndarray, ndim: int) -> np.ndarray:
    return v.reshape((1, -1) + (1,) * (ndim - 2)) if ndim > 1 else v


def channel_rms(a: np.ndarray) -> np.ndarray:
    """RMS over every axis but 1, ignoring non-finite values; shape (C,)."""
    finite = np.where(np.isfinite(a), a, 0.0)
    if a.size == 0:
        return np.zeros(a.shape[1])
    return np.sqrt(np.mean(finite * finite, axis=reduce_axes(a.ndim)))


def channel_l2(a: np.ndarray) -> np.ndarray:
    finite = np.where(np.isfinite(a), a, 0.0)
    return np.sqrt(np.sum(finite * finite, axis=reduce_axes(a.ndim)))


def channel_absmax(a: np.ndarray) -> np.ndarray:
    finite = np.where(np.isfinite(a), np.abs(a), 0.0)
    if a.size == 0:
        return np.zeros(a.shape[1])
    return np.max(finite, axis=reduce_axes(a.ndim))


def compare(
    output: str,
    actual: np.ndarray,
    ref: np.ndarray,
    dtype: str,
    *,
    scale: np.ndarray | float = 1.0,
    cond_err: np.ndarray | float = 0.0,
) -> Comparison:
    """Compare one output. ``scale`` is S and ``cond_err`` is ``cond * T`` (per channel or scalar)."""
    scale = np.asarray(scale, dtype=np.float64)
    cond_err = np.asarray(cond_err, dtype=np.float64)
    if ref.ndim > 1:  # per-channel values along axis 1
        channels = ref.shape[1]
        scale = _per_channel(np.broadcast_to(scale, (channels,)), ref.ndim)
        cond_err = _per_channel(np.broadcast_to(cond_err, (channels,)), ref.ndim)
    return compare_arrays(output, actual, ref, dtype, scale=scale, cond_err=cond_err)
