"""The Keras plugin: discovered through its entry point, conventions mapped onto PyTorch's."""
import importlib.util

import numpy as np
import pytest

if importlib.util.find_spec("keras") is None:  # not importorskip: `import keras` picks its engine
    pytest.skip("keras is not installed", allow_module_level=True)

from normbench import load_plugins as load  # noqa: E402


@pytest.fixture(scope="module")
def backend():
    reg = load()
    assert reg.source("keras-torch").distribution == "normbench-keras", "discovered through its entry point"
    b = reg.get("keras-torch")
    if not b.availability():
        pytest.skip(b.availability().reason)
    return b


def test_engines_are_offered_side_by_side():
    reg = load()
    for engine in ("torch", "jax", "tensorflow"):
        b = reg.get(f"keras-{engine}")
        assert b.engine == engine and engine in b.description
        assert b.availability() or "not installed" in b.availability().reason or "already imported" in \
            b.availability().reason


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_train_maps_momentum_axis_and_unbiased_variance(backend, momentum, layout):
    """Keras's momentum is 1 - torch's and its moving variance biased: after two steps the running
    statistics are PyTorch's (computed here by hand), in either layout (axis=1 or axis=-1)."""
    from normbench.dtypes import to_layout

    rng = np.random.default_rng(2)
    c = 3
    rm, rv = np.array([0.5, -1.0, 2.0], np.float32), np.array([1.0, 4.0, 0.25], np.float32)
    n_rm, n_rv = backend.from_numpy(rm, "float32"), backend.from_numpy(rv, "float32")
    want_m, want_v = rm.astype(np.float64), rv.astype(np.float64)
    for step in (1, 2):
        x = (rng.standard_normal((4, c, 3, 5)) * 2 + 1).astype(np.float32)
        nx = backend.from_numpy(to_layout(x, layout), "float32")
        assert nx.channels_last == (layout == "channels_last")
        y, mean, invstd = backend.batchnorm_train(nx, None, None, n_rm, n_rv, momentum=momentum, eps=1e-5,
                                                  num_batches_tracked=step)
        assert mean is None and invstd is None  # Keras does not expose them
        f = momentum if momentum is not None else 1 / step
        x64 = x.astype(np.float64)
        want_m = (1 - f) * want_m + f * x64.mean(axis=(0, 2, 3))
        want_v = (1 - f) * want_v + f * x64.var(axis=(0, 2, 3), ddof=1)
        expect = (x64 - x64.mean(axis=(0, 2, 3))[None, :, None, None]) / np.sqrt(
            x64.var(axis=(0, 2, 3))[None, :, None, None] + 1e-5)
        np.testing.assert_allclose(backend.to_numpy(y), expect, rtol=2e-4, atol=2e-4)
        np.testing.assert_allclose(backend.to_numpy(n_rm), want_m, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(backend.to_numpy(n_rv), want_v, rtol=1e-5, atol=1e-6)


def test_backward_is_autograd_of_the_layer(backend):
    rng = np.random.default_rng(3)
    x, dy = rng.standard_normal((8, 4)), rng.standard_normal((8, 4))
    w = rng.uniform(0.5, 1.5, 4)
    nat = {k: backend.from_numpy(v.astype(np.float32), "float32") for k, v in dict(x=x, dy=dy, w=w).items()}
    dx, dw, db = backend.batchnorm_backward(nat["dy"], nat["x"], nat["w"], None, None, eps=1e-5)
    mu, var = x.mean(0), x.var(0)
    xhat = (x - mu) / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(backend.to_numpy(db), dy.sum(0), rtol=1e-4)
    np.testing.assert_allclose(backend.to_numpy(dw), (dy * xhat).sum(0), rtol=1e-4, atol=1e-5)
    g = dy * w
    want_dx = (g - g.mean(0) - xhat * (g * xhat).mean(0)) / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(backend.to_numpy(dx), want_dx, rtol=1e-3, atol=1e-4)


def test_one_value_per_channel_raises_as_pytorch_does(backend):
    x = backend.from_numpy(np.ones((1, 3), np.float32), "float32")
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        backend.batchnorm_train(x, None, None, None, None, momentum=0.1, eps=1e-5, num_batches_tracked=1)
