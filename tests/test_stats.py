"""Timing statistics on synthetic samples with known answers."""
import math
import random
import statistics

import pytest
from asv import _stats as asv_stats

from normbench._results import stats


def lognormal(rng, n, scale=1.0, sigma=0.05):
    return [scale * math.exp(rng.gauss(0, sigma)) for _ in range(n)]


def test_summary_of_known_samples():
    s = stats.summarize([1, 2, 3, 4, 5, 6, 7, 8, 9, 100])
    assert s["n_samples"] == 10 and s["median_s"] == 5.5 and s["min_s"] == 1 and s["max_s"] == 100
    assert s["q1_s"] == pytest.approx(3.25) and s["q3_s"] == pytest.approx(7.75)  # NumPy's linear quantiles
    assert s["dispersion"] == pytest.approx(4.5 / 5.5) and s["unstable"]


def test_one_outlier_does_not_make_a_row_unstable_but_a_wide_spread_does():
    steady = [1.0, 1.01, 0.99, 1.0, 1.02, 0.98, 1.0, 1.01, 0.99, 1486.0]  # one preempted sample
    s = stats.summarize(steady)
    assert not s["unstable"] and s["max_s"] / s["min_s"] > 1000
    wide = [1.0, 1.5, 0.7, 1.2, 0.9, 1.4, 0.8, 1.3, 1.1, 0.6]
    assert stats.summarize(wide)["unstable"]


def test_critical_ranks_match_the_rank_sum_tables():
    # Mann-Whitney critical values, two-sided 5%: U <= 8 (7 vs 7), U <= 23 (10 vs 10)
    assert stats._k(7, 7, 0.95) == 9 and stats._k(10, 10, 0.95) == 24
    assert stats._k(2, 2, 0.95) == 0  # six orderings: no 95% interval exists


@pytest.mark.parametrize("m, n", [(4, 6), (7, 7), (10, 10), (12, 9)])
def test_exact_p_values_agree_with_asv(m, n):
    rng = random.Random(m * 100 + n)
    x = [rng.gauss(0, 1) for _ in range(m)]
    y = [rng.gauss(0.8, 1) for _ in range(n)]
    assert stats.mann_whitney_p(x, y) == pytest.approx(asv_stats.mann_whitney_u(x, y, method="exact")[1], rel=1e-9)


def test_identical_distributions_are_rarely_called_different():
    rng = random.Random(0)
    trials = 400
    flagged = sum(stats.ratio(lognormal(rng, 10), lognormal(rng, 10)).significant for _ in range(trials))
    assert flagged / trials <= 0.08  # 5% expected at 95% confidence


def test_a_thirty_percent_shift_is_found_and_its_interval_covers_the_truth():
    rng = random.Random(1)
    trials, found, covered = 300, 0, 0
    for _ in range(trials):
        r = stats.ratio(lognormal(rng, 10, 1.3), lognormal(rng, 10, 1.0))
        found += r.significant and r.ratio > 1
        covered += r.low <= 1.3 <= r.high
        assert 1.15 < r.ratio < 1.45
    assert found == trials  # a 30% shift with 5% noise is never missed
    assert 0.9 <= covered / trials <= 0.99  # ~95% coverage


def test_heavy_outliers_barely_move_the_estimate():
    rng = random.Random(2)
    a = lognormal(rng, 10, 1.0)
    b = lognormal(rng, 10, 1.3)
    b[3] *= 50
    b[7] *= 20  # two samples hit by preemption
    r = stats.ratio(b, a)
    assert 1.2 < r.ratio < 1.45 and r.significant
    # the mean ratio would claim ~8x
    assert sum(b) / sum(a) > 5


def test_too_few_samples_give_no_interval_and_no_verdict():
    r = stats.ratio([1.0, 1.1], [2.0, 2.1])
    assert not r.resolved and not r.significant and r.verdict() == "no clear difference"
    assert r.as_dict()["low"] is None and "too few samples" in r.text()


def test_geomean_interval_combines_measurement_noise():
    rng = random.Random(3)
    rs = [stats.ratio(lognormal(rng, 10, k), lognormal(rng, 10, 1.0)) for k in (1.2, 1.5, 2.0)]
    g = stats.geomean(rs)
    assert g.ratio == pytest.approx((1.2 * 1.5 * 2.0) ** (1 / 3), rel=0.05)
    assert g.low < g.ratio < g.high
    # narrower than any single configuration's interval: noise averages out
    assert math.log(g.high / g.low) < min(math.log(r.high / r.low) for r in rs)


def processes(rng, k, n, scale=1.0, between=0.08, within=0.02):
    """k processes of n samples: each process has its own level (allocator, page placement), as
    on this project's VM, where process medians of one configuration spread by up to 20%."""
    out = []
    for _ in range(k):
        level = scale * math.exp(rng.gauss(0, between))
        out.append([level * math.exp(rng.gauss(0, within)) for _ in range(n)])
    return out


def test_two_level_intervals_keep_false_alarms_near_five_percent_despite_process_levels():
    rng = random.Random(7)
    trials = 400
    flat = sum(stats.ratio([x for p in a for x in p], [x for p in b for x in p]).significant
               for a, b in ((processes(rng, 3, 30), processes(rng, 3, 30)) for _ in range(trials)))
    two = 0
    for _ in range(trials):
        a, b = processes(rng, 3, 30), processes(rng, 3, 30)
        r = stats.ratio([x for p in a for x in p], [x for p in b for x in p],
                        num_processes=[len(p) for p in a], den_processes=[len(p) for p in b])
        two += r.significant
    # samples pooled as if from one process: most A/A pairs "differ"; the process as the unit: ~5%
    assert flat / trials > 0.5
    assert two / trials <= 0.09


def test_two_level_interval_finds_a_thirty_percent_slowdown_with_quiet_processes():
    rng = random.Random(11)
    found = covered = 0
    for _ in range(100):
        a, b = processes(rng, 3, 20, between=0.03), processes(rng, 3, 20, scale=1.3, between=0.03)
        r = stats.two_level_ratio(b, a)
        found += r.significant and r.ratio > 1
        covered += r.low <= 1.3 <= r.high
    assert found >= 90 and covered >= 88


def test_student_t_matches_its_table():
    assert stats.t_quantile(0.975, 1) == pytest.approx(12.706, abs=1e-3)
    assert stats.t_quantile(0.975, 4) == pytest.approx(2.776, abs=1e-3)
    assert stats.t_quantile(0.975, 30) == pytest.approx(2.042, abs=1e-3)
    assert stats.t_cdf(0.0, 3) == pytest.approx(0.5)


def test_summary_of_processes():
    s = stats.summarize([1.0, 1.0, 1.0, 1.2, 1.2, 1.2], [3, 3])
    assert s["processes"] == 2 and s["process_dispersion"] == pytest.approx(0.2 / 1.1) and s["unstable"]
    assert stats.summarize([1.0, 1.0, 1.0], [2, 2])["processes"] == 1  # does not add up: one group


def test_a_summary_cannot_contradict_its_configurations():
    from normbench._results.compare import summarize_ratios

    clear = stats.Ratio(1.5, 1.3, 1.7, 0.01, 3, 3, 0.06)
    unclear = [stats.Ratio(1.2, 0.95, 1.5, 0.2, 3, 3, 0.12) for _ in range(6)]
    s = summarize_ratios(unclear)
    # six "no clear difference" rows: the mean's interval alone would exclude 1; the verdict does not follow it
    assert s["geomean"].significant and s["verdict"] == "no clear difference" and s["faster"] == 0
    assert summarize_ratios(unclear + [clear])["verdict"] == "faster"
    wide = stats.Ratio(5.0, 0.5, 40.0, 0.3, 3, 3)
    s = summarize_ratios([clear, wide], contended=2)
    assert s["used"] == 1 and s["wide"] == 1 and s["contended"] == 2 and s["geomean"].ratio == pytest.approx(1.5)
    assert summarize_ratios([wide])["geomean"] is None


def _shared_shift_pairs(rng: random.Random, k: int, n: int, factor: float, shift: float = 0.2, within: float = 0.01):
    """k processes, each measuring A and B (B = factor x A); a process's own speed moves both."""
    a, b = [], []
    for _ in range(k):
        level = 1e-3 * math.exp(rng.gauss(0, shift))
        a.append([level * math.exp(rng.gauss(0, within)) for _ in range(n)])
        b.append([factor * level * math.exp(rng.gauss(0, within)) for _ in range(n)])
    return a, b


def test_paired_ratio_is_the_mean_of_the_per_process_log_ratios_with_students_t():
    a = [[1.0, 1.01, 0.99], [2.0, 2.02, 1.98], [4.0, 4.04, 3.96]]
    b = [[1.3, 1.313, 1.287], [2.5, 2.525, 2.475], [5.5, 5.555, 5.445]]
    r = stats.paired_ratio(b, a)
    diffs = [math.log(1.3), math.log(2.5 / 2.0), math.log(5.5 / 4.0)]
    mean, sd = sum(diffs) / 3, statistics.stdev(diffs)
    half = 4.302653 * sd / math.sqrt(3)  # t(0.975, 2)
    assert r.ratio == pytest.approx(math.exp(mean))
    assert (r.low, r.high) == pytest.approx((math.exp(mean - half), math.exp(mean + half)), rel=1e-5)
    assert r.df == 2 and r.n_num == r.n_den == 3
    # processes whose ratios agree exactly: the interval is what their samples imply, never zero
    same = stats.paired_ratio([[1.3 * v for v in g] for g in a], a)
    assert same.ratio == pytest.approx(1.3) and same.low < 1.3 * 0.99 and same.high > 1.3 * 1.01
    with pytest.raises(ValueError, match="3 on one side, 2 on the other"):
        stats.paired_ratio(b, a[:2])


def test_interleaved_blocks_judge_each_process_on_its_median_block():
    """Samples taken A B B A one at a time: a block that straddles a slower stretch of the machine
    is one block of many, and the process's ratio is its median block's, which that block cannot
    move."""
    a, b = [], []
    for proc in range(4):
        pa, pb = [], []
        for j in range(10):  # 10 blocks; from block 6 on, the machine runs 1.8x slower
            level = 1.8 if j >= 6 else 1.0
            straddle = 1.8 if j == 5 else level  # the change of level falls inside block 5, after A's first sample
            pa += [1e-3 * level, 1e-3 * straddle]
            pb += [1.15e-3 * straddle, 1.15e-3 * straddle]
        a.append(pa)
        b.append(pb)
    blocks = stats.block_log_ratios(b[0], a[0])
    assert len(blocks) == 10 and blocks[0] == pytest.approx(math.log(1.15))
    assert blocks[5] > math.log(1.15 * 1.2)  # the straddling block alone is off
    r = stats.paired_ratio(b, a)
    assert r.ratio == pytest.approx(1.15) and r.low > 1.1 and r.high < 1.2
    assert stats.block_log_ratios([1.0, 2.0], [1.0]) is None and stats.block_log_ratios([1.0], [1.0]) is None


def test_a_shift_shared_by_both_versions_cancels_in_the_paired_ratio_not_in_the_two_level_one():
    """Processes 20% apart (a worker's own speed), the versions 1% apart inside each: paired, a
    1.15x slowdown is found every time and A/A stays quiet; two-level, both are lost in the shifts."""
    rng = random.Random(5)
    found_paired = found_two = alarms = covered = 0
    for _ in range(200):
        a, b = _shared_shift_pairs(rng, 4, 10, 1.15)
        p, t = stats.paired_ratio(b, a), stats.two_level_ratio(b, a)
        found_paired += p.significant and p.ratio > 1
        found_two += t.significant and t.ratio > 1
        covered += p.low <= 1.15 <= p.high
        a, b = _shared_shift_pairs(rng, 4, 10, 1.0)
        alarms += stats.paired_ratio(b, a).significant
    assert found_paired == 200 and found_two < 100
    assert covered >= 180 and alarms <= 20  # about 95% and 5%
