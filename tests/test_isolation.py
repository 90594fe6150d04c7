"""Each backend in a worker process: a crash, abort, exit or hang costs only that backend, results
are written as they finish, Ctrl-C keeps them, and bad output paths are refused up front."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from normbench.cli import main
from normbench.output import Lock

CRASHERS = ["crash-segfault", "crash-abort", "crash-exit", "crash-spin"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _backends(names):
    return [a for n in names for a in ("--backend", n)]


def test_check_survives_segfault_abort_exit_and_spin(tmp_path, capsys):
    out_file = tmp_path / "check.json"
    code, out, _ = run(capsys, "check", "--plugin", "crashing_backends", *_backends(CRASHERS + ["numpy"]),
                       "--group", "dtypes", "--timeout", "3", "--output", str(out_file))
    assert code == 1
    assert "CRASH: crash-segfault batchnorm/dtypes/16x6-float64: worker killed by SIGSEGV (signal 11)" in out
    assert "CRASH: crash-abort batchnorm/dtypes/16x6-float64: worker killed by SIGABRT (signal 6)" in out
    assert "CRASH: crash-exit batchnorm/dtypes/16x6-float64: worker exited with status 1" in out
    assert "TIMEOUT: crash-spin batchnorm/dtypes/16x6-float64: did not finish within 3 s (worker killed)" in out
    assert "DROPPED: crash-spin batchnorm: 13 cases not run" in out
    backends = {b["name"]: b for b in json.loads(out_file.read_text())["norms"]["batchnorm"]["backends"]}
    assert backends["numpy"]["counts"] == {"pass": 12, "unsupported": 4}, "the others' results are intact"
    assert backends["crash-segfault"]["counts"] == {"crash": 3, "skipped": 13}
    assert "12 passed" in out.strip().splitlines()[-1]
    assert not Path(str(out_file) + ".lock").exists()


def test_bench_survives_crashes_and_keeps_the_rows(tmp_path, capsys):
    out_file = tmp_path / "rows.csv"
    code, out, err = run(capsys, "bench", "--plugin", "crashing_backends", *_backends(CRASHERS + ["numpy"]),
                         "--shape", "4x3x5x5", "--shape", "4x3", "--op", "train", "--op", "eval", "--repeat", "2",
                         "--timeout", "3", "--output", str(out_file))
    assert code == 0
    assert "crash-segfault batchnorm train 4x3x5x5 float32 contiguous: crash, worker killed by SIGSEGV (signal 11)" in err
    assert "crash-abort batchnorm train 4x3x5x5 float32 contiguous: crash, worker killed by SIGABRT (signal 6)" in err
    assert "crash-exit batchnorm train 4x3x5x5 float32 contiguous: crash, worker exited with status 1" in err
    assert "crash-spin batchnorm train 4x3x5x5 float32 contiguous: timeout, did not finish within 3 s" in err
    df = pd.read_csv(out_file)
    assert len(df[df["backend"] == "numpy"]) == 4
    # eval does not crash: a fresh worker measured it after each train crash
    assert set(df[df["backend"] == "crash-exit"]["op"]) == {"eval"}


def test_threads_are_in_effect_inside_the_timed_calls(tmp_path, capsys, monkeypatch):
    """Numba's thread count is per thread: it must be set in the thread that runs the samples."""
    spy = tmp_path / "spy.txt"
    monkeypatch.setenv("NORMBENCH_SPY", str(spy))
    for threads in ("1", "2"):
        spy.write_text("")
        code, out, err = run(capsys, "bench", "--plugin", "crashing_backends", "--backend", "thread-spy",
                             "--shape", "64x8x8x8", "--op", "train", "--repeat", "3", "--threads", threads)
        assert code == 0, err
        seen = set(spy.read_text().split())
        assert seen == {threads}, f"--threads {threads}: numba saw {seen} inside the timed calls"


def test_ctrl_c_during_bench_with_torch_exits_130_and_keeps_rows(tmp_path, subprocess_env):
    out_file = tmp_path / "rows.csv"
    exe = str(Path(sys.executable).with_name("normbench"))
    p = subprocess.Popen([exe, "bench", "--backend", "torch-cpu", "--backend", "numpy", "--grid", "quick", "--repeat", "3",
                          "--output", str(out_file)], cwd=tmp_path, env=subprocess_env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not out_file.exists() and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.2)
    assert out_file.exists(), "no row was written while running"
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "terminate called" not in err and "Traceback" not in err
    assert f"every finished row is in {out_file}" in err
    rows = pd.read_csv(out_file)
    assert len(rows) >= 2 and set(rows["backend"]) <= {"torch-cpu", "numpy"}
    assert not list(tmp_path.glob(".rows.csv.*")), "no temporary file left behind"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["bench", "--shape", "4x4", "--output", "{file}/r.csv"], "is a file, not a folder"),
        (["bench", "--shape", "4x4", "--output", "{tmp}"], "is a directory; give a file name"),
        (["check", "--output", "{tmp}/c.csv"], "--output must end in .json"),
        (["run", "--output", "{file}"], "is a file; give a folder"),
        (["check", "--backend", "torch-cuda"], "nothing to check: torch-cuda is unavailable"),
        (["bench", "--backend", "torch-cuda", "--shape", "4x4"], "nothing to measure: none of the selected backends"),
        (["bench", "--threads", "-1"], "argument --threads: must be at least 1, got -1"),
        (["bench", "--timeout", "-1"], "argument --timeout: must be positive, got -1"),
        (["bench", "--sweep", "batch=0", "--sweep", "channels=4"], "batch and channels sizes must be positive"),
    ],
)
def test_bad_arguments_are_refused_before_any_work(tmp_path, capsys, argv, message):
    if any("torch-cuda" in a for a in argv) and Path("/dev/nvidia0").exists():
        pytest.skip("a CUDA device is present")
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    argv = [a.format(file=a_file, tmp=tmp_path) for a in argv]
    start = time.monotonic()
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err and err.strip().count("\n") == 0, err
    assert time.monotonic() - start < 10, "refused only after measuring"


def test_existing_output_needs_resume_or_force_and_resume_skips_done(tmp_path, capsys):
    out_file = tmp_path / "r.csv"
    base = ["bench", "--backend", "numpy", "--op", "train", "--repeat", "1", "--output", str(out_file)]
    assert run(capsys, *base, "--shape", "4x3")[0] == 0
    code, _, err = run(capsys, *base, "--shape", "4x3", "--shape", "8x3")
    assert code == 2 and "exists; --resume adds to it, --force overwrites it" in err
    code, _, err = run(capsys, *base, "--shape", "4x3", "--shape", "8x3", "--resume")
    assert code == 0 and "resuming: 1 rows kept" in err and "1 configurations to go" in err
    assert sorted(pd.read_csv(out_file)["shape"]) == ["4x3", "8x3"]
    assert run(capsys, *base, "--shape", "8x3", "--force")[0] == 0
    assert list(pd.read_csv(out_file)["shape"]) == ["8x3"]


def test_a_second_run_into_the_same_output_refuses(tmp_path, capsys):
    out_file = tmp_path / "r.csv"
    with Lock(out_file):
        code, _, err = run(capsys, "bench", "--backend", "numpy", "--shape", "4x3", "--op", "train", "--repeat", "1",
                           "--output", str(out_file))
    assert code == 2 and f"(pid {os.getpid()}) is writing {out_file}" in err


def test_threads_above_the_cores_warn(capsys):
    code, _, err = run(capsys, "bench", "--backend", "numpy", "--shape", "4x3", "--op", "train", "--repeat", "1",
                       "--threads", "1000")
    assert code == 0 and "--threads 1000 is more than the" in err


def test_rows_record_the_threads_in_effect_not_the_ones_asked_for(capsys, tmp_path):
    out_file = tmp_path / "r.csv"
    code, _, err = run(capsys, "bench", "--backend", "numpy", "--backend", "numba", "--shape", "4x3x5x5", "--op", "train",
                       "--repeat", "1", "--threads", "2", "--output", str(out_file))
    assert code == 0, err
    threads = dict(pd.read_csv(out_file)[["backend", "threads"]].values)
    assert threads == {"numpy": 1, "numba": 2}  # NumPy's kernels are single-threaded whatever is asked
