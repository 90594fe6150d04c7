"""Wrong row-wise backends, one per bug class: the suite's power on LayerNorm and RMSNorm.

Each is a float64 NumPy kernel of a :class:`~normbench.ops.rowwise.RowOp` (statistics from the
saved ones in backward, as a real kernel does) with one bug switched on; with none it passes
every case (tests/test_selftest.py checks that). The bugs are the classes real kernels had:

- the field's, 2023-2026: a dweight/dbias partial-sum buffer of ``M // BLOCK`` blocks that drops
  the last partial block (attorch#18, llm.c#445); dy's buffer walked as if dense, or with x's
  strides (quack#88; pytorch#92671, #115940); a vectorized row loop that drops the row's tail; a
  bias ignored without a weight; a dx that forgets the weight (hidden behind weight = 1);
- normbench 0.10-0.11's: squares of x - mean in float32 (pytorch#162489), unchecked shapes, a
  strided parameter read as dense, a row count kept in float16 (ExecuTorch #16727), the variance
  saved where its inverse root belongs;
- the classics: eps outside the root, the unbiased variance, a dropped gradient term, the last
  axis normalized whatever ``normalized_shape`` says, a one-pass variance in the input dtype.

bfloat16 is left out: NumPy has no bfloat16 type to hand back (the classes above do not need it).
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import Backend, Support
from .bugclasses import shared
from .misread import dense, positions, read_as
from .rowwise import RowOp, row_axes, validate

#: rows per partial sum of the blocked dweight/dbias mutant (any block size shows it with enough rows)
BLOCK = 32
#: elements a vectorized row loop handles at once (the tail-dropping mutant's vector width)
VECTOR = 8

#: bug class -> what the kernel does wrong (all ops of the family; CENTERED_ONLY need a mean, a bias)
BUGS: dict[str, str] = {
    "partial-block": f"sums dweight/dbias over blocks of {BLOCK} rows and drops the last partial block",
    **shared("dense-dy", "x-strides-dy"),
    "row-tail": f"computes a row's statistics over its first multiple of {VECTOR} elements (drops the tail)",
    **shared("bias-needs-weight", "unit-weight-dx", "f32-squares"),
    "unchecked-shape": "never checks normalized_shape or the weight against x",
    **shared("dense-params", "dense-saved"),
    "half-count": "keeps the row's element count in float16 (inf from 65520 elements)",
    "saved-variance": "saves the variance (mean square) where its inverse root belongs",
    **shared("eps-outside"),
    "unbiased-var": "divides the variance by N - 1",
    **shared("dropped-term"),
    "last-axis-only": "normalizes over the last axis whatever normalized_shape says",
    **shared("onepass"),
}
CENTERED_ONLY = frozenset({"bias-needs-weight", "onepass"})


class RowMutant(Backend):
    """A float64 row-wise kernel with bug ``bug`` (``"none"``: right)."""

    description = "a wrong row-wise kernel of normbench's self-test"

    def __init__(self, op: RowOp, bug: str):
        self.op, self.bug = op, bug
        self.name = f"{op.name}-{bug}"
        self.description_of_bug = BUGS.get(bug, "right: the control")
        self.ops = {op.name: Support(dtypes={"float64", "float32", "float16"})}
        setattr(self, f"{op.name}_forward", self._forward)
        setattr(self, f"{op.name}_backward", self._backward)

    def right(self) -> "RowMutant":
        """The same kernel without its bug (the control: it passes every case)."""
        return RowMutant(self.op, "none")

    def from_numpy(self, array: np.ndarray, dtype: str) -> np.ndarray:
        return array  # the harness's private copy, in the case's exact memory layout

    # -- the kernel ------------------------------------------------------------------------------
    def _params(self, x, normalized_shape, params: dict) -> tuple[tuple[int, ...], dict]:
        if self.bug == "unchecked-shape":
            ns = tuple(int(n) for n in normalized_shape)
        else:
            ns = validate(x, normalized_shape, params, self.op.name)
        if self.bug == "dense-params" and params.get("weight") is not None:
            w = params["weight"]
            params = {**params, "weight": dense(w)}
        return ns, {p: None if v is None else np.asarray(v, np.float64) for p, v in params.items()}

    def _axes(self, x: np.ndarray, ns) -> tuple[int, ...]:
        return (x.ndim - 1,) if self.bug == "last-axis-only" else row_axes(x.ndim, len(ns))

    def _forward(self, x, normalized_shape, *params, eps=None):
        ns, p = self._params(x, normalized_shape, dict(zip(self.op.params, params)))
        sdt = self.op.stat_dtype(str(x.dtype), next((str(v.dtype) for v in params if v is not None), None))
        lead = x.shape[:x.ndim - len(ns)] + (1,) * len(ns)
        if x.size == 0:
            return (np.empty_like(x), *(np.empty(lead, sdt) for _ in self.op.stats))
        eps = self.op.resolve_eps(eps, str(x.dtype))
        axes = self._axes(x, ns)
        x64 = x.astype(np.float64)
        with np.errstate(all="ignore"):
            cols = x64
            if self.bug == "row-tail" and x.shape[-1] > VECTOR:
                cols = x64[..., :x.shape[-1] - x.shape[-1] % VECTOR]
            n = math.prod(cols.shape[a] for a in axes)
            count = float(np.float16(n)) if self.bug == "half-count" and x.dtype == np.float16 else n
            mean = np.sum(cols, axis=axes, keepdims=True) / count if self.op.centered else np.zeros(lead)
            if self.bug == "onepass" and x.dtype != np.float64:
                xd = cols.astype(x.dtype)
                m = np.mean(xd, axis=axes, keepdims=True, dtype=x.dtype)
                var = (np.mean(xd * xd, axis=axes, keepdims=True, dtype=x.dtype) - m * m).astype(np.float64)
            elif self.bug == "f32-squares":
                d = (cols - mean).astype(np.float32)
                var = np.sum(d * d, axis=axes, keepdims=True, dtype=np.float32).astype(np.float64) / count
            else:
                var = np.sum((cols - mean) ** 2, axis=axes, keepdims=True) / count
            if self.bug == "unbiased-var":
                var = var * n / (n - 1) if n > 1 else var * np.inf
            r = 1.0 / (np.sqrt(var) + eps) if self.bug == "eps-outside" else 1.0 / np.sqrt(var + eps)
            y = (x64 - mean) * r
            if p.get("weight") is not None:
                y = y * p["weight"]
            if p.get("bias") is not None and not (self.bug == "bias-needs-weight" and p.get("weight") is None):
                y = y + p["bias"]
        last = var if self.bug == "saved-variance" else r
        stats = (mean, last) if self.op.centered else (last,)
        return (y.astype(x.dtype), *(np.broadcast_to(s, lead).astype(sdt) for s in stats))

    def _backward(self, dy, x, normalized_shape, *rest, eps=None):
        k = len(self.op.params)
        ns, p = self._params(x, normalized_shape, dict(zip(self.op.params, rest[:k])))
        stats = [np.asarray(dense(s) if self.bug == "dense-saved" else s, np.float64) for s in rest[k:]]
        if self.bug == "dense-dy":
            dy = dense(dy)
        elif self.bug == "x-strides-dy":
            dy = read_as(dy, positions(x))
        d, x64 = dy.astype(np.float64), x.astype(np.float64)
        axes = self._axes(x, ns)
        lead = tuple(range(x.ndim - len(ns)))
        mean, r = (stats[0], stats[1]) if self.op.centered else (0.0, stats[0])
        w = p.get("weight")
        with np.errstate(all="ignore"):
            xhat = (x64 - mean) * r
            g = d * w if w is not None and self.bug != "unit-weight-dx" else d
            if x.size:
                dx = g - xhat * np.mean(g * xhat, axis=axes, keepdims=True) if self.bug != "dropped-term" else g
                if self.op.centered:
                    dx = dx - np.mean(g, axis=axes, keepdims=True)
                dx = r * dx
            else:
                dx = np.zeros(x.shape)
            m, row_shape = math.prod(x.shape[:x.ndim - len(ns)]), x.shape[x.ndim - len(ns):]
            grads = {}
            for name, terms in (("weight", d * xhat), ("bias", d)):
                if self.bug == "partial-block" and m > BLOCK:  # the rows flattened, the last partial block dropped
                    grads[name] = terms.reshape((m,) + row_shape)[:m // BLOCK * BLOCK].sum(axis=0)
                else:
                    grads[name] = terms.sum(axis=lead)
        out = [dx.astype(x.dtype)]
        for name, given in zip(self.op.params, rest[:k]):
            out.append(None if given is None else grads[name].astype(given.dtype))
        return tuple(out)


def catalogue(op: RowOp) -> list[RowMutant]:
    """One wrong backend per bug class that applies to ``op``."""
    return [RowMutant(op, bug) for bug in BUGS if op.centered or bug not in CENTERED_ONLY]


__all__: list[str] = ["BUGS", "RowMutant", "catalogue"]
