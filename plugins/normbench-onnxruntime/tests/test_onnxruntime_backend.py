"""The example plugin passes what it declares and reports the rest as unsupported."""
import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from normbench.conformance import runner  # noqa: E402
from normbench.ops.batchnorm import OP, api  # noqa: E402
from normbench.results import FAILING  # noqa: E402
from normbench.pluginmanager import load  # noqa: E402


@pytest.fixture(scope="module")
def backend():
    reg = load()
    assert reg.source("onnxruntime").distribution == "normbench-onnxruntime", "discovered through its entry point"
    assert not reg.notices, "written against plugin API version 2: no compatibility notice"
    return reg.get("onnxruntime")


def test_conformance(backend):
    report = runner.check_backend(backend, OP, runner.select_cases([OP]))
    counts = report.counts()
    assert not report.failed, [(r.case.id, r.message) for r in report.results if r.status in FAILING]
    assert counts["pass"] >= 20  # eval on every contiguous float32/float64 case
    assert counts["unsupported"] > 0  # training-only cases, channels_last, half dtypes


def test_eval_matches_reference(backend):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 5, 5)).astype(np.float32)
    w, b = np.full(3, 2.0, np.float32), np.full(3, 0.5, np.float32)
    rm, rv = np.array([0.1, 0.2, 0.3], np.float32), np.array([1.0, 2.0, 4.0], np.float32)
    y = api.eval_forward(backend, x, w, b, rm, rv, eps=1e-5)
    expect = (x - rm[None, :, None, None]) / np.sqrt(rv[None, :, None, None] + 1e-5) * 2.0 + 0.5
    np.testing.assert_allclose(y, expect, rtol=1e-5, atol=1e-5)


def test_training_is_unsupported(backend):
    from normbench import Unsupported

    with pytest.raises(Unsupported, match="pass 'train' not supported"):
        api.train_forward(backend, np.ones((4, 3), np.float32))


def test_eval_is_benchmarked(backend):
    """An eval-only backend is timed on eval and skipped, not broken, on the passes it lacks."""
    from normbench.cli.bench import Config, run_bench

    todo = [Config(OP, p, (4, 8, 6, 6), "float32", "contiguous") for p in OP.passes]
    rows, skipped = run_bench([backend], todo, repeat=2, threads=1)
    assert [r["op"] for r in rows] == ["eval"] and rows[0]["median_s"] > 0
    assert len(skipped) == 2 and all(": unsupported (pass '" in s for s in skipped), skipped


def test_layernorm_forward_conforms_and_the_rest_is_unsupported(backend):
    reg = load(only=["layernorm", "onnxruntime"])
    op = reg.op("layernorm")
    report = runner.check_backend(backend, op, runner.select_cases([op]))
    assert not report.failed, [(r.case.id, r.message) for r in report.results if r.status in FAILING]
    assert report.counts()["pass"] >= 30  # forward of every float32 case
    by_id = {r.case.id: r for r in report.results}
    assert by_id["layernorm/dtypes/16x32-float64"].status == "unsupported"  # no float64 statistics in ORT's kernel
    assert backend.ops["layernorm"].passes == {"forward"}  # no gradient in the inference package
    assert "rmsnorm" not in backend.ops  # ONNX RMSNormalization returns no inverse RMS
