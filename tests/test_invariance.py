"""Invariance (normbench.conformance.invariance): the bitwise comparison, the probes on wrong
backends that are within tolerance but not invariant (each must be caught on its own property and
no other), the NumPy reference on every op, and --require through the CLI and the pytest route."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from normbench._runtime import pluginmanager
from normbench.cli import main
from normbench.conformance.invariance import (PROPERTIES, Verdict, batch_difference, difference, parse_require,
                                              probe_pair, sub_batches, summary_cells)
from normbench.dtypes import round_to_bfloat16
from normbench.errors import InputError
from normbench._runtime.worker import Worker

PLUGIN = ("variant_backends",)


def test_difference_is_bitwise_and_measures_the_first_output_that_differs_in_ulps():
    x = np.linspace(1.0, 2.0, 12, dtype=np.float32).reshape(3, 4)
    same = [("y", x), ("mean", None)]
    assert difference(same, [("y", x.copy()), ("mean", None)], "float32") == Verdict("invariant")
    y = x.copy()
    y[1, 2] = np.nextafter(y[1, 2], np.float32(3))  # one ulp up
    v = difference(same, [("y", y), ("mean", None)], "float32")
    assert v.state == "variant" and v.output == "y" and v.ulps == pytest.approx(1.0)
    assert v.scale_ulps == pytest.approx(0.5)  # y[1, 2] is about 1.5, the largest value 2.0
    assert "1 of 12 values differ" in v.detail and "[1, 2]" in v.detail
    nan = np.array([np.nan, 0.0], np.float32)
    assert difference([("y", nan)], [("y", nan.copy())], "float32").state == "invariant"  # same NaN bits
    zero = np.array([0.0], np.float32)
    assert difference([("y", zero)], [("y", -zero)], "float32").state == "variant"  # -0 is other bits
    assert difference([("y", x)], [("y", x[:2])], "float32").output == "y"  # shape
    assert difference([("y", x)], [("y", None)], "float32").detail == "y: None in one run only"


def test_bfloat16_carried_as_float32_is_measured_in_bfloat16_ulps():
    a = round_to_bfloat16(np.array([1.0, 3.0], np.float32))
    b = a.copy()
    b[1] = 3.0 + 2.0**-6  # the next bfloat16 above 3 (spacing 2**-7 * 2)
    assert round_to_bfloat16(b)[1] == b[1]
    assert difference([("y", a)], [("y", b)], "bfloat16").ulps == pytest.approx(1.0)
    assert difference([("y", a)], [("y", b)], "float32").ulps == pytest.approx(2.0**16)


def test_batch_difference_compares_only_the_outputs_that_follow_the_batch():
    whole = [("y", np.arange(8.0).reshape(4, 2)), ("dweight", np.array([1.0, 2.0, 3.0, 4.0]))]
    part = [("y", np.arange(4.0).reshape(2, 2)), ("dweight", np.array([9.0, 9.0, 9.0, 9.0]))]
    assert batch_difference(whole, part, 2, 4, "float64").state == "invariant"  # dweight reduces over it
    part[0][1][1, 1] = 7.0
    v = batch_difference(whole, part, 2, 4, "float64")
    assert v.state == "variant" and v.output == "y" and v.detail.startswith("batch of 2 against 4")
    assert batch_difference([("dweight", np.ones(4))], [("dweight", np.ones(4))], 2, 4, "float64") is None


def test_sub_batches_are_one_a_prime_and_a_power_of_two():
    assert sub_batches(256) == (1, 7, 128)
    assert sub_batches(16) == (1, 7, 8)
    assert sub_batches(6) == (1, 4, 5)
    assert sub_batches(2) == (1,)


def test_require_names_are_checked():
    assert parse_require(["batch-invariant,deterministic", "deterministic"]) == ("batch-invariant", "deterministic")
    with pytest.raises(InputError, match="unknown invariance property 'batch' in --require"):
        parse_require("batch")


def _probe(name: str, op_name: str, **kw):
    registry = pluginmanager.load(PLUGIN)
    worker = Worker(name, PLUGIN, None, registry.worker_scope(name))
    try:
        return probe_pair(name, registry.op(op_name), worker, plugins=PLUGIN, scope=registry.worker_scope(name),
                          timeout=120, **kw)
    finally:
        worker.stop()


@pytest.mark.parametrize("name, prop, where", [
    ("variant-batch", "batch-invariant", ("forward", "y")),
    ("variant-dw", "deterministic", ("backward", "dweight")),
    ("variant-threads", "thread-invariant", ("forward", "y")),
])
def test_each_wrong_backend_is_caught_on_its_own_property(name, prop, where):
    rows = _probe(name, "layernorm")
    assert {(r.pass_, r.dtype, r.layout) for r in rows} == {(p, "float32", lay) for p in ("forward", "backward")
                                                           for lay in ("contiguous", "strided")}
    pass_, output = where
    caught = [r for r in rows if r.verdicts[prop].state == "variant"]
    assert caught and all(r.pass_ == pass_ and r.verdicts[prop].output == output for r in caught)
    assert all(r.verdicts[prop].ulps >= 1 for r in caught)
    others = {p for r in rows for p, v in r.verdicts.items() if v.state == "variant" and p != prop}
    # the unordered dW also differs between the threads' and the layouts' runs: every run draws a new order
    assert others <= ({"thread-invariant", "layout-invariant"} if name == "variant-dw" else set())
    assert not any(r.failed for r in rows)  # reported, not required
    assert summary_cells(rows)[prop].startswith(f"no: {pass_} float32")


def test_a_required_or_promised_property_that_does_not_hold_fails_its_rows():
    rows = _probe("variant-batch", "layernorm", require=("batch-invariant", "deterministic"))
    assert {r.failed for r in rows} == {("batch-invariant",), ()}
    assert all(r.failed == ("batch-invariant",) for r in rows if r.pass_ == "forward")
    promised = _probe("promises-batch", "layernorm", promised=("batch-invariant",))
    assert any(r.failed == ("batch-invariant",) for r in promised)


@pytest.mark.parametrize("op_name", ["batchnorm", "layernorm", "rmsnorm", "groupnorm", "instancenorm"])
def test_the_numpy_reference_holds_every_property(op_name):
    """NumPy (float64 accumulation, one thread, the channel ops reducing a C-ordered copy) is
    invariant on every property, every dtype and layout: the correct reference shows none."""
    registry = pluginmanager.load(())
    worker = Worker("numpy", (), None, registry.worker_scope("numpy"))
    try:
        rows = probe_pair("numpy", registry.op(op_name), worker, timeout=300)
    finally:
        worker.stop()
    assert {r.dtype for r in rows} == {"float64", "float32", "float16"} and len({r.layout for r in rows}) == 2
    for r in rows:
        for p in PROPERTIES:
            assert r.verdicts[p].state in ("invariant", "n/a"), (r, p)
    coupled = {r.pass_ for r in rows if r.verdicts["batch-invariant"].state == "n/a"}
    assert coupled == ({"train", "backward"} if op_name == "batchnorm" else set())
    assert {r.verdicts["thread-invariant"].state for r in rows} == {"invariant"}


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_prints_the_table_and_require_turns_a_variant_property_into_a_failure(tmp_path, capsys):
    base = ("check", "--plugin", "variant_backends", "--backend", "variant-batch", "--norm", "layernorm")
    code, out, _ = run(capsys, *base)
    assert code == 0 and "invariance (bitwise" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("variant-batch  layernorm"))
    assert "no: forward float32" in line and line.split().count("yes") == 3
    code, out, _ = run(capsys, *base, "--require", "batch-invariant", "-o", str(tmp_path / "c.json"))
    assert code == 1 and "FAILED: variant-batch layernorm forward float32 contiguous: not batch-invariant" in out
    assert "invariance failures" in out.splitlines()[-1]
    doc = json.loads((tmp_path / "c.json").read_text())
    rows = doc["norms"]["layernorm"]["backends"][0]["invariance"]
    assert {tuple(r["failed"]) for r in rows} == {("batch-invariant",), ()}
    assert doc["summary"].startswith("FAILED")
    code, _, err = run(capsys, *base, "--require", "batchy")
    assert code == 2 and "unknown invariance property 'batchy'" in err and err.count("\n") == 1
    code, out, _ = run(capsys, *base, "--no-invariance")
    assert code == 0 and "invariance" not in out


def test_the_pytest_route_takes_require_and_a_promise(tmp_path, subprocess_env):
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", "--pyargs",
            "normbench.conformance", "--plugin", "variant_backends", "-k", "test_invariance", "--norm", "layernorm"]
    p = subprocess.run(args + ["--backend", "variant-batch"], cwd=tmp_path, capture_output=True, text=True,
                       env=subprocess_env, timeout=600)
    assert p.returncode == 0 and "1 skipped" in p.stdout, p.stdout[-2000:]  # nothing required or promised
    p = subprocess.run(args + ["--backend", "variant-batch", "--require", "batch-invariant"], cwd=tmp_path,
                       capture_output=True, text=True, env=subprocess_env, timeout=600)
    assert p.returncode == 1 and "not batch-invariant (required)" in p.stdout, p.stdout[-2000:]
    p = subprocess.run(args + ["--backend", "promises-batch"], cwd=tmp_path, capture_output=True, text=True,
                       env=subprocess_env, timeout=600)
    assert p.returncode == 1 and "not batch-invariant (promised)" in p.stdout, p.stdout[-2000:]


def test_the_report_and_its_page_show_the_invariance_table(tmp_path, capsys):
    check = tmp_path / "check.json"
    code, _, _ = run(capsys, "check", "--plugin", "variant_backends", "--backend", "variant-dw", "--norm", "layernorm",
                     "-o", str(check))
    assert code == 0
    code, _, _ = run(capsys, "report", "--check", str(check), "--output", str(tmp_path / "r"))
    assert code == 0
    md = (tmp_path / "r" / "README.md").read_text()
    assert "## Invariance" in md and "| variant-dw | layernorm | no: backward float32" in md
    assert "### Where the bits differ" in md and "twice in one process: dweight" in md
    page = (tmp_path / "r" / "index.html").read_text()
    assert "Invariance" in page and "twice in one process: dweight" in page
    assert set(PROPERTIES) == {"deterministic", "batch-invariant", "thread-invariant", "layout-invariant"}


def test_run_with_invariance_puts_the_table_in_the_first_report(tmp_path, capsys):
    """``run`` probes only when asked (its seven minutes): then check.json, the report and the page
    carry the table; without it none of them does."""
    args = ("run", "--backend", "numpy", "--norm", "rmsnorm", "--grid", "smoke", "--rigor", "quick", "--repeat", "2")
    code, _, _ = run(capsys, *args, "--invariance", "--output", str(tmp_path / "with"))
    assert code == 0
    rows = json.loads((tmp_path / "with" / "check.json").read_text())["norms"]["rmsnorm"]["backends"][0]["invariance"]
    assert {(r["pass"], r["dtype"]) for r in rows} == {(p, d) for p in ("forward", "backward")
                                                       for d in ("float64", "float32", "float16")}
    assert "| numpy | rmsnorm | yes | yes | yes | yes |" in (tmp_path / "with" / "README.md").read_text()
    assert "Invariance" in (tmp_path / "with" / "index.html").read_text()
    code, _, _ = run(capsys, *args, "--output", str(tmp_path / "without"))
    assert code == 0 and "## Invariance" not in (tmp_path / "without" / "README.md").read_text()
    assert "invariance" not in json.loads((tmp_path / "without" / "check.json").read_text())["norms"]["rmsnorm"]["backends"][0]
