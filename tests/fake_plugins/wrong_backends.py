"""Deliberately wrong batch-norm backends: the conformance suite must catch every one.

Each is a plain float64 NumPy implementation with one classic bug switched on.
"""
import time

import numpy as np

import normbench
from normbench import Backend, Support
from normbench.ops.batchnorm import momentum_factor


def _axes(x):
    return (0, *range(2, x.ndim))


def _cv(v, ndim):
    return v.reshape((1, -1) + (1,) * (ndim - 2))


class Wrong(Backend):
    ops = {"batchnorm": Support(dtypes={"float32", "float64"})}

    def __init__(self, name, bug):
        self.name, self.bug = name, bug

    def from_numpy(self, array, dtype):
        return array.astype(dtype, order="K", copy=True)

    def batchnorm_train(self, x, weight, bias, running_mean, running_var, *, momentum, eps, num_batches_tracked):
        if self.bug == "hang":
            time.sleep(3600)
        c = x.shape[1]
        if x.size == 0:
            return np.empty_like(x), np.full(c, np.nan, x.dtype), np.full(c, np.nan, x.dtype)
        m = x.size // c
        if m <= 1 and self.bug != "no-m1-check":
            raise ValueError("Expected more than 1 value per channel when training")
        if self.bug == "onepass":  # E[x^2] - E[x]^2 in the input dtype
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
            f = momentum_factor(momentum, num_batches_tracked)
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
        return y.astype(out_dtype), mean.astype(x.dtype), invstd.astype(x.dtype)

    def batchnorm_eval(self, x, weight, bias, running_mean, running_var, *, eps):
        y = (x - _cv(running_mean, x.ndim)) / np.sqrt(_cv(running_var, x.ndim) + eps)
        if weight is not None:
            y = y * _cv(weight, x.ndim) + _cv(bias, x.ndim)
        return y.astype(x.dtype)

    def batchnorm_backward(self, dy, x, weight, save_mean, save_invstd, *, eps):
        c = x.shape[1]
        if x.size == 0:
            return np.empty_like(x), np.zeros(c, x.dtype), np.zeros(c, x.dtype)
        m = x.size // c
        xhat = (x - _cv(save_mean, x.ndim)) * _cv(save_invstd, x.ndim)
        sdy = dy.sum(axis=_axes(x), dtype=np.float64)
        sdyx = (dy * xhat).sum(axis=_axes(x), dtype=np.float64)
        w = np.ones(c) if weight is None else weight
        if self.bug == "backward-no-mean-term":
            sdy = np.zeros_like(sdy)
        dx = _cv(w * save_invstd / m, x.ndim) * (m * dy - _cv(sdy, x.ndim) - xhat * _cv(sdyx, x.ndim))
        if weight is None:
            return dx.astype(x.dtype), None, None
        return dx.astype(x.dtype), sdyx.astype(x.dtype), sdy.astype(x.dtype)


BUGS = ["eps-outside", "biased-running-var", "onepass", "keras-momentum", "mutates-input", "wrong-dtype", "wrong-shape",
        "no-m1-check", "backward-no-mean-term"]




class ListsAFixedDefect(Wrong):
    """A correct backend that still lists a known failure: the suite must say it now passes."""

    known_failures = (normbench.KnownFailure("batchnorm/dtypes/16x6-float32", "was broken in an old release"),)


@normbench.hookimpl
def normbench_backends():
    return [Wrong(f"wrong-{bug}", bug) for bug in BUGS] + [ListsAFixedDefect("fixed-defect", None)]
