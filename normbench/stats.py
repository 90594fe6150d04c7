"""Timing statistics: spread of one row, and how sure a ratio of two rows is.

No SciPy: the few pieces needed are small and exact.

- :func:`summarize`: median, quartiles, min/max and a relative dispersion, IQR / median. A row
  whose dispersion exceeds :data:`UNSTABLE` (10%, pyperf's threshold for its stdev warning) is
  flagged unstable. IQR rather than stdev: one sample hit by a context switch should not
  condemn a row (it barely moves the quartiles), half of them spread wide should.
- :func:`ratio`: the ratio of two sets of timing samples with a distribution-free confidence
  interval. The estimate is the Hodges-Lehmann shift of the log times (the median of every
  pairwise log ratio); the interval is the matching Mann-Whitney (Wilcoxon rank-sum) interval:
  the k-th smallest and k-th largest pairwise log ratio, k from the exact distribution of U for
  small samples and its normal approximation otherwise. It is *significant* exactly when the
  interval excludes 1. This is the rank test google-benchmark's compare.py and asv apply, turned
  into an interval so a reader sees the size of the doubt, not only a p-value.
- :func:`geomean`: the geometric mean of several ratios, with an interval that carries their
  measurement noise (not their spread across configurations, which is a fact, not noise).

Samples are treated as exchangeable. bench takes them in interleaved rounds, so slow drift on
the machine widens both sides' spread (a wider, more honest interval) instead of shifting one.
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


def summarize(samples: Sequence[float]) -> dict[str, float | int | bool]:
    """Per-row statistics of timing samples (seconds): n, median, q1, q3, min, max, dispersion, unstable."""
    xs = [float(x) for x in samples if not math.isnan(float(x))]
    if not xs:
        raise ValueError("no samples")
    med = statistics.median(xs)
    q1, q3 = quantile(xs, 0.25), quantile(xs, 0.75)
    disp = (q3 - q1) / med if med > 0 else 0.0
    return {"n_samples": len(xs), "median_s": med, "q1_s": q1, "q3_s": q3, "min_s": min(xs), "max_s": max(xs),
            "dispersion": disp, "unstable": disp > UNSTABLE}


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
                "high": self.high if self.resolved else None, "p_value": self.p, "significant": self.significant}


def ratio(num: Sequence[float], den: Sequence[float], confidence: float = CONFIDENCE) -> Ratio:
    """Ratio of the typical value of ``num`` to that of ``den`` (e.g. baseline time / backend time
    is a speed-up), with a ``confidence`` interval (module docstring)."""
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


def geomean(ratios: Sequence[Ratio], confidence: float = CONFIDENCE) -> Ratio:
    """Geometric mean of ratios; the interval combines their intervals' widths (in log space, as
    independent normal errors), so it shows measurement noise only."""
    if not ratios:
        raise ValueError("geomean of no ratios")
    logs = [math.log(r.ratio) for r in ratios]
    est = math.exp(sum(logs) / len(logs))
    if not all(r.resolved for r in ratios):
        return Ratio(est, 0.0, math.inf, math.nan, len(ratios), len(ratios))
    z = z_value(confidence)
    se = [(math.log(r.high) - math.log(r.low)) / (2 * z) for r in ratios]
    half = z * math.sqrt(sum(s * s for s in se)) / len(se)
    return Ratio(est, est * math.exp(-half), est * math.exp(half), math.nan, len(ratios), len(ratios))
