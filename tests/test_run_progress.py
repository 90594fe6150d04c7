"""The run-wide progress line of `normbench run`: phase, done/total, elapsed, ETA for the whole run."""
import io

from normbench.tables import RunProgress


def test_the_eta_covers_the_phase_left_and_the_later_phases(monkeypatch):
    clock = iter([0.0, 0.0, 10.0, 10.0, 20.0, 20.0])
    monkeypatch.setattr("normbench.tables.time.monotonic", lambda: next(clock))
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


def test_conformance_pace_is_each_backends_own():
    """A slow compiling backend's cases do not set the pace of a fast backend's many cases: the
    seconds left are each backend's cases left at its own measured pace (shrunk toward a prior),
    over the pairs checked at once."""
    from normbench.conformance.pace import PRIOR_CASES, PRIOR_S, Pace

    now = [0.0]
    pace = Pace({"slowc": 10, "fast": 1000}, {"slowc"}, jobs=2, clock=lambda: now[0])
    # before anything ran: the priors
    assert pace.seconds_left() == (10 * PRIOR_S["compiles"] + 1000 * PRIOR_S["other"]) / 2
    pace.started("slowc")
    for _ in range(10):  # 3 s a case
        now[0] += 3.0
        pace.case("slowc")
    pace.finished("slowc")
    assert pace.per_case("slowc") == (30 + PRIOR_S["compiles"] * PRIOR_CASES) / (10 + PRIOR_CASES)
    # the fast backend has not started: its 1000 cases are at its prior, not at 3 s each
    assert pace.seconds_left() == 1000 * PRIOR_S["other"] / 2
    pace.started("fast")
    for _ in range(500):  # 10 ms a case, while its pair runs
        now[0] += 0.01
        pace.case("fast")
    assert abs(pace.per_case("fast") - (5 + PRIOR_S["other"] * PRIOR_CASES) / (500 + PRIOR_CASES)) < 1e-12
    assert abs(pace.seconds_left() - 500 * pace.per_case("fast") / 2) < 1e-12
