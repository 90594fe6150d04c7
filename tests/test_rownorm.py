"""LayerNorm and RMSNorm: references against PyTorch in float64, eps=None, clear errors, and the
suite catching the classic bugs of these kernels."""
import json

import numpy as np
import pytest

from normbench.cli import main
from normbench.conformance import runner
from normbench.errors import InputError
from normbench.ops import rowwise
from normbench.ops.layernorm import OP as LN
from normbench.ops.layernorm import reference as ln_ref
from normbench.ops.rmsnorm import OP as RMS
from normbench.ops.rmsnorm import reference as rms_ref
from normbench._runtime.pluginmanager import load

torch = pytest.importorskip("torch")
F = torch.nn.functional


@pytest.mark.parametrize("shape,k", [((5, 7), 1), ((2, 3, 4, 6), 2), ((9,), 1)])
def test_layernorm_reference_matches_torch_float64(shape, k):
    rng = np.random.default_rng(1)
    x, dy = rng.standard_normal(shape) * 3 + 1, rng.standard_normal(shape)
    ns = shape[len(shape) - k:]
    w, b = rng.uniform(0.5, 1.5, ns), rng.uniform(-1, 1, ns)
    y, st = ln_ref.forward(x, ns, {"weight": w, "bias": b}, 1e-5)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = F.layer_norm(tx, ns, tw, tb, 1e-5)
    ty.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    dx, g = ln_ref.backward(dy, x, ns, {"weight": w, "bias": b}, 1e-5)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g["weight"], tw.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g["bias"], tb.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert st["mean"].shape == st["rstd"].shape == shape[:len(shape) - k] + (1,) * k


@pytest.mark.parametrize("eps", [None, 1e-6])
def test_rmsnorm_reference_matches_torch_float64(eps):
    rng = np.random.default_rng(2)
    x, dy = rng.standard_normal((6, 10)) * 1e-3, rng.standard_normal((6, 10))  # tiny rows: eps decides
    w = rng.uniform(0.5, 1.5, 10)
    y, st = rms_ref.forward(x, (10,), {"weight": w}, eps, "float64")
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ty = F.rms_norm(tx, (10,), tw, eps)
    ty.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12)
    dx, g = rms_ref.backward(dy, x, (10,), {"weight": w}, eps, "float64")
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-9)
    np.testing.assert_allclose(g["weight"], tw.grad.numpy(), rtol=1e-9)


def test_rmsnorm_eps_none_is_float32_eps_for_half_inputs():
    """NORM-SEMANTICS.md: x = [1e-3, 0, 0, 0] in float16 gives y0 = 1.6455 (eps = 1.19e-7, not 1e-5)."""
    y, _ = rms_ref.forward(np.array([1e-3, 0, 0, 0], dtype=np.float16), (4,), {}, None, "float16")
    assert abs(float(np.float16(y[0])) - 1.6455) < 1e-3
    assert rms_ref.resolve_eps(None, "float64") == 2.0**-52


@pytest.mark.parametrize("ns,params,message", [
    ((9,), {}, "normalized_shape [9] does not match the trailing axes of input of shape [4, 8]"),
    ((8,), {"weight": np.ones(7)}, "weight has shape [7], expected normalized_shape [8]"),
    ((2, 8), {}, "normalized_shape [2, 8] does not match"),
])
def test_validation_names_the_problem(ns, params, message):
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        rowwise.validate(np.zeros((4, 8)), ns, params, "layernorm")


def test_list_shows_both_ops_for_the_built_in_backends(capsys):
    assert main(["list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    by_name = {b["name"]: b for b in listing["backends"]}
    for name in ("numpy", "numba", "torch-cpu", "torch-cuda"):
        assert {"layernorm", "rmsnorm"} <= set(by_name[name]["ops"]), name
    assert {"layernorm", "rmsnorm"} <= {op["name"] for op in listing["norms"]}
    assert by_name["torch-cpu"]["ops"]["layernorm"]["passes"] == ["forward", "backward"]


@pytest.fixture(scope="module")
def numpy_backend():
    return load(only=["layernorm", "rmsnorm", "numpy"]).get("numpy")


def _failures(backend, op, **select):
    report = runner.check_backend(backend, op, runner.select_cases([op], **select))
    return [r.case.id for r in report.results if r.status == "fail"]


def test_suite_catches_eps_none_taken_as_1e5(numpy_backend, monkeypatch):
    import normbench_numpy.rownorm as rn

    monkeypatch.setattr(rn, "resolve_eps", lambda eps, dtype: 1e-5 if eps is None else eps)
    assert any("tiny" in case for case in _failures(numpy_backend, RMS))


def test_suite_catches_a_one_pass_float32_variance(numpy_backend, monkeypatch):
    def one_pass(x, ns, weight, bias, *, eps):
        axes = tuple(range(x.ndim - len(ns), x.ndim))
        xf = x.astype(np.float32)
        m = xf.mean(axis=axes, keepdims=True)
        var = np.maximum((xf * xf).mean(axis=axes, keepdims=True) - m * m, 0)
        rstd = 1 / np.sqrt(var + eps)
        y = (xf - m) * rstd * (1 if weight is None else weight) + (0 if bias is None else bias)
        return y.astype(x.dtype), m.astype(x.dtype), rstd.astype(x.dtype)

    monkeypatch.setattr(numpy_backend, "layernorm_forward", one_pass)
    failed = _failures(numpy_backend, LN, dtypes=["float32"])
    assert "layernorm/offset/8x64-float32-offset" in failed


def test_suite_catches_dweight_summed_over_the_wrong_axis(numpy_backend, monkeypatch):
    import normbench_numpy.rownorm as rn

    original = rn.rmsnorm_backward

    def wrong_axis(dy, x, ns, weight, rrms):
        dx, dw = original(dy, x, ns, weight, rrms)
        if dw is not None and x.ndim == 2 and x.shape[0] == x.shape[1]:
            dw = np.sum(dy * x * rrms, axis=1).astype(dw.dtype)  # rows, not columns
        return dx, dw

    monkeypatch.setattr(numpy_backend, "rmsnorm_backward", wrong_axis)
    assert "rmsnorm/shapes/3x3-float32-eps=None" in _failures(numpy_backend, RMS)


def test_numba_half_conversions_are_exact_and_round_to_nearest_even():
    """Every float16 pattern widens exactly; narrowing matches NumPy (float16) and PyTorch (bfloat16)."""
    hk = pytest.importorskip("normbench_numba.halfkernels")
    from numba import njit

    @njit
    def widen_all(bits, kind, out):
        for i in range(bits.size):
            out[i] = hk.widen(bits[i], kind)

    @njit
    def narrow_all(values, kind, out):
        for i in range(values.size):
            out[i] = hk.narrow(values[i], kind)

    bits = np.arange(65536, dtype=np.uint16)
    out = np.empty(65536, np.float32)
    widen_all(bits, hk.F16, out)
    expect = bits.view(np.float16).astype(np.float32)
    nan = np.isnan(expect)  # signaling NaNs come back quiet: still NaN, another payload
    assert np.isnan(out[nan]).all()
    np.testing.assert_array_equal(out[~nan].view(np.uint32), expect[~nan].view(np.uint32))
    widen_all(bits, hk.BF16, out)
    np.testing.assert_array_equal(out.view(np.uint32), bits.astype(np.uint32) << 16)
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.standard_normal(20000).astype(np.float32) * 10.0 ** rng.integers(-9, 6, 20000),
                             np.float32([0.0, -0.0, np.inf, -np.inf, 65504, 65520, 65519.99, 6e-8, 3e-8, 1e-45])])
    got = np.empty(values.size, np.uint16)
    narrow_all(values, hk.F16, got)
    np.testing.assert_array_equal(got, values.astype(np.float16).view(np.uint16))
    narrow_all(values, hk.BF16, got)
    expect = torch.from_numpy(values).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    np.testing.assert_array_equal(got, expect)
    narrow_all(np.float32([np.nan]), hk.F16, got[:1])
    assert np.isnan(got[:1].view(np.float16)[0])


@pytest.mark.parametrize("op", [LN, RMS])
def test_suite_catches_normalized_shape_checked_only_against_the_weight(numpy_backend, monkeypatch, op):
    """Issue 27, class 2: with no weight, such a backend normalizes the wrong axes silently."""
    import normbench_numpy.rownorm as rn

    original = getattr(rn, f"{op.name}_forward")

    def weight_check_only(x, ns, *params, eps):
        w = params[0]
        if w is not None and tuple(w.shape) != tuple(ns):
            raise ValueError(f"weight has shape {w.shape}, expected normalized_shape {ns}")
        return original(x, tuple(x.shape[x.ndim - len(ns):]), *params, eps=eps)  # x's own trailing axes

    monkeypatch.setattr(numpy_backend, f"{op.name}_forward", weight_check_only)
    failed = _failures(numpy_backend, op, groups=["errors"])
    assert [c for c in failed if "bad-normalized_shape" in c and "noweight" in c]


@pytest.mark.parametrize("op", [LN, RMS])
def test_an_error_must_name_the_argument_that_is_wrong(numpy_backend, monkeypatch, op):
    """Issue 27, class 2: refusing a bad normalized_shape with an error that does not name it is not enough."""
    import normbench_numpy.rownorm as rn

    original = getattr(rn, f"{op.name}_forward")

    def vague(x, ns, *params, eps):
        if tuple(x.shape[x.ndim - len(ns):]) != tuple(ns):
            raise ValueError(f"shapes {x.shape} and {tuple(ns)} do not match")
        return original(x, ns, *params, eps=eps)

    monkeypatch.setattr(numpy_backend, f"{op.name}_forward", vague)
    failed = _failures(numpy_backend, op, groups=["errors"])
    assert sorted(c for c in failed if "bad-normalized_shape" in c) == sorted(
        c.id for c in op.cases() if c.bad == "normalized_shape")


@pytest.mark.parametrize("op", [LN, RMS])
def test_suite_catches_float32_squares_that_overflow(numpy_backend, monkeypatch, op):
    """Issue 27, class 1 (pytorch #162489): a two-pass variance (or mean of squares) whose squares
    are taken in float32 is right on every other case, and overflows on |x - mean| ~ 1e19."""
    import normbench_numpy.rownorm as rn

    original = getattr(rn, f"{op.name}_forward")

    def squares_in_float32(x, ns, *params, eps):
        y, *stats = original(x, ns, *params, eps=eps)
        if x.dtype == np.float32 and x.size:
            axes = tuple(range(x.ndim - len(ns), x.ndim))
            centred = x - x.mean(axis=axes, keepdims=True) if op is LN else x
            ms = np.mean(np.square(centred.astype(np.float32)), axis=axes, keepdims=True, dtype=np.float32)
            inv = (1 / np.sqrt(ms.astype(np.float64) + (eps or 1.1920929e-07))).astype(stats[-1].dtype)
            stats[-1] = inv
        return (y, *stats)

    monkeypatch.setattr(numpy_backend, f"{op.name}_forward", squares_in_float32)
    failed = _failures(numpy_backend, op, dtypes=["float32"])
    assert failed and all(c.endswith("-huge") for c in failed), failed


def test_suite_catches_a_weight_laid_over_the_trailing_axes_in_reverse(numpy_backend, monkeypatch):
    """Issue 27, class 6: a multi-axis weight read in the wrong axis order is right whenever
    normalized_shape has one axis (or equal sizes); the axes group catches it in many cases."""
    import normbench_numpy.rownorm as rn

    original = rn.layernorm_forward

    def reversed_weight(x, ns, weight, bias, *, eps):
        if weight is not None and weight.ndim > 1:
            weight = np.ascontiguousarray(weight).reshape(tuple(ns)[::-1]).transpose()
        return original(x, ns, weight, bias, eps=eps)

    monkeypatch.setattr(numpy_backend, "layernorm_forward", reversed_weight)
    failed = _failures(numpy_backend, LN)
    axes = [c for c in failed if "/axes/" in c]
    assert len(axes) >= 8, failed
    assert all("k=" in c for c in failed)
