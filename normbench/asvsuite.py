"""normbench's asv suite, importable: this repository's ``benchmarks/`` and a plugin's own asv
project install it the same way, in a few lines::

    # benchmarks/bench_normbench.py of any asv project
    from normbench.asvsuite import install

    install(globals(), backends=["onnxruntime", "torch-cpu"])  # your backend and the peers you choose

One benchmark class per op, built from the op's record (``OpInfo``), so a new op needs no edit:

- ``Standard_<op>`` (always): the op's standard shapes, float32, every layout, one ``time_op``
  per (backend, pass, shape, layout). This is what tracking across commits needs, and what
  ``asv run --quick`` finishes in minutes.
- ``Grid_<op>`` (``NORMBENCH_GRID=quick`` or ``full``, or ``install(grid=...)``): the op's grid over
  its own axes, dtypes and layouts, with ``peakmem_op`` and ``track_gbps``, ``track_floor_fraction``
  and ``track_threads`` beside ``time_op``. asv runs set-up once per benchmark kind and parameter
  set, so each kind multiplies the suite's time: the default leaves them out.
- ``Compile``: JIT compile time per backend and op.

Backends: ``backends=`` or ``NORMBENCH_BACKENDS=a,b`` (comma-separated), else the built-in
backends that do not compile per configuration (numpy, numba, torch-cpu, torch-cuda where it
exists): a backend that compiles every configuration (torch-compile, Keras on JAX, Flax) pays
that compile in each of asv's processes. Unavailable backends, unsupported combinations and
points of the parameter product that are not in the grid raise NotImplementedError in set-up,
which asv records as skipped (n/a), not failed. Set-up makes the data, converts it and warms up
outside the timed body. The timing protocol's memory policy (:mod:`normbench._runtime.memory`) is applied
when this module is imported, before any plugin allocates, as bench's workers have it
(``NORMBENCH_MEMORY_POLICY=system`` for the C library's defaults).
"""
from __future__ import annotations

import functools
import os
import time
from typing import Any, Iterable, MutableMapping

# absolute imports: benchmarks/bench_ops.py also loads this file by path against an older
# normbench that has no asvsuite module (asv runs the working tree's suite on every commit)
from normbench._runtime import memory as _memory

MEMORY_POLICY = _memory.apply(os.environ.get(_memory.ENV, _memory.DEFAULT))

from normbench import Unsupported
from normbench._timing import bench
from normbench._runtime import pluginmanager  # noqa: E402 - after the memory policy
from normbench.backend import availability_of, safe_call, why_unsupported  # noqa: E402
from normbench._runtime.discovery import discover  # noqa: E402
from normbench.opinfo import format_shape  # noqa: E402

#: NORMBENCH_THREADS=N gives every backend N CPU threads (default: each library's own default)
THREADS = int(os.environ["NORMBENCH_THREADS"]) if os.environ.get("NORMBENCH_THREADS") else None


@functools.lru_cache(maxsize=None)
def registry():
    """Plugins found in a discovery process (one that dies importing costs only itself); a
    benchmark then loads only its backend's plugin. asv runs each benchmark in a process of its
    own, which is the isolation here."""
    return discover()


@functools.lru_cache(maxsize=None)
def _backend(name: str):
    return pluginmanager.load(**(registry().worker_scope(name) or {})).get(name)


def default_backends() -> list[str]:
    """``NORMBENCH_BACKENDS``, else the built-in backends that do not compile per configuration."""
    named = [b.strip() for b in os.environ.get("NORMBENCH_BACKENDS", "").split(",") if b.strip()]
    if named:
        return named
    reg = registry()
    return sorted(n for n in reg.names() if getattr(reg.source(n), "distribution", "") == "normbench"
                  and not getattr(reg.get(n), "compiles_per_configuration", False))


def _preload() -> None:
    """Import heavy libraries once, so asv's forked workers (``--launch-method forkserver``) do
    not each pay for it. Only imports: no parallel region runs, so no OpenMP pool exists before
    the fork."""
    import importlib

    for module in ("torch", "numba", "normbench_numba.kernels"):
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001 - a missing library shows up as an unavailable backend
            pass


def _setup(self, op, backend: str, pass_: str, shape, dtype: str, layout: str) -> None:
    if layout not in op.layouts_for(shape, [layout]):
        raise NotImplementedError(f"{format_shape(shape)} has no {layout} layout")
    reg = registry()
    if backend not in reg.names():
        raise NotImplementedError(f"no backend {backend!r} is installed")
    info = reg.get(backend)
    if not reg.supports(info, op.name):
        raise NotImplementedError(f"{backend} does not implement {op.name}")
    avail = availability_of(info)
    if not avail:
        raise NotImplementedError(avail.reason)
    b = _backend(backend)
    why = why_unsupported(b, op, pass_, dtype, layout, len(shape))
    if why:  # before prepare(): asv tries the whole product, a plugin need not guard prepare() against it
        raise NotImplementedError(why)
    # the count in effect (a backend may use fewer than asked, NumPy one): reported by track_threads
    self.threads = safe_call(lambda: b.set_threads(THREADS))
    try:
        b.prepare(op.name, dtype, layout, len(shape))
        self.prepared = bench.prepare_call(b, op, pass_, shape, dtype, layout)
        self.call, self.sync = self.prepared.call, b.synchronize
        self.call()  # warm-up; a backend may find out only here that it cannot (Unsupported)
        self.sync()
    except Unsupported as exc:
        raise NotImplementedError(str(exc)) from None


def _time_op(self, *params) -> None:
    self.call()
    self.sync()


def _gbps(prepared) -> float:
    """GB/s of the median of five timed samples (asv runs each track_ in a fresh set-up)."""
    samples, _, _ = bench.time_prepared(prepared, 5)
    return prepared.nbytes / sorted(samples)[len(samples) // 2] / 1e9


def grid_class(op, grid_name: str, backends: list[str], module: str) -> type:
    """``Grid_<op>``: the op's grid ``grid_name`` over its axes, dtypes and layouts, every kind."""
    grid = op.grid(grid_name)
    shapes = set(grid.shapes())

    def setup(self, backend, pass_, *rest):
        *axis_values, dtype, layout = rest
        shape = op.sweep_shape(dict(zip(op.axes, axis_values)))
        if shape not in shapes:
            raise NotImplementedError("not in this grid")
        _setup(self, op, backend, pass_, shape, dtype, layout)

    def track_gbps(self, *params):
        """Achieved bandwidth under the op's byte model."""
        return _gbps(self.prepared)

    track_gbps.unit = "GB/s"

    def track_floor_fraction(self, *params):
        """Achieved bandwidth over a memory copy of the same bytes with the same threads (1.0 = the copy floor)."""
        return _gbps(self.prepared) / bench.copy_bandwidth(self.prepared.nbytes, self.threads or THREADS or 1)

    track_floor_fraction.unit = "fraction"

    def track_threads(self, *params):
        """CPU threads the backend ran with (the report's threads column)."""
        return float(self.threads) if self.threads else float("nan")

    track_threads.unit = "threads"
    # the grid's own sizes and those of its extra (standard) shapes: the product must reach them all
    axis_params = [sorted(set(grid.axis_values(a)) | {op.axes_of(s)[a] for s in shapes}) for a in op.axes]
    return type(f"Grid_{op.name}", (), {
        "__doc__": f"{op.title} over {' x '.join(op.axes)} ({grid_name} grid).",
        "params": (backends, list(op.passes), *axis_params, list(grid.dtypes), list(grid.layouts)),
        "param_names": ["backend", "pass", *op.axes, "dtype", "layout"],
        "timeout": 300, "setup": setup, "time_op": _time_op, "peakmem_op": _time_op, "track_gbps": track_gbps,
        "track_floor_fraction": track_floor_fraction, "track_threads": track_threads, "__module__": module,
    })


def standard_class(op, backends: list[str], module: str) -> type:
    """``Standard_<op>``: the op's standard shapes, float32, ``time_op`` only."""
    standard = op.grid("standard")

    def setup(self, backend, pass_, shape, layout):
        _setup(self, op, backend, pass_, op.parse_shape(shape), "float32", layout)

    return type(f"Standard_{op.name}", (), {
        "__doc__": f"{op.title}: the standard shapes, float32.",
        "params": (backends, list(op.passes), [format_shape(s) for s in standard.shapes()], list(standard.layouts)),
        "param_names": ["backend", "pass", "shape", "layout"],
        "timeout": 300, "setup": setup, "time_op": _time_op, "__module__": module,
    })


def compile_class(backends: list[str], ops: list[str], module: str) -> type:
    """``Compile``: seconds of the first prepare() of four configurations per backend and op."""

    def setup(self, backend, norm):
        reg = registry()
        if backend not in reg.names():
            raise NotImplementedError(f"no backend {backend!r} is installed")
        b = reg.get(backend)
        if not reg.supports(b, norm):
            raise NotImplementedError(f"{backend} does not implement {norm}")
        avail = availability_of(b)
        if not avail:
            raise NotImplementedError(avail.reason)
        op = reg.op(norm)
        rank = max(op.ranks)
        # what the backend declares, decided here: asv skips only a NotImplementedError from setup
        self.todo = [(dtype, layout) for dtype in ("float32", "float64") for layout in op.layouts[:2]
                     if not why_unsupported(_backend(backend), op, op.passes[0], dtype, layout, rank)]
        if not self.todo:
            raise NotImplementedError(f"{backend} declares none of {norm}'s float32/float64 configurations")

    def track_compile_seconds(self, backend, norm):
        """Seconds of the first prepare() of up to four configurations (float32 and float64, the
        op's first two layouts) that the backend declares (on-disk JIT caches count)."""
        b = _backend(backend)
        rank = max(registry().op(norm).ranks)
        start = time.perf_counter()
        for dtype, layout in self.todo:
            b.prepare(norm, dtype, layout, rank)
        return time.perf_counter() - start

    track_compile_seconds.unit = "s"
    return type("Compile", (), {
        "__doc__": "One-time cost: JIT compilation / warm-up of each backend for each op it implements (seconds).",
        "params": (backends, ops), "param_names": ["backend", "norm"], "timeout": 600, "setup": setup,
        "track_compile_seconds": track_compile_seconds, "__module__": module,
    })


def install(namespace: MutableMapping[str, Any], *, backends: Iterable[str] | None = None,
            grid: str | None = None, ops: Iterable[str] | None = None) -> list[str]:
    """Put the suite's classes into ``namespace`` (a benchmark module's ``globals()``) and return
    their names. ``backends``: default :func:`default_backends`; ``grid``: also the ``Grid_``
    classes of that grid (default ``NORMBENCH_GRID``, unset: none); ``ops``: default every
    installed op."""
    _preload()
    chosen = list(backends) if backends is not None else default_backends()
    grid = grid if grid is not None else os.environ.get("NORMBENCH_GRID") or None
    infos = registry().op_infos()
    names = list(ops) if ops is not None else sorted(infos)
    unknown = [n for n in names if n not in infos]
    if unknown:
        raise ValueError(f"unknown op(s) {', '.join(unknown)}; installed: {', '.join(sorted(infos))}")
    module = namespace.get("__name__", __name__)
    classes = [standard_class(infos[n], chosen, module) for n in names]
    if grid:
        classes += [grid_class(infos[n], grid, chosen, module) for n in names]
    classes.append(compile_class(chosen, names, module))
    for cls in classes:
        namespace[cls.__name__] = cls
    return [c.__name__ for c in classes]
