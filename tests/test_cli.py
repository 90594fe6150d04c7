"""The command line: list, check, and how it reports wrong and broken backends."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from normbench.cli import main
from normbench.conformance import runner
from normbench._runtime.pluginmanager import load

from wrong_backends import BUGS


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_builtins_and_why_cuda_is_unavailable(capsys):
    code, out, _ = run(capsys, "list", "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)["backends"]}
    assert rows["numpy"]["available"] and rows["numpy"]["distribution"] == "normbench"
    assert rows["torch-cpu"]["available"]
    assert rows["numpy"]["ops"]["batchnorm"]["dtypes"] == ["float64", "float32", "float16"]
    assert rows["numba"]["ops"]["batchnorm"]["dtypes"] == ["float64", "float32", "float16", "bfloat16"]
    assert rows["onnxruntime"]["ops"]["batchnorm"]["passes"] == ["train", "eval"]
    assert {n["name"] for n in json.loads(out)["norms"]} >= {"batchnorm"}
    cuda = rows["torch-cuda"]
    if not cuda["available"]:
        assert cuda["reason"] in ("no CUDA device",) or "without CUDA" in cuda["reason"]
    code, out, _ = run(capsys, "list")
    assert "torch-cuda" in out and "numpy" in out


def test_list_does_not_import_torch_or_numba():
    code = "import sys; from normbench.cli import main; main(['list']); print(sorted(m for m in ('torch', 'numba') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_check_numpy_passes_with_summary_last(capsys):
    code, out, _ = run(capsys, "check", "--backend", "numpy")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[-1].startswith("passed: 1 backend(s) on 5 op(s)")
    assert {"layernorm", "rmsnorm"} <= set(lines)
    assert lines[0] == "batchnorm" and lines[1].split()[:3] == ["backend", "dtypes", "layouts"]
    # the invariance table beside conformance: NumPy promises every property and keeps them
    table = lines[lines.index(next(ln for ln in lines if ln.startswith("invariance (bitwise"))):]
    rows = [ln.split() for ln in table if ln.startswith("numpy ")]
    assert sorted(r[1] for r in rows) == ["batchnorm", "groupnorm", "instancenorm", "layernorm", "rmsnorm"]
    assert all(r[2:] == ["yes", "yes", "yes", "yes"] for r in rows)


@pytest.mark.parametrize("bug", BUGS)
def test_each_wrong_backend_is_caught(bug):
    reg = load(["wrong_backends"])
    backend, op = reg.get(f"wrong-{bug}"), reg.op("batchnorm")
    report = runner.check_backend(backend, op, runner.select_cases([op]))
    failures = [r for r in report.results if r.status in runner.FAILING]
    assert failures, f"{bug} went unnoticed"


def test_check_reports_case_and_error_size(capsys):
    code, out, _ = run(capsys, "check", "--no-invariance", "--norm", "batchnorm", "--plugin", "wrong_backends", "--backend", "wrong-eps-outside",
                       "--backend", "wrong-biased-running-var", "--backend", "numpy")
    assert code == 1
    assert "FAIL: wrong-eps-outside batchnorm/constant/4x3x5x6-float32-constant: " in out
    assert "max abs err" in out and "tolerance" in out
    assert "running_var (step 1)" in out  # the biased running variance
    table = out.split("\n\n")[0]
    assert table.startswith("batchnorm\n")
    numpy_row = next(line for line in table.splitlines() if line.startswith("numpy"))
    assert "FAIL" not in numpy_row
    assert out.strip().splitlines()[-1].startswith("FAILED: 3 backend(s) on 1 op(s)")


def test_onepass_variance_fails_on_large_offset(capsys):
    code, out, _ = run(capsys, "check", "--no-invariance", "--plugin", "wrong_backends", "--backend", "wrong-onepass", "--group", "offset")
    assert code == 1 and "batchnorm/offset/" in out and "float32" in out


def test_known_failures_are_shown_with_measured_error(capsys):
    code, out, _ = run(capsys, "check", "--no-invariance", "--backend", "torch-cpu", "--group", "offset")
    assert code == 0
    line = next(l for l in out.splitlines() if l.startswith("known failure: torch-cpu batchnorm/offset/8x16x16x16-float32-channels_last"))
    assert "max abs err" in line and "channels_last" in line


def test_hanging_backend_times_out_and_others_run(capsys):
    code, out, _ = run(capsys, "check", "--no-invariance", "--plugin", "hanging_backend", "--backend", "hangs", "--backend", "numpy",
                       "--timeout", "0.5", "--group", "dtypes")
    assert code == 1
    assert "TIMEOUT: hangs batchnorm/dtypes/" in out and "did not finish within 0.5 s" in out
    assert "numpy" in out and "ok 12" in out


def test_broken_plugin_warns_and_the_rest_runs(capsys):
    code, out, err = run(capsys, "check", "--no-invariance", "--plugin", "broken_import", "--backend", "numpy", "--group", "errors")
    assert code == 0
    assert "warning: plugin 'broken_import': failed to import: RuntimeError" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["check", "--backend", "nope"], "unknown backend 'nope'; available backends:"),
        (["check", "--group", "bogus"], "unknown case group 'bogus'"),
        (["check", "--case", "no-such-case"], "no conformance case matches no-such-case"),
        (["check", "--dtype", "float8"], "unknown dtype 'float8'; expected one of float64, float32, float16, bfloat16"),
        (["check", "--norm", "nonorm"], "unknown norm 'nonorm'; installed ops: batchnorm"),
        (["check", "--timeout", "-1"], "argument --timeout: must be positive, got -1"),
        (["check", "--threads", "0"], "argument --threads: must be at least 1, got 0"),
    ],
)
def test_one_line_errors(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert message in err and err.count("\n") == 1


def test_console_script_and_bad_option(subprocess_env):
    exe = str(Path(sys.executable).with_name("normbench"))  # the venv's console script, PATH or not
    p = subprocess.run([exe, "check", "--bogus"], capture_output=True, text=True, env=subprocess_env)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "unrecognized arguments: --bogus" in p.stderr


def test_shipped_pytest_suite_runs_from_anywhere(tmp_path, subprocess_env):
    """What a plugin author types: the suite from the installed package, one backend selected."""
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs", "normbench.conformance",
            "--backend", "numpy", "--case", "dtypes/*"]
    p = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, env=subprocess_env, timeout=600)
    assert p.returncode == 0, p.stdout[-2000:]
    assert " passed" in p.stdout and "failed" not in p.stdout
    bad = subprocess.run(args[:-4] + ["--backend", "nope"], cwd=tmp_path, capture_output=True, text=True,
                         env=subprocess_env, timeout=600)
    assert bad.returncode != 0 and "unknown backend 'nope'" in bad.stdout + bad.stderr


def test_backends_raising_everywhere_do_not_stop_the_rest(tmp_path, capsys):
    code, out, _ = run(capsys, "list", "--plugin", "raising_backends")
    assert code == 0 and "no: availability() raised OSError: driver exploded" in out
    code, out, _ = run(capsys, "check", "--no-invariance", "--plugin", "raising_backends", "--backend", "avail-raises",
                       "--backend", "ops-raise", "--backend", "numpy", "--group", "dtypes", "--threads", "2")
    assert code == 1
    assert "ERROR: ops-raise batchnorm/dtypes/" in out and "RuntimeError: kernel launch failed" in out
    assert "unavailable: avail-raises" in out.split("\n\n")[-1]
    # the rest: numpy and torch-cpu (every installed backend would add minutes of compiling backends' warm-ups)
    code, out, err = run(capsys, "bench", "--processes", "2", "--plugin", "raising_backends", "--shape", "4x3x5x5",
                         "--op", "train", "--repeat", "1", "--threads", "1", "--backend", "avail-raises",
                         "--backend", "ops-raise", "--backend", "numpy", "--backend", "torch-cpu")
    assert code == 0 and "numpy" in out and "torch-cpu" in out
    assert "ops-raise batchnorm train 4x3x5x5 float32 contiguous: error RuntimeError (kernel launch failed)" in err
    assert "avail-raises: unavailable (availability() raised OSError: driver exploded)" in err


def test_a_known_failure_that_passes_is_reported(capsys):
    code, out, _ = run(capsys, "check", "--no-invariance", "--plugin", "wrong_backends", "--backend", "fixed-defect", "--group", "dtypes")
    assert code == 0  # not a failure, but visible
    assert ("XPASS: fixed-defect batchnorm/dtypes/16x6-float32: listed as a known failure but passes: remove the entry "
            "[was broken in an old release]") in out
    assert "1 unexpectedly passing" in out.strip().splitlines()[-1]


def test_run_is_the_whole_product(tmp_path, capsys):
    out_dir = tmp_path / "report"
    code, out, _ = run(capsys, "run", "--backend", "numpy", "--backend", "torch-cpu", "--norm", "batchnorm", "--norm", "layernorm",
                       "--grid", "smoke", "--processes", "2", "--repeat", "2", "--output", str(out_dir))
    assert code == 0, out
    for step in ("== 1/4 backends", "== 2/4 conformance", "== 3/4 benchmarks", "== 4/4 report"):
        assert step in out
    assert out.strip().splitlines()[-1].startswith("done: no unexpected failures")
    check = json.loads((out_dir / "check.json").read_text())
    assert {b["name"] for b in check["norms"]["batchnorm"]["backends"]} == {"numpy", "torch-cpu"}
    report = (out_dir / "README.md").read_text()
    assert "## Conformance" in report and "## batchnorm: Batch normalization" in report and "numpy vs torch-cpu" not in report
    assert "| numpy |" in report and (out_dir / "bench.csv").exists() and list(out_dir.glob("*.png"))


def test_a_third_party_op_runs_through_every_command(tmp_path, capsys):
    """The harness names no op: an op from a plugin is listed, checked, benchmarked and reported."""
    code, out, _ = run(capsys, "list", "--plugin", "future_ops", "--norm", "toynorm")
    assert code == 0 and "toynorm (Toy RMS scaling; from module future_ops)" in out and "future" in out
    code, out, _ = run(capsys, "check", "--no-invariance", "--plugin", "future_ops", "--norm", "toynorm")
    assert code == 0, out
    assert out.startswith("toynorm\n") and "passed: 1 backend(s) on 1 op(s), 3 passed" in out
    code, out, _ = run(capsys, "check", "--no-invariance", "--plugin", "future_ops", "--list-cases", "--norm", "toynorm")
    assert out.split() == ["toynorm/basic/4x8-float64", "toynorm/basic/4x8-float32", "toynorm/basic/3x5x16-float32"]
    csv = tmp_path / "t.csv"
    code, out, _ = run(capsys, "bench", "--rigor", "quick", "--plugin", "future_ops", "--norm", "toynorm", "--backend", "future",
                       "--sweep", "rows=8,64,512", "--sweep", "hidden=16,128", "--repeat", "2", "--output", str(csv))
    assert code == 0
    import pandas as pd

    df = pd.read_csv(csv)
    assert set(df["norm"]) == {"toynorm"} and {"rows", "hidden"} <= set(df.columns) and len(df) == 6
    assert "batch" not in df.columns
    code, out, _ = run(capsys, "report", "--plugin", "future_ops", "--input", str(csv), "--output", str(tmp_path / "rep"),
                       "--baseline", "future")
    assert code == 0
    text = (tmp_path / "rep" / "README.md").read_text()
    assert "## toynorm: Toy RMS scaling" in text and "### toynorm forward" in text
    # three sizes along rows make a line; the two along hidden do not (the speed-up dots show them)
    assert (tmp_path / "rep" / "time-vs-rows-toynorm-forward-float32-contiguous.png").exists()


def test_skip_backend_leaves_backends_out_and_a_typo_is_named(capsys):
    code, out, _ = run(capsys, "check", "--no-invariance", "--backend", "numpy", "--backend", "torch-cpu", "--skip-backend", "torch-*",
                       "--norm", "batchnorm", "--group", "dtypes", "--json")
    assert code == 0
    assert [b["name"] for b in json.loads(out)["norms"]["batchnorm"]["backends"]] == ["numpy"]
    code, _, err = run(capsys, "check", "--no-invariance", "--backend", "numpy", "--skip-backend", "nmupy")
    assert code == 2 and "--skip-backend 'nmupy' matches none of the selected backends (numpy)" in err


def test_run_samples_a_compiling_backend_and_benchmarks_it_only_when_asked(tmp_path, capsys):
    common = ["run", "--plugin", "future_ops", "--plugin", "compiling_backend", "--norm", "toynorm", "--grid", "smoke",
              "--rigor", "quick", "--repeat", "2"]
    code, out, _ = run(capsys, *common, "--output", str(tmp_path / "default"))
    assert code == 0, out
    check = json.loads((tmp_path / "default" / "check.json").read_text())
    assert {b["name"] for b in check["norms"]["toynorm"]["backends"]} == {"future", "future-compiled"}
    import pandas as pd

    assert set(pd.read_csv(tmp_path / "default" / "bench.csv")["backend"]) == {"future"}
    report = (tmp_path / "default" / "README.md").read_text()
    assert "## Not measured in this run" in report
    assert "Checked on a sample (the first case of every kind of data per op) and not benchmarked: future-compiled." in report
    assert "`normbench run --all-compiled`" in report and "--backend future-compiled -o more.json" in report
    sampled = {b["name"]: len(b["cases"]) for b in check["norms"]["toynorm"]["backends"]}
    assert sampled == {"future": 3, "future-compiled": 1}  # toynorm has one case group
    code, out, _ = run(capsys, *common, "--all-compiled", "--output", str(tmp_path / "all"))
    assert code == 0, out
    assert set(pd.read_csv(tmp_path / "all" / "bench.csv")["backend"]) == {"future", "future-compiled"}
    check = json.loads((tmp_path / "all" / "check.json").read_text())
    assert {b["name"]: len(b["cases"]) for b in check["norms"]["toynorm"]["backends"]} == {"future": 3,
                                                                                            "future-compiled": 3}
    assert "Not measured in this run" not in (tmp_path / "all" / "README.md").read_text()
