"""The run-wide progress line of `normbench run`: phase, done/total, elapsed, ETA for the whole run."""
import io

from normbench._runtime.progress import RunProgress


def test_the_eta_covers_the_phase_left_and_the_later_phases(monkeypatch):
    clock = iter([0.0, 0.0, 10.0, 10.0, 20.0, 20.0])
    monkeypatch.setattr("normbench._runtime.progress.time.monotonic", lambda: next(clock))
    out = io.StringIO()
    p = RunProgress(4, stream=out, every=5.0)  # t = 0
    p.phase(2, "conformance", 4, "case runs", later=[(100, 0.5), (1, 30.0)])  # t = 0
    assert p.eta(0.0) is None  # no rate yet
    p.step()  # t = 10: 1 of 4 in 10 s
    assert "run: phase 2/4 conformance, 1/4 case runs, 0:10 elapsed, ETA 1:50 for the run" in out.getvalue()
    # 3 cases left at 10 s each, 100 measurements at 0.5 s, the report's 30 s
    assert p.eta(10.0) == 30 + 50 + 30
    p.phase(3, "benchmarks", 100, "measurements", later=[(1, 30.0)])  # t = 20
    assert p.eta(20.0) is None and p.status(20.0).startswith("run: phase 3/4 benchmarks, 0/100 measurements, 0:20")


def test_conformance_pace_is_each_pairs_own():
    """A slow compiling backend's cases do not set the pace of a fast backend's many cases, nor does a
    JIT's first op (which compiles what its later ops reuse) set the pace of its later ops: the
    seconds left are each (backend, op) pair's cases left at its own measured pace (shrunk toward a
    prior), a pair not yet started at its prior, over the pairs checked at once."""
    from normbench.conformance.pace import PRIOR_CASES, PRIOR_S, Pace

    now = [0.0]
    slow, jit_a, jit_b = ("slowc", "batchnorm"), ("jit", "batchnorm"), ("jit", "layernorm")
    pace = Pace({slow: 10, jit_a: 100, jit_b: 1000}, {"slowc"}, jobs=2, clock=lambda: now[0])
    # before anything ran: the priors
    assert pace.seconds_left() == (10 * PRIOR_S["compiles"] + 1100 * PRIOR_S["other"]) / 2
    pace.started(slow)
    for _ in range(10):  # 3 s a case
        now[0] += 3.0
        pace.case(slow)
    pace.finished(slow)
    assert pace.per_case(slow) == (30 + PRIOR_S["compiles"] * PRIOR_CASES) / (10 + PRIOR_CASES)
    # the other backend has not started: its cases are at its prior, not at 3 s each
    assert pace.seconds_left() == 1100 * PRIOR_S["other"] / 2
    pace.started(jit_a)
    for _ in range(50):  # compiling: 0.4 s a case while its pair runs
        now[0] += 0.4
        pace.case(jit_a)
    assert abs(pace.per_case(jit_a) - (20 + PRIOR_S["other"] * PRIOR_CASES) / (50 + PRIOR_CASES)) < 1e-12
    # its other op, not started, stays at the prior
    assert abs(pace.seconds_left() - (50 * pace.per_case(jit_a) + 1000 * PRIOR_S["other"]) / 2) < 1e-12
    pace.finished(jit_a)  # a pair that ends (its last cases skipped, say) has nothing left
    assert abs(pace.seconds_left() - 1000 * PRIOR_S["other"] / 2) < 1e-12
