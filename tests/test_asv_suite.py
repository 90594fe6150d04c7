"""The asv suite (benchmarks/bench_ops.py) imports, builds one class per op, and times a real call."""
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def default_suite():
    spec = importlib.util.spec_from_file_location("bench_ops", ROOT / "benchmarks" / "bench_ops.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def suite():
    """The suite with the quick grid's classes too (NORMBENCH_GRID=quick), as a namespace."""
    from types import SimpleNamespace

    from normbench.asvsuite import install

    ns = {"__name__": "bench_grid"}
    install(ns, grid="quick")
    return SimpleNamespace(**ns)


def test_the_default_suite_is_the_standard_shapes_on_the_built_in_backends(default_suite, monkeypatch):
    names = [k for k in vars(default_suite) if k.startswith(("Standard_", "Grid_", "Compile"))]
    assert sorted(names) == ["Compile", "Standard_batchnorm", "Standard_groupnorm", "Standard_instancenorm",
                             "Standard_layernorm", "Standard_rmsnorm"]
    std = default_suite.Standard_batchnorm
    assert std.__module__ == "bench_ops" and [k for k in vars(std) if k.startswith(("time_", "track_", "peakmem_"))] \
        == ["time_op"]  # one benchmark kind per parameter set: asv sets up each kind anew
    # built-in and not compiling per configuration: no plugin's backend, no torch-compile
    assert {"numpy", "numba", "torch-cpu"} <= set(std.params[0]) and "torch-compile" not in std.params[0]
    from normbench import asvsuite

    monkeypatch.setenv("NORMBENCH_BACKENDS", "numba, torch-cpu")
    assert asvsuite.default_backends() == ["numba", "torch-cpu"]
    with pytest.raises(ValueError, match="unknown op"):
        asvsuite.install({}, ops=["batchnrom"])


def test_classes_per_op_with_the_op_axes(suite):
    grid = suite.Grid_batchnorm
    assert grid.param_names == ["backend", "pass", "batch", "channels", "spatial", "dtype", "layout"]
    assert {"numpy", "numba", "torch-cpu"} <= set(grid.params[0])
    assert hasattr(suite, "Standard_batchnorm") and hasattr(suite, "Compile")


def test_a_standard_point_runs_and_an_uninstalled_backend_is_skipped(default_suite):
    bench = default_suite.Standard_layernorm()
    bench.setup("numba", "forward", "256x2048" if "256x2048" in bench.params[2] else bench.params[2][0], "contiguous")
    bench.time_op()
    with pytest.raises(NotImplementedError, match="no backend 'nope' is installed"):
        default_suite.Standard_layernorm().setup("nope", "forward", bench.params[2][0], "contiguous")


def test_a_grid_point_runs_and_reports_bandwidth(suite):
    bench = suite.Grid_batchnorm()
    bench.setup("numpy", "train", 4, 64, 14, "float32", "contiguous")
    bench.time_op()
    gbps = bench.track_gbps()
    assert 0.01 < gbps < 1000
    assert bench.track_threads() == 1  # NumPy runs on one thread, whatever is asked
    assert 0.001 < bench.track_floor_fraction() < 10


def test_points_outside_the_grid_or_unavailable_are_skipped_not_failed(suite):
    bench = suite.Grid_batchnorm()
    with pytest.raises(NotImplementedError, match="not in this grid"):
        bench.setup("numpy", "train", 4, 64, 999, "float32", "contiguous")
    with pytest.raises(NotImplementedError, match="CUDA"):
        bench.setup("torch-cuda", "train", 4, 64, 14, "float32", "contiguous")


def test_what_a_backend_finds_out_only_when_called_is_skipped_not_failed():
    """A backend that raises Unsupported from its first call (ONNX Runtime's InstanceNormalization
    has no running statistics) and one that declares only some dtypes (its LayerNormalization:
    float32): asv records a skip, and Compile prepares what the backend declares."""
    pytest.importorskip("normbench_onnxruntime")
    from types import SimpleNamespace

    from normbench.asvsuite import install

    ns = {"__name__": "bench_ort"}
    install(ns, backends=["onnxruntime"], ops=["instancenorm", "layernorm"])
    suite = SimpleNamespace(**ns)
    shape = suite.Standard_instancenorm.params[2][0]
    with pytest.raises(NotImplementedError, match="running statistics"):
        suite.Standard_instancenorm().setup("onnxruntime", "train", shape, "contiguous")
    compile_ = suite.Compile()
    compile_.setup("onnxruntime", "layernorm")
    assert compile_.track_compile_seconds("onnxruntime", "layernorm") >= 0


def test_the_grid_reaches_its_extra_shapes(suite):
    """The quick batchnorm grid lists the standard shapes as extras: the parameter product reaches them."""
    from normbench.ops.batchnorm import OP

    params = dict(zip(suite.Grid_batchnorm.param_names, suite.Grid_batchnorm.params))
    for shape in OP.grid("quick").shapes():
        axes = OP.axes_of(shape)
        assert all(axes[a] in params[a] for a in OP.axes), shape


def test_a_point_the_backend_does_not_declare_skips_before_prepare():
    """ONNX Runtime's LayerNormalization declares float32 only: a float64 point skips in setup,
    before the plugin's prepare() sees it."""
    pytest.importorskip("normbench_onnxruntime")
    from types import SimpleNamespace

    from normbench.asvsuite import install

    ns = {"__name__": "bench_ln"}
    install(ns, backends=["onnxruntime"], ops=["layernorm"], grid="quick")
    with pytest.raises(NotImplementedError, match="float64"):
        SimpleNamespace(**ns).Grid_layernorm().setup("onnxruntime", "forward", 256, 1024, "float64", "contiguous")
