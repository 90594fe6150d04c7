"""ONNX Runtime backend (inference only) for normbench: batchnorm eval, layernorm forward.

ONNX ``BatchNormalization`` in inference mode computes ``(x - mean) / sqrt(var + eps) * scale + B``
with the given running statistics: exactly normbench's eval forward. Training mode in ONNX uses
Keras-style momentum and is not what ONNX Runtime's CPU kernel implements, so the ``train`` and
``backward`` passes are not declared: they show as unsupported.

ONNX ``LayerNormalization`` (opset 17) is ``F.layer_norm`` over the axes from ``axis`` on, with
the Mean and InvStdDev outputs normbench's forward returns. Mapping: ``axis = x.ndim - k`` for a
``normalized_shape`` of k axes; Scale is a required input, so an absent weight is passed as ones
(B is optional and left out when absent). float32 only: ONNX Runtime 1.32's CPU kernel has no
float64 statistics (``stash_type`` = double is not implemented), and computing float64 input in
float32 would not be a float64 LayerNorm. ONNX Runtime's inference package has no LayerNorm gradient, so
``backward`` is not declared. ``rmsnorm`` is not declared either: ONNX ``RMSNormalization`` (opset
23) returns no inverse RMS, which normbench's forward must return.

One InferenceSession per (dtype, rank, eps, threads) is built on first use and cached; building
it is warm-up, done in ``prepare`` or the first call, never in timed samples.
"""
from __future__ import annotations

import importlib.util
from importlib.metadata import version as dist_version

import numpy as np

import normbench
from normbench import Availability, Backend, Support, Unsupported

_ONNX_TYPES = {"float32": 1, "float64": 11}  # onnx.TensorProto.FLOAT / DOUBLE
OPSET = 15
LN_OPSET = 17


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    description = "ONNX Runtime CPU BatchNormalization (opset 15) and LayerNormalization (opset 17), inference only"
    #: plugin API version 2: per op, the passes, dtypes, layouts and ranks supported
    ops = {"batchnorm": Support(passes={"eval"}, dtypes={"float64", "float32"}, layouts={"contiguous"}, ranks={2, 3, 4, 5}),
           "layernorm": Support(passes={"forward"}, dtypes={"float32"}, layouts={"contiguous", "strided"})}

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
        if op == "layernorm" and dtype in _ONNX_TYPES:
            self._ln_session(dtype, rank, 1, 1e-5, True)

    def from_numpy(self, array: np.ndarray, dtype: str) -> np.ndarray:
        if dtype not in _ONNX_TYPES:
            raise Unsupported(f"onnxruntime backend does not support {dtype}")
        # ONNX tensors are dense row-major: the conversion (outside timed regions) makes them so
        return np.ascontiguousarray(array, dtype=dtype)

    def _session(self, dtype: str, rank: int, eps: float):
        key = (dtype, rank, float(eps), self._threads)
        if key not in self._sessions:
            import onnx
            import onnxruntime as ort
            from onnx import helper

            t = _ONNX_TYPES[dtype]
            dims = ["N", "C"] + [f"D{i}" for i in range(rank - 2)]
            inputs = [helper.make_tensor_value_info("X", t, dims)] + [
                helper.make_tensor_value_info(n, t, ["C"]) for n in ("scale", "B", "mean", "var")
            ]
            node = helper.make_node("BatchNormalization", ["X", "scale", "B", "mean", "var"], ["Y"], epsilon=float(eps))
            graph = helper.make_graph([node], "bn", inputs, [helper.make_tensor_value_info("Y", t, dims)])
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
            model.ir_version = min(model.ir_version, 9)
            onnx.checker.check_model(model)
            opts = ort.SessionOptions()
            if self._threads:
                opts.intra_op_num_threads = self._threads
            self._sessions[key] = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        return self._sessions[key]

    def batchnorm_eval(self, x, weight, bias, running_mean, running_var, *, eps):
        channels = x.shape[1]
        if x.size == 0:
            return np.empty_like(x)
        scale = weight if weight is not None else np.ones(channels, x.dtype)
        shift = bias if bias is not None else np.zeros(channels, x.dtype)
        sess = self._session(x.dtype.name, x.ndim, eps)
        (y,) = sess.run(None, {"X": x, "scale": scale, "B": shift, "mean": running_mean, "var": running_var})
        return y


    def _options(self):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if self._threads:
            opts.intra_op_num_threads = self._threads
        return opts

    def _ln_session(self, dtype: str, rank: int, k: int, eps: float, has_bias: bool):
        key = ("layernorm", dtype, rank, k, float(eps), has_bias, self._threads)
        if key not in self._sessions:
            import onnx
            import onnxruntime as ort
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
            graph = helper.make_graph([node], "ln", inputs, outputs)
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", LN_OPSET)])
            model.ir_version = min(model.ir_version, 9)
            onnx.checker.check_model(model)
            self._sessions[key] = ort.InferenceSession(model.SerializeToString(), self._options(),
                                                       providers=["CPUExecutionProvider"])
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


@normbench.hookimpl
def normbench_backends():
    return [OnnxRuntimeBackend()]
