"""Numba-JIT backend for every op: fused, parallel, numerically stable CPU kernels.

Kernels live in :mod:`normbench_numba.kernels` (batch norm), ``rowkernels`` (LayerNorm, RMSNorm)
and ``chankernels`` (GroupNorm, InstanceNorm), imported, and numba with them, only on first use.
Inputs under SERIAL_BELOW elements run serial twins of the same kernels: there, launching
threads costs more than it saves (the threshold was chosen by measurement under the old timing
protocol and is to be re-measured under the current one: issue 30).
Layouts: contiguous NC... inputs run the per-channel kernels on an (N, C, S) view; channels_last
and plain 2-D inputs run the row-block kernels on an (R, C) view; non-dense ("strided") inputs
are first copied to contiguous memory. Outputs are allocated in the input's layout.
Dtypes: float64, float32, float16 and bfloat16. Half inputs are read and written as their 16-bit
patterns and computed in float32 (halfkernels.py): the row ops widen a row into cache, the channel
ops run variants of their float kernels whose loads widen and stores round to nearest even. So
memory traffic is 2 bytes per element each way, as for a native half kernel. bfloat16 arrays of
this backend are those patterns, as uint16 (halfbits.py).
"""
from __future__ import annotations

import importlib.util
import math
import time
from importlib.metadata import version as dist_version

import numpy as np

import normbench
from normbench import Availability, Backend, Support, Unsupported
from normbench.ops.batchnorm import momentum_factor
from normbench.dtypes import channels_last_order, layout_of, param_dtype, to_layout

from .halfbits import compute_dtype as _compute_dtype
from .halfbits import BF16, from_bits, kernels_for, to_bits
from .halfbits import kernel_view as _k

_kernels = None


def _load_kernels():
    """The compiled kernels module (first call imports numba, later calls are free)."""
    global _kernels
    if _kernels is None:
        from . import kernels as k

        _kernels = k
    return _kernels


#: below this many elements a call runs the serial kernels: launching threads costs more than
#: it saves (parallel and serial broke even around 64K float32 elements on 2 cores under the old timing
#: protocol; not yet re-measured under the current one)
SERIAL_BELOW = 1 << 16


def _kernels_for(x: np.ndarray):
    """The batch-norm kernels for x: serial or parallel; for half x, the variant reading its 16-bit patterns."""
    return kernels_for(_load_kernels(), x, SERIAL_BELOW)


def _blocks() -> int:
    from numba import get_num_threads

    return max(1, get_num_threads()) * 4  # a few blocks per thread for balance


def _view(x: np.ndarray):
    """('ncs', (N, C, S) view) or ('rc', (R, C) view) of x without copying where possible."""
    if x.ndim == 2:
        return "rc", (x if x.flags.c_contiguous else np.ascontiguousarray(x))
    if x.flags.c_contiguous:
        return "ncs", x.reshape(x.shape[0], x.shape[1], -1)
    if layout_of(x) == "channels_last":
        return "rc", x.transpose(channels_last_order(x.ndim)).reshape(-1, x.shape[1])
    x = np.ascontiguousarray(x)  # documented: non-dense input costs a copy
    return "ncs", x.reshape(x.shape[0], x.shape[1], -1)


def _empty_like(x: np.ndarray, kind: str):
    """Output with x's logical shape and x's layout, plus the kernel view of it (never a copy)."""
    out = np.empty_like(x)  # order="K": channels_last stays channels_last
    if kind == "rc":
        order = channels_last_order(x.ndim) if x.ndim > 2 else (0, 1)
        phys = out.transpose(order)
        if not phys.flags.c_contiguous:  # not the layout the kernel writes: make one that is
            phys = np.empty(phys.shape, dtype=x.dtype)
            out = phys.transpose(np.argsort(order))
        return out, phys.reshape(-1, x.shape[1])
    if not out.flags.c_contiguous:
        out = np.empty(x.shape, dtype=x.dtype)
    return out, out.reshape(x.shape[0], x.shape[1], -1)


_dummies: dict = {}


def _dummy(channels: int, dtype) -> np.ndarray:
    """A stand-in for an absent per-channel array. Kernels never touch it (the affine/running
    flags gate every access); it stays writable so that it types like the real arrays and no
    extra specialization is compiled."""
    key = (channels, np.dtype(dtype))
    if key not in _dummies:
        _dummies[key] = np.zeros(channels, dtype)
    return _dummies[key]


from . import chanorm, rownorm  # noqa: E402 - LayerNorm and RMSNorm (rowkernels.py), GroupNorm and InstanceNorm (chankernels.py)


class NumbaBackend(Backend):
    name = "numba"
    description = "Numba-JIT fused parallel kernels (per-channel for NC..., row blocks for channels_last)"
    #: every op: float16 and bfloat16 are read and written as 16-bit patterns and computed in float32
    #: (halfkernels.py), so memory traffic is that of a native half kernel
    DTYPES = frozenset({"float64", "float32", "float16", "bfloat16"})
    ops = {"batchnorm": Support(dtypes=DTYPES), "layernorm": Support(dtypes=DTYPES), "rmsnorm": Support(dtypes=DTYPES),
           "groupnorm": Support(dtypes=DTYPES), "instancenorm": Support(dtypes=DTYPES)}

    def __init__(self) -> None:
        self.compile_seconds: dict[str, float] = {}

    def availability(self) -> Availability:
        if importlib.util.find_spec("numba") is None:
            return Availability(False, "numba is not installed (pip install numba)")
        return Availability(True)

    def version(self) -> str:
        return dist_version("numba")

    def set_threads(self, threads: int | None) -> int | None:
        import numba

        if threads:
            numba.set_num_threads(min(int(threads), numba.config.NUMBA_NUM_THREADS))
        return numba.get_num_threads()

    def environment(self) -> dict:
        import numba

        return {"numba": numba.__version__, "threads": numba.get_num_threads(),
                "jit_cache": f"off ({_load_kernels().CACHE_PROBLEM})" if _load_kernels().CACHE_PROBLEM else "on"}

    def prepare(self, op: str, dtype: str, layout: str, rank: int) -> None:
        """Compile (or load from cache) the kernels for a configuration by running them once."""
        if op in ("layernorm", "rmsnorm"):
            return self._prepare_rows(op, dtype)
        if op in ("groupnorm", "instancenorm"):
            return self._prepare_channels(op, dtype, layout, rank)
        if dtype not in self.DTYPES:
            return
        if op != "batchnorm":
            return
        key = f"{dtype}/{'rc' if rank == 2 or layout == 'channels_last' else 'ncs'}"
        if key in self.compile_seconds:
            return
        start = time.perf_counter()
        short, big = 4, SERIAL_BELOW // 3 + 1
        if rank == 2:
            shapes = [(2, 3), (big, 3)]  # serial and parallel kernels
        else:  # short and long planes, each serial (small) and parallel (large)
            long_plane = _load_kernels().SHORT_PLANE
            shapes = [(2, 3, short), (2, 3, long_plane), (big // short, 3, short), (2, 3, max(long_plane, big // 2))]
            shapes = [s + (1,) * (rank - 3) for s in shapes]
        pdt = param_dtype(dtype)
        for shape in shapes:
            x = to_layout(self.from_numpy(np.linspace(-1, 1, math.prod(shape)).reshape(shape), dtype), layout)
            w, b = np.ones(3, pdt), np.zeros(3, pdt)
            rm, rv = np.zeros(3, pdt), np.ones(3, pdt)
            y, mean, invstd = self.batchnorm_train(x, w, b, rm, rv, momentum=0.1, eps=1e-5, num_batches_tracked=1)
            self.batchnorm_train(x, None, None, None, None, momentum=0.1, eps=1e-5, num_batches_tracked=1)
            self.batchnorm_eval(x, w, b, rm, rv, eps=1e-5)
            self.batchnorm_backward(y, x, w, mean, invstd, eps=1e-5)
            self.batchnorm_backward(y, x, None, mean, invstd, eps=1e-5)
        self.compile_seconds[key] = time.perf_counter() - start

    layernorm_forward = staticmethod(rownorm.layernorm_forward)
    layernorm_backward = staticmethod(rownorm.layernorm_backward)
    rmsnorm_forward = staticmethod(rownorm.rmsnorm_forward)
    rmsnorm_backward = staticmethod(rownorm.rmsnorm_backward)

    groupnorm_forward = staticmethod(chanorm.groupnorm_forward)
    groupnorm_backward = staticmethod(chanorm.groupnorm_backward)
    instancenorm_train = staticmethod(chanorm.instancenorm_train)
    instancenorm_eval = staticmethod(chanorm.instancenorm_eval)
    instancenorm_backward = staticmethod(chanorm.instancenorm_backward)

    def _prepare_channels(self, op: str, dtype: str, layout: str, rank: int) -> None:
        """Compile (or load) the GroupNorm/InstanceNorm kernels of a layout: serial and parallel."""
        if dtype not in self.DTYPES:
            return
        key = f"{op}/{dtype}/{'cl' if layout == 'channels_last' and rank > 2 else 'nc'}"
        if key in self.compile_seconds:
            return
        start = time.perf_counter()
        for n, s in ((2, 4), (2, chanorm.SERIAL_BELOW // 8 + 1), (1, chanorm.SERIAL_BELOW // 8 + 1)):
            shape = (n, 4, s) + (1,) * max(0, rank - 3)
            x = to_layout(self.from_numpy(np.linspace(-1, 1, math.prod(shape)).reshape(shape), dtype), layout)
            w = np.ones(4, param_dtype(dtype))
            if op == "groupnorm":
                y, mean, rstd = self.groupnorm_forward(x, 2, w, w, eps=1e-5)
                self.groupnorm_backward(y, x, 2, w, w, mean, rstd)
            else:
                y, mean, rstd = self.instancenorm_train(x, w, w, None, None, momentum=0.1, eps=1e-5)
                self.instancenorm_backward(y, x, w, w, mean, rstd)
                self.instancenorm_eval(x, w, w, w, w, eps=1e-5)
        self.compile_seconds[key] = time.perf_counter() - start

    def _prepare_rows(self, op: str, dtype: str) -> None:
        """Compile (or load) the row kernels: serial and parallel, with and without parameters."""
        if dtype not in self.DTYPES:
            return
        key = f"{op}/{dtype}"
        if key in self.compile_seconds:
            return
        start = time.perf_counter()
        fwd, bwd = getattr(self, f"{op}_forward"), getattr(self, f"{op}_backward")
        for rows in (2, rownorm.SERIAL_BELOW // 16 + 1):
            x = self.from_numpy(np.linspace(-1, 1, rows * 16).reshape(rows, 16).astype(np.float32), dtype)
            w = self.from_numpy(np.ones(16, np.float32), dtype)
            for params in ((w, w) if op == "layernorm" else (w,), (None,) * (2 if op == "layernorm" else 1)):
                out = fwd(x, (16,), *params, eps=1e-5)
                bwd(x, x, (16,), *params, *out[1:])
        self.compile_seconds[key] = time.perf_counter() - start

    def from_numpy(self, array: np.ndarray, dtype: str) -> np.ndarray:
        """float64/float32/float16 as NumPy arrays; bfloat16 as its 16-bit patterns (uint16)."""
        if dtype not in self.DTYPES:
            raise Unsupported(f"numba backend does not support {dtype}")
        if dtype == "bfloat16":
            return to_bits(array, BF16)
        return array.astype(dtype, order="K", copy=True)

    def to_numpy(self, native: np.ndarray) -> np.ndarray:
        if native.dtype == np.uint16:
            return from_bits(native, BF16)
        return np.asarray(native)

    def dtype_of(self, native: np.ndarray) -> str:
        return "bfloat16" if native.dtype == np.uint16 else super().dtype_of(native)

    def batchnorm_train(self, x, weight, bias, running_mean, running_var, *, momentum, eps, num_batches_tracked):
        k = _kernels_for(x)
        channels = x.shape[1]
        pdt = running_mean.dtype if running_mean is not None else weight.dtype if weight is not None \
            else _compute_dtype(x)  # half inputs save float32 statistics (BN-SEMANTICS)
        save_mean = np.empty(channels, pdt)
        save_invstd = np.empty(channels, pdt)
        if x.size == 0:  # PyTorch: empty output, running statistics untouched
            save_mean.fill(np.nan)
            save_invstd.fill(np.nan)
            return np.empty_like(x), save_mean, save_invstd
        m = x.size // channels
        if m <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input of shape {x.shape}")
        affine, running = weight is not None, running_mean is not None
        w = weight if affine else _dummy(channels, pdt)
        b = bias if affine else w
        rm = running_mean if running else _dummy(channels, pdt)
        rv = running_var if running else rm
        factor = momentum_factor(momentum, num_batches_tracked)
        kind, xv = _view(x)
        y, yv = _empty_like(x, kind)
        tmp = np.empty((3, channels), dtype=_compute_dtype(x))
        args = (_k(xv), w, b, affine, rm, rv, running, factor, float(eps), _k(yv), save_mean, save_invstd, tmp)
        before = (rm.copy(), rv.copy()) if running and x.dtype == np.float32 else None  # C values: cheap
        if kind == "rc":
            k.train_rc(*args, _blocks())
        elif xv.shape[2] < _load_kernels().SHORT_PLANE:
            k.train_ncs_planes(*args, _blocks())
        else:
            k.train_ncs(*args)
        if x.dtype == np.float32 and (np.any(save_invstd == 0) or (running and not np.isfinite(rv).all())) \
                and np.isfinite(x).all():
            # the float32 sums of squares overflowed (|x - mean| ~ 1e19, pytorch #162489): again in
            # float64, a path taken only then (the check is on C statistics)
            f64 = [None if a is None else a.astype(np.float64) for a in (weight, bias)]
            r64 = [a.astype(np.float64) for a in before] if before else [None, None]
            y64, sm, si = self.batchnorm_train(x.astype(np.float64, order="K"), *f64, *r64, momentum=momentum, eps=eps,
                                               num_batches_tracked=num_batches_tracked)
            if before:
                running_mean[...], running_var[...] = r64
            return y64.astype(x.dtype, order="K"), sm.astype(pdt), si.astype(pdt)
        return y, save_mean, save_invstd

    def batchnorm_eval(self, x, weight, bias, running_mean, running_var, *, eps):
        k = _kernels_for(x)
        if x.size == 0:
            return np.empty_like(x)
        channels = x.shape[1]
        affine = weight is not None
        w = weight if affine else _dummy(channels, running_mean.dtype)
        b = bias if affine else w
        kind, xv = _view(x)
        y, yv = _empty_like(x, kind)
        tmp = np.empty((3, channels), dtype=_compute_dtype(x))
        if kind == "rc":
            k.eval_rc(_k(xv), w, b, affine, running_mean, running_var, float(eps), _k(yv), tmp, _blocks())
        else:
            k.eval_ncs(_k(xv), w, b, affine, running_mean, running_var, float(eps), _k(yv), tmp)
        return y

    def batchnorm_backward(self, dy, x, weight, save_mean, save_invstd, *, eps):
        k = _kernels_for(x)
        channels = x.shape[1]
        affine = weight is not None
        dweight = np.zeros(channels, save_mean.dtype) if affine else None
        dbias = np.zeros(channels, save_mean.dtype) if affine else None
        if x.size == 0:
            return np.empty_like(x), dweight, dbias
        kind, xv = _view(x)
        kind_dy, dyv = _view(dy)
        if kind_dy != kind:  # dy in another layout than x: bring it to x's
            dyv = _view(to_layout(np.asarray(dy), "channels_last" if kind == "rc" else "contiguous"))[1]
        dx, dxv = _empty_like(x, kind)
        w = weight if affine else _dummy(channels, save_mean.dtype)
        dw = dweight if affine else w
        db = dbias if affine else w
        tmp = np.empty((4, channels), dtype=_compute_dtype(x))
        args = (_k(dyv), _k(xv), save_mean, save_invstd, w, affine, _k(dxv), dw, db, tmp)
        if kind == "rc":
            k.backward_rc(*args, _blocks())
        elif xv.shape[2] < _load_kernels().SHORT_PLANE:
            k.backward_ncs_planes(*args, _blocks())
        else:
            k.backward_ncs(*args)
        return dx, dweight, dbias


@normbench.hookimpl
def normbench_backends():
    return [NumbaBackend()]
