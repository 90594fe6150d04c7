"""Group normalization's benchmarks: batch x channels x spatial grids, the byte model, the set-up of a
timed call (with ``STANDARD_GROUPS`` groups)."""
from __future__ import annotations

from typing import Any, Callable

from .. import channelwise
from ..channelwise import (AXES, BYTE_MODEL, PLOTS, STANDARD_GROUPS, axes_of, bytes_moved,
                           layouts_for, make_grid)
from .reference import CHANOP, NAME

#: the shapes the issue and the report lead with: a ResNet-ish stage, detection, a U-Net block
STANDARD_SHAPES = ((32, 64, 56, 56), (8, 256, 28, 28), (4, 512, 64, 64), (16, 128, 32, 32))
GRIDS = {
    # a first look (normbench run's default): a small and a detection-sized input
    "quick": make_grid((2,), (64,), (28,), extra=((8, 256, 28, 28),)),
    "standard": make_grid(extra=STANDARD_SHAPES),
    "smoke": make_grid((2, 4), (32, 64), (4,)),
    "full": make_grid((1, 4, 16, 64), (32, 128, 512), (7, 14, 28, 56, 112), dtypes=("float32", "float64", "bfloat16"),
                      extra=STANDARD_SHAPES),
}
sweep_shape = channelwise.make_sweep_shape(NAME, STANDARD_GROUPS, 0)
parse_shape = channelwise.make_parse_shape(NAME, min(CHANOP.ranks), STANDARD_GROUPS)


def bench_call(backend: Any, pass_: str, shape: tuple[int, ...], dtype: str, layout: str, seed: int = 0) -> Callable[[], Any]:
    return channelwise.bench_call(CHANOP, STANDARD_GROUPS, backend, pass_, shape, dtype, layout, seed)


__all__ = ["AXES", "BYTE_MODEL", "GRIDS", "PLOTS", "STANDARD_SHAPES", "axes_of", "bench_call", "bytes_moved", "layouts_for", "parse_shape", "sweep_shape"]
