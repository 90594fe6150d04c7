"""Issue 31, item 5: bad input and hostile conditions get one line (or documented behaviour), not a traceback."""
import errno

import pytest

from normbench._results import benchfile
from normbench._runtime import worker
from normbench.cli import main
from normbench.cli.run import _remove_stale_folders


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str, message: str) -> None:
    lines = [l for l in err.splitlines() if l.startswith("normbench: error:")]
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err


def test_an_output_path_that_cannot_be_written_is_refused_up_front(capsys):
    code, _, err = run(capsys, "bench", "--backend", "numpy", "--norm", "rmsnorm", "--shape", "4x8", "--output",
                       "/proc/x.csv")
    assert code == 2
    one_line(err, "cannot write /proc/x.csv")


def test_a_known_failures_file_that_is_not_utf8(tmp_path, capsys):
    path = tmp_path / "known.txt"
    path.write_bytes(b"numpy \xff\xfe rmsnorm/*\n")
    code, _, err = run(capsys, "check", "--no-invariance", "--backend", "numpy", "--norm", "rmsnorm", "--known-failures", str(path))
    assert code == 2
    one_line(err, f"--known-failures {path}: not UTF-8 text (byte 6")


@pytest.mark.parametrize("value", ["0", "nan", "-1", ""])
def test_import_timeout_that_would_mean_no_limit_is_refused(monkeypatch, capsys, value):
    monkeypatch.setenv("NORMBENCH_IMPORT_TIMEOUT", value)
    code, _, err = run(capsys, "list")
    assert code == 2
    one_line(err, f"NORMBENCH_IMPORT_TIMEOUT must be a positive number of seconds (or inf), got {value!r}")


def test_a_shape_that_cannot_fit_in_memory_is_refused_before_any_work(capsys):
    code, out, err = run(capsys, "bench", "--backend", "numpy", "--norm", "batchnorm", "--shape", "100000x100000x100")
    assert code == 2 and out == ""
    one_line(err, "--shape 100000x100000x100: batchnorm train in float32 needs 7.28 TiB of arrays, more than this "
                  "machine's")


def test_timeout_inf_means_no_limit(capsys):
    code, out, _ = run(capsys, "check", "--no-invariance", "--backend", "numpy", "--norm", "rmsnorm", "--group", "errors",
                       "--timeout", "inf")
    assert code == 0 and "passed: 1 backend(s)" in out


def test_a_truncated_csv_is_refused_by_compare_and_report(tmp_path, capsys):
    rows = [{"norm": "rmsnorm", "backend": "numpy", "op": "forward", "dtype": "float32", "layout": "contiguous",
             "shape": "4x8", "median_s": 1e-3, "n_samples": 3, "samples_s": [1e-3, 1.1e-3, 0.9e-3],
             "process_n": [3]}]
    good, cut = tmp_path / "a.csv", tmp_path / "b.csv"
    benchfile.write(good, rows, [])
    text = good.read_text().rstrip("\n")
    cut.write_text(text[:text.rindex(" ")] + ",3\n")  # the last sample cut off, as a truncated write leaves it
    for argv in (["compare", str(good), str(cut)], ["report", "--input", str(cut), "--output", str(tmp_path / "r")]):
        code, _, err = run(capsys, *argv)
        assert code == 2
        one_line(err, f"{cut}, row 1: 2 samples recorded but n_samples says 3 (a truncated or edited file?)")


def test_a_full_disk_warns_measures_on_and_ends_in_one_line(tmp_path, monkeypatch, capsys):
    real = benchfile.write
    calls = []

    def full(path, rows, runs):
        calls.append(len(rows))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(benchfile, "write", full)
    out_file = tmp_path / "rows.json"
    code, out, err = run(capsys, "bench", "--backend", "numpy", "--norm", "rmsnorm", "--shape", "4x8", "--shape", "8x8",
                         "--rigor", "quick", "--output", str(out_file))
    assert code == 2
    assert err.count("cannot save to") == 1 and "the run goes on" in err  # warned once
    assert len(calls) >= 2 and calls[-1] == 4  # every save tried again; all four rows were measured
    assert out.count("rmsnorm  numpy") == 4  # and printed
    one_line(err, f"cannot write {out_file} (No space left on device): the results printed above are all this run kept")
    monkeypatch.setattr(benchfile, "write", real)


def test_a_worker_killed_by_sigkill_gets_a_memory_hint(monkeypatch, capsys):
    code, out, _ = run(capsys, "check", "--no-invariance", "--plugin", "crashing_backends", "--backend", "crash-sigkill", "--group",
                       "dtypes", "--jobs", "1")
    assert ("CRASH: crash-sigkill batchnorm/dtypes/16x6-float64: worker killed by SIGKILL (signal 9) - not by "
            "normbench: the kernel's OOM killer (out of memory) or another process") in out
    counts = iter(range(100))
    monkeypatch.setattr(worker, "oom_kills", lambda: next(counts))  # the OOM killer ran during the worker's life
    code, out, _ = run(capsys, "check", "--no-invariance", "--plugin", "crashing_backends", "--backend", "crash-sigkill", "--group",
                       "dtypes", "--jobs", "1")
    assert "worker killed by SIGKILL (signal 9) - out of memory: the kernel's OOM killer ran while it did" in out


def test_run_removes_the_staging_folders_of_a_killed_run(tmp_path, capsys):
    target = tmp_path / "report"
    for name in (".report.partial-123", ".report.old-456"):
        (tmp_path / name / "sub").mkdir(parents=True)
    (tmp_path / ".other.partial-1").mkdir()
    _remove_stale_folders(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.partial-1"]
    assert "removed .report.partial-123, left by a run that was killed" in capsys.readouterr().err


def test_interrupt_without_an_output_file_names_no_file(monkeypatch, capsys):
    from normbench._timing import bench

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(bench, "run_bench", interrupted)
    code, _, err = run(capsys, "bench", "--backend", "numpy", "--norm", "rmsnorm", "--shape", "4x8")
    assert code == 130 and "interrupted" in err and " is in " not in err and ".json" not in err


def test_an_error_names_a_module_that_shadows_the_standard_library(tmp_path, monkeypatch):
    import sys
    import types

    from normbench.backend import one_line
    from normbench.errors import shadowing_note

    assert shadowing_note() == ""
    fake = types.ModuleType("json")
    fake.__file__ = str(tmp_path / "json.py")
    monkeypatch.setitem(sys.modules, "json", fake)
    assert one_line(RuntimeError('cannot initialize type "RpcBackendOptions"')) == (
        f'RuntimeError: cannot initialize type "RpcBackendOptions" (note: json is {tmp_path}/json.py, which '
        "shadows the standard library's module of that name)")


@pytest.mark.parametrize("plugin, backend, stage", [("hanging_availability", "avail-hangs", "availability"),
                                                     ("hang_at_import", "hang-at-import", "import")])
def test_naming_a_backend_whose_plugin_hung_says_why(monkeypatch, capsys, plugin, backend, stage):
    monkeypatch.setenv("NORMBENCH_IMPORT_TIMEOUT", "2")
    code, _, err = run(capsys, "check", "--no-invariance", "--plugin", plugin, "--backend", backend, "--norm", "batchnorm")
    assert code == 2
    one_line(err, f"unknown backend {backend!r}; available backends: ")
    assert f"plugins that failed: plugin {plugin!r}: hung during {stage} (no progress for 2 s, process killed)" in err
