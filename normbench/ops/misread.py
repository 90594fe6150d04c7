"""What a kernel reads when it walks an array's memory wrongly: the wrong backends' (mutants')
way to misread a strided, permuted, sliced or broadcast argument as real kernels do."""
from __future__ import annotations

import numpy as np


def positions(a: np.ndarray) -> np.ndarray:
    """Each element's position in ``a``'s buffer, in elements from its first (non-negative strides)."""
    steps = [s // a.itemsize for s in a.strides]
    return sum((np.arange(n).reshape((-1,) + (1,) * (a.ndim - 1 - i)) * st
                for i, (n, st) in enumerate(zip(a.shape, steps))), np.zeros(a.shape, np.int64))


def buffer_of(a: np.ndarray) -> np.ndarray:
    """``a``'s buffer from its first element to its last, gaps as the harness fills them (zeros)."""
    if a.size == 0:
        return np.zeros(0, a.dtype)
    pos = positions(a)
    buf = np.zeros(int(pos.max()) + 1, a.dtype)
    buf[pos.ravel()] = a.ravel()
    return buf


def read_as(a: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """What a kernel reads walking ``a``'s buffer at ``pos`` (zeros past its end: a real kernel
    reads whatever lies there)."""
    buf = buffer_of(a)
    inside = pos < buf.size
    return np.where(inside, buf[np.minimum(pos, max(buf.size - 1, 0))], 0).astype(a.dtype)


def dense(a: np.ndarray) -> np.ndarray:
    """``a`` as a kernel that ignores its strides reads it: its buffer walked as if dense."""
    return read_as(a, np.arange(a.size).reshape(a.shape))
