"""Layer normalization (``F.layer_norm``): the reference and the op's record.

The machinery shared with RMSNorm (cases, checking, tolerances, grids over tokens x hidden,
byte model) is in :mod:`normbench.ops.rowwise`; the formulas are in :mod:`.reference`.
Passes, implemented by a backend as ``layernorm_<pass>``::

    layernorm_forward(x, normalized_shape, weight, bias, *, eps) -> (y, mean, rstd)
    layernorm_backward(dy, x, normalized_shape, weight, bias, mean, rstd) -> (dx, dweight, dbias)

``normalized_shape`` is a tuple, the trailing axes of ``x``; weight and bias have that shape and
are each None when absent (their gradient is then None). ``mean`` and ``rstd`` have shape
``x.shape[:-k] + (1,) * k``, in float32 for half inputs with float32 parameters, else in the
input dtype. A ``normalized_shape`` or parameter that does not fit ``x`` must raise.
"""
from __future__ import annotations

from ...hookspecs import hookimpl
from ..rowwise import RowOp, make_opinfo
from . import reference

NAME = "layernorm"
ROWOP = RowOp(name=NAME, params=("weight", "bias"), stats=("mean", "rstd"), forward=reference.forward,
              backward=reference.backward, stat_dtype=reference.stat_dtype, eps_values=(1e-5, 1e-3, 1e-12))
OP = make_opinfo(ROWOP, "Layer normalization")


@hookimpl
def normbench_ops():
    return [OP]


__all__ = ["NAME", "OP", "ROWOP", "reference"]
