"""Host-level instancenorm through any backend, with ``F.instance_norm``'s signature (:mod:`normbench.functional`'s):
NumPy in, NumPy out, validated first."""
from __future__ import annotations

import numpy as np

from ...backend import Backend, eps_kwargs
from ...errors import InputError, Unsupported
from ...hostapi import (Call, check_eps, check_grad, copy_of, forward_with_running, input_dtype, params_dtype_or_input,
                        pass_of, stats_or_reference)
from .. import channelwise
from . import OP
from .reference import CHANOP


def instance_norm(input: np.ndarray, running_mean: np.ndarray | None = None, running_var: np.ndarray | None = None,
                  weight: np.ndarray | None = None, bias: np.ndarray | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5, *, backend: Backend | str) -> np.ndarray:
    """``F.instance_norm``: statistics per (sample, channel); with input statistics the running ones
    (when given) are updated in place with their batch average."""
    dtype, pdt = _checks(input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)
    c = Call(backend)
    return forward_with_running(c, OP, dtype, input, (weight, bias), running_mean, running_var, pdt, bool(use_input_stats),
                                eps, momentum=momentum)


def instance_norm_backward(grad_output: np.ndarray, input: np.ndarray, running_mean: np.ndarray | None = None,
                           running_var: np.ndarray | None = None, weight: np.ndarray | None = None,
                           bias: np.ndarray | None = None, use_input_stats: bool = True, momentum: float = 0.1,
                           eps: float = 1e-5, *,
                           backend: Backend | str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Gradients of :func:`instance_norm` with input statistics; the running statistics are left
    as they are."""
    dtype, pdt = _checks(input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)
    check_grad(grad_output, input)
    if not use_input_stats:
        raise Unsupported("instance_norm_backward: normbench's instance norm has a backward with input statistics only "
                          "(use_input_stats=True)")
    c = Call(backend)
    train = pass_of(c.b, OP, "train", dtype, input)
    bwd = pass_of(c.b, OP, "backward", dtype, input)
    n_x, w, b_ = c.to(input, dtype), c.to(weight, pdt), c.to(bias, pdt)
    _, mean, rstd = train(n_x, w, b_, c.to(copy_of(running_mean), pdt), c.to(copy_of(running_var), pdt),
                          momentum=momentum, eps=eps)
    given = pdt if any(a is not None for a in (weight, bias, running_mean)) else None
    sdt = CHANOP.stat_dtype(dtype, given)
    mean, rstd = stats_or_reference(c, (mean, rstd), lambda: channelwise.reference_stats(input, input.shape[1], eps), sdt)
    dx, dw, db = bwd(c.to(grad_output, dtype), n_x, w, b_, mean, rstd, **eps_kwargs(bwd, eps))
    c.done()
    return c.back(dx), None if weight is None else c.back(dw), None if bias is None else c.back(db)


def _checks(input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps) -> tuple[str, str]:
    dtype = input_dtype(input)
    pdt = params_dtype_or_input(dtype, weight=weight, bias=bias, running_mean=running_mean, running_var=running_var)
    channelwise.validate_instancenorm(input, weight, bias, running_mean, running_var, use_input_stats=bool(use_input_stats))
    check_eps(eps)
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0.0 <= momentum <= 1.0:
        raise InputError(f"momentum must be a number in [0, 1], got {momentum!r}")
    return dtype, pdt
