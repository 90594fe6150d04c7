"""Bad input to public entry points: one-line errors that name the problem."""
import numpy as np
import pytest

from normbench import InputError, Unsupported
from normbench.dtypes import cast_host, layout_of, round_to_bfloat16, to_layout
from normbench.ops.batchnorm import api


def ones(*shape, dtype=np.float32):
    return np.ones(shape, dtype)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(x=ones(5)), r"2 to 5 dimensions.*\(5,\)"),
        (dict(x=ones(2, 3, 2, 2, 2, 2)), "2 to 5 dimensions"),
        (dict(x=[[1.0, 2.0]]), "must be a NumPy array, got list"),
        (dict(x=ones(4, 3), weight=ones(4)), r"weight has shape \(4,\), expected \(3,\)"),
        (dict(x=ones(4, 3), bias=ones(2)), r"bias has shape \(2,\), expected \(3,\)"),
        (dict(x=ones(4, 3), weight=ones(3, dtype=np.float64)), "weight has dtype float64 but input is float32"),
        (dict(x=ones(4, 3, dtype=np.int32)), "input dtype int32 is not supported"),
        (dict(x=ones(4, 3), running_mean=ones(3)), "must be given together"),
        (dict(x=ones(4, 3), eps=-1.0), "eps must be a positive"),
        (dict(x=ones(4, 3), momentum=2.0), "momentum must be a number in"),
        (dict(x=ones(1, 3)), "more than 1 value per channel"),
        (dict(x=ones(4, 0)), "no channels"),
        (dict(x=ones(4, 3, dtype=np.float16), weight=ones(3, dtype=np.float16)), "half inputs keep float32"),
    ],
)
def test_train_forward_bad_input(kwargs, message):
    with pytest.raises(InputError, match=message) as info:
        api.train_forward("numpy", **kwargs)
    assert "\n" not in str(info.value)


def test_eval_needs_running_stats():
    with pytest.raises(InputError, match="eval mode needs running_mean"):
        api.eval_forward("numpy", ones(4, 3), None, None, None, None)


def test_backward_dy_must_match():
    with pytest.raises(InputError, match="dy must be an array of the input's shape"):
        api.backward("numpy", ones(4, 2), ones(4, 3), None, ones(3), ones(3))


def test_unknown_backend_and_unsupported_dtype():
    from normbench import UnknownBackendError

    with pytest.raises(UnknownBackendError, match="unknown backend 'nope'; available backends: .*numpy"):
        api.train_forward("nope", ones(4, 3))
    with pytest.raises(Unsupported, match="bfloat16"):
        api.train_forward("numpy", ones(4, 3), dtype="bfloat16")


def test_api_round_trip_updates_running_stats_in_place():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3, 4)).astype(np.float32)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    y, mean, invstd = api.train_forward("numpy", x, None, None, rm, rv, momentum=1.0)
    np.testing.assert_allclose(mean, x.mean(axis=(0, 2)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rm, mean, rtol=1e-6)
    np.testing.assert_allclose(rv, x.astype(np.float64).var(axis=(0, 2), ddof=1), rtol=1e-5)
    dx, dw, db = api.backward("numpy", np.ones_like(x), x, None, mean, invstd)
    assert dw is None and db is None
    np.testing.assert_allclose(dx, 0, atol=1e-5)  # a constant gradient is removed by the mean


def test_bfloat16_rounding_and_layouts():
    a = np.array([1.0, 1.00390625, 1.01171875, 3.14159265, np.nan, -0.0], dtype=np.float32)
    r = round_to_bfloat16(a)
    assert r[0] == 1.0 and r[1] == 1.0  # tie to even
    assert r[2] == np.float32(1.015625)  # tie rounds up to even mantissa
    assert r[3] == np.float32(3.140625)
    assert np.isnan(r[4])
    assert (r.view(np.uint32) & 0xFFFF == 0).all()
    x = cast_host(np.arange(2 * 3 * 4 * 5.0).reshape(2, 3, 4, 5), "float32")
    for layout in ("contiguous", "channels_last", "strided"):
        y = to_layout(x, layout)
        assert layout_of(y) == layout and np.array_equal(x, y)
