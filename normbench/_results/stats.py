"""Timing statistics: spread of one row, and how sure a ratio of two rows is.

No SciPy: the few pieces needed are small and exact.

- :func:`summarize`: median, quartiles, min/max and a relative dispersion, IQR / median. A row
  whose dispersion exceeds :data:`UNSTABLE` (10%, pyperf's threshold for its stdev warning) is
  flagged unstable. IQR rather than stdev: one sample hit by a context switch should not
  condemn a row (it barely moves the quartiles), half of them spread wide should.
- :func:`ratio`: the ratio of two sets of timing samples with a confidence interval. Samples
  that come from several worker processes (bench's protocol: ``process_n``) get a **two-level**
  interval (:func:`two_level_ratio`): the process is the unit, each side's location the mean of
  its processes' median log times, Welch's t interval on the difference, so the spread between
  processes (allocator and cache state, page placement) widens the interval as it should and a
  single process's many samples cannot make it falsely narrow. Otherwise, one process a side,
  the interval is distribution-free. The estimate is the Hodges-Lehmann shift of the log times (the median of every
  pairwise log ratio); the interval is the matching Mann-Whitney (Wilcoxon rank-sum) interval:
  the k-th smallest and k-th largest pairwise log ratio, k from the exact distribution of U for
  small samples and its normal approximation otherwise. It is *significant* exactly when the
  interval excludes 1. This is the rank test google-benchmark's compare.py and asv apply, turned
  into an interval so a reader sees the size of the doubt, not only a p-value.
- :func:`geomean`: the geometric mean of several ratios, with an interval that carries their
  measurement noise (not their spread across configurations, which is a fact, not noise).

Within one process samples are treated as exchangeable; between processes they are not.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

#: relative dispersion (IQR / median) above which a row is flagged unstable
UNSTABLE = 0.10
#: confidence of every interval
CONFIDENCE = 0.95
#: exact U distribution up to this many samples on the larger side (normal approximation above)
EXACT_MAX = 30


def quantile(xs: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile (NumPy's default, "type 7")."""
    s = sorted(xs)
    if not s:
        return math.nan
    pos = q * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def split(samples: Sequence[float], process_n: Sequence[int] | None) -> list[list[float]]:
    """``samples`` cut into the processes that gave them (one group when ``process_n`` is missing
    or does not add up, as in files written before processes were recorded)."""
    xs = [float(x) for x in samples]
    n = [int(k) for k in (process_n or [])]
    if not n or sum(n) != len(xs) or min(n) < 1:
        return [xs]
    out, at = [], 0
    for k in n:
        out.append(xs[at:at + k])
        at += k
    return out


def summarize(samples: Sequence[float], process_n: Sequence[int] | None = None) -> dict[str, float | int | bool]:
    """Per-row statistics of timing samples (seconds): n, median, q1, q3, min, max, dispersion,
    the processes and how far their medians spread ((max - min) / median), and unstable: either
    spread above :data:`UNSTABLE`."""
    xs = [float(x) for x in samples if not math.isnan(float(x))]
    if not xs:
        raise ValueError("no samples")
    med = statistics.median(xs)
    q1, q3 = quantile(xs, 0.25), quantile(xs, 0.75)
    disp = (q3 - q1) / med if med > 0 else 0.0
    groups = split(samples, process_n)
    meds = [statistics.median(g) for g in groups if g]
    pdisp = (max(meds) - min(meds)) / med if len(meds) > 1 and med > 0 else 0.0
    return {"n_samples": len(xs), "median_s": med, "q1_s": q1, "q3_s": q3, "min_s": min(xs), "max_s": max(xs),
            "dispersion": disp, "processes": len(groups), "process_dispersion": pdisp,
            "unstable": disp > UNSTABLE or pdisp > UNSTABLE}


@lru_cache(maxsize=None)
def _u_counts(m: int, n: int) -> tuple[int, ...]:
    """How many of the C(m+n, m) orderings give each value of U (no ties), U = 0..m*n."""
    # f(m, n, u) = f(m-1, n, u-n) + f(m, n-1, u): the largest value is from x (adds n) or from y
    if m == 0 or n == 0:
        return (1,)
    a, b = _u_counts(m - 1, n), _u_counts(m, n - 1)
    out = [0] * (m * n + 1)
    for u, c in enumerate(a):
        out[u + n] += c
    for u, c in enumerate(b):
        out[u] += c
    return tuple(out)


def z_value(confidence: float) -> float:
    """Two-sided standard normal quantile, by bisection on erf (no SciPy)."""
    target = confidence
    lo, hi = 0.0, 10.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if math.erf(mid / math.sqrt(2)) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _k(m: int, n: int, confidence: float) -> int:
    """Rank (1-based) of the lower interval end among the m*n sorted pairwise differences.

    The largest k with P(U <= k - 1) <= alpha / 2; 0 when the samples are too few for the
    confidence asked (then no interval is narrower than everything).
    """
    alpha = 1 - confidence
    if max(m, n) <= EXACT_MAX:
        counts = _u_counts(m, n)
        total = math.comb(m + n, m)
        cum, k = 0, 0
        for u, c in enumerate(counts):
            cum += c
            if cum / total > alpha / 2:
                break
            k = u + 1
        return k
    z = z_value(confidence)
    k = math.floor(m * n / 2 - z * math.sqrt(m * n * (m + n + 1) / 12))
    return max(k, 0)


def mann_whitney_p(x: Sequence[float], y: Sequence[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test (exact without ties for small samples,
    else the normal approximation with tie and continuity corrections)."""
    m, n = len(x), len(y)
    if not m or not n:
        return 1.0
    u = sum((xi > yj) + 0.5 * (xi == yj) for xi in x for yj in y)
    ties = len(set(x) | set(y)) < m + n or len(set(x)) < m or len(set(y)) < n
    if max(m, n) <= EXACT_MAX and not ties:
        counts = _u_counts(m, n)
        total = math.comb(m + n, m)
        lo = min(u, m * n - u)
        p = 2 * sum(counts[: int(lo) + 1]) / total
        return min(1.0, p)
    pooled = sorted(list(x) + list(y))
    N = m + n
    tie_term = 0
    i = 0
    while i < N:
        j = i
        while j + 1 < N and pooled[j + 1] == pooled[i]:
            j += 1
        t = j - i + 1
        tie_term += t ** 3 - t
        i = j + 1
    var = m * n / 12 * ((N + 1) - tie_term / (N * (N - 1)))
    if var <= 0:
        return 1.0
    z = max(0.0, abs(u - m * n / 2) - 0.5) / math.sqrt(var)
    return min(1.0, math.erfc(z / math.sqrt(2)))


@dataclass(frozen=True)
class Ratio:
    """``num / den`` of two timing sample sets: estimate, interval, and whether it excludes 1."""

    ratio: float
    low: float
    high: float
    p: float
    n_num: int
    n_den: int
    #: standard error of log(ratio) where the interval came from one (two-level intervals), else None
    se: float | None = None
    #: degrees of freedom of that standard error (Welch's), None: normal
    df: float | None = None

    @property
    def significant(self) -> bool:
        return self.low > 1 or self.high < 1

    @property
    def resolved(self) -> bool:
        """False when the samples are too few for an interval at this confidence."""
        return self.low > 0 and math.isfinite(self.high)

    def text(self, digits: int = 2) -> str:
        """``1.52x [1.40, 1.61]``; ``no clear difference`` is left to the caller (see :meth:`verdict`)."""
        if not self.resolved:
            return f"{self.ratio:.{digits}f}x [too few samples]"
        return f"{self.ratio:.{digits}f}x [{self.low:.{digits}f}, {self.high:.{digits}f}]"

    def verdict(self, higher: str = "slower", lower: str = "faster") -> str:
        if not self.significant:
            return "no clear difference"
        return higher if self.ratio > 1 else lower

    def as_dict(self) -> dict[str, float | bool | None]:
        return {"ratio": self.ratio, "low": self.low if self.resolved else None,
                "high": self.high if self.resolved else None, "p_value": self.p, "significant": self.significant,
                "se": self.se, "df": self.df}


def ratio(num: Sequence[float], den: Sequence[float], confidence: float = CONFIDENCE, *,
          num_processes: Sequence[int] | None = None, den_processes: Sequence[int] | None = None) -> Ratio:
    """Ratio of the typical value of ``num`` to that of ``den`` (e.g. baseline time / backend time
    is a speed-up), with a ``confidence`` interval.

    With the samples of each side split into at least two processes (``*_processes``: samples per
    process, in order), the interval is two-level (:func:`two_level_ratio`); otherwise it is the
    Mann-Whitney interval of the samples (module docstring), which knows nothing of processes.
    """
    gn, gd = split(num, num_processes), split(den, den_processes)
    if len(gn) >= 2 and len(gd) >= 2:
        return two_level_ratio(gn, gd, confidence)
    a = [math.log(v) for v in num if v > 0 and math.isfinite(v)]
    b = [math.log(v) for v in den if v > 0 and math.isfinite(v)]
    if not a or not b:
        raise ValueError("ratio needs positive samples on both sides")
    diffs = sorted(x - y for x in a for y in b)
    est = math.exp(statistics.median(diffs))
    k = _k(len(a), len(b), confidence)
    if k < 1:
        low, high = 0.0, math.inf
    else:
        low, high = math.exp(diffs[k - 1]), math.exp(diffs[len(diffs) - k])
    return Ratio(est, low, high, mann_whitney_p(a, b), len(a), len(b))


def _side(groups: Sequence[Sequence[float]]) -> tuple[float, float, int]:
    """(mean of the processes' median log times, its squared standard error, degrees of freedom).

    The process is the unit (a cluster-robust estimate): processes differ by more than their
    samples do (allocator and cache state, page placement, ASLR), and the spread of the process
    medians carries both levels. That spread, from a handful of processes, can come out near
    zero by chance; it is never taken below what the samples within the processes imply for a
    median (pi/2 * within variance / n)."""
    locs, between, within = process_spread(groups)
    k = len(locs)
    return statistics.fmean(locs), max(between, within) / k, k - 1


def process_spread(groups: Sequence[Sequence[float]]) -> tuple[list[float], float, float]:
    """(each process's median log time, the variance between them (inf for one process), the
    variance of one process's median that its samples imply, averaged over processes)."""
    logs = [[math.log(v) for v in g if v > 0 and math.isfinite(v)] for g in groups]
    logs = [g for g in logs if g]
    if not logs:
        raise ValueError("ratio needs positive samples on both sides")
    locs = [statistics.median(g) for g in logs]
    between = statistics.variance(locs) if len(locs) > 1 else math.inf
    within = statistics.fmean((math.pi / 2) * (1.4826 * _mad(g)) ** 2 / len(g) for g in logs)
    return locs, between, within


def _mad(xs: Sequence[float]) -> float:
    c = statistics.median(xs)
    return statistics.median(abs(x - c) for x in xs)


def two_level_ratio(num: Sequence[Sequence[float]], den: Sequence[Sequence[float]],
                    confidence: float = CONFIDENCE) -> Ratio:
    """``num / den`` from samples grouped by process: the difference of the two sides' mean
    process-median log times, with Welch's t interval on the processes (:func:`_side`)."""
    mn, vn, dn = _side(num)
    md, vd, dd = _side(den)
    d = mn - md
    se2 = vn + vd
    if not math.isfinite(se2) or dn < 1 or dd < 1:
        return Ratio(math.exp(d), 0.0, math.inf, math.nan, len(num), len(den))
    se = math.sqrt(se2)
    df = se2 ** 2 / ((vn ** 2 / dn if vn else 0.0) + (vd ** 2 / dd if vd else 0.0)) if (vn or vd) else dn + dd
    t = t_quantile(1 - (1 - confidence) / 2, df)
    p = 2 * (1 - t_cdf(abs(d) / se, df)) if se > 0 else (0.0 if d else 1.0)
    return Ratio(math.exp(d), math.exp(d - t * se), math.exp(d + t * se), p, len(num), len(den), se, df)


def block_log_ratios(num: Sequence[float], den: Sequence[float]) -> list[float] | None:
    """One process's log ratios ``num / den``, one per block of interleaved samples
    (:func:`normbench._timing.paired.interleaved_samples`: samples ``2j`` and ``2j + 1`` of each side
    are block ``j``, taken A B B A, so a linear drift within the block cancels in the sums); None
    when the two sides are not aligned (different counts: each side's samples were taken in turns
    of their own, as ``ab`` did in 0.15)."""
    if len(num) != len(den) or not num or len(num) % 2:
        return None
    out = []
    for j in range(0, len(num), 2):
        n, d = num[j] + num[j + 1], den[j] + den[j + 1]
        if n > 0 and d > 0 and math.isfinite(n) and math.isfinite(d):
            out.append(math.log(n / d))
    return out or None


def paired_ratio(num: Sequence[Sequence[float]], den: Sequence[Sequence[float]],
                 confidence: float = CONFIDENCE) -> Ratio:
    """``num / den`` from processes that measured both, process ``i`` of one side with process
    ``i`` of the other (``normbench ab``'s paired design, :mod:`normbench._timing.paired`): the mean over
    processes of each process's log ratio, with Student's t on those (n - 1 degrees of freedom).
    A shift that moves a whole process moves both sides and cancels.

    A process's log ratio is the median of its blocks' (:func:`block_log_ratios`) where the
    samples were interleaved, so that a stretch of slow machine moves both sides of a block; else
    the difference of the two sides' median log times. Its variance is never taken below what
    the samples within the processes imply (as :func:`_side`)."""
    if len(num) != len(den):
        raise ValueError(f"paired processes: {len(num)} on one side, {len(den)} on the other")
    blocks = [block_log_ratios(x, y) for x, y in zip(num, den)]
    if all(b is not None for b in blocks) and blocks:
        diffs = [statistics.median(b) for b in blocks]
        floor = statistics.fmean((math.pi / 2) * (1.4826 * _mad(b)) ** 2 / len(b) for b in blocks)
    else:
        ln, _, wn = process_spread(num)
        ld, _, wd = process_spread(den)
        diffs, floor = [x - y for x, y in zip(ln, ld)], wn + wd
    n, d = len(diffs), statistics.fmean(diffs)
    if n < 2:
        return Ratio(math.exp(d), 0.0, math.inf, math.nan, n, n)
    se = math.sqrt(max(statistics.variance(diffs), floor) / n)
    t = t_quantile(1 - (1 - confidence) / 2, n - 1)
    p = 2 * (1 - t_cdf(abs(d) / se, n - 1)) if se > 0 else (0.0 if d else 1.0)
    return Ratio(math.exp(d), math.exp(d - t * se), math.exp(d + t * se), p, n, n, se, n - 1)


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularized incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((a + m2 - 1) * (a + m2)), -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1))):
            d = 1 + num * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1) < 1e-14:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1 - front * _betacf(b, a, 1 - x) / b


def t_cdf(t: float, df: float) -> float:
    """Student's t distribution function (no SciPy)."""
    tail = 0.5 * _betainc(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """Inverse of :func:`t_cdf`, by bisection."""
    lo, hi = -1e3, 1e3
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def geomean(ratios: Sequence[Ratio], confidence: float = CONFIDENCE) -> Ratio:
    """Geometric mean of ratios; the interval combines their standard errors (in log space, as
    independent errors), so it shows measurement noise only. Where the ratios carry Welch degrees
    of freedom (two-level intervals) the combined interval is a t interval with Satterthwaite's
    degrees of freedom, never a normal one on few processes."""
    if not ratios:
        raise ValueError("geomean of no ratios")
    logs = [math.log(r.ratio) for r in ratios]
    est = math.exp(sum(logs) / len(logs))
    if not all(r.resolved for r in ratios):
        return Ratio(est, 0.0, math.inf, math.nan, len(ratios), len(ratios))
    z = z_value(confidence)
    se = [r.se if r.se is not None else (math.log(r.high) - math.log(r.low)) / (2 * z) for r in ratios]
    se_mean = math.sqrt(sum(s * s for s in se)) / len(se)
    df = None
    if all(r.df for r in ratios) and se_mean > 0:
        df = sum(s * s for s in se) ** 2 / sum(s ** 4 / r.df for s, r in zip(se, ratios))
    q = t_quantile(1 - (1 - confidence) / 2, df) if df else z
    half = q * se_mean
    return Ratio(est, est * math.exp(-half), est * math.exp(half), math.nan, len(ratios), len(ratios), se_mean, df)
