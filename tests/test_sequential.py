"""The rule that decides each row's processes, its modes and its causes (normbench._timing.sequential),
on synthetic processes whose truth is known."""
from __future__ import annotations

import math
import random
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from normbench._timing import sequential
from normbench._timing.sequential import Mode, Rule, assess, diagnose, find_modes, modes_text, processes_needed

RULE = Rule(3, 12, 0.05)


def procs(rng, levels, n=15, within=0.01):
    """One process per level (seconds), n samples each with lognormal noise ``within``."""
    return [[lv * math.exp(rng.gauss(0, within)) for _ in range(n)] for lv in levels]


def test_a_row_of_agreeing_processes_stops_at_the_minimum():
    rng = random.Random(1)
    rows = [procs(rng, [1e-3 * math.exp(rng.gauss(0, 0.005)) for _ in range(3)]) for _ in range(50)]
    assert all(not assess(r, RULE).needs_more for r in rows)
    assert all(diagnose(assess(r, RULE), RULE) == "" for r in rows)


def test_fewer_than_the_minimum_always_needs_more():
    rng = random.Random(2)
    for k in range(RULE.min_processes):
        assert assess(procs(rng, [1e-3] * k), RULE).needs_more


def test_a_row_that_never_settles_stops_at_the_cap_with_a_cause():
    rng = random.Random(3)
    levels = [1e-3 * math.exp(rng.gauss(0, 0.3)) for _ in range(RULE.max_processes)]
    for k in range(RULE.min_processes, RULE.max_processes):
        assert assess(procs(rng, levels[:k]), RULE).needs_more  # 30% between processes: never within 5%
    a = assess(procs(rng, levels), RULE)
    assert not a.needs_more and a.half_width > RULE.target
    assert diagnose(a, RULE) in ("between", "modes")


def test_noisy_samples_within_processes_are_named_within():
    rng = random.Random(4)
    a = assess(procs(rng, [1e-3 * math.exp(rng.gauss(0, 0.2)) for _ in range(12)], within=0.3), RULE)
    assert diagnose(a, RULE) == "within"


def test_short_samples_are_named_short():
    rng = random.Random(5)
    a = assess(procs(rng, [1e-7 * math.exp(rng.gauss(0, 0.3)) for _ in range(12)]), RULE, number=10)
    assert a.short and diagnose(a, RULE) == "short"


def test_lost_processes_are_named_few():
    rng = random.Random(6)
    a = assess(procs(rng, [1e-3, 1.5e-3]), RULE)
    assert diagnose(a, RULE, lost=True) == "few"


def test_two_clear_groups_are_two_modes_and_never_sure():
    rng = random.Random(7)
    levels = [1.8e-3] * 7 + [2.6e-3] * 5
    a = assess(procs(rng, [v * math.exp(rng.gauss(0, 0.02)) for v in levels]), RULE)
    assert len(a.modes) == 2 and [m.count for m in a.modes] == [7, 5]
    assert a.modes[0].high_s < 2.0e-3 < 2.4e-3 < a.modes[1].low_s
    assert diagnose(a, RULE) == "modes" and not a.sure
    # modes keep a row going until its cap
    assert assess(procs(rng, [1.8e-3, 2.6e-3] * 4), Rule(3, 20, 0.5)).needs_more


def test_modes_text_reads_as_a_person_would_write_it():
    modes = [Mode(1.6e-3, 2.0e-3, 7), Mode(2.4e-3, 2.9e-3, 5)]
    assert modes_text(modes) == "2 modes: 1.6–2.0 ms in 7 of 12 processes, 2.4–2.9 ms in 5"
    flat = [v for m in modes for v in m.as_list()]
    assert modes_text(flat, 12) == modes_text(modes) and modes_text([]) == "" and modes_text(float("nan")) == ""


@settings(max_examples=200, deadline=None)
@given(st.integers(5, 20), st.floats(0.005, 0.3), st.integers(0, 10_000))
def test_one_mode_is_rarely_split(n, sd, seed):
    """The separation table is the 99th percentile for one normal mode: over many draws, few splits."""
    rng = random.Random(seed)
    hits = sum(bool(find_modes([math.exp(rng.gauss(0, sd)) for _ in range(n)])) for _ in range(40))
    assert hits <= 6  # 1% expected: 40 draws split more than 6 times in well under 1e-6 of examples


def test_a_placement_split_of_a_fifth_is_found_with_a_dozen_processes():
    rng = random.Random(8)
    found = sum(bool(find_modes([(1.0 if rng.random() < 0.5 else 1.45) * math.exp(rng.gauss(0, 0.03))
                                 for _ in range(12)])) for _ in range(300))
    assert found / 300 > 0.85


def test_half_width_matches_the_two_level_interval():
    from normbench._results import stats

    rng = random.Random(9)
    groups = procs(rng, [1e-3, 1.04e-3, 0.98e-3, 1.01e-3])
    r = stats.two_level_ratio(groups, [[1.0] * 5, [1.0] * 5])  # against a constant: the row's own interval
    h = sequential.half_width(groups)
    assert h == pytest.approx(r.high / r.ratio - 1, rel=0.05)


def test_processes_needed_predicts_the_count_that_meets_the_target():
    rng = random.Random(10)
    levels = [1e-3 * math.exp(rng.gauss(0, 0.05)) for _ in range(40)]
    a = assess(procs(rng, levels[:4]), RULE)
    k = processes_needed(a, RULE)
    assert RULE.min_processes <= k <= RULE.max_processes
    assert processes_needed(assess(procs(rng, [1e-3] * 3), RULE), RULE) == 3  # already sure
    two = [Mode(1e-3, 1.1e-3, 3), Mode(2e-3, 2.1e-3, 3)]
    assert processes_needed(sequential.Assessment(6, 0.3, tuple(two), needs_more=True), RULE) == RULE.max_processes


def test_a_rule_needs_sane_bounds():
    with pytest.raises(ValueError):
        Rule(4, 3, 0.05)
    with pytest.raises(ValueError):
        Rule(3, 5, 0.0)
    assert Rule(3, 3, 0.05).fixed and "fixed 3" in Rule(3, 3, 0.05).describe()


def test_rows_that_moved_with_their_rounds_are_named_drift():
    """Every row of a backend shifted by the same amount in each round: the machine (or the round's
    worker), not the row; round_shifts finds the shifts and diagnose names the cause."""
    rng = random.Random(11)
    shift = [0.0, 0.25, -0.2, 0.15, -0.1, 0.3]
    rows = [[(r, 1e-3 * (n + 1) * math.exp(shift[r] + rng.gauss(0, 0.005))) for r in range(6)] for n in range(8)]
    got = sequential.round_shifts(rows)
    centred = [s - statistics.median(shift) for s in shift]
    assert all(abs(got[r] - centred[r]) < 0.03 for r in range(6))
    groups = procs(rng, [1e-3 * math.exp(s) for s in shift])
    rule = Rule(3, 6, 0.05)
    a = assess(groups, rule, shifts=[got[r] for r in range(6)])
    assert a.drift and diagnose(a, rule) == "drift"
    assert diagnose(assess(groups, rule), rule) == "between"  # without the shifts: the row's own spread


QUICK = Rule(2, 4, 0.15, futility=1.5)


def test_a_row_its_cap_cannot_make_sure_stops_early_for_futility():
    rng = random.Random(11)
    levels = [1e-3 * math.exp(rng.gauss(0, 0.4)) for _ in range(4)]  # 40% between processes: ±15% needs dozens
    assert assess(procs(rng, levels[:2]), QUICK).needs_more  # never on two processes (FUTILE_FROM)
    a = assess(procs(rng, levels[:3]), QUICK)
    assert a.futile and not a.needs_more and a.half_width > QUICK.target
    assert sequential.projected_half_width(procs(rng, levels[:3]), 4) > 1.5 * QUICK.target
    assert diagnose(a, QUICK) == "few"  # unstable, with the cause and remedy the cap would have had
    assert not assess(procs(rng, levels[:3]), Rule(2, 4, 0.15)).futile  # off unless the rule asks


def test_a_row_the_cap_can_still_make_sure_is_not_futile():
    rng = random.Random(12)
    # 12% between processes: wider than ±15% on three, within it on four is plausible
    hits = 0
    for _ in range(200):
        levels = [1e-3 * math.exp(rng.gauss(0, 0.06)) for _ in range(3)]
        a = assess(procs(rng, levels), QUICK)
        assert not (a.futile and a.half_width <= QUICK.target)
        hits += a.futile
    assert hits < 20  # the 1.5x margin: a spread the cap could narrow is almost never given up on


def test_projected_half_width_is_the_half_width_at_the_processes_it_has():
    rng = random.Random(13)
    g = procs(rng, [1e-3 * math.exp(rng.gauss(0, 0.1)) for _ in range(5)])
    assert sequential.projected_half_width(g, None) == pytest.approx(sequential.half_width(g))
    assert sequential.projected_half_width(g, 5) == pytest.approx(sequential.half_width(g))
    assert sequential.projected_half_width(g, 20) < sequential.half_width(g)


def test_futility_below_one_is_refused():
    with pytest.raises(ValueError, match="futility"):
        Rule(2, 4, 0.15, futility=0.5)


def test_processes_needed_expects_a_futile_row_to_stop_early():
    rng = random.Random(14)
    levels = [1e-3, 2e-3]  # twice apart: four processes could not bring that within ±15%
    a = assess(procs(rng, levels), QUICK)
    assert a.needs_more
    assert processes_needed(a, QUICK) == 3
    assert processes_needed(assess(procs(rng, levels), Rule(2, 4, 0.15)), Rule(2, 4, 0.15)) == 4


def test_the_report_counts_rows_stopped_for_futility():
    import pandas as pd

    from normbench._reporting.report import _unstable_causes

    s = pd.DataFrame({"processes": [2, 3, 3, 4], "stop": ["sure", "futile", "futile", "cap"],
                      "unstable": [False, True, True, True], "unstable_cause": ["", "few", "within", "few"]})
    first = _unstable_causes(s)[0][1]
    assert "1 sure at the rule's target, 1 stopped at its cap, 2 stopped early" in first
    s["stop"] = ["sure", "cap", "cap", "cap"]
    assert "stopped early" not in _unstable_causes(s)[0][1]
