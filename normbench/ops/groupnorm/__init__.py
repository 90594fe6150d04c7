"""Group normalization (``F.group_norm``): the reference and the op's record.

The machinery shared with InstanceNorm (cases, checking, per-unit tolerances, grids over batch x
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

from ...hookspecs import hookimpl
from ..channelwise import STANDARD_GROUPS, ChanOp, make_grid, make_opinfo
from . import reference

NAME = "groupnorm"
CHANOP = ChanOp(name=NAME, passes=("forward", "backward"), grouped=True, stat_dtype=reference.stat_dtype,
                ranks=(2, 3, 4, 5))
#: the shapes the issue and the report lead with: a ResNet-ish stage, detection, a U-Net block
STANDARD_SHAPES = ((32, 64, 56, 56), (8, 256, 28, 28), (4, 512, 64, 64), (16, 128, 32, 32))
GRIDS = {
    "quick": make_grid((2, 8), (64, 256), (28,)),
    "standard": make_grid(extra=STANDARD_SHAPES),
    "smoke": make_grid((2, 4), (32, 64), (4,)),
    "full": make_grid((1, 4, 16, 64), (32, 128, 512), (7, 14, 28, 56, 112), dtypes=("float32", "float64", "bfloat16"),
                      extra=STANDARD_SHAPES),
}
OP = make_opinfo(CHANOP, "Group normalization", GRIDS, STANDARD_GROUPS)


@hookimpl
def normbench_ops():
    return [OP]


__all__ = ["NAME", "OP", "CHANOP", "STANDARD_SHAPES", "reference"]
