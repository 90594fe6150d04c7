"""Issue 27, class 5: saved statistics (mean, rstd / invstd, rrms) are judged relative to their own
size. Under the outputs' absolute floor (atol times a scale of at least 1) a saved rstd of 0
passed wherever the reference was below 1e-5, e.g. 1e-19 on |x| ~ 1e19."""
import numpy as np
import pytest

from normbench.closeness import compare_arrays
from normbench.conformance import runner
from normbench._runtime.pluginmanager import load

#: each op's first pass on the NumPy backend and the name of the inverse root it saves
FORWARD = {"batchnorm": ("batchnorm_train", "save_invstd"), "layernorm": ("layernorm_forward", "rstd"),
           "rmsnorm": ("rmsnorm_forward", "rrms"), "groupnorm": ("groupnorm_forward", "rstd"),
           "instancenorm": ("instancenorm_train", "rstd")}


def test_an_rstd_of_zero_fails_where_an_absolute_floor_admitted_it():
    ref = np.array([1.0e-19, 3.0e-20])
    assert compare_arrays("rstd", np.zeros(2), ref, "float32", scale=0.0, cond_err=ref).ok  # the old judgment
    judged = compare_arrays("rstd", np.zeros(2), ref, "float32", scale=0.0, cond_err=ref, floor=0.0)
    assert not judged.ok and judged.max_rel == pytest.approx(1.0)
    # while a float32 rounding of the same values passes
    assert compare_arrays("rstd", ref.astype(np.float32), ref, "float32", scale=0.0, cond_err=ref, floor=0.0).ok


def test_a_zero_tolerance_admits_only_an_exact_value():
    ref = np.array([np.nan, 0.0, 2.0])
    assert compare_arrays("rstd", np.array([np.nan, 0.0, 2.0]), ref, "float32", scale=0.0, floor=0.0).ok
    assert not compare_arrays("rstd", np.array([np.nan, 1e-30, 2.0]), ref, "float32", scale=0.0, floor=0.0).ok


@pytest.fixture(scope="module")
def numpy_backend():
    return load(only=[*FORWARD, "numpy"]).get("numpy")


@pytest.mark.parametrize("op_name", list(FORWARD))
def test_suite_catches_a_saved_rstd_that_overflowed_while_y_did_not(numpy_backend, monkeypatch, op_name):
    """A kernel that normalizes y with a wide variance but saves a statistic from a float32 sum of
    squares: m squares of |x - mean| ~ 1e19 sum to inf in float32, so the saved statistic is 0."""
    method, stat = FORWARD[op_name]
    original = getattr(numpy_backend, method)

    def narrow_saved_rstd(x, *args, **kwargs):
        y, *stats = original(x, *args, **kwargs)
        with np.errstate(over="ignore", divide="ignore"):
            m = x.size // max(stats[-1].size, 1)
            sum_sq = (m / np.asarray(stats[-1], np.float64) ** 2).astype(np.float32)  # m (var + eps), in float32
            stats[-1] = (1.0 / np.sqrt(sum_sq.astype(np.float64) / m)).astype(stats[-1].dtype)
        return (y, *stats)

    monkeypatch.setattr(numpy_backend, method, narrow_saved_rstd)
    op = load(only=[op_name]).op(op_name)
    report = runner.check_backend(numpy_backend, op, runner.select_cases([op], dtypes=["float32"]))
    failed = {r.case.id: r for r in report.results if r.status == "fail"}
    assert failed and all(cid.endswith("-huge") for cid in failed), sorted(failed)
    assert {c.id for c in op.cases() if c.data == "huge"} == set(failed)
    for r in failed.values():  # found where the defect is: the saved statistic of the first pass
        assert any(c.output.startswith(stat) and not c.ok for c in r.comparisons), r.message
