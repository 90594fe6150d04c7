"""Export to Bencher Metric Format (BMF) JSON, for ``bencher run --adapter json``.

BMF (bencher.dev/docs/reference/bencher-metric-format) maps a benchmark name to measures, each
``{"value": ..., "lower_value": ..., "upper_value": ...}`` with only ``value`` required. Our
measure is Bencher's built-in ``latency`` (nanoseconds): the row's location (the mean of its
processes' median log times), bounded by its 95% interval over the processes.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

from .._results.compare import CONFIG_KEYS, location_interval

#: the parts of a configuration, in the order of a benchmark's name
NAME_KEYS = CONFIG_KEYS


def benchmark_name(row: dict[str, Any]) -> str:
    """``layernorm/forward/256x1024/float32/contiguous/threads=2/numpy``: stable across runs."""
    parts = [str(row.get(k, "")) for k in NAME_KEYS]
    threads = row.get("threads")
    parts[NAME_KEYS.index("threads")] = f"threads={int(float(threads))}" if threads not in (None, "") else "threads="
    return "/".join(parts)


def latency(row: dict[str, Any]) -> dict[str, float]:
    time, low, high = location_interval(row)
    out = {"value": time * 1e9}
    if not math.isnan(low):
        out["lower_value"], out["upper_value"] = low * 1e9, high * 1e9
    return out


def bmf(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """One BMF document: every row's latency under its benchmark name (contended rows left out:
    the machine, not the code, set their time)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for r in rows:
        if r.get("contended") is True:
            continue
        out[benchmark_name(r)] = {"latency": latency(r)}
    return out
