"""Input validation for batch norm: one-line errors naming the problem, before any backend runs."""
from __future__ import annotations

import math

import numpy as np

from ...dtypes import DTYPES, HALF_DTYPES, RANKS, check_dtype, param_dtype
from ...errors import InputError

PARAM_NAMES = ("weight", "bias", "running_mean", "running_var")


def input_dtype(x: np.ndarray, dtype: str | None) -> str:
    """Harness dtype of ``x``: its NumPy dtype, or ``dtype`` (needed for bfloat16 host data)."""
    if dtype is not None:
        check_dtype(dtype)
        if dtype == "bfloat16":
            if x.dtype != np.float32:
                raise InputError(f"bfloat16 input must be carried as float32 on the host, got {x.dtype}")
            return dtype
        if x.dtype != np.dtype(dtype):
            raise InputError(f"input has dtype {x.dtype} but dtype={dtype!r} was requested")
        return dtype
    name = x.dtype.name
    if name not in DTYPES:
        raise InputError(f"input dtype {name} is not supported; expected one of float64, float32, float16")
    return name


def validate(
    x,
    weight=None,
    bias=None,
    running_mean=None,
    running_var=None,
    *,
    training: bool,
    momentum: float | None = 0.1,
    eps: float = 1e-5,
    dtype: str | None = None,
    names: tuple[str, str, str, str] = PARAM_NAMES,
) -> str:
    """Check shapes, dtypes and options; return the input's dtype name. Raises InputError."""
    if not isinstance(x, np.ndarray):
        raise InputError(f"input must be a NumPy array, got {type(x).__name__}")
    if x.ndim not in RANKS:
        raise InputError(f"input must have 2 to 5 dimensions (N, C, ...), got shape {tuple(x.shape)}")
    channels = x.shape[1]
    if channels == 0:
        raise InputError(f"input has no channels: shape {tuple(x.shape)}")
    name = input_dtype(x, dtype)
    want = np.dtype(param_dtype(name) if name != "bfloat16" else "float32")
    params = dict(zip(names, (weight, bias, running_mean, running_var)))
    for pname, p in params.items():
        if p is None:
            continue
        if not isinstance(p, np.ndarray):
            raise InputError(f"{pname} must be a NumPy array, got {type(p).__name__}")
        if p.shape != (channels,):
            raise InputError(f"{pname} has shape {tuple(p.shape)}, expected ({channels},) for input of shape {tuple(x.shape)}")
        if p.dtype != want:
            extra = " (half inputs keep float32 parameters)" if name in HALF_DTYPES else ""
            raise InputError(f"{pname} has dtype {p.dtype} but input is {name}; expected {want}{extra}")
    if (running_mean is None) != (running_var is None):
        raise InputError(f"{names[2]} and {names[3]} must be given together (or both omitted)")
    if not training and running_mean is None:
        raise InputError("eval mode needs running_mean and running_var (without them eval uses batch statistics: call train)")
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0):
        raise InputError(f"eps must be a positive finite number, got {eps!r}")
    if momentum is not None and not (isinstance(momentum, (int, float)) and 0.0 <= momentum <= 1.0):
        raise InputError(f"momentum must be a number in [0, 1] or None (cumulative average), got {momentum!r}")
    if training and x.size:
        m = x.size // channels
        if m <= 1:
            raise InputError(f"Expected more than 1 value per channel when training, got input of shape {tuple(x.shape)}")
    return name
