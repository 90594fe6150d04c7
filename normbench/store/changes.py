"""Change points in a store's history: where a series (one configuration of one backend on one
machine) got slower or faster, by how much, and from which run.

Two steps, as Apache Otava (formerly Hunter) builds on E-Divisive:

1. **Candidates.** Each series' run-by-run location (the mean of its processes' median log
   times) goes to a maintained change-point library, ruptures' PELT (Killick et al. 2012), with a
   penalty from the series' own run-to-run noise. A series of fewer than :data:`MIN_POINTS` runs
   has every boundary between runs as a candidate: a library cannot split two points, and two
   runs are what a user has after a second ``normbench run``.
2. **Verdicts.** A candidate is kept only where the raw samples say so: the runs before it and
   the runs after it (up to :data:`WINDOW` a side, not past a neighbouring candidate) are
   compared as :func:`normbench._results.compare.compare_runs` compares two versions, every series of
   the machine at once (Holm's family-wise gate per configuration, and each backend's op and
   pass on its geometric mean), in both directions: slower is a regression, faster an
   improvement. The machine's candidates share one family-wise error (Bonferroni over them).

With three or more backends in the runs, each run's own machine shift (the median over backends
of each backend's median deviation from its series' means: a machine running slower moves every
backend, a change of code moves one) is taken out of every run before both steps, and reported.
PELT's segments are two runs at least, and the newest run is always a candidate.

The library was chosen by measurement (docs/store.md): MongoDB's signal-processing-algorithms
needs numpy < 2 and Python 3.11 exactly, and apache-otava pins numpy 2.2.0 and pulls in cloud
clients; ruptures needs only numpy and scipy.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Sequence

from .._results import compare as cmp
from . import Store, StoredRun

#: fewest runs in a series before the library proposes its candidates
MIN_POINTS = 4
#: most runs a side of a candidate that its verdict pools
WINDOW = 5
#: fewest backends from which the machine's shift between two windows is taken out
MIN_BACKENDS_FOR_SHIFT = 3


@dataclass
class Change:
    """One change point of one series (or of a backend's op and pass, ``shape`` empty)."""

    machine: str
    machine_name: str
    kind: str  # "regression" or "improvement"
    at: StoredRun  # the first run after the change
    before: list[StoredRun]
    after: list[StoredRun]
    key: dict[str, Any]  # norm, op, shape, dtype, layout, threads, backend
    ratio: float  # after / before
    low: float
    high: float
    geometric_mean: bool = False
    versions: str = ""  # "numpy 2.3.0 -> 2.4.0" where the backend's version changed at the change

    def describe(self) -> str:
        what = " ".join(str(self.key[k]) for k in ("backend", "norm", "op"))
        if not self.geometric_mean:
            what += " " + " ".join(str(self.key[k]) for k in ("shape", "dtype", "layout")) + f" threads={self.key['threads']}"
        else:
            what += " (geometric mean of its configurations)"
        return (f"{self.kind.upper()} {what}: {self.ratio:.3f}x [{self.low:.3f}, {self.high:.3f}] from run "
                f"{self.at.run_id}" + (f" ({self.at.git_commit[:12]})" if self.at.git_commit else "")
                + f" on {self.machine_name}" + (f"; {self.versions}" if self.versions else ""))


@dataclass
class Findings:
    changes: list[Change] = field(default_factory=list)
    #: per machine and tested boundary: what was compared, the machine's shift taken out
    notes: list[str] = field(default_factory=list)
    series: int = 0
    boundaries: int = 0


def _penalty(values: Sequence[float], threshold: float) -> float:
    """PELT's penalty for one series: BIC's 2 log n at the series' own noise (the robust spread of
    its run-to-run differences), never below the noise a step of ``threshold`` would stand out of."""
    diffs = [b - a for a, b in zip(values, values[1:])]
    noise = 1.4826 * statistics.median(abs(d - statistics.median(diffs)) for d in diffs) / math.sqrt(2) if diffs else 0
    noise = max(noise, math.log1p(threshold) / 4)
    return 2 * noise * noise * math.log(len(values))


def candidates(values: Sequence[float], threshold: float) -> list[int]:
    """Indexes ``i`` where a change may begin (between ``values[i-1]`` and ``values[i]``)."""
    n = len(values)
    if n < 2:
        return []
    if n < MIN_POINTS:
        return list(range(1, n))
    import numpy as np
    import ruptures

    # segments of two runs at least (one run alone is too weak a side), and the newest run always:
    # a change in the latest run is the one a user asks about first, and no segment of two follows it
    algo = ruptures.Pelt(model="l2", min_size=2, jump=1).fit(np.asarray(values, dtype=float).reshape(-1, 1))
    return sorted({b for b in algo.predict(pen=_penalty(values, threshold)) if 0 < b < n} | {n - 1})


def find_changes(store: Store, *, threshold: float = 0.10, confidence: float = 0.95,
                 machines: Sequence[str] = (), backends: Sequence[str] = (), norms: Sequence[str] = ()) -> Findings:
    """Every change point of every series in ``store`` (of the machines, backends and ops named)."""
    out = Findings()
    # a series is one machine's under one memory policy: each (machine, policy) is its own history
    histories: dict[tuple[str, str], tuple[list[StoredRun], list[list[dict]]]] = {}
    for run in store.runs("bench"):
        if machines and run.machine not in machines and run.machine_name not in machines:
            continue
        by_policy: dict[str, list[dict]] = {}
        for r in store.rows([run]):
            if (not backends or r.get("backend") in backends) and (not norms or r.get("norm") in norms) \
                    and cmp.samples_of(r):
                by_policy.setdefault(str(r.get("memory_policy") or ""), []).append(r)
        for policy, rows in by_policy.items():
            runs, kept = histories.setdefault((run.machine, policy), ([], []))
            runs.append(run)
            kept.append(rows)
    for runs, rows in histories.values():
        _machine_changes(out, runs, rows, threshold, confidence)
    return out


def _machine_changes(out: Findings, runs: list[StoredRun], rows: list[list[dict]], threshold: float,
                     confidence: float) -> None:
    shifts = _run_shifts(rows)
    if shifts is not None:  # every run re-centred by its machine's own shift, for candidates and verdicts alike
        rows = [_scaled(run_rows, math.exp(-s)) for run_rows, s in zip(rows, shifts)]
    series: dict[tuple, list[tuple[int, float]]] = {}
    for i, run_rows in enumerate(rows):
        for r in run_rows:
            if not cmp.is_contended(r):
                series.setdefault(cmp.config_key(r), []).append((i, cmp.location(r)))
    out.series += len(series)
    bounds: set[int] = set()
    for points in series.values():
        bounds.update(points[j][0] for j in candidates([v for _, v in points], threshold))
    ordered = sorted(bounds)
    # one family per machine: every candidate is tested in both directions, so each test gets its
    # share (Bonferroni) of the family-wise error, and a long history does not buy false alarms
    per_test = 1 - (1 - confidence) / max(1, 2 * len(ordered))
    machine = runs[0].machine_name
    out.notes.append(f"{machine}: {len(runs)} runs; " + (
        f"each run's own machine shift taken out ({min(shifts):+.1%} to {max(shifts):+.1%}, log)" if shifts else
        "fewer than 3 backends: a shift of a whole run cannot be told from a change"))
    for n, b in enumerate(ordered):
        start = max(ordered[n - 1] if n else 0, b - WINDOW)
        end = min(ordered[n + 1] if n + 1 < len(ordered) else len(runs), b + WINDOW)
        before, after = [r for r in rows[start:b] if r], [r for r in rows[b:end] if r]
        if not before or not after:
            continue
        out.boundaries += 1
        out.notes.append(f"{machine}: runs {start + 1}-{b} against {b + 1}-{end} (from {runs[b].run_id})")
        _verdicts(out, runs, (start, b, end), before, after, threshold, per_test)


def _run_shifts(rows: list[list[dict]]) -> list[float] | None:
    """Each run's own machine shift (log): the median over backends of the run's shift within each
    backend's series (:func:`normbench._results.compare.run_shifts`). A machine running slower moves every
    backend; a change of code moves one, which the median over three or more backends does not
    follow. None with fewer than :data:`MIN_BACKENDS_FOR_SHIFT` backends, or one run; 0 for a run
    that fewer backends measured."""
    present: dict[str, dict[int, dict[tuple, dict]]] = {}
    for i, run_rows in enumerate(rows):
        for r in run_rows:
            present.setdefault(r["backend"], {}).setdefault(i, {})[cmp.config_key(r)] = r
    if len(rows) < 2 or len(present) < MIN_BACKENDS_FOR_SHIFT:
        return None
    per_run: list[list[float]] = [[] for _ in rows]
    for runs in present.values():
        at = sorted(runs)
        for i, shift in zip(at, cmp.run_shifts([runs[i] for i in at]) if len(at) > 1 else []):
            per_run[i].append(shift)
    return [statistics.median(s) if len(s) >= MIN_BACKENDS_FOR_SHIFT else 0.0 for s in per_run]


def _scaled(run_rows: list[dict], factor: float) -> list[dict]:
    return [{**r, "samples_s": [v * factor for v in cmp.samples_of(r)]} for r in run_rows]


def _verdicts(out: Findings, runs: list[StoredRun], span: tuple[int, int, int], before: list[list[dict]],
              after: list[list[dict]], threshold: float, confidence: float) -> None:
    start, b, end = span
    machine = runs[b]
    versions = _version_change(before, after)
    for kind, (a, z) in (("regression", (before, after)), ("improvement", (after, before))):
        result, counts = cmp.compare_runs(a, z, confidence=confidence, threshold=threshold)
        flip = (lambda x: x) if kind == "regression" else (lambda x: 1 / x)
        groups_done = set()
        for r in result:
            key = {k: r[k] for k in cmp.CONFIG_KEYS}
            group = (r["backend"], r["norm"], r["op"])
            common = dict(machine=machine.machine, machine_name=machine.machine_name, kind=kind, at=machine,
                          before=runs[start:b], after=runs[b:end], versions=versions.get(r["backend"], ""))
            if r.get("group_regression") and group not in groups_done:
                groups_done.add(group)
                g = counts["geomeans"][group]
                lo, hi = sorted((flip(g.low), flip(g.high)))
                out.changes.append(Change(key={**key, "shape": "", "dtype": "", "layout": ""}, ratio=flip(g.ratio),
                                          low=lo, high=hi, geometric_mean=True, **common))
            if r["regression"] and r["low"] is not None:
                lo, hi = sorted((flip(r["low"]), flip(r["high"])))
                out.changes.append(Change(key=key, ratio=flip(r["ratio"]), low=lo, high=hi, **common))


def _version_change(before: list[list[dict]], after: list[list[dict]]) -> dict[str, str]:
    def versions(runs):
        got: dict[str, set] = {}
        for run in runs:
            for r in run:
                if r.get("backend_version"):
                    got.setdefault(r["backend"], set()).add(str(r["backend_version"]))
        return got

    a, z = versions(before), versions(after)
    return {b: f"{b} {'/'.join(sorted(a[b]))} -> {'/'.join(sorted(z[b]))}" for b in a.keys() & z.keys() if a[b] != z[b]}
