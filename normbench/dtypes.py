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
#: the kinds of a non-dense array a case can hand a backend, each the layout ``strided`` to a
#: backend's :class:`~normbench.Support` (one that takes strided arrays takes them all): every other
#: element (``strided``), the first two axes swapped in memory (``permuted``: sequence-first against
#: batch-first, a transposed gradient), rows inside a wider buffer at an offset (``sliced``: a row
#: pitch above the row length), and stride 0 along every axis the values are constant on
#: (``broadcast``: what ``(y * c).sum().backward()`` hands a backward as dy)
STRIDED_KINDS: tuple[str, ...] = ("strided", "permuted", "sliced", "broadcast")
ARRAY_LAYOUTS: tuple[str, ...] = LAYOUTS + STRIDED_KINDS[1:]
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


def support_layout(name: str) -> str:
    """The layout a backend's Support names for an array of layout ``name`` (a kind of strided
    array is ``strided``)."""
    return "strided" if name in STRIDED_KINDS else name


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
    """Return an array equal to ``a`` (logical shape N, C, ...) stored in ``layout``, one of
    :data:`ARRAY_LAYOUTS`.

    ``strided`` is a non-contiguous view (every other element of a twice-as-wide buffer), the
    case a kernel that assumes dense memory gets wrong; 1-D arrays (parameters) can be strided,
    sliced and broadcast too. ``broadcast`` gives stride 0 to every axis the values are constant
    along (none: a dense copy; the case's data makes them constant where it means a broadcast).
    """
    if layout not in ARRAY_LAYOUTS:
        raise InputError(f"unknown layout {layout!r}; expected one of {', '.join(ARRAY_LAYOUTS)}")
    if layout == "contiguous" or a.ndim == 0 or (a.ndim < 2 and layout in ("channels_last", "permuted")):
        return np.ascontiguousarray(a)
    if layout == "channels_last":
        order = channels_last_order(a.ndim)
        inverse = np.argsort(order)
        return np.ascontiguousarray(a.transpose(order)).transpose(inverse)
    if layout == "permuted":
        order = (1, 0, *range(2, a.ndim))
        return np.ascontiguousarray(a.transpose(order)).transpose(order)
    if layout == "sliced":  # a row pitch 3 elements longer than the row, starting 1 element in
        wide = np.zeros(a.shape[:-1] + (a.shape[-1] + 3,), dtype=a.dtype)
        wide[..., 1:a.shape[-1] + 1] = a
        return wide[..., 1:a.shape[-1] + 1]
    if layout == "broadcast":
        flat = [ax for ax in range(a.ndim) if a.shape[ax] > 1 and (a == a.take([0], axis=ax)).all()]
        first = tuple(slice(0, 1) if ax in flat else slice(None) for ax in range(a.ndim))
        return np.broadcast_to(np.ascontiguousarray(a[first]), a.shape)
    wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
    wide[..., ::2] = a
    view = wide[..., ::2]
    return view


def private_copy(a: np.ndarray) -> np.ndarray:
    """A copy of ``a`` with the same strides (a stride-0 axis stays one): what the harness hands a
    backend, so no backend sees another's buffer and every one sees the case's exact memory layout."""
    if a.flags.c_contiguous or a.size == 0:
        return np.array(a, order="C")
    if 0 in a.strides:
        flat = tuple(slice(0, 1) if st == 0 else slice(None) for st in a.strides)
        return np.broadcast_to(private_copy(a[flat]), a.shape)
    if any(st < 0 for st in a.strides):
        return np.array(a, order="K")
    span = 1 + sum((n - 1) * st for n, st in zip(a.shape, a.strides)) // a.itemsize
    out = np.lib.stride_tricks.as_strided(np.zeros(span, a.dtype), a.shape, a.strides)
    out[...] = a
    return out


def layout_of(a: np.ndarray) -> str:
    """Memory layout of a NumPy array: contiguous, channels_last or strided."""
    if a.flags.c_contiguous:
        return "contiguous"
    if a.ndim >= 3 and a.transpose(channels_last_order(a.ndim)).flags.c_contiguous:
        return "channels_last"
    return "strided"
