"""Instance normalization (``F.instance_norm``): the reference and the op's record.

Shared machinery with GroupNorm is in :mod:`normbench.ops.channelwise` (InstanceNorm is its
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

from ...hookspecs import hookimpl
from ..channelwise import ChanOp, make_grid, make_opinfo
from . import reference

NAME = "instancenorm"
CHANOP = ChanOp(name=NAME, passes=("train", "eval", "backward"), grouped=False, stat_dtype=reference.stat_dtype,
                ranks=(3, 4, 5))
#: style transfer and medical-imaging-like shapes, plus the CNN stage GroupNorm leads with
STANDARD_SHAPES = ((1, 64, 256, 256), (4, 128, 128, 128), (8, 256, 28, 28), (32, 64, 56, 56))
GRIDS = {
    "quick": make_grid((1, 8), (64, 256), (28,)),
    "standard": make_grid(extra=STANDARD_SHAPES),
    "smoke": make_grid((2, 4), (4, 8), (4,)),
    "full": make_grid((1, 4, 16, 64), (16, 64, 256), (14, 28, 56, 128, 256), dtypes=("float32", "float64", "bfloat16"),
                      extra=STANDARD_SHAPES),
}
OP = make_opinfo(CHANOP, "Instance normalization", GRIDS, 0)


@hookimpl
def normbench_ops():
    return [OP]


__all__ = ["NAME", "OP", "CHANOP", "STANDARD_SHAPES", "reference"]
