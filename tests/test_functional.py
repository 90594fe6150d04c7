"""normbench.functional agrees with torch.nn.functional (forward, running statistics, autograd
gradients) on every op and pass, through the numpy and numba backends; bad input is one line."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
Fn = torch.nn.functional

from normbench import Unsupported  # noqa: E402
from normbench.errors import NormbenchError  # noqa: E402
from normbench import functional as F  # noqa: E402

BACKENDS = ["numpy", "numba"]
TOL = {"float64": dict(rtol=1e-9, atol=1e-9), "float32": dict(rtol=2e-5, atol=2e-5)}


def _t(a, grad=False):
    return None if a is None else torch.from_numpy(np.array(a)).requires_grad_(grad)


def _grads(fn, x, dy, params: dict):
    """torch's gradients of ``fn`` w.r.t. x and each given parameter (None where absent)."""
    tx = _t(x, True)
    tp = {k: _t(v, v is not None) for k, v in params.items()}
    fn(tx, **tp).backward(_t(dy))
    return [tx.grad.numpy()] + [None if tp[k] is None else tp[k].grad.numpy() for k in params]


def _close(got, want, dtype):
    assert (got is None) == (want is None)
    if want is not None:
        np.testing.assert_allclose(got, want, **TOL[dtype])


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


def _data(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * 2 + 0.5).astype(dtype), rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("affine", ["both", "weight", "bias", "none"])
def test_batch_norm(backend, dtype, affine):
    x, dy = _data((6, 5, 4, 3), dtype)
    rng = np.random.default_rng(1)
    w = rng.uniform(0.5, 1.5, 5).astype(dtype) if affine in ("both", "weight") else None
    b = rng.uniform(-1, 1, 5).astype(dtype) if affine in ("both", "bias") else None
    rm, rv = rng.uniform(-0.5, 0.5, 5).astype(dtype), rng.uniform(0.5, 2, 5).astype(dtype)
    # training: y and the running statistics, updated in place
    rm_t, rv_t = _t(rm), _t(rv)
    want = Fn.batch_norm(_t(x), rm_t, rv_t, _t(w), _t(b), training=True, momentum=0.3, eps=1e-4).numpy()
    rm2, rv2 = rm.copy(), rv.copy()
    _close(F.batch_norm(x, rm2, rv2, w, b, training=True, momentum=0.3, eps=1e-4, backend=backend), want, dtype)
    _close(rm2, rm_t.numpy(), dtype)
    _close(rv2, rv_t.numpy(), dtype)
    # eval
    want = Fn.batch_norm(_t(x), _t(rm), _t(rv), _t(w), _t(b), training=False, eps=1e-4).numpy()
    _close(F.batch_norm(x, rm, rv, w, b, eps=1e-4, backend=backend), want, dtype)
    # backward (training mode); the running statistics are not touched
    want = _grads(lambda x_, weight, bias: Fn.batch_norm(x_, None, None, weight, bias, training=True, eps=1e-4),
                  x, dy, {"weight": w, "bias": b})
    before = rm.copy()
    got = F.batch_norm_backward(dy, x, rm, rv, w, b, training=True, eps=1e-4, backend=backend)
    for g, e in zip(got, want):
        _close(g, e, dtype)
    assert np.array_equal(rm, before)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("params", ["both", "weight", "none"])
def test_layer_norm(backend, dtype, params):
    x, dy = _data((3, 7, 12), dtype)
    rng = np.random.default_rng(2)
    ns = (7, 12)
    w = rng.uniform(0.5, 1.5, ns).astype(dtype) if params != "none" else None
    b = rng.uniform(-1, 1, ns).astype(dtype) if params == "both" else None
    want = Fn.layer_norm(_t(x), ns, _t(w), _t(b), eps=1e-3).numpy()
    _close(F.layer_norm(x, ns, w, b, eps=1e-3, backend=backend), want, dtype)
    want = _grads(lambda x_, weight, bias: Fn.layer_norm(x_, ns, weight, bias, eps=1e-3), x, dy, {"weight": w, "bias": b})
    for g, e in zip(F.layer_norm_backward(dy, x, ns, w, b, eps=1e-3, backend=backend), want):
        _close(g, e, dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("eps", [None, 1e-5])
@pytest.mark.parametrize("weighted", [True, False])
def test_rms_norm(backend, dtype, eps, weighted):
    x, dy = _data((5, 33), dtype)
    w = np.random.default_rng(3).uniform(0.5, 1.5, 33).astype(dtype) if weighted else None
    want = Fn.rms_norm(_t(x), (33,), _t(w), eps=eps).numpy()
    _close(F.rms_norm(x, 33, w, eps=eps, backend=backend), want, dtype)
    want = _grads(lambda x_, weight: Fn.rms_norm(x_, (33,), weight, eps=eps), x, dy, {"weight": w})
    got = F.rms_norm_backward(dy, x, (33,), w, eps=eps, backend=backend)
    assert len(got) == 2
    for g, e in zip(got, want):
        _close(g, e, dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("groups", [1, 3, 6])
def test_group_norm(backend, dtype, groups):
    x, dy = _data((4, 6, 5, 3), dtype)
    rng = np.random.default_rng(4)
    w, b = rng.uniform(0.5, 1.5, 6).astype(dtype), rng.uniform(-1, 1, 6).astype(dtype)
    want = Fn.group_norm(_t(x), groups, _t(w), _t(b), eps=1e-5).numpy()
    _close(F.group_norm(x, groups, w, b, backend=backend), want, dtype)
    want = _grads(lambda x_, weight, bias: Fn.group_norm(x_, groups, weight, bias), x, dy, {"weight": w, "bias": b})
    for g, e in zip(F.group_norm_backward(dy, x, groups, w, b, backend=backend), want):
        _close(g, e, dtype)
    got = F.group_norm_backward(dy, x, groups, backend=backend)  # no parameters: their gradients are None
    assert got[1] is None and got[2] is None


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("running", [True, False])
def test_instance_norm(backend, dtype, running):
    x, dy = _data((3, 4, 6, 5), dtype)
    rng = np.random.default_rng(5)
    w, b = rng.uniform(0.5, 1.5, 4).astype(dtype), rng.uniform(-1, 1, 4).astype(dtype)
    rm = rng.uniform(-0.5, 0.5, 4).astype(dtype) if running else None
    rv = rng.uniform(0.5, 2, 4).astype(dtype) if running else None
    rm_t, rv_t = _t(rm), _t(rv)
    want = Fn.instance_norm(_t(x), rm_t, rv_t, _t(w), _t(b), use_input_stats=True, momentum=0.2).numpy()
    rm2, rv2 = _copy(rm), _copy(rv)
    _close(F.instance_norm(x, rm2, rv2, w, b, momentum=0.2, backend=backend), want, dtype)
    if running:
        _close(rm2, rm_t.numpy(), dtype)
        _close(rv2, rv_t.numpy(), dtype)
        want = Fn.instance_norm(_t(x), _t(rm), _t(rv), _t(w), _t(b), use_input_stats=False).numpy()
        _close(F.instance_norm(x, rm, rv, w, b, use_input_stats=False, backend=backend), want, dtype)
    want = _grads(lambda x_, weight, bias: Fn.instance_norm(x_, None, None, weight, bias), x, dy, {"weight": w, "bias": b})
    for g, e in zip(F.instance_norm_backward(dy, x, rm, rv, w, b, backend=backend), want):
        _close(g, e, dtype)


def _copy(a):
    return None if a is None else a.copy()


@pytest.mark.parametrize("call, words", [
    (lambda: F.layer_norm(np.zeros((4, 8), np.float32), (7,), backend="numpy"), "normalized_shape"),
    (lambda: F.layer_norm(np.zeros((4, 8), np.float32), (8,), np.ones(9, np.float32), backend="numpy"), "weight"),
    (lambda: F.layer_norm(np.zeros((4, 8), np.int32), (8,), backend="numpy"), "dtype int32"),
    (lambda: F.layer_norm([[1.0, 2.0]], (2,), backend="numpy"), "NumPy array"),
    (lambda: F.layer_norm(np.zeros((4, 8), np.float32), (8,), np.ones(8), backend="numpy"), "weight has dtype float64"),
    (lambda: F.rms_norm(np.zeros((4, 8), np.float32), (8,), eps=-1.0, backend="numpy"), "eps"),
    (lambda: F.group_norm(np.zeros((2, 6, 4), np.float32), 4, backend="numpy"), "divisible"),
    (lambda: F.instance_norm(np.zeros((2, 3, 1), np.float32), backend="numpy"), "spatial"),
    (lambda: F.batch_norm(np.zeros((1, 3), np.float32), None, None, training=True, backend="numpy"), "more than 1 value"),
    (lambda: F.batch_norm(np.zeros((4, 3), np.float32), None, None, backend="numpy"), "running_mean"),
    (lambda: F.layer_norm_backward(np.zeros((4, 9), np.float32), np.zeros((4, 8), np.float32), (8,), backend="numpy"),
     "grad_output"),
    (lambda: F.layer_norm(np.zeros((4, 8), np.float32), (8,), backend="no-such-backend"), "unknown backend"),
])
def test_bad_input_is_one_line(call, words):
    with pytest.raises(NormbenchError) as info:  # InputError; UnknownBackendError for a backend's name
        call()
    assert words in str(info.value) and "\n" not in str(info.value)


def test_a_pass_the_backend_lacks_is_unsupported():
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    with pytest.raises(Unsupported, match="training-mode backward only"):
        F.batch_norm_backward(x, x, np.zeros(3, np.float32), np.ones(3, np.float32), backend="numpy")
