"""Host-level groupnorm through any backend, with ``F.group_norm``'s signature (:mod:`normbench.functional`'s):
NumPy in, NumPy out, validated first."""
from __future__ import annotations

import numpy as np

from ...backend import Backend, eps_kwargs
from ...hostapi import Call, check_eps, check_grad, input_dtype, params_dtype_or_input, pass_of, stats_or_reference
from .. import channelwise
from . import OP
from .reference import CHANOP


def group_norm(input: np.ndarray, num_groups: int, weight: np.ndarray | None = None, bias: np.ndarray | None = None,
               eps: float = 1e-5, *, backend: Backend | str) -> np.ndarray:
    """``F.group_norm``: statistics per sample over each of ``num_groups`` contiguous channel blocks."""
    dtype = input_dtype(input)
    pdt = params_dtype_or_input(dtype, weight=weight, bias=bias)
    channelwise.validate_groupnorm(input, num_groups, weight, bias)
    check_eps(eps)
    c = Call(backend)
    y, _, _ = pass_of(c.b, OP, "forward", dtype, input)(c.to(input, dtype), int(num_groups), c.to(weight, pdt),
                                                               c.to(bias, pdt), eps=eps)
    c.done()
    return c.back(y)


def group_norm_backward(grad_output: np.ndarray, input: np.ndarray, num_groups: int, weight: np.ndarray | None = None,
                        bias: np.ndarray | None = None, eps: float = 1e-5, *,
                        backend: Backend | str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Gradients of :func:`group_norm`: (grad_input, grad_weight, grad_bias)."""
    dtype = input_dtype(input)
    pdt = params_dtype_or_input(dtype, weight=weight, bias=bias)
    channelwise.validate_groupnorm(input, num_groups, weight, bias)
    check_eps(eps)
    check_grad(grad_output, input)
    c = Call(backend)
    fwd = pass_of(c.b, OP, "forward", dtype, input)
    bwd = pass_of(c.b, OP, "backward", dtype, input)
    n_x, w, b_ = c.to(input, dtype), c.to(weight, pdt), c.to(bias, pdt)
    _, mean, rstd = fwd(n_x, int(num_groups), w, b_, eps=eps)
    given = pdt if (weight is not None or bias is not None) else None
    sdt = CHANOP.stat_dtype(dtype, given)
    mean, rstd = stats_or_reference(c, (mean, rstd), lambda: channelwise.reference_stats(input, int(num_groups), eps), sdt)
    dx, dw, db = bwd(c.to(grad_output, dtype), n_x, int(num_groups), w, b_, mean, rstd, **eps_kwargs(bwd, eps))
    c.done()
    return c.back(dx), None if weight is None else c.back(dw), None if bias is None else c.back(db)
