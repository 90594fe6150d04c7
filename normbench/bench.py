"""Timing backends fairly: same inputs, same thread count, device sync, warm-up excluded.

Op-agnostic: the op's record (:class:`~normbench.opinfo.OpInfo`) makes the data, converts it and
returns the call to time (``bench_call``), and says how many bytes a pass moves. Per
measurement: host data is made and converted to the backend's arrays (untimed), the
backend's ``prepare`` (JIT compilation) and one warm-up call run and are timed separately as
``compile_s``; then ``repeat`` samples, each the mean of ``number`` back-to-back calls
(``number`` chosen so a sample lasts >= 2 ms, as timeit and asv do), bracketed by
``synchronize()``. Output allocation is inside the timed call, as a user pays it. The backends
of one configuration are measured together, in three rounds, each sample batch after 50 ms of
untimed calls (see :func:`measure_interleaved` for why).

Each row also carries the bandwidth floor: a memory copy of the same bytes, measured in the
same run with the same number of threads, gives the machine's achievable bandwidth, and
``floor_fraction = achieved GB/s / copy GB/s`` (bytes: the op's byte model).
"""
from __future__ import annotations

import datetime as _dt
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .backend import Backend, safe_call, why_unsupported
from .errors import Unsupported
from .opinfo import OpInfo, format_shape
from .stats import summarize

MIN_SAMPLE_S = 2e-3
SETTLE_S = 0.05
ROUNDS = 3

#: columns of every row; the axes of the row's op (OpInfo.axes) follow "shape". The spread
#: (quartiles, ``dispersion`` = IQR / median, ``unstable``) is :func:`normbench.stats.summarize`'s;
#: ``samples_s`` holds the raw samples (a list in JSON, space-separated in CSV) for intervals and
#: ``normbench compare``; ``load_before``/``load_after`` are the 1-minute load average around it;
#: ``note`` is what the timing includes beyond the pass, as the backend declares it (Backend.timing_notes).
COLUMNS = [
    "norm", "backend", "op", "dtype", "layout", "shape", "threads",
    "median_s", "q1_s", "q3_s", "min_s", "max_s", "n_samples", "dispersion", "unstable", "repeat", "number",
    "bytes", "gbps", "copy_gbps", "floor_fraction", "compile_s", "load_before", "load_after",
    "machine", "cpu", "backend_version", "device", "timestamp", "run_id", "note", "samples_s",
]


def columns_for(rows: list[dict[str, Any]]) -> list[str]:
    """:data:`COLUMNS` with the axes of every op in ``rows`` after "shape", in order of appearance."""
    axes = [k for r in rows for k in r if k not in COLUMNS]
    at = COLUMNS.index("shape") + 1
    return COLUMNS[:at] + list(dict.fromkeys(axes)) + COLUMNS[at:]


def machine_info() -> dict[str, Any]:
    """Machine facts recorded with every run (:func:`normbench.runinfo.machine_facts`)."""
    from .runinfo import machine_facts

    return machine_facts()


def load_average() -> float | None:
    """The 1-minute load average (None where the OS has none): a busy machine shows here."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


@dataclass
class Prepared:
    """A ready-to-time call on native arrays, plus what it needs around it."""

    call: Callable[[], Any]
    backend: Backend
    nbytes: int


def prepare_call(backend: Backend, op: OpInfo, pass_: str, shape: tuple[int, ...], dtype: str, layout: str,
                 seed: int = 0) -> Prepared:
    """Make inputs and convert them (untimed). Raises Unsupported for what the backend lacks."""
    why = why_unsupported(backend, op, pass_, dtype, layout, len(shape))
    if why:
        raise Unsupported(why)
    return Prepared(op.bench_call(backend, pass_, shape, dtype, layout, seed), backend, op.bytes_moved(pass_, shape, dtype))


def calibrate(p: Prepared) -> tuple[int, float]:
    """Warm up (timed separately) and choose ``number`` so a sample lasts >= 2 ms.

    Returns (number, warm-up seconds). Two untimed calls first: the first may compile or
    allocate lazily.
    """
    sync = p.backend.synchronize
    t0 = time.perf_counter()
    p.call()
    sync()
    warmup = time.perf_counter() - t0
    p.call()
    sync()
    once = min(_sample(p.call, sync, 1) for _ in range(3))
    return max(1, min(1000, math.ceil(MIN_SAMPLE_S / max(once, 1e-7)))), warmup


def time_prepared(p: Prepared, repeat: int) -> tuple[list[float], int, float]:
    """Calibrate, then ``repeat`` samples; returns (samples, number, warmup_s)."""
    number, warmup = calibrate(p)
    return [_sample(p.call, p.backend.synchronize, number) for _ in range(repeat)], number, warmup


def _sample(call, sync, number: int) -> float:
    sync()
    t0 = time.perf_counter()
    for _ in range(number):
        call()
    sync()
    return (time.perf_counter() - t0) / number


_copy_cache: dict[tuple[int, int], float] = {}


def copy_bandwidth(nbytes: int, threads: int, repeat: int = 7) -> float:
    """GB/s of a memory copy moving ``nbytes`` (half read, half written) with up to ``threads`` threads.

    NumPy releases the GIL while copying, so chunks copied from a thread pool run in parallel.
    A plain one-thread copy is timed too and the faster wins: below a few hundred KB the pool's
    hand-off costs more than the copy, and a floor that slow would put small shapes "above
    100% of the floor". Best of ``repeat``: the floor is what the machine *can* do.
    """
    key = (nbytes, threads)
    if key in _copy_cache:
        return _copy_cache[key]
    n = max(1, nbytes // 2 // 8)
    src, dst = np.ones(n), np.empty(n)
    threads = max(1, threads)

    def best_of(copy) -> float:
        copy()
        number = max(1, math.ceil(MIN_SAMPLE_S / max(_sample(copy, lambda: None, 1), 1e-7)))
        return min(_sample(copy, lambda: None, number) for _ in range(repeat))

    best = best_of(lambda: np.copyto(dst, src))
    if threads > 1:
        bounds = np.linspace(0, n, threads + 1).astype(int)
        chunks = [(dst[a:b], src[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
        with ThreadPoolExecutor(threads) as pool:
            best = min(best, best_of(lambda: list(pool.map(lambda c: np.copyto(*c), chunks))))
    gbps = 2 * n * 8 / best / 1e9
    _copy_cache[key] = gbps
    return gbps


def run_samples(p: Prepared, number: int, n_samples: int) -> list[float]:
    """A busy warm-up, then ``n_samples`` samples of ``number`` calls each.

    Busy warm-up first: after a switch between backends, the previous one's OpenMP threads keep
    spin-waiting for milliseconds and the allocator's state changes; the first calls run up to
    3x slow. (Alternating single samples, or sleeping between them, measured exactly that.)
    """
    t_end = time.perf_counter() + SETTLE_S
    while time.perf_counter() < t_end:
        p.call()
    p.backend.synchronize()
    return [_sample(p.call, p.backend.synchronize, number) for _ in range(n_samples)]


class InProcess:
    """A backend driven in this process, with the same requests a worker answers (no isolation:
    for the Python API and asv, which isolates benchmarks itself)."""

    def __init__(self, backend: Backend, op: OpInfo, threads: int | None = None):
        from .worker import _Child

        self.name = backend.name
        self.child = _Child()
        self.child.backend, self.child.ops = backend, {op.name: op}
        self.threads = safe_call(lambda: backend.set_threads(threads))

    def request(self, kind: str, payload: Any = None, timeout: float | None = None) -> Any:
        return getattr(self.child, kind)(payload)


def measure(
    backend: Backend, op: OpInfo, pass_: str, shape: tuple[int, ...], dtype: str, layout: str, *, repeat: int = 10,
    threads: int | None = None, machine: dict | None = None,
) -> dict[str, Any]:
    """One benchmark row (see :data:`COLUMNS`), in this process. Raises Unsupported for unsupported requests."""
    handle = InProcess(backend, op, threads)
    rows, skipped = measure_interleaved([handle], op, pass_, shape, dtype, layout, repeat=repeat, threads=threads,
                                        machine=machine)
    if skipped:
        raise skipped[0][1]
    return rows[0]


def measure_interleaved(
    handles: list, op: OpInfo, pass_: str, shape: tuple[int, ...], dtype: str, layout: str, *, repeat: int = 10,
    threads: int | None = None, machine: dict | None = None, timeout: float | None = None, run_id: str = "",
) -> tuple[list[dict[str, Any]], list[tuple[Any, Exception]]]:
    """Time one configuration on several backends, back to back, in a few rounds.

    ``handles`` are :class:`normbench.worker.Worker` (each backend in its own process) or
    :class:`InProcess` objects; the parent only orchestrates. Measuring the backends of one
    configuration back to back (rather than each backend's whole grid in turn), in rounds,
    keeps them under the same machine conditions, so their ratio is fair even when absolute
    times drift on a shared machine. ``timeout`` bounds each backend's set-up (JIT compilation,
    warm-up) and each batch of its samples. Returns (rows, [(handle, exception)]) where the
    exception is Unsupported, or what the worker's death, time limit or error raised.
    """
    from .worker import RemoteError

    machine = machine or machine_info()
    load_before = load_average()
    ready, skipped = [], []
    for h in handles:
        try:
            info = h.request("setup", (op.name, pass_, shape, dtype, layout), timeout)
            ready.append((h, info, []))
        except RemoteError as exc:
            skipped.append((h, Unsupported(str(exc)) if exc.type_name == "Unsupported" else exc))
        except Exception as exc:  # noqa: BLE001 - reported by the caller, the others go on
            skipped.append((h, exc))
    # ROUNDS rounds of (each backend in turn: busy warm-up, then its share of the samples):
    # this machine's speed drifts over ~100 ms windows, and rounds spread the drift over all
    # backends instead of letting one backend's whole measurement fall into a slow window.
    per_round = [len(r) for r in np.array_split(np.arange(repeat), min(ROUNDS, repeat))]
    for n_samples in per_round:
        for entry in list(ready):
            h, _, samples = entry
            try:
                samples.extend(h.request("samples", n_samples, timeout))
            except Exception as exc:  # noqa: BLE001 - reported by the caller, the others go on
                ready.remove(entry)
                skipped.append((h, exc))
    rows = []
    load_after = load_average()
    for h, info, samples in ready:
        try:
            facts = h.request("facts", info["nbytes"], timeout)
        except Exception:  # noqa: BLE001 - facts are informative; the timing stands
            facts = {"version": "", "environment": {}, "copy_gbps": None}
        h.facts = {"version": facts["version"], "environment": facts["environment"]}  # for the run's header
        spread = summarize(samples)
        median = spread["median_s"]
        nbytes = info["nbytes"]
        gbps = nbytes / median / 1e9
        in_effect = h.threads
        # the machine's bandwidth with the threads asked for, whatever the backend managed to use;
        # a device backend measures its own memory (Backend.copy_gbps, optional)
        copy = facts["copy_gbps"] or copy_bandwidth(nbytes, threads or in_effect or 1)
        env = facts["environment"]
        rows.append({
            "norm": op.name, "backend": h.name, "op": pass_, "dtype": dtype, "layout": layout,
            "shape": format_shape(shape), **op.axes_of(shape),
            "threads": in_effect if in_effect is not None else "",
            **spread, "repeat": repeat, "number": info["number"],
            "bytes": nbytes, "gbps": gbps, "copy_gbps": copy, "floor_fraction": gbps / copy,
            "compile_s": info["compile_s"], "load_before": load_before, "load_after": load_after,
            "machine": machine["machine"], "cpu": machine["cpu"],
            "backend_version": facts["version"], "device": env.get("device_name", env.get("device", "cpu")),
            "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "run_id": run_id,
            "note": info.get("note", ""), "samples_s": list(samples),
        })
    return rows, skipped
