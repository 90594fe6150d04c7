"""Host-level batch norm through any backend: NumPy in, NumPy out, validated first.

    from normbench.ops.batchnorm import api
    y, mean, invstd = api.train_forward("numba", x, weight, bias, running_mean, running_var)

Running statistics given as NumPy arrays are updated in place, as ``F.batch_norm`` does. Bad
input raises :class:`normbench.InputError` (one line) before a backend sees it; a request the
backend does not support raises :class:`normbench.Unsupported`.
"""
from __future__ import annotations

import numpy as np

from ...backend import Backend, availability_of
from ...dtypes import layout_of, param_dtype
from ...errors import InputError, Unsupported
from .cases import NAME
from .validate import validate


def _backend(backend: Backend | str) -> Backend:
    if isinstance(backend, str):
        from ...pluginmanager import load

        backend = load().get(backend)
    avail = availability_of(backend)
    if not avail:
        raise Unsupported(f"backend {backend.name} is unavailable: {avail.reason}")
    return backend


def _require(backend: Backend, pass_: str, dtype: str, x: np.ndarray):
    """The pass method, or Unsupported naming the backend and what it lacks."""
    from . import OP

    declared = getattr(backend, "ops", {}).get(NAME)
    if declared is None:
        raise Unsupported(f"backend {backend.name} does not implement {NAME}")
    why = declared.resolved(OP).why_not(pass_, dtype, layout_of(x) if x.ndim > 2 else "contiguous", x.ndim)
    if why:
        raise Unsupported(f"backend {backend.name}: {why}")
    return backend.kernel(NAME, pass_)


def train_forward(backend, x, weight=None, bias=None, running_mean=None, running_var=None, *,
                  momentum: float | None = 0.1, eps: float = 1e-5, num_batches_tracked: int = 1, dtype: str | None = None):
    """Training forward; returns (y, save_mean, save_invstd) as NumPy arrays."""
    name = validate(x, weight, bias, running_mean, running_var, training=True, momentum=momentum, eps=eps, dtype=dtype)
    b = _backend(backend)
    train = _require(b, "train", name, x)
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
    b = _backend(backend)
    run_eval = _require(b, "eval", name, x)
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
    b = _backend(backend)
    run_backward = _require(b, "backward", name, x)
    pdt = param_dtype(name)
    w = None if weight is None else b.from_numpy(weight, pdt)
    out = run_backward(b.from_numpy(dy, name), b.from_numpy(x, name), w, b.from_numpy(save_mean, pdt),
                     b.from_numpy(save_invstd, pdt), eps=eps)
    b.synchronize()
    return tuple(None if o is None else b.to_numpy(o) for o in out)
