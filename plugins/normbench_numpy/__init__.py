"""NumPy backend (batchnorm): vectorized, computes in the input dtype, accumulates in float64.

Registered through the ``normbench`` entry-point group like any third-party backend.
Half inputs (float16) are computed in float32 and rounded once at the end; NumPy has no
bfloat16, so that dtype is declared unsupported.
"""
from __future__ import annotations

import numpy as np

import normbench
from normbench import Backend, Support, Unsupported
from normbench.ops.batchnorm import momentum_factor

from .quiet import quiet

ACC = np.float64


def _axes(ndim: int) -> tuple[int, ...]:
    return (0, *range(2, ndim))


def _cv(v: np.ndarray, ndim: int) -> np.ndarray:
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def _compute_dtype(x: np.ndarray) -> np.dtype:
    return np.dtype(np.float32) if x.dtype == np.float16 else x.dtype




from . import chanorm, rownorm  # noqa: E402 - LayerNorm, RMSNorm, GroupNorm, InstanceNorm


class NumpyBackend(Backend):
    name = "numpy"
    description = "vectorized NumPy, float64 accumulation, two-pass statistics"
    DTYPES = frozenset({"float64", "float32", "float16"})
    ops = {"batchnorm": Support(dtypes=DTYPES), "layernorm": Support(dtypes=DTYPES), "rmsnorm": Support(dtypes=DTYPES),
           "groupnorm": Support(dtypes=DTYPES), "instancenorm": Support(dtypes=DTYPES)}
    # one thread, whole-array reductions in float64 over C-ordered copies: no batch, thread count or
    # layout reaches the summation order (tests/test_invariance.py; np.sum's pairwise order follows
    # memory, so the channel ops reduce a contiguous copy of a channels_last or strided input)
    invariants = ("deterministic", "batch-invariant", "thread-invariant", "layout-invariant")

    def version(self) -> str:
        return np.__version__

    def set_threads(self, threads: int | None) -> int | None:
        return 1  # NumPy's elementwise ufuncs and reductions run on one thread

    def from_numpy(self, array: np.ndarray, dtype: str) -> np.ndarray:
        if dtype not in self.DTYPES:
            raise Unsupported(f"NumPy has no {dtype}")
        return array.astype(dtype, order="K", copy=True)

    @quiet
    def batchnorm_train(self, x, weight, bias, running_mean, running_var, *, momentum, eps, num_batches_tracked):
        x = np.ascontiguousarray(x)  # reductions in logical order, whatever the layout (layout-invariant bits)
        channels, cdt = x.shape[1], _compute_dtype(x)
        pdt = running_mean.dtype if running_mean is not None else cdt
        if x.size == 0:
            nan = np.full(channels, np.nan, dtype=cdt)
            return np.empty_like(x), nan, nan.copy()
        m = x.size // channels
        if m <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input of shape {x.shape}")
        axes = _axes(x.ndim)
        mean = np.mean(x, axis=axes, dtype=ACC)
        # Two-pass variance: the deviations, computed once, become y in place below.
        d = np.subtract(x, _cv(mean.astype(cdt), x.ndim), dtype=cdt)
        sq = np.square(d)
        var = np.mean(sq, axis=axes, dtype=ACC)
        del sq
        if not np.all(np.isfinite(var)) and np.all(np.isfinite(d)):  # squares past float32's range (|x| ~ 1e19)
            var = np.mean(np.square(d, dtype=ACC), axis=axes, dtype=ACC)
        invstd = 1.0 / np.sqrt(var + eps)
        scale = invstd if weight is None else invstd * weight
        d *= _cv(scale.astype(cdt), x.ndim)
        if bias is not None:
            d += _cv(bias.astype(cdt), x.ndim)
        if running_mean is not None:
            factor = momentum_factor(momentum, num_batches_tracked)
            running_mean *= 1.0 - factor
            running_mean += (factor * mean).astype(running_mean.dtype)
            running_var *= 1.0 - factor
            running_var += (factor * var * (m / (m - 1))).astype(running_var.dtype)
        y = d if d.dtype == x.dtype else d.astype(x.dtype, order="K")
        return y, mean.astype(pdt), invstd.astype(pdt)

    @quiet
    def batchnorm_eval(self, x, weight, bias, running_mean, running_var, *, eps):
        cdt = _compute_dtype(x)
        invstd = 1.0 / np.sqrt(running_var.astype(ACC) + eps)
        scale = invstd if weight is None else invstd * weight
        y = np.subtract(x, _cv(running_mean.astype(cdt), x.ndim), dtype=cdt)
        y *= _cv(scale.astype(cdt), x.ndim)
        if bias is not None:
            y += _cv(bias.astype(cdt), x.ndim)
        return y if y.dtype == x.dtype else y.astype(x.dtype, order="K")

    @quiet
    def batchnorm_backward(self, dy, x, weight, save_mean, save_invstd, *, eps):
        x, dy = np.ascontiguousarray(x), np.ascontiguousarray(dy)  # as batchnorm_train
        channels, cdt = x.shape[1], _compute_dtype(x)
        pdt = save_mean.dtype
        if x.size == 0:
            zeros = np.zeros(channels, dtype=pdt)
            return np.empty_like(x), (zeros if weight is not None else None), (zeros.copy() if weight is not None else None)
        m = x.size // channels
        axes = _axes(x.ndim)
        invstd = save_invstd.astype(ACC)
        d = np.subtract(x, _cv(save_mean.astype(cdt), x.ndim), dtype=cdt)
        sum_dy = np.sum(dy, axis=axes, dtype=ACC)
        prod = np.multiply(dy, d, dtype=cdt)
        sum_dy_xmu = np.sum(prod, axis=axes, dtype=ACC)
        del prod
        w = np.ones(channels, ACC) if weight is None else weight.astype(ACC)
        # dx = w*invstd * (dy - mean(dy) - (x-mean) * invstd^2 * mean(dy*(x-mean)))
        d *= _cv((-(invstd**2) * sum_dy_xmu / m).astype(cdt), x.ndim)
        d += dy
        d -= _cv((sum_dy / m).astype(cdt), x.ndim)
        d *= _cv((w * invstd).astype(cdt), x.ndim)
        dx = d if d.dtype == x.dtype else d.astype(x.dtype, order="K")
        if weight is None:
            return dx, None, None
        return dx, (sum_dy_xmu * invstd).astype(pdt), sum_dy.astype(pdt)

    # LayerNorm and RMSNorm (rownorm.py)
    layernorm_forward = staticmethod(rownorm.layernorm_forward)
    layernorm_backward = staticmethod(rownorm.layernorm_backward)
    rmsnorm_forward = staticmethod(rownorm.rmsnorm_forward)
    rmsnorm_backward = staticmethod(rownorm.rmsnorm_backward)
    # GroupNorm and InstanceNorm (chanorm.py)
    groupnorm_forward = staticmethod(chanorm.groupnorm_forward)
    groupnorm_backward = staticmethod(chanorm.groupnorm_backward)
    instancenorm_train = staticmethod(chanorm.instancenorm_train)
    instancenorm_eval = staticmethod(chanorm.instancenorm_eval)
    instancenorm_backward = staticmethod(chanorm.instancenorm_backward)


@normbench.hookimpl
def normbench_backends():
    return [NumpyBackend()]
