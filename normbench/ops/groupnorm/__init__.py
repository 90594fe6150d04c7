"""Group normalization (``F.group_norm``): the reference and the op's record.

Its modules are those of every op package (normbench/ops/batchnorm says which); the
machinery shared with InstanceNorm (cases, checking, per-unit tolerances, grids over batch x
channels x spatial, byte model) is in :mod:`normbench.ops.channelwise`; the formulas are in
:mod:`.reference`. Passes, implemented by a backend as ``groupnorm_<pass>``::

    groupnorm_forward(x, num_groups, weight, bias, *, eps) -> (y, mean, rstd)
    groupnorm_backward(dy, x, num_groups, weight, bias, mean, rstd) -> (dx, dweight, dbias)

``x`` is (N, C, *); group g holds the contiguous channels ``[g*C/G, (g+1)*C/G)``. weight and bias
are (C,) or None (their gradient is then None). ``mean`` and ``rstd`` are (N, G): float32 for half
inputs with float32 parameters, else in the input dtype (as torch returns them). C not divisible
by G, a parameter of the wrong length, or a batch with one value per group must raise.
"""
from __future__ import annotations

from ...dtypes import DTYPES
from ...hookspecs import hookimpl
from ...opinfo import OpInfo
from .. import channelwise
from . import bench, mutants, reference
from .bench import STANDARD_SHAPES
from .cases import GROUPS, all_cases, invariance_probe
from .check import plan
from .reference import CHANOP, NAME
from .strategies import property_cases

OP = OpInfo(
    name=NAME, title="Group normalization", passes=CHANOP.passes, dtypes=DTYPES, layouts=channelwise.LAYOUTS, ranks=CHANOP.ranks,
    case_groups=GROUPS, cases=all_cases, plan=plan, property_cases=property_cases, grids=bench.GRIDS, axes=bench.AXES,
    axes_of=bench.axes_of, sweep_shape=bench.sweep_shape, parse_shape=bench.parse_shape, layouts_for=bench.layouts_for,
    bench_call=bench.bench_call, bytes_moved=bench.bytes_moved, byte_model=bench.BYTE_MODEL, plots=bench.PLOTS,
    layout_rank=2, mutants=mutants.mutants, invariance_probe=invariance_probe,
)


@hookimpl
def normbench_ops():
    return [OP]


__all__ = ["NAME", "OP", "CHANOP", "STANDARD_SHAPES", "reference"]
