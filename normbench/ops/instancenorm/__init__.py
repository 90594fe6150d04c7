"""Instance normalization (``F.instance_norm``): the reference and the op's record.

Its modules are those of every op package (normbench/ops/batchnorm says which); the
machinery shared with GroupNorm is in :mod:`normbench.ops.channelwise` (InstanceNorm is its
G = C case plus running statistics). Passes, implemented by a backend as ``instancenorm_<pass>``::

    instancenorm_train(x, weight, bias, running_mean, running_var, *, momentum, eps) -> (y, mean, rstd)
    instancenorm_eval(x, weight, bias, running_mean, running_var, *, eps) -> y
    instancenorm_backward(dy, x, weight, bias, mean, rstd) -> (dx, dweight, dbias)

``x`` is (N, C, *spatial) with at least one spatial axis. train normalizes each (n, c) over its
spatial positions and, when running statistics are given, updates them in place with the
**batch average** of the per-instance mean and unbiased variance (``momentum`` is a float:
0 leaves them unchanged, which is what ``nn.InstanceNorm``'s ``momentum=None`` passes). eval is
``use_input_stats=False``. ``mean``/``rstd`` are (N, C), float32 for half inputs with float32 parameters, else the input dtype. Parameters and
running statistics are (C,), in the input dtype or (half inputs) float32. One spatial element
under input statistics, or a parameter of the wrong length, must raise.
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
    name=NAME, title="Instance normalization", passes=CHANOP.passes, dtypes=DTYPES, layouts=channelwise.LAYOUTS, ranks=CHANOP.ranks,
    case_groups=GROUPS, cases=all_cases, plan=plan, property_cases=property_cases, grids=bench.GRIDS, axes=bench.AXES,
    axes_of=bench.axes_of, sweep_shape=bench.sweep_shape, parse_shape=bench.parse_shape, layouts_for=bench.layouts_for,
    bench_call=bench.bench_call, bytes_moved=bench.bytes_moved, byte_model=bench.BYTE_MODEL, plots=bench.PLOTS,
    layout_rank=2, mutants=mutants.mutants, invariance_probe=invariance_probe,
)


@hookimpl
def normbench_ops():
    return [OP]


__all__ = ["NAME", "OP", "CHANOP", "STANDARD_SHAPES", "reference"]
