"""PyTorch backends ``torch-cpu`` and ``torch-cuda``: the peers every other backend is measured against.

Training forward goes through ``torch.ops.aten.native_batch_norm`` (what
``F.batch_norm(training=True)`` dispatches to on CPU, and the native CUDA kernel on GPUs),
because it returns the saved statistics the backward needs; backward through
``torch.ops.aten.native_batch_norm_backward`` (no autograd, so no autograd overhead is timed);
eval forward through ``torch.batch_norm`` as users call it (cuDNN where PyTorch picks it).
Running statistics are updated in place by PyTorch itself.

torch is imported lazily: loading this plugin, ``import normbench`` and ``normbench list`` on a
machine without a GPU never import it (availability is read from package metadata).
"""
from __future__ import annotations

import glob
import math
import importlib.util
from importlib.metadata import PackageNotFoundError, version as dist_version
from pathlib import Path

import numpy as np

import normbench
from normbench import Availability, Backend, Support, Unsupported, load_known_failures
from normbench.ops import rowwise
from normbench.ops.batchnorm import momentum_factor
from normbench.dtypes import layout_of

#: the defects of PyTorch's kernels that conformance finds, as data (normbench.known)
KNOWN_FAILURES = Path(__file__).with_name("known_failures.toml")

_TORCH_DTYPES = {"float64": "float64", "float32": "float32", "float16": "float16", "bfloat16": "bfloat16"}


def _torch():
    import torch

    return torch


def _torch_version() -> str | None:
    if importlib.util.find_spec("torch") is None:
        return None
    try:
        return dist_version("torch")
    except PackageNotFoundError:  # pragma: no cover - torch importable but without metadata
        return "unknown"


class _TorchBackend(Backend):
    device = "cpu"
    DTYPES = frozenset({"float64", "float32", "float16", "bfloat16"})
    ops = {"batchnorm": Support(dtypes=DTYPES), "layernorm": Support(dtypes=DTYPES), "rmsnorm": Support(dtypes=DTYPES),
           "groupnorm": Support(dtypes=DTYPES), "instancenorm": Support(dtypes=DTYPES)}

    def version(self) -> str:
        return _torch_version() or ""

    def availability(self) -> Availability:
        if _torch_version() is None:
            return Availability(False, "torch is not installed (pip install torch)")
        return Availability(True)

    def set_threads(self, threads: int | None) -> int | None:
        torch = _torch()
        if threads:
            torch.set_num_threads(int(threads))
        return torch.get_num_threads()

    def environment(self) -> dict:
        torch = _torch()
        return {"torch": torch.__version__, "threads": torch.get_num_threads(), "device": self.device}

    # -- data movement -----------------------------------------------------------------------------
    def from_numpy(self, array: np.ndarray, dtype: str):
        torch = _torch()
        if dtype not in self.DTYPES:
            raise Unsupported(f"{self.name} does not support {dtype}")
        tdt = getattr(torch, _TORCH_DTYPES[dtype])
        a = np.asarray(array)
        if a.ndim and layout_of(a) == "strided" and min(a.strides) >= 0:
            # the case's exact memory on the device too: stride 0 stays an expanded view (as autograd
            # hands a broadcast gradient), other strides a view into a buffer of the same pitch
            if 0 in a.strides:
                first = tuple(slice(0, 1) if st == 0 else slice(None) for st in a.strides)
                return self.from_numpy(np.ascontiguousarray(a[first]), dtype).expand(a.shape)
            strides = [st // a.itemsize for st in a.strides]
            span = 1 + sum((n - 1) * st for n, st in zip(a.shape, strides))
            out = torch.empty(span, dtype=tdt, device=self.device).as_strided(a.shape, strides)
            out.copy_(torch.from_numpy(np.ascontiguousarray(a)))
            return out
        src = torch.from_numpy(np.array(a, order="K") if not a.flags.writeable else a)
        return src.to(device=self.device, dtype=tdt, memory_format=torch.preserve_format, copy=True)

    def to_numpy(self, native) -> np.ndarray:
        torch = _torch()
        t = native.detach()
        if t.dtype == torch.bfloat16:
            t = t.float()  # exact: every bfloat16 is a float32
        return t.cpu().numpy()

    def dtype_of(self, native) -> str:
        return str(native.dtype).replace("torch.", "")

    # -- operations ------------------------------------------------------------------------------
    def batchnorm_train(self, x, weight, bias, running_mean, running_var, *, momentum, eps, num_batches_tracked):
        torch = _torch()
        channels = x.shape[1]
        if x.numel() == 0:  # native_batch_norm refuses empty input; F.batch_norm returns it as is
            pdt = weight.dtype if weight is not None else torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
            nan = torch.full((channels,), float("nan"), dtype=pdt, device=x.device)
            return torch.empty_like(x), nan, nan.clone()
        if x.numel() // channels <= 1:  # the check F.batch_norm makes before dispatching
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {tuple(x.shape)}")
        factor = momentum_factor(momentum, num_batches_tracked)
        return torch.ops.aten.native_batch_norm(x, weight, bias, running_mean, running_var, True, factor, eps)

    def batchnorm_eval(self, x, weight, bias, running_mean, running_var, *, eps):
        torch = _torch()
        return torch.batch_norm(x, weight, bias, running_mean, running_var, False, 0.0, eps, True)

    def batchnorm_backward(self, dy, x, weight, save_mean, save_invstd, *, eps):
        torch = _torch()
        if x.numel() == 0:
            zeros = torch.zeros(x.shape[1], dtype=save_mean.dtype, device=x.device)
            return torch.empty_like(x), (zeros if weight is not None else None), (zeros.clone() if weight is not None else None)
        affine = weight is not None
        return torch.ops.aten.native_batch_norm_backward(
            dy, x, weight, None, None, save_mean, save_invstd, True, eps, [True, affine, affine]
        )


    # LayerNorm: what F.layer_norm dispatches to (native_layer_norm returns the saved statistics);
    # backward through the aten op, no autograd overhead timed.
    def layernorm_forward(self, x, normalized_shape, weight, bias, *, eps):
        return _torch().ops.aten.native_layer_norm(x, list(normalized_shape), weight, bias, eps)

    def layernorm_backward(self, dy, x, normalized_shape, weight, bias, mean, rstd):
        return _torch().ops.aten.native_layer_norm_backward(
            dy, x, list(normalized_shape), mean, rstd, weight, bias, [True, weight is not None, bias is not None])

    # RMSNorm: F.rms_norm calls aten::_fused_rms_norm (on CPU a composite of several kernels),
    # which also returns the saved rrms; eps=None is passed through as torch resolves it.
    def rmsnorm_forward(self, x, normalized_shape, weight, *, eps):
        # the shape checks F.rms_norm (aten::rms_norm) makes before it calls the fused op
        rowwise.validate(x, normalized_shape, {"weight": weight}, "rmsnorm")
        return _torch().ops.aten._fused_rms_norm(x, list(normalized_shape), weight, eps)

    def rmsnorm_backward(self, dy, x, normalized_shape, weight, rrms):
        """aten::_fused_rms_norm_backward has no CPU kernel in torch 2.13; on CPU this is the
        composite autograd runs for F.rms_norm (in float32 for half inputs), written out so the
        forward is not recomputed inside the timed call. CUDA uses the fused kernel."""
        torch = _torch()
        if x.device.type == "cuda":
            return torch.ops.aten._fused_rms_norm_backward(dy, x, list(normalized_shape), rrms, weight,
                                                           [True, weight is not None])
        dims = tuple(range(x.dim() - len(normalized_shape), x.dim()))
        lead = tuple(range(x.dim() - len(normalized_shape)))
        acc = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
        xf, dyf, r = x.to(acc), dy.to(acc), rrms.to(acc)
        g = dyf * weight.to(acc) if weight is not None else dyf
        dx = r * (g - xf * r * r * (g * xf).mean(dim=dims, keepdim=True)) if x.numel() else torch.zeros_like(xf)
        terms = dyf * xf * r
        # sum(dim=()) would reduce every axis in torch: a 1-D input has no leading axis to sum
        dw = None if weight is None else (terms.sum(dim=lead) if lead else terms).to(weight.dtype)
        return dx.to(x.dtype), dw


    # GroupNorm: F.group_norm's own checks, then what torch.group_norm dispatches to (on CPU the
    # input made dense in its suggested memory format first); backward as autograd calls it.
    def groupnorm_forward(self, x, num_groups, weight, bias, *, eps):
        torch = _torch()
        if x.dim() >= 2:  # F.group_norm's check before torch.group_norm (which checks C % G and shapes)
            torch.nn.functional._verify_batch_size([x.size(0) * x.size(1) // num_groups, num_groups, *x.shape[2:]])
        n, c = x.shape[:2]
        if c % num_groups:
            raise ValueError(f"Expected number of channels in input to be divisible by num_groups, but got input of "
                             f"shape {list(x.shape)} and num_groups={num_groups}")
        for name, p in (("weight", weight), ("bias", bias)):
            if p is not None and tuple(p.shape) != (c,):
                raise ValueError(f"Expected {name} to be a vector of size equal to the number of channels in input, "
                                 f"but got {name} of shape {list(p.shape)} and input of shape {list(x.shape)}")
        X = _dense(x)
        return torch.ops.aten.native_group_norm(X, weight, bias, n, c, x[0, 0].numel() if x.numel() else
                                                math.prod(x.shape[2:]), num_groups, eps)

    def groupnorm_backward(self, dy, x, num_groups, weight, bias, mean, rstd):
        n, c = x.shape[:2]
        X = _dense(x)
        return _torch().ops.aten.native_group_norm_backward(
            _dense(dy, like=X), X, mean, rstd, weight, n, c, math.prod(x.shape[2:]), num_groups,
            [True, weight is not None, bias is not None])

    # InstanceNorm: what at::instance_norm does (input.contiguous() viewed as (1, N*C, *), parameters
    # and running statistics repeated N times, batch norm, running statistics averaged back), with
    # native_batch_norm so the saved statistics come back; backward as autograd runs it.
    def instancenorm_train(self, x, weight, bias, running_mean, running_var, *, momentum, eps):
        torch = _torch()
        torch.nn.functional._verify_spatial_size(x.size())  # F.instance_norm's check
        n, c = x.shape[:2]
        _check_numel(n * c, weight, bias, running_mean, running_var, repeat=n)
        xr = x.contiguous().view(1, n * c, *x.shape[2:])
        rep = [None if t is None else t.repeat(n) for t in (weight, bias, running_mean, running_var)]
        y, mean, rstd = torch.ops.aten.native_batch_norm(xr, *rep, True, momentum, eps)
        if running_mean is not None:
            running_mean.copy_(rep[2].view(n, c).mean(0))
            running_var.copy_(rep[3].view(n, c).mean(0))
        return y.view(x.shape), mean.view(n, c), rstd.view(n, c)

    def instancenorm_eval(self, x, weight, bias, running_mean, running_var, *, eps):
        _check_numel(x.shape[0] * x.shape[1], weight, bias, running_mean, running_var, repeat=x.shape[0])
        return _torch().instance_norm(x, weight, bias, running_mean, running_var, False, 0.0, eps, True)

    def instancenorm_backward(self, dy, x, weight, bias, mean, rstd):
        n, c = x.shape[:2]
        shape = (1, n * c, *x.shape[2:])
        w = None if weight is None else weight.repeat(n)
        dx, dw, db = _torch().ops.aten.native_batch_norm_backward(
            dy.contiguous().view(shape), x.contiguous().view(shape), w, None, None, mean.reshape(-1), rstd.reshape(-1),
            True, 1e-5, [True, weight is not None, bias is not None])  # eps is unused with saved statistics
        return (dx.view(x.shape), None if dw is None else dw.view(n, c).sum(0),
                None if db is None else db.view(n, c).sum(0))


def _check_numel(features, weight, bias, running_mean, running_var, *, repeat):
    """The sizes at::batch_norm checks (native_batch_norm, called directly, does not)."""
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean), ("running_var", running_var)):
        if t is not None and t.numel() * repeat != features:
            raise ValueError(f"{name} should contain {features} elements not {t.numel() * repeat}")


def _dense(t, like=None):
    """``t.contiguous(memory_format)`` as aten::group_norm (CPU) makes its input and autograd its
    gradient: in ``like``'s (default ``t``'s) *suggested* memory format, as C++ computes it."""
    torch = _torch()
    ref = t if like is None else like
    fmt = _suggest_memory_format(ref) if ref.device.type == "cpu" else torch.contiguous_format
    return t.contiguous(memory_format=fmt)


def _suggest_memory_format(t):
    """c10's ``suggest_memory_format``: its stride heuristic (is_channels_last_strides_2d/3d), which
    differs from ``is_contiguous(memory_format=...)`` where sizes are 1 (e.g. (1, 2, 1, 2) with
    strides (1, 1, 2, 2) is channels_last-contiguous but suggested contiguous)."""
    torch = _torch()
    order = {4: (1, 3, 2, 0), 5: (1, 4, 3, 2, 0)}.get(t.dim())
    if order is None:
        return torch.contiguous_format
    sizes, strides = t.shape, t.stride()
    if strides[1] == 0:
        return torch.contiguous_format
    low = 0
    for d in order:
        if sizes[d] == 0 or strides[d] < low or (d == 0 and low == strides[1]):
            return torch.contiguous_format
        low = strides[d] * (sizes[d] if sizes[d] > 1 else 1)
    return torch.channels_last if t.dim() == 4 else torch.channels_last_3d


class TorchCPUBackend(_TorchBackend):
    name = "torch-cpu"
    description = "PyTorch ATen CPU kernels (native_batch_norm, native_layer_norm, _fused_rms_norm and their backwards)"
    device = "cpu"
    known_failures = load_known_failures(KNOWN_FAILURES, "torch-cpu")

    def environment(self) -> dict:
        env = super().environment()
        import platform

        env["device_name"] = platform.processor() or platform.machine()
        return env


class TorchCUDABackend(_TorchBackend):
    name = "torch-cuda"
    description = "PyTorch CUDA kernels (native CUDA batch norm; cuDNN for eval where PyTorch picks it)"
    device = "cuda"

    def availability(self) -> Availability:
        v = _torch_version()
        if v is None:
            return Availability(False, "torch is not installed")
        if "+cpu" in v:
            return Availability(False, f"torch built without CUDA ({v})")
        if not glob.glob("/dev/nvidia[0-9]*") and not glob.glob("/dev/dxg"):
            return Availability(False, "no CUDA device")
        torch = _torch()  # only now: a device node exists, so the import is worth it
        if torch.version.cuda is None:
            return Availability(False, f"torch built without CUDA ({torch.__version__})")
        if not torch.cuda.is_available():
            return Availability(False, "no CUDA device visible to torch (driver or CUDA_VISIBLE_DEVICES)")
        return Availability(True)

    def set_threads(self, threads: int | None) -> int | None:
        return None  # GPU kernels: host threads do not apply

    def synchronize(self) -> None:
        _torch().cuda.synchronize()

    def copy_gbps(self, nbytes: int) -> float:
        """Device-memory copy bandwidth for the bandwidth floor (a host memcpy says nothing here)."""
        torch = _torch()
        n = max(1, nbytes // 2 // 4)
        src = torch.ones(n, device="cuda")
        dst = torch.empty_like(src)
        dst.copy_(src)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        best = float("inf")
        for _ in range(5):
            start.record()
            for _ in range(10):
                dst.copy_(src)
            end.record()
            end.synchronize()
            best = min(best, start.elapsed_time(end) / 1e3 / 10)
        return 2 * n * 4 / best / 1e9

    def environment(self) -> dict:
        torch = _torch()
        return {
            "torch": torch.__version__,
            "device": "cuda",
            "device_name": torch.cuda.get_device_name(),
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
        }


@normbench.hookimpl
def normbench_backends():
    from .compiled import TorchCompileBackend  # after this module: it builds on _TorchBackend

    return [TorchCPUBackend(), TorchCUDABackend(), TorchCompileBackend()]
