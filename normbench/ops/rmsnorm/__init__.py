"""RMS normalization (``F.rms_norm``): the reference and the op's record.

The machinery shared with LayerNorm is in :mod:`normbench.ops.rowwise`; the formulas, and
``eps=None`` (float32's or float64's machine epsilon, *not* 1e-5), are in :mod:`.reference`.
Passes, implemented by a backend as ``rmsnorm_<pass>``::

    rmsnorm_forward(x, normalized_shape, weight, *, eps) -> (y, rrms)
    rmsnorm_backward(dy, x, normalized_shape, weight, rrms) -> (dx, dweight)

There is no bias. ``eps`` may be None (see :func:`.reference.resolve_eps`). ``rrms`` has shape
``x.shape[:-k] + (1,) * k``, float32 for half inputs, else the input dtype. weight is None
when absent (dweight is then None). A ``normalized_shape`` or weight that does not fit ``x``
must raise.
"""
from __future__ import annotations

from ...hookspecs import hookimpl
from ..rowwise import RowOp, make_opinfo
from . import reference
from .reference import resolve_eps

NAME = "rmsnorm"
ROWOP = RowOp(name=NAME, params=("weight",), stats=("rrms",), forward=reference.forward, backward=reference.backward,
              stat_dtype=reference.stat_dtype, eps_values=(None, 1e-6, 1e-5), centered=False)
OP = make_opinfo(ROWOP, "RMS normalization")


@hookimpl
def normbench_ops():
    return [OP]


__all__ = ["NAME", "OP", "ROWOP", "reference", "resolve_eps"]
