"""normbench bench: rows, columns, byte model, bad input."""
import json
import statistics

import pandas as pd
import pytest

from normbench._timing.bench import COLUMNS, copy_bandwidth, measure
from normbench.cli import main
from normbench.ops.batchnorm import OP, bytes_moved
from normbench._runtime.pluginmanager import load

REQUIRED = ["norm", "backend", "op", "dtype", "layout", "shape", "batch", "channels", "threads", "median_s", "min_s",
            "max_s", "bytes", "gbps", "machine", "floor_fraction", "compile_s"]


def test_bench_csv_has_the_documented_columns(tmp_path, capsys):
    out = tmp_path / "r.csv"
    code = main(["bench", "--norm", "batchnorm", "--backend", "numpy", "--backend", "torch-cpu", "--shape", "32x64x56x56",
                 "--rigor", "quick", "--processes", "2", "--repeat", "2", "--output", str(out)])
    assert code == 0
    df = pd.read_csv(out)
    assert set(REQUIRED) <= set(df.columns)
    assert list(df.columns) == COLUMNS[:6] + ["batch", "channels", "spatial"] + COLUMNS[6:]
    assert (df["norm"] == "batchnorm").all()
    assert len(df) == 6 and set(df["backend"]) == {"numpy", "torch-cpu"} and set(df["op"]) == {"train", "eval", "backward"}
    assert (df["shape"] == "32x64x56x56").all() and (df["batch"] == 32).all() and (df["channels"] == 64).all()
    assert (df["min_s"] <= df["median_s"]).all() and (df["median_s"] <= df["max_s"]).all() and (df["min_s"] > 0).all()
    train = df[df["op"] == "train"].iloc[0]
    assert train["bytes"] == 2 * 32 * 64 * 56 * 56 * 4
    assert train["gbps"] == pytest.approx(train["bytes"] / train["median_s"] / 1e9)
    assert train["floor_fraction"] == pytest.approx(train["gbps"] / train["copy_gbps"])
    assert (df["q1_s"] <= df["median_s"]).all() and (df["median_s"] <= df["q3_s"]).all()
    assert (df["dispersion"] >= 0).all() and df["unstable"].dtype == bool
    assert df["run_id"].nunique() == 1 and df["load_before"].notna().all()
    samples = [[float(v) for v in cell.split()] for cell in df["samples_s"]]  # raw samples, space-separated
    per_process = [[int(v) for v in str(cell).split()] for cell in df["process_n"]]
    # two fresh processes each, at least 2 samples and 50 ms of timed calls in each
    assert all(len(n) == 2 and min(n) >= 2 and sum(n) == len(s) for n, s in zip(per_process, samples))
    assert (df["processes"] == 2).all() and (df["n_samples"] == [len(s) for s in samples]).all()
    # at least one process's budget of timed calls (the row's ``number`` is the median of its processes', so
    # each process's own budget cannot be rebuilt from it; a process that set contended samples aside may
    # reach its retry limit, RETRY_FACTOR times the budget, short of the budget: run_samples)
    assert all(sum(s) * k >= 0.05 or busy or aside for s, k, busy, aside
               in zip(samples, df["number"], df["contended"], df["set_aside"]))
    assert all(min(s) == pytest.approx(m) for s, m in zip(samples, df["min_s"]))
    # one memory policy for every backend, and the page faults per call recorded (under it a steady-state call
    # takes none: tests/test_protocol.py; this short quick-rigor window may still see a heap growing)
    assert (df["memory_policy"] == "reuse").all() and (df["faults_per_call"] >= 0).all()
    assert df["contended"].dtype == bool and (df["set_aside"] >= 0).all() and (df["cpu_fraction"] > 0).all()
    out_text = capsys.readouterr().out
    assert "torch-cpu" in out_text and "IQR" in out_text


def test_bench_json_carries_a_run_header_and_raw_samples(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["bench", "--norm", "batchnorm", "--backend", "numpy", "--shape", "4x8x6x6", "--op", "train",
                 "--rigor", "quick", "--repeat", "5", "--output", str(out), "--run-id", "shard-run", "--seed", "3"]) == 0
    data = json.loads(out.read_text())
    assert data["normbench_bench"] == 5 and len(data["runs"]) == 1
    run = data["runs"][0]
    assert run["run_id"] == "shard-run" and run["started"] <= run["ended"]
    assert {"normbench_version", "git_commit", "command", "machine", "environment_variables", "backends"} <= set(run)
    assert {"cpu", "cores", "memory", "governor", "frequency"} <= set(run["machine"])
    assert "--run-id shard-run" in run["command"]
    assert run["backends"]["numpy"]["version"] and run["backends"]["numpy"]["threads"] == 1
    assert run["backends"]["numpy"]["memory_policy"] == "reuse"
    protocol = run["protocol"]
    assert {k: protocol[k] for k in ("rigor", "rule", "min_processes", "max_processes", "target", "min_samples",
                                     "budget_s", "memory_policy", "placement", "seed")} == {
        "rigor": "quick", "rule": "sequential", "min_processes": 2, "max_processes": 4, "target": 0.15,
        "min_samples": 5, "budget_s": 0.05, "memory_policy": "reuse", "placement": "random", "seed": 3}
    assert protocol["futility"] == 1.5 and "none for a row whose interval at 4" in protocol["rule_text"]
    assert "2 to 4 processes" in protocol["rule_text"] and set(protocol["unstable_causes"]) == {
        "modes", "within", "drift", "between", "short", "few"}
    row = data["rows"][0]
    assert row["run_id"] == "shard-run" and len(row["samples_s"]) == row["n_samples"] == sum(row["process_n"])
    assert 2 <= len(row["process_n"]) <= 4 and min(row["process_n"]) >= 5
    # the rule's verdict on the row: why it stopped, how sure it is, and a cause exactly when unstable
    assert row["stop"] in ("sure", "cap", "futile") and row["processes"] == len(row["process_n"])
    assert row["stop"] != "futile" or row["processes"] >= 3  # futility needs three processes
    assert (row["stop"] == "sure") == (row["half_width"] <= 0.15 and not row["modes"])
    assert bool(row["unstable_cause"]) == row["unstable"]
    # one placement pad per process, drawn in cache lines within a page
    assert len(row["placements"]) == row["processes"] and all(p % 64 == 0 and 0 <= p < 4096 for p in row["placements"])
    assert row["median_s"] == pytest.approx(statistics.median(row["samples_s"]), abs=1e-10)  # JSON: 10 decimals


def test_bench_json_and_sweep(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["bench", "--rigor", "quick", "--backend", "numpy", "--sweep", "batch=2,4", "--sweep", "channels=3", "--sweep", "spatial=0,5",
                 "--op", "train", "--layout", "channels_last", "--repeat", "1", "--output", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert sorted(r["shape"] for r in rows) == ["2x3", "2x3x5x5", "4x3", "4x3x5x5"]
    assert {r["layout"] for r in rows} == {"contiguous", "channels_last"}  # 2-D input has one layout


def test_numba_compile_time_is_reported_apart():
    b = load().get("numba")
    row = measure(b, OP, "train", (4, 8, 6, 6), "float32", "channels_last", repeat=2, threads=1)
    assert row["compile_s"] > 0 and row["median_s"] < row["compile_s"] + 1
    assert row["threads"] == 1


def test_byte_model_and_copy_floor():
    assert bytes_moved("backward", (2, 3, 4), "bfloat16") == 3 * 24 * 2
    assert copy_bandwidth(1 << 20, 1) > 0.1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--op", "nosuch"], "unknown op 'nosuch' (a pass); expected one of train, eval, backward, forward"),
        (["--norm", "batchnorm", "--op", "forward"], "unknown op 'forward' (a pass); expected one of train, eval, backward"),
        (["--dtype", "float8"], "unknown dtype 'float8'"),
        (["--layout", "nhwc"], "unknown layout 'nhwc'"),
        (["--shape", "32x64xx56"], "malformed shape '32x64xx56'"),
        (["--norm", "batchnorm", "--shape", "32"], "malformed shape '32'"),
        (["--sweep", "batch=4"], "a batchnorm sweep needs batch and channels"),
        (["--norm", "batchnorm", "--sweep", "tokens=4"], "no selected op has the axes tokens; batchnorm: batch, channels, spatial"),
        (["--sweep", "widgets=4"], "no selected op has the axes widgets; batchnorm: batch, channels, spatial; groupnorm: batch, channels, spatial"),
        (["--sweep", "batch"], "expected AXIS=N[,N...]"),
        (["--repeat", "0"], "argument --repeat: must be at least 1, got 0"),
        (["--grid", "huge"], "unknown grid 'huge' for batchnorm"),
        (["--shape", "4x4", "--output", "r.txt"], "--output must end in .csv or .json"),
        (["--backend", "nope", "--shape", "4x4"], "unknown backend 'nope'"),
    ],
)
def test_bench_bad_input_is_one_line(capsys, argv, message):
    assert main(["bench", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_unsupported_is_skipped_not_fatal(capsys):
    assert main(["bench", "--rigor", "quick", "--backend", "numpy", "--shape", "4x4", "--dtype", "bfloat16", "--dtype", "float32",
                 "--op", "eval", "--repeat", "1"]) == 0
    out, err = capsys.readouterr()
    assert "float32" in out and "numpy batchnorm eval 4x4 bfloat16 contiguous: unsupported" in err


def test_hanging_backend_is_dropped_and_the_rest_is_measured(capsys):
    code = main(["bench", "--plugin", "hanging_backend", "--backend", "hangs", "--backend", "numpy", "--shape", "4x3x5x5",
                 "--shape", "4x3", "--shape", "8x3", "--op", "train", "--rigor", "quick", "--timeout", "0.5"])
    out, err = capsys.readouterr()
    assert code == 0
    timeouts = [line for line in err.splitlines() if line.startswith("skipped: hangs batchnorm train ")]
    # configurations run in a random order: whichever two came first time out, the second drops it
    assert len(timeouts) == 2 and all("timeout, did not finish within 0.5 s (worker killed)" in t for t in timeouts)
    assert timeouts[1].endswith("dropped for the rest of the run after 2 failures")
    table = [line for line in out.splitlines() if line.startswith("batchnorm ")]
    assert sum(" numpy " in line for line in table) == 3 and " hangs " not in out


def test_a_declared_timing_note_is_recorded_in_the_row():
    from normbench.backend import timing_note

    b = load().get("numpy")
    assert timing_note(b, "batchnorm", "backward") == ""
    b.timing_notes = {"*/backward": "includes the forward", "batchnorm/*": "per channel"}
    try:
        assert timing_note(b, "batchnorm", "backward") == "includes the forward; per channel"
        assert timing_note(b, "layernorm", "forward") == ""
        row = measure(b, OP, "backward", (4, 8, 6, 6), "float32", "contiguous", repeat=1, threads=1)
        assert row["note"] == "includes the forward; per channel"
        assert measure(b, OP, "eval", (4, 8), "float32", "contiguous", repeat=1, threads=1)["note"] == "per channel"
        b.timing_notes = {3: None}  # malformed: ignored, never fails a timing
        assert timing_note(b, "batchnorm", "eval") == ""
    finally:
        del b.timing_notes


def test_a_block_spanning_ops_measures_each_backend_on_its_own_ops_only(tmp_path, capsys):
    """Blocks may hold two ops (blocks_of); a backend with one of them gets only that one's
    configurations, and nothing is reported unsupported for the other."""
    from normbench._timing import bench

    out = tmp_path / "mixed.csv"
    code = main(["bench", "--plugin", "future_ops", "--norm", "toynorm", "--norm", "layernorm", "--grid", "smoke",
                 "--backend", "future", "--backend", "numpy", "--processes", "2", "--repeat", "2", "--output", str(out)])
    assert code == 0
    err = capsys.readouterr().err
    assert "unsupported" not in err
    df = pd.read_csv(out)
    assert set(df[df["backend"] == "future"]["norm"]) == {"toynorm"}
    assert set(df[df["backend"] == "numpy"]["norm"]) >= {"layernorm"}
    assert (df["processes"] == 2).all()
    assert len(df.drop_duplicates(["norm", "op", "shape", "layout"])) <= bench.BLOCK  # so the plan was one block
