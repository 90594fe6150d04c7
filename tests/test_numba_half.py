"""The numba backend's float16/bfloat16 path for batch norm, GroupNorm and InstanceNorm: 16-bit
patterns in and out, float32 compute, outputs rounded to nearest even like torch's."""
import numpy as np
import pytest

pytest.importorskip("numba")
torch = pytest.importorskip("torch")
F = torch.nn.functional

from normbench.dtypes import to_layout  # noqa: E402
from normbench_numba import NumbaBackend  # noqa: E402
from normbench_numba.halfbits import BF16, F16, from_bits, to_bits  # noqa: E402


def test_bfloat16_bits_round_to_nearest_even_like_torch():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(50_000).astype(np.float32) * 1e3,
                        np.array([np.inf, -np.inf, 0.0, -0.0, 1 + 2 ** -8, 1 + 3 * 2 ** -8], np.float32)])
    ours = to_bits(x, BF16)
    theirs = torch.from_numpy(x).bfloat16().view(torch.int16).numpy().view(np.uint16)
    np.testing.assert_array_equal(ours, theirs)
    assert np.isnan(from_bits(to_bits(np.array([np.nan], np.float32), BF16), BF16)).all()
    np.testing.assert_array_equal(from_bits(to_bits(x[:100], F16), F16), x[:100].astype(np.float16).astype(np.float32))


def _torch(a, dtype):
    return torch.from_numpy(np.ascontiguousarray(a, np.float32)).to(dtype)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("shape", [(4, 6, 5, 7), (130, 3, 2, 2), (3, 5, 40, 30)])
def test_batchnorm_half_matches_torch_in_float32(dtype, layout, shape):
    """Same rounding as torch's half kernels (float32 compute, one rounding of the output), so the
    outputs agree to an ulp of the half type; statistics are float32 (BN-SEMANTICS)."""
    b = NumbaBackend()
    rng = np.random.default_rng(1)
    x32 = rng.standard_normal(shape).astype(np.float32) * 3 + 2
    x32 = _torch(x32, getattr(torch, dtype)).float().numpy()  # values exact in the half dtype
    c = shape[1]
    w, bias = rng.uniform(0.5, 1.5, c).astype(np.float32), rng.uniform(-1, 1, c).astype(np.float32)
    rm, rv = np.zeros(c, np.float32), np.ones(c, np.float32)
    x = to_layout(b.from_numpy(x32, dtype), layout)
    y, mean, invstd = b.batchnorm_train(x, w, bias, rm, rv, momentum=0.1, eps=1e-5, num_batches_tracked=1)
    assert mean.dtype == np.float32 and invstd.dtype == np.float32
    assert b.dtype_of(y) == dtype
    trm, trv = torch.zeros(c), torch.ones(c)
    ty = F.batch_norm(_torch(x32, getattr(torch, dtype)), trm, trv, torch.from_numpy(w), torch.from_numpy(bias),
                      training=True, momentum=0.1, eps=1e-5)
    ulp = 2.0 ** (-10 if dtype == "float16" else -7)
    np.testing.assert_allclose(b.to_numpy(y), ty.float().numpy(), rtol=2 * ulp, atol=2 * ulp)
    np.testing.assert_allclose(rm, trm.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rv, trv.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("params", ["float32", "same"])
def test_groupnorm_half_statistics_follow_the_parameters_dtype(dtype, params):
    """float32 parameters give float32 mean/rstd; half parameters give them in the half dtype
    (NORM-SEMANTICS), and the output stays in x's dtype and layout."""
    b = NumbaBackend()
    rng = np.random.default_rng(2)
    x32 = rng.standard_normal((2, 8, 6, 5)).astype(np.float32)
    x = to_layout(b.from_numpy(x32, dtype), "channels_last")
    pdt = "float32" if params == "float32" else dtype
    w = b.from_numpy(rng.uniform(0.5, 1.5, 8).astype(np.float32), pdt)
    bias = b.from_numpy(rng.uniform(-1, 1, 8).astype(np.float32), pdt)
    y, mean, rstd = b.groupnorm_forward(x, 4, w, bias, eps=1e-5)
    assert b.dtype_of(y) == dtype and not y.flags.c_contiguous  # channels_last kept
    assert b.dtype_of(mean) == pdt and b.dtype_of(rstd) == pdt
    tw, tb = (_torch(b.to_numpy(p), getattr(torch, pdt)) for p in (w, bias))
    ty = F.group_norm(_torch(b.to_numpy(x), getattr(torch, dtype)), 4, tw, tb, eps=1e-5)
    ulp = 2.0 ** (-10 if dtype == "float16" else -7)
    np.testing.assert_allclose(b.to_numpy(y), ty.float().numpy(), rtol=2 * ulp, atol=2 * ulp)
