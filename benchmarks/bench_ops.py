"""Every installed op across backends, passes, the op's own axes, dtypes and layouts (asv).

One benchmark class per op, built from the op's record (``OpInfo``) at import, so a new op
needs no edit here: ``Grid_<op>`` is parametrized with (backend, pass, each of the op's axes,
dtype, layout) over the selected grid (quick by default, ``NORMBENCH_GRID=full`` for the full
one); ``Standard_<op>`` times the op's standard shapes; ``Compile`` tracks JIT compilation per
backend. Unavailable backends, unsupported combinations and points of the parameter product
that are not in the grid raise NotImplementedError in setup, which asv records as skipped, not
failed. Setup makes the data, converts it and warms up (JIT compilation) outside the timed body.
"""
import os
import time

import functools

from normbench import Unsupported, bench, pluginmanager
from normbench.backend import availability_of, safe_call
from normbench.discovery import discover
from normbench.opinfo import format_shape

# The timing protocol's memory policy (normbench.memory), as bench's workers have it: asv starts
# these processes itself, so it is set here, before any plugin allocates; NORMBENCH_MEMORY_POLICY=
# system measures the C library's defaults instead. MEMORY_POLICY holds the policy in effect.
from normbench import memory as _memory  # noqa: E402

MEMORY_POLICY = _memory.apply(os.environ.get(_memory.ENV, _memory.DEFAULT))

# Plugins are found in a discovery process (one that dies importing costs only itself); a
# benchmark then loads just its backend's plugin. asv runs each benchmark in its own process,
# which is the isolation here.
_REGISTRY = discover()


@functools.lru_cache(maxsize=None)
def _backend(name):
    return pluginmanager.load(**(_REGISTRY.worker_scope(name) or {})).get(name)
GRID_NAME = os.environ.get("NORMBENCH_GRID", "quick")


def _preload() -> None:
    """Import heavy libraries once here, so asv's forked workers do not each pay for it.

    Only imports: no parallel region runs here, so no OpenMP pool exists before the fork.
    """
    import importlib

    for module in ("torch", "numba", "normbench_numba.kernels"):
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001 - a missing library shows up as an unavailable backend
            pass


_preload()
#: NORMBENCH_BACKENDS=numba,torch-cpu restricts the backends (default: every discovered one)
BACKENDS = [b for b in os.environ.get("NORMBENCH_BACKENDS", "").split(",") if b.strip()] or sorted(_REGISTRY.names())
#: NORMBENCH_THREADS=N gives every backend N CPU threads (default: each library's own default)
THREADS = int(os.environ["NORMBENCH_THREADS"]) if os.environ.get("NORMBENCH_THREADS") else None


def _setup(self, op, backend, pass_, shape, dtype, layout):
    if layout not in op.layouts_for(shape, [layout]):
        raise NotImplementedError(f"{format_shape(shape)} has no {layout} layout")
    info = _REGISTRY.get(backend)
    if not _REGISTRY.supports(info, op.name):
        raise NotImplementedError(f"{backend} does not implement {op.name}")
    avail = availability_of(info)
    if not avail:
        raise NotImplementedError(avail.reason)
    b = _backend(backend)
    # the count in effect (a backend may use fewer than asked, NumPy one): reported by track_threads
    self.threads = safe_call(lambda: b.set_threads(THREADS))
    try:
        b.prepare(op.name, dtype, layout, len(shape))
        self.prepared = bench.prepare_call(b, op, pass_, shape, dtype, layout)
    except Unsupported as exc:
        raise NotImplementedError(str(exc)) from None
    self.call, self.sync = self.prepared.call, b.synchronize
    self.call()  # warm-up
    self.sync()


def _time_op(self, *params):
    self.call()
    self.sync()


def _gbps(prepared) -> float:
    """GB/s of the median of five timed samples (asv runs each track_ in a fresh set-up)."""
    samples, _, _ = bench.time_prepared(prepared, 5)
    return prepared.nbytes / sorted(samples)[len(samples) // 2] / 1e9


def _grid_class(op):
    grid = op.grid(GRID_NAME)
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
    axis_params = [list(grid.axis_values(a)) or sorted({op.axes_of(s)[a] for s in shapes}) for a in op.axes]
    return type(f"Grid_{op.name}", (), {
        "__doc__": f"{op.title} over {' x '.join(op.axes)} ({GRID_NAME} grid).",
        "params": (BACKENDS, list(op.passes), *axis_params, list(grid.dtypes), list(grid.layouts)),
        "param_names": ["backend", "pass", *op.axes, "dtype", "layout"],
        "timeout": 300, "setup": setup, "time_op": _time_op, "peakmem_op": _time_op, "track_gbps": track_gbps,
        "track_floor_fraction": track_floor_fraction, "track_threads": track_threads,
        "__module__": __name__,
    })


def _standard_class(op):
    standard = op.grid("standard")

    def setup(self, backend, pass_, shape, layout):
        _setup(self, op, backend, pass_, op.parse_shape(shape), "float32", layout)

    return type(f"Standard_{op.name}", (), {
        "__doc__": f"{op.title}: the standard shapes, float32.",
        "params": (BACKENDS, list(op.passes), [format_shape(s) for s in standard.shapes()], list(standard.layouts)),
        "param_names": ["backend", "pass", "shape", "layout"],
        "timeout": 300, "setup": setup, "time_op": _time_op, "__module__": __name__,
    })


for _op in _REGISTRY.op_infos().values():
    for _cls in (_grid_class(_op), _standard_class(_op)):
        globals()[_cls.__name__] = _cls


class Compile:
    """One-time cost: JIT compilation / warm-up of each backend for each op it implements (seconds)."""

    params = (BACKENDS, sorted(_REGISTRY.op_infos()))
    param_names = ["backend", "norm"]
    timeout = 600

    def setup(self, backend, norm):
        b = _REGISTRY.get(backend)
        if not _REGISTRY.supports(b, norm):
            raise NotImplementedError(f"{backend} does not implement {norm}")
        avail = availability_of(b)
        if not avail:
            raise NotImplementedError(avail.reason)

    def track_compile_seconds(self, backend, norm):
        """Seconds of the first prepare() of four configurations (on-disk JIT caches count)."""
        b = _backend(backend)
        op = _REGISTRY.op(norm)
        rank = max(op.ranks)
        start = time.perf_counter()
        for dtype in ("float32", "float64"):
            for layout in op.layouts[:2]:
                b.prepare(norm, dtype, layout, rank)
        return time.perf_counter() - start

    track_compile_seconds.unit = "s"
