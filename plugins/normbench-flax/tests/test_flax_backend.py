"""The Flax plugin: linen and nnx BatchNorm map momentum, axis and the running variance onto PyTorch's."""
import numpy as np
import pytest

pytest.importorskip("flax")

from normbench.dtypes import to_layout  # noqa: E402
from normbench import load_plugins as load  # noqa: E402


@pytest.fixture(scope="module")
def registry():
    reg = load()
    assert reg.source("flax").distribution == "normbench-flax", "discovered through its entry point"
    return reg


@pytest.mark.parametrize("name", ["flax", "flax-nnx"])
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_train_maps_momentum_axis_and_unbiased_variance(registry, name, momentum, layout):
    backend = registry.get(name)
    rng = np.random.default_rng(4)
    c = 3
    rm, rv = np.array([0.5, -1.0, 2.0]), np.array([1.0, 4.0, 0.25])
    n_rm, n_rv = backend.from_numpy(rm, "float64"), backend.from_numpy(rv, "float64")
    want_m, want_v = rm.copy(), rv.copy()
    for step in (1, 2):
        x = rng.standard_normal((4, c, 3, 5)) * 2 + 1
        y, mean, invstd = backend.batchnorm_train(backend.from_numpy(to_layout(x, layout), "float64"), None, None,
                                                  n_rm, n_rv, momentum=momentum, eps=1e-5, num_batches_tracked=step)
        assert mean is None and invstd is None
        f = momentum if momentum is not None else 1 / step
        want_m = (1 - f) * want_m + f * x.mean(axis=(0, 2, 3))
        want_v = (1 - f) * want_v + f * x.var(axis=(0, 2, 3), ddof=1)
        expect = (x - x.mean(axis=(0, 2, 3))[None, :, None, None]) / np.sqrt(x.var(axis=(0, 2, 3))[None, :, None, None]
                                                                            + 1e-5)
        assert backend.dtype_of(y) == "float64"  # jax_enable_x64: no silent float32
        np.testing.assert_allclose(backend.to_numpy(y), expect, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(backend.to_numpy(n_rm), want_m, rtol=1e-12)
        np.testing.assert_allclose(backend.to_numpy(n_rv), want_v, rtol=1e-12)


def test_layernorm_backward_is_jax_vjp(registry):
    backend = registry.get("flax")
    rng = np.random.default_rng(5)
    x, dy = rng.standard_normal((6, 16)), rng.standard_normal((6, 16))
    w, b = rng.uniform(0.5, 1.5, 16), rng.uniform(-1, 1, 16)
    nat = [backend.from_numpy(a, "float64") for a in (dy, x, w, b)]
    dx, dw, db = backend.layernorm_backward(nat[0], nat[1], (16,), nat[2], nat[3], None, None, eps=1e-5)
    mu, var = x.mean(1, keepdims=True), x.var(1, keepdims=True)
    xhat = (x - mu) / np.sqrt(var + 1e-5)
    g = dy * w
    want_dx = (g - g.mean(1, keepdims=True) - xhat * (g * xhat).mean(1, keepdims=True)) / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(backend.to_numpy(dx), want_dx, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(backend.to_numpy(dw), (dy * xhat).sum(0), rtol=1e-9)
    np.testing.assert_allclose(backend.to_numpy(db), dy.sum(0), rtol=1e-12)


@pytest.mark.parametrize("name", ["flax", "flax-nnx"])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_batchnorm_backward_is_jax_vjp_of_the_training_module(registry, name, layout):
    from normbench.ops.batchnorm import reference

    backend = registry.get(name)
    rng = np.random.default_rng(6)
    x, dy = rng.standard_normal((4, 3, 5, 2)) * 2 + 1, rng.standard_normal((4, 3, 5, 2))
    w = rng.uniform(0.5, 1.5, 3)
    t = reference.train_forward(x, w, np.zeros(3), momentum=0.1, eps=1e-5)
    want = reference.backward(dy, x, w, t.save_mean, t.save_invstd)
    for _ in range(2):  # the second call reuses the jitted function and its cached module state
        got = backend.batchnorm_backward(backend.from_numpy(to_layout(dy, layout), "float64"),
                                         backend.from_numpy(to_layout(x, layout), "float64"),
                                         backend.from_numpy(w, "float64"), None, None, eps=1e-5)
        for g, wv in zip(got, want):
            np.testing.assert_allclose(backend.to_numpy(g), wv, rtol=1e-9, atol=1e-11)
