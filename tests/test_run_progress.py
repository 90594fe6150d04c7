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
