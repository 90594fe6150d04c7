"""float16 and bfloat16 LayerNorm/RMSNorm in Numba, which has no half-precision arithmetic on CPUs.

Half inputs arrive as their 16-bit patterns (``uint16``: float16 arrays are viewed so, bfloat16
is how this backend stores it). Per block of rows, each row is widened into a float32 scratch
row (bfloat16 is the top half of a float32; float16 widens exactly with a shift and one
multiply by 2^112, Inf/NaN fixed up), normalized there in float32 with float64 row sums, and
narrowed back with round-to-nearest-even (float16: Fabian Giesen's ``float_to_half_fast3_rtne``;
bfloat16: the usual ``+0x7fff + lsb``), NaN kept NaN. The scratch rows stay in cache, so memory
traffic is 2 bytes per element each way, as for a native half kernel. Reinterpreting bits is a
one-instruction LLVM ``bitcast`` (``_f32``/``_u32``), which vectorizes.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core.extending import intrinsic

from .kernels import PAR, SER

F16, BF16 = 0, 1
#: the kind a kernel is compiled for (a compile-time constant in each variant, see _variant)
KIND = F16


@intrinsic
def _f32(typingctx, bits):
    """uint32 bit pattern -> float32."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return types.float32(types.uint32), codegen


@intrinsic
def _u32(typingctx, value):
    """float32 -> its uint32 bit pattern."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))
    return types.uint32(types.float32), codegen


@njit(**SER)  # LLVM inlines it into the kernels, where KIND folds the branches away
def widen(h, kind):
    """16-bit pattern -> float32 value."""
    h32 = np.uint32(h)
    if kind == BF16:
        return _f32(h32 << np.uint32(16))
    sign = (h32 & np.uint32(0x8000)) << np.uint32(16)
    em = (h32 & np.uint32(0x7FFF)) << np.uint32(13)
    v = _f32(em) * np.float32(5.192296858534828e33)  # 2^112: rebias the exponent, subnormals included
    if (h32 & np.uint32(0x7C00)) == np.uint32(0x7C00):  # Inf and NaN
        v = _f32(em | np.uint32(0x7F800000))
    return _f32(_u32(v) | sign)


@njit(**SER)  # LLVM inlines it into the kernels, where KIND folds the branches away
def narrow(v, kind):
    """float32 value -> 16-bit pattern, rounded to nearest even."""
    u = _u32(np.float32(v))
    if kind == BF16:
        if (u & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000):
            return np.uint16((u >> np.uint32(16)) | np.uint32(0x40))  # quiet NaN
        return np.uint16((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16))
    sign = u & np.uint32(0x80000000)
    u = u ^ sign
    if u >= np.uint32(143 << 23):  # beyond float16's range: Inf, or NaN
        o = np.uint32(0x7E00) if u > np.uint32(255 << 23) else np.uint32(0x7C00)
    elif u < np.uint32(113 << 23):  # float16 subnormal or zero: let the FPU round
        magic = np.uint32(126 << 23)
        o = _u32(_f32(u) + _f32(magic)) - magic
    else:
        odd = (u >> np.uint32(13)) & np.uint32(1)
        u = u + np.uint32(((15 - 127) << 23) & 0xFFFFFFFF) + np.uint32(0xFFF) + odd
        o = u >> np.uint32(13)
    return np.uint16(o | (sign >> np.uint32(16)))


def ln_forward(xu, w, b, eps, yu, mean, rstd, buf, blocks):
    rows, h = xu.shape
    per = (rows + blocks - 1) // blocks
    for blk in prange(blocks):
        f = buf[blk]
        for r in range(blk * per, min(rows, (blk + 1) * per)):
            for j in range(h):
                f[j] = widen(xu[r, j], KIND)
            k = np.float64(f[0])
            s1 = 0.0
            s2 = 0.0
            for j in range(h):
                d = np.float64(f[j]) - k
                s1 += d
                s2 += d * d
            mu = s1 / h
            var = s2 / h - mu * mu
            if var < 0.0:
                var = 0.0
            mean[r] = k + mu
            rstd[r] = 1.0 / np.sqrt(var + eps)
            m = mean[r]
            rs = rstd[r]
            for j in range(h):
                yu[r, j] = narrow((f[j] - m) * rs * w[j] + b[j], KIND)


def ln_backward(dyu, xu, w, mean, rstd, dxu, dw_part, db_part, buf, gbuf, blocks):
    rows, h = xu.shape
    per = (rows + blocks - 1) // blocks
    for blk in prange(blocks):
        f = buf[blk]
        g = gbuf[blk]
        for r in range(blk * per, min(rows, (blk + 1) * per)):
            m = mean[r]
            rs = rstd[r]
            sg = 0.0
            sgx = 0.0
            for j in range(h):
                f[j] = (widen(xu[r, j], KIND) - m) * rs  # xhat
                g[j] = widen(dyu[r, j], KIND)  # dy
                gw = g[j] * w[j]
                sg += gw
                sgx += gw * f[j]
            a = np.float32(sg / h)
            c = np.float32(sgx / h)
            for j in range(h):
                gw = g[j] * w[j]
                dxu[r, j] = narrow(rs * (gw - a - f[j] * c), KIND)
                dw_part[blk, j] += g[j] * f[j]
                db_part[blk, j] += g[j]


def rms_forward(xu, w, eps, yu, rrms, buf, blocks):
    rows, h = xu.shape
    per = (rows + blocks - 1) // blocks
    for blk in prange(blocks):
        f = buf[blk]
        for r in range(blk * per, min(rows, (blk + 1) * per)):
            s2 = 0.0
            for j in range(h):
                f[j] = widen(xu[r, j], KIND)
                s2 += np.float64(f[j]) * np.float64(f[j])
            rrms[r] = 1.0 / np.sqrt(s2 / h + eps)
            rr = rrms[r]
            for j in range(h):
                yu[r, j] = narrow(f[j] * rr * w[j], KIND)


def rms_backward(dyu, xu, w, rrms, dxu, dw_part, buf, gbuf, blocks):
    rows, h = xu.shape
    per = (rows + blocks - 1) // blocks
    for blk in prange(blocks):
        f = buf[blk]
        g = gbuf[blk]
        for r in range(blk * per, min(rows, (blk + 1) * per)):
            rr = rrms[r]
            sgx = 0.0
            for j in range(h):
                f[j] = widen(xu[r, j], KIND)
                g[j] = widen(dyu[r, j], KIND)
                gw = g[j] * w[j]
                sgx += np.float64(gw) * np.float64(f[j])
            c = np.float32(rr * rr * sgx / h)
            for j in range(h):
                gw = g[j] * w[j]
                dxu[r, j] = narrow(rr * (gw - f[j] * c), KIND)
                dw_part[blk, j] += g[j] * f[j] * rr


def _variant(kind: int, suffix: str):
    """The four kernels compiled with KIND = ``kind``: the conversions' branches fold away and the
    loops vectorize. Each copy has its own qualified name, so numba's disk cache keeps them apart."""
    import types as pytypes

    from .kernels import _Namespace

    shared = dict(globals(), KIND=kind)
    out = {}
    for name in ("ln_forward", "ln_backward", "rms_forward", "rms_backward"):
        f = globals()[name]
        copy = pytypes.FunctionType(f.__code__, shared, f.__name__, f.__defaults__, f.__closure__)
        copy.__qualname__ = f"{f.__qualname__}_{suffix}"
        copy.__module__ = f.__module__
        out[name] = njit(**PAR)(copy)
    return _Namespace(out)


#: kernels by kind: ``KERNELS[F16].ln_forward`` etc.
KERNELS = {F16: _variant(F16, "f16"), BF16: _variant(BF16, "bf16")}


def to_bits(a: np.ndarray, kind: int) -> np.ndarray:
    """Host values (float16 array, or float32 holding bfloat16 values) -> 16-bit patterns."""
    if kind == F16:
        return np.ascontiguousarray(a, np.float16).view(np.uint16)
    return (np.ascontiguousarray(a, np.float32).view(np.uint32) >> 16).astype(np.uint16)


def from_bits(bits: np.ndarray, kind: int) -> np.ndarray:
    """16-bit patterns -> float32 values (exact)."""
    if kind == F16:
        return bits.view(np.float16).astype(np.float32)
    return (bits.astype(np.uint32) << 16).view(np.float32)
