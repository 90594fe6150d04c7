"""normbench report: bench files and asv results to Markdown + PNG; asv end to end."""
import json
import math
import re
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from normbench._reporting import report
from normbench.cli import main
from normbench.ops.batchnorm import OP

# one xdist worker runs this module (--dist loadgroup), and its bench fixture is session-scoped, so it
# is made once: module-scoped, it was made twice (xdist interleaves other modules' tests on that
# worker, which ends a module's scope early), 94 s each on session 20's VM
pytestmark = pytest.mark.xdist_group("test_report")

OPS = [OP]

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def bench_csv(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "b.csv"
    # a fixed 2 processes a row: these tests read the report, not the rule, and under a sequential rule a
    # noisy machine sends every row to its cap (the suite's time would follow the machine's noise)
    assert main(["bench", "--processes", "2", "--backend", "numpy", "--backend", "torch-cpu", "--sweep", "batch=2,8",
                 "--sweep", "channels=4,16", "--sweep", "spatial=6", "--layout", "contiguous", "--repeat", "2",
                 "--output", str(out)]) == 0
    return out


def test_report_from_bench_file(bench_csv, tmp_path, capsys):
    check = tmp_path / "check.json"
    assert main(["check", "--no-invariance", "--backend", "torch-cpu", "--group", "offset", "--json"]) == 0
    check.write_text(capsys.readouterr().out)
    out = tmp_path / "rep"
    assert main(["report", "--input", str(bench_csv), "--check", str(check), "--output", str(out)]) == 0
    text = (out / "README.md").read_text()
    assert "## batchnorm: Batch normalization" in text and "### batchnorm train" in text and "### batchnorm backward" in text
    assert "numpy" in text and "torch-cpu" in text and "(n=4)" in text  # speed-ups with counts (or why none)
    assert "| xfail |" in text  # torch-cpu's channels_last defect, with its measured error
    # the summary first, the failure list after the speed tables
    assert text.index("## How far this run can be trusted") < text.index("## Summary") < text.index("## Conformance") < text.index("### batchnorm train") \
        < text.index("## Failures and known failures") < text.index("| xfail |")
    assert "batchnorm/offset/8x16x16x16-float32-channels_last-offset" in text
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert not [p for p in pngs if "-vs-batch-" in p or "-vs-channels-" in p]  # two sizes each: no lines
    assert "speedup-numpy-batchnorm-train-float32-contiguous.png" in pngs
    assert "accuracy-vs-speed-batchnorm.png" in pngs
    for png in pngs:
        assert f"]({png})" in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--asv", "/nonexistent/results"], "asv results directory /nonexistent/results does not exist"),
        (["--input", "/nonexistent.csv"], "no such results file: /nonexistent.csv"),
        (["--input", "README.md"], "unknown results file type 'README.md'"),
    ],
)
def test_report_bad_input(capsys, argv, message):
    assert main(["report", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_report_empty_results(tmp_path, capsys):
    empty = tmp_path / "e.csv"
    pd.DataFrame(columns=["backend", "op", "shape", "median_s"]).to_csv(empty, index=False)
    assert main(["report", "--input", str(empty), "--output", str(tmp_path / "o")]) == 2
    assert "hold no measurements" in capsys.readouterr().err


def _asv_file(commit, date, times):
    """What asv 0.6 writes for Grid_batchnorm.time_op (backend, pass, batch, channels, spatial, dtype, layout)."""
    params = [["'numpy'", "'torch-cpu'"], ["'train'"], ["2"], ["4"], ["6"], ["'float32'"], ["'contiguous'"]]
    cols = ["result", "params", "version", "started_at", "duration"]
    return {"commit_hash": commit, "env_name": "existing-py", "date": date, "result_columns": cols, "version": 2,
            "params": {"machine": "ci-box", "python": "3.11"}, "requirements": {}, "python": "3.11",
            "results": {"bench_ops.Grid_batchnorm.time_op": [times, params, "v", 0, 1.0]}}


def test_asv_results_and_regressions(tmp_path):
    machine = tmp_path / "results" / "ci-box"
    machine.mkdir(parents=True)
    (machine / "machine.json").write_text(json.dumps({"machine": "ci-box", "cpu": "TestCPU", "version": 1}))
    (machine / "aaaaaaaa-existing-py.json").write_text(json.dumps(_asv_file("aaaaaaaa11", 1000, [1e-3, 2e-3])))
    (machine / "bbbbbbbb-existing-py.json").write_text(json.dumps(_asv_file("bbbbbbbb22", 2000, [1.5e-3, None])))
    df = report.load_asv(tmp_path / "results", OPS)
    assert len(df) == 3 and set(df["machine"]) == {"ci-box"} and set(df["norm"]) == {"batchnorm"}
    assert set(df["shape"]) == {"2x4x6x6"} and (df["channels"] == 4).all()
    reg = report.regressions(report.timing_rows(df, OPS))
    assert len(reg) == 1 and reg.iloc[0]["backend"] == "numpy" and reg.iloc[0]["slower_by"] == pytest.approx(1.5)
    path = report.write_report(df, tmp_path / "rep", OPS, plots=False)
    assert "**REGRESSIONS**" in path.read_text()


@pytest.mark.slow
def test_asv_quick_run_offline_then_report(tmp_path):
    """The README's asv commands, on the smoke grid, into a temporary results folder."""
    asv = shutil.which("asv", path=os.path.dirname(sys.executable)) or shutil.which("asv")
    if asv is None or not (ROOT / ".git").exists():
        pytest.skip("asv or a git checkout is not available")
    conf = json.loads("\n".join(l for l in (ROOT / "asv.conf.json").read_text().splitlines() if not l.strip().startswith("//")))
    conf.update(repo=str(ROOT), benchmark_dir=str(ROOT / "benchmarks"), results_dir=str(tmp_path / "results"),
                html_dir=str(tmp_path / "html"), env_dir=str(tmp_path / "env"))
    cfg = tmp_path / "asv.conf.json"
    cfg.write_text(json.dumps(conf))
    env = dict(os.environ, NORMBENCH_GRID="smoke", NORMBENCH_BACKENDS="numpy,torch-cpu")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run([asv, "machine", "--yes", "--machine", "ci-box", "--config", str(cfg)], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    run = subprocess.run([asv, "run", "--config", str(cfg), "--python=same", "--quick", "--launch-method", "forkserver",
                          "--set-commit-hash", head, "--machine", "ci-box", "-b", "Grid_batchnorm.time_op"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    df = report.load_asv(tmp_path / "results", OPS)
    assert {"numpy", "torch-cpu"} <= set(df["backend"]) and (df["median_s"] > 0).all()
    assert set(df["shape"]) == {"2x4x4x4", "2x8x4x4", "4x4x4x4", "4x8x4x4"}
    assert main(["report", "--asv", str(tmp_path / "results"), "--output", str(tmp_path / "rep"), "--no-plots"]) == 0


def test_several_machines_side_by_side(bench_csv, tmp_path):
    other = tmp_path / "other.csv"
    df = pd.read_csv(bench_csv)
    df.assign(machine="box-b", median_s=df["median_s"] * 2).to_csv(other, index=False)
    path = report.write_report(report.load_bench([bench_csv, other], OPS), tmp_path / "rep", OPS, plots=True)
    text = path.read_text()
    run = pd.read_csv(bench_csv)["run_id"].iloc[0]
    summary = text.split("## batchnorm: Batch normalization")[1].split("### batchnorm train")[0]
    assert f"| box-b {run} | numpy |" in summary and summary.count(" | numpy |") == 2
    train = text.split("### batchnorm train")[1].split("### batchnorm eval")[0]
    assert f"| box-b {run} | float32 | contiguous | 2x4x6x6 |" in train
    assert any("-box-b.png" in p.name for p in (tmp_path / "rep").glob("*.png"))  # plots per machine


def test_bench_files_and_check_json_of_normbench_0_1_still_report(tmp_path):
    """Results written before ops existed (no norm column, un-prefixed case ids) are batch norm."""
    old = tmp_path / "old.csv"
    pd.DataFrame([{"backend": "numpy", "op": "train", "dtype": "float32", "layout": "contiguous", "shape": "2x4x6x6",
                   "median_s": 1e-3, "machine": "m"}]).to_csv(old, index=False)
    df = report.load_bench([old], OPS)
    assert list(df["norm"]) == ["batchnorm"] and list(df["batch"]) == [2]
    check = tmp_path / "check.json"
    check.write_text(json.dumps({"summary": "passed", "backends": [{"name": "numpy", "available": True, "reason": "",
                                 "cases": [{"case": "dtypes/16x6-float32", "group": "dtypes", "status": "pass"}]}]}))
    data = report.load_check(check)
    assert data["norms"]["batchnorm"]["backends"][0]["cases"][0]["case"] == "batchnorm/dtypes/16x6-float32"


def _rows(run, backend, shape, scale, dtype="float32", layout="contiguous", n=8):
    import random

    rng = random.Random(zlib.crc32(f"{run} {backend} {shape}".encode()))  # not hash(): salted per process
    samples = [scale * 1e-3 * (1 + 0.01 * rng.random()) for _ in range(n)]
    return {"norm": "batchnorm", "backend": backend, "op": "train", "dtype": dtype, "layout": layout, "shape": shape,
            "threads": 2, "median_s": sorted(samples)[n // 2], "samples_s": samples, "machine": "box", "run_id": run,
            "n_samples": n, "dispersion": 0.01, "unstable": False}


def test_two_runs_of_one_machine_stay_apart(tmp_path):
    from normbench._results import benchfile

    a, b = tmp_path / "a.json", tmp_path / "b.json"
    benchfile.write(a, [_rows("run-a", "torch-cpu", "8x16x8x8", 1.0), _rows("run-a", "numba", "8x16x8x8", 0.5)],
                    [{"run_id": "run-a", "machine": {"cpu": "X"}}])
    benchfile.write(b, [_rows("run-b", "torch-cpu", "8x16x8x8", 1.0), _rows("run-b", "numba", "8x16x8x8", 2.0)],
                    [{"run_id": "run-b"}])
    runs = []
    df = report.load_bench([a, b], OPS, runs)
    assert [r.run_id for r in runs] == ["run-a", "run-b"]
    text = report.write_report(df, tmp_path / "rep", OPS, runs=runs, plots=False).read_text()
    summary = text.split("## Summary")[1].split("## batchnorm")[0]
    # never merged into one median: one run says 2x faster, the other 2x slower (samples carry 1% noise)
    ups = dict(re.findall(r"\| (run-[ab]) \| numba \| ([0-9.]+)x \[", summary))
    assert float(ups["run-a"]) == pytest.approx(2.0, rel=0.02) and float(ups["run-b"]) == pytest.approx(0.5, rel=0.02)
    assert "### run run-a" in text and "### run run-b" in text


def test_failing_backends_are_marked_and_left_out_of_the_fastest(tmp_path):
    rows = [_rows("r", "torch-cpu", "8x16x8x8", 1.0, layout=lay) for lay in ("contiguous", "channels_last")]
    rows += [_rows("r", "numba", "8x16x8x8", 2.0, layout=lay) for lay in ("contiguous", "channels_last")]
    rows += [_rows("r", "numpy", "8x16x8x8", 3.0, layout=lay) for lay in ("contiguous", "channels_last")]
    check = {"summary": "passed", "norms": {"batchnorm": {"backends": [
        {"name": "torch-cpu", "available": True, "reason": "", "cases": [
            {"case": "batchnorm/offset/x-float32-channels_last-offset", "group": "offset", "dtype": "float32",
             "layout": "channels_last", "status": "xfail", "message": "y: max abs err 0.1", "known_reason": "defect"}]},
        {"name": "numba", "available": True, "reason": "", "cases": [  # a 2-D kernel's defect: not the 4-D rows'
            {"case": "batchnorm/layouts/16x6-float32", "group": "layouts", "dtype": "float32", "layout": "contiguous",
             "rank": 2, "status": "xfail", "message": "dx: max abs err 1", "known_reason": "2-D defect"}]}]}}}
    text = report.write_report(pd.DataFrame(rows), tmp_path / "rep", OPS, check=check, plots=False).read_text()
    train = text.split("### batchnorm train")[1].split("###")[0]
    cl = [line for line in train.splitlines() if "channels_last" in line][0]
    contiguous = [line for line in train.splitlines() if "| contiguous |" in line][0]
    assert cl.split("|")[4].strip().endswith("†") and "†" not in contiguous  # numba's 2-D defect: not here
    which = text.split("which one is fastest")[1].split("##")[0]
    cl_row = [line for line in which.splitlines() if "channels_last" in line][0]
    # torch-cpu is fastest but failed there: numba wins, ahead of numpy, and torch-cpu is named as excluded
    assert "| numba | 1.50x [" in cl_row and "over numpy | torch-cpu |" in cl_row
    c_row = [line for line in which.splitlines() if "| contiguous |" in line][0]
    assert "| torch-cpu | 2.00x [" in c_row


def test_old_plots_go_and_a_missing_baseline_is_named(bench_csv, tmp_path):
    out = tmp_path / "rep"
    out.mkdir()
    (out / "speedup-old-backend.png").write_bytes(b"stale")
    (out / "mine.png").write_bytes(b"not ours")
    df = report.load_bench([bench_csv], OPS)
    report.write_report(df, out, OPS)
    assert not (out / "speedup-old-backend.png").exists() and (out / "mine.png").exists()
    with pytest.raises(report.InputError, match="--baseline 'numbaa' was not measured; the results hold numpy, torch-cpu"):
        report.write_report(df, out, OPS, baseline="numbaa")


def test_sparse_grids_get_dots_and_full_grids_heatmaps(bench_csv, tmp_path):
    df = report.load_bench([bench_csv], OPS)  # batch 2,8 x channels 4,16: a full 2x2 grid
    report.write_report(df, tmp_path / "full", OPS)
    assert list((tmp_path / "full").glob("speedup-numpy-*.png")) and not list((tmp_path / "full").glob("speedups-*"))
    diagonal = df[((df["batch"] == 2) & (df["channels"] == 4)) | ((df["batch"] == 8) & (df["channels"] == 16))]
    report.write_report(diagonal, tmp_path / "sparse", OPS)
    assert list((tmp_path / "sparse").glob("speedups-batchnorm-train-*.png"))
    assert not list((tmp_path / "sparse").glob("speedup-*.png"))
    # two sizes along an axis make no line plot (the dots say it); the 2x2 grid's axes have two each
    assert not list((tmp_path / "full").glob("time-vs-*.png"))


def _asv_with_stats(commit, date, times, ci, extra=None):
    """asv 0.6 results with statistics (stats_ci_99_a/b, quartiles) and our track_ benchmarks."""
    params = [["'numpy'", "'torch-cpu'"], ["'train'"], ["2"], ["4"], ["6"], ["'float32'"], ["'contiguous'"]]
    cols = ["result", "params", "version", "started_at", "duration", "stats_ci_99_a", "stats_ci_99_b", "stats_q_25",
            "stats_q_75", "stats_number", "stats_repeat"]
    lo = [t - w for t, w in zip(times, ci)]
    hi = [t + w for t, w in zip(times, ci)]
    q1 = [t * 0.98 for t in times]
    q3 = [t * 1.02 for t in times]
    results = {"bench_ops.Grid_batchnorm.time_op": [times, params, "v", 0, 1.0, lo, hi, q1, q3, [10, 10], [7, 7]]}
    for name, values in (extra or {}).items():
        results[f"bench_ops.Grid_batchnorm.{name}"] = [values, params, "v", 0, 1.0, None, None, None, None, None, None]
    return {"commit_hash": commit, "env_name": "existing-py", "date": date, "result_columns": cols, "version": 2,
            "params": {"machine": "ci-box", "python": "3.11"}, "requirements": {}, "python": "3.11", "results": results}


def test_asv_regressions_use_asv_statistics_and_track_values_fill_the_columns(tmp_path):
    machine = tmp_path / "results" / "ci-box"
    machine.mkdir(parents=True)
    (machine / "machine.json").write_text(json.dumps({"machine": "ci-box", "cpu": "TestCPU", "version": 1}))
    # numpy 1.5x slower with tight intervals (a regression); torch-cpu 1.5x slower but its 99%
    # intervals overlap (noise, not a regression, whatever the ratio)
    (machine / "aaaaaaaa-existing-py.json").write_text(json.dumps(_asv_with_stats(
        "aaaaaaaa11", 1000, [1e-3, 1e-3], [1e-5, 8e-4],
        {"track_threads": [1.0, 2.0], "track_floor_fraction": [0.5, 0.25], "peakmem_op": [1e8, 2e8]})))
    (machine / "bbbbbbbb-existing-py.json").write_text(json.dumps(_asv_with_stats("bbbbbbbb22", 2000, [1.5e-3, 1.5e-3],
                                                                                   [1e-5, 8e-4])))
    df = report.load_asv(tmp_path / "results", OPS)
    old = df[df["commit"] == "aaaaaaaa"].set_index("backend")
    assert old.loc["numpy", "threads"] == 1 and old.loc["torch-cpu", "threads"] == 2
    assert old.loc["numpy", "floor_fraction"] == 0.5 and old.loc["torch-cpu", "peakmem_bytes"] == 2e8
    assert old.loc["numpy", "q1_s"] == pytest.approx(0.98e-3) and not old.loc["numpy", "unstable"]
    reg = report.regressions(report.timing_rows(df, OPS))
    assert list(reg["backend"]) == ["numpy"] and reg.iloc[0]["basis"] == "significant (asv statistics)"


def test_timing_notes_are_marked_and_explained(tmp_path):
    """A backend's own note on what its timing includes (Backend.timing_notes) survives the bench
    file and is marked in the pass table and the "which one" table, with the note under each."""
    from normbench._results import benchfile

    note = "backward includes the forward"
    rows = [_rows("r", "torch-cpu", "8x16x8x8", 1.0), {**_rows("r", "keras-torch", "8x16x8x8", 0.5), "note": note},
            _rows("r", "numba", "8x16x8x8", 2.0)]
    path = tmp_path / "b.csv"
    benchfile.write(path, rows, [{"run_id": "r"}])
    df = report.load_bench([path], OPS)
    text = report.write_report(df, tmp_path / "rep", OPS, plots=False).read_text()
    train = text.split("### batchnorm train")[1].split("###")[0]
    row = [line for line in train.splitlines() if "8x16x8x8" in line][0]
    cells = [c.strip() for c in row.split("|")]
    assert cells[5].endswith("‡") and "‡" not in cells[4] + cells[6]  # keras-torch only (torch-cpu, keras, numba)
    assert f"‡ keras-torch: {note}." in train
    which = text.split("which one is fastest")[1].split("## ")[0]
    assert "| keras-torch ‡ |" in which and f"‡ keras-torch: {note}." in which
    assert "‡ marks a timing that includes more than the pass" in text


def test_contended_rows_are_shown_but_left_out_and_the_trust_section_says_what_they_changed(tmp_path):
    rows = []
    for shape, numba_scale, busy in (("8x16x8x8", 0.5, False), ("8x32x8x8", 0.5, False), ("8x64x8x8", 0.05, True)):
        rows.append(_rows("r", "torch-cpu", shape, 1.0))
        numba = _rows("r", "numba", shape, numba_scale)
        numba["contended"] = busy  # 20x "faster" only because torch-cpu's processes shared their cores
        rows.append(numba)
    text = report.write_report(pd.DataFrame(rows), tmp_path / "rep", OPS, plots=False).read_text()
    trust = text.split("## How far this run can be trusted")[1].split("## Summary")[0]
    assert "1 contended" in trust
    assert "numba batchnorm train: 2.00x [" in trust and "(1 of 3 left out)" in trust
    assert "with every configuration averaged in it would read 4.31x" in trust
    summary = text.split("## Summary")[1].split("##")[0]
    assert "| numba | 2.00x [" in summary and "(1 of 3 left out)" in summary
    train = text.split("### batchnorm train")[1].split("###")[0]
    assert len([line for line in train.splitlines() if "§" in line]) == 1


def test_check_results_of_different_runners_merge_and_a_backend_given_twice_is_refused(tmp_path):
    from normbench.errors import InputError
    from normbench._reporting.report import merge_checks

    def check(name, backend):
        path = tmp_path / name
        path.write_text(json.dumps({"summary": f"passed: {backend}", "norms": {"batchnorm": {"backends": [
            {"name": backend, "available": True, "reason": "", "cases": [{"case": "batchnorm/dtypes/a", "group": "dtypes",
                                                                          "status": "pass"}]}]}}}))
        return path

    a, b, again = check("a.json", "numpy"), check("b.json", "numba"), check("c.json", "numpy")
    merged = merge_checks([a, b])
    assert [x["name"] for x in merged["norms"]["batchnorm"]["backends"]] == ["numpy", "numba"]
    assert merged["summary"] == "merged from a.json: passed: numpy; b.json: passed: numba"
    with pytest.raises(InputError, match=r"batchnorm on backend numpy is in both .*a.json and .*c.json"):
        merge_checks([a, again])


def test_line_plots_need_three_sizes_along_their_axis(tmp_path):
    """Three batch sizes make a time and a GB/s line per backend; the same rows cut to two make none."""
    from normbench._reporting import plots

    rows = []
    for backend, speed in (("numpy", 1.0), ("torch-cpu", 2.0)):
        for batch in (2, 8, 32):
            t = batch * 1e-4 / speed
            rows.append({"norm": "batchnorm", "op": "train", "dtype": "float32", "layout": "contiguous",
                         "shape": f"{batch}x16x6x6", "batch": batch, "channels": 16, "spatial": 6, "backend": backend,
                         "machine": "m", "run": "r", "median_s": t, "q1_s": 0.9 * t, "q3_s": 1.1 * t,
                         "gbps": batch / t / 1e9, "copy_gbps": 50.0, "speedup": np.nan, "sp_low": np.nan,
                         "sp_high": np.nan})
    df = pd.DataFrame(rows)
    (tmp_path / "three").mkdir()
    three = plots.make_plots(df, OPS[0], tmp_path / "three", "")
    # batch ("time" in OP.plots.lines) has three sizes; channels ("gbps") has one
    assert [p.name for p in three] == ["time-vs-batch-batchnorm-train-float32-contiguous.png"]
    (tmp_path / "two").mkdir()
    assert plots.make_plots(df[df["batch"] != 32], OPS[0], tmp_path / "two", "") == []


ASV_TWO_COMMITS = ROOT / "tests" / "data" / "asv-two-commits"


def test_report_asv_flags_what_asv_compare_flags_on_two_real_commits(tmp_path):
    """asv results of two real commits of this repository (``asv continuous -f 1.1 --record-samples
    -b Standard_layernorm 54292bd8 5c3e1ebe``, from a fresh clone, virtualenvs built by asv): the
    configurations `normbench report --asv` calls regressions are exactly those asv's own compare
    rule (``asv.commands.compare._is_result_better``: statistics, then the factor) calls worse."""
    import ast
    import itertools

    import asv.results
    from asv.commands.compare import _is_result_better

    from normbench.ops.layernorm import OP as LN

    machine = ASV_TWO_COMMITS / "vm"
    by_commit = {r.commit_hash[:8]: r for r in asv.results.iter_results(str(machine))}
    assert set(by_commit) == {"54292bd8", "5c3e1ebe"}
    before, after = by_commit["54292bd8"], by_commit["5c3e1ebe"]
    name = "bench_ops.Standard_layernorm.time_op"
    raw = after.get_result_params(name)
    expected = set()
    rows = zip(itertools.product(*raw), before.get_result_value(name, raw), after.get_result_value(name, raw),
               before.get_result_stats(name, raw), after.get_result_stats(name, raw),
               before.get_result_samples(name, raw), after.get_result_samples(name, raw))
    compared = 0
    for combo, t1, t2, s1, s2, x1, x2 in rows:
        if t1 is None or t2 is None or math.isnan(t1) or math.isnan(t2):
            continue  # skipped: an unavailable backend
        compared += 1
        if _is_result_better(t1, t2, (s1, x1), (s2, x2), 1.1):  # before faster than after by the factor
            backend, pass_, shape, _layout = (ast.literal_eval(v) for v in combo)
            expected.add((backend, pass_, shape))
    assert compared >= 20  # numpy, numba and torch-cpu on five shapes and two passes, both commits
    t = report.timing_rows(report.load_asv(ASV_TWO_COMMITS, [LN]), [LN])
    assert set(t["commit"]) == {"54292bd8", "5c3e1ebe"} and t["asv_stats"].notna().all()
    reg = report.regressions(t)
    got = set() if reg.empty else {(r.backend, r.op, r.shape) for r in reg.itertuples()}
    assert got == expected
    assert reg.empty or (set(reg["from"]) == {"54292bd8"} and set(reg["to"]) == {"5c3e1ebe"})
    assert main(["report", "--asv", str(ASV_TWO_COMMITS), "--norm", "layernorm", "--output", str(tmp_path / "rep"),
                 "--no-plots"]) == 0
    text = (tmp_path / "rep" / "README.md").read_text()
    assert "## Regressions" in text and ("**REGRESSIONS**" in text) == bool(expected)
