"""Benchmark grids shared by ``normbench bench`` and the asv suite.

A shape is (N, C, H, W) with H = W = spatial, or (N, C) when spatial is 0. The *quick* grid
is the default (minutes on 2 cores); the *full* grid is opt-in (``NORMBENCH_GRID=full`` for asv,
``--grid full`` for bench) and skips shapes above :data:`MAX_ELEMENTS`.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

from .errors import InputError

#: the standard CNN shapes every report leads with
STANDARD_SHAPES: tuple[tuple[int, ...], ...] = (
    (32, 64, 56, 56),
    (64, 256, 14, 14),
    (256, 512, 7, 7),
    (8, 32, 112, 112),
    (1024, 1024),
)
MAX_ELEMENTS = 2**26  # 256 MB in float32 per tensor: the full grid stays within 24 GB


@dataclass(frozen=True)
class Grid:
    batches: tuple[int, ...]
    channels: tuple[int, ...]
    spatial: tuple[int, ...]
    dtypes: tuple[str, ...]
    layouts: tuple[str, ...]
    ops: tuple[str, ...] = ("train", "eval", "backward")
    extra_shapes: tuple[tuple[int, ...], ...] = ()

    def shapes(self) -> list[tuple[int, ...]]:
        out = [make_shape(n, c, s) for n in self.batches for c in self.channels for s in self.spatial]
        out += [s for s in self.extra_shapes if s not in out]
        return [s for s in out if math.prod(s) <= MAX_ELEMENTS]


GRIDS = {
    "quick": Grid(batches=(4, 32), channels=(16, 256), spatial=(14,), dtypes=("float32",),
                  layouts=("contiguous", "channels_last"), extra_shapes=STANDARD_SHAPES),
    "standard": Grid(batches=(), channels=(), spatial=(), dtypes=("float32",),
                     layouts=("contiguous", "channels_last"), extra_shapes=STANDARD_SHAPES),
    # tiny, for tests of the machinery (asv, report), not for numbers
    "smoke": Grid(batches=(2, 4), channels=(4, 8), spatial=(4,), dtypes=("float32",), layouts=("contiguous", "channels_last")),
    "full": Grid(batches=(2, 8, 32, 128, 512), channels=(16, 64, 256, 1024, 2048), spatial=(0, 7, 14, 28, 56),
                 dtypes=("float32", "float64", "bfloat16"), layouts=("contiguous", "channels_last"),
                 extra_shapes=STANDARD_SHAPES),
}


def grid_from_env(default: str = "quick") -> Grid:
    name = os.environ.get("NORMBENCH_GRID", default)
    if name not in GRIDS:
        raise InputError(f"unknown grid {name!r} (NORMBENCH_GRID); expected one of {', '.join(GRIDS)}")
    return GRIDS[name]


def make_shape(batch: int, channels: int, spatial: int) -> tuple[int, ...]:
    return (batch, channels) if spatial == 0 else (batch, channels, spatial, spatial)


def parse_shape(text: str) -> tuple[int, ...]:
    """``32x64x56x56`` -> (32, 64, 56, 56); a one-line error for anything else."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise InputError(f"malformed shape {text!r}; expected sizes joined by x, e.g. 32x64x56x56") from None
    if not 2 <= len(shape) <= 5 or min(shape) < 1:
        raise InputError(f"malformed shape {text!r}: need 2 to 5 positive sizes (N, C, ...)")
    return shape


def format_shape(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))
