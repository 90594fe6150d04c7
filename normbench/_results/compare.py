"""Ratios between measurements, with their intervals: speed-ups within a run, and run B against run A.

Both come from the raw timing samples of the rows involved (:func:`normbench._results.stats.ratio`). Rows
of files written before samples were kept (normbench 0.4) give the ratio of medians and no
interval; :func:`compare_rows` refuses them, since a verdict needs the samples.
"""
from __future__ import annotations

import math
import statistics
from collections import Counter
from typing import Any, Iterable, Sequence

from . import stats
from .. import records
from ..errors import InputError

#: what identifies one measurement across runs (compare) and within a run (speed-ups: minus backend):
#: the configuration (:data:`normbench.records.CONFIG`), then who measured it and how
CONFIG_KEYS = (*records.CONFIG, "threads", "backend")


def config_key(row: dict[str, Any], keys: Sequence[str] = CONFIG_KEYS) -> tuple[str, ...]:
    return records.config_key(row, keys)


def samples_of(row: dict[str, Any]) -> list[float]:
    s = row.get("samples_s")
    return [float(x) for x in s] if isinstance(s, (list, tuple)) else []


def processes_of(row: dict[str, Any]) -> list[int] | None:
    n = row.get("process_n")
    return [int(k) for k in n] if isinstance(n, (list, tuple)) and n else None


def is_contended(row: dict[str, Any]) -> bool:
    v = row.get("contended")
    return bool(v) and not (isinstance(v, float) and math.isnan(v))


def row_ratio(num: dict[str, Any], den: dict[str, Any], confidence: float = stats.CONFIDENCE) -> stats.Ratio:
    """``num``'s time over ``den``'s, from their samples (two-level when both rows carry their
    processes); medians only (no interval) when a row has no samples."""
    a, b = samples_of(num), samples_of(den)
    if a and b:
        return stats.ratio(a, b, confidence, num_processes=processes_of(num), den_processes=processes_of(den))
    r = float(num["median_s"]) / float(den["median_s"])
    return stats.Ratio(r, 0.0, math.inf, math.nan, 1, 1)


def speedup_text(r: stats.Ratio) -> str:
    """A speed-up for a table: ``1.52x [1.40, 1.61]``, or ``no clear difference (0.98x [0.91, 1.05])``."""
    if r.resolved and not r.significant:
        return f"no clear difference ({r.text()})"
    return r.text() if r.resolved else f"{r.ratio:.2f}x"


#: what pairs a row with its baseline's in one run. Threads are not part of it: a backend that uses
#: one thread whatever is asked (NumPy) is still compared with the baseline it ran beside
SAME_RUN_KEYS = tuple(k for k in CONFIG_KEYS if k not in ("backend", "threads")) + ("run_id",)


def speedups(rows: Iterable[dict[str, Any]], baseline: str, keys: Sequence[str] = SAME_RUN_KEYS) -> dict[int, stats.Ratio]:
    """Speed-up of each row over ``baseline``'s row with the same ``keys`` (by row index)."""
    rows = list(rows)
    base = {config_key(r, keys): r for r in rows if r["backend"] == baseline}
    out = {}
    for i, r in enumerate(rows):
        b = base.get(config_key(r, keys))
        if b is not None and r["backend"] != baseline:
            out[i] = row_ratio(b, r)  # baseline time / backend time: > 1 is faster
    return out


#: a configuration whose interval spans more than this factor (high / low) says too little to
#: average: it is left out of its summary, which says how many were
WIDE = 2.0


def summarize_ratios(rs: Sequence[stats.Ratio], contended: int = 0) -> dict[str, Any]:
    """One summary of per-configuration ratios (> 1: faster) that cannot contradict them.

    Configurations whose interval is unresolved or spans more than :data:`WIDE` are left out of
    the geometric mean (counted in ``wide``), and so are contended rows (counted by the caller).
    The verdict is "faster" only when the mean's interval is above 1 *and* at least one
    configuration is clearly faster, likewise "slower"; else "no clear difference".
    """
    verdicts = Counter(r.verdict(higher="faster", lower="slower") if r.resolved else "unresolved" for r in rs)
    usable = [r for r in rs if r.resolved and r.high / r.low <= WIDE]
    g = stats.geomean(usable) if usable else None
    verdict = "no clear difference"
    if g is not None and g.resolved and g.significant:
        side = "faster" if g.ratio > 1 else "slower"
        if verdicts[side]:
            verdict = side
    return {"geomean": g, "n": len(rs), "used": len(usable), "wide": len(rs) - len(usable), "contended": contended,
            "faster": verdicts["faster"], "slower": verdicts["slower"],
            "unclear": verdicts["no clear difference"] + verdicts["unresolved"], "verdict": verdict}


def speedup_summary(rows: Sequence[dict[str, Any]], baseline: str) -> list[dict[str, Any]]:
    """Per backend, op and pass: the geometric-mean speed-up over ``baseline`` with its interval,
    how many configurations were clearly faster, clearly slower, or neither, and how many were
    left out (contended, or an interval too wide: :func:`summarize_ratios`)."""
    rows = list(rows)
    per = speedups(rows, baseline)
    base = {config_key(r, SAME_RUN_KEYS): r for r in rows if r["backend"] == baseline}
    groups: dict[tuple[str, str, str], list[stats.Ratio]] = {}
    busy: Counter = Counter()
    for i, r in per.items():
        key = (rows[i]["backend"], rows[i]["norm"], rows[i]["op"])
        if is_contended(rows[i]) or is_contended(base.get(config_key(rows[i], SAME_RUN_KEYS), {})):
            busy[key] += 1
            groups.setdefault(key, [])
            continue
        groups.setdefault(key, []).append(r)
    return [{"backend": k[0], "norm": k[1], "op": k[2], **summarize_ratios(rs, busy[k])} for k, rs in groups.items()]


def summary_line(s: dict[str, Any], baseline: str) -> str:
    g = s["geomean"]
    n = s["n"] + s.get("contended", 0)
    if g is None:
        where = "no summary: every configuration left out"
    else:
        where = (g.text() if g.resolved else f"{g.ratio:.2f}x (no interval: too few samples)") + \
            f" geometric mean over {s['used']} of {n} configurations, {s['verdict']}"
    left = [f"{s['wide']} left out: interval wider than {WIDE:g}x"] if s.get("wide") else []
    left += [f"{s['contended']} left out: contended"] if s.get("contended") else []
    return (f"{s['backend']} vs {baseline}, {s['norm']} {s['op']}: {where} "
            f"(>1: faster; {s['faster']} faster, {s['slower']} slower, {s['unclear']} no clear difference"
            + "".join(f"; {x}" for x in left) + ")")


def speedup_lines(rows: list[dict], baseline: str = "torch-cpu") -> list[str]:
    """Geometric-mean speed-up of each backend over ``baseline`` per op and pass, on shared
    configurations of the same run, with its interval (see normbench._results.compare)."""
    return [summary_line(s, baseline) for s in speedup_summary(rows, baseline)]


#: fewest matched configurations from which the run-to-run noise is estimated (else it is taken as 0)
MIN_FOR_NOISE = 8


def run_to_run_noise(log_ratios: Sequence[float], within: Sequence[float]) -> float:
    """Standard deviation (log scale) of the noise between two runs that the samples of one run cannot see.

    A random-effects model: each configuration's log ratio = its true change + within-run noise
    (``within``: the standard error from its own samples) + a shift common in size to every
    configuration of the pair (the machine ran faster or slower for a while: a shared VM's
    neighbours, frequency, memory placement). Its variance is what the robust spread of all
    configurations' log ratios (MAD, so up to half of them may truly have changed) has beyond
    the typical within-run variance. 0 when fewer than :data:`MIN_FOR_NOISE` configurations match.
    """
    if len(log_ratios) < MIN_FOR_NOISE:
        return 0.0
    center = statistics.median(log_ratios)
    mad = statistics.median(abs(d - center) for d in log_ratios)
    spread = (1.4826 * mad) ** 2
    return math.sqrt(max(0.0, spread - statistics.median(w * w for w in within)))


def gate(ratios: dict, threshold: float, alpha: float) -> set:
    """The configurations that fail the gate: slower than ``1 + threshold``, tested as one family.

    The gate asks one question of the whole comparison (did anything get slower by more than the
    threshold?), so its false alarms are controlled for the family with Holm's step-down
    procedure on one-sided tests of log ratio <= log(1 + threshold) (Student's t with each
    ratio's standard error, run-to-run noise included, and its Welch degrees of freedom). With 183 configurations a 95% test per
    configuration would fail an A/A comparison most of the time on its noisiest rows alone.
    """
    tests = []
    for key, r in ratios.items():
        if r.se is not None and r.se > 0 and math.isfinite(r.se):
            tt = (math.log(r.ratio) - math.log1p(threshold)) / r.se
            # Student's t where the ratio came from a few processes a side (its Welch df), else normal
            p = 1 - stats.t_cdf(tt, r.df) if r.df else 0.5 * math.erfc(tt / math.sqrt(2))
            tests.append((p, key))
        elif r.resolved and r.low > 1 + threshold:  # a zero-width interval above the threshold
            tests.append((0.0, key))
    tests.sort()
    failed = set()
    for i, (p, key) in enumerate(tests):
        if p > alpha / (len(tests) - i):
            break
        failed.add(key)
    return failed


def with_common(r: stats.Ratio, common: tuple[float, float | None], confidence: float = stats.CONFIDENCE) -> stats.Ratio:
    """``r`` with a variance ``common[0]`` (log scale, ``common[1]`` degrees of freedom, None: known)
    added to its standard error: the uncertainty of a shift shared by every configuration, which
    averaging configurations does not shrink. Satterthwaite's degrees of freedom for the sum."""
    var, df_c = common
    if not var or not r.resolved:
        return r
    z = stats.z_value(confidence)
    se = r.se if r.se is not None else (math.log(r.high) - math.log(r.low)) / (2 * z)
    total = se * se + var
    parts = (se ** 4 / r.df if r.df else 0.0) + (var * var / df_c if df_c else 0.0)
    df = total * total / parts if parts > 0 else None
    q = stats.t_quantile(1 - (1 - confidence) / 2, df) if df else z
    half, d = q * math.sqrt(total), math.log(r.ratio)
    return stats.Ratio(r.ratio, math.exp(d - half), math.exp(d + half), r.p, r.n_num, r.n_den, math.sqrt(total), df)


def judge(result: list[dict], keys: Sequence[tuple], ratios: dict, busy: set, threshold: float,
          confidence: float, common: tuple[float, float | None] = (0.0, None)) -> None:
    """Set each result row's ``regression`` (fails the Holm gate, :func:`gate`) and
    ``group_regression`` (its backend's op and pass are slower than ``1 + threshold`` on their
    geometric mean's interval), from ``ratios`` (by key; contended keys in ``busy`` are not judged).
    ``common``: the variance of a shift shared by every configuration (:func:`with_common`), added
    to each ratio and to each geometric mean once, after averaging."""
    quiet = {k: r for k, r in ratios.items() if k not in busy}
    gated = gate({k: with_common(r, common, confidence) for k, r in quiet.items()}, threshold, 1 - confidence)
    # a slowdown shared by a backend's op and pass: their geometric mean, pooled over the configurations
    # (few processes each are weak evidence alone, many together are not), above 1 + threshold
    at = [CONFIG_KEYS.index(k) for k in ("backend", "norm", "op")]
    groups: dict[tuple, list] = {}
    for k, r in quiet.items():
        groups.setdefault(tuple(k[i] for i in at), []).append(r)
    slow_groups = {g for g, rs in groups.items()
                   if len(rs) > 1 and (m := with_common(stats.geomean(rs, confidence), common, confidence)).resolved
                   and m.low > 1 + threshold}
    for key, row in zip(keys, result):
        row["regression"] = key in gated
        row["group_regression"] = key not in busy and tuple(key[i] for i in at) in slow_groups


def ab_rows(rows: Sequence[dict[str, Any]], a: str, b: str, *, confidence: float = stats.CONFIDENCE,
            threshold: float = 0.10, paired: bool = False) -> list[dict[str, Any]]:
    """Backend ``b`` against backend ``a`` measured in the same run (interleaved in the same rounds,
    :command:`normbench ab`): per configuration B's time over A's with its interval and a verdict,
    judged as :func:`compare_rows` judges two runs but without run-to-run noise: the two versions
    shared every round, so the drift between runs that :func:`run_to_run_noise` estimates does not
    come between them. ``paired``: process ``i`` of A and of B ran in the same worker
    (:mod:`normbench._timing.paired`), and the interval is on their per-process ratios
    (:func:`normbench._results.stats.paired_ratio`); otherwise it is two-level, the processes of each side
    independent. Result rows name backend ``b``."""
    keys = tuple(k for k in CONFIG_KEYS if k != "backend")
    ia = {config_key(r, keys): r for r in rows if r["backend"] == a}
    ib = {config_key(r, keys): r for r in rows if r["backend"] == b}
    matched = [k for k in ia if k in ib]
    ratios, result, busy = {}, [], set()
    for k in matched:
        na, nb = processes_of(ia[k]) or [], processes_of(ib[k]) or []
        if paired and len(na) == len(nb) >= 2:
            r = stats.paired_ratio(stats.split(samples_of(ib[k]), nb), stats.split(samples_of(ia[k]), na), confidence)
        else:
            r = row_ratio(ib[k], ia[k], confidence)
        key = (*k, b)  # CONFIG_KEYS order: backend last
        ratios[key] = r
        contended = is_contended(ia[k]) or is_contended(ib[k])
        if contended:
            busy.add(key)
        result.append({**dict(zip(CONFIG_KEYS, key)), "a_median_s": float(ia[k]["median_s"]),
                       "b_median_s": float(ib[k]["median_s"]), **r.as_dict(),
                       "verdict": "contended" if contended else r.verdict(), "contended": contended})
    judge(result, list(ratios), ratios, busy, threshold, confidence)
    return result


def _index(rows: Sequence[dict[str, Any]], name: str) -> dict[tuple[str, ...], dict]:
    """One run's rows by configuration; a configuration measured twice in one file (``--resume`` of
    another run) pools its samples."""
    out: dict[tuple[str, ...], dict] = {}
    for r in rows:
        if not samples_of(r):
            raise InputError(f"{name} has rows without raw samples (written by normbench 0.4 or older, or by asv); "
                             "compare needs them: measure again with this normbench's `bench --output`")
        key = config_key(r)
        out[key] = _pool(out[key], r) if key in out else r
    return out


def _pool(x: dict, y: dict, scale: float = 1.0) -> dict:
    """``x`` with ``y``'s samples (times ``scale``) and processes added."""
    n_x, n_y = processes_of(x), processes_of(y)
    return {**x, "samples_s": samples_of(x) + [v * scale for v in samples_of(y)],
            "process_n": (n_x or [len(samples_of(x))]) + (n_y or [len(samples_of(y))]),
            "contended": is_contended(x) or is_contended(y)}


#: fewest configurations common to a side's runs from which the runs' shifts are taken
MIN_FOR_SHIFT = 4


def location(row: dict[str, Any]) -> float:
    """A row's log time as its ratios see it: the mean of its processes' median log times."""
    return statistics.fmean(stats.process_spread(stats.split(samples_of(row), processes_of(row)))[0])


def location_interval(row: dict[str, Any], confidence: float = stats.CONFIDENCE) -> tuple[float, float, float]:
    """(time, low, high) in seconds: :func:`location` with its t interval over the row's processes
    (the spread between them, never below what their samples imply); low and high are nan with
    one process, and the time is the median where the row kept no samples."""
    samples = samples_of(row)
    if not samples:
        return float(row["median_s"]), math.nan, math.nan
    locs, between, within = stats.process_spread(stats.split(samples, processes_of(row)))
    mean = statistics.fmean(locs)
    if len(locs) < 2:
        return math.exp(mean), math.nan, math.nan
    half = stats.t_quantile(1 - (1 - confidence) / 2, len(locs) - 1) * math.sqrt(max(between, within) / len(locs))
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half)


def run_shifts(runs: Sequence[dict[tuple, dict]]) -> list[float]:
    """Each run's shift (log scale): the median, over the configurations it measured uncontended
    that another run measured too, of the run's log time (:func:`location`) minus the
    configuration's mean over the runs that measured it (with every configuration in every run,
    the shifts' sample variance is the one-way ANOVA's). A shared machine runs faster or slower
    for a whole run (neighbours, frequency, the host's load): every configuration of the run moves
    together. Empty when a run has fewer than :data:`MIN_FOR_SHIFT` such configurations."""
    if len(runs) < 2:
        return [0.0] * len(runs)
    logs: dict[tuple, dict[int, float]] = {}
    for j, run in enumerate(runs):
        for k, r in run.items():
            if not is_contended(r):
                logs.setdefault(k, {})[j] = location(r)
    means = {k: statistics.fmean(v.values()) for k, v in logs.items() if len(v) > 1}
    out = []
    for j in range(len(runs)):
        devs = [v[j] - means[k] for k, v in logs.items() if j in v and k in means]
        if len(devs) < MIN_FOR_SHIFT:
            return []
        out.append(statistics.median(devs))
    return out


def shift_variance(sides: Sequence[Sequence[float]]) -> tuple[float, int]:
    """(variance of one run's shift, its degrees of freedom) pooled over the sides' shifts
    (:func:`run_shifts`); (nan, 0) when no side has two runs."""
    df = sum(len(s) - 1 for s in sides if len(s) > 1)
    if not df:
        return math.nan, 0
    ss = sum(sum((x - statistics.fmean(s)) ** 2 for x in s) for s in sides if len(s) > 1)
    return ss / df, df


def compare_rows(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]], *, confidence: float = stats.CONFIDENCE,
                 threshold: float = 0.10) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """:func:`compare_runs` of one run a side."""
    return compare_runs([a], [b], confidence=confidence, threshold=threshold)


def compare_runs(a_runs: Sequence[Sequence[dict[str, Any]]], b_runs: Sequence[Sequence[dict[str, Any]]], *,
                 confidence: float = stats.CONFIDENCE,
                 threshold: float = 0.10) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Match the configurations of two versions' bench results, each given as one or more
    separate runs, and give B's time over A's for each configuration.

    Two sources of noise between runs that the samples of one run cannot see:

    - a **shift of the whole run**: the machine ran faster or slower for its duration, and every
      configuration moved together. Only repeated runs of a side show it (:func:`run_shifts`): each
      run's samples are re-centred by its shift before a side's runs are pooled, and the shifts'
      variance comes back as one term common to every configuration, which no geometric mean
      averages away. With one run a side it is unknown (``counts["shift_estimated"]`` False): a
      uniform change of every configuration could be the machine, and the caller says so;
    - **per-configuration noise** beyond the processes' spread (:func:`run_to_run_noise`), by
      which each interval is widened.

    Returns (one dict per matched configuration: the configuration's keys, ``a_median_s``,
    ``b_median_s``, ``ratio``, ``low``, ``high``, ``p_value`` (rank test on the samples alone),
    ``significant`` (the widened interval excludes 1), ``verdict``, ``regression`` (fails the gate:
    slower than ``1 + threshold``, Holm-tested with the other configurations, :func:`gate`),
    ``group_regression`` (its backend's op and pass are slower than ``1 + threshold`` on their
    geometric mean's interval); a dict with the counts of configurations matched, only in
    A, only in B, the runs a side, ``noise`` (per-configuration run-to-run noise as a relative
    standard deviation), ``shift`` (one run's whole-run shift, likewise; nan when not estimated)).
    """
    def side(runs, name) -> tuple[dict, list[float]]:
        indexed = [_index(rows, name if len(runs) == 1 else f"{name} run {i}") for i, rows in enumerate(runs, 1)]
        shifts = run_shifts(indexed)
        scales = [math.exp(-s) for s in shifts] if shifts else [1.0] * len(indexed)
        pooled: dict[tuple, dict] = {}
        for run, scale in zip(indexed, scales):
            for k, r in run.items():
                pooled[k] = _pool(pooled[k], r, scale) if k in pooled else \
                    {**r, "samples_s": [v * scale for v in samples_of(r)]}
        return pooled, shifts

    if not a_runs or not b_runs:
        raise ValueError("compare_runs needs at least one run a side")
    (ia, shifts_a), (ib, shifts_b) = side(a_runs, "A"), side(b_runs, "B")
    shift_var, shift_df = shift_variance([shifts_a, shifts_b])
    estimated = shift_df > 0
    common = (shift_var * (1 / len(a_runs) + 1 / len(b_runs)), shift_df) if estimated else (0.0, None)
    matched = [k for k in ia if k in ib]
    raw = {k: row_ratio(ib[k], ia[k], confidence) for k in matched}
    z = stats.z_value(confidence)

    def half_widths(r: stats.Ratio) -> tuple[float, float]:
        d = math.log(r.ratio)
        return (d - math.log(r.low), math.log(r.high) - d) if r.resolved else (math.inf, math.inf)

    busy = {k for k in matched if is_contended(ia[k]) or is_contended(ib[k])}
    resolved = {k: r for k, r in raw.items() if r.resolved and k not in busy}

    def se_of(r: stats.Ratio) -> float:
        return r.se if r.se is not None else sum(half_widths(r)) / (2 * z)

    def noise(keys) -> float:
        return run_to_run_noise([math.log(resolved[k].ratio) for k in keys], [se_of(resolved[k]) for k in keys])

    tau = noise(list(resolved))
    # per backend where it has enough configurations: a backend's kernels can be noisier on the machine than
    # another's (torch-cpu's OpenMP kernels at 32-64 MB vary more between runs than numpy's), and one pooled
    # figure would under-widen them and over-widen the rest
    backend_at = CONFIG_KEYS.index("backend")
    by_backend: dict[str, list] = {}
    for k in resolved:
        by_backend.setdefault(k[backend_at], []).append(k)
    taus = {b: noise(keys) if len(keys) >= MIN_FOR_NOISE else tau for b, keys in by_backend.items()}
    result, widened = [], {}
    for key in matched:
        r = raw[key]
        if r.resolved:
            t = taus.get(key[backend_at], tau)
            d = math.log(r.ratio)
            lo_w, hi_w = half_widths(r)
            r = stats.Ratio(r.ratio, math.exp(d - math.hypot(lo_w, z * t)), math.exp(d + math.hypot(hi_w, z * t)),
                            r.p, r.n_num, r.n_den, math.hypot(se_of(r), t), r.df)
            widened[key] = r
        shown = with_common(r, common, confidence)
        contended = key in busy  # shown, but no verdict: the machine, not the code, may explain it
        result.append({**dict(zip(CONFIG_KEYS, key)), "a_median_s": statistics.median(samples_of(ia[key])),
                       "b_median_s": statistics.median(samples_of(ib[key])), **shown.as_dict(),
                       "verdict": "contended" if contended else shown.verdict(), "contended": contended})
    judge(result, matched, widened, busy, threshold, confidence, common)
    # geometric means here, where the shared shift can be added once after averaging (the rows carry it per row)
    quiet = [k for k in matched if k not in busy and k in widened]
    at = [CONFIG_KEYS.index(k) for k in ("backend", "norm", "op")]
    groups: dict[tuple, list] = {}
    for k in quiet:
        groups.setdefault(tuple(k[i] for i in at), []).append(widened[k])
    geomeans = {g: with_common(stats.geomean(rs, confidence), common, confidence) for g, rs in groups.items()}
    overall = with_common(stats.geomean([widened[k] for k in quiet], confidence), common, confidence) if quiet else None
    counts = {"geomeans": geomeans, "overall": overall, "matched": len(result), "only_a": len(set(ia) - set(ib)), "only_b": len(set(ib) - set(ia)),
              "runs_a": len(a_runs), "runs_b": len(b_runs),
              "noise": math.expm1(tau), "noise_estimated": len(resolved) >= MIN_FOR_NOISE,
              "noise_by_backend": {b: math.expm1(t) for b, t in taus.items() if len(by_backend[b]) >= MIN_FOR_NOISE},
              "shift": math.expm1(math.sqrt(shift_var)) if estimated else math.nan, "shift_estimated": estimated,
              "shift_df": shift_df, "shifts_a": [math.expm1(s) for s in shifts_a],
              "shifts_b": [math.expm1(s) for s in shifts_b]}
    return result, counts
