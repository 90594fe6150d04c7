"""A third-party op and a backend for it: proof that the harness names no op.

``toynorm`` scales each row to unit RMS over the last axis, ``y = x / sqrt(mean(x**2) + eps)``,
one pass ("forward"). Everything the harness needs comes from its OpInfo record, as for the
built-in ops. The backend also declares an op nobody installed (``quantumnorm``), which must be
ignored with a notice, not break it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

import normbench
from normbench.opinfo import Grid, OpInfo, PlotSpec, parse_sizes
from normbench.conformance.spec import Arg, Out, Step

NAME = "toynorm"


@dataclass(frozen=True)
class ToyCase:
    group: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    layout: str = "contiguous"
    op: str = NAME

    @property
    def passes(self):
        return ("forward",)

    @property
    def id(self) -> str:
        return f"{NAME}/{self.group}/{'x'.join(map(str, self.shape))}-{self.dtype}"


def reference(x, eps=1e-6):
    x = np.asarray(x, np.float64)
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)


def cases():
    return [ToyCase("basic", (4, 8), dt) for dt in ("float64", "float32")] + [ToyCase("basic", (3, 5, 16))]


def plan(case, passes):
    """The one call and its reference: the harness's checker does the rest (support, errors,
    dtype, shape, unchanged input, tolerance)."""
    x = np.random.default_rng(0).standard_normal(case.shape).astype(case.dtype)
    ref = reference(x)
    rms = np.sqrt(np.mean(ref * ref, axis=-1, keepdims=True))
    return [Step("forward", "forward", (Arg("x", x, case.dtype),), {"eps": 1e-6},
                 returns=Out("y", case.dtype, case.shape, ref, scale=rms))]


def make_shape(rows, hidden):
    return (rows, hidden)


def bench_call(backend, pass_, shape, dtype, layout, seed=0):
    x = backend.from_numpy(np.random.default_rng(seed).standard_normal(shape).astype(dtype), dtype)
    fn = backend.kernel(NAME, pass_)
    return lambda: fn(x, eps=1e-6)


def _sweep(values):
    if set(values) != {"rows", "hidden"}:
        raise normbench.InputError("a toynorm sweep needs rows and hidden")
    return make_shape(values["rows"], values["hidden"])


GRIDS = {name: Grid(axes=(("rows", (8, 64)), ("hidden", (16, 128))), make_shape=make_shape, dtypes=("float32",),
                    layouts=("contiguous",)) for name in ("quick", "standard", "full", "smoke")}

OP = OpInfo(
    name=NAME, title="Toy RMS scaling", passes=("forward",), dtypes=("float64", "float32"), layouts=("contiguous",),
    ranks=(2, 3), case_groups=("basic",), cases=cases, plan=plan, property_cases=None, grids=GRIDS,
    axes=("rows", "hidden"), axes_of=lambda s: {"rows": math.prod(s[:-1]), "hidden": s[-1]}, sweep_shape=_sweep,
    parse_shape=parse_sizes, layouts_for=lambda shape, layouts: ["contiguous"], bench_call=bench_call,
    bytes_moved=lambda p, s, d: 2 * math.prod(s) * np.dtype(d).itemsize, byte_model="forward 2 x size (read x, write y)",
    plots=PlotSpec(lines=(("rows", "time"),), heatmap=("rows", "hidden")),
)


class FutureBackend(normbench.Backend):
    name = "future"
    ops = {NAME: normbench.Support(), "quantumnorm": normbench.Support()}

    def toynorm_forward(self, x, *, eps):
        return (x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True, dtype=np.float64) + eps)).astype(x.dtype)


@normbench.hookimpl
def normbench_ops():
    return [OP]


@normbench.hookimpl
def normbench_backends():
    return [FutureBackend()]
