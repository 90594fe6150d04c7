"""Layer normalization's benchmarks: tokens x hidden grids, the byte model, the set-up of a timed call."""
from __future__ import annotations

from typing import Any, Callable

from .. import rowwise
from ..rowwise import AXES, GRIDS, PLOTS, STANDARD_SHAPES, axes_of, layouts_for, parse_shape, sweep_shape
from .reference import ROWOP

BYTE_MODEL = rowwise.byte_model(ROWOP)


def bytes_moved(pass_: str, shape: tuple[int, ...], dtype: str) -> int:
    return rowwise.bytes_moved(ROWOP, pass_, shape, dtype)


def bench_call(backend: Any, pass_: str, shape: tuple[int, ...], dtype: str, layout: str, seed: int = 0) -> Callable[[], Any]:
    return rowwise.bench_call(ROWOP, backend, pass_, shape, dtype, layout, seed)


__all__ = ["AXES", "BYTE_MODEL", "GRIDS", "PLOTS", "STANDARD_SHAPES", "axes_of", "bench_call", "bytes_moved", "layouts_for", "parse_shape", "sweep_shape"]
