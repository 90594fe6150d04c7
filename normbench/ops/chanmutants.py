"""Wrong channel-wise backends, one per bug class: the suite's power on GroupNorm and InstanceNorm.

Each is a float64 NumPy kernel of a :class:`~normbench.ops.channelwise.ChanOp` (backward from the
saved statistics, as a real kernel) with one bug switched on; with ``"none"`` it passes every case
(tests/test_selftest.py). The classes are the row-wise family's (:mod:`normbench.ops.rowmutants`)
where they apply, plus the channel-wise ones: groups of interleaved channels instead of contiguous
blocks, and for InstanceNorm's running statistics the biased variance, Keras's momentum and an eps
folded into the stored variance (only a large eps shows it).
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import Backend, Support
from .channelwise import ChanOp, expand, per_channel, units, validate_groupnorm, validate_instancenorm
from .bugclasses import shared
from .misread import dense, positions, read_as

#: (sample, position) values per partial sum of the blocked dweight/dbias mutant
BLOCK = 32
#: elements a vectorized loop over a unit handles at once (the tail-dropping mutant's width)
VECTOR = 8

BUGS: dict[str, str] = {
    "partial-block": f"sums dweight/dbias over a channel's values in blocks of {BLOCK}, the last partial one dropped",
    **shared("dense-dy", "x-strides-dy"),
    "unit-tail": f"computes a unit's statistics over its first multiple of {VECTOR} values (drops the tail)",
    **shared("bias-needs-weight", "unit-weight-dx", "f32-squares"),
    "unchecked-shape": "never checks the channels, groups or parameters against x",
    **shared("dense-params", "dense-saved"),
    "half-count": "keeps a unit's value count in float16 (inf from 65520 values)",
    "saved-variance": "saves the variance where its inverse root belongs",
    **shared("eps-outside"),
    "unbiased-var": "normalizes with the unbiased variance",
    **shared("dropped-term", "onepass"),
}
GROUPED_ONLY: dict[str, str] = {"interleaved-groups": "groups channels c with c % G = g, not contiguous blocks"}
RUNNING_ONLY: dict[str, str] = {
    "biased-running-var": "updates the running variance with the biased variance",
    "keras-momentum": "Keras's momentum convention (the weight of the old running value)",
    "eps-in-running-var": "adds eps to the running variance it stores",
}


class ChanMutant(Backend):
    """A float64 channel-wise kernel with bug ``bug`` (``"none"``: right)."""

    description = "a wrong channel-wise kernel of normbench's self-test"

    def __init__(self, op: ChanOp, bug: str):
        self.op, self.bug = op, bug
        self.name = f"{op.name}-{bug}"
        self.description_of_bug = {**BUGS, **GROUPED_ONLY, **RUNNING_ONLY}.get(bug, "right: the control")
        self.ops = {op.name: Support(dtypes={"float64", "float32", "float16"})}
        if op.grouped:
            self.groupnorm_forward, self.groupnorm_backward = self._gn_forward, self._gn_backward
        else:
            self.instancenorm_train, self.instancenorm_eval = self._in_train, self._in_eval
            self.instancenorm_backward = self._in_backward

    def right(self) -> "ChanMutant":
        """The same kernel without its bug (the control: it passes every case)."""
        return ChanMutant(self.op, "none")

    def from_numpy(self, array: np.ndarray, dtype: str) -> np.ndarray:
        return array  # the harness's private copy, in the case's exact memory layout

    # -- the kernel --------------------------------------------------------------------------------
    def _weight(self, weight):
        if weight is None:
            return None
        return np.asarray(dense(weight) if self.bug == "dense-params" else weight, np.float64)

    def _order(self, c: int, groups: int) -> np.ndarray:
        """The channel order in which groups are contiguous blocks (interleaved for that bug)."""
        if self.bug != "interleaved-groups" or groups in (1, c):
            return np.arange(c)
        return np.arange(c).reshape(c // groups, groups).T.ravel()

    def _stats(self, x64: np.ndarray, groups: int, dtype) -> tuple[np.ndarray, np.ndarray]:
        """(mean, var) per unit, (N, G), with the bug."""
        xu = units(x64, groups)
        m = xu.shape[2]
        if self.bug == "unit-tail" and m > VECTOR:
            xu = xu[..., :m - m % VECTOR]
        n = xu.shape[2]
        if xu.size == 0:
            return np.zeros(xu.shape[:2]), np.zeros(xu.shape[:2])
        count = float(np.float16(n)) if self.bug == "half-count" and dtype == np.float16 else n
        with np.errstate(all="ignore"):
            mean = xu.sum(axis=2) / count
            if self.bug == "onepass" and dtype != np.float64:
                xd = xu.astype(dtype)
                mu = xd.mean(axis=2, dtype=dtype)
                var = ((xd * xd).mean(axis=2, dtype=dtype) - mu * mu).astype(np.float64)
            elif self.bug == "f32-squares":
                d = (xu - mean[..., None]).astype(np.float32)
                var = (d * d).sum(axis=2, dtype=np.float32).astype(np.float64) / count
            else:
                var = ((xu - mean[..., None]) ** 2).sum(axis=2) / count
            if self.bug == "unbiased-var":
                var = var * n / (n - 1) if n > 1 else var * np.inf
        return mean, var

    def _forward(self, x, groups: int, weight, bias, eps: float):
        """(y, mean, var, rstd) with (N, G) statistics, float64."""
        x64 = np.asarray(x, np.float64)
        order = self._order(x.shape[1], groups)
        xp = x64[:, order]
        mean, var = self._stats(xp, groups, x.dtype)
        with np.errstate(all="ignore"):
            rstd = 1.0 / (np.sqrt(var) + eps) if self.bug == "eps-outside" else 1.0 / np.sqrt(var + eps)
            y = np.empty_like(x64)
            y[:, order] = (xp - expand(mean, x.shape)) * expand(rstd, x.shape)
            w = self._weight(weight)
            if w is not None:
                y = y * per_channel(w, x.ndim)
            if bias is not None and not (self.bug == "bias-needs-weight" and weight is None):
                y = y + per_channel(np.asarray(bias, np.float64), x.ndim)
        return y, mean, var, rstd

    def _outputs(self, x, y, mean, var, rstd, params):
        given = next((str(p.dtype) for p in params if p is not None), None)
        sdt = self.op.stat_dtype(str(x.dtype), given)
        last = var if self.bug == "saved-variance" else rstd
        return y.astype(x.dtype), mean.astype(sdt), last.astype(sdt)

    def _backward(self, dy, x, groups: int, weight, bias, mean, rstd):
        if self.bug == "dense-dy":
            dy = dense(dy)
        elif self.bug == "x-strides-dy":
            dy = read_as(dy, positions(x))
        x64, d = np.asarray(x, np.float64), np.asarray(dy, np.float64)
        order = self._order(x.shape[1], groups)
        if self.bug == "dense-saved":
            mean, rstd = dense(mean), dense(rstd)
        mean, rstd = np.asarray(mean, np.float64), np.asarray(rstd, np.float64)
        w = self._weight(weight)
        with np.errstate(all="ignore"):
            xhat = np.empty_like(x64)
            xhat[:, order] = (x64[:, order] - expand(mean, x.shape)) * expand(rstd, x.shape)
            g = d * per_channel(w, x.ndim) if w is not None and self.bug != "unit-weight-dx" else d
            if x.size:
                gu, xu = units(g[:, order], groups), units(xhat[:, order], groups)
                inner = gu - gu.mean(axis=2, keepdims=True)
                if self.bug != "dropped-term":
                    inner = inner - xu * (gu * xu).mean(axis=2, keepdims=True)
                dx = np.empty_like(x64)
                dx[:, order] = (rstd[..., None] * inner).reshape(x.shape)
            else:
                dx = np.zeros(x.shape)
            grads = {}
            for name, terms in (("weight", d * xhat), ("bias", d)):
                per = np.moveaxis(terms, 1, 0).reshape(x.shape[1], -1)  # (C, N x spatial)
                cut = per.shape[1] // BLOCK * BLOCK if self.bug == "partial-block" and per.shape[1] > BLOCK else None
                grads[name] = per[:, :cut].sum(axis=1)
        return (dx.astype(x.dtype), None if weight is None else grads["weight"].astype(weight.dtype),
                None if bias is None else grads["bias"].astype(bias.dtype))

    # -- GroupNorm ---------------------------------------------------------------------------------
    def _gn_forward(self, x, num_groups, weight, bias, *, eps):
        if self.bug != "unchecked-shape":
            validate_groupnorm(x, num_groups, weight, bias)
        y, mean, var, rstd = self._forward(x, int(num_groups), weight, bias, eps)
        return self._outputs(x, y, mean, var, rstd, (weight, bias))

    def _gn_backward(self, dy, x, num_groups, weight, bias, mean, rstd):
        if self.bug != "unchecked-shape":
            validate_groupnorm(x, num_groups, weight, bias)
        return self._backward(dy, x, int(num_groups), weight, bias, mean, rstd)

    # -- InstanceNorm ------------------------------------------------------------------------------
    def _in_train(self, x, weight, bias, running_mean, running_var, *, momentum, eps):
        if self.bug != "unchecked-shape":
            validate_instancenorm(x, weight, bias, running_mean, running_var)
        y, mean, var, rstd = self._forward(x, x.shape[1], weight, bias, eps)
        if running_mean is not None:
            m = math.prod(x.shape[2:])
            # the running statistics get the true (N, C) statistics: the bug classes here are the update's
            true_mean, true_var = self._stats_plain(x)
            with np.errstate(all="ignore"):
                unbiased = true_var if self.bug == "biased-running-var" else true_var * m / (m - 1) if m > 1 \
                    else np.full_like(true_var, np.nan)
                if self.bug == "eps-in-running-var":
                    unbiased = unbiased + eps
                f = 1 - momentum if self.bug == "keras-momentum" else momentum
                running_mean[...] = (1 - f) * np.asarray(running_mean, np.float64) + f * true_mean.mean(axis=0)
                running_var[...] = (1 - f) * np.asarray(running_var, np.float64) + f * unbiased.mean(axis=0)
        return self._outputs(x, y, mean, var, rstd, (weight, bias, running_mean))

    def _stats_plain(self, x) -> tuple[np.ndarray, np.ndarray]:
        xu = units(np.asarray(x, np.float64), x.shape[1])
        if xu.size == 0:
            return np.zeros(xu.shape[:2]), np.zeros(xu.shape[:2])
        mean = xu.mean(axis=2)
        return mean, ((xu - mean[..., None]) ** 2).mean(axis=2)

    def _in_eval(self, x, weight, bias, running_mean, running_var, *, eps):
        if self.bug != "unchecked-shape":
            validate_instancenorm(x, weight, bias, running_mean, running_var, use_input_stats=False)
        x64 = np.asarray(x, np.float64)
        rv = per_channel(np.asarray(running_var, np.float64), x.ndim)
        with np.errstate(all="ignore"):
            scale = 1.0 / (np.sqrt(rv) + eps) if self.bug == "eps-outside" else 1.0 / np.sqrt(rv + eps)
            y = (x64 - per_channel(np.asarray(running_mean, np.float64), x.ndim)) * scale
            w = self._weight(weight)
            if w is not None:
                y = y * per_channel(w, x.ndim)
            if bias is not None and not (self.bug == "bias-needs-weight" and weight is None):
                y = y + per_channel(np.asarray(bias, np.float64), x.ndim)
        return y.astype(x.dtype)

    def _in_backward(self, dy, x, weight, bias, mean, rstd):
        if self.bug != "unchecked-shape":
            validate_instancenorm(x, weight, bias)
        return self._backward(dy, x, x.shape[1], weight, bias, mean, rstd)


def catalogue(op: ChanOp) -> list[ChanMutant]:
    """One wrong backend per bug class that applies to ``op``."""
    extra = GROUPED_ONLY if op.grouped else RUNNING_ONLY
    return [ChanMutant(op, bug) for bug in (*BUGS, *extra)]
