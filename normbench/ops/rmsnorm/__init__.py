"""RMS normalization (``F.rms_norm``): the reference and the op's record.

Its modules are those of every op package (normbench/ops/batchnorm says which); the machinery
shared with LayerNorm is in :mod:`normbench.ops.rowwise`; the formulas, and
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

from ...dtypes import DTYPES
from ...hookspecs import hookimpl
from ...opinfo import OpInfo
from .. import rowwise
from . import bench, mutants, reference
from .cases import GROUPS, all_cases, invariance_probe
from .check import plan
from .reference import NAME, ROWOP, resolve_eps
from .strategies import property_cases

OP = OpInfo(
    name=NAME, title="RMS normalization", passes=rowwise.PASSES, dtypes=DTYPES, layouts=rowwise.LAYOUTS, ranks=rowwise.RANKS,
    case_groups=GROUPS, cases=all_cases, plan=plan, property_cases=property_cases, grids=bench.GRIDS, axes=bench.AXES,
    axes_of=bench.axes_of, sweep_shape=bench.sweep_shape, parse_shape=bench.parse_shape, layouts_for=bench.layouts_for,
    bench_call=bench.bench_call, bytes_moved=bench.bytes_moved, byte_model=bench.BYTE_MODEL, plots=bench.PLOTS,
    layout_rank=1, mutants=mutants.mutants, invariance_probe=invariance_probe,
)


@hookimpl
def normbench_ops():
    return [OP]


__all__ = ["NAME", "OP", "ROWOP", "reference", "resolve_eps"]
