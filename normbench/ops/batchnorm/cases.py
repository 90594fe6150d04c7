"""Conformance cases for batch norm: which configurations, which data, what to expect.

Each case is one scenario run against a backend: ``steps`` training forwards (checking y, the
saved statistics and the running statistics after every step), then an eval forward with the
running statistics reached, then a backward from the last step's saved statistics. Ids are
rendered by :class:`~normbench.conformance.case.CaseRecord` (``batchnorm/<group>/...``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ...conformance.case import HUGE, CaseRecord, fmt, unique_ids
from ...dtypes import DTYPES, cast_host, param_dtype, to_layout


NAME = "batchnorm"
PASSES: tuple[str, ...] = ("train", "eval", "backward")


@dataclass(frozen=True)
class Case(CaseRecord):
    group: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    layout: str = "contiguous"
    affine: bool = True
    running: bool = True
    momentum: float | None = 0.1
    eps: float = 1e-5
    steps: int = 2
    #: "normal", "offset" (1e4 + N(0,1)), "constant" (channel 0 constant), "nan"/"inf" (in channel 0),
    #: "large" (300 N(0,1) + 50: float16 sums of squares and of values overflow; accumulate in float32),
    #: "huge" (HUGE times the normal data: squares of x - mean overflow float32, the variance does not)
    data: str = "normal"
    #: "ok", "error" (training must raise), "empty" (zero-size batch)
    expect: str = "ok"
    seed: int = 0
    label: str = ""
    #: layout of dy ("" = x's layout), and of weight, bias, running and saved statistics ("strided":
    #: non-contiguous 1-D views; a kernel assuming every argument shares one layout is caught)
    dy_layout: str = ""
    param_layout: str = "contiguous"
    #: False: eval only (one value per channel is legal in eval, only training must raise)
    train: bool = True

    @property
    def param_dtype(self) -> str:
        """weight, bias and running statistics: float32 for half inputs (BN-SEMANTICS)."""
        return param_dtype(self.dtype)

    def tags(self) -> tuple[str, ...]:
        return (
            "" if self.affine else "noaffine",
            "" if self.running else "nostats",
            "" if self.momentum == 0.1 else f"momentum={fmt(self.momentum)}",
            "" if self.eps == 1e-5 else f"eps={fmt(self.eps)}",
            "" if self.data == "normal" else self.data,
            f"dy={self.dy_layout}" if self.dy_layout and self.dy_layout != self.layout else "",
            "params=strided" if self.param_layout == "strided" else "",
            "" if self.train else "evalonly",
            self.label,
        )

    @property
    def op(self) -> str:
        return NAME

    @property
    def passes(self) -> tuple[str, ...]:
        """The passes this case exercises (eval needs running statistics)."""
        if self.expect == "error":
            return ("train",)
        if not self.train:
            return ("eval",)
        return ("train", "eval", "backward") if self.running else ("train", "backward")


GROUPS = ("dtypes", "layouts", "options", "shapes", "blocks", "strided", "offset", "constant", "nonfinite", "overflow",
          "counts", "errors", "empty")


def invariance_probe(dtype: str, layout: str) -> Case:
    """The invariance probe (:mod:`normbench.conformance.invariance`): 16 samples of 6 channels of
    37 x 29 (16 x 1073 = 17168 values a channel, a length no vector width divides)."""
    return Case("invariance", (16, 6, 37, 29), dtype, layout, seed=43)


#: the passes whose per-sample results depend on the batch by definition
BATCH_COUPLED = {"train": "training normalizes with the batch's statistics: a sample's y depends on the batch",
                 "backward": "the training backward's dx goes through the batch's statistics"}


def all_cases() -> list[Case]:
    """The full conformance grid (about 120 cases, most tiny, a few of 128K elements; seconds per backend)."""
    cases: list[Case] = []
    rank_shapes = {2: (16, 6), 3: (4, 5, 9), 4: (4, 3, 5, 6), 5: (2, 3, 3, 4, 5)}
    for dtype in DTYPES:
        for rank, shape in rank_shapes.items():
            layouts = ("contiguous",) if rank == 2 else ("contiguous", "channels_last")
            for layout in layouts:
                group = "dtypes" if layout == "contiguous" else "layouts"
                cases.append(Case(group, shape, dtype, layout))
    base = Case("options", (4, 3, 5, 6))
    for layout in ("contiguous", "channels_last"):
        b = replace(base, layout=layout)
        cases += [
            replace(b, affine=False),
            replace(b, running=False),
            replace(b, affine=False, running=False),
            replace(b, momentum=0.5, steps=3),
            replace(b, momentum=None, steps=4),
            replace(b, eps=1e-3),
        ]
    # every argument at its edges: momentum exactly 0 (running stats unchanged) and 1 (the batch's
    # own), eps tiny and large
    for layout in ("contiguous", "channels_last"):
        cases += [replace(base, layout=layout, momentum=0.0), replace(base, layout=layout, momentum=1.0)]
    cases += [replace(base, dtype=d, momentum=0.0, steps=3) for d in ("float64", "float16")]
    # a tiny eps where it decides the result (a constant channel's 1/sqrt(eps)): a kernel that raises it
    # to a floor of its own is caught in every dtype that can hold it
    cases += [replace(base, group="constant", dtype=d, layout=lay, eps=1e-12, data="constant")
              for d, lay in (("float32", "contiguous"), ("float32", "channels_last"), ("float64", "contiguous"))]
    cases += [replace(base, dtype="float64", eps=1e-12), replace(base, eps=1.0), replace(base, dtype="float16", eps=1e-2)]
    # a large eps with running statistics: an eps folded into the stored running variance (or left
    # out of eval's) hides behind eps = 1e-5
    cases += [replace(base, dtype=d, layout=lay, eps=e) for e in (0.1, 1.0) for d, lay in
              (("float32", "channels_last"), ("float64", "contiguous"), ("float16", "contiguous"))]
    # arguments in different layouts: dy not in x's layout, parameters as non-contiguous views
    for x_l, dy_l in (("contiguous", "channels_last"), ("channels_last", "contiguous"), ("strided", "channels_last"),
                      ("channels_last", "strided")):
        cases.append(replace(base, group="layouts", layout=x_l, dy_layout=dy_l))
    # dy's memory independent of x's (pytorch#92671, #115940; quack#88): the first two axes swapped,
    # planes at a pitch and an offset, one gradient for every sample (stride 0 over the batch), and x
    # itself permuted or sliced
    for x_l, dy_l in (("contiguous", "permuted"), ("contiguous", "sliced"), ("contiguous", "broadcast"),
                      ("channels_last", "permuted"), ("channels_last", "broadcast"), ("permuted", "contiguous"),
                      ("sliced", "channels_last")):
        cases.append(replace(base, group="layouts", shape=(5, 3, 7, 6), layout=x_l, dy_layout=dy_l))
    cases += [replace(base, group="layouts", shape=(37, 6), dtype=d, dy_layout=dy_l)
              for d in ("float32", "float16") for dy_l in ("permuted", "broadcast")]
    for layout in ("contiguous", "channels_last"):
        cases.append(replace(base, group="layouts", layout=layout, param_layout="strided"))
    cases.append(replace(base, group="layouts", shape=(16, 6), param_layout="strided"))
    cases.append(replace(base, dtype="float64", momentum=None, steps=4))
    cases.append(replace(base, dtype="float16", momentum=0.5, steps=3))
    for half in ("float16", "bfloat16"):  # no float32 parameters to say "mixed precision"
        cases.append(replace(base, dtype=half, affine=False, running=False))
    shapes = [
        (2, 4, 3, 3), (3, 4, 3, 3), (7, 4, 3, 3), (16, 4, 3, 3),  # batch sizes from 2 up
        (6, 1, 4, 4),  # C = 1
        (8, 5, 1, 1),  # H = W = 1
        (1, 4, 6, 7),  # N = 1, spatial > 1
        (1, 3, 2, 3, 4),  # N = 1, 3-D spatial
        (2, 64, 3, 3),  # many channels
        (3, 5, 7, 11),  # odd sizes
        (2, 3),  # smallest valid 2-D batch
        (32, 8, 17),  # 1-D spatial, longer
        # 128K elements: past the sizes where a backend may switch to another (e.g. threaded) kernel
        (8192, 16),
        (16, 8, 1024),
        (8, 16, 32, 32),
        (512, 8, 7, 7),  # many short planes
        (4, 8, 8, 16, 16),
    ]
    for shape in shapes:
        layouts = ("contiguous", "channels_last") if len(shape) > 2 else ("contiguous",)
        for layout in layouts:
            cases.append(Case("shapes", shape, "float32", layout))
    # a channel's value count no multiple of any plausible block (97 and 1025 rows, 33 x 49, 5 x 257),
    # spanning several blocks, forward and backward, in every dtype: a kernel that keeps per-block
    # partial sums of m // BLOCK blocks while its grid covers cdiv(m, BLOCK) drops the last partial
    # block (attorch#18, llm.c#445)
    for dtype in DTYPES:
        cases += [Case("blocks", shape, dtype, layout) for shape, layout in
                  (((97, 6), "contiguous"), ((1025, 3), "contiguous"), ((33, 5, 7, 7), "contiguous"),
                   ((33, 5, 7, 7), "channels_last"), ((5, 3, 257), "contiguous"))]
    for dtype in ("float64", "float32"):
        for shape in ((4, 3, 9), (4, 3, 5, 6), (2, 3, 3, 4, 5)):
            cases.append(Case("strided", shape, dtype, "strided"))
    for dtype in ("float16", "bfloat16"):
        cases.append(Case("strided", (8, 3, 4, 6), dtype, "strided"))
    # |mean| >> std: catastrophic cancellation for one-pass E[x^2]-E[x]^2 in float32. The larger
    # channels_last shape is where PyTorch's CPU kernel loses accuracy (docs/semantics.md).
    for dtype in ("float64", "float32"):
        for layout in ("contiguous", "channels_last"):
            cases.append(Case("offset", (4, 3, 5, 6), dtype, layout, data="offset"))
            cases.append(Case("offset", (8, 16, 16, 16), dtype, layout, data="offset", steps=1))
            cases.append(Case("offset", (32, 16, 16, 16), dtype, layout, data="offset", steps=1))
        cases.append(Case("offset", (64, 5), dtype, "contiguous", data="offset"))
    for dtype in ("float64", "float32", "float16", "bfloat16"):
        for layout in ("contiguous", "channels_last"):
            cases.append(Case("constant", (4, 3, 5, 6), dtype, layout, data="constant"))
    for data in ("nan", "inf"):  # confined to channel 0, in several shapes and layouts
        for layout in ("contiguous", "channels_last"):
            cases.append(Case("nonfinite", (4, 3, 5, 6), "float32", layout, data=data, steps=1))
        cases.append(Case("nonfinite", (16, 6), "float32", data=data, steps=1))
        cases.append(Case("nonfinite", (4, 5, 9), "float64", "channels_last", data=data, steps=1))
    for dtype in ("float16", "bfloat16"):  # m = 2048 values of |x| ~ 300 per channel
        for layout in ("contiguous", "channels_last"):
            cases.append(Case("overflow", (8, 4, 16, 16), dtype, layout, data="large", steps=1))
    # float32 past its square range (pytorch #162489): a kernel must not square x - mean in float32
    for layout in ("contiguous", "channels_last"):
        cases.append(Case("overflow", (8, 4, 16, 16), "float32", layout, data="huge"))
    cases.append(Case("overflow", (64, 5), "float32", data="huge"))
    # m = 66560 values per channel in a half dtype (ExecuTorch PR #16727): a count (or 1/m) kept in
    # float16 is inf from 65520 values, and most channels' sums (shifted by up to +-2) pass 65504
    for dtype in ("float16", "bfloat16"):
        for layout in ("contiguous", "channels_last"):
            cases.append(Case("counts", (4, 2, 128, 130), dtype, layout, steps=1))
    cases.append(Case("counts", (4, 2, 128, 130), "float16", "strided", steps=1))
    for shape in ((1, 4), (1, 4, 1), (1, 4, 1, 1), (1, 4, 1, 1, 1)):
        cases.append(Case("errors", shape, "float32", expect="error", label="m=1"))
    # ... while eval with one value per channel is legal
    for shape in ((1, 4), (1, 4, 1, 1)):
        cases.append(Case("shapes", shape, "float32", train=False, label="m=1"))
    for shape in ((0, 4), (0, 4, 5, 6)):
        for running in (True, False):
            cases.append(Case("empty", shape, "float32", running=running, expect="empty", steps=1))
    return unique_ids(cases)


@dataclass
class CaseData:
    """Host inputs of one case, in the case's dtype (host representation) and layout."""

    xs: list[np.ndarray]  # one input per training step
    dy: np.ndarray
    weight: np.ndarray | None
    bias: np.ndarray | None
    running_mean: np.ndarray | None
    running_var: np.ndarray | None
    extra: dict = field(default_factory=dict)


def make_data(case: Case) -> CaseData:
    """Deterministic inputs for ``case``."""
    rng = case.rng()
    channels = case.shape[1]
    pdt = param_dtype(case.dtype)

    def host(a: np.ndarray, dtype: str) -> np.ndarray:
        return to_layout(cast_host(a, dtype), case.layout)

    xs = []
    for _ in range(case.steps):
        x = rng.standard_normal(case.shape)
        # per-channel scale and shift so channels differ (catches a mixed-up channel axis)
        shift = rng.uniform(-2, 2, channels)
        scale = rng.uniform(0.5, 3.0, channels)
        x = x * scale.reshape((1, -1) + (1,) * (case.rank - 2)) + shift.reshape((1, -1) + (1,) * (case.rank - 2))
        if case.data == "offset":
            x = 1e4 + rng.standard_normal(case.shape)
        elif case.data == "large":  # |x| ~ 300: squares overflow float16 (65504) long before m terms are summed
            x = 300.0 * rng.standard_normal(case.shape) + 50.0
        elif case.data == "huge":  # |x - mean| ~ 1e18-3e19: squared deviations overflow float32, y is O(1)
            x = HUGE * x
        elif case.data == "constant" and x.size:
            x[:, 0] = 1.5
        elif case.data == "nan" and x.size:
            x[0, 0].flat[0] = np.nan
        elif case.data == "inf" and x.size:
            x[0, 0].flat[0] = np.inf
        xs.append(host(x, case.dtype))
    dy = rng.standard_normal(case.shape)
    if case.dy_layout == "broadcast" and dy.size:  # one gradient for every sample: stride 0 over the batch
        dy = np.broadcast_to(dy[:1], case.shape).copy()
    dy = to_layout(cast_host(dy, case.dtype), case.dy_layout or case.layout)

    def cast(a: np.ndarray) -> np.ndarray:
        return to_layout(cast_host(a, pdt), case.param_layout)

    weight = cast(rng.uniform(0.5, 1.5, channels)) if case.affine else None
    bias = cast(rng.uniform(-1, 1, channels)) if case.affine else None
    running_mean = cast(rng.uniform(-0.5, 0.5, channels)) if case.running else None
    running_var = cast(rng.uniform(0.5, 2.0, channels)) if case.running else None
    return CaseData(xs, dy, weight, bias, running_mean, running_var)
