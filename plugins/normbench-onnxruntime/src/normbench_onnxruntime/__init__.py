"""ONNX Runtime batch-norm backend (inference only) for normbench.

ONNX ``BatchNormalization`` in inference mode computes ``(x - mean) / sqrt(var + eps) * scale + B``
with the given running statistics: exactly normbench's eval forward. Training mode in ONNX uses
Keras-style momentum and is not what ONNX Runtime's CPU kernel implements, so the ``train`` and
``backward`` passes are not declared: they show as unsupported.

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


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    description = "ONNX Runtime CPU BatchNormalization (opset 15), inference only"
    #: plugin API version 2: per op, the passes, dtypes, layouts and ranks supported
    ops = {"batchnorm": Support(passes={"eval"}, dtypes={"float64", "float32"}, layouts={"contiguous"}, ranks={2, 3, 4, 5})}

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


@normbench.hookimpl
def normbench_backends():
    return [OnnxRuntimeBackend()]
