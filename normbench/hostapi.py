"""Host-level calls through a backend, shared by every op's ``api`` module: the backend by name,
its pass (or Unsupported saying why not), NumPy arrays there and back, and the checks of
arguments every op has (dtype, parameter dtypes, eps, grad_output)."""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from ._runtime import pluginmanager
from .backend import Backend, availability_of, why_unsupported
from .dtypes import HALF_DTYPES, cast_host, layout_of
from .errors import InputError, Unsupported

_loaded: dict[str, Backend] = {}


def backend_of(backend: Backend | str) -> Backend:
    """A backend object from its name (plugins loaded once, in this process), checked available."""
    if isinstance(backend, str):
        if backend not in _loaded:
            _loaded[backend] = pluginmanager.load().get(backend)
        backend = _loaded[backend]
    if not isinstance(backend, Backend):
        raise InputError(f"backend must be a backend name or object, got {type(backend).__name__}")
    avail = availability_of(backend)
    if not avail:
        raise Unsupported(f"backend {backend.name} is unavailable: {avail.reason}")
    return backend


def input_dtype(x: Any, what: str = "input") -> str:
    if not isinstance(x, np.ndarray):
        raise InputError(f"{what} must be a NumPy array, got {type(x).__name__}")
    if x.dtype.name not in ("float64", "float32", "float16"):
        raise InputError(f"{what} has dtype {x.dtype.name}; expected float64, float32 or float16")
    return x.dtype.name


def params_dtype(dtype: str, **arrays: Any) -> str | None:
    """The common dtype of the given parameter arrays (None when none is given): the input's, or
    float32 for float16 input. InputError names the first that differs."""
    given = {k: v for k, v in arrays.items() if v is not None}
    if not given:
        return None
    allowed = (dtype, "float32") if dtype in HALF_DTYPES else (dtype,)
    first = None
    for name, v in given.items():
        if not isinstance(v, np.ndarray):
            raise InputError(f"{name} must be a NumPy array, got {type(v).__name__}")
        if v.dtype.name not in allowed or (first is not None and v.dtype.name != first):
            want = first or " or ".join(allowed)
            raise InputError(f"{name} has dtype {v.dtype.name}; expected {want} for {dtype} input")
        first = first or v.dtype.name
    return first


def params_dtype_or_input(dtype: str, **arrays: Any) -> str:
    """:func:`params_dtype`, or the input's dtype when no parameter is given."""
    return params_dtype(dtype, **arrays) or dtype


def check_eps(eps: Any, allow_none: bool = False) -> None:
    if eps is None and allow_none:
        return
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps <= 0:
        raise InputError(f"eps must be a positive finite number{' or None' if allow_none else ''}, got {eps!r}")


def check_grad(dy: Any, x: np.ndarray) -> None:
    if not isinstance(dy, np.ndarray) or dy.shape != x.shape or dy.dtype != x.dtype:
        raise InputError(f"grad_output must be an array of the input's shape {list(x.shape)} and dtype {x.dtype}, "
                         f"got {list(getattr(dy, 'shape', ()))} {getattr(dy, 'dtype', type(dy).__name__)}")


def pass_of(b: Backend, op: Any, pass_: str, dtype: str, x: np.ndarray):
    """The backend's method for ``pass_`` of ``op`` (an OpInfo), or Unsupported saying why not."""
    layout = layout_of(x) if x.ndim > op.layout_rank else "contiguous"
    why = why_unsupported(b, op, pass_, dtype, layout, x.ndim)
    if why:
        raise Unsupported(f"backend {b.name}: {why}")
    return b.kernel(op.name, pass_)


class Call:
    """Host arrays to one backend and back."""

    def __init__(self, backend: Backend | str):
        self.b = backend_of(backend)

    def to(self, a: np.ndarray | None, dtype: str | None):
        return None if a is None else self.b.from_numpy(a, dtype)

    def back(self, native) -> np.ndarray | None:
        return None if native is None else np.asarray(self.b.to_numpy(native))

    def done(self) -> None:
        self.b.synchronize()


def copy_of(a: np.ndarray | None) -> np.ndarray | None:
    return None if a is None else a.copy()


def stats_or_reference(c: Call, got: Sequence, fallback: Callable[[], Sequence[np.ndarray]], dtype: str) -> list:
    """The statistics a forward returned, or (all None: kept to itself) the float64 ones that
    ``fallback()`` computes, rounded to ``dtype``."""
    if all(s is None for s in got):
        return [c.to(cast_host(np.nan_to_num(f), dtype), dtype) for f in fallback()]
    return list(got)


def forward_with_running(c: Call, op: Any, dtype: str, input: np.ndarray, params: Sequence, running_mean, running_var,
                         pdt: str, training: bool, eps: float, **train_kwargs: Any) -> np.ndarray:
    """Batch and instance norm's forward: ``train`` (updating the running statistics given as arrays in
    place, as torch does) or ``eval``; returns y on the host."""
    args = [c.to(a, pdt) for a in (*params, running_mean, running_var)]
    if training:
        y = pass_of(c.b, op, "train", dtype, input)(c.to(input, dtype), *args, eps=eps, **train_kwargs)[0]
        c.done()
        if running_mean is not None:
            running_mean[...] = c.back(args[-2])
            running_var[...] = c.back(args[-1])
    else:
        y = pass_of(c.b, op, "eval", dtype, input)(c.to(input, dtype), *args, eps=eps)
        c.done()
    return c.back(y)
