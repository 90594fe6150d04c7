"""The asv suite (benchmarks/bench_ops.py) imports, builds one class per op, and times a real call."""
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def suite():
    spec = importlib.util.spec_from_file_location("bench_ops", ROOT / "benchmarks" / "bench_ops.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_classes_per_op_with_the_op_axes(suite):
    grid = suite.Grid_batchnorm
    assert grid.param_names == ["backend", "pass", "batch", "channels", "spatial", "dtype", "layout"]
    assert {"numpy", "numba", "torch-cpu"} <= set(grid.params[0])
    assert hasattr(suite, "Standard_batchnorm") and hasattr(suite, "Compile")


def test_a_grid_point_runs_and_reports_bandwidth(suite):
    bench = suite.Grid_batchnorm()
    bench.setup("numpy", "train", 4, 16, 14, "float32", "contiguous")
    bench.time_op()
    gbps = bench.track_gbps()
    assert 0.01 < gbps < 1000
    assert bench.track_threads() == 1  # NumPy runs on one thread, whatever is asked
    assert 0.001 < bench.track_floor_fraction() < 10


def test_points_outside_the_grid_or_unavailable_are_skipped_not_failed(suite):
    bench = suite.Grid_batchnorm()
    with pytest.raises(NotImplementedError, match="not in this grid"):
        bench.setup("numpy", "train", 4, 16, 999, "float32", "contiguous")
    with pytest.raises(NotImplementedError, match="CUDA"):
        bench.setup("torch-cuda", "train", 4, 16, 14, "float32", "contiguous")
