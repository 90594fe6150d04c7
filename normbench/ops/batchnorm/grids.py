"""Batch-norm shapes for benchmarks: axes (batch x channels x spatial), grids, standard shapes.

A shape is (N, C, H, W) with H = W = spatial, or (N, C) when spatial is 0. The *quick* grid
is the default (minutes on 2 cores); the *full* grid is opt-in and skips shapes above 2^26
elements (256 MB per float32 tensor, so the full grid stays within 24 GB).
"""
from __future__ import annotations

from typing import Mapping, Sequence

from ...errors import InputError
from ...opinfo import Grid, Shape, parse_sizes

AXES = ("batch", "channels", "spatial")

#: the standard CNN shapes every report leads with
STANDARD_SHAPES: tuple[Shape, ...] = (
    (32, 64, 56, 56),
    (64, 256, 14, 14),
    (256, 512, 7, 7),
    (8, 32, 112, 112),
    (1024, 1024),
)
LAYOUTS = ("contiguous", "channels_last")


def make_shape(batch: int, channels: int, spatial: int) -> Shape:
    return (batch, channels) if spatial == 0 else (batch, channels, spatial, spatial)


def axes_of(shape: Shape) -> dict[str, int]:
    """Axis values of a shape (spatial is the first spatial size, 0 for 2-D input)."""
    return {"batch": shape[0], "channels": shape[1], "spatial": shape[2] if len(shape) > 2 else 0}


def sweep_shape(values: Mapping[str, int]) -> Shape:
    """A shape from --sweep values: batch and channels required, spatial 14 by default."""
    missing = [a for a in ("batch", "channels") if a not in values]
    if missing:
        raise InputError(f"a batchnorm sweep needs batch and channels (and optionally spatial, default 14); missing {', '.join(missing)}")
    if values["batch"] < 1 or values["channels"] < 1:
        raise InputError(f"batch and channels sizes must be positive, got batch={values['batch']} channels={values['channels']}")
    return make_shape(values["batch"], values["channels"], values.get("spatial", 14))


def parse_shape(text: str) -> Shape:
    shape = parse_sizes(text)
    if not 2 <= len(shape) <= 5:
        raise InputError(f"malformed shape {text!r}: batchnorm needs 2 to 5 positive sizes (N, C, ...)")
    return shape


def layouts_for(shape: Shape, layouts: Sequence[str]) -> list[str]:
    """2-D input (N, C) has one layout."""
    return list(layouts) if len(shape) > 2 else ["contiguous"]


def _grid(batches=(), channels=(), spatial=(), dtypes=("float32",), layouts=LAYOUTS, extra=()) -> Grid:
    return Grid(axes=(("batch", batches), ("channels", channels), ("spatial", spatial)), make_shape=make_shape,
                dtypes=dtypes, layouts=layouts, extra_shapes=extra)


GRIDS = {
    "quick": _grid((4, 32), (16, 256), (14,), extra=STANDARD_SHAPES),
    "standard": _grid(extra=STANDARD_SHAPES),
    # tiny, for tests of the machinery (asv, report), not for numbers
    "smoke": _grid((2, 4), (4, 8), (4,)),
    "full": _grid((2, 8, 32, 128, 512), (16, 64, 256, 1024, 2048), (0, 7, 14, 28, 56),
                  dtypes=("float32", "float64", "bfloat16"), extra=STANDARD_SHAPES),
}
