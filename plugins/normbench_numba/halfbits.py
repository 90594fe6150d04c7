"""float16/bfloat16 arrays of the Numba backend as 16-bit patterns, and back (NumPy only, no numba).

Numba has no half-precision arithmetic on CPUs, so its kernels take half inputs as ``uint16``
patterns: a float16 array is viewed so, and bfloat16 (which NumPy lacks) is stored so by this
backend. Parameters and statistics of half ops are handed to the kernels as float32.
"""
from __future__ import annotations

import numpy as np

F16, BF16 = 0, 1


def half_kind(a: np.ndarray) -> int | None:
    """F16 or BF16 for this backend's half arrays (bfloat16 is stored as uint16 bits), else None."""
    if a.dtype == np.float16:
        return F16
    if a.dtype == np.uint16:
        return BF16
    return None


def kernel_view(a: np.ndarray) -> np.ndarray:
    """An array as the kernels take it: a half array as its uint16 patterns (a view of any
    strides, never a copy); any other array as it is."""
    return a.view(np.uint16) if a.dtype == np.float16 else a


def compute_dtype(x: np.ndarray) -> np.dtype:
    """What the kernels compute and keep per-channel constants in: x's dtype, float32 for half x."""
    return np.dtype(np.float32) if half_kind(x) is not None else x.dtype


def to_bits(a: np.ndarray, kind: int) -> np.ndarray:
    """Values -> 16-bit patterns, rounded to nearest even (exact for values already in the dtype);
    NaN stays NaN."""
    if kind == F16:
        return np.ascontiguousarray(a, np.float16).view(np.uint16)
    u = np.ascontiguousarray(a, np.float32).view(np.uint32)
    rounded = ((u + np.uint32(0x7FFF) + ((u >> 16) & np.uint32(1))) >> 16).astype(np.uint16)
    nan = (u & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000)
    return np.where(nan, ((u >> 16) | np.uint32(0x40)).astype(np.uint16), rounded)


def from_bits(b: np.ndarray, kind: int) -> np.ndarray:
    """16-bit patterns -> float32 values (exact)."""
    if kind == F16:
        return b.view(np.float16).astype(np.float32)
    return (b.astype(np.uint32) << 16).view(np.float32)


def as_f32(p: np.ndarray | None) -> np.ndarray | None:
    """A parameter or statistic in any dtype this backend uses (uint16 = bfloat16), as float32."""
    if p is None:
        return None
    return from_bits(p, BF16) if p.dtype == np.uint16 else np.ascontiguousarray(p, np.float32)


def as_dtype(values: np.ndarray, dtype) -> np.ndarray:
    """float32/float64 values in a dtype of this backend (uint16 means bfloat16, rounded to nearest even)."""
    if np.dtype(dtype) == np.uint16:
        return to_bits(np.asarray(values, np.float32), BF16)
    return np.asarray(values).astype(dtype)


def store(dst: np.ndarray, values: np.ndarray) -> None:
    """Write float values into an existing array of this backend's dtypes, in place."""
    dst[...] = as_dtype(values, dst.dtype)


def kernels_for(module, x: np.ndarray, serial_below: int):
    """A kernel module's kernels for x (kernels.py, chankernels.py): its serial twins below
    ``serial_below`` elements; for half x, the variants reading 16-bit patterns
    (halfkernels.variants, which imports numba: only then)."""
    kind = half_kind(x)
    if kind is None:
        return module.serial if x.size < serial_below else module
    from .halfkernels import variants

    parallel, serial = variants(module, kind)
    return serial if x.size < serial_below else parallel
