"""Batch normalization: everything specific to the op lives in this package.

Every op package has the same modules: ``reference`` (the float64 oracle), ``validate`` (input
checks), ``cases`` (the conformance grid and its data), ``strategies`` (random cases for the
property tests), ``check`` (a case's steps and tolerances, for the one checker), ``bench``
(benchmark axes, grids, byte model, the set-up of a timed call) and ``api`` (host-level calls
through a backend, :mod:`normbench.functional`'s). :data:`OP` gathers them in one record,
registered through the ``normbench_ops`` hook.

Passes, implemented by a backend as ``batchnorm_<pass>`` (semantics: PyTorch's
``F.batch_norm``, docs/semantics.md)::

    batchnorm_train(x, weight, bias, running_mean, running_var, *, momentum, eps, num_batches_tracked)
        -> (y, save_mean, save_invstd)      # running statistics updated in place when given
    batchnorm_eval(x, weight, bias, running_mean, running_var, *, eps) -> y
    batchnorm_backward(dy, x, weight, save_mean, save_invstd, *, eps) -> (dx, dweight, dbias)

Arrays have logical shape (N, C, ...); weight, bias, running and saved statistics are (C,), in the
input dtype for float64 and float32 input (so float64 in, float64 saved statistics) and
float32 for half inputs. ``weight``/``bias`` are None for affine=False, the running statistics
None when not tracked. ``momentum=None`` is the cumulative average (factor
``1 / num_batches_tracked``, see :func:`momentum_factor`). Training with one value per channel
must raise; a zero-size batch returns an empty ``y`` and leaves the running statistics alone.
"""
from __future__ import annotations

from ...dtypes import DTYPES, LAYOUTS, RANKS
from ...hookspecs import hookimpl
from ...opinfo import OpInfo, PlotSpec
from . import bench, mutants, reference
from .bench import BYTE_MODEL, TRAFFIC, bench_call, bytes_moved
from .cases import BATCH_COUPLED, GROUPS, NAME, PASSES, Case, all_cases, invariance_probe, make_data
from .check import plan
from .reference import momentum_factor, unbiased_running_var
from .strategies import property_cases

OP = OpInfo(
    name=NAME,
    title="Batch normalization",
    passes=PASSES,
    dtypes=DTYPES,
    layouts=LAYOUTS,
    ranks=RANKS,
    case_groups=GROUPS,
    cases=all_cases,
    plan=plan,
    property_cases=property_cases,
    grids=bench.GRIDS,
    axes=bench.AXES,
    axes_of=bench.axes_of,
    sweep_shape=bench.sweep_shape,
    parse_shape=bench.parse_shape,
    layouts_for=bench.layouts_for,
    bench_call=bench_call,
    bytes_moved=bytes_moved,
    byte_model=BYTE_MODEL,
    plots=PlotSpec(lines=(("batch", "time"), ("channels", "gbps")), heatmap=("batch", "channels")),
    layout_rank=2,
    mutants=mutants.mutants,
    invariance_probe=invariance_probe,
    batch_coupled=BATCH_COUPLED,
)


@hookimpl
def normbench_ops():
    return [OP]


__all__ = ["OP", "NAME", "PASSES", "GROUPS", "TRAFFIC", "Case", "all_cases", "make_data", "plan",
           "bytes_moved", "momentum_factor", "reference", "unbiased_running_var"]
