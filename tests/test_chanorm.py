"""GroupNorm and InstanceNorm: references against PyTorch in float64, clear errors, and the suite
catching the classic bugs of these kernels (interleaved groups, a biased running variance, a
missing check, channels_last read as contiguous)."""
import json

import numpy as np
import pytest

from normbench.cli import main
from normbench.conformance import runner
from normbench.errors import InputError
from normbench.ops import channelwise
from normbench.ops.groupnorm import OP as GN
from normbench.ops.groupnorm import reference as gn_ref
from normbench.ops.instancenorm import OP as IN
from normbench.ops.instancenorm import reference as in_ref
from normbench._runtime.pluginmanager import load

torch = pytest.importorskip("torch")
F = torch.nn.functional


@pytest.mark.parametrize("shape,groups", [((3, 6, 5), 2), ((2, 8, 3, 4), 4), ((2, 4, 2, 3, 2), 1), ((4, 6), 6)])
def test_groupnorm_reference_matches_torch_float64(shape, groups):
    rng = np.random.default_rng(3)
    x, dy = rng.standard_normal(shape) * 2 + 1, rng.standard_normal(shape)
    c = shape[1]
    w, b = rng.uniform(0.5, 1.5, c), rng.uniform(-1, 1, c)
    y, st = gn_ref.forward(x, groups, w, b, 1e-5)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = F.group_norm(tx, groups, tw, tb, 1e-5)
    ty.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    _, mean, rstd = torch.ops.aten.native_group_norm(torch.tensor(x), None, None, shape[0], c,
                                                     int(np.prod(shape[2:])), groups, 1e-5)
    np.testing.assert_allclose(st["mean"], mean.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(st["rstd"], rstd.numpy(), rtol=1e-12)
    dx, g = gn_ref.backward(dy, x, groups, w, 1e-5)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(g["weight"], tw.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g["bias"], tb.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("momentum", [0.0, 0.1, 1.0])
def test_instancenorm_reference_matches_torch_float64(momentum):
    rng = np.random.default_rng(4)
    shape = (3, 4, 5, 2)
    x, dy = rng.standard_normal(shape) * 2 + 1, rng.standard_normal(shape)
    w, b = rng.uniform(0.5, 1.5, 4), rng.uniform(-1, 1, 4)
    rm, rv = rng.uniform(-1, 1, 4), rng.uniform(0.5, 2, 4)
    y, st, (new_rm, new_rv) = in_ref.train(x, w, b, rm, rv, momentum=momentum, eps=1e-5)
    trm, trv = torch.tensor(rm), torch.tensor(rv)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = F.instance_norm(tx, trm, trv, tw, tb, use_input_stats=True, momentum=momentum, eps=1e-5)
    ty.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(new_rm, trm.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(new_rv, trv.numpy(), rtol=1e-12)
    if momentum == 0.0:  # nn.InstanceNorm's momentum=None: the running statistics stay as they were
        np.testing.assert_array_equal(new_rm, rm)
    dx, g = in_ref.backward(dy, x, w, 1e-5)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(g["weight"], tw.grad.numpy(), rtol=1e-10, atol=1e-12)
    ye = in_ref.eval(x, w, b, rm, rv, eps=1e-5)
    te = F.instance_norm(torch.tensor(x), torch.tensor(rm), torch.tensor(rv), torch.tensor(w), torch.tensor(b),
                         use_input_stats=False, eps=1e-5)
    np.testing.assert_allclose(ye, te.numpy(), rtol=1e-12, atol=1e-12)


def test_groups_are_contiguous_channel_blocks():
    """Group 0 of 2 holds channels 0 and 1 of 4: a constant there gives y = bias on exactly those."""
    x = np.random.default_rng(0).standard_normal((1, 4, 6))
    x[0, :2] = 3.0
    y, _ = gn_ref.forward(x, 2, None, np.arange(4.0), 1e-5)
    np.testing.assert_allclose(y[0, :2], [[0.0] * 6, [1.0] * 6], atol=1e-12)
    assert np.abs(y[0, 2:] - np.arange(2.0, 4.0)[:, None]).max() > 0.1


@pytest.mark.parametrize("call,message", [
    (lambda: channelwise.validate_groupnorm(np.zeros((2, 6, 4)), 4), "6 channels are not divisible by num_groups=4"),
    (lambda: channelwise.validate_groupnorm(np.zeros((2, 6, 4)), 3, np.ones(5)), "weight has shape [5], expected [6]"),
    (lambda: channelwise.validate_groupnorm(np.zeros((1, 4)), 4), "expected more than 1 value per group"),
    (lambda: channelwise.validate_instancenorm(np.zeros((2, 3, 1))), "expected more than 1 spatial element"),
    (lambda: channelwise.validate_instancenorm(np.zeros((2, 3))), "input must be (N, C, L, ...)"),
    (lambda: channelwise.validate_instancenorm(np.zeros((2, 3, 4)), running_mean=np.zeros(3)),
     "running_mean and running_var must be given together"),
    (lambda: channelwise.validate_instancenorm(np.zeros((2, 3, 4)), use_input_stats=False), "needs running_mean"),
])
def test_validation_names_the_problem(call, message):
    with pytest.raises(InputError) as info:
        call()
    assert message in str(info.value)


def test_eval_with_one_spatial_element_is_legal():
    channelwise.validate_instancenorm(np.zeros((2, 3, 1)), running_mean=np.zeros(3), running_var=np.ones(3),
                                      use_input_stats=False)


def test_list_shows_both_ops_for_the_built_in_backends(capsys):
    assert main(["list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    by_name = {b["name"]: b for b in listing["backends"]}
    for name in ("numpy", "numba", "torch-cpu", "torch-cuda"):
        assert {"groupnorm", "instancenorm"} <= set(by_name[name]["ops"]), name
    assert by_name["torch-cpu"]["ops"]["instancenorm"]["passes"] == ["train", "eval", "backward"]


@pytest.fixture(scope="module")
def numpy_backend():
    return load(only=["groupnorm", "instancenorm", "numpy"]).get("numpy")


def _results(backend, op, **select):
    report = runner.check_backend(backend, op, runner.select_cases([op], **select))
    return {r.case.id: r for r in report.results}


def _failed(results):
    return [cid for cid, r in results.items() if r.status in ("fail", "error")]


def test_suite_catches_interleaved_groups(numpy_backend, monkeypatch):
    import normbench_numpy.chanorm as cn

    original = cn.groupnorm_forward

    def interleaved(x, num_groups, weight, bias, *, eps):  # channel c in group c % G: a classic bug
        c = x.shape[1]
        order = np.argsort(np.arange(c) % num_groups, kind="stable")
        inverse = np.argsort(order)
        y, mean, rstd = original(x[:, order], num_groups, None, None, eps=eps)
        y = y[:, inverse]
        if weight is not None:
            y = y * weight.reshape((1, -1) + (1,) * (x.ndim - 2))
        if bias is not None:
            y = y + bias.reshape((1, -1) + (1,) * (x.ndim - 2))
        return y.astype(x.dtype), mean, rstd

    monkeypatch.setattr(numpy_backend, "groupnorm_forward", interleaved)
    failed = _failed(_results(numpy_backend, GN, dtypes=["float32"]))
    assert "groupnorm/groups/2x64x3x3-float32-G=2" in failed
    assert "groupnorm/groups/2x64x3x3-float32-G=64" not in failed  # G = C: nothing to interleave


def test_suite_catches_a_biased_running_variance(numpy_backend, monkeypatch):
    import normbench_numpy.chanorm as cn

    def biased(x, weight, bias, running_mean, running_var, *, momentum, eps):
        n, c = x.shape[:2]
        y, mean, rstd = cn.instancenorm_train(x, weight, bias, None, None, momentum=momentum, eps=eps)
        if running_mean is not None:
            xs = x.reshape(n, c, -1).astype(np.float64)
            running_mean[...] = (1 - momentum) * running_mean + momentum * xs.mean(axis=2).mean(axis=0)
            running_var[...] = (1 - momentum) * running_var + momentum * xs.var(axis=2).mean(axis=0)  # ddof=0
        return y, mean, rstd

    monkeypatch.setattr(numpy_backend, "instancenorm_train", biased)
    results = _results(numpy_backend, IN, dtypes=["float32"])
    failed = _failed(results)
    assert "instancenorm/running/4x6x7-float32-running-m=0.1" in failed
    assert "running_var" in results["instancenorm/running/4x6x7-float32-running-m=0.1"].message
    assert "instancenorm/running/4x6x7-float32-running-m=0" not in failed  # momentum 0: nothing to see


def test_suite_fails_a_backend_that_accepts_invalid_groups(numpy_backend, monkeypatch):
    import normbench_numpy.chanorm as cn

    def unchecked(x, num_groups, weight, bias, *, eps):
        if x.shape[1] % num_groups:
            num_groups = 1  # silently normalizes something else instead of raising
        return cn._forward(x, num_groups, weight, bias, eps, x.dtype)[:3]

    monkeypatch.setattr(numpy_backend, "groupnorm_forward", unchecked)
    result = _results(numpy_backend, GN, groups=["errors"])["groupnorm/errors/2x6x4-float32-G=4-bad-groups"]
    assert result.status == "fail"
    assert "6 channels not divisible by num_groups=4: must raise, but returned normally" in result.message


def test_suite_catches_channels_last_read_as_contiguous(numpy_backend, monkeypatch):
    import normbench_numpy.chanorm as cn

    original = cn.groupnorm_forward

    def raw_memory(x, num_groups, weight, bias, *, eps):  # reads the buffer in memory order
        dense = np.frombuffer(np.ascontiguousarray(x.transpose(0, *range(2, x.ndim), 1)).tobytes(), x.dtype)
        fake = dense.reshape(x.shape) if not x.flags.c_contiguous and x.ndim > 2 else x
        return original(fake, num_groups, weight, bias, eps=eps)

    monkeypatch.setattr(numpy_backend, "groupnorm_forward", raw_memory)
    failed = _failed(_results(numpy_backend, GN, dtypes=["float32"], groups=["layouts"]))
    assert "groupnorm/layouts/2x8x4x5-float32-channels_last-G=2" in failed


def test_a_crash_on_invalid_input_is_not_a_refusal(numpy_backend, monkeypatch):
    """The errors group wants an error naming the problem: a NumPy broadcast error or an IndexError
    from a backend that never checks its input fails the case."""
    import normbench_numpy.chanorm as cn

    def unchecked(x, num_groups, weight, bias, *, eps):
        n, c = x.shape[:2]
        xu = x.reshape(n, num_groups, -1)  # "cannot reshape array" when C % G != 0
        y = ((xu - xu.mean(axis=2, keepdims=True)) / np.sqrt(xu.var(axis=2, keepdims=True) + eps)).reshape(x.shape)
        if weight is not None:
            y = y * weight.reshape((1, -1) + (1,) * (x.ndim - 2))  # broadcast error for a wrong length
        if num_groups == c and n == 1:
            raise IndexError("index 1 is out of bounds for axis 0 with size 1")
        return y.astype(x.dtype), None, None

    monkeypatch.setattr(numpy_backend, "groupnorm_forward", unchecked)
    results = _results(numpy_backend, GN, groups=["errors"])
    assert results["groupnorm/errors/2x6x4-float32-G=4-bad-groups"].status == "fail"  # 48 values reshape fine
    for cid in ("groupnorm/errors/4x8x5-float32-G=2-bad-weight", "groupnorm/errors/1x4-float32-G=4-bad-single"):
        assert results[cid].status == "fail", cid
        assert "a crash, not a refusal of the input" in results[cid].message, results[cid].message
    assert cn.groupnorm_forward is not unchecked  # the real backend still passes them
    real = _results(load(only=["groupnorm", "numpy"]).get("numpy"), GN, groups=["errors"])
    assert {r.status for r in real.values()} == {"pass"}


def _dense(a):
    """A 1-D parameter read as dense memory from its first element (what a kernel that takes a
    pointer and assumes unit stride does)."""
    if a is None or a.ndim != 1 or a.flags.c_contiguous:
        return a
    return np.lib.stride_tricks.as_strided(a, shape=a.shape, strides=(a.itemsize,))


@pytest.mark.parametrize("op, passes", [(GN, ("forward", "backward")), (IN, ("train", "eval", "backward"))])
def test_suite_catches_a_strided_parameter_read_as_dense(numpy_backend, monkeypatch, op, passes):
    """Issue 27, class 3: GroupNorm's and InstanceNorm's weight, bias and running statistics come as
    non-contiguous views too; a kernel that ignores their stride is caught in every pass."""
    from normbench.dtypes import layout_of, to_layout

    plain = numpy_backend.from_numpy  # copies to dense memory: the kernel would never see a stride
    monkeypatch.setattr(numpy_backend, "from_numpy", lambda a, dtype: to_layout(plain(a, dtype), layout_of(a)))
    assert not _failed(_results(numpy_backend, op, groups=["layouts"]))  # strides kept, and honoured
    caught = {}
    for pass_ in passes:
        name = f"{op.name}_{pass_}"
        original = getattr(numpy_backend, name)

        def dense_params(*args, _original=original, **kwargs):
            return _original(*(_dense(a) if isinstance(a, np.ndarray) and a.ndim == 1 else a for a in args), **kwargs)

        with monkeypatch.context() as m:
            m.setattr(numpy_backend, name, dense_params)
            failed = _failed(_results(numpy_backend, op, groups=["layouts"]))
        caught[pass_] = sorted(c for c in failed if "params=strided" in c)
        assert all("params=strided" in c for c in failed), failed  # only the strided-parameter cases
    assert all(caught.values()), caught
    assert len(caught[passes[0]]) >= 5  # in every layout of x
