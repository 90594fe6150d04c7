"""Deliberately wrong batch-norm backends: the conformance suite must catch every one.

Each is a plain float64 NumPy implementation with one classic bug switched on.
"""
import time

import numpy as np

import normbench
from normbench import Backend, Support
from normbench.dtypes import layout_of, to_layout
from normbench.ops.batchnorm import momentum_factor


def _axes(x):
    return (0, *range(2, x.ndim))


def _cv(v, ndim):
    return v.reshape((1, -1) + (1,) * (ndim - 2))


class Wrong(Backend):
    ops = {"batchnorm": Support(dtypes={"float32", "float64"})}

    def __init__(self, name, bug):
        self.name, self.bug = name, bug
        if bug == "half-sums":  # the one bug that needs a half dtype to show
            self.ops = {"batchnorm": Support(dtypes={"float32", "float64", "float16"})}

    def from_numpy(self, array, dtype):  # keeps the memory layout, strided views included
        return to_layout(array.astype(dtype), layout_of(array))

    def batchnorm_train(self, x, weight, bias, running_mean, running_var, *, momentum, eps, num_batches_tracked):
        if self.bug == "hang":
            time.sleep(3600)
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
            running_mean[:] = (1 - f) * running_mean + f * mean
            running_var[:] = (1 - f) * running_var + f * unbiased
        if self.bug == "mutates-input":
            x += 1
        out_dtype = np.float64 if self.bug == "wrong-dtype" else x.dtype
        if self.bug == "wrong-shape":
            y = y.reshape(x.shape[0], -1)  # flattened spatial axes
        return y.astype(out_dtype), mean.astype(sdt), invstd.astype(sdt)

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
        if self.bug == "same-layout-dy" and x.ndim > 2 and not x.flags.c_contiguous:
            order = (0, *range(2, x.ndim), 1)  # takes dy's memory to be in x's (channels_last) order
            dy = np.ravel(dy, order="K").reshape(tuple(x.shape[i] for i in order)).transpose(np.argsort(order))
        xhat = (x - _cv(save_mean, x.ndim)) * _cv(save_invstd, x.ndim)
        sdy = dy.sum(axis=_axes(x), dtype=np.float64)
        sdyx = (dy * xhat).sum(axis=_axes(x), dtype=np.float64)
        w = np.ones(c) if weight is None else weight
        if self.bug == "backward-no-mean-term":
            sdy = np.zeros_like(sdy)
        dx = _cv(w * save_invstd / m, x.ndim) * (m * dy - _cv(sdy, x.ndim) - xhat * _cv(sdyx, x.ndim))
        if weight is None:
            return dx.astype(x.dtype), None, None
        return dx.astype(x.dtype), sdyx.astype(weight.dtype), sdy.astype(weight.dtype)


BUGS = ["eps-outside", "biased-running-var", "onepass", "keras-momentum", "mutates-input", "wrong-dtype", "wrong-shape",
        "no-m1-check", "backward-no-mean-term",
        # issue 16's categories: an argument at its boundary, arguments in different layouts, an error
        # that is a crash, precision that bites (float16 sums)
        "momentum-zero", "eps-floor", "eval-m1-refused", "dense-params", "same-layout-dy", "crash-on-invalid",
        "half-sums"]




class ListsAFixedDefect(Wrong):
    """A correct backend that still lists a known failure: the suite must say it now passes."""

    known_failures = (normbench.KnownFailure("batchnorm/dtypes/16x6-float32", "was broken in an old release"),)


@normbench.hookimpl
def normbench_backends():
    return [Wrong(f"wrong-{bug}", bug) for bug in BUGS] + [ListsAFixedDefect("fixed-defect", None)]
