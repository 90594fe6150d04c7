"""The float64 reference against hand-computed values and against PyTorch in float64."""
import numpy as np
import pytest

from normbench import InputError
from normbench.ops.batchnorm import reference as ref


def test_train_forward_by_hand():
    x = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 13.0]])  # N=3, C=2
    r = ref.train_forward(x, np.array([2.0, 1.0]), np.array([0.5, 0.0]), np.zeros(2), np.ones(2), momentum=0.1, eps=0.0)
    np.testing.assert_allclose(r.save_mean, [3.0, 11.0])
    var_b = np.array([8 / 3, 2.0])  # biased
    np.testing.assert_allclose(r.var, var_b)
    np.testing.assert_allclose(r.save_invstd, 1 / np.sqrt(var_b))
    np.testing.assert_allclose(r.y[:, 0], 2.0 * (x[:, 0] - 3) / np.sqrt(8 / 3) + 0.5)
    np.testing.assert_allclose(r.running_mean, 0.1 * np.array([3.0, 11.0]))
    np.testing.assert_allclose(r.running_var, 0.9 + 0.1 * var_b * 3 / 2)  # unbiased into running_var


def test_eps_inside_sqrt():
    x = np.array([[0.0], [2.0]])
    r = ref.train_forward(x, eps=1.0)
    assert r.save_invstd[0] == pytest.approx(1 / np.sqrt(1.0 + 1.0))


def test_momentum_none_is_cumulative_average():
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((5, 3)) for _ in range(4)]
    rm, rv = np.zeros(3), np.ones(3)
    for k, x in enumerate(batches, start=1):
        r = ref.train_forward(x, running_mean=rm, running_var=rv, momentum=None, num_batches_tracked=k)
        rm, rv = r.running_mean, r.running_var
    np.testing.assert_allclose(rm, np.mean([b.mean(0) for b in batches], axis=0))
    np.testing.assert_allclose(rv, np.mean([b.var(0, ddof=1) for b in batches], axis=0))


def test_keras_convention_is_explicit():
    x = np.array([[1.0], [3.0]])
    r = ref.train_forward(x, running_mean=np.zeros(1), running_var=np.ones(1), momentum=0.99, convention="keras")
    assert r.running_mean[0] == pytest.approx(0.01 * 2.0)
    assert r.running_var[0] == pytest.approx(0.99 + 0.01 * 1.0)  # biased batch variance
    with pytest.raises(InputError, match="convention"):
        ref.train_forward(x, convention="flax-ish")


def test_inputs_not_mutated():
    x = np.arange(12.0).reshape(3, 4)
    rm, rv = np.zeros(4), np.ones(4)
    ref.train_forward(x, running_mean=rm, running_var=rv)
    assert (rm == 0).all() and (rv == 1).all()


def test_m_equals_one_raises_and_empty_batch_is_empty():
    with pytest.raises(InputError, match="more than 1 value per channel"):
        ref.train_forward(np.ones((1, 3, 1, 1)))
    r = ref.train_forward(np.ones((0, 3, 2, 2)), running_mean=np.zeros(3), running_var=np.ones(3))
    assert r.y.shape == (0, 3, 2, 2)
    assert (r.running_mean == 0).all() and (r.running_var == 1).all()


def test_stable_when_mean_dominates():
    rng = np.random.default_rng(1)
    x = 1e8 + rng.standard_normal((1000, 2))
    r = ref.train_forward(x)
    np.testing.assert_allclose(r.var, np.var(x - 1e8, axis=0), rtol=1e-6)


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (2, 3, 4, 5), (2, 3, 2, 3, 4)])
@pytest.mark.parametrize("affine", [True, False])
def test_matches_torch_float64(shape, affine):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape) * 3 + 1
    dy = rng.standard_normal(shape)
    c = shape[1]
    w, b = (rng.uniform(0.5, 2, c), rng.uniform(-1, 1, c)) if affine else (None, None)
    rm, rv = rng.standard_normal(c), rng.uniform(0.5, 2, c)
    r = ref.train_forward(x, w, b, rm, rv, momentum=0.3, eps=1e-3)
    t = lambda a: None if a is None else torch.from_numpy(np.array(a))  # noqa: E731
    trm, trv = t(rm), t(rv)
    y, mean, invstd = torch.ops.aten.native_batch_norm(t(x), t(w), t(b), trm, trv, True, 0.3, 1e-3)
    np.testing.assert_allclose(r.y, y.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(r.save_invstd, invstd.numpy(), rtol=1e-12)
    np.testing.assert_allclose(r.running_mean, trm.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(r.running_var, trv.numpy(), rtol=1e-12)
    dx, dw, db = ref.backward(dy, x, w, r.save_mean, r.save_invstd)
    tdx, tdw, tdb = torch.ops.aten.native_batch_norm_backward(
        t(dy), t(x), t(w), None, None, mean, invstd, True, 1e-3, [True, affine, affine])
    np.testing.assert_allclose(dx, tdx.numpy(), rtol=1e-10, atol=1e-12)
    if affine:
        np.testing.assert_allclose(dw, tdw.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(db, tdb.numpy(), rtol=1e-10, atol=1e-12)
    ye = ref.eval_forward(x, w, b, rm, rv, eps=1e-3)
    tye = torch.nn.functional.batch_norm(t(x), t(rm), t(rv), t(w), t(b), False, 0.0, 1e-3)
    np.testing.assert_allclose(ye, tye.numpy(), rtol=1e-12, atol=1e-12)
