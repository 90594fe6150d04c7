"""Host-level batch norm through any backend: NumPy in, NumPy out, validated first.

``batch_norm`` and ``batch_norm_backward`` have ``F.batch_norm``'s signature (and are
:mod:`normbench.functional`'s); ``train_forward``, ``eval_forward`` and ``backward`` are the three
passes one by one, with the saved statistics::

    from normbench.ops.batchnorm import api
    y, mean, invstd = api.train_forward("numba", x, weight, bias, running_mean, running_var)

Running statistics given as NumPy arrays are updated in place, as ``F.batch_norm`` does. Bad
input raises :class:`normbench.InputError` (one line) before a backend sees it; a request the
backend does not support raises :class:`normbench.Unsupported`.
"""
from __future__ import annotations

import numpy as np

from ...backend import Backend
from ...dtypes import param_dtype
from ...errors import InputError, Unsupported
from ...hostapi import Call, backend_of, check_grad, copy_of, forward_with_running, pass_of, stats_or_reference
from . import OP, reference
from .validate import validate


def train_forward(backend, x, weight=None, bias=None, running_mean=None, running_var=None, *,
                  momentum: float | None = 0.1, eps: float = 1e-5, num_batches_tracked: int = 1, dtype: str | None = None):
    """Training forward; returns (y, save_mean, save_invstd) as NumPy arrays."""
    name = validate(x, weight, bias, running_mean, running_var, training=True, momentum=momentum, eps=eps, dtype=dtype)
    b = backend_of(backend)
    train = pass_of(b, OP, "train", name, x)
    pdt = param_dtype(name)
    conv = [None if a is None else b.from_numpy(a, pdt) for a in (weight, bias, running_mean, running_var)]
    y, mean, invstd = train(b.from_numpy(x, name), *conv, momentum=momentum, eps=eps,
                                      num_batches_tracked=num_batches_tracked)
    b.synchronize()
    if running_mean is not None:
        running_mean[...] = b.to_numpy(conv[2])
        running_var[...] = b.to_numpy(conv[3])
    return b.to_numpy(y), b.to_numpy(mean), b.to_numpy(invstd)


def eval_forward(backend, x, weight, bias, running_mean, running_var, *, eps: float = 1e-5, dtype: str | None = None):
    """Inference forward with running statistics; returns y."""
    name = validate(x, weight, bias, running_mean, running_var, training=False, eps=eps, dtype=dtype)
    b = backend_of(backend)
    run_eval = pass_of(b, OP, "eval", name, x)
    pdt = param_dtype(name)
    conv = [None if a is None else b.from_numpy(a, pdt) for a in (weight, bias, running_mean, running_var)]
    y = run_eval(b.from_numpy(x, name), *conv, eps=eps)
    b.synchronize()
    return b.to_numpy(y)


def backward(backend, dy, x, weight, save_mean, save_invstd, *, eps: float = 1e-5, dtype: str | None = None):
    """Training-mode backward; returns (dx, dweight, dbias) (the last two None without weight)."""
    name = validate(x, weight, None, save_mean, save_invstd, training=True, eps=eps, dtype=dtype,
                    names=("weight", "bias", "save_mean", "save_invstd"))
    if save_mean is None:
        raise InputError("backward needs save_mean and save_invstd from the training forward")
    if not isinstance(dy, np.ndarray) or dy.shape != x.shape or dy.dtype != x.dtype:
        raise InputError(
            f"dy must be an array of the input's shape {tuple(x.shape)} and dtype {x.dtype}, got "
            f"{getattr(dy, 'shape', type(dy).__name__)} {getattr(dy, 'dtype', '')}".rstrip()
        )
    b = backend_of(backend)
    run_backward = pass_of(b, OP, "backward", name, x)
    pdt = param_dtype(name)
    w = None if weight is None else b.from_numpy(weight, pdt)
    out = run_backward(b.from_numpy(dy, name), b.from_numpy(x, name), w, b.from_numpy(save_mean, pdt),
                     b.from_numpy(save_invstd, pdt), eps=eps)
    b.synchronize()
    return tuple(None if o is None else b.to_numpy(o) for o in out)


def batch_norm(input: np.ndarray, running_mean: np.ndarray | None, running_var: np.ndarray | None,
               weight: np.ndarray | None = None, bias: np.ndarray | None = None, training: bool = False,
               momentum: float | None = 0.1, eps: float = 1e-5, *, backend: Backend | str) -> np.ndarray:
    """``F.batch_norm``: training normalizes with the batch's statistics (and updates the running
    ones in place), eval with the running statistics."""
    dtype = validate(input, weight, bias, running_mean, running_var, training=bool(training), momentum=momentum, eps=eps)
    c = Call(backend)
    pdt = param_dtype(dtype)
    weight, bias = _affine(weight, bias, input.shape[1], pdt)
    return forward_with_running(c, OP, dtype, input, (weight, bias), running_mean, running_var, pdt, bool(training), eps,
                                momentum=momentum, num_batches_tracked=1)


def batch_norm_backward(grad_output: np.ndarray, input: np.ndarray, running_mean: np.ndarray | None,
                        running_var: np.ndarray | None, weight: np.ndarray | None = None, bias: np.ndarray | None = None,
                        training: bool = False, momentum: float | None = 0.1, eps: float = 1e-5, *,
                        backend: Backend | str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Gradients of :func:`batch_norm` in training mode (the pass every backend has); the running
    statistics are left as they are."""
    dtype = validate(input, weight, bias, running_mean, running_var, training=bool(training), momentum=momentum, eps=eps)
    check_grad(grad_output, input)
    if not training:
        raise Unsupported("batch_norm_backward: normbench's batch norm has a training-mode backward only "
                          "(training=False differentiates through the running statistics)")
    c = Call(backend)
    pdt = param_dtype(dtype)
    train = pass_of(c.b, OP, "train", dtype, input)
    backward = pass_of(c.b, OP, "backward", dtype, input)
    given = (weight is not None, bias is not None)
    weight, bias = _affine(weight, bias, input.shape[1], pdt)
    w, b_ = c.to(weight, pdt), c.to(bias, pdt)
    n_x = c.to(input, dtype)
    _, mean, invstd = train(n_x, w, b_, c.to(copy_of(running_mean), pdt), c.to(copy_of(running_var), pdt),
                            momentum=momentum, eps=eps, num_batches_tracked=1)
    def ref():
        r = reference.train_forward(input, weight, bias, eps=eps)
        return r.save_mean, r.save_invstd

    mean, invstd = stats_or_reference(c, (mean, invstd), ref, pdt)
    dx, dw, db = backward(c.to(grad_output, dtype), n_x, w, mean, invstd, eps=eps)
    c.done()
    return c.back(dx), c.back(dw) if given[0] else None, c.back(db) if given[1] else None


def _affine(weight, bias, channels: int, dtype: str):
    """With only one of weight and bias given, the other as its identity (ones, zeros): the same
    result, for backends whose passes take both or neither (batch norm's conformance cases do)."""
    if (weight is None) == (bias is None):
        return weight, bias
    host = np.dtype("float32" if dtype == "bfloat16" else dtype)
    return (np.ones(channels, host) if weight is None else weight), (np.zeros(channels, host) if bias is None else bias)
