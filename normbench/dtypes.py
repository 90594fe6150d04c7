"""Dtype and layout vocabulary shared by the harness and backends.

NumPy has no bfloat16, so the harness carries bfloat16 data on the host as float32 arrays whose
values are exactly representable in bfloat16 (see :func:`round_to_bfloat16`); a backend's
``from_numpy(array, "bfloat16")`` converts them to its native bfloat16, and ``to_numpy`` returns
float32 again. The conversion is exact both ways, so nothing is lost in transit.
"""
from __future__ import annotations

import numpy as np

from .errors import InputError

DTYPES: tuple[str, ...] = ("float64", "float32", "float16", "bfloat16")
HALF_DTYPES = frozenset({"float16", "bfloat16"})
LAYOUTS: tuple[str, ...] = ("contiguous", "channels_last", "strided")
RANKS: tuple[int, ...] = (2, 3, 4, 5)

#: unit roundoff (machine epsilon) of each dtype, used by tolerances
MACHINE_EPS = {"float64": 2.0**-52, "float32": 2.0**-23, "float16": 2.0**-10, "bfloat16": 2.0**-7}
ITEMSIZE = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2}


def check_dtype(name: str) -> str:
    if name not in DTYPES:
        raise InputError(f"unknown dtype {name!r}; expected one of {', '.join(DTYPES)}")
    return name


def check_layout(name: str) -> str:
    if name not in LAYOUTS:
        raise InputError(f"unknown layout {name!r}; expected one of {', '.join(LAYOUTS)}")
    return name


def host_dtype(name: str) -> np.dtype:
    """NumPy dtype used to carry ``name`` on the host (float32 for bfloat16)."""
    check_dtype(name)
    return np.dtype(np.float32 if name == "bfloat16" else name)


def param_dtype(name: str) -> str:
    """Dtype of weight, bias, running and saved stats: float32 for half inputs, as in PyTorch."""
    return "float32" if name in HALF_DTYPES else name


def dtype_name(array: np.ndarray) -> str:
    """Harness dtype name of a NumPy array (float32 arrays are reported as float32)."""
    name = np.dtype(array.dtype).name
    if name not in DTYPES:
        raise InputError(f"unsupported array dtype {name}; expected one of float64, float32, float16")
    return name


def round_to_bfloat16(a: np.ndarray) -> np.ndarray:
    """Round float32 values to the nearest bfloat16 (ties to even), returned as float32."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    bits = a.view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    out = rounded.astype(np.uint32).view(np.float32)
    # NaN must stay NaN (the rounding above could carry a NaN payload into Inf).
    return np.where(np.isnan(a), np.float32(np.nan), out)


def cast_host(a: np.ndarray, name: str) -> np.ndarray:
    """Cast ``a`` to the host representation of dtype ``name`` (keeps the shape, C order).

    Values beyond the dtype's range become +-inf, as in a device cast (the overflow cases rely
    on it), without NumPy's RuntimeWarning."""
    with np.errstate(over="ignore"):
        out = np.asarray(a, dtype=host_dtype(name))
    return round_to_bfloat16(out) if name == "bfloat16" else out


def channels_last_order(ndim: int) -> tuple[int, ...]:
    """Axis order of the memory layout with channels last: (N, *spatial, C)."""
    return (0, *range(2, ndim), 1)


def to_layout(a: np.ndarray, layout: str) -> np.ndarray:
    """Return an array equal to ``a`` (logical shape N, C, ...) stored in ``layout``.

    ``strided`` is a non-contiguous view (every other element of a twice-as-wide buffer), the
    case a kernel that assumes dense memory gets wrong; 1-D arrays (parameters) can be strided too.
    """
    check_layout(layout)
    if layout == "contiguous" or (a.ndim < 2 and layout != "strided") or a.ndim == 0:
        return np.ascontiguousarray(a)
    if layout == "channels_last":
        order = channels_last_order(a.ndim)
        inverse = np.argsort(order)
        return np.ascontiguousarray(a.transpose(order)).transpose(inverse)
    wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
    wide[..., ::2] = a
    view = wide[..., ::2]
    return view


def layout_of(a: np.ndarray) -> str:
    """Memory layout of a NumPy array: contiguous, channels_last or strided."""
    if a.flags.c_contiguous:
        return "contiguous"
    if a.ndim >= 3 and a.transpose(channels_last_order(a.ndim)).flags.c_contiguous:
        return "channels_last"
    return "strided"
