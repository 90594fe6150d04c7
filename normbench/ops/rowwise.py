"""What LayerNorm and RMSNorm share: both normalize each *row* over the trailing axes.

A row is one index of the leading axes; ``normalized_shape`` is the trailing ``k`` axes. This
module holds the machinery both ops' packages build their record from: the case record and its
data, the conformance grid, running a case against a backend and comparing each output with the
float64 reference, per-row tolerances, the benchmark axes (tokens x hidden), the byte model and
the property-test strategy. What differs (the formulas, the passes' parameters and saved
statistics, the dtype of those statistics) comes in a :class:`RowOp` from each op's package.

Passes, implemented by a backend as ``<op>_forward`` and ``<op>_backward``::

    <op>_forward(x, normalized_shape, *params, eps) -> (y, *stats)
    <op>_backward(dy, x, normalized_shape, *params, *stats) -> (dx, *param_grads)

``params`` are the op's parameters (LayerNorm: weight, bias; RMSNorm: weight), each None when
absent; a gradient of an absent parameter is None. ``stats`` have shape
``x.shape[:-k] + (1,) * k`` (as ``aten::native_layer_norm`` returns them).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..backend import eps_kwargs
from ..conformance.case import DRAWN_DATA, HUGE, CaseRecord, drawable, fmt, unique_ids
from ..conformance.spec import Arg, Out, Raises, Saved, Step
from ..dtypes import ITEMSIZE, MACHINE_EPS, cast_host, to_layout
from ..errors import InputError
from ..hostapi import Call, check_eps, check_grad, input_dtype, params_dtype, pass_of, stats_or_reference
from ..opinfo import Grid, PlotSpec, Shape, parse_sizes

PASSES: tuple[str, ...] = ("forward", "backward")
LAYOUTS: tuple[str, ...] = ("contiguous", "strided")
RANKS: tuple[int, ...] = (1, 2, 3, 4)
#: the memory layouts the property strategy draws for x and dy (each a kind of "strided" but contiguous)
DRAWN_LAYOUTS: tuple[str, ...] = ("contiguous", "strided", "permuted", "sliced")
GROUPS = ("dtypes", "options", "axes", "shapes", "blocks", "sizes", "layouts", "gradlayouts", "offset", "constant",
          "nonfinite", "overflow", "counts", "errors", "empty")


@dataclass(frozen=True)
class RowOp:
    """The op-specific part of a row-wise norm (filled in by the layernorm and rmsnorm packages)."""

    name: str
    #: parameter names, in call order ("weight", "bias") or ("weight",)
    params: tuple[str, ...]
    #: saved statistic names, in return order ("mean", "rstd") or ("rrms",)
    stats: tuple[str, ...]
    #: float64 reference: (x, normalized_shape, params dict, eps) -> (y, stats dict)
    forward: Callable[..., tuple[np.ndarray, dict[str, np.ndarray]]]
    #: float64 reference: (dy, x, normalized_shape, params dict, eps) -> (dx, grads dict)
    backward: Callable[..., tuple[np.ndarray, dict[str, np.ndarray]]]
    #: dtype of the saved statistics for (input dtype, parameter dtype or None)
    stat_dtype: Callable[[str, str | None], str]
    #: allowed eps values in the cases (None: the op's default from the dtype)
    eps_values: tuple[float | None, ...] = (1e-5,)
    #: mean is subtracted (LayerNorm): cancellation matters, statistics include the mean
    centered: bool = True
    #: the eps a kernel uses for the eps argument and input dtype (RMSNorm's None is the dtype's)
    resolve_eps: Callable[[float | None, str], float] = lambda eps, dtype: eps


# -- cases --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case(CaseRecord):
    norm: str
    group: str
    shape: tuple[int, ...]
    #: how many trailing axes are normalized
    k: int = 1
    dtype: str = "float32"
    #: dtype of weight/bias: "same" as the input, or "float32" (mixed precision, half inputs)
    pdtype: str = "same"
    #: x's memory: contiguous, strided, permuted or sliced (dtypes.ARRAY_LAYOUTS)
    layout: str = "contiguous"
    #: dy's memory, independent of x's: also broadcast (stride 0 over the leading axes)
    dy_layout: str = "contiguous"
    #: the parameters' memory, and the saved statistics' backward takes: contiguous, strided or sliced
    param_layout: str = "contiguous"
    weight: bool = True
    #: None for an op without a bias (RMSNorm)
    bias: bool | None = True
    eps: float | None = 1e-5
    #: "normal", "offset" (1e4 + N(0,1)), "constant" (row 0), "nan"/"inf" (in row 0), "large" (300 N(0,1)),
    #: "huge" (HUGE times the normal data: squares of x - mean overflow float32),
    #: "tiny" (1e-3 N(0,1), where eps matters)
    data: str = "normal"
    #: "ok", "error" (the backend must raise), "empty" (no rows)
    expect: str = "ok"
    #: for expect="error": "normalized_shape" (does not match x) or "weight" (wrong shape)
    bad: str = ""
    seed: int = 0

    @property
    def op(self) -> str:
        return self.norm

    @property
    def normalized_shape(self) -> tuple[int, ...]:
        return self.shape[self.rank - self.k:]

    @property
    def param_dtype(self) -> str:
        return self.dtype if self.pdtype == "same" else self.pdtype

    @property
    def passes(self) -> tuple[str, ...]:
        return ("forward",) if self.expect == "error" else PASSES

    def tags(self) -> tuple[str, ...]:
        return (
            "" if self.dy_layout == self.layout else f"dy={self.dy_layout}",
            "" if self.param_layout == "contiguous" else f"params={self.param_layout}",
            "" if self.k == 1 else f"k={self.k}",
            "" if self.weight else "noweight",
            "nobias" if self.bias is False else "",
            "" if self.eps == 1e-5 else f"eps={fmt(self.eps)}",
            "" if self.data == "normal" else self.data,
            f"bad-{self.bad}" if self.bad else "",
        )


def invariance_probe(op: RowOp, dtype: str, layout: str) -> Case:
    """The invariance probe (:mod:`normbench.conformance.invariance`): 256 rows of 4099 values, a
    prime no vector width or block size divides, so that a kernel whose summation order follows
    the number of rows or threads shows it; dy in the same layout."""
    return Case(op.name, "invariance", (256, 4099), dtype=dtype, layout=layout, dy_layout=layout,
                bias=True if "bias" in op.params else None, eps=op.eps_values[0], seed=43)


#: what an error must name, per wrong argument (not just "shape": any shape error has that word)
BAD_WORDS = {"normalized_shape": ("normalized_shape",), "weight": ("weight",)}


def all_cases(op: RowOp) -> list[Case]:
    """The conformance grid of a row-wise op (about 90 cases, most tiny; seconds per backend)."""
    has_bias = "bias" in op.params
    base = Case(op.name, "dtypes", (16, 32), bias=True if has_bias else None, eps=op.eps_values[0])
    cases: list[Case] = []
    for dtype in ("float64", "float32", "float16", "bfloat16"):
        for shape in ((16, 32), (4, 8, 64)):
            cases.append(replace(base, shape=shape, dtype=dtype))
        if dtype in ("float16", "bfloat16"):  # mixed precision: float32 parameters
            cases.append(replace(base, shape=(4, 8, 64), dtype=dtype, pdtype="float32"))
    opt = replace(base, group="options", shape=(6, 48))
    cases += [replace(opt, k=2, shape=(3, 6, 8)), replace(opt, k=3, shape=(2, 3, 4, 5))]
    # every optional-parameter combination (weight only, bias only, neither) in every dtype and
    # both layouts: a bias without a weight is a code path of its own in most kernels
    combos = ((True, False), (False, True), (False, False)) if has_bias else ((False, None),)
    cases += [replace(opt, shape=(7, 45), dtype=d, layout=lay, dy_layout=lay, weight=w, bias=b)
              for d in ("float64", "float32", "float16", "bfloat16") for lay in ("contiguous", "strided")
              for w, b in combos]
    cases += [replace(opt, eps=e, dtype=d) for e in op.eps_values[1:] for d in ("float32", "float64", "float16")]
    # rows of |x| ~ 1e-3: mean squares ~ 1e-6, where the value of eps decides the result (eps=None
    # taken as 1e-5 or 1e-6 instead of the dtype's machine epsilon is a classic RMSNorm bug)
    cases += [replace(opt, eps=e, dtype=d, data="tiny") for e in op.eps_values for d in ("float32", "float16")]
    # normalized_shape over 2 and 3 trailing axes of distinct sizes, in every dtype, both layouts,
    # with size-1 axes, without a weight, and with special data: a backend that flattens, orders or
    # broadcasts those axes (or its weight) wrongly is caught in many cases, not two
    ax = replace(base, group="axes", shape=(3, 6, 8), k=2)
    cases += [replace(ax, dtype=d) for d in ("float64", "float32", "bfloat16")]
    cases.append(replace(ax, dtype="float16", pdtype="float32"))
    cases += [replace(ax, shape=(5, 7, 3), layout="strided", dy_layout="strided"),
              replace(ax, shape=(4, 1, 7)), replace(ax, shape=(2, 5, 1, 3), k=3), replace(ax, shape=(2, 3, 4, 5), k=3,
                                                                                           dtype="float64"),
              replace(ax, shape=(2, 3, 4, 5), k=3, layout="strided", dy_layout="contiguous"),
              replace(ax, weight=False, bias=False if has_bias else None), replace(ax, shape=(6, 4, 9), data="constant"),
              replace(ax, shape=(6, 4, 9), data="nan"), replace(ax, shape=(6, 4, 9), data="offset", dtype="float64")]
    shapes = [(7,), (5, 1), (5, 2), (3, 3), (1, 24), (9, 7), (2, 16, 128), (4, 1024), (8, 4, 4, 40),
              # long rows: sequential float32 sums drift; past a backend's switch to blocked kernels
              (4, 65536), (2, 131072), (4096, 32),
              # many rows: sums over rows (dweight, dbias) of 65536 terms drift in float32
              (65536, 8)]
    cases += [replace(base, group="shapes", shape=s) for s in shapes]
    # row counts that are no multiple of any plausible block (a prime, 2^k + 1, 3 x 43), spanning
    # several blocks, forward and backward, in every dtype: a kernel that sums dweight/dbias over
    # blocks of rows into a buffer of M // BLOCK partial sums drops the last partial block while its
    # grid covers cdiv(M, BLOCK) (attorch#18, llm.c#445); the same for row-blocked forwards
    for dtype in ("float64", "float32", "float16", "bfloat16"):
        cases += [replace(base, group="blocks", shape=s, dtype=dtype) for s in ((97, 33), (1025, 17), (3, 43, 65))]
        if dtype in ("float16", "bfloat16"):
            cases.append(replace(base, group="blocks", shape=(1025, 17), dtype=dtype, pdtype="float32"))
    # normalized sizes 2^k +- 1 and primes: a vectorized row loop's remainder (tail) handling
    cases += [replace(base, group="sizes", shape=s, dtype=d, k=len(s) - 1 if len(s) > 2 else 1)
              for s in ((5, 127), (6, 129), (3, 1023), (3, 1025), (2, 4099), (3, 31, 33))
              for d in ("float32", "float16")]
    for dtype in ("float32", "float64", "bfloat16"):
        cases.append(replace(base, group="layouts", shape=(6, 40), dtype=dtype, layout="strided", dy_layout="strided"))
    cases.append(replace(base, group="layouts", shape=(2, 6, 40), layout="strided", dy_layout="contiguous"))
    cases.append(replace(base, group="layouts", shape=(2, 6, 40), layout="contiguous", dy_layout="strided"))
    # dy's memory independent of x's (quack#88; pytorch#92671, #115940): a transposed gradient
    # (sequence-first against batch-first), rows at a pitch and an offset, a gradient broadcast
    # with stride 0 (what (y * c).sum().backward() hands a backward), and the parameters strided or
    # sliced; 185 rows, so a block-of-rows kernel meets a partial block as well
    grad = replace(base, group="gradlayouts", shape=(5, 37, 65))
    pairs = (("contiguous", "permuted"), ("contiguous", "sliced"), ("contiguous", "broadcast"), ("permuted", "contiguous"),
             ("sliced", "contiguous"), ("permuted", "sliced"), ("strided", "broadcast"), ("sliced", "permuted"))
    for dtype in ("float32", "float16"):
        cases += [replace(grad, dtype=dtype, layout=x_l, dy_layout=dy_l) for x_l, dy_l in pairs]
        cases += [replace(grad, dtype=dtype, param_layout=p_l) for p_l in ("strided", "sliced")]
    cases += [replace(grad, dtype="float64", param_layout="strided"),
              replace(grad, layout="permuted", dy_layout="broadcast", param_layout="strided")]
    cases += [replace(grad, shape=(97, 65), dtype="float64", layout=x_l, dy_layout=dy_l)
              for x_l, dy_l in (("contiguous", "permuted"), ("contiguous", "broadcast"), ("permuted", "contiguous"))]
    for dtype in ("float32", "float64"):
        cases += [replace(base, group="offset", shape=s, dtype=dtype, data="offset") for s in ((8, 64), (4, 8192), (64, 2))]
    for dtype in ("float64", "float32", "float16", "bfloat16"):
        cases.append(replace(base, group="constant", shape=(4, 96), dtype=dtype, data="constant"))
    for data in ("nan", "inf"):  # confined to row 0, in several shapes and layouts
        cases.append(replace(base, group="nonfinite", shape=(4, 96), data=data))
        cases.append(replace(base, group="nonfinite", shape=(3, 5, 33), data=data, layout="strided", dy_layout="strided"))
    cases.append(replace(base, group="nonfinite", shape=(2, 4096), data="inf", dtype="float64"))
    # squares of |x| ~ 300 overflow float16 (max 65504): accumulate in float32 or fail
    for pdtype in ("same", "float32"):
        cases.append(replace(base, group="overflow", shape=(4, 1024), dtype="float16", pdtype=pdtype, data="large"))
    # float32 past its square range (pytorch #162489): a kernel must not square x - mean in float32
    cases += [replace(base, group="overflow", shape=s, k=k, data="huge") for s, k in (((4, 1024), 1), ((16, 4, 64), 2))]
    # rows of more than 65504 values in a half dtype (ExecuTorch PR #16727): a count (or 1/count) kept
    # in float16 is inf from 65520 values, and most rows' sums (shifted by up to +-2) pass 65504
    cases += [replace(base, group="counts", shape=(2, 66560), dtype=d) for d in ("float16", "bfloat16")]
    cases.append(replace(base, group="counts", shape=(3, 65537), dtype="float16", layout="strided", dy_layout="strided"))
    cases.append(replace(base, group="counts", shape=(2, 260, 256), k=2, dtype="float16", pdtype="float32",
                         layout="strided", dy_layout="strided"))
    # without parameters too: a backend that checks normalized_shape only against the weight's shape
    # would accept it, and normalize the wrong axes
    cases.append(replace(base, group="errors", shape=(4, 8), expect="error", bad="normalized_shape", weight=False,
                         bias=None if base.bias is None else False))
    cases += [replace(base, group="errors", shape=(4, 8), expect="error", bad="normalized_shape"),
              replace(base, group="errors", shape=(4, 8), expect="error", bad="weight")]
    cases += [replace(base, group="empty", shape=s, expect="empty") for s in ((0, 8), (2, 0, 8))]
    return unique_ids(cases)


@dataclass
class CaseData:
    x: np.ndarray
    dy: np.ndarray
    params: dict[str, np.ndarray | None] = field(default_factory=dict)


def make_data(case: Case, params: Sequence[str]) -> CaseData:
    """Deterministic host inputs of ``case`` (rows differ in scale and shift, to catch an axis mix-up)."""
    rng = case.rng()
    rows = math.prod(case.shape[:case.rank - case.k])
    lead = case.shape[:case.rank - case.k] + (1,) * case.k
    x = rng.standard_normal(case.shape)
    x = x * rng.uniform(0.5, 3.0, rows).reshape(lead) + rng.uniform(-2, 2, rows).reshape(lead)
    first = (0,) * (case.rank - case.k)  # row 0
    if case.data == "offset":
        x = 1e4 + rng.standard_normal(case.shape)
    elif case.data == "tiny":
        x = 1e-3 * rng.standard_normal(case.shape)
    elif case.data == "large":
        x = 300.0 * rng.standard_normal(case.shape)
    elif case.data == "huge":  # |x - mean| ~ 1e18-3e19: squared deviations overflow float32, y is O(1)
        x = HUGE * x
    elif case.data == "constant" and x.size:
        x[first] = 1.5
    elif case.data in ("nan", "inf") and x.size:
        x[first].flat[0] = np.nan if case.data == "nan" else np.inf
    ns = case.normalized_shape
    values = {"weight": rng.uniform(0.5, 1.5, ns) if case.weight else None,
              "bias": rng.uniform(-1, 1, ns) if case.bias else None}
    pdt = case.param_dtype
    out = {p: (None if values[p] is None else to_layout(cast_host(values[p], pdt), case.param_layout)) for p in params}
    dy = rng.standard_normal(case.shape)
    if case.dy_layout == "broadcast":  # one gradient row for every row: stride 0 over the leading axes
        dy = np.broadcast_to(dy[first + (Ellipsis,)] if dy.size else dy, case.shape).copy()
    return CaseData(to_layout(cast_host(x, case.dtype), case.layout),
                    to_layout(cast_host(dy, case.dtype), case.dy_layout), out)


# -- validation (shared by the reference and by backends that want clear errors) ----------------
def validate(x: Any, normalized_shape: Sequence[int], params: Mapping[str, Any], op: str) -> tuple[int, ...]:
    """Raise InputError naming the problem when ``normalized_shape`` or a parameter does not fit ``x``."""
    ns = tuple(int(n) for n in normalized_shape)
    shape = tuple(x.shape)
    if not ns or len(ns) > len(shape) or shape[len(shape) - len(ns):] != ns:
        raise InputError(f"{op}: normalized_shape {list(ns)} does not match the trailing axes of input "
                         f"of shape {list(shape)}")
    for name, value in params.items():
        if value is not None and tuple(value.shape) != ns:
            raise InputError(f"{op}: {name} has shape {list(value.shape)}, expected normalized_shape {list(ns)}")
    return ns


def row_axes(ndim: int, k: int) -> tuple[int, ...]:
    return tuple(range(ndim - k, ndim))


# -- per-row tolerances ---------------------------------------------------------------------------
def _finite(a: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(a), a, 0.0)


def row_rms(a: np.ndarray, k: int) -> np.ndarray:
    if a.size == 0:
        return np.zeros(a.shape[:a.ndim - k] + (1,) * k)
    f = _finite(a)
    return np.sqrt(np.mean(f * f, axis=row_axes(a.ndim, k), keepdims=True))


def row_absmax(a: np.ndarray, k: int) -> np.ndarray:
    if a.size == 0:
        return np.zeros(a.shape[:a.ndim - k] + (1,) * k)
    return np.max(np.abs(_finite(a)), axis=row_axes(a.ndim, k), keepdims=True)


def over_rows_l2(a: np.ndarray, k: int) -> np.ndarray:
    """L2 norm over the leading axes (the scale of a sum over rows), shape normalized_shape."""
    f = _finite(a)
    return np.sqrt(np.sum(f * f, axis=tuple(range(a.ndim - k))))


def plan(op: RowOp, case: Case, passes: tuple[str, ...]) -> list[Step]:
    """The checker's steps for ``case``: forward, then backward from the forward's statistics
    (or the reference's, when the forward did not run or kept them)."""
    data = make_data(case, op.params)
    k, ns, dtype, pdt, shape = case.k, case.normalized_shape, case.dtype, case.param_dtype, case.shape
    has_w = data.params.get("weight") is not None
    sdt = op.stat_dtype(dtype, pdt if any(v is not None for v in data.params.values()) else None)
    stat_shape = shape[:case.rank - k] + (1,) * k
    p64 = {p: None if v is None else np.asarray(v, np.float64) for p, v in data.params.items()}
    x64 = np.asarray(data.x, np.float64)
    eps = case.eps
    ref_y, ref_stats = op.forward(x64, ns, p64, eps, dtype)
    w_abs = np.max(np.abs(p64["weight"])) if has_w else 1.0
    # |x| / std (LayerNorm) or |x| * rrms (RMSNorm) per row: how much a rounding of x is magnified
    inv = ref_stats[op.stats[-1]]
    cond = row_absmax(x64, k) * np.nan_to_num(inv, posinf=0.0)
    ok = case.expect == "ok"
    steps: list[Step] = []

    if "forward" in passes:
        params = [Arg(p, data.params[p], pdt) for p in op.params]
        call_ns = ns
        if case.bad == "normalized_shape":
            call_ns = (ns[-1] + 1,)
        elif case.bad == "weight":
            params[0] = Arg("weight", cast_host(np.ones(ns[-1] + 1), pdt), pdt)
        raises = None
        if case.expect == "error":
            words = BAD_WORDS.get(case.bad, ())
            raises = Raises(f"{case.bad} does not fit input of shape {list(shape)}", words)
        outs = [Out("y", dtype, shape, ref_y, scale=row_rms(ref_y, k), cond_err=cond * w_abs, checked=raises is None)]
        for name in op.stats:
            ref = ref_stats[name]
            if name == "mean":
                scale, cond_err = np.sqrt(np.maximum(ref_stats["var"], 0.0)), row_absmax(x64, k)
            else:  # an inverse root of a mean of squares: relative error, magnified by cancellation
                scale, cond_err = 0.0, ref * (1 + MACHINE_EPS[sdt] * cond**2) if op.centered else ref
            outs.append(Out(name, sdt, stat_shape, ref, scale=scale, cond_err=cond_err, stat=True, checked=ok))
        steps.append(Step("forward", "forward", (Arg("x", data.x, dtype), call_ns, *params), {"eps": eps},
                          returns=tuple(outs), raises=raises))
    if case.expect == "error":
        return steps

    if "backward" in passes:
        dy64 = np.asarray(data.dy, np.float64)
        dx_ref, grads = op.backward(dy64, x64, ns, p64, eps, dtype)
        inv0 = np.nan_to_num(inv, posinf=0.0)
        dx_scale = np.maximum(w_abs * inv0 * row_rms(dy64, k), row_rms(dx_ref, k))
        cond_max = float(np.max(cond)) if cond.size else 0.0
        outs = [Out("dx", dtype, shape, dx_ref, scale=dx_scale, cond_err=cond * dx_scale)]
        for p in op.params:
            if data.params[p] is None:
                outs.append(Out(f"d{p}", absent=True))
                continue
            terms = grads[f"terms_{p}"]  # the summed terms, for the scale of the sum's rounding
            outs.append(Out(f"d{p}", pdt, ns, grads[p], scale=over_rows_l2(terms, k),
                            cond_err=cond_max * over_rows_l2(dy64, k) if p == "weight" else 0.0))
        saved = tuple(Saved(name, "forward", i, ref_stats[name], sdt, case.param_layout)
                      for i, name in enumerate(op.stats, start=1))
        steps.append(Step("backward", "backward", (Arg("dy", data.dy, dtype), Arg("x", data.x, dtype), ns,
                                                   *(Arg(p, data.params[p], pdt) for p in op.params), *saved),
                          declared_kwargs={"eps": eps}, returns=tuple(outs)))
    return steps


# -- benchmarks -----------------------------------------------------------------------------------
AXES = ("tokens", "hidden")
STANDARD_SHAPES: tuple[Shape, ...] = ((8192, 1024), (2048, 4096), (4, 1024, 4096), (16384, 768), (1024, 8192))


def make_shape(tokens: int, hidden: int) -> Shape:
    return (tokens, hidden)


def axes_of(shape: Shape) -> dict[str, int]:
    """tokens = every row (batch x tokens for 3-D input), hidden = the last axis."""
    return {"tokens": math.prod(shape[:-1]), "hidden": shape[-1]}


def sweep_shape(values: Mapping[str, int]) -> Shape:
    missing = [a for a in AXES if a not in values]
    if missing:
        raise InputError(f"a row-norm sweep needs tokens and hidden; missing {', '.join(missing)}")
    if min(values["tokens"], values["hidden"]) < 1:
        raise InputError(f"tokens and hidden must be positive, got tokens={values['tokens']} hidden={values['hidden']}")
    return make_shape(values["tokens"], values["hidden"])


def parse_shape(text: str) -> Shape:
    shape = parse_sizes(text)
    if not 1 <= len(shape) <= 4:
        raise InputError(f"malformed shape {text!r}: expected 1 to 4 positive sizes (..., hidden)")
    return shape


def layouts_for(shape: Shape, layouts: Sequence[str]) -> list[str]:
    return [lay for lay in layouts if lay in LAYOUTS] or ["contiguous"]


def _grid(tokens=(), hidden=(), dtypes=("float32",), extra=(), max_elements=2**26) -> Grid:
    return Grid(axes=(("tokens", tokens), ("hidden", hidden)), make_shape=make_shape, dtypes=dtypes,
                layouts=("contiguous",), extra_shapes=extra, max_elements=max_elements)


GRIDS = {
    # a first look (normbench run's default): a small call and a large one at an LLM's hidden size;
    # 0.13's third shape, 8192 x 1024, cost a third of the quick benchmarks (8M elements a process)
    # and told little that 2048 x 4096 does not; --grid standard has the token and hidden sweeps
    "quick": _grid((256,), (1024,), extra=((2048, 4096),)),
    "standard": _grid(extra=STANDARD_SHAPES),
    "smoke": _grid((4, 16), (8, 32)),
    # up to 65536 tokens and hidden 16384, within memory: at most 2^27 elements (512 MB float32)
    "full": _grid((128, 1024, 8192, 65536), (256, 1024, 4096, 16384), dtypes=("float32", "float64", "bfloat16"),
                  extra=STANDARD_SHAPES, max_elements=2**27),
}
PLOTS = PlotSpec(lines=(("tokens", "time"), ("hidden", "gbps")), heatmap=("tokens", "hidden"))


def bytes_moved(op: RowOp, pass_: str, shape: Shape, dtype: str) -> int:
    """Floor traffic: forward reads x, writes y; backward reads x and dy, writes dx; plus the
    parameters (read once, and their gradients written once in backward) and the saved statistics."""
    size, hidden = math.prod(shape), shape[-1]
    rows = size // hidden if hidden else 0
    item, n_params = ITEMSIZE[dtype], len(op.params)
    stats = rows * len(op.stats) * 4
    if pass_ == "forward":
        return 2 * size * item + n_params * hidden * item + stats
    return 3 * size * item + 2 * n_params * hidden * item + stats


def byte_model(op: RowOp) -> str:
    return (f"forward 2 x size (read x, write y), backward 3 x size (read x and dy, write dx), plus "
            f"{'/'.join(op.params)} reads (and gradient writes) and the saved {'/'.join(op.stats)}")


def bench_call(op: RowOp, backend: Any, pass_: str, shape: Shape, dtype: str, layout: str, seed: int = 0):
    """The call to time: forward, or backward from one untimed forward's statistics."""
    rng = np.random.default_rng(seed)
    b, ns = backend, (shape[-1],)

    def native(a, dt):
        return b.from_numpy(to_layout(cast_host(a, dt), layout) if a.ndim > 1 else cast_host(a, dt), dt)

    x = native(rng.standard_normal(shape, dtype=np.float32), dtype)
    values = {"weight": rng.uniform(0.5, 1.5, ns), "bias": rng.uniform(-1, 1, ns)}
    params = [native(values[p], dtype) for p in op.params]
    forward = b.kernel(op.name, "forward")
    eps = op.eps_values[0]
    if pass_ == "forward":
        return lambda: forward(x, ns, *params, eps=eps)
    stats = forward(x, ns, *params, eps=eps)[1:]
    dy = native(rng.standard_normal(shape, dtype=np.float32), dtype)
    backward = b.kernel(op.name, "backward")
    kw = eps_kwargs(backward, eps)
    return lambda: backward(dy, x, ns, *params, *stats, **kw)


# -- property tests -----------------------------------------------------------------------------
def property_cases(op: RowOp):
    """Random shapes, k, dtypes, parameters, eps, layouts and data, each a Case in group ``property``."""
    from hypothesis import strategies as st

    @st.composite
    def cases(draw):
        rank = draw(st.integers(1, 4))
        shape = tuple(draw(st.integers(1, 7)) for _ in range(rank - 1)) + (draw(st.integers(1, 300)),)
        k = draw(st.integers(1, min(rank, 2)))
        dtype = draw(st.sampled_from(["float64", "float32", "float16", "bfloat16"]))
        case = Case(
            op.name, "property", shape, k=k, dtype=dtype,
            pdtype=draw(st.sampled_from(["same", "float32"])) if dtype in ("float16", "bfloat16") else "same",
            layout=draw(st.sampled_from(DRAWN_LAYOUTS)) if rank > 1 else "contiguous",
            dy_layout=draw(st.sampled_from(DRAWN_LAYOUTS + ("broadcast",))) if rank > 1 else "contiguous",
            param_layout=draw(st.sampled_from(("contiguous", "contiguous", "strided", "sliced"))),
            weight=draw(st.booleans()), bias=draw(st.booleans()) if "bias" in op.params else None,
            eps=draw(st.sampled_from(op.eps_values)),
            data=drawable(draw(st.sampled_from(DRAWN_DATA)), dtype),
            seed=draw(st.integers(0, 2**16)),
        )
        if dtype == "float16" and case.eps is not None and case.eps < 1e-9:
            # a constant row's 1/sqrt(eps) overflows a float16 saved statistic (the API's choice of
            # dtype, torch's too), and the backward from an inf statistic is NaN: no finding there
            case = replace(case, eps=op.eps_values[0])
        return case

    return cases()


# -- host-level calls (the ops' api modules) -------------------------------------------------------------
def check_rows(op: RowOp, opinfo: Any, input, normalized_shape, params: dict, eps, *, allow_none_eps: bool = False):
    dtype = input_dtype(input)
    if isinstance(normalized_shape, (int, np.integer)):
        normalized_shape = (int(normalized_shape),)
    try:
        ns = tuple(int(n) for n in normalized_shape)
    except (TypeError, ValueError):
        raise InputError(f"{op.name}: normalized_shape must be a sequence of ints, got {normalized_shape!r}") from None
    pdt = params_dtype(dtype, **params)
    validate(input, ns, params, op.name)
    check_eps(eps, allow_none_eps)
    return dtype, ns, pdt


def row_forward(op, opinfo, input, ns, params: dict, dtype, pdt, eps, c: Call):
    fwd = pass_of(c.b, opinfo, "forward", dtype, input)
    n_params = [c.to(params[p], pdt or dtype) for p in op.params]
    n_x = c.to(input, dtype)
    out = fwd(n_x, ns, *n_params, eps=eps)
    return n_x, n_params, out


def row_backward(op, opinfo, grad_output, input, ns, params: dict, eps, backend, allow_none_eps=False):
    dtype, ns, pdt = check_rows(op, opinfo, input, ns, params, eps, allow_none_eps=allow_none_eps)
    check_grad(grad_output, input)
    c = Call(backend)
    bwd = pass_of(c.b, opinfo, "backward", dtype, input)
    n_x, n_params, out = row_forward(op, opinfo, input, ns, params, dtype, pdt, eps, c)
    sdt = op.stat_dtype(dtype, pdt)
    def reference():
        p64 = {p: None if v is None else np.asarray(v, np.float64) for p, v in params.items()}
        _, ref = op.forward(np.asarray(input, np.float64), ns, p64, eps, dtype)
        return [ref[s] for s in op.stats]

    stats = stats_or_reference(c, out[1:], reference, sdt)
    grads = bwd(c.to(grad_output, dtype), n_x, ns, *n_params, *stats, **eps_kwargs(bwd, eps))
    c.done()
    return (c.back(grads[0]),) + tuple(None if params[p] is None else c.back(g) for p, g in zip(op.params, grads[1:]))
