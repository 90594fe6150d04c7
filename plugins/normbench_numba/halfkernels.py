"""float16 and bfloat16 kernels in Numba, which has no half-precision arithmetic on CPUs.

Batch norm, GroupNorm and InstanceNorm: ``variants`` compiles copies of the float kernels
(kernels.py, chankernels.py) whose element loads (``ld``) widen a 16-bit pattern to float32 and
whose stores (``st``) narrow with round-to-nearest-even; the per-channel constants and sums are
float32 or float64, as for a float32 input. LayerNorm and RMSNorm have kernels of their own below:

Half inputs arrive as their 16-bit patterns (``uint16``: float16 arrays are viewed so, bfloat16
is how this backend stores it). Per block of rows, each row is widened into a float32 scratch
row (bfloat16 is the top half of a float32; float16 goes through LLVM's ``fpext``/``fptrunc half``, which
x86's F16C does in one instruction), normalized there in float32 with float32 row sums (what half inputs get everywhere), and
narrowed back with round-to-nearest-even (bfloat16: the usual ``+0x7fff + lsb``), NaN kept NaN. The scratch rows stay in cache, so memory
traffic is 2 bytes per element each way, as for a native half kernel. Reinterpreting bits is a
one-instruction LLVM ``bitcast`` (``_f32``/``_u32``), which vectorizes.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core.extending import intrinsic

from .halfbits import BF16, F16
from .kernels import PAR, SER

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


@intrinsic
def _half_to_f32(typingctx, bits):
    """uint16 float16 pattern -> float32 through LLVM's ``fpext half`` (F16C's vcvtph2ps on x86)."""
    def codegen(context, builder, signature, args):
        return builder.fpext(builder.bitcast(args[0], ir.HalfType()), ir.FloatType())
    return types.float32(types.uint16), codegen


@intrinsic
def _f32_to_half(typingctx, value):
    """float32 -> uint16 float16 pattern through ``fptrunc`` (IEEE round to nearest even)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(builder.fptrunc(args[0], ir.HalfType()), ir.IntType(16))
    return types.uint16(types.float32), codegen


@njit(**SER)  # LLVM inlines it into the kernels, where KIND folds the branches away
def widen(h, kind):
    """16-bit pattern -> float32 value (exact; a signaling float16 NaN comes back quiet)."""
    if kind == BF16:
        return _f32(np.uint32(h) << np.uint32(16))
    return _half_to_f32(np.uint16(h))


@njit(**SER)  # LLVM inlines it into the kernels, where KIND folds the branches away
def narrow(v, kind):
    """float32 value -> 16-bit pattern, rounded to nearest even; NaN stays NaN."""
    if kind == F16:
        return _f32_to_half(np.float32(v))
    u = _u32(np.float32(v))
    if (u & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000):
        return np.uint16((u >> np.uint32(16)) | np.uint32(0x40))  # quiet NaN
    return np.uint16((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16))


@njit(inline="always", **SER)
def ld_f16(h):
    return _half_to_f32(np.uint16(h))


@njit(inline="always", **SER)
def st_f16(v):
    return _f32_to_half(np.float32(v))


@njit(inline="always", **SER)
def ld_bf16(h):
    return _f32(np.uint32(h) << np.uint32(16))


@njit(inline="always", **SER)
def st_bf16(v):
    return narrow(v, BF16)


@njit(inline="always", **SER)
def acc_f32(v):
    return np.float32(v)


_variants: dict = {}


def variants(module, kind: int):
    """(parallel, serial) copies of a float kernel module's kernels (kernels.py, chankernels.py) that
    read and write 16-bit patterns: the module's ``ld``/``st`` become widening/narrowing
    conversions. The kernels take their compute dtype from the per-channel arrays they are
    given (float32 here), so x is read at 2 bytes per element and never copied to float32."""
    key = (module.__name__, kind)
    if key not in _variants:
        from .kernels import _Namespace, variant

        tag = "f16" if kind == F16 else "bf16"
        conv = dict(ld=ld_f16, st=st_f16) if kind == F16 else dict(ld=ld_bf16, st=st_bf16)
        conv["acc"] = acc_f32  # half inputs accumulate in float32, as torch's do
        ns = vars(module)
        extra = {k: v for k, v in ns.items() if k.isupper() and isinstance(v, int)}  # SHORT_PLANE etc.
        _variants[key] = (_Namespace({**variant(ns, tag, **conv), **extra}),
                          _Namespace({**variant(ns, f"{tag}_serial", parallel=False, **conv), **extra}))
    return _variants[key]


def ln_forward(xu, w, b, eps, yu, mean, rstd, buf, blocks):
    rows, h = xu.shape
    per = (rows + blocks - 1) // blocks
    for blk in prange(blocks):
        f = buf[blk]
        for r in range(blk * per, min(rows, (blk + 1) * per)):
            for j in range(h):
                f[j] = widen(xu[r, j], KIND)
            # float32 sums, as for any half input (NORM-SEMANTICS: accumulation is float32), on
            # values shifted by the row's first one; reassociated into SIMD partial sums
            k = f[0]
            s1 = np.float32(0.0)
            s2 = np.float32(0.0)
            for j in range(h):
                d = f[j] - k
                s1 += d
                s2 += d * d
            mu = np.float64(s1) / h
            var = np.float64(s2) / h - mu * mu
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
            sg = np.float32(0.0)
            sgx = np.float32(0.0)
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
            s2 = np.float32(0.0)
            for j in range(h):
                f[j] = widen(xu[r, j], KIND)
                s2 += f[j] * f[j]
            rrms[r] = 1.0 / np.sqrt(np.float64(s2) / h + eps)
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
            sgx = np.float32(0.0)
            for j in range(h):
                f[j] = widen(xu[r, j], KIND)
                g[j] = widen(dyu[r, j], KIND)
                gw = g[j] * w[j]
                sgx += gw * f[j]
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
