"""The op record, in the spirit of PyTorch's OpInfo: one object holds everything about an op.

An *op* is a normalization (BatchNorm, LayerNorm, ...). Each op lives in one package
under ``normbench/ops/<op>/`` and exposes one :class:`OpInfo`, registered through the
``normbench_ops`` hook exactly like backends are (so a third party can add an op too). The
check runner, bench, asv suite, report, plots, CLI and pytest suite only iterate over these
records: they name no op, no op's arguments and no op's axes.

A *pass* is one entry point of an op (BatchNorm: train, eval, backward; LayerNorm: forward,
backward). A backend implements pass ``p`` of op ``o`` as method ``o_p``.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from .errors import InputError
from .results import CaseResult

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Grid:
    """A benchmark grid of one op: the product of its axis values, plus named extra shapes."""

    #: (axis, values) pairs in the op's axis order; their product gives shapes via ``make_shape``
    axes: tuple[tuple[str, tuple[int, ...]], ...]
    make_shape: Callable[..., Shape]
    dtypes: tuple[str, ...]
    layouts: tuple[str, ...]
    extra_shapes: tuple[Shape, ...] = ()
    #: shapes above this many elements are skipped (the full grid must fit in memory)
    max_elements: int = 2**26

    def shapes(self) -> list[Shape]:
        names = [a for a, _ in self.axes]
        values = [v for _, v in self.axes]
        out = [self.make_shape(**dict(zip(names, combo))) for combo in itertools.product(*values)] if all(values) else []
        out += [s for s in self.extra_shapes if s not in out]
        return [s for s in dict.fromkeys(out) if math.prod(s) <= self.max_elements]

    def axis_values(self, axis: str) -> tuple[int, ...]:
        return dict(self.axes).get(axis, ())


@dataclass(frozen=True)
class PlotSpec:
    """Which report plots an op gets, in terms of its own axes."""

    #: (x axis, metric) line plots; metric is "time" or "gbps". The other axes are held at
    #: their most common values.
    lines: tuple[tuple[str, str], ...] = ()
    #: (row axis, column axis) of the speed-up heatmaps, or None
    heatmap: tuple[str, str] | None = None


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one record per op
class OpInfo:
    """Everything the harness needs to know about one op; every built-in op package has one."""

    name: str
    title: str
    #: the op's passes, in the order reports list them
    passes: tuple[str, ...]
    #: vocabulary a backend's Support is checked against
    dtypes: tuple[str, ...]
    layouts: tuple[str, ...]
    ranks: tuple[int, ...]
    #: conformance: case groups, every case (ids start with "<name>/"), and the calls that check
    #: one: ``plan(case, passes)`` -> list of :class:`normbench.conformance.spec.Step` for the passes
    #: the backend supports (the op's references, data and tolerances; the checker does the rest)
    case_groups: tuple[str, ...]
    cases: Callable[[], list]
    plan: Callable[[Any, tuple[str, ...]], list]
    #: hypothesis strategy of random cases (checked like the others), or None
    property_cases: Callable[[], Any] | None
    #: benchmarks: grids by name ("quick", "standard", "full", "smoke"), the axes of a shape
    grids: Mapping[str, Grid]
    axes: tuple[str, ...]
    axes_of: Callable[[Shape], dict[str, int]]
    #: shape from axis values given on the command line (a sweep); InputError if incomplete
    sweep_shape: Callable[[Mapping[str, int]], Shape]
    parse_shape: Callable[[str], Shape]
    #: the layouts that exist for a shape (e.g. a 2-D input has only one)
    layouts_for: Callable[[Shape, Sequence[str]], list[str]]
    #: untimed set-up of one pass on a backend; returns the call to time
    bench_call: Callable[[Any, str, Shape, str, str, int], Callable[[], Any]]
    #: minimum bytes a pass moves, and a sentence saying so for reports
    bytes_moved: Callable[[str, Shape, str], int]
    byte_model: str
    plots: PlotSpec = field(default_factory=PlotSpec)
    #: the suite's power: wrong backends of this op, one per bug class (``normbench selftest``
    #: checks each is caught by at least three cases); each has ``name`` and ``bug``
    mutants: Callable[[], Sequence[Any]] | None = None
    #: inputs of this rank or lower have one memory layout (checked as contiguous)
    layout_rank: int = 1
    #: invariance (:mod:`normbench.conformance.invariance`): ``invariance_probe(dtype, layout)`` -> a
    #: case of long reductions whose first axis is the batch (None: the op is not probed), and the
    #: passes whose per-sample results depend on the batch by definition, with why
    invariance_probe: Callable[[str, str], Any] | None = None
    batch_coupled: Mapping[str, str] = field(default_factory=dict)

    def run_case(self, backend: Any, case: Any) -> CaseResult:
        """Check ``case`` on ``backend`` with the one checker. Deprecated in 0.15, goes in 0.16: the
        op record holds no checking; call ``normbench.conformance.checker.run_case(op, backend, case)``."""
        import warnings

        
        warnings.warn("OpInfo.run_case is deprecated (goes in 0.16): call "
                      "normbench.conformance.checker.run_case(op, backend, case)", DeprecationWarning, stacklevel=2)
        return checker.run_case(self, backend, case)

    def method(self, pass_: str) -> str:
        """Name of the backend method implementing ``pass_``."""
        return f"{self.name}_{pass_}"

    def grid(self, name: str) -> Grid:
        if name not in self.grids:
            raise InputError(f"unknown grid {name!r} for {self.name}; expected one of {', '.join(self.grids)}")
        return self.grids[name]

    def check_pass(self, pass_: str) -> str:
        if pass_ not in self.passes:
            raise InputError(f"unknown pass {pass_!r} for {self.name}; expected one of {', '.join(self.passes)}")
        return pass_


def format_shape(shape: Shape) -> str:
    return "x".join(map(str, shape))


def rank_of(shape_text: str) -> int:
    """Dimensions of a shape as :func:`format_shape` writes it (``32x64x56x56`` -> 4)."""
    return str(shape_text).count("x") + 1


def parse_sizes(text: str) -> Shape:
    """``32x64x56x56`` -> (32, 64, 56, 56); a one-line error for anything else."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise InputError(f"malformed shape {text!r}; expected sizes joined by x, e.g. 32x64x56x56") from None
    if not shape or min(shape) < 1:
        raise InputError(f"malformed shape {text!r}: sizes must be positive")
    return shape
