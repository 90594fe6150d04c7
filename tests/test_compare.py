"""normbench compare: B/A ratios, intervals, verdicts, exit status, on synthetic bench files."""
import json
import math
import random
import statistics

import pytest

from normbench._results import benchfile
from normbench.cli import main


def _row(backend, shape, scale, rng, n=10, sigma=0.03, **extra):
    samples = [scale * 1e-3 * math.exp(rng.gauss(0, sigma)) for _ in range(n)]
    return {"norm": "batchnorm", "backend": backend, "op": "train", "dtype": "float32", "layout": "contiguous",
            "shape": shape, "threads": 2, "median_s": sorted(samples)[n // 2], "samples_s": samples, **extra}


SHAPES = ["8x16x32x32", "32x64x56x56", "2x8", "64x256", "16x32x8x8"]


def _write(path, rows):
    benchfile.write(path, rows, [{"run_id": path.stem}])
    return path


def test_a_thirty_percent_slowdown_is_a_regression_and_fails_the_gate(tmp_path, capsys):
    rng = random.Random(0)
    a = _write(tmp_path / "a.json", [_row(b, s, 1.0, rng) for b in ("numba", "torch-cpu") for s in SHAPES])
    b = _write(tmp_path / "b.csv", [_row(bk, s, 1.3 if (bk, s) == ("numba", "2x8") else 1.0, rng)
                                    for bk in ("numba", "torch-cpu") for s in SHAPES])
    assert main(["compare", str(a), str(b), "--json"]) == 1
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert len(result) == 10
    for r in result:
        assert {"norm", "op", "shape", "dtype", "layout", "threads", "backend", "ratio", "low", "high",
                "significant"} <= set(r)
    slow = [r for r in result if r["backend"] == "numba" and r["shape"] == "2x8"][0]
    assert slow["significant"] and slow["regression"] and 1.2 < slow["ratio"] < 1.4 and slow["low"] < 1.3 < slow["high"]
    others = [r for r in result if r is not slow]
    assert sum(r["significant"] for r in others) <= 1  # identical distributions: ~5% flagged at most
    assert "REGRESSION: 1 configuration(s)" in err and "overall: B/A" in err
    # the same slowdown under a 50% threshold passes the gate, and the text output names the verdicts
    assert main(["compare", str(a), str(b), "--threshold", "50%"]) == 0
    out = capsys.readouterr().out
    assert "slower" in out and "REGRESSION" not in out and "no configuration slower by more than 50% (Holm" in out


def test_faster_is_reported_and_does_not_fail(tmp_path, capsys):
    rng = random.Random(1)
    a = _write(tmp_path / "a.json", [_row("numba", s, 1.0, rng) for s in SHAPES])
    b = _write(tmp_path / "b.json", [_row("numba", s, 0.5, rng) for s in SHAPES])
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    overall = [line for line in out.splitlines() if line.startswith("overall: B/A ")][0]
    assert 0.45 < float(overall.split()[2].rstrip("x")) < 0.55 and "5 faster" in overall


def test_only_matching_configurations_are_compared(tmp_path, capsys):
    rng = random.Random(2)
    a = _write(tmp_path / "a.json", [_row("numba", s, 1.0, rng) for s in SHAPES[:3]])
    b = _write(tmp_path / "b.json", [_row("numba", s, 1.0, rng) for s in SHAPES[1:]]
               + [_row("numba", SHAPES[1], 1.0, rng, threads=1)])
    assert main(["compare", str(a), str(b), "--json"]) == 0
    out, err = capsys.readouterr()
    assert sorted(r["shape"] for r in json.loads(out)) == sorted(SHAPES[1:3])
    assert "only in A: 1" in err and "only in B: 3" in err  # threads are part of the configuration


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text(json.dumps({"rows": [{"norm": "batchnorm", "backend": "numba", "op": "train",
                                                  "shape": "2x8", "median_s": 1e-3}]})),
     "has rows without raw samples"),
    (lambda p: p.write_text("{not json"), "is not JSON"),
    (lambda p: None, "no such results file"),
])
def test_bad_input_is_named(tmp_path, capsys, make, message):
    good = _write(tmp_path / "a.json", [_row("numba", "2x8", 1.0, random.Random(3))])
    bad = tmp_path / "b.json"
    make(bad)
    assert main(["compare", str(good), str(bad)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_nothing_in_common_is_an_error(tmp_path, capsys):
    rng = random.Random(4)
    a = _write(tmp_path / "a.json", [_row("numba", "2x8", 1.0, rng)])
    b = _write(tmp_path / "b.json", [_row("numpy", "2x8", 1.0, rng)])
    assert main(["compare", str(a), str(b)]) == 2
    assert "no configuration in common" in capsys.readouterr().err


def test_run_to_run_noise_widens_the_intervals_of_an_a_a_comparison(tmp_path, capsys):
    """Two runs of the same code: each configuration shifted by a run-level factor its own samples
    cannot see (a shared machine). Samples alone call many of them different; the noise model does not."""
    from normbench._results import stats
    from normbench._results.compare import compare_rows

    shapes = [f"{n}x{c}" for n in (2, 4, 8, 16, 32, 64, 128, 256) for c in (8, 64, 512, 4096, 8192, 16384)]
    raw, flagged = [], []
    for seed in range(10):
        rng = random.Random(seed)
        a = [_row("numba", s, 1.0, rng, sigma=0.02) for s in shapes]
        b = [_row("numba", s, math.exp(rng.gauss(0, 0.08)), rng, sigma=0.02) for s in shapes]
        raw.append(sum(stats.ratio(y["samples_s"], x["samples_s"]).significant for x, y in zip(a, b)) / len(shapes))
        result, counts = compare_rows(a, b)
        flagged.append(sum(r["significant"] for r in result) / len(shapes))
        assert 0.04 < counts["noise"] < 0.14 and counts["noise_estimated"]
    assert sum(raw) / len(raw) > 0.5  # the samples alone: most configurations "differ"
    assert sum(flagged) / len(flagged) < 0.09  # with the run-to-run noise: ~5%, as a 95% interval should


def _processes(backend, shape, scale, rng, k=4, n=8, sigma=0.02, between=0.02):
    """A row of ``k`` processes of ``n`` samples, each process shifted by its own small factor."""
    samples = []
    for _ in range(k):
        shift = math.exp(rng.gauss(0, between))
        samples += [scale * shift * 1e-4 * math.exp(rng.gauss(0, sigma)) for _ in range(n)]
    return {"norm": "batchnorm", "backend": backend, "op": "train", "dtype": "float32", "layout": "contiguous",
            "shape": shape, "threads": 1, "median_s": sorted(samples)[len(samples) // 2], "samples_s": samples,
            "process_n": [n] * k}


GRID = [f"{n}x{c}x4x4" for n in (2, 4, 8) for c in (4, 8, 16, 32)]


def _run(rng, shift_sd, scale=1.0):
    """One run of GRID: every configuration moved by the run's own shift (the machine for its duration)."""
    shift = math.exp(rng.gauss(0, shift_sd))
    return [_processes("numpy", s, scale * shift, rng) for s in GRID]


def test_repeated_runs_estimate_the_whole_run_shift_that_one_run_a_side_cannot_see():
    """Runs shifted as a whole by ~8%: one run a side calls a whole-run shift a regression on many
    A/A pairs (and can only say so); three runs a side estimate the shift and stay quiet. A 1.3x
    slowdown is found where the shifts (4% here) leave room between 1.3x and the 10% threshold."""
    from normbench._results.compare import compare_rows, compare_runs

    one_fired, three_fired, found, shifts = 0, 0, 0, []
    for seed in range(20):
        rng = random.Random(seed)
        a = [_run(rng, 0.08) for _ in range(3)]
        b = [_run(rng, 0.08) for _ in range(3)]
        slow = [_run(rng, 0.04, 1.3) for _ in range(3)]
        result, counts = compare_rows(a[0], b[0])
        assert not counts["shift_estimated"] and math.isnan(counts["shift"])
        one_fired += any(r["regression"] or r["group_regression"] for r in result)
        result, counts = compare_runs(a, b)
        assert counts["shift_estimated"] and counts["shift_df"] == 4 and counts["runs_a"] == 3
        shifts.append(counts["shift"])
        three_fired += any(r["regression"] or r["group_regression"] for r in result)
        result, _ = compare_runs([_run(rng, 0.04) for _ in range(3)], slow)
        found += any(r["group_regression"] for r in result)
        ratios = [r["ratio"] for r in result]
        assert 1.1 < statistics.median(ratios) < 1.55
    assert one_fired >= 4  # P(|shift difference| > 10%) is about a third at 8% a run
    assert three_fired <= 1
    assert 0.04 < statistics.median(shifts) < 0.13
    assert found >= 14  # 16 of 20 seeds: the shift, from 4 degrees of freedom, costs power


def test_a_folder_of_runs_is_one_side(tmp_path, capsys):
    rng = random.Random(5)
    for side in ("a", "b"):
        (tmp_path / side).mkdir()
        for i in range(3):
            _write(tmp_path / side / f"run{i}.json", _run(rng, 0.05, 1.3 if side == "b" else 1.0))
    code = main(["compare", str(tmp_path / "a"), str(tmp_path / "b")])
    out = capsys.readouterr().out
    assert "whole-run shift:" in out and "from 3 run(s) of A and 3 of B" in out
    overall = [line for line in out.splitlines() if line.startswith("overall: B/A ")][0]
    assert 1.15 < float(overall.split()[2].rstrip("x")) < 1.5
    assert code == 1 and "REGRESSION: numpy batchnorm train" in out
    # one file a side says what it cannot see
    main(["compare", str(tmp_path / "a" / "run0.json"), str(tmp_path / "b" / "run0.json")])
    assert "one run a side: a shift of the whole run" in capsys.readouterr().out
    (tmp_path / "empty").mkdir()
    assert main(["compare", str(tmp_path / "empty"), str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "is a folder with no bench files" in err and len(err.strip().splitlines()) == 1
