"""Layer normalization (``F.layer_norm``): the reference and the op's record.

Its modules are those of every op package (normbench/ops/batchnorm says which); the machinery
shared with RMSNorm (cases, checking, tolerances, grids over tokens x hidden,
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

from ...dtypes import DTYPES
from ...hookspecs import hookimpl
from ...opinfo import OpInfo
from .. import rowwise
from . import bench, mutants, reference
from .cases import GROUPS, all_cases, invariance_probe
from .check import plan
from .reference import NAME, ROWOP
from .strategies import property_cases

OP = OpInfo(
    name=NAME, title="Layer normalization", passes=rowwise.PASSES, dtypes=DTYPES, layouts=rowwise.LAYOUTS, ranks=rowwise.RANKS,
    case_groups=GROUPS, cases=all_cases, plan=plan, property_cases=property_cases, grids=bench.GRIDS, axes=bench.AXES,
    axes_of=bench.axes_of, sweep_shape=bench.sweep_shape, parse_shape=bench.parse_shape, layouts_for=bench.layouts_for,
    bench_call=bench.bench_call, bytes_moved=bench.bytes_moved, byte_model=bench.BYTE_MODEL, plots=bench.PLOTS,
    layout_rank=1, mutants=mutants.mutants, invariance_probe=invariance_probe,
)


@hookimpl
def normbench_ops():
    return [OP]


__all__ = ["NAME", "OP", "ROWOP", "reference"]
