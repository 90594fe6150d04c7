"""ONNX Runtime backend for normbench: batchnorm train (ONNX training mode) and eval, layernorm and
groupnorm forward, instancenorm train without running statistics.

ONNX ``BatchNormalization`` in inference mode computes ``(x - mean) / sqrt(var + eps) * scale + B``
with the given running statistics: exactly normbench's eval forward. Its training mode
(``training_mode=1``, opset 15+, which ONNX Runtime 1.2x and later run on CPU) normalizes with the
batch statistics and outputs the updated running statistics, under two conventions that differ from
PyTorch's and are mapped explicitly here:

* **momentum** is the weight of the *old* running value: ``momentum_onnx = 1 - f`` for PyTorch's
  factor ``f`` (``momentum``, or ``1 / num_batches_tracked`` for the cumulative average);
* the **running variance** is updated with the *population* (biased) batch variance ``v_b``, where
  PyTorch uses the unbiased ``v_b * m / (m - 1)`` (m values per channel). The adapter reads the
  batch variance back from ONNX's own output (``normbench.ops.batchnorm.unbiased_running_var``):
  PyTorch's update, from ONNX's numbers and nothing else.

ONNX's attributes (epsilon, momentum) are float32: in float64 that is visible, and it is reported as
a known failure with the measured error, not corrected. Opset 15 has no saved mean / inverse std
outputs (opset 14 dropped them), so ``batchnorm_train`` returns None for them: normbench checks y
and the running statistics and says the saved statistics were not checked. ONNX Runtime's inference
package has no gradient kernels: ``backward`` is not declared.

ONNX ``LayerNormalization`` (opset 17) is ``F.layer_norm`` over the axes from ``axis`` on, with
the Mean and InvStdDev outputs normbench's forward returns. Mapping: ``axis = x.ndim - k`` for a
``normalized_shape`` of k axes; Scale is a required input, so an absent weight is passed as ones
(B is optional and left out when absent). float32 only: ONNX Runtime 1.32's CPU kernel has no
float64 statistics (``stash_type`` = double is not implemented), and computing float64 input in
float32 would not be a float64 LayerNorm. ONNX Runtime's inference package has no LayerNorm gradient, so
``backward`` is not declared. ``rmsnorm`` is not declared either: ONNX ``RMSNormalization`` (opset
23) returns no inverse RMS, which normbench's forward must return.

ONNX ``GroupNormalization`` (opset 21: per-channel scale and bias, contiguous channel groups as
in ``F.group_norm``) and ``InstanceNormalization`` (opset 6, unchanged since) return only Y: their
``forward``/``train`` return ``None`` for the saved statistics (normbench then checks y alone and
says so). Mapping: Scale and B are required inputs, so absent ones are passed as ones/zeros;
GroupNormalization's ``stash_type`` (the precision of its statistics, float32 by default) is set
to the input's type, as torch computes float64 statistics for float64 input. InstanceNormalization
has no running statistics: ``train`` with running statistics raises Unsupported, ``eval`` and
backward are not declared; ONNX Runtime's CPU kernel is float32 only.

One InferenceSession per (dtype, rank, eps, threads) is built on first use and cached; building
it is warm-up, done in ``prepare`` or the first call, never in timed samples.
"""
from __future__ import annotations

import importlib.util
from importlib.metadata import version as dist_version
from pathlib import Path

import numpy as np

import normbench
from normbench import Availability, Backend, Support, Unsupported, load_known_failures
from normbench.ops.batchnorm import momentum_factor, unbiased_running_var

_ONNX_TYPES = {"float32": 1, "float64": 11}  # onnx.TensorProto.FLOAT / DOUBLE
OPSET = 15
LN_OPSET = 17
GN_OPSET = 21

#: the defects of ONNX Runtime's kernels that conformance finds, as data (normbench.known)
KNOWN_FAILURES = Path(__file__).with_name("known_failures.toml")


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    description = ("ONNX Runtime CPU BatchNormalization (opset 15, training_mode=1 for train), LayerNormalization (17), "
                   "GroupNormalization (21), InstanceNormalization (6)")
    #: plugin API version 2: per op, the passes, dtypes, layouts and ranks supported
    ops = {"batchnorm": Support(passes={"train", "eval"}, dtypes={"float64", "float32"}, layouts={"contiguous"},
                                ranks={2, 3, 4, 5}),
           "layernorm": Support(passes={"forward"}, dtypes={"float32"}, layouts={"contiguous", "strided"}),
           "groupnorm": Support(passes={"forward"}, dtypes={"float64", "float32"}, layouts={"contiguous"}),
           "instancenorm": Support(passes={"train"}, dtypes={"float32"}, layouts={"contiguous"})}

    known_failures = load_known_failures(KNOWN_FAILURES, "onnxruntime")

    def __init__(self) -> None:
        self._sessions: dict = {}
        self._threads = 0  # 0: ONNX Runtime's default

    def availability(self) -> Availability:
        missing = [m for m in ("onnxruntime", "onnx") if importlib.util.find_spec(m) is None]
        if missing:
            return Availability(False, f"{' and '.join(missing)} not installed (pip install onnxruntime onnx)")
        return Availability(True)

    def version(self) -> str:
        return dist_version("onnxruntime")

    def set_threads(self, threads: int | None) -> int | None:
        if threads and threads != self._threads:
            self._threads = int(threads)
            self._sessions.clear()
        return self._threads or None

    def environment(self) -> dict:
        import onnxruntime

        return {"onnxruntime": onnxruntime.__version__, "device": onnxruntime.get_device()}

    def prepare(self, op: str, dtype: str, layout: str, rank: int) -> None:
        if op == "batchnorm" and dtype in _ONNX_TYPES:
            self._session(dtype, rank, 1e-5)
            self._train_session(dtype, rank, 1e-5, 0.9)
        if op == "layernorm" and dtype in _ONNX_TYPES:
            self._ln_session(dtype, rank, 1, 1e-5, True)
        if op == "groupnorm" and dtype in _ONNX_TYPES:
            self._chan_session("GroupNormalization", dtype, rank, 1e-5, 32)
        if op == "instancenorm" and dtype == "float32":
            self._chan_session("InstanceNormalization", dtype, rank, 1e-5, 0)

    def from_numpy(self, array: np.ndarray, dtype: str) -> np.ndarray:
        if dtype not in _ONNX_TYPES:
            raise Unsupported(f"onnxruntime backend does not support {dtype}")
        # ONNX tensors are dense row-major: the conversion (outside timed regions) makes them so
        return np.ascontiguousarray(array, dtype=dtype)

    def _session(self, dtype: str, rank: int, eps: float):
        key = (dtype, rank, float(eps), self._threads)
        if key not in self._sessions:
            from onnx import helper

            t = _ONNX_TYPES[dtype]
            dims = ["N", "C"] + [f"D{i}" for i in range(rank - 2)]
            inputs = [helper.make_tensor_value_info("X", t, dims)] + [
                helper.make_tensor_value_info(n, t, ["C"]) for n in ("scale", "B", "mean", "var")
            ]
            node = helper.make_node("BatchNormalization", ["X", "scale", "B", "mean", "var"], ["Y"], epsilon=float(eps))
            self._sessions[key] = self._build(node, "bn", inputs, [helper.make_tensor_value_info("Y", t, dims)], OPSET, 9)
        return self._sessions[key]

    def _train_session(self, dtype: str, rank: int, eps: float, momentum: float):
        key = ("train", dtype, rank, float(eps), float(momentum), self._threads)
        if key not in self._sessions:
            from onnx import helper

            t = _ONNX_TYPES[dtype]
            dims = ["N", "C"] + [f"D{i}" for i in range(rank - 2)]
            names = ("scale", "B", "input_mean", "input_var")
            inputs = [helper.make_tensor_value_info("X", t, dims)] + [helper.make_tensor_value_info(n, t, ["C"]) for n in names]
            outputs = [helper.make_tensor_value_info("Y", t, dims)] + [
                helper.make_tensor_value_info(n, t, ["C"]) for n in ("running_mean", "running_var")]
            node = helper.make_node("BatchNormalization", ["X", *names], ["Y", "running_mean", "running_var"],
                                    epsilon=float(eps), momentum=float(momentum), training_mode=1)
            self._sessions[key] = self._build(node, "bn_train", inputs, outputs, OPSET, 9)
        return self._sessions[key]

    def batchnorm_train(self, x, weight, bias, running_mean, running_var, *, momentum, eps, num_batches_tracked):
        channels = x.shape[1] if x.ndim > 1 else 0
        for what, p in (("weight", weight), ("bias", bias), ("running_mean", running_mean), ("running_var", running_var)):
            if p is not None and p.shape != (channels,):  # ONNX Runtime does not check them
                raise ValueError(f"{what} of shape {list(p.shape)} for {channels} channels")
        if x.size == 0:  # an empty batch: y empty, running statistics untouched
            return np.empty_like(x), None, None
        m = x.size // channels
        if m <= 1:
            raise ValueError(f"expected more than 1 value per channel when training, got input of shape {list(x.shape)}")
        f = momentum_factor(momentum, num_batches_tracked)
        tracked = running_mean is not None
        # ONNX's inputs are required: untracked statistics are fed as zeros/ones and their update dropped
        rm_old = running_mean if tracked else np.zeros(channels, x.dtype)
        rv_old = running_var if tracked else np.ones(channels, x.dtype)
        m_onnx = 1.0 - f  # ONNX momentum: the weight of the old running value
        sess = self._train_session(x.dtype.name, x.ndim, eps, m_onnx)
        y, rm_new, rv_new = sess.run(None, {
            "X": x, "scale": weight if weight is not None else np.ones(channels, x.dtype),
            "B": bias if bias is not None else np.zeros(channels, x.dtype), "input_mean": rm_old, "input_var": rv_old})
        if tracked:
            running_mean[...] = rm_new
            running_var[...] = unbiased_running_var(rv_new, rv_old, f, m)  # from ONNX's own output
        return y, None, None

    def batchnorm_eval(self, x, weight, bias, running_mean, running_var, *, eps):
        channels = x.shape[1]
        if x.size == 0:
            return np.empty_like(x)
        scale = weight if weight is not None else np.ones(channels, x.dtype)
        shift = bias if bias is not None else np.zeros(channels, x.dtype)
        sess = self._session(x.dtype.name, x.ndim, eps)
        (y,) = sess.run(None, {"X": x, "scale": scale, "B": shift, "mean": running_mean, "var": running_var})
        return y


    def _build(self, node, name: str, inputs, outputs, opset: int, max_ir: int):
        """One-node model -> checked -> InferenceSession (CPU, with this backend's thread count)."""
        import onnx
        import onnxruntime as ort
        from onnx import helper

        model = helper.make_model(helper.make_graph([node], name, inputs, outputs),
                                  opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = min(model.ir_version, max_ir)  # what this ONNX Runtime reads
        onnx.checker.check_model(model)
        return ort.InferenceSession(model.SerializeToString(), self._options(), providers=["CPUExecutionProvider"])

    def _options(self):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if self._threads:
            opts.intra_op_num_threads = self._threads
        return opts

    def _ln_session(self, dtype: str, rank: int, k: int, eps: float, has_bias: bool):
        key = ("layernorm", dtype, rank, k, float(eps), has_bias, self._threads)
        if key not in self._sessions:
            from onnx import helper

            t = _ONNX_TYPES[dtype]
            dims = [f"D{i}" for i in range(rank)]
            lead, norm = dims[:rank - k], dims[rank - k:]
            names = ["X", "scale"] + (["B"] if has_bias else [])
            inputs = [helper.make_tensor_value_info("X", t, dims)] + [
                helper.make_tensor_value_info(n, t, norm) for n in names[1:]]
            outputs = [helper.make_tensor_value_info("Y", t, dims),
                       helper.make_tensor_value_info("Mean", t, lead + [1] * k),
                       helper.make_tensor_value_info("InvStdDev", t, lead + [1] * k)]
            node = helper.make_node("LayerNormalization", names, ["Y", "Mean", "InvStdDev"], axis=rank - k,
                                    epsilon=float(eps), stash_type=t)
            self._sessions[key] = self._build(node, "ln", inputs, outputs, LN_OPSET, 9)
        return self._sessions[key]

    def layernorm_forward(self, x, normalized_shape, weight, bias, *, eps):
        ns = tuple(normalized_shape)
        k = len(ns)
        if not ns or k > x.ndim or tuple(x.shape[x.ndim - k:]) != ns:  # ONNX has no normalized_shape to check
            raise ValueError(f"normalized_shape {list(ns)} does not match input of shape {list(x.shape)}")
        for what, p in (("weight", weight), ("bias", bias)):
            if p is not None and tuple(p.shape) != ns:
                raise ValueError(f"{what} of shape {list(p.shape)} does not match normalized_shape {list(ns)}")
        if x.size == 0:
            stat = np.empty(x.shape[:x.ndim - k] + (1,) * k, x.dtype)
            return np.empty_like(x), stat, stat.copy()
        sess = self._ln_session(x.dtype.name, x.ndim, k, eps, bias is not None)
        feed = {"X": np.ascontiguousarray(x), "scale": weight if weight is not None else np.ones(ns, x.dtype)}
        if bias is not None:
            feed["B"] = bias
        y, mean, inv = sess.run(None, feed)
        return y, mean, inv


    def _chan_session(self, op: str, dtype: str, rank: int, eps: float, groups: int):
        key = (op, dtype, rank, float(eps), groups, self._threads)
        if key not in self._sessions:
            from onnx import helper

            t = _ONNX_TYPES[dtype]
            dims = ["N", "C"] + [f"D{i}" for i in range(rank - 2)]
            inputs = [helper.make_tensor_value_info("X", t, dims)] + [
                helper.make_tensor_value_info(n, t, ["C"]) for n in ("scale", "B")]
            attrs = dict(num_groups=groups, stash_type=t) if op == "GroupNormalization" else {}
            node = helper.make_node(op, ["X", "scale", "B"], ["Y"], epsilon=float(eps), **attrs)
            self._sessions[key] = self._build(node, op, inputs, [helper.make_tensor_value_info("Y", t, dims)], GN_OPSET, 10)
        return self._sessions[key]

    def _chan_run(self, op: str, x, groups: int, weight, bias, eps: float):
        c = x.shape[1]
        for what, p in (("weight", weight), ("bias", bias)):  # ONNX Runtime does not check their length
            if p is not None and tuple(p.shape) != (c,):
                raise ValueError(f"{what} of shape {list(p.shape)} for {c} channels")
        if x.size == 0:
            return np.empty_like(x)
        sess = self._chan_session(op, x.dtype.name, x.ndim, eps, groups)
        (y,) = sess.run(None, {"X": np.ascontiguousarray(x), "scale": weight if weight is not None else np.ones(c, x.dtype),
                               "B": bias if bias is not None else np.zeros(c, x.dtype)})
        return y

    def groupnorm_forward(self, x, num_groups, weight, bias, *, eps):
        if x.ndim < 2 or x.shape[1] % num_groups:
            raise ValueError(f"{x.shape[1] if x.ndim > 1 else '?'} channels not divisible by num_groups={num_groups}")
        if x.size and x.size // num_groups == 1:
            raise ValueError(f"expected more than 1 value per group, got input of shape {list(x.shape)}")
        return self._chan_run("GroupNormalization", x, num_groups, weight, bias, eps), None, None

    def instancenorm_train(self, x, weight, bias, running_mean, running_var, *, momentum, eps):
        if running_mean is not None:
            raise Unsupported("ONNX InstanceNormalization has no running statistics")
        if x.ndim < 3 or int(np.prod(x.shape[2:])) <= 1:
            raise ValueError(f"expected more than 1 spatial element, got input of shape {list(x.shape)}")
        return self._chan_run("InstanceNormalization", x, 0, weight, bias, eps), None, None


@normbench.hookimpl
def normbench_backends():
    return [OnnxRuntimeBackend()]
