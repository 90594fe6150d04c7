"""Host-level rmsnorm through any backend, with ``F.rms_norm``'s signature (:mod:`normbench.functional`'s):
NumPy in, NumPy out, validated first."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ...backend import Backend
from ...hostapi import Call
from .. import rowwise
from . import OP
from .reference import ROWOP


def rms_norm(input: np.ndarray, normalized_shape: Sequence[int] | int, weight: np.ndarray | None = None,
             eps: float | None = None, *, backend: Backend | str) -> np.ndarray:
    """``F.rms_norm``; ``eps=None`` is the machine epsilon of the input's dtype (float32's for halves)."""
    params = {"weight": weight}
    dtype, ns, pdt = rowwise.check_rows(ROWOP, OP, input, normalized_shape, params, eps, allow_none_eps=True)
    c = Call(backend)
    _, _, out = rowwise.row_forward(ROWOP, OP, input, ns, params, dtype, pdt, eps, c)
    c.done()
    return c.back(out[0])


def rms_norm_backward(grad_output: np.ndarray, input: np.ndarray, normalized_shape: Sequence[int] | int,
                      weight: np.ndarray | None = None, eps: float | None = None, *,
                      backend: Backend | str) -> tuple[np.ndarray, np.ndarray | None]:
    """Gradients of :func:`rms_norm`: (grad_input, grad_weight)."""
    return rowwise.row_backward(ROWOP, OP, grad_output, input, normalized_shape, {"weight": weight}, eps,
                         backend, allow_none_eps=True)
