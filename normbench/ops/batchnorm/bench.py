"""Batch norm's benchmarks: axes (batch x channels x spatial), grids, the byte model, and the
untimed set-up of one timed call.

A shape is (N, C, H, W) with H = W = spatial, or (N, C) when spatial is 0. The *quick* grid
is the default (minutes on 2 cores); the *full* grid is opt-in and skips shapes above 2^26
elements (256 MB per float32 tensor, so the full grid stays within 24 GB).

Byte model, counted in elements of the input dtype (per-channel vectors are negligible and
ignored): train reads x once and writes y once, 2 x size (a kernel that cannot keep a channel
in cache reads x twice or three times; the floor is what a perfect kernel moves); eval reads
x and writes y, 2 x size; backward reads x and dy and writes dx, 3 x size. ``bytes /
copy_bandwidth`` is the floor time: a memory copy of the same number of bytes (half read, half
written) measured in the same run sets the machine's achievable bandwidth.
"""
from __future__ import annotations

from math import prod
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ...dtypes import ITEMSIZE, cast_host, param_dtype, to_layout
from ...errors import InputError
from ...opinfo import Grid, Shape, parse_sizes
from .cases import NAME

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
    # a first look (normbench run's default): small to large, a 2-D input, many channels; --grid standard or
    # full for the picture
    # a first look, small to large: 50K elements, 1M (2-D), and 1.6M in large planes (0.13's 6.4M
    # shapes cost a fresh process twice the time of these on a 2-core VM; 0.13's 64x512x7x7, many small
    # planes, is in --grid standard: the first report's seven minutes had no room for its 26 rows)
    "quick": _grid((4,), (64,), (14,), extra=((8, 64, 56, 56), (1024, 1024))),
    "standard": _grid(extra=STANDARD_SHAPES),
    # tiny, for tests of the machinery (asv, report), not for numbers
    "smoke": _grid((2, 4), (4, 8), (4,)),
    "full": _grid((2, 8, 32, 128, 512), (16, 64, 256, 1024, 2048), (0, 7, 14, 28, 56),
                  dtypes=("float32", "float64", "bfloat16"), extra=STANDARD_SHAPES),
}


TRAFFIC = {"train": 2, "eval": 2, "backward": 3}
BYTE_MODEL = "train and eval 2 x size (read x, write y), backward 3 x size (read x and dy, write dx)"


def bytes_moved(pass_: str, shape: tuple[int, ...], dtype: str) -> int:
    """Minimum bytes read plus written by ``pass_`` on an input of ``shape`` and ``dtype``."""
    return TRAFFIC[pass_] * prod(shape) * ITEMSIZE[dtype]


def bench_call(backend: Any, pass_: str, shape: tuple[int, ...], dtype: str, layout: str, seed: int = 0) -> Callable[[], Any]:
    """The call to time for ``pass_``: train (with running statistics), eval, or backward from
    the saved statistics of one untimed training forward."""
    rng = np.random.default_rng(seed)
    channels = shape[1]
    pdt = param_dtype(dtype)

    def host(a, dt=dtype):
        return to_layout(cast_host(a, dt), layout) if a.ndim > 1 else cast_host(a, dt)

    b = backend
    x = b.from_numpy(host(rng.standard_normal(shape, dtype=np.float32)), dtype)
    w = b.from_numpy(host(rng.uniform(0.5, 1.5, channels), pdt), pdt)
    bias = b.from_numpy(host(rng.uniform(-1, 1, channels), pdt), pdt)
    rm = b.from_numpy(host(np.zeros(channels), pdt), pdt)
    rv = b.from_numpy(host(np.ones(channels), pdt), pdt)
    if pass_ == "eval":  # eval-only backends have no train pass
        run_eval = b.kernel(NAME, "eval")
        return lambda: run_eval(x, w, bias, rm, rv, eps=1e-5)
    train = b.kernel(NAME, "train")
    if pass_ == "train":
        return lambda: train(x, w, bias, rm, rv, momentum=0.1, eps=1e-5, num_batches_tracked=1)
    backward = b.kernel(NAME, "backward")
    _, mean, invstd = train(x, w, bias, None, None, momentum=0.1, eps=1e-5, num_batches_tracked=1)
    dy = b.from_numpy(host(rng.standard_normal(shape, dtype=np.float32)), dtype)
    return lambda: backward(dy, x, w, mean, invstd, eps=1e-5)
