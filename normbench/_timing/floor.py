"""The bandwidth floor measured under the timing protocol: ``bench --floor``.

A kernel's floor is a memory copy of the bytes its pass must move (the op's byte model, half read
and half written) with the same threads. Timed once per run in the harness process, the copy
drifted between runs (median 44, 38 and 29 GB/s on this project's VM) while the kernels did not, so
floor fractions measured that way could not be compared across runs. ``--floor`` instead adds
:class:`CopyFloor` to the run as one more backend: fresh worker processes under the same memory
policy, the same calibration, time budget, contention rules and two-level intervals, interleaved
with the real backends in every round. Its rows (backend ``copy-floor``) are the floor; a
backend's floor fraction is then the ratio of two protocol measurements,
``time(copy-floor) / time(backend)`` on the same configuration, with an interval like any speed-up.

It is not a plugin: it computes no op, is never checked, and ``list`` does not show it.
"""
from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

from .. import records
from ..backend import Availability, Backend, Support
from ..dtypes import DTYPES

NAME = "copy-floor"


class CopyFloor(Backend):
    """A memory copy of ``nbytes`` standing in for every op, pass, dtype and layout."""

    name = NAME
    description = "a memory copy of the bytes the op's pass moves (the bandwidth floor; bench --floor)"

    def __init__(self, op_names) -> None:
        self.ops = {op: Support(dtypes=frozenset(DTYPES)) for op in op_names}
        self.threads = 1
        self._pool: ThreadPoolExecutor | None = None

    def availability(self) -> Availability:
        return Availability(True)

    def version(self) -> str:
        return f"numpy {np.__version__}"

    def set_threads(self, threads: int | None) -> int | None:
        self.threads = max(1, int(threads or 1))
        return self.threads

    def environment(self) -> dict:
        return {"copy": "np.copyto of float64 arrays, split over a thread pool when that is faster"}

    def from_numpy(self, array, dtype):
        return array

    def to_numpy(self, native):
        return native

    def copy_call(self, nbytes: int) -> Callable[[], None]:
        """The copy to time (:func:`copy_calls`): whichever of the one-thread and the split copy the
        best of five calls finds faster. Fresh arrays per worker, touched before timing."""
        if self._pool is None and self.threads > 1:
            self._pool = ThreadPoolExecutor(self.threads)
        calls = copy_calls(nbytes, self.threads, self._pool)

        def best(call) -> float:
            call()
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                call()
                times.append(time.perf_counter() - t0)
            return min(times)

        return min(calls, key=best) if len(calls) > 1 else calls[0]


def copy_calls(nbytes: int, threads: int, pool: ThreadPoolExecutor | None) -> list[Callable[[], None]]:
    """Copies of ``nbytes`` (half read, half written): a one-thread ``np.copyto``, and with
    ``threads`` > 1 the same split over ``pool``'s threads (NumPy releases the GIL while copying).
    Callers time both and keep the faster: below a few hundred KB the pool's hand-off costs more
    than the copy, and a floor that slow would put small shapes "above 100% of the floor"; above,
    one core does not saturate the memory bus."""
    n = max(1, nbytes // 2 // 8)
    src, dst = np.ones(n), np.zeros(n)

    def plain() -> None:
        np.copyto(dst, src)

    if threads <= 1 or pool is None:
        return [plain]
    bounds = np.linspace(0, n, threads + 1).astype(int)
    chunks = [(dst[a:b], src[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]

    def split() -> None:
        for f in [pool.submit(np.copyto, *c) for c in chunks]:
            f.result()

    return [plain, split]


def is_floor(backend: object) -> bool:
    return isinstance(backend, CopyFloor)


def floor_scope(registry) -> dict[str, list[str]]:
    """What a copy-floor worker imports: the op plugins only (no backend library)."""
    return {"only": sorted({lo.source.plugin for lo in registry.ops.values()})}


def floors_of(rows: list[dict]) -> dict[tuple, dict]:
    """The copy-floor row of each configuration, keyed by :func:`config_key`."""
    return {config_key(r): r for r in rows if r.get("backend") == NAME}


config_key = records.config_key


def attach(rows: list[dict]) -> list[dict]:
    """Each backend row's ``copy_gbps``/``floor_fraction`` from the copy-floor row of its
    configuration, where the run has one (else the row keeps the harness's one-off copy figure)."""
    floors = floors_of(rows)
    for r in rows:
        f = floors.get(config_key(r))
        if f is r:  # the floor itself: 100% of itself
            r["copy_gbps"], r["floor_fraction"] = r["gbps"], 1.0
        elif f is not None and f.get("gbps"):
            r["copy_gbps"] = f["gbps"]
            r["floor_fraction"] = r["gbps"] / f["gbps"] if r.get("gbps") else math.nan
    return rows
