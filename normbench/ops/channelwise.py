"""What GroupNorm and InstanceNorm share: statistics per *unit*, one (sample, channel block).

Input is (N, C, *spatial). A unit is sample n and the **contiguous** channel block
``[g*C/G, (g+1)*C/G)`` of group g, over every spatial position: ``m = (C/G) * prod(spatial)``
values. GroupNorm has G = ``num_groups``; InstanceNorm is G = C (a unit is one (n, c) instance)
plus running statistics averaged over the batch. The affine step is per *channel* in both.

This module holds the float64 reference core, the case record and its data, input validation,
per-unit tolerances, running a case, the benchmark axes (batch x channels x spatial), the byte
model and the property-test strategy. What differs between the two ops (passes, arguments,
saved-statistics dtype, running statistics) comes in a :class:`ChanOp` from each op's package.

Passes, implemented by a backend as ``<op>_<pass>``::

    groupnorm_forward(x, num_groups, weight, bias, *, eps) -> (y, mean, rstd)       # (N, G)
    groupnorm_backward(dy, x, num_groups, weight, bias, mean, rstd) -> (dx, dweight, dbias)
    instancenorm_train(x, weight, bias, running_mean, running_var, *, momentum, eps) -> (y, mean, rstd)
    instancenorm_eval(x, weight, bias, running_mean, running_var, *, eps) -> y
    instancenorm_backward(dy, x, weight, bias, mean, rstd) -> (dx, dweight, dbias)  # (N, C) stats

An implementation that does not expose its statistics (ONNX GroupNormalization) returns None for
both mean and rstd: y is checked alone and the case says so.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..backend import eps_kwargs
from ..conformance.case import DRAWN_DATA, HUGE, CaseRecord, drawable, fmt, unique_ids
from ..conformance.spec import Arg, Out, Raises, Saved, State, Step
from ..dtypes import HALF_DTYPES, ITEMSIZE, MACHINE_EPS, cast_host, to_layout
from ..errors import InputError
from ..opinfo import Grid, PlotSpec, Shape, parse_sizes

LAYOUTS: tuple[str, ...] = ("contiguous", "channels_last", "strided")
#: GroupNorm benchmarks use 32 groups (the GroupNorm paper's and most models' default)
STANDARD_GROUPS = 32


@dataclass(frozen=True)
class ChanOp:
    """The op-specific part of a channel-wise norm (filled in by the groupnorm and instancenorm packages)."""

    name: str
    passes: tuple[str, ...]
    #: True: GroupNorm (a ``num_groups`` argument); False: InstanceNorm (G = C, running statistics)
    grouped: bool
    #: dtype of the saved statistics for (input dtype, parameter dtype or None when no parameter)
    stat_dtype: Callable[[str, str | None], str]
    ranks: tuple[int, ...]


# -- float64 reference core -----------------------------------------------------------------------
def units(x: np.ndarray, groups: int) -> np.ndarray:
    """(N, G, m) view of the logical array: C-order reshape keeps each group's channels contiguous."""
    x = np.asarray(x)
    return x.reshape(x.shape[0], groups, math.prod(x.shape[1:]) // groups)  # -1 fails for N = 0


def per_channel(v: np.ndarray, ndim: int) -> np.ndarray:
    return np.asarray(v).reshape((1, -1) + (1,) * (ndim - 2))


def expand(u: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Per-unit (N, G) values broadcastable against an input of ``shape`` (N, C, ...)."""
    n, c = shape[0], shape[1]
    g = u.shape[1]
    return np.repeat(u, c // g if g else 0, axis=1).reshape((n, c) + (1,) * (len(shape) - 2))


def unit_stats(x: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and biased variance (two-pass, float64) per unit, each (N, G)."""
    xu = units(np.asarray(x, np.float64), groups)
    if xu.shape[2] == 0 or xu.shape[0] == 0:
        return np.zeros(xu.shape[:2]), np.zeros(xu.shape[:2])
    with np.errstate(invalid="ignore"):
        mean = xu.mean(axis=2)
        var = ((xu - mean[..., None]) ** 2).mean(axis=2)
    return mean, var


def forward(x: np.ndarray, groups: int, weight, bias, eps: float):
    """(y, {"mean", "rstd", "var"}) with (N, G) statistics."""
    x = np.asarray(x, np.float64)
    mean, var = unit_stats(x, groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        rstd = 1.0 / np.sqrt(var + eps)
        y = (x - expand(mean, x.shape)) * expand(rstd, x.shape)
    if weight is not None:
        y = y * per_channel(weight, x.ndim)
    if bias is not None:
        y = y + per_channel(bias, x.ndim)
    return y, {"mean": mean, "rstd": rstd, "var": var}


def reference_stats(x: np.ndarray, groups: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """(mean, rstd) per unit in float64, as a forward returns them."""
    _, stats = forward(x, groups, None, None, eps)
    return stats["mean"], stats["rstd"]


def backward(dy: np.ndarray, x: np.ndarray, groups: int, weight, eps: float):
    """(dx, {"weight", "bias", "terms_weight", "terms_bias"}): per unit,
    ``dx = rstd (g - mean(g) - xhat mean(g xhat))`` with ``g = dy * weight[c]``."""
    x, dy = np.asarray(x, np.float64), np.asarray(dy, np.float64)
    mean, var = unit_stats(x, groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        rstd = 1.0 / np.sqrt(var + eps)
        xhat = (x - expand(mean, x.shape)) * expand(rstd, x.shape)
        g = dy * per_channel(weight, x.ndim) if weight is not None else dy
        if x.size:
            gu, xu = units(g, groups), units(xhat, groups)
            dx = (rstd[..., None] * (gu - gu.mean(axis=2, keepdims=True)
                                     - xu * (gu * xu).mean(axis=2, keepdims=True))).reshape(x.shape)
        else:
            dx = np.zeros_like(x)
        terms_w = dy * xhat
    over = (0, *range(2, x.ndim))
    return dx, {"terms_weight": terms_w, "terms_bias": dy, "weight": terms_w.sum(axis=over), "bias": dy.sum(axis=over)}


def running_update(running_mean, running_var, mean_nc, var_nc, m: int, momentum: float):
    """InstanceNorm: the batch average of per-instance mean and *unbiased* variance, blended."""
    with np.errstate(invalid="ignore", divide="ignore"):
        unbiased = var_nc * (m / (m - 1)) if m > 1 else np.full_like(var_nc, np.nan)
    new_mean = (1 - momentum) * np.asarray(running_mean, np.float64) + momentum * mean_nc.mean(axis=0)
    new_var = (1 - momentum) * np.asarray(running_var, np.float64) + momentum * unbiased.mean(axis=0)
    return new_mean, new_var


def eval_forward(x, weight, bias, running_mean, running_var, eps: float) -> np.ndarray:
    """Normalize with the running statistics (``use_input_stats=False``)."""
    x = np.asarray(x, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        y = (x - per_channel(running_mean, x.ndim)) / np.sqrt(per_channel(np.asarray(running_var, np.float64), x.ndim) + eps)
    if weight is not None:
        y = y * per_channel(weight, x.ndim)
    if bias is not None:
        y = y + per_channel(bias, x.ndim)
    return y


# -- validation (shared by the reference checks and by backends that want clear errors) -----------
def _shape_of(a) -> tuple[int, ...]:
    return tuple(getattr(a, "shape", ()))


def validate_groupnorm(x: Any, num_groups: int, weight: Any = None, bias: Any = None) -> tuple[int, int, int]:
    """(N, C, G), or InputError naming what does not fit (as ``F.group_norm`` raises)."""
    shape = _shape_of(x)
    if len(shape) < 2:
        raise InputError(f"groupnorm: input must be (N, C, ...), got shape {list(shape)}")
    n, c = shape[0], shape[1]
    if not isinstance(num_groups, (int, np.integer)) or num_groups < 1:
        raise InputError(f"groupnorm: num_groups must be a positive integer, got {num_groups!r}")
    if c % num_groups:
        raise InputError(f"groupnorm: {c} channels are not divisible by num_groups={num_groups}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and _shape_of(p) != (c,):
            raise InputError(f"groupnorm: {name} has shape {list(_shape_of(p))}, expected [{c}] (one per channel)")
    if n * (c // num_groups) * math.prod(shape[2:]) == 1:
        raise InputError(f"groupnorm: expected more than 1 value per group in the batch, got input of shape {list(shape)}"
                         f" with num_groups={num_groups}")
    return n, c, int(num_groups)


def validate_instancenorm(x: Any, weight: Any = None, bias: Any = None, running_mean: Any = None,
                          running_var: Any = None, *, use_input_stats: bool = True) -> tuple[int, int]:
    """(N, C), or InputError naming what does not fit (as ``F.instance_norm`` raises)."""
    shape = _shape_of(x)
    if len(shape) < 3:
        raise InputError(f"instancenorm: input must be (N, C, L, ...) with spatial axes, got shape {list(shape)}")
    n, c = shape[0], shape[1]
    for name, p in (("weight", weight), ("bias", bias), ("running_mean", running_mean), ("running_var", running_var)):
        if p is not None and _shape_of(p) != (c,):
            raise InputError(f"instancenorm: {name} has shape {list(_shape_of(p))}, expected [{c}] (one per channel)")
    if (running_mean is None) != (running_var is None):
        raise InputError("instancenorm: running_mean and running_var must be given together")
    if use_input_stats and math.prod(shape[2:]) == 1:
        raise InputError(f"instancenorm: expected more than 1 spatial element when training, got input of shape {list(shape)}")
    if not use_input_stats and running_mean is None:
        raise InputError("instancenorm: use_input_stats=False (eval) needs running_mean and running_var")
    return n, c


# -- cases ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case(CaseRecord):
    norm: str
    group: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    #: dtype of weight, bias (and running statistics): "same" as the input or "float32" (half inputs)
    pdtype: str = "same"
    layout: str = "contiguous"
    #: layout of dy; "" means x's layout
    dy_layout: str = ""
    #: layout of weight, bias, running and saved statistics: "strided" passes non-contiguous views (a
    #: kernel that reads a parameter as dense memory is caught, as batch norm's cases caught ATen's)
    param_layout: str = "contiguous"
    #: GroupNorm's num_groups; 0 for InstanceNorm (G = C)
    groups: int = 0
    weight: bool = True
    bias: bool = True
    #: InstanceNorm: running statistics given (then updated by train and used by eval)
    running: bool = False
    momentum: float = 0.1
    eps: float = 1e-5
    #: "normal", "offset" (1e4 + N(0,1)), "constant" (unit 0), "nan"/"inf" (one value of unit 0),
    #: "large" (300 N(0,1): float16 sums of squares overflow), "huge" (HUGE times the normal data:
    #: squares of x - mean overflow float32)
    data: str = "normal"
    #: "ok", "error" (the backend must raise), "empty" (N = 0)
    expect: str = "ok"
    #: for expect="error": "groups" (C % G), "weight" (wrong length), "single" (one value per group
    #: in the batch), "spatial" (one spatial element under input statistics), "running" (wrong length)
    bad: str = ""
    seed: int = 0

    @property
    def op(self) -> str:
        return self.norm

    @property
    def G(self) -> int:
        return self.groups or self.shape[1]

    @property
    def dyl(self) -> str:
        return self.dy_layout or self.layout

    @property
    def param_dtype(self) -> str:
        return self.dtype if self.pdtype == "same" else self.pdtype

    @property
    def passes(self) -> tuple[str, ...]:
        if self.groups:
            return ("forward",) if self.expect == "error" else ("forward", "backward")
        if self.expect == "error":
            return ("train",)
        return ("train", "eval", "backward") if self.running else ("train", "backward")

    def tags(self) -> tuple[str, ...]:
        return (
            f"G={self.groups}" if self.groups else "",
            "" if self.dyl == self.layout else f"dy={self.dyl}",
            "" if self.weight else "noweight", "" if self.bias else "nobias",
            f"running-m={fmt(self.momentum)}" if self.running else "",
            "params=strided" if self.param_layout == "strided" else "",
            "" if self.eps == 1e-5 else f"eps={fmt(self.eps)}",
            "" if self.data == "normal" else self.data,
            f"bad-{self.bad}" if self.bad else "",
        )


def invariance_probe(op: ChanOp, dtype: str, layout: str) -> Case:
    """The invariance probe (:mod:`normbench.conformance.invariance`): 16 samples of 12 channels
    of 37 x 29 (GroupNorm: 3 groups of 4292 values; InstanceNorm: 1073 per channel), sizes no
    vector width divides; dy in the same layout."""
    return Case(op.name, "invariance", (16, 12, 37, 29), dtype=dtype, layout=layout, groups=3 if op.grouped else 0,
                seed=43)


def all_cases(op: ChanOp) -> list[Case]:
    """The conformance grid (about 70 cases per op, most tiny: seconds per backend)."""
    g = (lambda c: c) if op.grouped else (lambda c: 0)  # GroupNorm's G, or InstanceNorm's 0
    base = Case(op.name, "dtypes", (4, 8, 5), groups=g(2))  # InstanceNorm: no running stats (nn's default)
    cases: list[Case] = []
    for dtype in ("float64", "float32", "float16", "bfloat16"):
        cases += [replace(base, dtype=dtype), replace(base, shape=(2, 8, 3, 4), groups=g(4), dtype=dtype)]
        if dtype in HALF_DTYPES:  # mixed precision: float32 parameters
            cases.append(replace(base, shape=(2, 8, 3, 4), groups=g(4), dtype=dtype, pdtype="float32"))
    cases.append(replace(base, shape=(2, 8, 2, 3, 4), groups=g(2)))
    lay = replace(base, group="layouts")
    for shape in ((3, 8, 10), (2, 8, 4, 5), (2, 8, 2, 3, 4)):
        for layout in ("channels_last", "strided"):
            cases.append(replace(lay, shape=shape, layout=layout))
    for dtype in ("float64", "bfloat16"):
        cases.append(replace(lay, shape=(2, 8, 4, 5), layout="channels_last", dtype=dtype))
    # large enough for a backend's parallel kernels: one sample (split into row blocks) and several
    for shape in ((1, 32, 32, 33), (4, 16, 24, 24)):
        cases += [replace(lay, shape=shape, groups=g(8), layout=lay_) for lay_ in ("contiguous", "channels_last")]
    for x_l, dy_l in (("contiguous", "channels_last"), ("channels_last", "contiguous"), ("strided", "channels_last"),
                      ("channels_last", "strided")):
        cases.append(replace(lay, shape=(2, 8, 4, 5), layout=x_l, dy_layout=dy_l))
    # dy's memory independent of x's (pytorch#92671 and #115940 for GroupNorm; quack#88): the first two
    # axes swapped, planes at a pitch and an offset, one gradient for every sample (stride 0 over the
    # batch), and x itself permuted or sliced; 37 samples, so a block of samples ends part-full
    for x_l, dy_l in (("contiguous", "permuted"), ("contiguous", "sliced"), ("contiguous", "broadcast"),
                      ("channels_last", "permuted"), ("channels_last", "broadcast"), ("permuted", "contiguous"),
                      ("sliced", "channels_last"), ("permuted", "broadcast")):
        cases += [replace(lay, shape=(37, 6, 5, 3), groups=g(3), dtype=d, layout=x_l, dy_layout=dy_l)
                  for d in ("float32", "float16")]
    # weight, bias (and running statistics) as non-contiguous views, in every layout of x and in
    # mixed precision: forward, eval and backward each read them
    strided = replace(lay, param_layout="strided", running=not op.grouped)
    for shape, layout in (((2, 8, 3, 4), "contiguous"), ((2, 8, 3, 4), "channels_last"), ((3, 8, 10), "contiguous"),
                          ((2, 8, 2, 3, 4), "channels_last"), ((2, 8, 4, 5), "strided")):
        cases.append(replace(strided, shape=shape, groups=g(4), layout=layout))
    cases.append(replace(strided, shape=(2, 8, 3, 4), groups=g(4), dtype="float16", pdtype="float32"))
    cases.append(replace(strided, shape=(16, 6), groups=g(3), bias=False) if op.grouped else
                 replace(strided, shape=(4, 6, 7), weight=False))
    opt = replace(base, group="options", shape=(3, 8, 6))
    cases += [replace(opt, eps=1e-3), replace(opt, eps=1e-12, dtype="float64"), replace(opt, eps=1e-3, dtype="float16")]
    # every optional-parameter combination (weight only, bias only, neither) in every dtype and both
    # layouts: a bias without a weight is a code path of its own in most kernels
    cases += [replace(opt, shape=(3, 8, 7), dtype=d, layout=lay_, weight=w, bias=b)
              for d in ("float64", "float32", "float16", "bfloat16") for lay_ in ("contiguous", "channels_last")
              for w, b in ((True, False), (False, True), (False, False))]
    # sample and group counts no multiple of any plausible block (a prime, 2^k + 1), spanning several
    # blocks, in every dtype: a kernel that keeps per-block partial sums of M // BLOCK blocks while
    # its grid covers cdiv(M, BLOCK) drops the last partial block (attorch#18, llm.c#445)
    for dtype in ("float64", "float32", "float16", "bfloat16"):
        cases += [replace(base, group="blocks", shape=s, groups=g(G), dtype=dtype)
                  for s, G in (((97, 6, 11), 3), ((33, 10, 5, 7), 5), ((5, 3, 257), 3))]
        if dtype in HALF_DTYPES:
            cases.append(replace(base, group="blocks", shape=(97, 6, 11), groups=g(3), dtype=dtype, pdtype="float32"))
    if op.grouped:
        # G = 1 (a LayerNorm over C x spatial), C/G = 2, 32 and 1 (G = C: InstanceNorm without running stats)
        cases += [replace(base, group="groups", shape=(2, 64, 3, 3), groups=G, layout=lay_)
                  for G in (1, 2, 32, 64) for lay_ in ("contiguous", "channels_last")]
        shapes = [((2, 4), 4), ((3, 6), 2), ((1, 6, 1), 3), ((16, 2), 1), ((4, 32, 64), 8), ((2, 32, 16, 16), 32),
                  ((2, 512, 4, 4), 32), ((1, 4, 131072), 1), ((64, 32, 2, 2), 32)]
        cases += [replace(base, group="shapes", shape=s, groups=G) for s, G in shapes]
    else:
        run = replace(base, group="running", shape=(4, 6, 7), running=True)
        cases += [replace(run, momentum=m, layout=lay_) for m in (0.0, 0.1, 1.0) for lay_ in ("contiguous", "channels_last")]
        # the momentum boundaries in more shapes and dtypes: 0 keeps the running statistics, 1 replaces them
        cases += [replace(run, momentum=m, shape=s, dtype=d, pdtype=p) for m in (0.0, 1.0)
                  for s, d, p in (((2, 8, 3, 3, 3), "float64", "same"), ((3, 4, 10), "bfloat16", "float32"))]
        # a large eps with running statistics: an eps folded into the stored running variance (or left
        # out of eval's) hides behind eps = 1e-5
        cases += [replace(run, eps=e, dtype=d, pdtype=p, layout=lay_) for e in (0.1, 1.0)
                  for d, p, lay_ in (("float32", "same", "channels_last"), ("float64", "same", "contiguous"),
                                     ("float16", "float32", "contiguous"))]
        cases += [replace(run, momentum=0.5, dtype="float64"), replace(run, momentum=1.0, dtype="float16", pdtype="float32"),
                  replace(run, dtype="float16"), replace(run, dtype="bfloat16", shape=(2, 6, 3, 4)),
                  replace(run, shape=(2, 8, 3, 3, 3), layout="channels_last"), replace(run, weight=False, bias=False),
                  replace(run, layout="strided", dy_layout="channels_last"), replace(run, data="nan"),
                  replace(run, dtype="float16", pdtype="float32", weight=False)]
        shapes = [(1, 3, 2), (5, 2, 2), (2, 3, 1, 2), (8, 4, 2), (1, 1, 131072), (2, 64, 16, 16), (8, 16, 4, 4, 4), (64, 32, 3)]
        cases += [replace(base, group="shapes", shape=s) for s in shapes]
    for dtype in ("float32", "float64"):
        for layout in ("contiguous", "channels_last"):
            cases.append(replace(base, group="offset", shape=(2, 8, 16, 16), groups=g(4), dtype=dtype, layout=layout,
                                 data="offset"))
    # tiny groups: where a one-pass float64 variance of 1e4 + N(0,1) shows (~1e-7 in y)
    cases.append(replace(base, group="offset", shape=(16, 2) if op.grouped else (8, 4, 2), groups=g(1), dtype="float64",
                         data="offset"))
    for dtype in ("float64", "float32", "float16", "bfloat16"):
        cases.append(replace(base, group="constant", shape=(2, 8, 6, 6), groups=g(4), dtype=dtype, data="constant"))
    cases.append(replace(base, group="constant", shape=(2, 8, 6, 6), groups=g(4), layout="channels_last", data="constant"))
    for data in ("nan", "inf"):  # confined to one unit, in several shapes and layouts
        for layout in ("contiguous", "channels_last"):
            cases.append(replace(base, group="nonfinite", shape=(2, 8, 6, 6), groups=g(4), layout=layout, data=data))
        cases.append(replace(base, group="nonfinite", shape=(3, 8, 10), groups=g(2), data=data))
        cases.append(replace(base, group="nonfinite", shape=(2, 8, 2, 3, 4), groups=g(4), layout="channels_last",
                             data=data))
    # squares of |x| ~ 300 summed over m >= 1024 values overflow float16 (max 65504): accumulate in float32
    for pdtype in ("same", "float32"):
        cases.append(replace(base, group="overflow", shape=(2, 4, 32, 32), groups=g(2), dtype="float16", pdtype=pdtype,
                             data="large"))
    # float32 past its square range (pytorch #162489): a kernel must not square x - mean in float32
    for layout in ("contiguous", "channels_last"):
        cases.append(replace(base, group="overflow", shape=(2, 8, 16, 16), groups=g(4), layout=layout, data="huge",
                             running=not op.grouped))
    if not op.grouped:  # and without running statistics, which some implementations do not take
        cases.append(replace(base, group="overflow", shape=(2, 8, 16, 16), data="huge"))
    # more than 65504 values per group in a half dtype (ExecuTorch PR #16727): a count (or 1/count)
    # kept in float16 is inf from 65520 values, and most groups' sums (shifted by up to +-2) pass 65504
    counts = replace(base, group="counts", shape=(1, 4, 128, 260) if op.grouped else (1, 2, 128, 520), groups=g(2),
                     running=not op.grouped)
    for dtype in ("float16", "bfloat16"):
        cases += [replace(counts, dtype=dtype, layout=layout) for layout in ("contiguous", "channels_last")]
    cases.append(replace(counts, dtype="float16", pdtype="float32"))
    err = replace(base, group="errors", expect="error")
    if op.grouped:
        cases += [replace(err, shape=(2, 6, 4), groups=4, bad="groups"), replace(err, bad="weight"),
                  replace(err, shape=(1, 4), groups=4, bad="single")]
        cases.append(replace(base, group="empty", shape=(0, 8, 3), expect="empty"))
    else:
        cases += [replace(err, shape=(2, 3, 1), bad="spatial"), replace(err, bad="weight"),
                  replace(err, bad="running", running=True)]
    return unique_ids(cases)


@dataclass
class CaseData:
    x: np.ndarray
    dy: np.ndarray
    weight: np.ndarray | None
    bias: np.ndarray | None
    running_mean: np.ndarray | None
    running_var: np.ndarray | None


def make_data(case: Case) -> CaseData:
    """Deterministic host inputs: instances differ in scale and shift, to catch an axis or grouping
    mix-up (interleaved groups normalize to different numbers); special data sits in unit 0."""
    rng = case.rng()
    shape = case.shape
    n, c = shape[0], shape[1]
    inst = (n, c) + (1,) * (len(shape) - 2)
    x = rng.standard_normal(shape) * rng.uniform(0.5, 3.0, inst) + rng.uniform(-2, 2, inst)
    unit0 = (0, slice(0, c // case.G if case.G else 0))
    if case.data == "offset":
        x = 1e4 + rng.standard_normal(shape)
    elif case.data == "large":
        x = 300.0 * rng.standard_normal(shape)
    elif case.data == "huge":  # |x - mean| ~ 1e18-3e19: squared deviations overflow float32, y is O(1)
        x = HUGE * x
    elif case.data == "constant" and x.size:
        x[unit0] = 1.5
    elif case.data in ("nan", "inf") and x.size:
        x[(0, 0) + tuple(min(1, s - 1) for s in shape[2:])] = np.nan if case.data == "nan" else np.inf
    pdt = case.param_dtype
    length = c + 1 if case.bad == "weight" else c
    w = cast_host(rng.uniform(0.5, 1.5, length), pdt) if case.weight or case.bad == "weight" else None
    b = cast_host(rng.uniform(-1, 1, c), pdt) if case.bias else None
    rm = rv = None
    if case.running or case.bad == "running":
        r_len = c + 1 if case.bad == "running" else c
        rm, rv = cast_host(rng.uniform(-1, 1, r_len), pdt), cast_host(rng.uniform(0.5, 2.0, r_len), pdt)
    dy = rng.standard_normal(shape)
    if case.dyl == "broadcast" and dy.size:  # one gradient for every sample: stride 0 over the batch
        dy = np.broadcast_to(dy[:1], shape).copy()
    dy = cast_host(dy, case.dtype)
    w, b, rm, rv = (None if a is None else to_layout(a, case.param_layout) for a in (w, b, rm, rv))
    return CaseData(to_layout(cast_host(x, case.dtype), case.layout), to_layout(dy, case.dyl), w, b, rm, rv)


# -- per-unit tolerances --------------------------------------------------------------------------
def _finite(a: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(a), a, 0.0)


def unit_rms(a: np.ndarray, groups: int) -> np.ndarray:
    f = units(_finite(np.asarray(a, np.float64)), groups)
    return np.sqrt(np.mean(f * f, axis=2)) if f.shape[2] else np.zeros(f.shape[:2])


def unit_absmax(a: np.ndarray, groups: int) -> np.ndarray:
    f = units(np.abs(_finite(np.asarray(a, np.float64))), groups)
    return np.max(f, axis=2) if f.shape[2] else np.zeros(f.shape[:2])


def channel_l2(a: np.ndarray) -> np.ndarray:
    """L2 norm per channel over batch and spatial axes (the scale of a per-channel sum's rounding)."""
    f = _finite(np.asarray(a, np.float64))
    return np.sqrt(np.sum(f * f, axis=(0, *range(2, a.ndim))))


# -- the checker's steps ----------------------------------------------------------------------------
def plan(op: ChanOp, case: Case, passes: tuple[str, ...]) -> list[Step]:
    """The checker's steps for ``case``: forward (GroupNorm) or train (InstanceNorm, updating the
    running statistics when given), eval from the initial running statistics, and backward from
    the first pass's statistics (or the reference's, when it did not run or kept them)."""
    data = make_data(case)
    dtype, pdt, G, shape = case.dtype, case.param_dtype, case.G, case.shape
    n, c = shape[0], shape[1]
    has_params = data.weight is not None or data.bias is not None or data.running_mean is not None
    sdt = op.stat_dtype(dtype, pdt if has_params else None)
    x64 = np.asarray(data.x, np.float64)
    w64 = None if data.weight is None else np.asarray(data.weight, np.float64)
    b64 = None if data.bias is None else np.asarray(data.bias, np.float64)
    w_abs = float(np.max(np.abs(w64))) if w64 is not None and w64.size else 1.0
    ok = case.expect == "ok"
    first = "forward" if op.grouped else "train"
    steps: list[Step] = []
    if case.expect == "error":
        if first in passes:
            step = _first_step(op, case, data, first, ())
            steps.append(replace(step, raises=Raises(_why_bad(case), BAD_WORDS.get(case.bad, ()))))
        return steps

    ref_y, ref = forward(x64, G, w64, b64, case.eps)
    rstd0 = np.nan_to_num(ref["rstd"], posinf=0.0)
    cond = unit_absmax(x64, G) * rstd0  # |x| / std per unit: how much a rounding of x is magnified

    if first in passes:
        std = np.sqrt(np.maximum(ref["var"], 0.0))
        outs = (Out("y", dtype, shape, ref_y, scale=expand(unit_rms(ref_y, G), shape), cond_err=expand(cond, shape) * w_abs),
                Out("mean", sdt, (n, G), ref["mean"], scale=std, cond_err=unit_absmax(x64, G), stat=True, checked=ok),
                Out("rstd", sdt, (n, G), ref["rstd"], scale=0.0, cond_err=ref["rstd"] * (1 + MACHINE_EPS[sdt] * cond**2), stat=True,
                    checked=ok))
        steps.append(_first_step(op, case, data, first, outs))

    if "eval" in passes and ok:
        rm64, rv64 = np.asarray(data.running_mean, np.float64), np.asarray(data.running_var, np.float64)
        ref_e = eval_forward(x64, w64, b64, rm64, rv64, case.eps)
        inv = 1.0 / np.sqrt(rv64 + case.eps)
        spread = np.abs(x64) + np.abs(per_channel(rm64, x64.ndim))
        cond_e = spread * per_channel(inv * (np.abs(w64) if w64 is not None else 1.0), x64.ndim)
        args = (Arg("x", data.x, dtype), Arg("weight", data.weight, pdt), Arg("bias", data.bias, pdt),
                Arg("running_mean", data.running_mean, pdt), Arg("running_var", data.running_var, pdt))
        steps.append(Step("eval", "eval", args, {"eps": case.eps}, tag="eval",
                          returns=Out("y", dtype, shape, ref_e, scale=expand(unit_rms(ref_e, G), shape),
                                      cond_err=np.nan_to_num(cond_e, posinf=0.0))))

    if "backward" in passes:
        dy64 = np.asarray(data.dy, np.float64)
        dx_ref, grads = backward(dy64, x64, G, w64, case.eps)
        w_ch = np.abs(w64) if w64 is not None else np.ones(c)
        g_rms = unit_rms(dy64 * per_channel(w_ch, x64.ndim), G) if x64.size else np.zeros((n, G))
        dx_scale = np.maximum(rstd0 * g_rms, unit_rms(dx_ref, G))
        cond_max = float(np.max(cond)) if cond.size else 0.0
        outs = [Out("dx", dtype, shape, dx_ref, scale=expand(dx_scale, shape), cond_err=expand(cond * dx_scale, shape))]
        for p, given in (("weight", data.weight), ("bias", data.bias)):
            outs.append(Out(f"d{p}", absent=True) if given is None else
                        Out(f"d{p}", pdt, (c,), grads[p], scale=channel_l2(grads[f"terms_{p}"]),
                            cond_err=cond_max * channel_l2(dy64) if p == "weight" else 0.0))
        groups = (case.groups,) if op.grouped else ()
        args = (Arg("dy", data.dy, dtype), Arg("x", data.x, dtype), *groups, Arg("weight", data.weight, pdt),
                Arg("bias", data.bias, pdt), Saved("mean", first, 1, ref["mean"], sdt, case.param_layout),
                Saved("rstd", first, 2, ref["rstd"], sdt, case.param_layout))
        steps.append(Step("backward", "backward", args, declared_kwargs={"eps": case.eps}, returns=tuple(outs)))
    return steps


def _first_step(op: ChanOp, case: Case, data: CaseData, pass_: str, outs: tuple) -> Step:
    """GroupNorm's forward or InstanceNorm's train, with InstanceNorm's running statistics (updated
    in place, and judged after the call when the case is a valid one)."""
    dtype, pdt = case.dtype, case.param_dtype
    x, w, b = Arg("x", data.x, dtype), Arg("weight", data.weight, pdt), Arg("bias", data.bias, pdt)
    outs = outs or (Out("y"), Out("mean"), Out("rstd"))
    if op.grouped:
        return Step(pass_, pass_, (x, case.groups, w, b), {"eps": case.eps}, returns=outs)
    after: tuple[Out, ...] = ()
    if data.running_mean is not None and case.expect == "ok":
        after = _running_after(case, data)
    return Step(pass_, pass_, (x, w, b, State("running_mean", data.running_mean, pdt),
                               State("running_var", data.running_var, pdt)),
                {"momentum": case.momentum, "eps": case.eps}, returns=outs,
                mutates=frozenset({"running_mean", "running_var"}), states_after=after)


def _running_after(case: Case, data: CaseData) -> tuple[Out, Out]:
    """InstanceNorm's running statistics after train: updated in place, as the reference says."""
    x64 = np.asarray(data.x, np.float64)
    _, ref = forward(x64, case.G, None, None, case.eps)
    cond = unit_absmax(x64, case.G) * np.nan_to_num(ref["rstd"], posinf=0.0)
    m = math.prod(case.shape[2:])
    new_mean, new_var = running_update(data.running_mean, data.running_var, ref["mean"], ref["var"], m, case.momentum)
    mom, pdt, c = case.momentum, case.param_dtype, case.shape[1]
    unbiased = ref["var"] * (m / (m - 1))
    var_err = unbiased * (1 + MACHINE_EPS[pdt] * cond**2)
    return (Out("running_mean", pdt, (c,), new_mean, cond_err=mom * unit_absmax(x64, case.G).mean(axis=0)),
            Out("running_var", pdt, (c,), new_var, cond_err=mom * var_err.mean(axis=0)))


#: words one of which an error refusing each kind of invalid input must contain (torch's and ours)
BAD_WORDS = {"groups": ("divisible", "group"), "weight": ("weight",), "single": ("value", "group", "element"),
             "spatial": ("spatial", "element"), "running": ("running",)}


def _why_bad(case: Case) -> str:
    return {
        "groups": f"{case.shape[1]} channels not divisible by num_groups={case.groups}",
        "weight": f"weight of length {case.shape[1] + 1} for {case.shape[1]} channels",
        "single": f"one value per group in the batch (shape {list(case.shape)}, G={case.groups})",
        "spatial": f"one spatial element under input statistics (shape {list(case.shape)})",
        "running": f"running statistics of length {case.shape[1] + 1} for {case.shape[1]} channels",
    }.get(case.bad, case.bad)


# -- benchmarks -----------------------------------------------------------------------------------
AXES = ("batch", "channels", "spatial")
BENCH_LAYOUTS = ("contiguous", "channels_last")


def make_shape(batch: int, channels: int, spatial: int) -> Shape:
    """(N, C, spatial, spatial), or (N, C) for spatial 0."""
    return (batch, channels) if spatial == 0 else (batch, channels, spatial, spatial)


def axes_of(shape: Shape) -> dict[str, int]:
    """batch, channels, and spatial = the first spatial size."""
    return {"batch": shape[0], "channels": shape[1], "spatial": shape[2] if len(shape) > 2 else 0}


def make_sweep_shape(name: str, channel_multiple: int, min_spatial: int = 0):
    def sweep_shape(values: Mapping[str, int]) -> Shape:
        missing = [a for a in ("batch", "channels") if a not in values]
        if missing:
            raise InputError(f"a {name} sweep needs batch and channels (and optionally spatial, default 28); "
                             f"missing {', '.join(missing)}")
        if min(values["batch"], values["channels"]) < 1 or values.get("spatial", 28) < min_spatial:
            raise InputError(f"{name}: batch and channels must be positive and spatial at least {min_spatial}, "
                             f"got {dict(values)}")
        if values["channels"] % channel_multiple:
            raise InputError(f"{name}: channels={values['channels']} must be a multiple of {channel_multiple} "
                             f"(the benchmark's num_groups)")
        return make_shape(values["batch"], values["channels"], values.get("spatial", 28))
    return sweep_shape


def make_parse_shape(name: str, min_rank: int, channel_multiple: int):
    def parse_shape(text: str) -> Shape:
        shape = parse_sizes(text)
        if not min_rank <= len(shape) <= 5:
            raise InputError(f"malformed shape {text!r}: {name} needs {min_rank} to 5 positive sizes (N, C, ...)")
        if shape[1] % channel_multiple:
            raise InputError(f"shape {text!r}: {name} benchmarks use num_groups={channel_multiple}, "
                             f"so C={shape[1]} must be a multiple of it")
        return shape
    return parse_shape


def layouts_for(shape: Shape, layouts: Sequence[str]) -> list[str]:
    return [lay for lay in layouts if lay in LAYOUTS] if len(shape) > 2 else ["contiguous"]


def make_grid(batches=(), channels=(), spatial=(), dtypes=("float32",), extra=(), max_elements=2**26) -> Grid:
    return Grid(axes=(("batch", batches), ("channels", channels), ("spatial", spatial)), make_shape=make_shape,
                dtypes=dtypes, layouts=BENCH_LAYOUTS, extra_shapes=extra, max_elements=max_elements)


PLOTS = PlotSpec(lines=(("batch", "time"), ("channels", "gbps")), heatmap=("batch", "channels"))
TRAFFIC = {"forward": 2, "train": 2, "eval": 2, "backward": 3}


def bytes_moved(pass_: str, shape: Shape, dtype: str) -> int:
    """Floor traffic: forward/train/eval read x and write y; backward reads x and dy and writes dx.
    Per-channel parameters and per-unit statistics are counted too (small next to the data)."""
    size, item = math.prod(shape), ITEMSIZE[dtype]
    channels = shape[1] if len(shape) > 1 else 1
    return TRAFFIC[pass_] * size * item + 4 * channels * item + 2 * shape[0] * channels * 4


BYTE_MODEL = ("forward/train/eval 2 x size (read x, write y), backward 3 x size (read x and dy, write dx), "
              "plus the per-channel parameters and per-unit statistics")


def bench_call(op: ChanOp, groups: int, backend: Any, pass_: str, shape: Shape, dtype: str, layout: str, seed: int = 0):
    """The call to time: a forward (InstanceNorm's train updates running statistics), eval, or
    backward from one untimed forward's statistics. GroupNorm uses ``groups`` groups."""
    rng = np.random.default_rng(seed)
    b, c = backend, shape[1]
    pdt = "float32" if dtype in HALF_DTYPES else dtype

    def native(a, dt):
        return b.from_numpy(to_layout(cast_host(a, dt), layout) if a.ndim > 2 else cast_host(a, dt), dt)

    x = native(rng.standard_normal(shape, dtype=np.float32), dtype)
    w, bias = native(rng.uniform(0.5, 1.5, c), pdt), native(rng.uniform(-1, 1, c), pdt)
    if op.grouped:
        fwd = b.kernel(op.name, "forward")
        run_fwd = lambda: fwd(x, groups, w, bias, eps=1e-5)  # noqa: E731
    else:
        rm, rv = native(np.zeros(c), pdt), native(np.ones(c), pdt)
        if pass_ == "eval":
            run_eval = b.kernel(op.name, "eval")
            return lambda: run_eval(x, w, bias, rm, rv, eps=1e-5)
        fwd = b.kernel(op.name, "train")
        run_fwd = lambda: fwd(x, w, bias, rm, rv, momentum=0.1, eps=1e-5)  # noqa: E731
    if pass_ in ("forward", "train"):
        return run_fwd
    stats = run_fwd()[1:]
    dy = native(rng.standard_normal(shape, dtype=np.float32), dtype)
    bwd = b.kernel(op.name, "backward")
    kw = eps_kwargs(bwd, 1e-5)
    if op.grouped:
        return lambda: bwd(dy, x, groups, w, bias, *stats, **kw)
    return lambda: bwd(dy, x, w, bias, *stats, **kw)


# -- property tests -------------------------------------------------------------------------------
def property_cases(op: ChanOp):
    """Random shapes, group counts, dtypes, layouts, parameters, momentum and data, in group ``property``."""
    from hypothesis import strategies as st

    @st.composite
    def cases(draw):
        rank = draw(st.integers(min(op.ranks), max(op.ranks)))
        per = draw(st.integers(1, 6))
        groups = draw(st.integers(1, 6)) if op.grouped else 0
        channels = per * groups if op.grouped else draw(st.integers(1, 12))
        spatial = tuple(draw(st.integers(1, 9)) for _ in range(rank - 2))
        shape = (draw(st.integers(1, 5)), channels) + spatial
        if (op.grouped and shape[0] * per * math.prod(spatial) == 1) or (not op.grouped and math.prod(spatial) == 1):
            shape = shape[:-1] + (2,) if rank > 2 else (2, channels)
        dtype = draw(st.sampled_from(["float64", "float32", "float16", "bfloat16"]))
        running = (not op.grouped) and draw(st.booleans())
        return Case(
            op.name, "property", shape, dtype=dtype, groups=groups,
            pdtype=draw(st.sampled_from(["same", "float32"])) if dtype in HALF_DTYPES else "same",
            layout=draw(st.sampled_from(LAYOUTS)) if rank > 2 else "contiguous",
            dy_layout=draw(st.sampled_from(LAYOUTS)) if rank > 2 else "",
            weight=draw(st.booleans()), bias=draw(st.booleans()), running=running,
            momentum=draw(st.sampled_from([0.0, 0.1, 0.5, 1.0])) if running else 0.1,
            eps=draw(st.sampled_from([1e-5, 1e-3])),
            param_layout=draw(st.sampled_from(["contiguous", "contiguous", "strided"])),
            data=drawable(draw(st.sampled_from(DRAWN_DATA)), dtype),
            seed=draw(st.integers(0, 2**16)),
        )

    return cases()
