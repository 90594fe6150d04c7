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
from normbench._results.output import Lock

CRASHERS = ["crash-segfault", "crash-abort", "crash-exit", "crash-spin"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _backends(names):
    return [a for n in names for a in ("--backend", n)]


def test_check_survives_segfault_abort_exit_and_spin(tmp_path, capsys):
    out_file = tmp_path / "check.json"
    code, out, _ = run(capsys, "check", "--no-invariance", "--norm", "batchnorm", "--plugin", "crashing_backends", *_backends(CRASHERS + ["numpy"]),
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
    code, out, err = run(capsys, "bench", "--rigor", "quick", "--plugin", "crashing_backends", *_backends(CRASHERS + ["numpy"]),
                         "--shape", "4x3x5x5", "--shape", "4x3", "--op", "train", "--op", "eval", "--repeat", "2",
                         "--timeout", "3", "--seed", "2", "--output", str(out_file))
    # --seed: the order is random per run, and with some orders both trains crash (and the backend is
    # dropped) before any eval is reached; seed 2 reaches an eval first
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
        code, out, err = run(capsys, "bench", "--rigor", "quick", "--plugin", "crashing_backends", "--backend", "thread-spy",
                             "--shape", "64x8x8x8", "--op", "train", "--repeat", "3", "--threads", threads)
        assert code == 0, err
        seen = set(spy.read_text().split())
        assert seen == {threads}, f"--threads {threads}: numba saw {seen} inside the timed calls"


def test_ctrl_c_during_bench_with_torch_exits_130_and_keeps_rows(tmp_path, subprocess_env):
    out_file = tmp_path / "rows.csv"
    exe = str(Path(sys.executable).with_name("normbench"))
    p = subprocess.Popen([exe, "bench", "--backend", "torch-cpu", "--backend", "numpy", "--grid", "quick", "--repeat", "3",
                          "--output", str(out_file)], cwd=tmp_path, env=subprocess_env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         # a suite started in the background (`cmd &` in a script) inherits SIGINT ignored,
                         # and Python then installs no KeyboardInterrupt: give the child a terminal's default
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
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
        (["bench", "--norm", "batchnorm", "--backend", "torch-cuda", "--shape", "4x4"], "nothing to measure: none of the selected backends"),
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
    base = ["bench", "--rigor", "quick", "--backend", "numpy", "--op", "train", "--repeat", "1", "--output", str(out_file)]
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
        code, _, err = run(capsys, "bench", "--rigor", "quick", "--backend", "numpy", "--shape", "4x3", "--op", "train", "--repeat", "1",
                           "--output", str(out_file))
    assert code == 2 and f"(pid {os.getpid()}) is writing {out_file}" in err


def test_threads_above_the_cores_warn(capsys):
    code, _, err = run(capsys, "bench", "--rigor", "quick", "--backend", "numpy", "--shape", "4x3", "--op", "train", "--repeat", "1",
                       "--threads", "1000")
    assert code == 0 and "--threads 1000 is more than the" in err


def test_rows_record_the_threads_in_effect_not_the_ones_asked_for(capsys, tmp_path):
    out_file = tmp_path / "r.csv"
    code, _, err = run(capsys, "bench", "--rigor", "quick", "--backend", "numpy", "--backend", "numba", "--shape", "4x3x5x5", "--op", "train",
                       "--repeat", "1", "--threads", "2", "--output", str(out_file))
    assert code == 0, err
    threads = dict(pd.read_csv(out_file)[["backend", "threads"]].values)
    assert threads == {"numpy": 1, "numba": 2}  # NumPy's kernels are single-threaded whatever is asked


def test_plugins_that_kill_or_hang_discovery_cost_only_themselves(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NORMBENCH_IMPORT_TIMEOUT", "3")
    code, out, err = run(capsys, "list", "--json", "--plugin", "exit_at_import", "--plugin", "hang_at_import",
                         "--plugin", "crash_in_hook")
    assert code == 0
    listing = json.loads(out)
    assert {"numpy", "numba", "torch-cpu"} <= {b["name"] for b in listing["backends"]}
    problems = {p["plugin"]: p["message"] for p in listing["problems"]}
    assert problems["exit_at_import"].startswith("killed the process during import: worker exited with status 3")
    assert problems["hang_at_import"].startswith("hung during import (no progress for 3 s, process killed)")
    assert problems["crash_in_hook"].startswith("killed the process during normbench_backends(): worker killed by SIGSEGV")
    # and the work goes on, with the culprits reported
    code, out, err = run(capsys, "check", "--no-invariance", "--norm", "batchnorm", "--plugin", "exit_at_import", "--backend", "numpy",
                         "--group", "dtypes")
    assert code == 0 and "12 passed" in out
    assert "warning: plugin 'exit_at_import': killed the process during import" in err


def test_a_plugin_that_dies_at_import_is_reported_with_its_last_stderr_lines(capsys):
    code, out, _ = run(capsys, "list", "--json", "--plugin", "dies_saying_why")
    assert code == 0
    problems = {p["plugin"]: p["message"] for p in json.loads(out)["problems"]}
    assert problems["dies_saying_why"] == (
        "killed the process during import: worker exited with status 1; its stderr ended: "
        "Traceback (most recent call last): / File \"<frozen>\", line 1 / ImportError: cannot import name "
        "'JSONDecodeError' from partially initialized module 'json'; not loaded (the other plugins were)")


def test_parent_imports_no_backend_plugin():
    """Backend code runs only in workers: after discovery the parent has not imported a backend plugin."""
    probe = ("import sys; from normbench._runtime.discovery import discover; r = discover(); "
             "print(sorted(r.backends)); print([m for m in ('normbench_numpy', 'normbench_torch', 'torch', 'numba') "
             "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300).stdout.splitlines()
    assert "numpy" in out[0] and "torch-cpu" in out[0]
    assert out[1] == "[]"


def test_pytest_route_survives_a_segfaulting_backend(subprocess_env):
    env = dict(subprocess_env, PYTHONPATH=str(Path(__file__).parent / "fake_plugins"))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs", "normbench.conformance",
         "--plugin", "crashing_backends", "--backend", "crash-segfault", "--backend", "numpy", "--case", "batchnorm/dtypes/*",
         "-k", "test_case"],
        capture_output=True, text=True, timeout=600, env=env, cwd=Path(__file__).parent,
    )
    tail = proc.stdout.strip().splitlines()[-1]
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert "worker killed by SIGSEGV (signal 11) on this case" in proc.stdout
    assert "backend dropped after 3 failed workers in a row" in proc.stdout
    assert "16 failed" in tail and "12 passed" in tail, tail


def test_pytest_route_unknown_backend_is_a_one_line_usage_error(subprocess_env):
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs",
                           "normbench.conformance", "--backend", "nosuch"],
                          capture_output=True, text=True, timeout=300, env=subprocess_env)
    assert proc.returncode == 4
    assert "unknown backend 'nosuch'; available backends: " in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_shards_split_the_grid_and_merge_in_report(tmp_path, capsys):
    files = []
    for k in (1, 2, 3):
        path = tmp_path / f"shard{k}.csv"
        code, _, err = run(capsys, "bench", "--rigor", "quick", "--norm", "batchnorm", "--backend", "numpy", "--grid", "smoke", "--repeat", "2",
                           "--shard", f"{k}/3", "--output", str(path))
        assert code == 0, err
        files.append(path)
    frames = [pd.read_csv(f) for f in files]
    keys = [set(zip(df["op"], df["shape"], df["layout"])) for df in frames]
    assert all(keys) and not (keys[0] & keys[1]) and not (keys[1] & keys[2]) and not (keys[0] & keys[2])
    total = sum(len(df) for df in frames)
    code, out, err = run(capsys, "report", *[a for f in files for a in ("--input", str(f))], "--no-plots",
                         "--output", str(tmp_path / "rep"))
    assert code == 0 and f"({total} measurements)" in out
    # the same shard given twice counts once, with a warning
    code, out, err = run(capsys, "report", "--input", str(files[0]), "--input", str(files[0]), "--no-plots",
                         "--output", str(tmp_path / "rep2"))
    assert code == 0 and f"({len(frames[0])} measurements)" in out
    assert "appear in more than one input file" in err


@pytest.mark.parametrize("bad", ["0/3", "4/3", "x/2", "2"])
def test_bad_shard_is_refused(capsys, bad):
    code, _, err = run(capsys, "bench", "--backend", "numpy", "--shard", bad)
    assert code == 2 and "expected K/N with 1 <= K <= N" in err


def test_a_selection_where_every_case_is_unsupported_is_not_a_pass(capsys):
    code, out, err = run(capsys, "check", "--no-invariance", "--norm", "batchnorm", "--backend", "numpy", "--dtype", "bfloat16",
                         "--group", "dtypes")
    assert code == 2
    assert "nothing was checked: every selected case is unsupported" in err and "dtype bfloat16 not supported" in err


def test_check_resume_keeps_finished_backends_and_runs_the_rest(tmp_path, capsys):
    out_file = tmp_path / "check.json"
    code, _, _ = run(capsys, "check", "--no-invariance", "--norm", "rmsnorm", "--backend", "numpy", "--group", "dtypes",
                     "--output", str(out_file))
    assert code == 0
    first = json.loads(out_file.read_text())
    code, out, err = run(capsys, "check", "--no-invariance", "--norm", "rmsnorm", "--backend", "numpy", "--backend", "torch-cpu",
                         "--group", "dtypes", "--output", str(out_file), "--resume")
    assert code == 0 and "resuming: 1 finished (backend, op) results kept" in err
    backends = {b["name"]: b for b in json.loads(out_file.read_text())["norms"]["rmsnorm"]["backends"]}
    assert backends["numpy"] == first["norms"]["rmsnorm"]["backends"][0]  # kept as it was
    assert backends["torch-cpu"]["counts"]["pass"] == 10  # and the rest was run
    assert "passed: 2 backend(s) on 1 op(s)" in out
    code, _, err = run(capsys, "check", "--no-invariance", "--backend", "numpy", "--resume")
    assert code == 2 and "--resume needs --output FILE" in err


# -- a backend's processes end with it, and with the harness ---------------------------------------------
def _descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal and /proc: Linux only")
@pytest.mark.parametrize("backend", ["fork-spin", "fork-exec-spin"])  # a Python fork; an exec'd program
def test_a_killed_harness_leaves_no_worker_or_backend_child_running(tmp_path, backend):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parent / "fake_plugins"), *sys.path]))
    cmd = [sys.executable, "-c", "import sys; from normbench.cli import main; sys.exit(main())", "bench", "--plugin", "forking_backends", "--backend", backend,
           "--norm", "batchnorm", "--op", "train", "--shape", "8x4", "--rigor", "quick", "--timeout", "120"]
    harness = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        procs: list[int] = []
        while time.monotonic() < deadline and len(procs) < 3:  # the worker, its watchdog and the backend's child
            time.sleep(0.2)
            procs = _descendants(harness.pid)
        assert len(procs) >= 3, "the worker and the backend's child never started"
    finally:
        harness.kill()  # as kill -9 or a cancelled CI job does
        harness.wait()
    end = time.monotonic() + 5
    while time.monotonic() < end and any(_alive(p) for p in procs):
        time.sleep(0.1)
    assert not [p for p in procs if _alive(p)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups in /proc: Linux only")
def test_a_backends_leftover_child_is_killed_and_named_and_a_held_pipe_is_a_crash(capsys):
    t0 = time.monotonic()
    code, out, err = run(capsys, "check", "--no-invariance", "--norm", "batchnorm", "--plugin", "forking_backends", "--backend", "fork-stay",
                         "--backend", "fork-exit", "--case", "batchnorm/dtypes/16x6-float64", "--timeout", "60")
    assert time.monotonic() - t0 < 40  # the exit is seen as it happens, not after the 60 s limit
    assert "CRASH: fork-exit batchnorm/dtypes/16x6-float64: worker exited with status 3" in out
    assert "backend fork-stay left 2 process(es) running after its worker ended" in err  # one per training step
    assert "backend fork-exit left 1 process(es) running" in err


def test_check_jobs_gives_the_same_results_as_one_backend_at_a_time(tmp_path, capsys):
    """--jobs 2 checks two backends at once; the file and the tables are those of --jobs 1."""
    outs, files = [], []
    for jobs in ("1", "2"):
        path = tmp_path / f"check-{jobs}.json"
        code, out, _ = run(capsys, "check", "--no-invariance", "--norm", "batchnorm", "--plugin", "crashing_backends", "--jobs", jobs,
                           *_backends(["numpy", "crash-exit", "numba"]), "--group", "dtypes", "--timeout", "60",
                           "--output", str(path))
        assert code == 1  # crash-exit crashes
        outs.append(out)
        files.append(json.loads(path.read_text()))

    def content(data):
        return [(b["name"], b["counts"], [(c["case"], c["status"], c["message"], c["max_abs"]) for c in b["cases"]])
                for b in data["norms"]["batchnorm"]["backends"]]
    assert content(files[0]) == content(files[1])
    assert [b["name"] for b in files[1]["norms"]["batchnorm"]["backends"]] == ["numpy", "crash-exit", "numba"]
    assert outs[0] == outs[1]


def test_files_in_the_current_directory_shadow_nothing_in_the_workers(tmp_path):
    """A struct.py or json.py beside the user broke every worker (python -m put the directory first)."""
    for name in ("struct", "json"):
        (tmp_path / f"{name}.py").write_text(f"raise ImportError('the {name}.py in the current directory was imported')\n")
    (tmp_path / "beside.py").write_text(  # a --plugin module beside the user still loads in the workers
        "import normbench\nfrom normbench_numpy import NumpyBackend\n\n\nclass Beside(NumpyBackend):\n    name = 'beside'\n\n\n"
        "@normbench.hookimpl\ndef normbench_backends():\n    return [Beside()]\n")
    script = Path(sys.executable).parent / "normbench"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([str(script), "check", "--no-invariance", "--plugin", "beside", "--backend", "beside", "--backend", "numpy",
                           "--norm", "layernorm", "--case", "layernorm/dtypes/*"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "current directory was imported" not in done.stdout + done.stderr
    assert "passed: 2 backend(s)" in done.stdout.strip().splitlines()[-1]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_a_worker_started_from_a_thread_that_ends_lives_on():
    """Linux sends a worker's parent-death signal when the *thread* that forked it ends. check's
    jobs start workers from pool threads: such a worker was SIGKILLed once its thread finished,
    mid-use on another thread or before its backend's leftovers were counted (on a busy machine,
    test_a_backends_leftover_child_is_killed_... counted 1 child of 2). Workers are now forked
    from the main thread or one thread that lives as long as the harness."""
    import threading

    from normbench._runtime.worker import Worker

    box = []  # numpy's worker answers its init request, so it has armed the signal before the thread ends
    t = threading.Thread(target=lambda: box.append((w := Worker("numpy"), w.ensure(60))[0]))
    t.start()
    t.join()
    w = box[0]
    try:
        time.sleep(0.5)  # the signal comes at once when the thread ends
        assert w.proc.poll() is None, f"the worker died with status {w.proc.returncode} when its thread ended"
    finally:
        w.stop()


def test_in_threads_runs_a_groups_items_one_after_another_while_others_wait():
    import threading
    import time

    from normbench.conformance.runner import _in_threads

    log, lock, live = [], threading.Lock(), {}

    def fn(item):
        g, _ = item
        with lock:
            live[g] = live.get(g, 0) + 1
            log.append((item, dict(live)))
        time.sleep(0.02)
        with lock:
            live[g] -= 1

    items = [("a", 1), ("a", 2), ("a", 3), ("b", 1), ("c", 1)]
    _in_threads(fn, items, 2, group=lambda it: it[0])
    assert sorted(it for it, _ in log) == sorted(items)
    # while b and c were pending, a never ran twice at once; the order within a group is kept
    first_two = [it for it, _ in log[:2]]
    assert first_two == [("a", 1), ("b", 1)]
    assert [it for it, _ in log if it[0] == "a"] == [("a", 1), ("a", 2), ("a", 3)]
    assert all(seen.get("a", 0) <= 1 for it, seen in log if it in {("a", 2), ("b", 1), ("c", 1)})


def test_in_threads_without_other_work_runs_a_group_in_parallel():
    import threading
    import time

    from normbench.conformance.runner import _in_threads

    peak, live, lock = [0], [0], threading.Lock()

    def fn(item):
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
        time.sleep(0.05)
        with lock:
            live[0] -= 1

    _in_threads(fn, [("a", i) for i in range(4)], 2, group=lambda it: it[0])
    assert peak[0] == 2  # work-conserving: nothing else to do, so both threads take a's items
