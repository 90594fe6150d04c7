"""Measure until sure: when a row has had enough fresh processes, its modes, and why it is unstable.

A row (one configuration on one backend) is measured in fresh worker processes, and the process is
the unit of its uncertainty (:func:`normbench._results.stats.two_level_ratio`). How many processes a row
needs depends on the row: a kernel whose processes agree to 1% is sure after three, one whose time
depends on where its output lands relative to its input (reports/protocol, ``layout.py``) needs a
dozen to say so, and more than that to pin a median that is a mixture of two groups. So the count
is decided per row, after each round (:class:`Rule`):

- **Fixed-width stopping** (Chow and Robbins, 1965): a row stops once the 95% interval of its
  location (the mean of its processes' median log times, Student's t on the processes, never
  narrower than its samples imply) is within ``target`` of it, with at least ``min_processes``
  (three by default: a rule fed two processes that happen to agree stops on luck, which is the
  early stop Chow and Robbins' minimum guards against) and at most ``max_processes`` (a row that
  never settles costs a bounded number of processes and says so). pyperf fixes the count instead
  (20 processes, ``--rigorous`` 40) and criterion.rs fixes the time; google-benchmark repeats a
  fixed number of times and reports the spread. None of them adapts the count to the row, which
  is where a 2-core machine spends its time.
- **Futility** (``Rule.futility``, rigor ``quick`` only): a row with at least :data:`FUTILE_FROM`
  processes whose interval, at the spread seen so far, would still be wider than ``futility``
  times the target at the cap stops there, as a group-sequential design stops a trial for
  futility: its last processes could not make it sure, only cost time. The margin of 1.5 covers the
  spread estimate's own uncertainty (at three processes and a backend's prior, about 6 degrees of
  freedom: a row whose cap would just meet the target is given up on in about 4% of draws).
  Replayed in 20 orders on five recorded runs (reports/protocol/sequential/futility), it stopped
  10-68% of the rows a process early, and none that the cap would have made sure.
- **Modes** (:func:`find_modes`): where a row's processes fall into groups separated by a gap
  much larger than the spread inside each group, the groups are the finding: their ranges and
  shares are reported, and such a row runs to its cap (more processes pin the shares) and is
  never called sure, since its location is a mixture whose share moves between runs.
- **Causes** (:func:`diagnose`): a row that did not settle says why and what to do, as
  ``pyperf check`` and nanobench do: spread within processes (contention, frequency), between
  them (placement, modes), samples too short for the clock, or too few processes.

Everything here works on plain lists of per-process samples, so the rule can be replayed on
recorded processes (reports/protocol/sequential.py measures its coverage that way).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

from .._results import stats

#: a sample shorter than this is at the mercy of the clock and the loop around the call
SHORT_SAMPLE_S = 1e-4
#: within-process relative dispersion (IQR / median) above which the samples themselves are noisy
NOISY_WITHIN = stats.UNSTABLE
#: a gap between groups of process medians must be at least this (relative) to be a mode ...
MODE_GAP = 0.05
#: ... and this many times the pooled spread of the medians inside the groups, by how many
#: processes are split: the 99th percentile of that ratio over every admissible cut of n normal
#: (one-mode) medians, 4,000 draws each, so a row with one mode shows two in under 1% of rows
MODE_SEPARATION = {5: 10.8, 6: 7.6, 7: 5.8, 8: 4.8, 10: 3.9, 12: 3.1, 16: 2.6, 20: 2.1, 30: 1.7}
#: fewest processes in a group for it to count as a mode, and fewest processes to look for modes
MODE_MIN = 2
MODES_FROM = 5
#: fewest processes before a row may stop for futility: two agree or disagree by luck
FUTILE_FROM = 3


@dataclass(frozen=True)
class Rule:
    """When a row has had enough processes: ``min_processes`` <= processes <= ``max_processes``,
    stopping as soon as the relative half-width of its 95% interval is at most ``target``.
    ``min_processes == max_processes`` is a fixed count (``--processes N``). ``futility`` > 0 stops
    a row early when its interval at the cap, at the spread seen, would still be wider than
    ``futility`` times the target (:func:`projected_half_width`)."""

    min_processes: int
    max_processes: int
    target: float
    confidence: float = stats.CONFIDENCE
    futility: float = 0.0

    def __post_init__(self) -> None:
        if not 1 <= self.min_processes <= self.max_processes:
            raise ValueError(f"need 1 <= min_processes <= max_processes, got {self.min_processes}, {self.max_processes}")
        if not self.target > 0:
            raise ValueError(f"target must be positive, got {self.target}")
        if self.futility and self.futility < 1:
            raise ValueError(f"futility must be 0 (off) or at least 1, got {self.futility}")

    def gives_up(self, projected: float) -> bool:
        """Whether a row whose interval at the cap would have this relative half-width (at the
        spread seen) is stopped for futility."""
        return self.futility > 0 and projected > self.futility * self.target

    @property
    def fixed(self) -> bool:
        return self.min_processes == self.max_processes

    def describe(self) -> str:
        if self.fixed:
            return f"a fixed {self.min_processes} processes per row"
        text = (f"{self.min_processes} to {self.max_processes} processes per row, more while its "
                f"{self.confidence:.0%} interval is wider than ±{self.target:.0%} or its processes form modes")
        if self.futility:
            text += (f"; from {FUTILE_FROM}, none for a row whose interval at {self.max_processes} would still be "
                     f"wider than ±{self.futility * self.target:.0%}")
        return text

    def as_dict(self) -> dict:
        return {"rule": "fixed" if self.fixed else "sequential", "min_processes": self.min_processes,
                "max_processes": self.max_processes, "target": self.target, "confidence": self.confidence,
                "futility": self.futility}


@dataclass(frozen=True)
class Mode:
    """One group of a row's processes: the range of their medians and how many there are."""

    low_s: float
    high_s: float
    count: int

    def as_list(self) -> list:
        return [self.low_s, self.high_s, self.count]


@dataclass(frozen=True)
class Assessment:
    """Where a row stands: its location's relative half-width, its modes, whether it may stop."""

    processes: int
    half_width: float
    modes: tuple[Mode, ...] = ()
    within: float = 0.0
    short: bool = False
    needs_more: bool = False
    #: the row would be sure had its processes not shared their rounds' shifts (the machine drifted)
    drift: bool = False
    #: the row stopped before its cap: the cap could not have made it sure (``Rule.futility``)
    futile: bool = False

    @property
    def sure(self) -> bool:
        return not self.needs_more and not self.modes


@dataclass(frozen=True)
class Prior:
    """What a backend's other rows in the run say about the variance between its processes (log
    scale), worth ``df`` degrees of freedom: the moderated variance of Smyth (2004, limma), so a
    row whose first three processes agree by luck, on a backend whose processes usually disagree,
    is not called sure on them (the early stop a fixed-width rule is prone to with a small
    minimum), while a backend whose processes always agree stops its rows at the minimum."""

    variance: float
    df: float = 4.0


#: rows a prior needs before it is used
PRIOR_FROM = 5


def prior_of(rows: Sequence[Sequence[Sequence[float]]], df: float = 4.0) -> Prior | None:
    """The prior of one backend from its rows' processes (rows with three or more): the median of
    their between-process variances, each scaled by the median of its chi-square (so a median of
    small-sample variances is not biased low). None with fewer than :data:`PRIOR_FROM` rows."""
    scaled = []
    for groups in rows:
        groups = [g for g in groups if g]
        if len(groups) >= 3:
            _, between, _ = stats.process_spread(groups)
            d = len(groups) - 1
            scaled.append(between / (1 - 2 / (9 * d)) ** 3)
    if len(scaled) < PRIOR_FROM:
        return None
    return Prior(statistics.median(scaled), df)


def half_width(groups: Sequence[Sequence[float]], confidence: float = stats.CONFIDENCE,
               prior: Prior | None = None) -> float:
    """Relative half-width (``exp(t * se) - 1``) of the 95% interval of a row's location from its
    processes' samples: the one-sided form of :func:`normbench._results.stats.two_level_ratio`'s interval,
    with the between-process variance moderated by ``prior`` where one is given. Infinite with
    fewer than two processes."""
    return projected_half_width(groups, None, confidence, prior)


def projected_half_width(groups: Sequence[Sequence[float]], processes: int | None,
                         confidence: float = stats.CONFIDENCE, prior: Prior | None = None) -> float:
    """:func:`half_width` had the row ``processes`` processes (None: as many as it has) at the
    spread its processes show now: how narrow more processes could make it."""
    groups = [g for g in groups if g]
    if len(groups) < 2:
        return math.inf
    locs, between, within = stats.process_spread(groups)
    k = len(locs)
    df = k - 1
    if prior is not None:
        between = (prior.df * prior.variance + df * between) / (prior.df + df)
        df += prior.df
    n = processes or k
    var = max(between, within) / n
    if not math.isfinite(var):
        return math.inf
    return math.expm1(_t(confidence, int(df + n - k)) * math.sqrt(var))


def find_modes(medians: Sequence[float]) -> tuple[Mode, ...]:
    """Groups of process medians (seconds) separated by clear gaps: () when there is one group.

    Split, recursively, at the widest gap between sorted log medians that leaves at least
    :data:`MODE_MIN` processes a side, when that gap is at least :data:`MODE_GAP` and
    :func:`separation` times the pooled standard deviation of the medians within the two
    sides. A gap test rather than a mixture fit: with 5-20 processes a mixture's likelihood is
    flat, while a gap several times wider than the groups is what a reader sees as two modes."""
    xs = sorted(m for m in medians if m > 0 and math.isfinite(m))
    if len(xs) < MODES_FROM:
        return ()
    groups = _split(xs)
    if len(groups) < 2:
        return ()
    return tuple(Mode(g[0], g[-1], len(g)) for g in groups)


def _split(xs: list[float]) -> list[list[float]]:
    if len(xs) < 2 * MODE_MIN:
        return [xs]
    logs = [math.log(x) for x in xs]
    cuts = range(MODE_MIN, len(xs) - MODE_MIN + 1)
    at = max(cuts, key=lambda i: logs[i] - logs[i - 1])
    gap = logs[at] - logs[at - 1]
    lo, hi = logs[:at], logs[at:]
    ss = sum((v - statistics.fmean(lo)) ** 2 for v in lo) + sum((v - statistics.fmean(hi)) ** 2 for v in hi)
    sd = math.sqrt(ss / max(1, len(logs) - 2))
    if gap < math.log1p(MODE_GAP) or gap < separation(len(xs)) * sd:
        return [xs]
    return _split(xs[:at]) + _split(xs[at:])


def separation(n: int) -> float:
    """:data:`MODE_SEPARATION` for ``n`` medians (the entry at or below ``n``: conservative)."""
    return MODE_SEPARATION[max((k for k in MODE_SEPARATION if k <= n), default=min(MODE_SEPARATION))]


def assess(groups: Sequence[Sequence[float]], rule: Rule, number: int = 1, prior: Prior | None = None,
           shifts: Sequence[float] | None = None) -> Assessment:
    """Decide whether a row with these processes' samples (seconds per call) needs another
    process under ``rule``; ``number``: calls per sample (how long a sample lasted); ``prior``:
    its backend's (:func:`prior_of`); ``shifts``: per process, the log shift that every row of its
    backend saw in that process's round (:func:`round_shifts`), to tell drift from the row's own
    spread (the row is judged as measured; the shifts only name the cause)."""
    groups = [list(g) for g in groups if g]
    k = len(groups)
    h = half_width(groups, rule.confidence, prior)
    meds = [statistics.median(g) for g in groups]
    modes = find_modes(meds)
    within = statistics.median(_dispersion(g) for g in groups) if groups else 0.0
    short = bool(groups) and statistics.median(meds) * number < SHORT_SAMPLE_S
    if k < rule.min_processes:
        more = True
    elif k >= rule.max_processes:
        more = False
    else:
        more = bool(modes) or not h <= rule.target
    futile = (more and not modes and rule.futility > 0 and k >= max(FUTILE_FROM, rule.min_processes)
              and rule.gives_up(projected_half_width(groups, rule.max_processes, rule.confidence, prior)))
    more = more and not futile
    drift = False
    if shifts is not None and len(shifts) == k and k >= 3 and not h <= rule.target:
        steady = [[v * math.exp(-d) for v in g] for g, d in zip(groups, shifts)]
        drift = half_width(steady, rule.confidence) <= rule.target
    return Assessment(k, h, modes, within, short, more, drift, futile)


def round_shifts(rows: Sequence[Sequence[tuple[int, float]]]) -> dict[int, float]:
    """Each round's shift for one backend: the median, over its rows with three or more processes,
    of how far the row's process in that round lay from the row's own median (log scale). A
    machine that runs slower for a while moves every row measured then; a placement or a process
    moves one. ``rows``: per row, (round, median seconds) of each process."""
    devs: dict[int, list[float]] = {}
    for procs in rows:
        if len(procs) < 3:
            continue
        logs = [math.log(m) for _, m in procs if m > 0]
        if len(logs) != len(procs):
            continue
        c = statistics.median(logs)
        for (r, _), v in zip(procs, logs):
            devs.setdefault(r, []).append(v - c)
    return {r: statistics.median(v) for r, v in devs.items() if len(v) >= PRIOR_FROM}


def processes_needed(a: Assessment, rule: Rule) -> int:
    """How many processes a row that needs more is expected to have in the end: the fewest whose
    interval would meet the target at the spread seen so far (Student's t shrinking with them),
    within the rule's bounds; the cap for a row with modes; where the rule stops for futility and the
    cap could not make the row sure, the count at which it will stop."""
    if not a.needs_more:
        return a.processes
    if a.modes:
        return rule.max_processes
    if a.processes < 2 or not math.isfinite(a.half_width):
        return min(rule.max_processes, max(rule.min_processes, a.processes + 1))
    sd = math.log1p(a.half_width) * math.sqrt(a.processes) / _t(rule.confidence, a.processes - 1)
    for k in range(max(a.processes + 1, rule.min_processes), rule.max_processes + 1):
        if _t(rule.confidence, k - 1) * sd / math.sqrt(k) <= math.log1p(rule.target):
            return k
    cap = rule.max_processes
    if rule.gives_up(math.expm1(_t(rule.confidence, cap - 1) * sd / math.sqrt(cap))):
        return min(cap, max(a.processes + 1, FUTILE_FROM, rule.min_processes))  # it will stop for futility
    return cap


@lru_cache(maxsize=None)
def _t(confidence: float, df: int) -> float:
    return stats.t_quantile(1 - (1 - confidence) / 2, df)


def _dispersion(g: Sequence[float]) -> float:
    med = statistics.median(g)
    return (stats.quantile(g, 0.75) - stats.quantile(g, 0.25)) / med if med > 0 else 0.0


#: why a row is unstable, each with what to do about it (the run header lists them too)
CAUSES = {
    "modes": ("its processes fall into separate groups (placement: where its data lands in memory decides "
              "the time)", "the modes are the finding; --max-processes N pins their shares"),
    "within": ("its samples spread within each process (contention, frequency scaling, another job)",
               "--wait-idle S, fewer --threads than cores, or a quieter machine"),
    "drift": ("its processes moved with their rounds: every row the backend measured in the same round (one "
              "worker process) shifted together, so the machine's speed or that worker's state (where its threads "
              "ran) moved, not this row; without those shifts it would be sure",
              "a quieter machine or --wait-idle S; to compare two versions, normbench ab (both in the same rounds)"),
    "between": ("its processes disagree without clear groups and without the machine's drift to explain it "
                "(placement, the process's own state, or a shared host that runs the machine slower for a second "
                "at a time: reports/protocol, stretches.py)",
                "--max-processes N or --rigor rigorous; to compare two versions, normbench ab (sample by sample in "
                "the same processes, which such stretches cannot come between)"),
    "short": ("its samples are too short for the clock", "a larger shape, or --repeat with more calls per sample"),
    "few": ("it has too few processes for its spread (the cap, a failure or an interruption; rigor quick stops a "
            "row early whose interval the cap could not have narrowed enough)",
            "--max-processes N, --rigor default or rigorous, or bench --resume"),
}


def diagnose(a: Assessment, rule: Rule, lost: bool = False) -> str:
    """The cause (a key of :data:`CAUSES`) of an unstable row, or "" for a sure one.

    A row is unstable when it has modes, or when its interval is still wider than the rule's
    target after its last process. The cause is the first that applies of: too few processes
    because some were lost, samples too short for the clock, modes, noisy samples within
    processes, the machine's drift between rounds, a cap too low for rigor ``quick``'s few
    processes, and disagreement between processes."""
    if a.sure and a.half_width <= rule.target:
        return ""
    if lost or a.processes < rule.min_processes:
        return "few"
    if a.short:
        return "short"
    if a.modes:
        return "modes"
    if a.within > NOISY_WITHIN:
        return "within"
    if a.drift:
        return "drift"
    if rule.max_processes < 6:
        return "few"
    return "between"


def unflatten(flat) -> list[Mode]:
    """A bench file's ``modes`` column (flat triples: low_s, high_s, processes) as modes."""
    if not isinstance(flat, (list, tuple)):
        return []
    return [Mode(float(flat[i]), float(flat[i + 1]), int(flat[i + 2])) for i in range(0, len(flat) - 2, 3)]


def modes_text(modes, processes: int | None = None) -> str:
    """``2 modes: 1.6–2.0 ms in 7 of 12 processes, 2.4–2.9 ms in 5`` ("" without modes), from
    :class:`Mode` records or a bench file's flat ``modes`` column."""
    ms = list(modes) if isinstance(modes, (list, tuple)) and modes and isinstance(modes[0], Mode) else unflatten(modes)
    if len(ms) < 2:
        return ""
    total = processes or sum(m.count for m in ms)
    parts = []
    for i, m in enumerate(ms):
        span = _ms(m.low_s) if _ms(m.low_s) == _ms(m.high_s) else f"{_ms(m.low_s)}–{_ms(m.high_s)}"
        parts.append(f"{span} ms in {m.count}" + (f" of {total} processes" if i == 0 else ""))
    return f"{len(ms)} modes: " + ", ".join(parts)


#: what a row from a file without causes (normbench 0.12 and older) is unstable for
LEGACY_CAUSE = "spread above 10% (normbench 0.12's rule)"


def unstable_text(cause: str, modes, processes: int | None = None) -> str:
    """An unstable row's verdict in one line: its cause, then its modes where it has them
    (``within; 2 modes: ...``); the terminal table, the report and the HTML page all show this."""
    text = modes_text(modes, processes)
    return (cause or LEGACY_CAUSE) + (f"; {text}" if text else "")


def _ms(seconds: float) -> str:
    """Milliseconds to two significant figures, zeros kept (``1.6``, ``2.0``, ``0.53``, ``23``)."""
    v = seconds * 1e3
    if not v > 0 or not math.isfinite(v):
        return f"{v:g}"
    return f"{v:.{max(0, 1 - math.floor(math.log10(v)))}f}"
