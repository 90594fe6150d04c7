"""Instance normalization's benchmarks: batch x channels x spatial grids, the byte model, the set-up of a
timed call."""
from __future__ import annotations

from typing import Any, Callable

from .. import channelwise
from ..channelwise import AXES, BYTE_MODEL, PLOTS, axes_of, bytes_moved, layouts_for
from ..channelwise import make_grid
from .reference import CHANOP, NAME

#: style transfer and medical-imaging-like shapes, plus the CNN stage GroupNorm leads with
STANDARD_SHAPES = ((1, 64, 256, 256), (4, 128, 128, 128), (8, 256, 28, 28), (32, 64, 56, 56))
GRIDS = {
    # a first look (normbench run's default): a small and a large input
    "quick": make_grid((1,), (64,), (28,), extra=((8, 256, 28, 28),)),
    "standard": make_grid(extra=STANDARD_SHAPES),
    "smoke": make_grid((2, 4), (4, 8), (4,)),
    "full": make_grid((1, 4, 16, 64), (16, 64, 256), (14, 28, 56, 128, 256), dtypes=("float32", "float64", "bfloat16"),
                      extra=STANDARD_SHAPES),
}
sweep_shape = channelwise.make_sweep_shape(NAME, 1, 1)
parse_shape = channelwise.make_parse_shape(NAME, min(CHANOP.ranks), 1)


def bench_call(backend: Any, pass_: str, shape: tuple[int, ...], dtype: str, layout: str, seed: int = 0) -> Callable[[], Any]:
    return channelwise.bench_call(CHANOP, 0, backend, pass_, shape, dtype, layout, seed)


__all__ = ["AXES", "BYTE_MODEL", "GRIDS", "PLOTS", "STANDARD_SHAPES", "axes_of", "bench_call", "bytes_moved", "layouts_for", "parse_shape", "sweep_shape"]
