"""Batch norm across backends, ops, batch sizes, channels, spatial sizes, dtypes and layouts.

The grid comes from ``normbench.grids`` (quick by default, ``NORMBENCH_GRID=full`` for the full
one). Unavailable backends, unsupported combinations and shapes outside the grid raise
NotImplementedError in setup, which asv records as skipped, not failed. Setup makes the data,
converts it to the backend's arrays and warms up (JIT compilation) outside the timed body.
"""
import os
import time

from normbench import Unsupported, bench, grids, pluginmanager
from normbench.backend import OPS, availability_of, safe_call

GRID = grids.grid_from_env()
_REGISTRY = pluginmanager.load()


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


def _setup(self, backend, op, shape, dtype, layout):
    if len(shape) == 2 and layout != "contiguous":
        raise NotImplementedError("2-D input has one layout")
    b = _REGISTRY.get(backend)
    avail = availability_of(b)
    if not avail:
        raise NotImplementedError(avail.reason)
    if THREADS:
        safe_call(lambda: b.set_threads(THREADS))
    try:
        b.prepare(dtype, layout, len(shape))
        self.prepared = bench.prepare_call(b, op, shape, dtype, layout)
    except Unsupported as exc:
        raise NotImplementedError(str(exc)) from None
    self.call, self.sync = self.prepared.call, b.synchronize
    self.call()  # warm-up
    self.sync()


class BatchNorm:
    params = (BACKENDS, list(OPS), list(GRID.batches) or [32], list(GRID.channels) or [64],
              list(GRID.spatial) or [56], list(GRID.dtypes), list(GRID.layouts))
    param_names = ["backend", "op", "batch", "channels", "spatial", "dtype", "layout"]
    timeout = 300

    def setup(self, backend, op, batch, channels, spatial, dtype, layout):
        shape = grids.make_shape(batch, channels, spatial)
        if shape not in GRID.shapes():
            raise NotImplementedError("not in this grid")
        _setup(self, backend, op, shape, dtype, layout)

    def time_op(self, *params):
        self.call()
        self.sync()

    def peakmem_op(self, *params):
        self.call()
        self.sync()

    def track_gbps(self, *params):
        """Achieved bandwidth under the byte model (ops/batchnorm/bytes.py)."""
        samples, _, _ = bench.time_prepared(self.prepared, 5)
        return self.prepared.nbytes / sorted(samples)[len(samples) // 2] / 1e9

    track_gbps.unit = "GB/s"


class StandardShapes:
    """The standard CNN shapes (and 2-D 1024x1024), float32, both layouts."""

    params = (BACKENDS, list(OPS), [grids.format_shape(s) for s in grids.STANDARD_SHAPES], ["contiguous", "channels_last"])
    param_names = ["backend", "op", "shape", "layout"]
    timeout = 300

    def setup(self, backend, op, shape, layout):
        _setup(self, backend, op, grids.parse_shape(shape), "float32", layout)

    def time_op(self, *params):
        self.call()
        self.sync()


class Compile:
    """One-time cost: JIT compilation / warm-up of each backend (seconds, tracked)."""

    params = (BACKENDS,)
    param_names = ["backend"]
    timeout = 600

    def setup(self, backend):
        avail = availability_of(_REGISTRY.get(backend))
        if not avail:
            raise NotImplementedError(avail.reason)

    def track_compile_seconds(self, backend):
        """Seconds of the first prepare() of four configurations (on-disk JIT caches count)."""
        b = _REGISTRY.get(backend)
        start = time.perf_counter()
        for dtype in ("float32", "float64"):
            b.prepare(dtype, "contiguous", 4)
            b.prepare(dtype, "channels_last", 4)
        return time.perf_counter() - start

    track_compile_seconds.unit = "s"
