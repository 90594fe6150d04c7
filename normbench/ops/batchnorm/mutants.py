"""Batch normalization's wrong backends, one per bug class: ``normbench selftest --norm batchnorm``
runs them against the cases, and each must be caught by at least three.

Each is a plain float64 NumPy batch norm with one classic bug switched on (with ``"none"``, none:
it passes every case). The classes: eps placement, biased running variance, one-pass variance,
Keras's momentum convention, mutated inputs, wrong output dtype and shape, a missing m = 1 check
or one in eval, a dropped gradient term (issue 16's boundaries and layouts), float16 sums; 0.10-0.11's
float32 squares, float16 counts and saved variance; a dx that forgets the weight; and the field's:
dy's buffer walked as if dense, the last partial block of a channel's values dropped (statistics and
gradient sums), eps added to the running variance (only a large eps shows it), saved statistics
walked as if dense.
"""
from __future__ import annotations

import numpy as np

from ...backend import Backend, Support
from ..misread import dense
from .reference import momentum_factor

#: values per partial sum of the blocked-statistics mutant
BLOCK = 32

#: bug class -> what the kernel does wrong
BUGS: dict[str, str] = {
    "eps-outside": "adds eps outside the square root",
    "biased-running-var": "updates the running variance with the biased variance",
    "onepass": "E[x^2] - E[x]^2 in the input dtype",
    "keras-momentum": "Keras's momentum convention (the weight of the old running value)",
    "mutates-input": "writes into x",
    "wrong-dtype": "returns float64 whatever the input dtype",
    "wrong-shape": "returns y with the spatial axes flattened",
    "no-m1-check": "trains on one value per channel instead of raising",
    "backward-no-mean-term": "drops dx's mean(dy) term",
    "momentum-zero": "takes momentum 0 for None (a cumulative average)",
    "eps-floor": "raises a tiny eps to 1e-5",
    "eval-m1-refused": "refuses one value per channel in eval too",
    "dense-params": "reads the running mean's buffer as if it were dense",
    "dense-saved": "walks the saved statistics' buffers as if they were dense (backward)",
    "same-layout-dy": "takes dy's memory to be in x's (channels_last) order",
    "crash-on-invalid": "crashes (IndexError) on one value per channel instead of raising",
    "half-sums": "sums float16 values in float16 (overflows past 65504)",
    "dense-dy": "walks dy's buffer as if it were dense (ignores its strides)",
    "partial-block": f"sums a channel's values in blocks of {BLOCK} and drops the last partial block",
    "eps-in-running-var": "adds eps to the running variance it stores",
    "f32-squares": "squares x - mean in float32 (overflows past 1.8e19)",
    "half-count": "keeps a channel's value count in float16 (inf from 65520 values)",
    "saved-variance": "saves the variance where its inverse root belongs",
    "unit-weight-dx": "computes dx as if the weight were 1",
}


def _axes(x):
    return (0, *range(2, x.ndim))


def _whole_blocks(a):
    """Each channel's values (C, m), cut to the whole blocks of BLOCK: the last partial one dropped."""
    c = a.shape[1]
    m = a.size // c
    return np.moveaxis(a, 1, 0).reshape(c, m)[:, :m // BLOCK * BLOCK]


def _cv(v, ndim):
    return v.reshape((1, -1) + (1,) * (ndim - 2))


class BatchNormMutant(Backend):
    """A float64 batch norm with bug ``bug`` (``"none"``: right)."""

    description = "a wrong batch norm of normbench's self-test"

    def __init__(self, name, bug):
        self.name, self.bug = name, bug
        self.description_of_bug = BUGS.get(bug, "right: the control")
        self.ops = {"batchnorm": Support(dtypes={"float32", "float64", "float16"})}

    def right(self) -> "BatchNormMutant":
        """The same kernel without its bug (the control: it passes every case)."""
        return BatchNormMutant("batchnorm-none", "none")

    def from_numpy(self, array, dtype):
        return array  # the harness's private copy, in the case's exact memory layout

    def batchnorm_train(self, x, weight, bias, running_mean, running_var, *, momentum, eps, num_batches_tracked):
        c = x.shape[1]
        if x.size == 0:
            return np.empty_like(x), np.full(c, np.nan, x.dtype), np.full(c, np.nan, x.dtype)
        m = x.size // c
        sdt = np.float32 if x.dtype == np.float16 else x.dtype  # saved statistics: float32 for halves
        if m <= 1 and self.bug == "crash-on-invalid":
            return x, x[1], x[1]  # IndexError: never checks, crashes instead of refusing
        if m <= 1 and self.bug not in ("no-m1-check", "crash-on-invalid"):
            raise ValueError("Expected more than 1 value per channel when training")
        if self.bug == "eps-floor":
            eps = max(eps, 1e-5)  # "eps that small cannot matter"
        if self.bug == "half-sums":  # sums in the input dtype: float16 overflows past 65504
            mean = x.mean(axis=_axes(x), dtype=x.dtype).astype(np.float64)
            var = ((x - _cv(mean, x.ndim).astype(x.dtype)) ** 2).mean(axis=_axes(x), dtype=x.dtype).astype(np.float64)
        elif self.bug == "onepass":  # E[x^2] - E[x]^2 in the input dtype
            mean = x.mean(axis=_axes(x), dtype=x.dtype)
            var = np.maximum((x * x).mean(axis=_axes(x), dtype=x.dtype) - mean * mean, 0).astype(np.float64)
            mean = mean.astype(np.float64)
        elif self.bug == "partial-block" and m > BLOCK:  # a channel's values in blocks, the last partial one dropped
            per_channel = _whole_blocks(x).astype(np.float64)
            mean = per_channel.mean(axis=1)
            var = ((per_channel - mean[:, None]) ** 2).mean(axis=1)
        elif self.bug == "f32-squares":  # (x - mean)**2 in float32: overflows past 1.8e19
            mean = x.mean(axis=_axes(x), dtype=np.float64)
            d = (x - _cv(mean, x.ndim)).astype(np.float32)
            var = (d * d).mean(axis=_axes(x), dtype=np.float32).astype(np.float64)
        elif self.bug == "half-count" and x.dtype == np.float16:  # the count m in float16: inf from 65520
            count = float(np.float16(m))
            with np.errstate(all="ignore"):
                mean = x.sum(axis=_axes(x), dtype=np.float64) / count
                var = ((x - _cv(mean, x.ndim)) ** 2).sum(axis=_axes(x)) / count
        else:
            mean = x.mean(axis=_axes(x), dtype=np.float64)
            var = ((x - _cv(mean, x.ndim)) ** 2).mean(axis=_axes(x))
        invstd = 1 / (np.sqrt(var) + eps) if self.bug == "eps-outside" else 1 / np.sqrt(var + eps)
        y = (x - _cv(mean, x.ndim)) * _cv(invstd, x.ndim)
        if weight is not None:
            y = y * _cv(weight, x.ndim) + _cv(bias, x.ndim)
        if running_mean is not None:
            f = momentum_factor(momentum or None if self.bug == "momentum-zero" else momentum, num_batches_tracked)
            if self.bug == "keras-momentum":
                f = 1 - f
            unbiased = var if self.bug == "biased-running-var" else var * m / (m - 1)
            if self.bug == "eps-in-running-var":
                unbiased = unbiased + eps
            running_mean[:] = (1 - f) * running_mean + f * mean
            running_var[:] = (1 - f) * running_var + f * unbiased
        if self.bug == "mutates-input":
            x += 1
        out_dtype = np.float64 if self.bug == "wrong-dtype" else x.dtype
        if self.bug == "wrong-shape":
            y = y.reshape(x.shape[0], -1)  # flattened spatial axes
        saved = var if self.bug == "saved-variance" else invstd
        return y.astype(out_dtype), mean.astype(sdt), saved.astype(sdt)

    def batchnorm_eval(self, x, weight, bias, running_mean, running_var, *, eps):
        if self.bug == "eval-m1-refused" and x.size // x.shape[1] <= 1:
            raise ValueError("Expected more than 1 value per channel")  # only training must raise
        if self.bug == "dense-params":  # reads a parameter's buffer as if it were dense
            running_mean = np.lib.stride_tricks.as_strided(running_mean, running_mean.shape, (running_mean.itemsize,))
        y = (x - _cv(running_mean, x.ndim)) / np.sqrt(_cv(running_var, x.ndim) + eps)
        if weight is not None:
            y = y * _cv(weight, x.ndim) + _cv(bias, x.ndim)
        return y.astype(x.dtype)

    def batchnorm_backward(self, dy, x, weight, save_mean, save_invstd, *, eps):
        c = x.shape[1]
        if x.size == 0:
            return np.empty_like(x), np.zeros(c, x.dtype), np.zeros(c, x.dtype)
        m = x.size // c
        if self.bug == "dense-dy":
            dy = dense(dy)
        if self.bug == "dense-saved":
            save_mean, save_invstd = dense(save_mean), dense(save_invstd)
        if self.bug == "same-layout-dy" and x.ndim > 2 and not x.flags.c_contiguous:
            order = (0, *range(2, x.ndim), 1)  # takes dy's memory to be in x's (channels_last) order
            dy = np.ravel(dy, order="K").reshape(tuple(x.shape[i] for i in order)).transpose(np.argsort(order))
        dy, save_invstd = np.asarray(dy, np.float64), np.asarray(save_invstd, np.float64)
        xhat = (np.asarray(x, np.float64) - _cv(save_mean, x.ndim)) * _cv(save_invstd, x.ndim)
        sdy = dy.sum(axis=_axes(x), dtype=np.float64)
        sdyx = (dy * xhat).sum(axis=_axes(x), dtype=np.float64)
        if self.bug == "partial-block" and m > BLOCK:  # the parameter gradients' sums drop it too
            sdy, sdyx = _whole_blocks(dy).sum(axis=1), _whole_blocks(dy * xhat).sum(axis=1)
        w = np.ones(c) if weight is None or self.bug == "unit-weight-dx" else weight
        if self.bug == "backward-no-mean-term":
            sdy = np.zeros_like(sdy)
        dx = _cv(w * save_invstd / m, x.ndim) * (m * dy - _cv(sdy, x.ndim) - xhat * _cv(sdyx, x.ndim))
        if weight is None:
            return dx.astype(x.dtype), None, None
        return dx.astype(x.dtype), sdyx.astype(weight.dtype), sdy.astype(weight.dtype)


def mutants() -> list[BatchNormMutant]:
    return [BatchNormMutant(f"batchnorm-{bug}", bug) for bug in BUGS]
