"""The example plugin passes what it declares and reports the rest as unsupported."""
import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from normbench.conformance import runner  # noqa: E402
from normbench.ops.batchnorm import OP, api  # noqa: E402
from normbench.results import FAILING  # noqa: E402
from normbench import load_plugins as load  # noqa: E402


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


def test_backward_is_unsupported(backend):
    from normbench import Unsupported

    with pytest.raises(Unsupported, match="pass 'backward' not supported"):
        api.backward(backend, np.ones((4, 3), np.float32), np.ones((4, 3), np.float32), None,
                     np.zeros(3, np.float32), np.ones(3, np.float32))


@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
def test_training_mode_maps_momentum_and_unbiased_variance(backend, momentum):
    """ONNX's momentum is 1 - torch's and its running variance is the population one: the adapter maps
    both, so the running statistics after two steps are PyTorch's (computed here by hand)."""
    rng = np.random.default_rng(1)
    c, rm, rv = 3, np.array([0.5, -1.0, 2.0]), np.array([1.0, 4.0, 0.25])
    want_m, want_v = rm.copy(), rv.copy()
    rm_n, rv_n = rm.copy(), rv.copy()
    for step in (1, 2):
        x = rng.standard_normal((6, c, 5)) * 3 + 1
        y, mean, invstd = backend.batchnorm_train(x, None, None, rm_n, rv_n, momentum=momentum, eps=1e-5,
                                                  num_batches_tracked=step)
        assert mean is None and invstd is None  # opset 15 has no saved statistics outputs
        f = momentum if momentum is not None else 1 / step
        bm, bv = x.mean(axis=(0, 2)), x.var(axis=(0, 2), ddof=1)
        want_m, want_v = (1 - f) * want_m + f * bm, (1 - f) * want_v + f * bv
        expect_y = (x - x.mean(axis=(0, 2))[None, :, None]) / np.sqrt(x.var(axis=(0, 2))[None, :, None] + 1e-5)
        np.testing.assert_allclose(y, expect_y, rtol=1e-6, atol=1e-6)
        # ONNX's float32 momentum attribute limits float64 agreement to ~1e-7 (a known failure on offset data)
        np.testing.assert_allclose(rm_n, want_m, rtol=1e-6)
        np.testing.assert_allclose(rv_n, want_v, rtol=1e-6)


def test_train_and_eval_are_benchmarked(backend):
    """Backward, which ONNX Runtime's inference package lacks, is refused with its reason, not broken."""
    from normbench import Unsupported, measure

    rows = [measure(backend, OP, p, (4, 8, 6, 6), "float32", "contiguous", repeat=2, threads=1) for p in ("train", "eval")]
    assert [r["op"] for r in rows] == ["train", "eval"] and all(r["median_s"] > 0 for r in rows)
    with pytest.raises(Unsupported, match="pass 'backward'"):
        measure(backend, OP, "backward", (4, 8, 6, 6), "float32", "contiguous", repeat=2, threads=1)


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
