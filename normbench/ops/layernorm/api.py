"""Host-level layernorm through any backend, with ``F.layer_norm``'s signature (:mod:`normbench.functional`'s):
NumPy in, NumPy out, validated first."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ...backend import Backend
from ...hostapi import Call
from .. import rowwise
from . import OP
from .reference import ROWOP


def layer_norm(input: np.ndarray, normalized_shape: Sequence[int] | int, weight: np.ndarray | None = None,
               bias: np.ndarray | None = None, eps: float = 1e-5, *, backend: Backend | str) -> np.ndarray:
    """``F.layer_norm``: normalize over the trailing ``normalized_shape`` axes."""
    params = {"weight": weight, "bias": bias}
    dtype, ns, pdt = rowwise.check_rows(ROWOP, OP, input, normalized_shape, params, eps)
    c = Call(backend)
    _, _, out = rowwise.row_forward(ROWOP, OP, input, ns, params, dtype, pdt, eps, c)
    c.done()
    return c.back(out[0])


def layer_norm_backward(grad_output: np.ndarray, input: np.ndarray, normalized_shape: Sequence[int] | int,
                        weight: np.ndarray | None = None, bias: np.ndarray | None = None, eps: float = 1e-5, *,
                        backend: Backend | str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Gradients of :func:`layer_norm`: (grad_input, grad_weight, grad_bias)."""
    return rowwise.row_backward(ROWOP, OP, grad_output, input, normalized_shape,
                         {"weight": weight, "bias": bias}, eps, backend)
