"""LayerNorm backends within tolerance of the reference but not invariant, as kernels in the field
are: the invariance probes (normbench.conformance.invariance) must catch each.

* ``variant-batch``: the row reduction's blocking follows the number of rows (a kernel that picks
  its split from M, as a split-K reduction does), so a row's bits depend on its batch;
* ``variant-dw``: dweight accumulated over the rows in an order that changes from call to call
  (an unordered parallel accumulation, atomics in effect);
* ``variant-threads``: the row reduction's blocking follows the thread count;
* ``promises-batch``: variant-batch, promising what it does not keep (a broken promise fails).
"""
import numpy as np

import normbench
from normbench_numpy import NumpyBackend
from normbench_numpy import rownorm

F32 = frozenset({"float32"})


def _blocked_mean(a: np.ndarray, block: int) -> np.ndarray:
    """Row means in float32: partial sums of ``block`` values, added in order."""
    acc = np.zeros(a.shape[:-1] + (1,), np.float32)
    for start in range(0, a.shape[-1], block):
        acc += np.sum(a[..., start:start + block], axis=-1, keepdims=True, dtype=np.float32)
    return acc / np.float32(a.shape[-1])


class _Blocked(NumpyBackend):
    description = "NumPy LayerNorm in float32 with a blocked row reduction (a test's variant kernel)"
    ops = {"layernorm": normbench.Support(dtypes=F32)}
    invariants = ()  # NumPy's promises are not theirs

    def block(self, x: np.ndarray) -> int:
        raise NotImplementedError

    def layernorm_forward(self, x, normalized_shape, weight, bias, *, eps):
        # the blocked float32 path where it is accurate (2-D, finite, squares within float32), the
        # reference's float64 one elsewhere: a kernel that picks its path, as real ones do
        ordinary = x.ndim == 2 and x.size and tuple(normalized_shape) == x.shape[-1:] and \
            (weight is None or weight.shape == x.shape[-1:]) and (bias is None or bias.shape == x.shape[-1:]) and \
            bool(np.isfinite(x).all()) and float(np.abs(x).max()) < 1e15
        if not ordinary:
            return rownorm.layernorm_forward(x, normalized_shape, weight, bias, eps=eps)
        x = np.ascontiguousarray(x, np.float32)
        block = self.block(x)
        mean = _blocked_mean(x, block)
        d = x - mean
        rstd = np.float32(1) / np.sqrt(_blocked_mean(d * d, block) + np.float32(eps))
        y = d * rstd
        if weight is not None:
            y = y * weight
        if bias is not None:
            y = y + bias
        return y.astype(np.float32), mean, rstd


class BatchBlocked(_Blocked):
    name = "variant-batch"

    def block(self, x):
        return 64 if x.shape[0] >= 32 else 1000  # the split follows M


class ThreadBlocked(_Blocked):
    name = "variant-threads"
    threads = 1

    def set_threads(self, threads):
        self.threads = threads or 2
        return self.threads

    def block(self, x):
        return 37 * self.threads


class PromisesBatch(BatchBlocked):
    name = "promises-batch"
    invariants = ("batch-invariant",)


class UnorderedDW(NumpyBackend):
    name = "variant-dw"
    description = "NumPy LayerNorm whose dweight adds the rows in a new order on every call (a test's variant kernel)"
    ops = {"layernorm": normbench.Support(dtypes=F32)}
    invariants = ()

    def layernorm_backward(self, dy, x, normalized_shape, weight, bias, mean, rstd):
        dx, dw, db = rownorm.layernorm_backward(dy, x, normalized_shape, weight, bias, mean, rstd)
        if dw is None or x.ndim != 2:
            return dx, dw, db
        xhat = ((x.astype(np.float32) - mean.astype(np.float32)) * rstd.astype(np.float32))
        terms = dy.astype(np.float32) * xhat
        acc = np.zeros(x.shape[-1], np.float32)
        for i in np.random.default_rng().permutation(x.shape[0]):  # unseeded: a new order each call
            acc += terms[i]
        return dx, acc, db


@normbench.hookimpl
def normbench_backends():
    return [BatchBlocked(), ThreadBlocked(), PromisesBatch(), UnorderedDW()]
